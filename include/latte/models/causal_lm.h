// What generation, perplexity and benchmarks need from a decoder-only language model (GPT-2
// today, Llama-style next): a forward pass over new tokens that continues a per-layer KV cache
// and, in the prefill, eliminates word-vectors (DESIGN.md section 1, "Per family").
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "latte/core/linear.h"
#include "latte/core/tensor.h"
#include "latte/layers/kv_cache.h"
#include "latte/prune/cost_model.h"
#include "latte/prune/plan.h"

namespace latte {

struct DecoderOptions {
  // Prefill only (the cache must be empty): the plan of the prompt's length decides what each
  // layer keeps. Null or dense: nothing is eliminated.
  const Planner* planner = nullptr;
  // Logits for every row that leaves the last layer (continuation scoring), not just the last.
  bool all_logits = false;
  // Called with each layer's ACC scores of the rows entering it (computes them when set).
  std::function<void(int64_t layer, std::span<const float> scores)> on_scores;
  PhaseTimes* phase_times = nullptr;  // when set, filled with this pass's phase times
};

// What a latency table is keyed by, besides the machine: the family and its sizes.
struct ModelDescription {
  std::string family;  // "gpt2"
  int64_t layers = 0, hidden = 0, heads = 0, kv_heads = 0, ffn = 0, max_positions = 0;
  std::string activation;
  std::string compute_dtype = "f32";  // what the products compute in (precision_name)
};

struct DecoderOutput {
  Tensor logits;                   // [rows, vocab]: the last row, or every surviving row
  std::vector<int64_t> positions;  // original position of each logits row
  std::vector<int64_t> kept;       // word-vectors leaving each layer
};

// A pass run a layer at a time (chunked prefill): a server decoding several sequences runs their
// steps between its layers, so that a long prompt joining them holds each of their tokens up for a
// few of its layers, not its whole pass.
class LayeredRun {
 public:
  virtual ~LayeredRun() = default;
  virtual int64_t layers() const = 0;
  virtual int64_t layers_done() const = 0;
  bool done() const { return layers_done() == layers(); }
  // Runs the next layer (InputError when every layer has run). The model's other passes (forward,
  // decode, other runs) may run between two calls, not during one: the run keeps what it carries
  // from layer to layer apart from the model's workspace. Not thread-safe, as forward.
  virtual void run_layer() = 0;
};

// A decoder-only model's prefill a layer at a time (CausalLm::start_prefill). What it gives is
// forward()'s output for the same ids, cache and options, exactly.
class PrefillRun : public LayeredRun {
 public:
  // Once every layer has run: the final norm and the head. InputError before; Error when the
  // logits are not finite. Call it once.
  virtual DecoderOutput finish() = 0;
};

class CausalLm {
 public:
  virtual ~CausalLm() = default;

  virtual int64_t num_layers() const = 0;
  virtual int64_t vocab_size() const = 0;
  virtual int64_t max_positions() const = 0;
  // The tokens that end a generation (any of them); empty when the model has none.
  virtual std::vector<int32_t> eos_token_ids() const = 0;
  virtual ModelShape shape() const = 0;
  virtual Precision precision() const = 0;
  virtual ModelDescription description() const = 0;
  // An empty cache for one sequence.
  virtual KvCache new_cache() const = 0;
  // Runs `ids` as the next tokens of the sequence `cache` holds (positions continue after the
  // last cached one) and appends what each layer's attention saw to the cache. Not
  // thread-safe: a model reuses one workspace.
  virtual DecoderOutput forward(std::span<const int32_t> ids, KvCache& cache,
                                const DecoderOptions& options) = 0;
  // One decode step of several sequences at once (continuous batching): next_ids[s] is the next
  // token of the sequence caches[s] holds, at that sequence's own next position. The weight
  // products run once over all the rows, attention per sequence over its own cache; each result
  // equals forward({next_ids[s]}, *caches[s]) alone (logits [1, vocab], kept all 1). Sequences may
  // have any cache lengths and kept rows. InputError, before any cache changes, for counts that
  // differ, no sequences, a null or repeated cache, or what forward rejects (also a planner:
  // elimination is the prefill's); options.on_scores and all_logits are not taken. Not
  // thread-safe, as forward.
  // forward(), one layer at a time (PrefillRun). `ids` and `cache` are checked here (InputError as
  // forward gives); the cache must stay where it is until the run is finished or dropped, and the
  // planner and on_scores must outlive it. Dropping a run leaves its cache with some layers filled:
  // the cache is then of no further use.
  virtual std::unique_ptr<PrefillRun> start_prefill(std::span<const int32_t> ids, KvCache& cache,
                                                    const DecoderOptions& options) = 0;
  virtual std::vector<DecoderOutput> decode(std::span<const int32_t> next_ids,
                                            std::span<KvCache* const> caches,
                                            const DecoderOptions& options) = 0;
};

// The position the next token of `cache`'s sequence takes: layer 0 sees every token.
int64_t next_position(const KvCache& cache);

// Error naming the position of the first row of output.logits ([rows, vocab]) that holds a NaN or
// an infinity: a broken checkpoint must not turn into confident tokens.
void require_finite_logits(const DecoderOutput& output);

}  // namespace latte
