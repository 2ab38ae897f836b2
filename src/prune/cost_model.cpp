#include "latte/prune/cost_model.h"

#include "latte/core/error.h"
#include "latte/io/json_file.h"

namespace latte {

LayerFlops encoder_layer_flops(int64_t rows_in, int64_t rows_kept, int64_t hidden, int64_t ffn) {
  const double n = static_cast<double>(rows_in);
  const double k = static_cast<double>(rows_kept);
  const double d = static_cast<double>(hidden);
  const double f = static_cast<double>(ffn);
  LayerFlops flops;
  flops.gemm = 6.0 * n * d * d + 2.0 * k * d * d + 4.0 * k * d * f;
  flops.attention = 4.0 * n * n * d;
  return flops;
}

double LatencyModel::layer_seconds(int64_t rows_in, int64_t rows_kept, const ModelShape& shape) const {
  const LayerFlops flops = encoder_layer_flops(rows_in, rows_kept, shape.hidden, shape.ffn);
  return seconds_per_gemm_flop * flops.gemm + seconds_per_attention_flop * flops.attention +
         seconds_per_row * static_cast<double>(rows_in) + seconds_per_layer;
}

double LatencyModel::forward_seconds(int64_t n0, const std::vector<int64_t>& counts,
                                     const ModelShape& shape) const {
  double seconds = 0.0;
  int64_t rows = n0;
  for (int64_t layer = 0; layer < shape.layers; ++layer) {
    const int64_t kept =
        layer < static_cast<int64_t>(counts.size()) ? counts[static_cast<size_t>(layer)] : rows;
    seconds += layer_seconds(rows, kept, shape);
    rows = kept;
  }
  return seconds;
}

double LatencyModel::dense_seconds(int64_t n0, const ModelShape& shape) const {
  return forward_seconds(n0, std::vector<int64_t>(static_cast<size_t>(shape.layers), n0), shape);
}

double forward_flops(int64_t n0, const std::vector<int64_t>& counts, const ModelShape& shape) {
  double flops = 0.0;
  int64_t rows = n0;
  for (int64_t layer = 0; layer < shape.layers; ++layer) {
    const int64_t kept =
        layer < static_cast<int64_t>(counts.size()) ? counts[static_cast<size_t>(layer)] : rows;
    flops += encoder_layer_flops(rows, kept, shape.hidden, shape.ffn).total();
    rows = kept;
  }
  return flops;
}

nlohmann::json LatencyModel::to_json() const {
  return {{"seconds_per_gemm_flop", seconds_per_gemm_flop},
          {"seconds_per_attention_flop", seconds_per_attention_flop},
          {"seconds_per_row", seconds_per_row},
          {"seconds_per_layer", seconds_per_layer},
          {"threads", threads},
          {"source", source}};
}

LatencyModel LatencyModel::from_json(const nlohmann::json& json, const std::string& file_label) {
  LatencyModel model;
  auto number = [&](const char* key) {
    if (!json.contains(key) || !json[key].is_number() || json[key].get<double>() < 0.0) {
      throw FormatError(file_label + ": latency_model." + key + " must be a non-negative number");
    }
    return json[key].get<double>();
  };
  model.seconds_per_gemm_flop = number("seconds_per_gemm_flop");
  model.seconds_per_attention_flop = number("seconds_per_attention_flop");
  model.seconds_per_row = number("seconds_per_row");
  model.seconds_per_layer = number("seconds_per_layer");
  const std::string section = file_label + ": latency_model";
  model.threads = static_cast<int>(json_optional_int(json, "threads", section, 0));
  model.source = json_optional_string(json, "source", section, "profile");
  if (model.seconds_per_gemm_flop <= 0.0) {
    throw FormatError(file_label + ": latency_model.seconds_per_gemm_flop must be positive");
  }
  return model;
}

}  // namespace latte
