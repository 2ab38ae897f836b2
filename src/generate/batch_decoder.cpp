#include "latte/generate/batch_decoder.h"

#include <algorithm>
#include <chrono>
#include <exception>
#include <utility>

#include "latte/core/error.h"

namespace latte {

namespace {

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

}  // namespace

BatchDecoder::BatchDecoder(CausalLm& model) : model_(model) {}

int64_t BatchDecoder::add(std::span<const int32_t> prompt, BatchRequest request) {
  const auto prompt_tokens = static_cast<int64_t>(prompt.size());
  check_generation_request(model_, prompt_tokens, request.generation.max_new_tokens);
  for (const int32_t id : request.stop_ids) {
    if (id < 0 || id >= model_.vocab_size()) {
      throw InputError("stop token id " + std::to_string(id) + " is outside the vocabulary of " +
                       std::to_string(model_.vocab_size()));
    }
  }
  Sampler sampler(request.generation.sampling);  // InputError for bad sampling options
  const auto setup_start = std::chrono::steady_clock::now();
  Sequence sequence{.id = next_id_,
                    .cache = model_.new_cache(),
                    .sampler = std::move(sampler),
                    .request = std::move(request)};
  const GenerationOptions& generation = sequence.request.generation;
  if (generation.stop_at_eos) sequence.stop_ids = model_.eos_token_ids();
  sequence.stop_ids.insert(sequence.stop_ids.end(), sequence.request.stop_ids.begin(),
                           sequence.request.stop_ids.end());
  // As generate(): room for the whole sequence, and this prompt length's plan, are setup.
  sequence.cache.reserve_more(prompt_tokens + generation.max_new_tokens);
  if (generation.planner != nullptr && !generation.planner->dense()) generation.planner->plan(prompt_tokens);
  GenerationResult& result = sequence.result;
  result.setup_seconds = seconds_since(setup_start);

  const auto start = std::chrono::steady_clock::now();
  DecoderOptions prefill;
  prefill.planner = generation.planner;
  const DecoderOutput output = model_.forward(prompt, sequence.cache, prefill);
  const std::span<const float> logits(output.logits.data(), static_cast<size_t>(model_.vocab_size()));
  const int32_t first = sequence.sampler.next(logits);
  result.ttft_seconds = seconds_since(start);
  result.kept = output.kept;
  result.kv_cache_bytes = sequence.cache.bytes();
  result.kv_cache_bytes_dense = sequence.cache.dense_bytes(prompt_tokens);
  if (generation.keep_first_logits) result.first_logits.assign(logits.begin(), logits.end());

  ++next_id_;
  sequences_.push_back(std::move(sequence));
  if (accept(sequences_.back(), first)) retire_ended();
  return next_id_ - 1;
}

bool BatchDecoder::accept(Sequence& sequence, int32_t token) {
  GenerationResult& result = sequence.result;
  result.ids.push_back(token);
  sequence.next_token = token;
  bool go_on = true;
  if (sequence.request.on_token) {
    try {
      go_on = sequence.request.on_token(token);
    } catch (const std::exception& error) {
      result.stop_reason = "error";
      sequence.error = std::string("the token callback failed: ") + error.what();
      return true;
    }
  }
  if (!go_on) {
    result.stop_reason = "callback";
  } else if (std::find(sequence.stop_ids.begin(), sequence.stop_ids.end(), token) !=
             sequence.stop_ids.end()) {
    result.stop_reason = "eos";
  } else if (static_cast<int64_t>(result.ids.size()) >= sequence.request.generation.max_new_tokens) {
    result.stop_reason = "length";
  }
  return !result.stop_reason.empty();
}

void BatchDecoder::retire_ended() {
  std::vector<Sequence> going_on;
  for (Sequence& sequence : sequences_) {
    if (sequence.result.stop_reason.empty()) {
      going_on.push_back(std::move(sequence));
    } else {
      finished_.push_back(FinishedSequence{
          .id = sequence.id, .result = std::move(sequence.result), .error = std::move(sequence.error)});
    }
  }
  sequences_ = std::move(going_on);
}

std::vector<FinishedSequence> BatchDecoder::step() {
  if (sequences_.empty()) return std::exchange(finished_, {});
  std::vector<int32_t> next_ids;
  std::vector<KvCache*> caches;
  for (Sequence& sequence : sequences_) {
    next_ids.push_back(sequence.next_token);
    caches.push_back(&sequence.cache);
  }
  const auto start = std::chrono::steady_clock::now();
  std::vector<DecoderOutput> outputs;
  try {
    outputs = model_.decode(next_ids, caches, DecoderOptions{});
  } catch (const std::exception& error) {
    // The caches may hold this step's rows already: no sequence of it can go on.
    for (Sequence& sequence : sequences_) {
      sequence.result.stop_reason = "error";
      sequence.error = error.what();
    }
    retire_ended();
    return std::exchange(finished_, {});
  }
  // Each sequence's choice counts toward its decode time, as in generate().
  std::vector<int32_t> chosen(sequences_.size());
  for (size_t s = 0; s < sequences_.size(); ++s) {
    chosen[s] = sequences_[s].sampler.next(
        std::span<const float>(outputs[s].logits.data(), static_cast<size_t>(model_.vocab_size())));
  }
  const double seconds = seconds_since(start);
  bool any_ended = false;
  for (size_t s = 0; s < sequences_.size(); ++s) {
    sequences_[s].result.decode_seconds += seconds;
    ++sequences_[s].result.decode_steps;
    any_ended = accept(sequences_[s], chosen[s]) || any_ended;
  }
  if (any_ended) retire_ended();
  return std::exchange(finished_, {});
}

bool BatchDecoder::cancel(int64_t id) {
  const auto found = std::find_if(sequences_.begin(), sequences_.end(),
                                  [id](const Sequence& sequence) { return sequence.id == id; });
  if (found == sequences_.end()) return false;
  found->result.stop_reason = "cancelled";
  retire_ended();
  return true;
}

size_t BatchDecoder::cache_bytes() const {
  size_t total = 0;
  for (const Sequence& sequence : sequences_) total += sequence.cache.bytes();
  return total;
}

}  // namespace latte
