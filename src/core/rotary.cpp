#include "latte/core/rotary.h"

#include <cmath>
#include <string>
#include <vector>

#include "latte/core/error.h"

namespace latte {

void apply_rotary(float* x, int64_t rows, int64_t stride, int64_t n_heads, int64_t head_dim,
                  std::span<const int64_t> positions, const RotarySpec& spec) {
  if (spec.rotary_dim <= 0 || spec.rotary_dim % 2 != 0 || spec.rotary_dim > head_dim) {
    throw InputError("rotary_dim " + std::to_string(spec.rotary_dim) +
                     " must be even, positive and at most head_dim " + std::to_string(head_dim));
  }
  if (static_cast<int64_t>(positions.size()) != rows) {
    throw InputError("rotary embedding got " + std::to_string(positions.size()) + " positions for " +
                     std::to_string(rows) + " rows");
  }
  if (rows > 0 && stride < n_heads * head_dim) {
    throw InputError("rotary embedding's row stride " + std::to_string(stride) +
                     " is below n_heads * head_dim = " + std::to_string(n_heads * head_dim));
  }
  const int64_t half = spec.rotary_dim / 2;
  // Pair i turns by position * theta^(-2i / rotary_dim); angles in double so a position in the
  // hundred thousands still rotates to float precision.
  std::vector<double> frequencies(static_cast<size_t>(half));
  for (int64_t i = 0; i < half; ++i) {
    frequencies[static_cast<size_t>(i)] =
        std::pow(spec.theta, -2.0 * static_cast<double>(i) / static_cast<double>(spec.rotary_dim));
  }
  // Pair i's two members: (i, i + half) for rotate_half, (2i, 2i + 1) interleaved.
  const int64_t first_step = spec.interleaved ? 2 : 1;
  const int64_t partner_offset = spec.interleaved ? 1 : half;

#pragma omp parallel for schedule(static)
  for (int64_t row = 0; row < rows; ++row) {
    float* values = x + row * stride;
    const auto position = static_cast<double>(positions[static_cast<size_t>(row)]);
    for (int64_t i = 0; i < half; ++i) {
      const double angle = position * frequencies[static_cast<size_t>(i)];
      const auto cosine = static_cast<float>(std::cos(angle));
      const auto sine = static_cast<float>(std::sin(angle));
      for (int64_t head = 0; head < n_heads; ++head) {
        float* first = values + head * head_dim + i * first_step;
        float* second = first + partner_offset;
        const float a = *first;
        const float b = *second;
        *first = a * cosine - b * sine;
        *second = b * cosine + a * sine;
      }
    }
  }
}

}  // namespace latte
