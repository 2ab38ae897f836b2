// Latency of an encoder-decoder model on a synthetic source: the encoder (with the decoder's memory
// it projects), the time to the first token (encoder and the first decoder step) and the decode
// steps after it, dense and under each planner of the encoder, every configuration paired with
// adjacent dense runs (timing.h).
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <ostream>
#include <span>
#include <vector>

#include "latte/eval/timing.h"
#include "latte/models/seq2seq_lm.h"

namespace latte {

struct Seq2SeqBenchOptions {
  int64_t source_tokens = 128;  // the final one is the model's end-of-sequence token when it has one
  int64_t decode_tokens = 16;   // timed decode steps after the first one
  int rounds = 10;
  int warm_up = 2;
  uint64_t seed = 1234;  // of the synthetic source's and continuation's token ids
  std::ostream* notices = nullptr;
};

struct Seq2SeqBenchVariant {
  // encode(); first_token: encode() and the first decoder step, timed in the same runs (so never
  // below the encoder's); decode: the steps after the first, per token.
  Spread encoder_ms, encoder_speedup;
  Spread first_token_ms, first_token_speedup;
  Spread decode_ms_per_token, decode_speedup;
  std::vector<int64_t> kept;  // word-vectors leaving each encoder layer
  size_t kv_cache_bytes =
      0;  // the memory's keys and values and the self-attention cache after the first step
};

struct Seq2SeqBenchResult {
  PairedTiming encoder;  // the encoder's runs, dense and each planner (check_timing reads them)
  Seq2SeqBenchVariant dense;
  std::vector<Seq2SeqBenchVariant> variants;  // one per planner
  double gemm_ceiling_gflops = 0.0;  // oneDNN GEMMs of the encoder layer's shapes at the source's rows
  std::optional<double> peak_load;
  int cores = 1;
};

// InputError when the source exceeds the encoder's limit or the decode steps the decoder's.
Seq2SeqBenchResult bench_seq2seq(Seq2SeqLm& model, std::span<const Planner* const> planners,
                                 const Seq2SeqBenchOptions& options);

}  // namespace latte
