// Rotary position embedding (RoFormer; Llama, GPT-NeoX, GPT-J): rotates pairs of each head's
// first `rotary_dim` dimensions by angles proportional to the row's original position.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

namespace latte {

struct RotarySpec {
  int64_t rotary_dim = 0;  // even, <= head_dim
  double theta = 10000.0;  // base: angle of pair i at position p is p * theta^(-2i / rotary_dim)
  // false: pairs (i, i + rotary_dim/2), Hugging Face's rotate_half (Llama, GPT-NeoX);
  // true: adjacent pairs (2i, 2i + 1) (GPT-J).
  bool interleaved = false;
  // When set, pair i turns by position * inverse_frequencies[i] instead (rotary_dim / 2 entries):
  // Llama 3's scaled RoPE (llama3_inverse_frequencies).
  std::vector<double> inverse_frequencies;
};

// The inverse frequencies theta^(-2i / rotary_dim) of Hugging Face's "llama3" rope_scaling:
// wavelengths longer than original_context / low_freq_factor are slowed by `factor`, those shorter
// than original_context / high_freq_factor kept, and those between interpolated smoothly
// (transformers' _compute_llama3_parameters).
std::vector<double> llama3_inverse_frequencies(int64_t rotary_dim, double theta, double factor,
                                               double low_freq_factor, double high_freq_factor,
                                               double original_context);

// x: [rows, n_heads * head_dim], rows `stride` floats apart; row r is rotated by positions[r].
void apply_rotary(float* x, int64_t rows, int64_t stride, int64_t n_heads, int64_t head_dim,
                  std::span<const int64_t> positions, const RotarySpec& spec);

}  // namespace latte
