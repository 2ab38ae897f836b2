// The forward pass every decoder-only family shares (GPT-2, Llama): embed the new tokens, run the
// blocks with the prefill's keep decision between each block's two phases (DESIGN.md section 1,
// "Where"), then the final norm and the language-model head. A family supplies its blocks, norm,
// head and how a token is embedded; the elimination and the KV cache bookkeeping live here once.
#pragma once

#include <algorithm>
#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <vector>

#include "latte/core/arena.h"
#include "latte/core/error.h"
#include "latte/core/linear.h"
#include "latte/layers/kv_cache.h"
#include "latte/layers/transformer_block.h"
#include "latte/models/causal_lm.h"

namespace latte {

struct DecoderStack {
  std::span<const TransformerBlock> blocks;
  const Norm& final_norm;
  const Linear& lm_head;
  int64_t vocab_size = 0;
  int64_t max_positions = 0;
  const char* max_positions_field = "";  // config.json's name for it, in errors ("n_positions")
  // Writes the embedding of token `id` at original `position` into row [hidden].
  std::function<void(int32_t id, int64_t position, float* row)> embed;
};

// Runs `ids` as the next tokens of `cache`'s sequence, a layer at a time (CausalLm::forward's and
// start_prefill's contracts). The constructor checks and embeds: InputError for ids out of the
// vocabulary, a sequence past max_positions, a cache of the wrong depth, or elimination asked for
// outside the prefill. `workspace` is the model's arena. Resumable: what goes from layer to layer
// lives in the run's own arena and `workspace` is only scratch, reset at each layer, so the
// model's other passes may run between layers. Otherwise it lives in `workspace` (reset once,
// here), which nothing else may use until finish() (forward: every layer at once).
class DecoderPrefill final : public PrefillRun {
 public:
  DecoderPrefill(DecoderStack stack, std::span<const int32_t> ids, KvCache& cache,
                 const DecoderOptions& options, Arena& workspace, bool resumable);

  int64_t layers() const override { return static_cast<int64_t>(stack_.blocks.size()); }
  int64_t layers_done() const override { return layer_; }
  void run_layer() override;
  DecoderOutput finish() override;

 private:
  DecoderStack stack_;
  KvCache& cache_;
  DecoderOptions options_;
  Arena& workspace_;
  Arena own_;                       // resumable: the rows between layers
  Arena* rows_arena_;               // where they live: own_ or workspace_
  const SequencePlan* plan_;        // null: nothing eliminated
  int64_t rows_ = 0;                // word-vectors still in the pass
  int64_t width_ = 0;               // hidden
  int64_t context_width_ = 0;       // attention output
  float* states_ = nullptr;         // [rows, width] residual stream
  float* context_ = nullptr;        // [rows, context_width] attention output
  float* scores_ = nullptr;         // [cached + rows] ACC scores of the keys, when scored
  std::vector<int64_t> positions_;  // [rows] original positions
  int64_t layer_ = 0;               // layers run
  bool finished_ = false;
  DecoderOutput output_;  // kept so far
};

// CausalLm::forward: a DecoderPrefill over every layer at once.
DecoderOutput decoder_forward(const DecoderStack& stack, std::span<const int32_t> ids, KvCache& cache,
                              const DecoderOptions& options, Arena& arena);

// What every batched decode step checks before it changes anything (CausalLm::decode,
// Seq2SeqLm::decode_batch): a token per sequence, at least one sequence, none null or repeated
// (`what` names one in errors: "KV cache", "state"), and neither ACC scores nor every row's logits
// asked for. InputError otherwise.
template <typename Sequence>
void check_decode_step(std::span<const int32_t> next_ids, std::span<Sequence* const> sequences,
                       const DecoderOptions& options, const std::string& what) {
  if (next_ids.size() != sequences.size()) {
    throw InputError("a decode step got " + std::to_string(next_ids.size()) + " tokens for " +
                     std::to_string(sequences.size()) + " " + what + "s");
  }
  if (sequences.empty()) throw InputError("a decode step got no sequences");
  if (options.on_scores || options.all_logits) {
    throw InputError("a batched decode step computes no ACC scores and one row of logits per sequence");
  }
  for (size_t s = 0; s < sequences.size(); ++s) {
    if (sequences[s] == nullptr) {
      throw InputError("sequence " + std::to_string(s) + " of a decode step has no " + what);
    }
    if (std::find(sequences.begin(), sequences.begin() + static_cast<std::ptrdiff_t>(s), sequences[s]) !=
        sequences.begin() + static_cast<std::ptrdiff_t>(s)) {
      throw InputError("sequence " + std::to_string(s) + " of a decode step shares its " + what +
                       " with another");
    }
  }
}

// One decode step of several sequences (CausalLm::decode's contract): the rows of every sequence
// go through each block's two phases together, each attending over its own cache.
std::vector<DecoderOutput> decoder_decode(const DecoderStack& stack, std::span<const int32_t> next_ids,
                                          std::span<KvCache* const> caches, const DecoderOptions& options,
                                          Arena& arena);

}  // namespace latte
