// Multi-head self-attention over a batch of sequences packed row after row
// (no padding rows: sequence b owns rows [offsets[b], offsets[b+1])), so a
// padding mask is implicit and no work is spent on padding.
#pragma once

#include <cstdint>
#include <span>

#include "latte/core/arena.h"

namespace latte {

struct AttentionShape {
  int64_t n_heads = 0;
  int64_t head_dim = 0;
  bool causal = false;  // query i sees keys j <= i (decoders)
};

// qkv:      [rows, 3 * n_heads * head_dim], per row the query, key and value vectors.
// context:  [rows, n_heads * head_dim] output.
// received: optional [rows] output, the ACC score of each row (DESIGN.md section 1):
//           the attention it receives, averaged over heads and summed over the
//           queries of its own sequence (causal: averaged over the queries that see it).
//           Computed from the softmax this kernel evaluates anyway.
void self_attention(const float* qkv, std::span<const int64_t> offsets, const AttentionShape& shape,
                    float* context, float* received, Arena& arena);

// exp(x) for each element, vectorisable; relative error below 2e-7 on [-87, 88].
void exp_inplace(float* x, int64_t count);

}  // namespace latte
