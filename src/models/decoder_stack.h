// The forward pass every decoder-only family shares (GPT-2, Llama): embed the new tokens, run the
// blocks with the prefill's keep decision between each block's two phases (DESIGN.md section 1,
// "Where"), then the final norm and the language-model head. A family supplies its blocks, norm,
// head and how a token is embedded; the elimination and the KV cache bookkeeping live here once.
#pragma once

#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <vector>

#include "latte/core/arena.h"
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

// Runs `ids` as the next tokens of `cache`'s sequence (CausalLm::forward's contract). InputError
// for ids out of the vocabulary, a sequence past max_positions, a cache of the wrong depth, or
// elimination asked for outside the prefill; Error when the logits are not finite.
DecoderOutput decoder_forward(const DecoderStack& stack, std::span<const int32_t> ids, KvCache& cache,
                              const DecoderOptions& options, Arena& arena);

// One decode step of several sequences (CausalLm::decode's contract): the rows of every sequence
// go through each block's two phases together, each attending over its own cache.
std::vector<DecoderOutput> decoder_decode(const DecoderStack& stack, std::span<const int32_t> next_ids,
                                          std::span<KvCache* const> caches, const DecoderOptions& options,
                                          Arena& arena);

}  // namespace latte
