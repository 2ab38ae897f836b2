#include "latte/core/ops.h"

#include <algorithm>
#include <cmath>
#include <utility>

#include "latte/core/error.h"
#include "latte/core/threads.h"

namespace latte {

void layer_norm(float* x, int64_t rows, int64_t width, const float* gamma, const float* beta, float eps) {
  parallel_ranges(rows, [&](int64_t begin, int64_t end) {
    for (int64_t row = begin; row < end; ++row) {
      float* values = x + row * width;
      // Two passes in double for the statistics: the reference tolerance is 1e-4
      // on deep stacks, and single-pass float variance loses it on large means.
      double sum = 0.0;
      for (int64_t i = 0; i < width; ++i) sum += values[i];
      const double mean = sum / static_cast<double>(width);
      double squares = 0.0;
      for (int64_t i = 0; i < width; ++i) {
        const double centered = values[i] - mean;
        squares += centered * centered;
      }
      const float inv_std = static_cast<float>(1.0 / std::sqrt(squares / static_cast<double>(width) + eps));
      const float mean_f = static_cast<float>(mean);
#pragma omp simd
      for (int64_t i = 0; i < width; ++i) values[i] = (values[i] - mean_f) * inv_std * gamma[i] + beta[i];
    }
  });
}

LayerNorm::LayerNorm(Tensor gamma, Tensor beta, float eps)
    : gamma_(std::move(gamma)), beta_(std::move(beta)), eps_(eps) {
  if (gamma_.rank() != 1 || beta_.rank() != 1 || gamma_.numel() != beta_.numel()) {
    throw InputError("layer norm parameters have shapes " + gamma_.shape_str() + " and " + beta_.shape_str());
  }
}

void LayerNorm::operator()(float* x, int64_t rows) const {
  layer_norm(x, rows, gamma_.numel(), gamma_.data(), beta_.data(), eps_);
}

void rms_norm(float* x, int64_t rows, int64_t width, const float* gamma, float eps) {
  parallel_ranges(rows, [&](int64_t begin, int64_t end) {
    for (int64_t row = begin; row < end; ++row) {
      float* values = x + row * width;
      double squares = 0.0;  // in double, as layer_norm's statistics
      for (int64_t i = 0; i < width; ++i) squares += static_cast<double>(values[i]) * values[i];
      const float inv_rms = static_cast<float>(1.0 / std::sqrt(squares / static_cast<double>(width) + eps));
#pragma omp simd
      for (int64_t i = 0; i < width; ++i) values[i] = values[i] * inv_rms * gamma[i];
    }
  });
}

RMSNorm::RMSNorm(Tensor gamma, float eps) : gamma_(std::move(gamma)), eps_(eps) {
  if (gamma_.rank() != 1)
    throw InputError("RMS norm scale has shape " + gamma_.shape_str() + ", expected 1-D");
}

void RMSNorm::operator()(float* x, int64_t rows) const {
  rms_norm(x, rows, gamma_.numel(), gamma_.data(), eps_);
}

void softmax_rows(float* x, int64_t rows, int64_t width) {
  for (int64_t row = 0; row < rows; ++row) {
    float* values = x + row * width;
    const float maximum = *std::max_element(values, values + width);
    float total = 0.0f;
    for (int64_t i = 0; i < width; ++i) {
      values[i] = std::exp(values[i] - maximum);
      total += values[i];
    }
    const float inverse = 1.0f / total;
    for (int64_t i = 0; i < width; ++i) values[i] *= inverse;
  }
}

void gelu_erf(float* x, int64_t count) {
  for (int64_t i = 0; i < count; ++i) x[i] = 0.5f * x[i] * (1.0f + std::erf(x[i] * 0.70710678118654752f));
}

void gelu_tanh(float* x, int64_t count) {
  constexpr float kSqrt2OverPi = 0.79788456080286536f;
  for (int64_t i = 0; i < count; ++i) {
    const float v = x[i];
    x[i] = 0.5f * v * (1.0f + std::tanh(kSqrt2OverPi * (v + 0.044715f * v * v * v)));
  }
}

void tanh_inplace(float* x, int64_t count) {
  for (int64_t i = 0; i < count; ++i) x[i] = std::tanh(x[i]);
}

void silu_inplace(float* x, int64_t count) {
  for (int64_t i = 0; i < count; ++i) x[i] = x[i] / (1.0f + std::exp(-x[i]));
}

void add_inplace(float* y, const float* x, int64_t count) {
#pragma omp simd
  for (int64_t i = 0; i < count; ++i) y[i] += x[i];
}

void multiply_inplace(float* y, const float* x, int64_t count) {
#pragma omp simd
  for (int64_t i = 0; i < count; ++i) y[i] *= x[i];
}

}  // namespace latte
