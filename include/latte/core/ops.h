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

// Numerically stable softmax of each row of x[rows, width], in place.
void softmax_rows(float* x, int64_t rows, int64_t width);

// Activations, in place (the fused versions live in Linear; these are the plain ones).
void gelu_erf(float* x, int64_t count);
void gelu_tanh(float* x, int64_t count);
void tanh_inplace(float* x, int64_t count);

// y[i] += x[i]
void add_inplace(float* y, const float* x, int64_t count);

}  // namespace latte
