// Fully connected layer: y[rows, out] = act(x[rows, in] W^T + b) (+ y).
// Two kernels, picked by the row count of each call:
// - few rows: latte's PackedGemm (packed_gemm.h), where oneDNN 2.6's matmul is
//   slow (docs/benchmarks.md, "Small rows");
// - more rows: oneDNN's matmul with the weights in Hugging Face's [out, in]
//   layout (oneDNN's blocked "any" layout measured up to 2x slower for the FFN
//   shapes on AVX2). Its primitive takes the row count at run time, so one
//   primitive serves every number of kept word-vectors.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "latte/core/tensor.h"

namespace latte {

enum class Activation { kNone, kGeluErf, kGeluTanh, kRelu, kTanh, kSilu };

// A Hugging Face config's activation name (hidden_act, activation_function): gelu (erf),
// gelu_new / gelu_pytorch_tanh / gelu_fast (tanh approximation), relu. FormatError naming
// `where` ("config.json: field 'hidden_act'") for anything else.
Activation activation_from_name(const std::string& name, const std::string& where);

// Which kernel a Linear runs. kAuto: PackedGemm up to kPackedGemmMaxRows rows,
// oneDNN above (and oneDNN alone on CPUs without AVX2+FMA). The environment
// variable LATTE_GEMM=onednn|packed|auto overrides kAuto, to compare both in
// one session.
enum class GemmPath { kAuto, kOneDnn, kPacked };

// Largest row count that kAuto sends to PackedGemm: with AVX-512 it beat oneDNN
// at 1-128 rows (1.2-2.3x on a full BERT-base pass), with AVX2 it is at parity
// (docs/benchmarks.md, "Small rows"); above 128 rows oneDNN keeps the job until
// measured otherwise.
inline constexpr int64_t kPackedGemmMaxRows = 128;

enum class Precision { kF32, kInt8, kBf16 };
const char* precision_name(Precision precision);
Precision precision_from_name(const std::string& name);
std::string precision_unavailable_reason(Precision precision);

struct Int8Weight {
  int64_t out_features = 0, in_features = 0;
  std::vector<int8_t> values;
  std::vector<float> scales;
};
Int8Weight quantize_int8(const Tensor& weight);

class Linear {
 public:
  Linear() = default;
  // weight: [out, in] (Hugging Face layout); bias: [out] or empty.
  // accumulate: add the result to what y holds (a fused residual connection).
  Linear(const Tensor& weight, const Tensor& bias, Activation activation, bool accumulate = false,
         GemmPath path = GemmPath::kAuto, Precision precision = Precision::kF32);
  Linear(Int8Weight weight, const Tensor& bias, Activation activation, bool accumulate = false);
  Precision precision() const { return precision_; }
  const Int8Weight* int8_weight() const { return int8_.get(); }

  // x: [rows, in] contiguous, y: [rows, out] contiguous; rows may be 0.
  void operator()(const float* x, int64_t rows, float* y) const;

  int64_t in_features() const { return in_features_; }
  int64_t out_features() const { return out_features_; }
  Activation activation() const { return activation_; }
  bool accumulates() const { return accumulate_; }

 private:
  struct Impl;
  std::shared_ptr<const Impl> impl_;
  int64_t in_features_ = 0;
  int64_t out_features_ = 0;
  Activation activation_ = Activation::kNone;
  bool accumulate_ = false;
  Precision precision_ = Precision::kF32;
  std::shared_ptr<const Int8Weight> int8_;
};

// C[m, n] = alpha * A[m, k] B[k, n] (+ beta C) on row-major data with leading
// dimensions; B may be transposed. Single call into oneDNN's sgemm.
void sgemm(bool transpose_b, int64_t m, int64_t n, int64_t k, float alpha, const float* a, int64_t lda,
           const float* b, int64_t ldb, float beta, float* c, int64_t ldc);

// GFLOP/s that the faster of Linear (as configured) and oneDNN's sgemm reaches
// on a [m, k] x [k, n] product with the current thread count: the GEMM ceiling
// dense inference is compared with.
double measure_gemm_gflops(int64_t m, int64_t k, int64_t n, int repeats);

// GFLOP/s of the four GEMMs of one encoder layer ([rows, hidden] by QKV [hidden, 3 * hidden],
// output [hidden, hidden], FFN up [hidden, ffn] and down [ffn, hidden]), each measured as
// above and weighted by its FLOPs: the ceiling for a dense forward pass at this row count.
double measure_layer_gemm_gflops(int64_t rows, int64_t hidden, int64_t ffn, int repeats);

}  // namespace latte
