// Language-model quality with elimination in the prompt (DESIGN.md section 1, "Perplexity with
// elimination"): each window's prompt is prefilled (pruned by the planner), then its
// continuation tokens are scored; they attend to the pruned context and to each other.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "latte/models/causal_lm.h"

namespace latte {

struct LmWindow {
  std::vector<int32_t> prompt;
  std::vector<int32_t> continuation;
};

// Consecutive, non-overlapping windows of prompt_length + continuation_length tokens from a
// token stream (documents joined as the caller tokenized them), at most max_windows (0: all).
// InputError when the stream is too short for even one window.
std::vector<LmWindow> lm_windows(std::span<const int32_t> tokens, int64_t prompt_length,
                                 int64_t continuation_length, int64_t max_windows);

struct LmScore {
  double mean_nll = 0.0;             // nats per continuation token
  double perplexity = 0.0;           // exp(mean_nll)
  double next_token_accuracy = 0.0;  // share of continuation tokens that are the argmax
  int64_t tokens = 0;                // continuation tokens scored
  double kept_fraction = 1.0;        // mean over windows and layers of kept / prompt length
  double kv_cache_bytes = 0.0;       // mean over windows of the KV cache the pruned prompt leaves
};

// Scores every window's continuation given its prompt; `planner` prunes the prompt (null: dense).
LmScore score_continuations(CausalLm& model, std::span<const LmWindow> windows, const Planner* planner);

}  // namespace latte
