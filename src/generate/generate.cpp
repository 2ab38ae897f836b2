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

void check_request(int64_t prompt_tokens, int64_t max_new_tokens) {
  if (prompt_tokens == 0) throw InputError("the prompt is empty: nothing to continue");
  if (max_new_tokens < 1) {
    throw InputError("max-new-tokens must be at least 1, got " + std::to_string(max_new_tokens));
  }
}

// One sequence being generated, whatever the model's shape: the prompt's pass (a decoder-only
// model's prefill; an encoder-decoder model's encoding and first decoder step), then one token at
// a time.
class Continuation {
 public:
  virtual ~Continuation() = default;
  virtual DecoderOutput start(std::span<const int32_t> prompt, const Planner* planner) = 0;
  virtual DecoderOutput step(int32_t token) = 0;
  // The caches' bytes now, and what they would take had the prompt's pass eliminated nothing.
  virtual size_t cache_bytes() const = 0;
  virtual size_t dense_cache_bytes() const = 0;
  // The encoder's part of start() (encoder-decoder models; 0 for a decoder-only model).
  virtual double encoder_seconds() const { return 0.0; }
};

class CausalContinuation : public Continuation {
 public:
  CausalContinuation(CausalLm& model, int64_t total_tokens) : model_(model), cache_(model.new_cache()) {
    // Room for the whole sequence up front: no step copies the cache. Pages a pruned layer never
    // fills are never touched, so they take address space, not memory.
    cache_.reserve_more(total_tokens);
  }
  DecoderOutput start(std::span<const int32_t> prompt, const Planner* planner) override {
    prompt_tokens_ = prompt.size();
    DecoderOptions prefill;
    prefill.planner = planner;
    return model_.forward(prompt, cache_, prefill);
  }
  DecoderOutput step(int32_t token) override { return model_.forward({&token, 1}, cache_, DecoderOptions{}); }
  size_t cache_bytes() const override { return cache_.bytes(); }
  size_t dense_cache_bytes() const override {
    return cache_.dense_bytes(static_cast<int64_t>(prompt_tokens_));
  }

 private:
  CausalLm& model_;
  KvCache cache_;
  size_t prompt_tokens_ = 0;
};

class Seq2SeqContinuation : public Continuation {
 public:
  explicit Seq2SeqContinuation(Seq2SeqLm& model) : model_(model) {}
  DecoderOutput start(std::span<const int32_t> source, const Planner* planner) override {
    EncoderOptions encoder;
    encoder.planner = planner;
    const auto start = std::chrono::steady_clock::now();
    state_ = model_.encode(source, encoder);
    encoder_seconds_ = seconds_since(start);
    const int32_t first = model_.decoder_start_token_id();
    DecoderOutput output = model_.decode({&first, 1}, state_, DecoderOptions{});
    // What the caller reports as "kept": the encoder's layers, where elimination happens.
    output.kept = state_.encoder_kept;
    return output;
  }
  DecoderOutput step(int32_t token) override { return model_.decode({&token, 1}, state_, DecoderOptions{}); }
  size_t cache_bytes() const override { return state_.bytes(); }
  size_t dense_cache_bytes() const override {
    return state_.self.bytes() + state_.cross.dense_bytes(state_.source_tokens);
  }
  double encoder_seconds() const override { return encoder_seconds_; }

 private:
  Seq2SeqLm& model_;
  Seq2SeqState state_;
  double encoder_seconds_ = 0.0;
};

