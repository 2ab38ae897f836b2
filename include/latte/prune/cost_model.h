// Cost of a Transformer forward pass with word-vector elimination (DESIGN.md section 2): FLOPs
// per layer, and the latency the planner bisects on: a table measured on this machine, or the
// FLOPs prior when there is none.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "latte/prune/latency_table.h"

namespace latte {

struct LayerFlops {
  double gemm = 0.0;       // QKV, output projection, FFN
  double attention = 0.0;  // scores and probabilities x values
  double total() const { return gemm + attention; }
};

// A layer with `rows_in` word-vectors entering and `rows_kept` leaving:
// 6 n d^2 (QKV) + 4 n^2 d (attention) + 2 k d^2 (output projection) + 4 k d f (FFN).
// Causal attention computes about half the scores: 2 n^2 d.
LayerFlops encoder_layer_flops(int64_t rows_in, int64_t rows_kept, int64_t hidden, int64_t ffn,
                               bool causal = false);

// The sizes the cost model needs.
struct ModelShape {
  int64_t layers = 0;
  int64_t hidden = 0;
  int64_t ffn = 0;
  bool causal = false;  // decoder prefill: each query attends to the keys up to its own position
};

// Total FLOPs of a forward pass of one sequence with the given keep counts.
double forward_flops(int64_t n0, const std::vector<int64_t>& counts, const ModelShape& shape);

// Predicted seconds of a forward pass of one sequence.
class LatencyModel {
 public:
  // The FLOPs prior: 150 GFLOP/s on GEMMs, 75 on attention, no fixed costs. Ratios only
  // roughly hold: GEMM efficiency changes with the row count.
  LatencyModel() = default;
  // Measured on this machine; predicts with the table's layers of `layer_kind` (FormatError when
  // the table has none).
  explicit LatencyModel(LatencyTable table, std::string layer_kind = kEncoderLayer);

  bool measured() const { return table_.has_value(); }
  const char* source() const { return measured() ? "table" : "flops"; }
  const LatencyTable* table() const { return table_ ? &*table_ : nullptr; }

  // A pass that eliminates (ACC scores computed, elimination run): n0 word-vectors in,
  // counts[l] leaving layer l (missing entries keep everything).
  double forward_seconds(int64_t n0, const std::vector<int64_t>& counts, const ModelShape& shape) const;
  // The dense model: no scores, nothing eliminated.
  double dense_seconds(int64_t n0, const ModelShape& shape) const;

 private:
  std::optional<LatencyTable> table_;
  std::string layer_kind_ = kEncoderLayer;
};

}  // namespace latte
