// Entry points of the per-ISA translation units of PackedGemm (private to src/core).
// Each is compiled with its own target flags and called only after a CPU check,
// so a build without -march=native still runs the fast path where the CPU has it.
#pragma once

#include <cstdint>

#include "latte/core/attention_head.h"
#include "latte/core/linear.h"

namespace latte::gemm_kernels {

struct SmallGemmArgs {
  const float* x = nullptr;  // [rows, in]
  int64_t rows = 0;
  int64_t in_features = 0;
  const float* panels = nullptr;  // [panels, in, panel_width]
  const float* bias = nullptr;    // [panels * panel_width] or nullptr
  int64_t out_features = 0;
  Activation activation = Activation::kNone;
  bool accumulate = false;
  float* y = nullptr;  // [rows, out]
};

// Output columns per panel of each kernel: a multiple of its vector width.
constexpr int64_t kPanelWidthAvx512 = 48;
constexpr int64_t kPanelWidthAvx2 = 16;

// Computes the panels [panel_begin, panel_end) for every row.
void small_gemm_avx512(const SmallGemmArgs& args, int64_t panel_begin, int64_t panel_end);
void small_gemm_avx2(const SmallGemmArgs& args, int64_t panel_begin, int64_t panel_end);

// The last step of an int8 or bf16 Linear, on oneDNN's fp32 product:
// y[r, c] = act(product[r, c] * row_scales[r] * column_scales[c] + bias[c]) (+ y[r, c]).
struct EpilogueArgs {
  const float* product = nullptr;        // [rows, out]
  const float* row_scales = nullptr;     // [rows], or nullptr for 1
  const float* column_scales = nullptr;  // [out], or nullptr for 1
  const float* bias = nullptr;           // [out] or nullptr
  int64_t out_features = 0;
  Activation activation = Activation::kNone;
  bool accumulate = false;
  float* y = nullptr;  // [rows, out]
  // Elements from one row of product and y to the next; 0 for out_features. Lets a
  // thread finish its own columns [c, c + out_features) of a wider matrix.
  int64_t row_stride = 0;
};

// Finishes the rows [row_begin, row_end).
void epilogue_avx512(const EpilogueArgs& args, int64_t row_begin, int64_t row_end);
void epilogue_avx2(const EpilogueArgs& args, int64_t row_begin, int64_t row_end);

// bf16 x bf16 -> f32 for few rows, on oneDNN's blocked bf16 weights of [in, out] (format
// BA16a64b2a: per 64-column block, all of K as 16-pair groups; within a group, 64 columns
// of K pairs), read in place: each 32-bit word is one column's (k, k+1) pair, what
// vdpbf16ps consumes. product[r, c] = sum_k x[r, k] w[k, c] in f32.
struct Bf16GemvArgs {
  const uint32_t* x_pairs = nullptr;  // [rows, pairs]: x rounded to bf16, zero past in_features
  int64_t rows = 0;
  int64_t pairs = 0;                  // K pairs per column block (padded in_features / 2)
  const uint16_t* weights = nullptr;  // block b at weights + b * pairs * 128
  int64_t out_features = 0;
  float* product = nullptr;  // [rows, out]
};

constexpr int64_t kBf16GemvBlockColumns = 64;
// Rows one pass over a block's weights serves (4 x 4 zmm accumulators).
constexpr int64_t kBf16GemvMaxRows = 4;

// Columns blocks [block_begin, block_end) for every row (any row count: more than
// kBf16GemvMaxRows rows read each block again, from cache).
void bf16_gemv_avx512(const Bf16GemvArgs& args, int64_t block_begin, int64_t block_end);

// attention_head's kernels (latte/core/attention_head.h).
bool attention_head_avx512(const AttentionHeadArgs& args);
bool attention_head_avx2(const AttentionHeadArgs& args);
void softmax_row_avx512(float* row, int64_t valid, int64_t width, float* column_sums);
void softmax_row_avx2(float* row, int64_t valid, int64_t width, float* column_sums);

}  // namespace latte::gemm_kernels