// `setup_start`: when the caller began preparing the sequence (its caches); that and this prompt
// length's plan are reported as setup, apart from the time to first token.
GenerationResult run(Continuation& sequence, std::span<const int32_t> prompt, int64_t vocab,
                     std::vector<int32_t> eos_ids, const GenerationOptions& options,
                     const std::function<bool(int32_t id)>& on_token,
                     std::chrono::steady_clock::time_point setup_start) {
  Sampler sampler(options.sampling);
  GenerationResult result;
  // The plan of a new prompt length (a bisection on the latency table, then cached) is setup.
  if (options.planner != nullptr && !options.planner->dense())
    options.planner->plan(static_cast<int64_t>(prompt.size()));
  result.setup_seconds = seconds_since(setup_start);

  auto start = std::chrono::steady_clock::now();
  DecoderOutput output = sequence.start(prompt, options.planner);
  std::span<const float> logits(output.logits.data(), static_cast<size_t>(vocab));
  int32_t token = sampler.next(logits);
  result.ttft_seconds = seconds_since(start);
  result.encoder_seconds = sequence.encoder_seconds();
  result.kept = output.kept;
  result.kv_cache_bytes = sequence.cache_bytes();
  result.kv_cache_bytes_dense = sequence.dense_cache_bytes();
  if (options.keep_first_logits) result.first_logits.assign(logits.begin(), logits.end());

  if (!options.stop_at_eos) eos_ids.clear();
  while (true) {
    result.ids.push_back(token);
    if (on_token && !on_token(token)) {
      result.stop_reason = "callback";
      break;
    }
    if (std::find(eos_ids.begin(), eos_ids.end(), token) != eos_ids.end()) {
      result.stop_reason = "eos";
      break;
    }
    if (static_cast<int64_t>(result.ids.size()) >= options.max_new_tokens) {
      result.stop_reason = "length";
      break;
    }
    start = std::chrono::steady_clock::now();
    output = sequence.step(token);
    token = sampler.next(std::span<const float>(output.logits.data(), static_cast<size_t>(vocab)));
    result.decode_seconds += seconds_since(start);
    ++result.decode_steps;
  }
  return result;
}

}  // namespace

void check_generation_request(const CausalLm& model, int64_t prompt_tokens, int64_t max_new_tokens) {
  check_request(prompt_tokens, max_new_tokens);
  if (prompt_tokens + max_new_tokens > model.max_positions()) {
    throw InputError("the prompt has " + std::to_string(prompt_tokens) + " tokens and " +
                     std::to_string(max_new_tokens) + " new ones would reach " +
                     std::to_string(prompt_tokens + max_new_tokens) + "; the model takes at most " +
                     std::to_string(model.max_positions()));
  }
}

void check_generation_request(const Seq2SeqLm& model, int64_t source_tokens, int64_t max_new_tokens) {
  check_request(source_tokens, max_new_tokens);
  if (source_tokens > model.max_source_tokens()) {
    throw InputError("the input has " + std::to_string(source_tokens) +
                     " tokens; the model's encoder takes at most " +
                     std::to_string(model.max_source_tokens()));
  }
  if (max_new_tokens > model.max_target_tokens()) {
    throw InputError("max-new-tokens is " + std::to_string(max_new_tokens) +
                     "; the model's decoder takes at most " + std::to_string(model.max_target_tokens()));
  }
}

GenerationResult generate(CausalLm& model, std::span<const int32_t> prompt, const GenerationOptions& options,
                          const std::function<bool(int32_t id)>& on_token) {
  const auto prompt_tokens = static_cast<int64_t>(prompt.size());
  check_generation_request(model, prompt_tokens, options.max_new_tokens);
  const auto setup_start = std::chrono::steady_clock::now();
  CausalContinuation sequence(model, prompt_tokens + options.max_new_tokens);
  return run(sequence, prompt, model.vocab_size(), model.eos_token_ids(), options, on_token, setup_start);
}

GenerationResult generate(Seq2SeqLm& model, std::span<const int32_t> source, const GenerationOptions& options,
                          const std::function<bool(int32_t id)>& on_token) {
  check_generation_request(model, static_cast<int64_t>(source.size()), options.max_new_tokens);
  const auto setup_start = std::chrono::steady_clock::now();
  Seq2SeqContinuation sequence(model);
  const std::optional<int32_t> eos = model.eos_token_id();
  return run(sequence, source, model.vocab_size(), eos ? std::vector<int32_t>{*eos} : std::vector<int32_t>{},
             options, on_token, setup_start);
}

namespace {

// A short prompt (at most `longest` tokens, none beyond the vocabulary) and two new tokens.
template <typename Model>
double warm_up_model(Model& model, int64_t longest, const Planner* planner) {
  const auto start = std::chrono::steady_clock::now();
  const int64_t length = std::min<int64_t>({8, longest, model.vocab_size()});
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

}  // namespace

double warm_up(CausalLm& model, const Planner* planner) {
  return warm_up_model(model, model.max_positions() - 2, planner);
}

double warm_up(Seq2SeqLm& model, const Planner* planner) {
  return warm_up_model(model, model.max_source_tokens(), planner);
}

}  // namespace latte
