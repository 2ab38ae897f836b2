// Fully connected layer on oneDNN: y[rows, out] = act(x[rows, in] W^T + b) (+ y).
// Weights are copied once, at construction, in Hugging Face's [out, in] layout:
// on AVX2 machines oneDNN's blocked ("any") layout measured up to 2x slower for
// the FFN shapes (docs/benchmarks.md). The primitive takes the row count at run
// time, so one primitive serves every number of kept word-vectors.
#pragma once

#include <cstdint>
#include <memory>

#include "latte/core/tensor.h"

namespace latte {

enum class Activation { kNone, kGeluErf, kGeluTanh, kRelu, kTanh };

class Linear {
 public:
  Linear() = default;
  // weight: [out, in] (Hugging Face layout); bias: [out] or empty.
  // accumulate: add the result to what y holds (a fused residual connection).
  Linear(const Tensor& weight, const Tensor& bias, Activation activation, bool accumulate = false);

  // x: [rows, in] contiguous, y: [rows, out] contiguous; rows may be 0.
  void operator()(const float* x, int64_t rows, float* y) const;

  int64_t in_features() const { return in_features_; }
  int64_t out_features() const { return out_features_; }

 private:
  struct Impl;
  std::shared_ptr<const Impl> impl_;
  int64_t in_features_ = 0;
  int64_t out_features_ = 0;
};

// C[m, n] = alpha * A[m, k] B[k, n] (+ beta C) on row-major data with leading
// dimensions; B may be transposed. Single call into oneDNN's sgemm.
void sgemm(bool transpose_b, int64_t m, int64_t n, int64_t k, float alpha, const float* a, int64_t lda,
           const float* b, int64_t ldb, float beta, float* c, int64_t ldc);

// GFLOP/s that oneDNN reaches on a [m, k] x [k, n] product with the current
// thread count: the ceiling dense inference is compared with.
double measure_gemm_gflops(int64_t m, int64_t k, int64_t n, int repeats);

}  // namespace latte
