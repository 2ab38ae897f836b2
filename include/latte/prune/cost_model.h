// FLOP counts of a Transformer layer (DESIGN.md section 2), in multiply-adds x 2.
#pragma once

#include <cstdint>

namespace latte {

struct LayerFlops {
  double gemm = 0.0;       // QKV, output projection, FFN
  double attention = 0.0;  // scores and probabilities x values
  double total() const { return gemm + attention; }
};

// A layer with `rows_in` word-vectors entering and `rows_kept` leaving:
// 6 n d^2 (QKV) + 4 n^2 d (attention) + 2 k d^2 (output projection) + 4 k d f (FFN).
LayerFlops encoder_layer_flops(int64_t rows_in, int64_t rows_kept, int64_t hidden, int64_t ffn);

}  // namespace latte
