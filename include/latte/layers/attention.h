// Scaled dot-product attention for every family (DESIGN.md section 3, layers/): self-attention
// over the rows of a sequence (BERT, T5's encoder), causal attention over a per-layer KV cache
// (GPT-2, Llama: prefill and decode steps alike), cross-attention over an encoder's rows (T5's
// decoder). Grouped-query heads, an additive position bias and the ACC column scores are
// options of the one kernel; rotary embedding is applied to queries and keys before it
// (core/rotary.h), so it never needs to know about positions beyond the causal mask and bias.
#pragma once

#include <cstdint>
#include <span>

#include "latte/core/arena.h"
#include "latte/core/position_bias.h"

namespace latte {

struct AttentionSpec {
  int64_t n_heads = 0;
  int64_t n_kv_heads = 0;  // divides n_heads; query head h reads key/value head h / (n_heads / n_kv_heads)
  int64_t head_dim = 0;
  float scale = 0.0f;   // multiplies q.k: 1/sqrt(head_dim) for BERT, GPT-2 and Llama; 1 for T5
  bool causal = false;  // a query sees only keys whose original position is <= its own
};

// One sequence's attention. Rows are addressed by pointer and stride (in floats), so queries
// can be read straight out of an interleaved QKV buffer and keys and values out of a cache.
// Under `causal`, key_positions must be ascending (a cache in arrival order is).
struct AttentionSequence {
  const float* queries = nullptr;  // [n_queries, n_heads * head_dim]
  int64_t query_stride = 0;
  std::span<const int64_t> query_positions;  // [n_queries] original positions
  const float* keys = nullptr;               // [n_keys, n_kv_heads * head_dim]
  const float* values = nullptr;             // [n_keys, n_kv_heads * head_dim], same stride as keys
  int64_t key_value_stride = 0;              // floats from one key (value) row to the next
  // Floats from one key/value head to the next: 0 means head_dim (heads side by side in a row,
  // [n_keys, n_kv_heads * head_dim]); a head-major cache [n_kv_heads, capacity, head_dim] sets
  // key_value_stride = head_dim and this to capacity * head_dim.
  int64_t key_value_head_stride = 0;
  std::span<const int64_t> key_positions;  // [n_keys] original positions
  float* context = nullptr;                // [n_queries, n_heads * head_dim] output
  int64_t context_stride = 0;
  // Optional [n_keys] output: each key's ACC score (DESIGN.md section 1), from the softmax the
  // kernel evaluates anyway: the attention it receives, averaged over the query heads, summed
  // over the queries (bidirectional) or averaged over the queries that see it (causal; a key
  // no query sees scores 0).
  float* key_scores = nullptr;
};

// Runs every sequence, all heads, in parallel over (sequence, head) pairs. Deterministic: the
// result does not depend on the thread count. `bias` may be null. Under `causal`, query i sees the
// keys with position <= query_positions[i] (a prefix, keys being ascending): a pruned prefill, a
// decode step over a cache and a chunk of new rows after a cache alike; a query that sees no key
// gets a zero context row. InputError, naming the values, for a spec with non-positive sizes or
// scale or n_kv_heads not dividing n_heads, a stride below its row width, missing rows, or
// (causal) key positions that descend.
void attention(const AttentionSpec& spec, std::span<const AttentionSequence> sequences,
               const PositionBias* bias, Arena& arena);

}  // namespace latte
