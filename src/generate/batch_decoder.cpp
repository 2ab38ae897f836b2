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

BatchDecoder::BatchDecoder(CausalLm& model) : causal_(&model) {}
BatchDecoder::BatchDecoder(Seq2SeqLm& model) : seq2seq_(&model) {}

int64_t BatchDecoder::vocab_size() const { return causal_ ? causal_->vocab_size() : seq2seq_->vocab_size(); }

BatchDecoder::Sequence BatchDecoder::make_sequence(std::span<const int32_t> prompt, BatchRequest request) {
  const auto prompt_tokens = static_cast<int64_t>(prompt.size());
  if (causal_) {
    check_generation_request(*causal_, prompt_tokens, request.generation.max_new_tokens);
  } else {
    check_generation_request(*seq2seq_, prompt_tokens, request.generation.max_new_tokens);
  }
  for (const int32_t id : request.stop_ids) {
    if (id < 0 || id >= vocab_size()) {
      throw InputError("stop token id " + std::to_string(id) + " is outside the vocabulary of " +
                       std::to_string(vocab_size()));
    }
  }
  Sampler sampler(request.generation.sampling);  // InputError for bad sampling options
  const auto setup_start = std::chrono::steady_clock::now();
  Sequence sequence{
      .id = next_id_, .state = {}, .sampler = std::move(sampler), .request = std::move(request)};
  const GenerationOptions& generation = sequence.request.generation;
  if (generation.stop_at_eos && causal_) sequence.stop_ids = causal_->eos_token_ids();
  if (generation.stop_at_eos && seq2seq_ && seq2seq_->eos_token_id())
    sequence.stop_ids = {*seq2seq_->eos_token_id()};
  sequence.stop_ids.insert(sequence.stop_ids.end(), sequence.request.stop_ids.begin(),
                           sequence.request.stop_ids.end());
  // As generate(): room for the whole sequence, and this prompt length's plan, are setup.
  if (causal_) {
    sequence.state.self = causal_->new_cache();
    sequence.state.self.reserve_more(prompt_tokens + generation.max_new_tokens);
  }
  if (generation.planner != nullptr && !generation.planner->dense()) generation.planner->plan(prompt_tokens);
  sequence.result.setup_seconds = seconds_since(setup_start);
  return sequence;
}

void BatchDecoder::start_decoding(Sequence sequence, const DecoderOutput& output, int64_t prompt_tokens,
                                  std::chrono::steady_clock::time_point start, double earlier_seconds) {
  const std::span<const float> logits(output.logits.data(), static_cast<size_t>(vocab_size()));
  const int32_t first = sequence.sampler.next(logits);
  GenerationResult& result = sequence.result;
  result.ttft_seconds = earlier_seconds + seconds_since(start);
  result.kept = output.kept;
  result.kv_cache_bytes = sequence.state.bytes();
  result.kv_cache_bytes_dense =
      causal_ ? sequence.state.self.dense_bytes(prompt_tokens)
              : sequence.state.self.bytes() + sequence.state.cross.dense_bytes(sequence.state.source_tokens);
  if (sequence.request.generation.keep_first_logits) result.first_logits.assign(logits.begin(), logits.end());
  sequences_.push_back(std::move(sequence));
  if (accept(sequences_.back(), first)) retire_ended();
}

int64_t BatchDecoder::add(std::span<const int32_t> prompt, BatchRequest request) {
  Sequence sequence = make_sequence(prompt, std::move(request));
  const auto start = std::chrono::steady_clock::now();
  DecoderOptions prefill;
  prefill.planner = sequence.request.generation.planner;
  DecoderOutput output;
  if (causal_) {
    output = causal_->forward(prompt, sequence.state.self, prefill);
  } else {
    // The encoder (elimination there) and the first decoder step, as generate() runs them.
    EncoderOptions encoder;
    encoder.planner = prefill.planner;
    sequence.state = seq2seq_->encode(prompt, encoder);
    sequence.result.encoder_seconds = seconds_since(start);
    const int32_t first = seq2seq_->decoder_start_token_id();
    output = seq2seq_->decode({&first, 1}, sequence.state, DecoderOptions{});
    output.kept = sequence.state.encoder_kept;
  }
  ++next_id_;
  start_decoding(std::move(sequence), output, static_cast<int64_t>(prompt.size()), start, 0.0);
  return next_id_ - 1;
}

