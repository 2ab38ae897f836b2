#include "latte/core/rotary.h"

#include <cmath>
#include <string>
#include <vector>

#include "latte/core/error.h"
#include "latte/core/threads.h"

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
  std::vector<double> frequencies = spec.inverse_frequencies;
  if (frequencies.empty()) {
    frequencies.resize(static_cast<size_t>(half));
    for (int64_t i = 0; i < half; ++i) {
      frequencies[static_cast<size_t>(i)] =
          std::pow(spec.theta, -2.0 * static_cast<double>(i) / static_cast<double>(spec.rotary_dim));
    }
  } else if (static_cast<int64_t>(frequencies.size()) != half) {
    throw InputError("rotary embedding has " + std::to_string(frequencies.size()) +
                     " inverse frequencies for rotary_dim " + std::to_string(spec.rotary_dim) +
                     " (expected " + std::to_string(half) + ")");
  }
  // Pair i's two members: (i, i + half) for rotate_half, (2i, 2i + 1) interleaved.
  const int64_t first_step = spec.interleaved ? 2 : 1;
  const int64_t partner_offset = spec.interleaved ? 1 : half;

  parallel_ranges(rows, [&](int64_t begin, int64_t end) {
    for (int64_t row = begin; row < end; ++row) {
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
  });
}

std::vector<double> llama3_inverse_frequencies(int64_t rotary_dim, double theta, double factor,
                                               double low_freq_factor, double high_freq_factor,
                                               double original_context) {
  const double pi = std::acos(-1.0);
  const double low_freq_wavelength = original_context / low_freq_factor;
  const double high_freq_wavelength = original_context / high_freq_factor;
  std::vector<double> frequencies(static_cast<size_t>(rotary_dim / 2));
  for (int64_t i = 0; i < rotary_dim / 2; ++i) {
    const double frequency = std::pow(theta, -2.0 * static_cast<double>(i) / static_cast<double>(rotary_dim));
    const double wavelength = 2.0 * pi / frequency;
    double scaled = frequency;
    if (wavelength > low_freq_wavelength) {
      scaled = frequency / factor;
    } else if (wavelength >= high_freq_wavelength) {
      const double smooth =
          (original_context / wavelength - low_freq_factor) / (high_freq_factor - low_freq_factor);
      scaled = (1.0 - smooth) * frequency / factor + smooth * frequency;
    }
    frequencies[static_cast<size_t>(i)] = scaled;
  }
  return frequencies;
}

}  // namespace latte
