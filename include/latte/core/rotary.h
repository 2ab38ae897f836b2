// Rotary position embedding (RoFormer; Llama, GPT-NeoX, GPT-J): rotates pairs of each head's
// first `rotary_dim` dimensions by angles proportional to the row's original position.
#pragma once

#include <cstdint>
#include <span>

namespace latte {

struct RotarySpec {
  int64_t rotary_dim = 0;  // even, <= head_dim
  double theta = 10000.0;  // base: angle of pair i at position p is p * theta^(-2i / rotary_dim)
  // false: pairs (i, i + rotary_dim/2), Hugging Face's rotate_half (Llama, GPT-NeoX);
  // true: adjacent pairs (2i, 2i + 1) (GPT-J).
  bool interleaved = false;
};

// x: [rows, n_heads * head_dim], rows `stride` floats apart; row r is rotated by positions[r].
void apply_rotary(float* x, int64_t rows, int64_t stride, int64_t n_heads, int64_t head_dim,
                  std::span<const int64_t> positions, const RotarySpec& spec);

}  // namespace latte
