// One head of attention with PackedGemm's vector kernels: scores, softmax with the ACC column
// sums, and context, a block of queries at a time (src/core/attention_kernel.inc), with an
// optional position bias. The general attention of layers/attention.cpp calls it where it applies.
#pragma once

#include <cstdint>

#include "latte/core/packed_gemm.h"
#include "latte/core/position_bias.h"

namespace latte {

// One head of attention (layers/attention.cpp): the keys each query sees are a prefix of
// [0, n_keys), all of them unless `visible` says otherwise.
struct AttentionHeadArgs {
  const float* queries = nullptr;  // [n_queries] rows of head_dim at query_stride
  int64_t query_stride = 0;
  int64_t n_queries = 0;
  const float* keys = nullptr;    // [n_keys] rows of head_dim at key_value_stride
  const float* values = nullptr;  // the same layout
  int64_t key_value_stride = 0;
  int64_t n_keys = 0;
  int64_t head_dim = 0;
  float scale = 1.0f;
  const int64_t* visible = nullptr;  // [n_queries] keys each query sees, or nullptr: all
  float* context = nullptr;          // [n_queries] rows of head_dim at context_stride
  int64_t context_stride = 0;
  float* column_sums = nullptr;  // [n_keys]: each query's probabilities are added, or nullptr
  float* workspace = nullptr;    // attention_workspace_floats(head_dim, n_keys) floats
  // Optional additive bias (T5): bias->add(head, query_positions[i], key_positions[0, width))
  // on each query's scaled scores before its softmax, width being the keys its block of queries
  // sees, as the general path adds it.
  const PositionBias* bias = nullptr;
  int64_t head = 0;
  const int64_t* query_positions = nullptr;  // [n_queries] original positions, with bias
  const int64_t* key_positions = nullptr;    // [n_keys] original positions, with bias
};

// Floats of workspace one call needs, for either ISA: K^T and V packed, and the scores of a
// block of at most 8 queries.
constexpr int64_t attention_workspace_floats(int64_t head_dim, int64_t n_keys) {
  return (2 * head_dim + 8) * (n_keys + 48);
}

// Floats per vector of `isa` (16 on AVX-512, 8 on AVX2): head_dim must be a multiple of it.
constexpr int64_t attention_head_vector_width(GemmIsa isa) { return isa == GemmIsa::kAvx512 ? 16 : 8; }

// The kernel's softmax on one row of scores: softmax of row[0, valid) in place, 0 in
// [valid, width) (all 0 when valid is 0), the probabilities added to column_sums[0, width) when
// it is not null. For attention's general path (decode steps, few queries).
void softmax_row(GemmIsa isa, float* row, int64_t valid, int64_t width, float* column_sums);

// Runs one head on `isa`'s kernel; false, having done nothing, when head_dim is not a multiple
// of that ISA's vector width (16 floats on AVX-512, 8 on AVX2) or there is no key (the caller then runs its
// general path).
bool attention_head(GemmIsa isa, const AttentionHeadArgs& args);

}  // namespace latte
