// What generation needs from an encoder-decoder model (T5 / Flan-T5): the source is encoded once,
// with ACC elimination in the encoder only; the rows that leave its last layer, at their original
// positions, are the decoder's memory, and every decoder layer's cross-attention keys and values
// are projected from them once. Decoder steps then continue a self-attention KV cache
// (DESIGN.md section 1, "Per family").
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <vector>

#include "latte/core/linear.h"
#include "latte/layers/kv_cache.h"
#include "latte/models/causal_lm.h"
#include "latte/prune/cost_model.h"
#include "latte/prune/plan.h"

namespace latte {

struct EncoderOptions {
  // The plan of the source's length decides what each encoder layer keeps. Null or dense:
  // nothing is eliminated.
  const Planner* planner = nullptr;
  // Called with each encoder layer's ACC scores of the rows entering it (computes them when set).
  std::function<void(int64_t layer, std::span<const float> scores)> on_scores;
  // When set, filled with the encoder's phase times; encode() also times the memory projection.
  PhaseTimes* phase_times = nullptr;
};

// One sequence between decoder steps.
struct Seq2SeqState {
  KvCache cross;                          // per decoder layer: keys and values of the memory rows
  KvCache self;                           // per decoder layer: the decoder's own tokens so far
  std::vector<int64_t> encoder_kept;      // word-vectors leaving each encoder layer
  std::vector<int64_t> memory_positions;  // original source position of each memory row
  int64_t source_tokens = 0;              // before elimination

  size_t bytes() const { return cross.bytes() + self.bytes(); }
};

// An encoder-decoder model's encode() a layer at a time (Seq2SeqLm::start_encode): the encoder's
// layers, then the projection of each decoder layer's cross-attention memory. What it gives is
// encode()'s state for the same source and options, exactly.
class EncodeRun : public LayeredRun {
 public:
  // Once every layer has run: the state (InputError before; call it once).
  virtual Seq2SeqState finish() = 0;
};

class Seq2SeqLm {
 public:
  virtual ~Seq2SeqLm() = default;

  virtual int64_t num_encoder_layers() const = 0;
  virtual int64_t num_decoder_layers() const = 0;
  virtual int64_t vocab_size() const = 0;
  // The longest source and the most decoder tokens the model is run with (T5's relative
  // positions have no hard limit; these come from its config and tokenizer).
  virtual int64_t max_source_tokens() const = 0;
  virtual int64_t max_target_tokens() const = 0;
  virtual int32_t decoder_start_token_id() const = 0;
  virtual std::optional<int32_t> eos_token_id() const = 0;
  // The encoder's shape: what plans and latency tables are made over.
  virtual ModelShape encoder_shape() const = 0;
  virtual Precision precision() const = 0;
  virtual ModelDescription description() const = 0;
  // Encodes `source` (the memory of a new sequence) and projects every decoder layer's
  // cross-attention keys and values from it; the state's self-attention cache is empty.
  // InputError for an empty or over-long source.
  virtual Seq2SeqState encode(std::span<const int32_t> source, const EncoderOptions& options) = 0;
  // Runs `ids` as the next decoder tokens of `state`'s sequence (the first call starts with
  // decoder_start_token_id) and appends them to its self-attention cache; logits as
  // CausalLm::forward's (options.planner is not used: nothing is eliminated in the decoder).
  // Not thread-safe: a model reuses one workspace.
  virtual DecoderOutput decode(std::span<const int32_t> ids, Seq2SeqState& state,
                               const DecoderOptions& options) = 0;
  // encode(), a layer at a time (EncodeRun); `source` is checked here (InputError as encode gives),
  // and the planner and on_scores must outlive the run.
  virtual std::unique_ptr<EncodeRun> start_encode(std::span<const int32_t> source,
                                                  const EncoderOptions& options) = 0;
  // One decoder step of several sequences at once (continuous batching): next_ids[s] continues
  // states[s] (CausalLm::decode's contract: each result equals decode({next_ids[s]}, *states[s])
  // alone; InputError, before any state changes, for counts that differ, no sequences, a null or
  // repeated state, or what decode rejects; options.all_logits and on_scores are not taken).
  virtual std::vector<DecoderOutput> decode_batch(std::span<const int32_t> next_ids,
                                                  std::span<Seq2SeqState* const> states,
                                                  const DecoderOptions& options) = 0;
};

}  // namespace latte
