#include "latte/eval/perplexity.h"

#include <algorithm>
#include <cmath>
#include <initializer_list>
#include <string>

#include "latte/core/error.h"

namespace latte {

namespace {

// -log softmax(logits)[target], in double.
double negative_log_likelihood(const float* logits, int64_t vocab, int32_t target) {
  const float top = *std::max_element(logits, logits + vocab);
  double total = 0.0;
  for (int64_t i = 0; i < vocab; ++i) total += std::exp(static_cast<double>(logits[i]) - top);
  return std::log(total) - (static_cast<double>(logits[target]) - top);
}

bool is_argmax(const float* logits, int64_t vocab, int32_t target) {
  return std::max_element(logits, logits + vocab) - logits == target;
}

}  // namespace

std::vector<LmWindow> lm_windows(std::span<const int32_t> tokens, int64_t prompt_length,
                                 int64_t continuation_length, int64_t max_windows) {
  if (prompt_length < 1 || continuation_length < 1) {
    throw InputError("prompt and continuation lengths must be at least 1");
  }
  const int64_t window = prompt_length + continuation_length;
  const auto available = static_cast<int64_t>(tokens.size()) / window;
  if (available == 0) {
    throw InputError("the text has " + std::to_string(tokens.size()) + " tokens, fewer than one window of " +
                     std::to_string(prompt_length) + " + " + std::to_string(continuation_length));
  }
  const int64_t count = max_windows > 0 ? std::min(available, max_windows) : available;
  std::vector<LmWindow> windows(static_cast<size_t>(count));
  for (int64_t w = 0; w < count; ++w) {
    const auto start = tokens.begin() + w * window;
    windows[static_cast<size_t>(w)].prompt.assign(start, start + prompt_length);
    windows[static_cast<size_t>(w)].continuation.assign(start + prompt_length, start + window);
  }
  return windows;
}

LmScore score_continuations(CausalLm& model, std::span<const LmWindow> windows, const Planner* planner) {
  if (windows.empty()) throw InputError("no windows to score");
  const int64_t vocab = model.vocab_size();
  double nll = 0.0;
  int64_t correct = 0;
  int64_t tokens = 0;
  double kept_fraction = 0.0;
  double cache_bytes = 0.0;
  std::vector<double> window_nll;
  window_nll.reserve(windows.size());
  for (const LmWindow& window : windows) {
    const double nll_before = nll;
    const int64_t tokens_before = tokens;
    KvCache cache = model.new_cache();
    DecoderOptions prefill;
    prefill.planner = planner;
    const DecoderOutput first = model.forward(window.prompt, cache, prefill);
    cache_bytes += static_cast<double>(cache.bytes());
    for (const int64_t kept : first.kept) {
      kept_fraction += static_cast<double>(kept) / static_cast<double>(window.prompt.size()) /
                       static_cast<double>(first.kept.size());
    }
    // The prefill's last row predicts the first continuation token; the continuation's own rows
    // (all but its last token) predict the rest.
    nll += negative_log_likelihood(first.logits.data(), vocab, window.continuation[0]);
    correct += is_argmax(first.logits.data(), vocab, window.continuation[0]) ? 1 : 0;
    ++tokens;
    if (window.continuation.size() > 1) {
      DecoderOptions all;
      all.all_logits = true;
      const std::span<const int32_t> inputs(window.continuation.data(), window.continuation.size() - 1);
      const DecoderOutput rest = model.forward(inputs, cache, all);
      for (size_t i = 0; i + 1 < window.continuation.size(); ++i) {
        const float* logits = rest.logits.data() + static_cast<int64_t>(i) * vocab;
        nll += negative_log_likelihood(logits, vocab, window.continuation[i + 1]);
        correct += is_argmax(logits, vocab, window.continuation[i + 1]) ? 1 : 0;
        ++tokens;
      }
    }
    window_nll.push_back((nll - nll_before) / static_cast<double>(tokens - tokens_before));
  }
  LmScore score;
  score.tokens = tokens;
  score.mean_nll = nll / static_cast<double>(tokens);
  score.perplexity = std::exp(score.mean_nll);
  score.next_token_accuracy = static_cast<double>(correct) / static_cast<double>(tokens);
  score.kept_fraction = kept_fraction / static_cast<double>(windows.size());
  score.kv_cache_bytes = cache_bytes / static_cast<double>(windows.size());
  score.window_nll = std::move(window_nll);
  return score;
}

namespace {

// 100 (exp(mean over `indices` of other - base) - 1).
double change_percent(std::span<const double> base, std::span<const double> other,
                      std::span<const size_t> indices) {
  double total = 0.0;
  for (const size_t i : indices) total += other[i] - base[i];
  return 100.0 * std::expm1(total / static_cast<double>(indices.size()));
}

void require_paired(std::initializer_list<std::span<const double>> sides) {
  const size_t n = sides.begin()->size();
  for (const std::span<const double> side : sides) {
    if (n == 0 || side.size() != n) {
      std::string sizes;
      for (const std::span<const double> each : sides)
        sizes += (sizes.empty() ? "" : ", ") + std::to_string(each.size());
      throw InputError("a perplexity change needs the same windows on every side, got " + sizes);
    }
  }
}

}  // namespace

PairedEstimate perplexity_change(std::span<const double> base, std::span<const double> other, int resamples) {
  require_paired({base, other});
  return paired_bootstrap(base.size(), 1, resamples,
                          [&](std::span<const size_t> indices, std::span<double> values) {
                            values[0] = change_percent(base, other, indices);
                          })[0];
}

PairedChanges perplexity_changes(std::span<const double> base_dense, std::span<const double> base_pruned,
                                 std::span<const double> other_dense, std::span<const double> other_pruned,
                                 int resamples) {
  require_paired({base_dense, base_pruned, other_dense, other_pruned});
  const std::vector<PairedEstimate> estimates = paired_bootstrap(
      base_dense.size(), 3, resamples, [&](std::span<const size_t> indices, std::span<double> values) {
        values[0] = change_percent(base_dense, base_pruned, indices);
        values[1] = change_percent(other_dense, other_pruned, indices);
        values[2] = values[1] - values[0];
      });
  return {estimates[0], estimates[1], estimates[2]};
}

uint64_t windows_fingerprint(std::span<const LmWindow> windows) {
  uint64_t hash = 0xcbf29ce484222325ull;
  const auto mix = [&](uint64_t value) {
    for (int byte = 0; byte < 8; ++byte) {
      hash ^= (value >> (8 * byte)) & 0xff;
      hash *= 0x100000001b3ull;
    }
  };
  mix(windows.size());
  for (const LmWindow& window : windows) {
    mix(window.prompt.size());
    mix(window.continuation.size());
    for (const int32_t id : window.prompt) mix(static_cast<uint32_t>(id));
    for (const int32_t id : window.continuation) mix(static_cast<uint32_t>(id));
  }
  return hash;
}

}  // namespace latte
