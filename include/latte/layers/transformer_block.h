// One transformer layer for every family (DESIGN.md section 3, layers/): self-attention, an
// optional cross-attention (T5's decoder) and the feed-forward block, each a sublayer adding to
// the residual stream, with the norms before (pre-norm: GPT-2, T5, Llama) or after (post-norm:
// BERT) each residual add.
//
// The elimination seam (DESIGN.md section 1, "Where") is the split into two phases, which the
// model file runs with its keep decision between them:
//   attend  on the n rows entering the layer: norm (pre), the fused Q/K/V projection, rotary,
//           the KV cache append, attention -> the context rows and the keys' ACC scores;
//   finish  on the k rows the model kept: output projection + residual, norm (post),
//           cross-attention, feed-forward.
// Between them the model decides the kept rows from the scores and compacts the residual
// stream and the context rows in place (prune/keep.h, core/compact.h); the latency table's "in" and "kept"
// phases are these two calls.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <utility>
#include <variant>

#include "latte/core/arena.h"
#include "latte/core/linear.h"
#include "latte/core/ops.h"
#include "latte/core/rotary.h"
#include "latte/layers/attention.h"
#include "latte/layers/feed_forward.h"
#include "latte/layers/kv_cache.h"

namespace latte {

// A LayerNorm (BERT, GPT-2) or an RMSNorm (T5, Llama).
class Norm {
 public:
  Norm() = default;
  Norm(LayerNorm norm) : norm_(std::move(norm)) {}  // NOLINT: implicit, a norm of either kind
  Norm(RMSNorm norm) : norm_(std::move(norm)) {}    // NOLINT
  // x: [rows, width], normalised in place.
  void operator()(float* x, int64_t rows) const;
  int64_t width() const;

 private:
  std::variant<LayerNorm, RMSNorm> norm_;
};

// pre: x += sublayer(norm(x)); post: x = norm(x + sublayer(x)).
enum class NormPlacement { kPre, kPost };

// The fused Q/K/V projection's weight (or bias) from separate ones: `parts` stacked along the
// first axis ([q_out + k_out + v_out, in], or [q_out + k_out + v_out] for biases). InputError
// when their trailing dimensions differ.
Tensor concatenate_rows(std::span<const Tensor> parts);

struct SelfAttentionWeights {
  // [rows, hidden] -> [rows, (n_heads + 2 n_kv_heads) head_dim]: each row's Q, K, V side by side
  // (concatenate_rows builds it from models that ship them separately).
  Linear qkv;
  Linear output;  // [rows, n_heads head_dim] -> [rows, hidden], accumulating: the residual add
  Norm norm;      // pre: of the input to qkv; post: of the residual stream after `output`
};

struct CrossAttentionWeights {
  Linear query;      // [rows, hidden] -> [rows, n_heads head_dim]
  Linear key_value;  // [encoder rows, encoder hidden] -> [encoder rows, 2 n_kv_heads head_dim]: K, V
  Linear output;     // [rows, n_heads head_dim] -> [rows, hidden], accumulating
  Norm norm;
};

struct FeedForwardWeights {
  FeedForward ffn;
  Norm norm;
};

// Attention scaled by 1/sqrt(head_dim), as in BERT, GPT-2 and Llama.
AttentionSpec scaled_attention(int64_t n_heads, int64_t n_kv_heads, int64_t head_dim, bool causal);

struct TransformerBlockSpec {
  NormPlacement placement = NormPlacement::kPre;
  // Heads, scale and causal mask of the self-attention; cross-attention uses the same heads and
  // scale, never causal.
  AttentionSpec attention;
  std::optional<RotarySpec> rotary;  // applied to Q and K by the rows' original positions
  // Added to the self-attention logits (T5's relative bias; layers of a model may share one).
  std::shared_ptr<const PositionBias> position_bias;
};

// One sequence's encoder rows as a cross-attention reads them.
struct CrossMemory {
  const float* key_values = nullptr;   // [rows, 2 n_kv_heads head_dim], from project_memory
  std::span<const int64_t> positions;  // [rows] original positions
  // Keys and values held apart instead (a LayerCache of whole rows, as Seq2SeqState keeps
  // them): key_values holds the keys, `values` the values, each row `stride` floats apart.
  const float* values = nullptr;
  int64_t stride = 0;
};

// One sequence of a packed batch: its rows follow the previous sequence's rows, as many as it
// has positions.
struct BlockSequence {
  std::span<const int64_t> positions;  // [rows] original positions of the rows (ascending if causal)
  // attend: when set, the sequence's rows are appended to this layer's cache (width n_kv_heads
  // head_dim) and attend over everything it holds; when null, over the sequence's own rows.
  LayerCache* cache = nullptr;
  // attend, optional: [keys] ACC scores of the keys (the cache's rows after the append, or the
  // sequence's own rows).
  float* key_scores = nullptr;
  // finish: required by a block with cross-attention, ignored otherwise.
  const CrossMemory* memory = nullptr;
};

class TransformerBlock {
 public:
  TransformerBlock() = default;
  // InputError naming the part and both shapes when the weights do not fit the spec and each
  // other (hidden widths, head counts, norm widths, a non-accumulating output projection), or for
  // a rotary dimension that is odd or above head_dim.
  TransformerBlock(const TransformerBlockSpec& spec, SelfAttentionWeights self_attention,
                   FeedForwardWeights ffn,
                   std::optional<CrossAttentionWeights> cross_attention = std::nullopt);

  // The "in" phase. states: [rows, hidden], read only; context: [rows, n_heads head_dim], written.
  // Scratch comes from `arena` and is freed before returning. InputError when the sequences do
  // not hold `rows` rows, or a cache has the wrong width (and those of attention()).
  // `attention_seconds`, when given, receives the wall time of rotary, the cache append and the
  // attention itself (the decode-step breakdown: everything after the Q/K/V projection).
  void attend(const float* states, int64_t rows, std::span<const BlockSequence> sequences, float* context,
              Arena& arena, double* attention_seconds = nullptr) const;

  // The "kept" phase on the rows that survive: states [rows, hidden] updated in place from the
  // context rows [rows, n_heads head_dim] that attend produced for them. `sequences` gives the
  // kept rows' positions and encoder memory (needed with cross-attention only). Scratch is freed
  // before returning.
  void finish(float* states, const float* context, int64_t rows, std::span<const BlockSequence> sequences,
              Arena& arena) const;

  // Cross-attention keys and values of encoder rows: key_values [rows, 2 n_kv_heads head_dim] from
  // encoder_states [rows, encoder hidden]. Computed once per encoder output, read by every step.
  void project_memory(const float* encoder_states, int64_t rows, float* key_values) const;

  bool has_cross_attention() const { return cross_.has_value(); }
  int64_t hidden() const { return hidden_; }
  int64_t context_width() const { return spec_.attention.n_heads * spec_.attention.head_dim; }
  int64_t kv_width() const { return spec_.attention.n_kv_heads * spec_.attention.head_dim; }
  const TransformerBlockSpec& spec() const { return spec_; }

 private:
  // `norm` of x into a copy (pre-norm) or x itself (post-norm, where the input is not normed).
  const float* sublayer_input(const float* x, int64_t rows, const Norm& norm, Arena& arena) const;
  void cross_attend(float* states, int64_t rows, std::span<const BlockSequence> sequences,
                    Arena& arena) const;

  TransformerBlockSpec spec_;
  SelfAttentionWeights self_;
  FeedForwardWeights ffn_;
  std::optional<CrossAttentionWeights> cross_;
  int64_t hidden_ = 0;
};

}  // namespace latte
