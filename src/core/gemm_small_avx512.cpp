// PackedGemm's AVX-512 kernel (and attention's, attention_kernel.inc): 8 rows x 3 zmm (48 columns) of
// accumulators, 24 of the 32 registers. Compiled with AVX-512 flags (CMakeLists.txt) and only called when the
// CPU reports avx512f and avx512vl.
#include <immintrin.h>

#include "gemm_small_kernels.h"

namespace latte::gemm_kernels {

namespace {

struct Vec {
  using Reg = __m512;
  static constexpr int kWidth = 16;
  static Reg zero() { return _mm512_setzero_ps(); }
  static Reg set1(float value) { return _mm512_set1_ps(value); }
  static Reg load(const float* source) { return _mm512_loadu_ps(source); }
  static void store(float* target, Reg value) { _mm512_storeu_ps(target, value); }
  static Reg add(Reg a, Reg b) { return _mm512_add_ps(a, b); }
  static Reg mul(Reg a, Reg b) { return _mm512_mul_ps(a, b); }
  static Reg div(Reg a, Reg b) { return _mm512_div_ps(a, b); }
  static Reg max(Reg a, Reg b) { return _mm512_max_ps(a, b); }
  static Reg min(Reg a, Reg b) { return _mm512_min_ps(a, b); }
  static Reg fmadd(Reg a, Reg b, Reg c) { return _mm512_fmadd_ps(a, b, c); }
  static Reg fnmadd(Reg a, Reg b, Reg c) { return _mm512_fnmadd_ps(a, b, c); }
  static Reg round(Reg a) { return _mm512_roundscale_ps(a, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC); }
  static Reg pow2(Reg n) {
    return _mm512_castsi512_ps(
        _mm512_slli_epi32(_mm512_add_epi32(_mm512_cvtps_epi32(n), _mm512_set1_epi32(127)), 23));
  }
  static Reg abs(Reg a) { return _mm512_abs_ps(a); }
  static Reg copy_sign(Reg magnitude, Reg sign) {
    const __m512i sign_bit = _mm512_set1_epi32(static_cast<int>(0x80000000u));
    return _mm512_castsi512_ps(_mm512_or_si512(_mm512_andnot_si512(sign_bit, _mm512_castps_si512(magnitude)),
                                               _mm512_and_si512(sign_bit, _mm512_castps_si512(sign))));
  }
};

constexpr int64_t kPanelWidth = kPanelWidthAvx512;
constexpr int kMaxRows = 8;

#include "gemm_small_kernel.inc"
// After the GEMM kernel, whose vector_exp and panel sizes it uses.
#include "attention_kernel.inc"

}  // namespace

void small_gemm_avx512(const SmallGemmArgs& args, int64_t panel_begin, int64_t panel_end) {
  small_gemm(args, panel_begin, panel_end);
}

void epilogue_avx512(const EpilogueArgs& args, int64_t row_begin, int64_t row_end) {
  scaled_epilogue(args, row_begin, row_end);
}

bool attention_head_avx512(const AttentionHeadArgs& args) { return attention_head(args); }

void softmax_row_avx512(float* row, int64_t valid, int64_t width, float* column_sums) {
  softmax_row(row, valid, width, column_sums);
}

}  // namespace latte::gemm_kernels
