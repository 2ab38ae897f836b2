// Linear's int8 and bf16 kernel (private to src/core): x is converted per call (int8: each
// row quantized with its own scale; bf16: rounded), oneDNN's matmul multiplies into an fp32
// scratch product, and latte's epilogue applies the scales, bias, activation and residual.
//
// oneDNN 2.6's int8 and bf16 matmuls are fast only with the row count fixed when the
// primitive is made (measured: a run-time row count falls back to slower kernels), so calls
// are padded up to a row bucket and one primitive per bucket is made on first use and cached.
// The weights are reordered once into the blocked layout oneDNN picks (the plain [out, in]
// layout measured 1.2-2.6x slower at 1-128 rows) and only that copy is kept; int8_weight()
// reorders them back (exactly) on its first call.
//
// bf16 at few rows (decode steps) runs latte's own kernel instead (bf16_gemv_avx512: vdpbf16ps
// on that same blocked copy, read in place), where the CPU has avx512bf16, latte's ISA is
// AVX-512 (not capped by LATTE_GEMM_ISA=avx2), oneDNN picked the layout it reads, and the
// path is not GemmPath::kOneDnn (LATTE_GEMM=onednn): oneDNN's one-row bf16 matmul read an 8B
// model's weights at 33 GB/s where llama.cpp's F16 read 48 (docs/benchmarks.md, "bf16 decode").
#pragma once

#include <cstdint>
#include <dnnl.hpp>
#include <map>
#include <mutex>
#include <vector>

#include "latte/core/linear.h"

namespace latte {

class LowPrecisionGemm {
 public:
  // int8: weight.values [out, in] with per-row scales (validated by the caller).
  LowPrecisionGemm(Int8Weight weight, const float* bias, Activation activation, bool accumulate);
  // bf16: weight [out, in] in fp32, rounded to bf16 once here. path: GemmPath::kOneDnn keeps
  // oneDNN at every row count; the others allow the few-row kernel.
  LowPrecisionGemm(const float* weight, int64_t out_features, int64_t in_features, const float* bias,
                   Activation activation, bool accumulate, GemmPath path);
  // bf16: weight [out, in] already in bf16 (out * in values); freed once reordered.
  LowPrecisionGemm(std::vector<uint16_t> weight, int64_t out_features, int64_t in_features, const float* bias,
                   Activation activation, bool accumulate, GemmPath path);
  LowPrecisionGemm(const LowPrecisionGemm&) = delete;
  LowPrecisionGemm& operator=(const LowPrecisionGemm&) = delete;

  // x: [rows, in], y: [rows, out], both contiguous; rows may be 0.
  void operator()(const float* x, int64_t rows, float* y) const;

  Precision precision() const { return precision_; }
  // The quantized weights of an int8 kernel; nullptr for bf16. The first call unpacks them
  // from oneDNN's layout and keeps them (for writing a quantized model).
  const Int8Weight* int8_weight() const;
  // bf16: out[0, in) = row `row` of the rounded weights, widened to f32, read from oneDNN's
  // blocked layout in place (no copy of the matrix). False for int8.
  bool bf16_row(int64_t row, float* out) const;

  // The row count a call of `rows` rows is padded to.
  static int64_t row_bucket(int64_t rows);
  // The most rows the few-row bf16 kernel serves; 0 when this object runs oneDNN throughout.
  int64_t few_row_limit() const { return few_row_limit_; }

 private:
  void prepare_weights(dnnl::memory plain);
  // Sets few_row_limit_ and few_row_pairs_ when the few-row kernel can read weights_.
  void enable_few_row_kernel();
  void run_few_rows(const float* x, int64_t rows, float* y) const;
  // A oneDNN matmul over `bucket_rows` rows and the scratchpad bytes it needs (it runs on the
  // caller's scratchpad: oneDNN's own would be one per primitive).
  struct Primitive {
    dnnl::matmul matmul;
    dnnl::memory::desc scratchpad;
  };
  Primitive primitive(int64_t bucket_rows) const;
  dnnl::memory::data_type source_type() const;
  dnnl::matmul::primitive_desc make_primitive_desc(int64_t bucket_rows,
                                                   const dnnl::memory::desc& weights_md) const;
  // [in, out] in Hugging Face's [out, in] order: the transposed ("ba") layout.
  dnnl::memory::desc plain_weights_desc() const;

  Precision precision_;
  int64_t out_features_ = 0;
  int64_t in_features_ = 0;
  Activation activation_ = Activation::kNone;
  bool accumulate_ = false;
  int zero_point_ = 0;  // int8: 0 for s8 activations, 64 for u8 ones
  // int8 only: the scales always; the values once int8_weight() has unpacked them.
  mutable Int8Weight int8_;
  mutable std::once_flag unpacked_;
  int64_t few_row_limit_ = 0;
  int64_t few_row_pairs_ = 0;                // K pairs of each 64-column block of weights_
  dnnl::memory weights_;                     // in the layout oneDNN picked for the matmul
  mutable std::vector<int64_t> in_offsets_;  // bf16_row: each input's part of an offset
  mutable std::once_flag in_offsets_once_;
  std::vector<float> bias_;                          // [out] or empty
  mutable std::mutex mutex_;                         // guards primitives_
  mutable std::map<int64_t, Primitive> primitives_;  // by bucket row count
};

}  // namespace latte
