#include "latte/prune/cost_model.h"

namespace latte {

namespace {

constexpr double kPriorGemmFlopsPerSecond = 150e9;
constexpr double kPriorAttentionFlopsPerSecond = 75e9;

int64_t kept_at(const std::vector<int64_t>& counts, int64_t layer, int64_t rows) {
  return layer < static_cast<int64_t>(counts.size()) ? counts[static_cast<size_t>(layer)] : rows;
}

}  // namespace

LayerFlops encoder_layer_flops(int64_t rows_in, int64_t rows_kept, int64_t hidden, int64_t ffn, bool causal) {
  const double n = static_cast<double>(rows_in);
  const double k = static_cast<double>(rows_kept);
  const double d = static_cast<double>(hidden);
  const double f = static_cast<double>(ffn);
  LayerFlops flops;
  flops.gemm = 6.0 * n * d * d + 2.0 * k * d * d + 4.0 * k * d * f;
  flops.attention = (causal ? 2.0 : 4.0) * n * n * d;
  return flops;
}

double forward_flops(int64_t n0, const std::vector<int64_t>& counts, const ModelShape& shape) {
  double flops = 0.0;
  int64_t rows = n0;
  for (int64_t layer = 0; layer < shape.layers; ++layer) {
    const int64_t kept = kept_at(counts, layer, rows);
    flops += encoder_layer_flops(rows, kept, shape.hidden, shape.ffn, shape.causal).total();
    rows = kept;
  }
  return flops;
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
      const LayerFlops flops = encoder_layer_flops(rows, kept, shape.hidden, shape.ffn, shape.causal);
      seconds += flops.gemm / kPriorGemmFlopsPerSecond + flops.attention / kPriorAttentionFlopsPerSecond;
    }
    rows = kept;
  }
  if (table_) seconds += table_->embeddings.at(static_cast<double>(n0)) + table_->head_seconds;
  return seconds;
}

double LatencyModel::dense_seconds(int64_t n0, const ModelShape& shape) const {
  if (!table_) return forward_seconds(n0, {}, shape);
  return table_->dense_forward.at(static_cast<double>(n0));
}

}  // namespace latte
