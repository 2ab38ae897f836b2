// The few-row bf16 kernel of LowPrecisionGemm (gemm_small_kernels.h): vdpbf16ps on oneDNN's
// blocked weights, read in place. Compiled with AVX-512 BF16 flags (CMakeLists.txt) and only
// called when the CPU reports avx512bf16.
//
// At one row a decode step is bound by streaming the weights: each 64-byte load of a block
// (16 columns x one K pair) feeds one vdpbf16ps per row, the x pair broadcast from a register.
// A thread walks its blocks front to back, so the hardware prefetcher sees one stream.
#include <immintrin.h>

#include <algorithm>

#include "gemm_small_kernels.h"

namespace latte::gemm_kernels {

namespace {

constexpr int kVectors = static_cast<int>(kBf16GemvBlockColumns / 16);  // zmm per block row
constexpr int64_t kPairStride = kBf16GemvBlockColumns * 2;              // uint16 per K pair

inline __m512bh as_bf16(__m512i bits) { return reinterpret_cast<__m512bh&>(bits); }

// kRows rows of x times one 64-column block: kRows x 4 accumulators over every K pair, then
// the block's columns [0, columns) stored to product.
template <int kRows>
void block_tile(const Bf16GemvArgs& args, const uint16_t* block, int64_t row, int64_t column,
                int64_t columns) {
  __m512 accumulators[kRows][kVectors];
#pragma GCC unroll 4
  for (int r = 0; r < kRows; ++r) {
#pragma GCC unroll 4
    for (int v = 0; v < kVectors; ++v) accumulators[r][v] = _mm512_setzero_ps();
  }
  const uint32_t* x = args.x_pairs + row * args.pairs;
  for (int64_t p = 0; p < args.pairs; ++p) {
    const uint16_t* pair = block + p * kPairStride;
    __m512bh weights[kVectors];
#pragma GCC unroll 4
    for (int v = 0; v < kVectors; ++v) weights[v] = as_bf16(_mm512_loadu_si512(pair + v * 32));
#pragma GCC unroll 4
    for (int r = 0; r < kRows; ++r) {
      const __m512bh input = as_bf16(_mm512_set1_epi32(static_cast<int>(x[r * args.pairs + p])));
#pragma GCC unroll 4
      for (int v = 0; v < kVectors; ++v)
        accumulators[r][v] = _mm512_dpbf16_ps(accumulators[r][v], input, weights[v]);
    }
  }
#pragma GCC unroll 4
  for (int r = 0; r < kRows; ++r) {
    float* out = args.product + (row + r) * args.out_features + column;
    if (columns == kBf16GemvBlockColumns) {
#pragma GCC unroll 4
      for (int v = 0; v < kVectors; ++v) _mm512_storeu_ps(out + v * 16, accumulators[r][v]);
    } else {  // the last, partial block: the padded columns are dropped
      alignas(64) float tile[kBf16GemvBlockColumns];
#pragma GCC unroll 4
      for (int v = 0; v < kVectors; ++v) _mm512_store_ps(tile + v * 16, accumulators[r][v]);
      for (int64_t c = 0; c < columns; ++c) out[c] = tile[c];
    }
  }
}

template <int kRows>
void remainder_tile(int64_t rows, const Bf16GemvArgs& args, const uint16_t* block, int64_t row,
                    int64_t column, int64_t columns) {
  if constexpr (kRows > 0) {
    if (rows == kRows) return block_tile<kRows>(args, block, row, column, columns);
    remainder_tile<kRows - 1>(rows, args, block, row, column, columns);
  }
}

}  // namespace

void bf16_gemv_avx512(const Bf16GemvArgs& args, int64_t block_begin, int64_t block_end) {
  constexpr int kMaxRows = static_cast<int>(kBf16GemvMaxRows);
  for (int64_t b = block_begin; b < block_end; ++b) {
    const uint16_t* block = args.weights + b * args.pairs * kPairStride;
    const int64_t column = b * kBf16GemvBlockColumns;
    const int64_t columns = std::min(args.out_features - column, kBf16GemvBlockColumns);
    int64_t row = 0;
    for (; row + kMaxRows <= args.rows; row += kMaxRows)
      block_tile<kMaxRows>(args, block, row, column, columns);
    remainder_tile<kMaxRows - 1>(args.rows - row, args, block, row, column, columns);
  }
}

}  // namespace latte::gemm_kernels
