// Prefill -> decode loop of a language model, decoder-only or encoder-decoder, with elimination
// in the prompt's pass (the prefill; the encoder), a streaming callback and the timings a user
// budgets for: time to first token and time per generated token.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "latte/generate/sampler.h"
#include "latte/models/causal_lm.h"
#include "latte/models/seq2seq_lm.h"

namespace latte {

struct GenerationOptions {
  int64_t max_new_tokens = 32;       // >= 1
  SamplingOptions sampling;          // greedy by default
  const Planner* planner = nullptr;  // elimination in the prefill; null: dense
  bool stop_at_eos = true;           // end at the model's eos_token_id
  bool keep_first_logits = false;    // copy the prefill's last-position logits into the result
};

struct GenerationResult {
  std::vector<int32_t> ids;    // generated tokens (the eos token included when it ended the run)
  std::vector<int64_t> kept;   // word-vectors leaving each layer in the prefill (the encoder's layers)
  std::string stop_reason;     // "eos", "length" (max_new_tokens) or "callback"
  double setup_seconds = 0.0;  // before the clock of ttft: planning this prompt length, the KV cache
  // Prefill and the first token's choice (a prefill run in pieces between other sequences' decode
  // steps, BatchDecoder::prefill: its pieces' time, not the steps between them).
  double ttft_seconds = 0.0;
  int64_t prefill_pieces = 1;    // the pieces the prefill ran in
  double encoder_seconds = 0.0;  // encoder-decoder models: the encoder's part of ttft_seconds
  double decode_seconds = 0.0;   // every later step: forward of one token and its choice
  int64_t decode_steps = 0;
  size_t kv_cache_bytes = 0;        // the caches after the prompt's pass (with cross-attention's)
  size_t kv_cache_bytes_dense = 0;  // what they take after a dense pass
  std::vector<float> first_logits;  // with keep_first_logits

  double decode_seconds_per_token() const {
    return decode_steps > 0 ? decode_seconds / static_cast<double>(decode_steps) : 0.0;
  }
};

// InputError when generate() cannot run: an empty prompt, max_new_tokens < 1, or prompt +
// max_new_tokens beyond the model's positions.
void check_generation_request(const CausalLm& model, int64_t prompt_tokens, int64_t max_new_tokens);
// The same for an encoder-decoder model: an empty source or one longer than max_source_tokens, or
// max_new_tokens outside 1..max_target_tokens.
void check_generation_request(const Seq2SeqLm& model, int64_t source_tokens, int64_t max_new_tokens);

// Generates up to max_new_tokens after `prompt`. on_token is called with each new token as soon
// as it is chosen; returning false ends the run (a stop string, Ctrl-C). InputError when the
// prompt is empty or prompt + max_new_tokens exceeds the model's positions.
GenerationResult generate(CausalLm& model, std::span<const int32_t> prompt, const GenerationOptions& options,
                          const std::function<bool(int32_t id)>& on_token = {});

// The same for an encoder-decoder model: `source` is encoded once (elimination in the encoder), the
// decoder starts from its decoder_start_token_id. InputError when the source is empty or longer
// than max_source_tokens, or max_new_tokens exceeds max_target_tokens.
GenerationResult generate(Seq2SeqLm& model, std::span<const int32_t> source, const GenerationOptions& options,
                          const std::function<bool(int32_t id)>& on_token = {});

// One short prefill (with the planner's elimination) and one decode step on a scratch cache, so
// that what a process pays once (thread pool start, kernel generation, workspace growth) is not
// counted in the first prompt's time to first token. Returns its seconds.
double warm_up(CausalLm& model, const Planner* planner);
double warm_up(Seq2SeqLm& model, const Planner* planner);

}  // namespace latte
