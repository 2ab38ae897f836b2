// Latency of a decoder on a synthetic prompt: the prefill (time to first token) and the decode
// steps after it, dense and under each planner, every configuration paired with adjacent dense
// runs (timing.h), plus the KV-cache bytes each leaves.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <ostream>
#include <span>
#include <vector>

#include "latte/eval/timing.h"
#include "latte/models/causal_lm.h"

namespace latte {

struct DecoderBenchOptions {
  int64_t prompt_tokens = 128;
  int64_t decode_tokens = 16;  // timed decode steps per run after the prefill
  int rounds = 10;
  int warm_up = 2;
  uint64_t seed = 1234;  // of the synthetic prompt's token ids
  // Also break a dense decode step down by phase clocks and measure the memory bandwidth
  // (core/cpu.h): the ceiling of a memory-bound step, and the prior's predicted decode speedups.
  bool decode_breakdown = true;
  // The bandwidth when the caller measured it already (before loading the model, so its 512 MiB
  // buffer is not counted in the run's memory); measured here when unset.
  std::optional<double> memory_bytes_per_second;
  std::ostream* notices = nullptr;
};

struct DecoderBenchVariant {
  Spread prefill_ms;
  Spread prefill_speedup;  // paired dense / this
  Spread decode_ms_per_token;
  Spread decode_speedup;
  std::vector<int64_t> kept;        // word-vectors leaving each layer in the prefill
  std::vector<int64_t> cache_rows;  // rows each layer's KV cache holds after the prefill
  size_t kv_cache_bytes = 0;        // after the prefill
  // Decode step vs dense by the roofline prior (cost_model.h) over the mean cache of the timed
  // steps, at the measured bandwidth; with decode_breakdown only.
  std::optional<double> predicted_decode_speedup;
};

// Where a dense decode step's time goes, by phase clocks (PhaseTimes) over the timed steps after
// the dense prefill, run again with the clocks on; per step, from the round of median step time.
struct DecodeBreakdown {
  double ms_per_token = 0.0;  // the whole step with the clocks on
  double gemv_ms = 0.0;       // norms and weight products: QKV, output projection, FFN, LM head
  double attention_ms = 0.0;  // KV-cache append and attention over the cache
  double rest_ms = 0.0;       // embeddings, input checks, the logits' finiteness check, buffers
  double weight_bytes = 0.0;  // weights one step reads, in the model's precision (decoder_step_bytes)
  double cache_bytes = 0.0;   // KV-cache bytes the mean step reads
  double memory_bytes_per_second = 0.0;  // measured: a streaming read by all threads
};

struct DecoderBenchResult {
  DecoderBenchVariant dense;
  std::vector<DecoderBenchVariant> variants;        // one per planner
  std::optional<DecodeBreakdown> decode_breakdown;  // with decode steps and decode_breakdown
  std::optional<double> peak_load;
  int cores = 1;
};

// InputError when the prompt and the decode steps do not fit the model's positions.
DecoderBenchResult bench_decoder(CausalLm& model, std::span<const Planner* const> planners,
                                 const DecoderBenchOptions& options);

}  // namespace latte
