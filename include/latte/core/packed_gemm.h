// latte's own fp32 GEMM for few rows: y[rows, out] = act(x[rows, in] W^T + b) (+ y).
// oneDNN 2.6's matmul falls off a cliff between 8 and 16 rows on AVX-512
// (docs/benchmarks.md, "Small rows"), and elimination leaves late layers with
// exactly that many word-vectors. At few rows a layer is bound by streaming its
// weights, so the weights are re-laid once into column panels that the kernel
// reads front to back, each byte once per call, for all rows at a time.
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

#include "latte/core/linear.h"

namespace latte {

// The vector ISAs the kernel is compiled for; each has its own translation unit.
enum class GemmIsa { kAvx2, kAvx512 };

const char* gemm_isa_name(GemmIsa isa);

// The widest ISA this CPU runs (AVX-512 F+VL, else AVX2+FMA, else none).
// LATTE_GEMM_ISA=avx2 caps it at AVX2, to test and time that path on an
// AVX-512 machine.
std::optional<GemmIsa> best_gemm_isa();

class PackedGemm {
 public:
  PackedGemm() = default;
  // weight: [out, in] (Hugging Face layout); bias: [out] or nullptr.
  // isa must be one the CPU runs (best_gemm_isa() or below).
  PackedGemm(const float* weight, int64_t out_features, int64_t in_features, const float* bias,
             Activation activation, bool accumulate, GemmIsa isa);

  // x: [rows, in], y: [rows, out], both contiguous; rows may be 0.
  void operator()(const float* x, int64_t rows, float* y) const;

  GemmIsa isa() const { return isa_; }
  // out[0, in) = W[row, :], exactly as given; row in [0, out_features).
  void weight_row(int64_t row, float* out) const;

 private:
  GemmIsa isa_ = GemmIsa::kAvx2;
  int64_t out_features_ = 0;
  int64_t in_features_ = 0;
  int64_t panel_width_ = 0;  // output columns per panel
  Activation activation_ = Activation::kNone;
  bool accumulate_ = false;
  // [panels, in, panel_width]: panel p holds columns p*panel_width.. of W^T,
  // zero-padded past out_features.
  std::vector<float> panels_;
  std::vector<float> bias_;  // [panels * panel_width], zero-padded; empty when no bias
};

}  // namespace latte
