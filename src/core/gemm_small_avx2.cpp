// PackedGemm's AVX2 kernel (and attention's, attention_kernel.inc): 6 rows x 2 ymm (16 columns) of
// accumulators, 12 of the 16 registers with 2 for weights and 1 for the broadcast input. Compiled with
// AVX2+FMA flags (CMakeLists.txt) and only called when the CPU has both.
#include <immintrin.h>

#include "gemm_small_kernels.h"

namespace latte::gemm_kernels {

namespace {

struct Vec {
  using Reg = __m256;
  static constexpr int kWidth = 8;
  static Reg zero() { return _mm256_setzero_ps(); }
  static Reg set1(float value) { return _mm256_set1_ps(value); }
  static Reg load(const float* source) { return _mm256_loadu_ps(source); }
  static void store(float* target, Reg value) { _mm256_storeu_ps(target, value); }
  static Reg add(Reg a, Reg b) { return _mm256_add_ps(a, b); }
  static Reg mul(Reg a, Reg b) { return _mm256_mul_ps(a, b); }
  static Reg div(Reg a, Reg b) { return _mm256_div_ps(a, b); }
  static Reg max(Reg a, Reg b) { return _mm256_max_ps(a, b); }
  static Reg min(Reg a, Reg b) { return _mm256_min_ps(a, b); }
  static Reg fmadd(Reg a, Reg b, Reg c) { return _mm256_fmadd_ps(a, b, c); }
  static Reg fnmadd(Reg a, Reg b, Reg c) { return _mm256_fnmadd_ps(a, b, c); }
  static Reg round(Reg a) { return _mm256_round_ps(a, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC); }
  static Reg pow2(Reg n) {
    return _mm256_castsi256_ps(
        _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23));
  }
  static Reg abs(Reg a) { return _mm256_andnot_ps(_mm256_set1_ps(-0.0f), a); }
  static Reg copy_sign(Reg magnitude, Reg sign) {
    const Reg sign_bit = _mm256_set1_ps(-0.0f);
    return _mm256_or_ps(_mm256_andnot_ps(sign_bit, magnitude), _mm256_and_ps(sign_bit, sign));
  }
};

constexpr int64_t kPanelWidth = kPanelWidthAvx2;
constexpr int kMaxRows = 6;

#include "gemm_small_kernel.inc"
// After the GEMM kernel, whose vector_exp and panel sizes it uses.
#include "attention_kernel.inc"

}  // namespace

void small_gemm_avx2(const SmallGemmArgs& args, int64_t panel_begin, int64_t panel_end) {
  small_gemm(args, panel_begin, panel_end);
}

void epilogue_avx2(const EpilogueArgs& args, int64_t row_begin, int64_t row_end) {
  scaled_epilogue(args, row_begin, row_end);
}

bool attention_head_avx2(const AttentionHeadArgs& args) { return attention_head(args); }

void softmax_row_avx2(float* row, int64_t valid, int64_t width, float* column_sums) {
  softmax_row(row, valid, width, column_sums);
}

}  // namespace latte::gemm_kernels
