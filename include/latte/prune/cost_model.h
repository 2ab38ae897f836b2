// Cost of a Transformer forward pass with word-vector elimination (DESIGN.md
// section 2): FLOPs per layer, and a latency model fitted on the machine.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace latte {

struct LayerFlops {
  double gemm = 0.0;       // QKV, output projection, FFN
  double attention = 0.0;  // scores and probabilities x values
  double total() const { return gemm + attention; }
};

// A layer with `rows_in` word-vectors entering and `rows_kept` leaving:
// 6 n d^2 (QKV) + 4 n^2 d (attention) + 2 k d^2 (output projection) + 4 k d f (FFN).
LayerFlops encoder_layer_flops(int64_t rows_in, int64_t rows_kept, int64_t hidden, int64_t ffn);

// The sizes the cost model needs.
struct ModelShape {
  int64_t layers = 0;
  int64_t hidden = 0;
  int64_t ffn = 0;
};

// Per layer: seconds = a * gemm_flops + b * attention_flops + c * rows_in + e.
struct LatencyModel {
  double seconds_per_gemm_flop = 1.0 / 150e9;
  double seconds_per_attention_flop = 1.0 / 75e9;
  double seconds_per_row = 0.0;
  double seconds_per_layer = 0.0;
  int threads = 0;               // what it was fitted with (0 = not fitted)
  std::string source = "flops";  // "flops" (default) or "profile"

  double layer_seconds(int64_t rows_in, int64_t rows_kept, const ModelShape& shape) const;
  // One sequence of n0 tokens with counts[l] word-vectors leaving layer l.
  double forward_seconds(int64_t n0, const std::vector<int64_t>& counts, const ModelShape& shape) const;
  double dense_seconds(int64_t n0, const ModelShape& shape) const;

  nlohmann::json to_json() const;
  static LatencyModel from_json(const nlohmann::json& json, const std::string& file_label);
};

// Total FLOPs of a forward pass of one sequence with the given keep counts.
double forward_flops(int64_t n0, const std::vector<int64_t>& counts, const ModelShape& shape);

}  // namespace latte
