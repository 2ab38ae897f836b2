#include "latte/prune/cost_model.h"

#include <algorithm>
#include <string>

#include "latte/core/error.h"

namespace latte {

namespace {

constexpr double kPriorGemmFlopsPerSecond = 150e9;
constexpr double kPriorAttentionFlopsPerSecond = 75e9;

int64_t kept_at(const std::vector<int64_t>& counts, int64_t layer, int64_t rows) {
  return layer < static_cast<int64_t>(counts.size()) ? counts[static_cast<size_t>(layer)] : rows;
}

}  // namespace

int64_t ModelShape::kv_width() const {
  if (heads <= 0 || kv_heads <= 0) return hidden;
  return (head_dim > 0 ? head_dim : hidden / heads) * kv_heads;
}

LayerFlops layer_flops(int64_t rows_in, int64_t rows_kept, const ModelShape& shape) {
  const double n = static_cast<double>(rows_in);
  const double k = static_cast<double>(rows_kept);
  const double d = static_cast<double>(shape.hidden);
  const double w = static_cast<double>(shape.kv_width());
  const double f = static_cast<double>(shape.ffn);
  const double m = static_cast<double>(shape.ffn_matrices());
  LayerFlops flops;
  flops.gemm = 2.0 * n * d * (d + 2.0 * w) + 2.0 * k * d * d + 2.0 * m * k * d * f;
  flops.attention = (shape.causal ? 2.0 : 4.0) * n * n * d;
  return flops;
}

LayerFlops decoder_step_flops(int64_t keys, const ModelShape& shape) {
  const double d = static_cast<double>(shape.hidden);
  const double w = static_cast<double>(shape.kv_width());
  const double f = static_cast<double>(shape.ffn);
  const double m = static_cast<double>(shape.ffn_matrices());
  LayerFlops flops;
  flops.gemm = 2.0 * d * (d + 2.0 * w) + 2.0 * d * d + 2.0 * m * d * f;
  flops.attention = 4.0 * static_cast<double>(keys) * d;
  return flops;
}

LayerFlops cross_attention_flops(int64_t queries, int64_t encoder_rows, const ModelShape& shape,
                                 bool project_encoder_rows) {
  const double q = static_cast<double>(queries);
  const double e = static_cast<double>(encoder_rows);
  const double d = static_cast<double>(shape.hidden);
  const double w = static_cast<double>(shape.kv_width());
  LayerFlops flops;
  flops.gemm = 4.0 * q * d * d + (project_encoder_rows ? 4.0 * e * d * w : 0.0);
  flops.attention = 4.0 * q * e * d;
  return flops;
}

DecodeStepBytes decoder_step_bytes(const std::vector<int64_t>& keys_per_layer, const ModelShape& shape,
                                   Precision precision) {
  if (static_cast<int64_t>(keys_per_layer.size()) != shape.layers) {
    throw InputError("decode step cost: " + std::to_string(keys_per_layer.size()) + " cache sizes for " +
                     std::to_string(shape.layers) + " layers");
  }
  const double d = static_cast<double>(shape.hidden);
  const double w = static_cast<double>(shape.kv_width());
  const double layer_weights = d * (d + 2.0 * w) + d * d +
                               static_cast<double>(shape.ffn_matrices()) * d * static_cast<double>(shape.ffn);
  // Output channels: QKV, the output projection, the FFN's input matrices and its output, the head.
  const double layer_channels =
      d + 2.0 * w + d + static_cast<double>(shape.ffn_matrices() - 1) * static_cast<double>(shape.ffn) + d;
  const double values =
      static_cast<double>(shape.layers) * layer_weights + static_cast<double>(shape.vocab) * d;
  const double channels =
      static_cast<double>(shape.layers) * layer_channels + static_cast<double>(shape.vocab);
  DecodeStepBytes bytes;
  switch (precision) {
    case Precision::kF32:
      bytes.weights = sizeof(float) * values;
      break;
    case Precision::kBf16:
      bytes.weights = 2.0 * values;
      break;
    case Precision::kInt8:
      bytes.weights = values + sizeof(float) * channels;
      break;
  }
  for (const int64_t keys : keys_per_layer)
    bytes.cache += sizeof(float) * 2.0 * static_cast<double>(keys) * w;
  return bytes;
}

double decoder_step_seconds(const std::vector<int64_t>& keys_per_layer, const ModelShape& shape,
                            double bytes_per_second, Precision precision) {
  if (!(bytes_per_second > 0.0)) {
    throw InputError("decode step cost: the memory bandwidth must be positive, got " +
                     std::to_string(bytes_per_second));
  }
  const DecodeStepBytes bytes = decoder_step_bytes(keys_per_layer, shape, precision);
  double gemm_flops = 2.0 * static_cast<double>(shape.vocab) * static_cast<double>(shape.hidden);
  double attention_flops = 0.0;
  for (const int64_t keys : keys_per_layer) {
    const LayerFlops flops = decoder_step_flops(keys, shape);
    gemm_flops += flops.gemm;
    attention_flops += flops.attention;
  }
  return std::max(bytes.weights / bytes_per_second, gemm_flops / kPriorGemmFlopsPerSecond) +
         std::max(bytes.cache / bytes_per_second, attention_flops / kPriorAttentionFlopsPerSecond);
}

double memory_flops(int64_t rows, const ModelShape& shape) {
  return static_cast<double>(shape.memory_layers) * cross_attention_flops(0, rows, shape, true).total();
}

double forward_flops(int64_t n0, const std::vector<int64_t>& counts, const ModelShape& shape) {
  double flops = 0.0;
  int64_t rows = n0;
  for (int64_t layer = 0; layer < shape.layers; ++layer) {
    const int64_t kept = kept_at(counts, layer, rows);
    flops += layer_flops(rows, kept, shape).total();
    rows = kept;
  }
  return flops + memory_flops(rows, shape);
}

LatencyModel::LatencyModel(LatencyTable table, std::string layer_kind)
    : table_(std::move(table)), layer_kind_(std::move(layer_kind)) {
  table_->make_monotone();
  table_->layer(layer_kind_);  // FormatError now rather than at the first prediction
}

double LatencyModel::forward_seconds(int64_t n0, const std::vector<int64_t>& counts,
                                     const ModelShape& shape) const {
  double seconds = 0.0;
  int64_t rows = n0;
  const LayerLatency* layer_latency = table_ ? &table_->layer(layer_kind_) : nullptr;
  for (int64_t layer = 0; layer < shape.layers; ++layer) {
    const int64_t kept = kept_at(counts, layer, rows);
    if (layer_latency) {
      seconds +=
          layer_latency->in.at(static_cast<double>(rows)) + layer_latency->kept.at(static_cast<double>(kept));
    } else {
      const LayerFlops flops = layer_flops(rows, kept, shape);
      seconds += flops.gemm / kPriorGemmFlopsPerSecond + flops.attention / kPriorAttentionFlopsPerSecond;
    }
    rows = kept;
  }
  if (table_) {
    seconds += table_->embeddings.at(static_cast<double>(n0)) + table_->head_seconds +
               table_->memory.at(static_cast<double>(rows));
  } else {
    seconds += memory_flops(rows, shape) / kPriorGemmFlopsPerSecond;
  }
  return seconds;
}

double LatencyModel::dense_seconds(int64_t n0, const ModelShape& shape) const {
  const double every_row_kept = forward_seconds(n0, {}, shape);
  if (!table_) return every_row_kept;
  // The dense pass skips ACC scoring, so it is never slower than the pruning path keeping every
  // row. A table measured on a busy machine can say otherwise (its dense passes preempted more
  // than its phases); believed, a schedule that keeps every row would look like a speedup, and
  // a target would be "met" by eliminating nothing.
  return std::min(table_->dense_forward.at(static_cast<double>(n0)), every_row_kept);
}

}  // namespace latte
