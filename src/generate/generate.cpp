#include "latte/generate/generate.h"

#include <algorithm>
#include <chrono>
#include <vector>

#include "latte/core/error.h"

namespace latte {

namespace {

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

}  // namespace

GenerationResult generate(CausalLm& model, std::span<const int32_t> prompt, const GenerationOptions& options,
                          const std::function<bool(int32_t id)>& on_token) {
  if (prompt.empty()) throw InputError("the prompt is empty: nothing to continue");
  if (options.max_new_tokens < 1) {
    throw InputError("max-new-tokens must be at least 1, got " + std::to_string(options.max_new_tokens));
  }
  const auto prompt_length = static_cast<int64_t>(prompt.size());
  if (prompt_length + options.max_new_tokens > model.max_positions()) {
    throw InputError("the prompt has " + std::to_string(prompt_length) + " tokens and " +
                     std::to_string(options.max_new_tokens) + " new ones would reach " +
                     std::to_string(prompt_length + options.max_new_tokens) + "; the model takes at most " +
                     std::to_string(model.max_positions()));
  }
  Sampler sampler(options.sampling);
  GenerationResult result;
  const auto setup_start = std::chrono::steady_clock::now();
  KvCache cache = model.new_cache();
  // Room for the whole sequence up front: no step copies the cache. Pages a pruned layer never
  // fills are never touched, so they take address space, not memory.
  cache.reserve_more(prompt_length + options.max_new_tokens);

  // The plan of a new prompt length (a bisection on the latency table, then cached) is setup.
  if (options.planner != nullptr && !options.planner->dense()) options.planner->plan(prompt_length);
  result.setup_seconds = seconds_since(setup_start);

  auto start = std::chrono::steady_clock::now();
  DecoderOptions prefill;
  prefill.planner = options.planner;
  DecoderOutput output = model.forward(prompt, cache, prefill);
  const int64_t vocab = model.vocab_size();
  std::span<const float> logits(output.logits.data(), static_cast<size_t>(vocab));
  int32_t token = sampler.next(logits);
  result.ttft_seconds = seconds_since(start);
  result.kept = output.kept;
  result.kv_cache_bytes = cache.bytes();
  const size_t row_bytes =
      cache.layers.empty() ? 0 : static_cast<size_t>(cache.layers[0].width()) * 2 * sizeof(float);
  result.kv_cache_bytes_dense = row_bytes * cache.layers.size() * prompt.size();
  if (options.keep_first_logits) result.first_logits.assign(logits.begin(), logits.end());

  const std::optional<int32_t> eos = options.stop_at_eos ? model.eos_token_id() : std::nullopt;
  const DecoderOptions step;
  while (true) {
    result.ids.push_back(token);
    if (on_token && !on_token(token)) {
      result.stop_reason = "callback";
      break;
    }
    if (eos && token == *eos) {
      result.stop_reason = "eos";
      break;
    }
    if (static_cast<int64_t>(result.ids.size()) >= options.max_new_tokens) {
      result.stop_reason = "length";
      break;
    }
    start = std::chrono::steady_clock::now();
    output = model.forward(std::span<const int32_t>(&token, 1), cache, step);
    token = sampler.next(std::span<const float>(output.logits.data(), static_cast<size_t>(vocab)));
    result.decode_seconds += seconds_since(start);
    ++result.decode_steps;
  }
  return result;
}

double warm_up(CausalLm& model, const Planner* planner) {
  const auto start = std::chrono::steady_clock::now();
  // Room for the prompt and two new tokens; no id beyond the vocabulary.
  const int64_t length = std::min<int64_t>({8, model.max_positions() - 2, model.vocab_size()});
  if (length < 1) return 0.0;
  std::vector<int32_t> prompt(static_cast<size_t>(length));
  for (int64_t i = 0; i < length; ++i) prompt[static_cast<size_t>(i)] = static_cast<int32_t>(i);
  GenerationOptions options;
  options.max_new_tokens = 2;
  options.planner = planner;
  options.stop_at_eos = false;
  generate(model, prompt, options);
  return seconds_since(start);
}

}  // namespace latte