int64_t BatchDecoder::join(std::span<const int32_t> prompt, BatchRequest request) {
  auto joining = std::make_unique<Joining>(Joining{.sequence = make_sequence(prompt, std::move(request)),
                                                   .prompt_tokens = static_cast<int64_t>(prompt.size())});
  const Planner* planner = joining->sequence.request.generation.planner;
  const auto start = std::chrono::steady_clock::now();
  if (causal_) {
    DecoderOptions prefill;
    prefill.planner = planner;
    joining->prefill = causal_->start_prefill(prompt, joining->sequence.state.self, prefill);  // embeds it
  } else {
    EncoderOptions encoder;
    encoder.planner = planner;
    joining->encode = seq2seq_->start_encode(prompt, encoder);
  }
  joining->seconds = seconds_since(start);
  joining->sequence.result.prefill_pieces = 0;
  joining_.push_back(std::move(joining));
  return next_id_++;
}

std::optional<int64_t> BatchDecoder::prefill(double seconds) {
  if (joining_.empty()) return std::nullopt;
  Joining& joining = *joining_.front();
  const int64_t id = joining.sequence.id;
  const auto start = std::chrono::steady_clock::now();
  std::optional<DecoderOutput> output;
  try {
    // One layer, then more while the last one's time fits in what is left.
    double spent = 0.0;
    double last = 0.0;
    while (!joining.run().done() && (spent == 0.0 || spent + last <= seconds)) {
      joining.run().run_layer();
      const double now = seconds_since(start);
      last = now - spent;
      spent = now;
    }
    ++joining.sequence.result.prefill_pieces;
    if (joining.run().done()) {
      if (joining.prefill) {
        output = joining.prefill->finish();
      } else {
        // The memory is ready: the first decoder step, as add() runs it.
        Sequence& sequence = joining.sequence;
        sequence.state = joining.encode->finish();
        sequence.result.encoder_seconds = joining.seconds + seconds_since(start);
        const int32_t first = seq2seq_->decoder_start_token_id();
        output = seq2seq_->decode({&first, 1}, sequence.state, DecoderOptions{});
        output->kept = sequence.state.encoder_kept;
      }
    }
  } catch (const std::exception& error) {
    std::unique_ptr<Joining> failed = std::move(joining_.front());
    joining_.pop_front();
    failed->prefill.reset();
    failed->sequence.result.stop_reason = "error";
    finished_.push_back(
        FinishedSequence{.id = id, .result = std::move(failed->sequence.result), .error = error.what()});
    return id;
  }
  if (!output) {
    joining.seconds += seconds_since(start);
    return id;
  }
  std::unique_ptr<Joining> done = std::move(joining_.front());
  joining_.pop_front();
  done->prefill.reset();
  start_decoding(std::move(done->sequence), *output, done->prompt_tokens, start, done->seconds);
  return id;
}

int64_t BatchDecoder::prefill_layers_done() const {
  return joining_.empty() ? 0 : joining_.front()->run().layers_done();
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
  std::vector<Seq2SeqState*> states;
  for (Sequence& sequence : sequences_) {
    next_ids.push_back(sequence.next_token);
    caches.push_back(&sequence.state.self);
    states.push_back(&sequence.state);
  }
  const auto start = std::chrono::steady_clock::now();
  std::vector<DecoderOutput> outputs;
  try {
    outputs = causal_ ? causal_->decode(next_ids, caches, DecoderOptions{})
                      : seq2seq_->decode_batch(next_ids, states, DecoderOptions{});
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
        std::span<const float>(outputs[s].logits.data(), static_cast<size_t>(vocab_size())));
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
  const auto waiting = std::find_if(joining_.begin(), joining_.end(),
                                    [id](const auto& joining) { return joining->sequence.id == id; });
  if (waiting != joining_.end()) {
    std::unique_ptr<Joining> cancelled = std::move(*waiting);
    joining_.erase(waiting);
    cancelled->prefill.reset();
    cancelled->sequence.result.stop_reason = "cancelled";
    finished_.push_back(FinishedSequence{.id = id, .result = std::move(cancelled->sequence.result)});
    return true;
  }
  const auto found = std::find_if(sequences_.begin(), sequences_.end(),
                                  [id](const Sequence& sequence) { return sequence.id == id; });
  if (found == sequences_.end()) return false;
  found->result.stop_reason = "cancelled";
  retire_ended();
  return true;
}

size_t BatchDecoder::cache_bytes() const {
  size_t total = 0;
  for (const Sequence& sequence : sequences_) total += sequence.state.bytes();
  for (const auto& joining : joining_) total += joining->sequence.state.bytes();
  return total;
}

}  // namespace latte
