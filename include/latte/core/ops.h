// Element-wise and row-wise kernels on contiguous row-major float data.
#pragma once

#include <cstdint>

#include "latte/core/tensor.h"

namespace latte {

// x[rows, width] <- (x - mean) / sqrt(var + eps) * gamma + beta, per row.
void layer_norm(float* x, int64_t rows, int64_t width, const float* gamma, const float* beta, float eps);

// Layer normalisation over the last axis with learned scale and shift.
class LayerNorm {
 public:
  LayerNorm() = default;
  // gamma, beta: [width]
  LayerNorm(Tensor gamma, Tensor beta, float eps);
  // x: [rows, width], normalised in place.
  void operator()(float* x, int64_t rows) const;
  int64_t width() const { return gamma_.numel(); }

 private:
  Tensor gamma_;
  Tensor beta_;
  float eps_ = 1e-12f;
};

// x[rows, width] <- x / sqrt(mean(x^2) + eps) * gamma, per row (Llama, T5): no mean
// subtraction, no bias.
void rms_norm(float* x, int64_t rows, int64_t width, const float* gamma, float eps);

// Root-mean-square normalisation over the last axis with a learned scale.
class RMSNorm {
 public:
  RMSNorm() = default;
  // gamma: [width]
  RMSNorm(Tensor gamma, float eps);
  // x: [rows, width], normalised in place.
  void operator()(float* x, int64_t rows) const;
  int64_t width() const { return gamma_.numel(); }

 private:
  Tensor gamma_;
  float eps_ = 1e-6f;
};

// Numerically stable softmax of each row of x[rows, width], in place.
void softmax_rows(float* x, int64_t rows, int64_t width);

// Activations, in place (the fused versions live in Linear; these are the plain ones).
void gelu_erf(float* x, int64_t count);
void gelu_tanh(float* x, int64_t count);
void tanh_inplace(float* x, int64_t count);
// x * sigmoid(x) (SiLU, "swish"): the gate of Llama's feed-forward.
void silu_inplace(float* x, int64_t count);

// y[i] += x[i]
void add_inplace(float* y, const float* x, int64_t count);
// y[i] *= x[i]: a gated feed-forward's act(gate) * up.
void multiply_inplace(float* y, const float* x, int64_t count);

}  // namespace latte
