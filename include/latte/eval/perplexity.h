// Language-model quality with elimination in the prompt (DESIGN.md section 1, "Perplexity with
// elimination"): each window's prompt is prefilled (pruned by the planner), then its
// continuation tokens are scored; they attend to the pruned context and to each other.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "latte/eval/bootstrap.h"
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
  std::vector<double> window_nll;    // [windows] nats per continuation token of each window
};

// Scores every window's continuation given its prompt; `planner` prunes the prompt (null: dense).
LmScore score_continuations(CausalLm& model, std::span<const LmWindow> windows, const Planner* planner);

// The perplexity change from `base` to `other`, scored on the same windows, in percent:
// 100 (exp(mean other - mean base) - 1) of the per-window NLLs, with its paired bootstrap
// interval over the windows (bootstrap.h).
// InputError when the two are empty or of different lengths.
PairedEstimate perplexity_change(std::span<const double> base, std::span<const double> other,
                                 int resamples = 2000);

// Two models compared on the same windows, each at S against its own S = 1 (e.g. a model trained
// with elimination against the zero-shot one): `base` = perplexity_change(base_dense,
// base_pruned), `other` = perplexity_change(other_dense, other_pruned), and how much more the
// other rises, in percentage points: `difference` = other - base, every window resampled on all
// four sides at once. One bootstrap pass gives all three, each as the separate calls would.
struct PairedChanges {
  PairedEstimate base;
  PairedEstimate other;
  PairedEstimate difference;
};

// InputError when the four are empty or of different lengths.
PairedChanges perplexity_changes(std::span<const double> base_dense, std::span<const double> base_pruned,
                                 std::span<const double> other_dense, std::span<const double> other_pruned,
                                 int resamples = 2000);

// A 64-bit FNV-1a hash of the windows' lengths and token ids: two evaluations with the same
// fingerprint scored the same windows.
uint64_t windows_fingerprint(std::span<const LmWindow> windows);

}  // namespace latte
