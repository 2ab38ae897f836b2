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
  std::ostream* notices = nullptr;
};

struct DecoderBenchVariant {
  Spread prefill_ms;
  Spread prefill_speedup;  // paired dense / this
  Spread decode_ms_per_token;
  Spread decode_speedup;
  std::vector<int64_t> kept;  // word-vectors leaving each layer in the prefill
  size_t kv_cache_bytes = 0;  // after the prefill
};

struct DecoderBenchResult {
  DecoderBenchVariant dense;
  std::vector<DecoderBenchVariant> variants;  // one per planner
  std::optional<double> peak_load;
  int cores = 1;
};

// InputError when the prompt and the decode steps do not fit the model's positions.
DecoderBenchResult bench_decoder(CausalLm& model, std::span<const Planner* const> planners,
                                 const DecoderBenchOptions& options);

}  // namespace latte
