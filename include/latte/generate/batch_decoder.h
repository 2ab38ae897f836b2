// Continuous batching of a decoder-only model (DESIGN.md section 3, generate/): the sequences
// being generated share each decode step, one pass over the weights for all of them
// (CausalLm::decode), each with its own KV cache, pruned in its own prefill. An encoder-decoder
// model (T5) batches alike: each sequence's source is encoded on its own (elimination in the
// encoder), its decoder steps run together with the others' (Seq2SeqLm::decode_batch), each
// cross-attending to its own memory. A sequence joins
// between steps (add: its prefill and first token) and leaves when it ends (eos, a stop id, its
// token limit, its callback, cancel); the others go on. Each sequence's tokens are what
// generate() gives for the same prompt and options.
//
// Not thread-safe: one thread (a server's scheduler, one per model copy) calls add, step and
// cancel, and nothing else may run the model meanwhile (it reuses one workspace). Callbacks run
// on that thread, inside add and step.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "latte/generate/generate.h"
#include "latte/generate/sampler.h"
#include "latte/layers/kv_cache.h"
#include "latte/models/causal_lm.h"
#include "latte/models/seq2seq_lm.h"

namespace latte {

struct BatchRequest {
  GenerationOptions generation;   // max_new_tokens, sampling, planner (for the prefill), stop_at_eos
  std::vector<int32_t> stop_ids;  // tokens that end this sequence besides the model's eos (included)
  // Each new token as soon as it is chosen; false ends the sequence (stop_reason "callback").
  std::function<bool(int32_t id)> on_token;
};

struct FinishedSequence {
  int64_t id = 0;  // what add() returned
  // stop_reason: "eos" (the model's eos or a stop id), "length", "callback", "cancelled" or
  // "error" (then `error` says why). decode_seconds sums the steps the sequence was part of.
  GenerationResult result;
  std::string error;
};

class BatchDecoder {
 public:
  // The model must outlive the decoder.
  explicit BatchDecoder(CausalLm& model);
  explicit BatchDecoder(Seq2SeqLm& model);

  // Runs the prompt's prefill (elimination by request.generation.planner), chooses the first
  // token and calls on_token with it; the sequence then takes part in every step until it ends.
  // Returns its id (ascending from 0). InputError, with nothing added, as generate() gives for the
  // same prompt and options, or for a stop id outside the vocabulary; the prefill's errors
  // propagate likewise.
  int64_t add(std::span<const int32_t> prompt, BatchRequest request);

  // Chunked prefill: as add(), but the prefill waits, behind those joined before it, for prefill()
  // to run it between steps (CausalLm::start_prefill; an encoder-decoder's encoder and memory
  // projections, Seq2SeqLm::start_encode, then its first decoder step); the sequence takes part in
  // the steps from its first token on. Returns its id; InputError as add() gives, nothing added.
  int64_t join(std::span<const int32_t> prompt, BatchRequest request);

  // Runs the first waiting prefill's next layers: one, then more while the time spent plus the
  // last layer's stays within `seconds` (infinity: all of them). After its last layer it chooses
  // the sequence's first token (on_token), as add() does. A prefill that fails ends its sequence
  // with stop_reason "error" (step() reports it). Returns the id of the sequence it ran, nothing
  // when no prefill waits.
  std::optional<int64_t> prefill(double seconds);

  // Prefills waiting (join) and the layers the first of them has run.
  int64_t joining() const { return static_cast<int64_t>(joining_.size()); }
  int64_t prefill_layers_done() const;

  // One decode step for every active sequence: each gets its next token (and on_token is called
  // with it). Returns the sequences that ended since the last step, in the order they ended:
  // those that ended here and those that ended in add or cancel. With no active sequence it only
  // returns those. When the model's step fails (a non-finite output), every sequence in it ends
  // with stop_reason "error": their caches cannot go on. A callback that throws ends its own
  // sequence alike.
  std::vector<FinishedSequence> step();

  // Ends sequence `id` (a client that went away; a waiting prefill too): it leaves before the next
  // step and step() reports it with stop_reason "cancelled". False when no sequence has that id.
  bool cancel(int64_t id);

  // Sequences that take part in the next step.
  int64_t active() const { return static_cast<int64_t>(sequences_.size()); }
  // KV-cache bytes of the active and joining sequences.
  size_t cache_bytes() const;

 private:
  struct Sequence {
    int64_t id = 0;
    Seq2SeqState state;  // a decoder-only model's KV cache is state.self
    Sampler sampler;
    BatchRequest request;
    std::vector<int32_t> stop_ids;  // the model's eos (unless stop_at_eos is off) and the request's
    GenerationResult result;        // stop_reason set: the sequence has ended
    std::string error;              // why, for stop_reason "error"
    int32_t next_token = 0;         // chosen, not yet run through the model
  };
  // A prefill waiting for prefill(): the sequence (its cache stays put while the run holds it).
  struct Joining {
    Sequence sequence;
    std::unique_ptr<PrefillRun> prefill;  // a decoder-only model's
    std::unique_ptr<EncodeRun> encode;    // an encoder-decoder's
    LayeredRun& run() { return prefill ? static_cast<LayeredRun&>(*prefill) : *encode; }
    const LayeredRun& run() const { return prefill ? static_cast<const LayeredRun&>(*prefill) : *encode; }
    int64_t prompt_tokens = 0;
    double seconds = 0.0;  // its pieces' time so far
  };
  // The checks and setup add() and join() share; InputError with nothing added.
  Sequence make_sequence(std::span<const int32_t> prompt, BatchRequest request);
  // After the prefill: the first token; the sequence joins the steps.
  void start_decoding(Sequence sequence, const DecoderOutput& output, int64_t prompt_tokens,
                      std::chrono::steady_clock::time_point start, double earlier_seconds);
  // Appends `token` to the sequence and calls its callback; true when the sequence has ended.
  static bool accept(Sequence& sequence, int32_t token);
  // Moves the ended sequences to finished_, in their order.
  void retire_ended();

  int64_t vocab_size() const;
  CausalLm* causal_ = nullptr;  // one of the two
  Seq2SeqLm* seq2seq_ = nullptr;
  std::vector<Sequence> sequences_;
  std::deque<std::unique_ptr<Joining>> joining_;
  std::vector<FinishedSequence> finished_;
  int64_t next_id_ = 0;
};

}  // namespace latte
