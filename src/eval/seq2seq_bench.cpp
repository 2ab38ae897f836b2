#include "latte/eval/seq2seq_bench.h"

#include <algorithm>
#include <chrono>
#include <random>

#include "latte/core/error.h"
#include "latte/core/linear.h"

namespace latte {

namespace {

double milliseconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
}

std::optional<double> highest(std::optional<double> a, std::optional<double> b) {
  if (!a) return b;
  if (!b) return a;
  return std::max(*a, *b);
}

}  // namespace

Seq2SeqBenchResult bench_seq2seq(Seq2SeqLm& model, std::span<const Planner* const> planners,
                                 const Seq2SeqBenchOptions& options) {
  if (options.source_tokens < 1 || options.decode_tokens < 0) {
    throw InputError("an encoder-decoder benchmark needs a source of at least one token");
  }
  if (options.source_tokens > model.max_source_tokens()) {
    throw InputError("a source of " + std::to_string(options.source_tokens) + " tokens exceeds the " +
                     std::to_string(model.max_source_tokens()) + " the model's encoder takes");
  }
  if (options.decode_tokens + 1 > model.max_target_tokens()) {
    throw InputError(std::to_string(options.decode_tokens) + " decode steps after the first exceed the " +
                     std::to_string(model.max_target_tokens()) + " tokens the model's decoder takes");
  }
  std::mt19937 generator(static_cast<uint32_t>(options.seed));
  std::uniform_int_distribution<int32_t> word(
      1, static_cast<int32_t>(std::max<int64_t>(model.vocab_size() - 1, 1)));
  std::vector<int32_t> source(static_cast<size_t>(options.source_tokens));
  for (int32_t& id : source) id = word(generator);
  if (const std::optional<int32_t> eos = model.eos_token_id()) source.back() = *eos;
  std::vector<int32_t> continuation(static_cast<size_t>(options.decode_tokens));
  for (int32_t& id : continuation) id = word(generator);
  const int32_t start_token = model.decoder_start_token_id();

  const auto planner_of = [&](int variant) {
    return variant < 0 ? nullptr : planners[static_cast<size_t>(variant)];
  };
  // The encoder, then the first decoder step: its logits are the first token's.
  std::vector<size_t> cache_bytes(planners.size() + 1, 0);
  const TimedPass first_token = [&](size_t, int variant) {
    const auto start = std::chrono::steady_clock::now();
    Seq2SeqState state = model.encode(source, EncoderOptions{.planner = planner_of(variant)});
    const double encoder_ms = milliseconds_since(start);
    model.decode(std::span<const int32_t>(&start_token, 1), state, {});
    const double first_token_ms = milliseconds_since(start);
    cache_bytes[static_cast<size_t>(variant + 1)] = state.bytes();
    return PassResult{std::move(state.encoder_kept), encoder_ms, first_token_ms};
  };
  PairedTimingOptions timing_options;
  timing_options.rounds = options.rounds;
  timing_options.warm_up = options.warm_up;
  timing_options.notices = options.notices;
  Seq2SeqBenchResult result;
  result.encoder = time_paired(1, planners.size(), first_token, timing_options);

  // Decode: each configuration's state after the first step is copied (untimed), then the steps
  // after it are timed.
  std::vector<Seq2SeqState> started;
  for (int variant = -1; variant < static_cast<int>(planners.size()); ++variant) {
    Seq2SeqState state = model.encode(source, EncoderOptions{.planner = planner_of(variant)});
    model.decode(std::span<const int32_t>(&start_token, 1), state, {});
    started.push_back(std::move(state));
  }
  const TimedPass decode = [&](size_t, int variant) {
    Seq2SeqState state = started[static_cast<size_t>(variant + 1)];
    state.self.reserve_more(options.decode_tokens);  // as generate() does: steps never copy the cache
    const auto start = std::chrono::steady_clock::now();
    for (const int32_t& token : continuation) model.decode(std::span<const int32_t>(&token, 1), state, {});
    return PassResult{
        {},
        milliseconds_since(start) / static_cast<double>(std::max<int64_t>(1, options.decode_tokens)),
        std::nullopt};
  };
  std::optional<PairedTiming> decode_timing;
  if (options.decode_tokens > 0) {
    PairedTimingOptions decode_options = timing_options;
    decode_options.notices = nullptr;  // one load notice is enough
    decode_timing = time_paired(1, planners.size(), decode, decode_options);
  }

  const PairedTiming& encoder = result.encoder;
  result.cores = encoder.cores;
  result.peak_load = highest(encoder.peak_load, decode_timing ? decode_timing->peak_load : std::nullopt);
  const ModelShape shape = model.encoder_shape();
  result.gemm_ceiling_gflops =
      measure_layer_gemm_gflops(options.source_tokens, shape.hidden, shape.ffn, std::max(5, options.rounds));
  const Spread unit{1.0, 1.0, 1.0};
  result.dense.encoder_ms = encoder.dense_ms;
  result.dense.encoder_speedup = unit;
  result.dense.first_token_ms = encoder.dense_outer.ms;
  result.dense.first_token_speedup = unit;
  result.dense.kept.assign(static_cast<size_t>(model.num_encoder_layers()), options.source_tokens);
  result.dense.kv_cache_bytes = cache_bytes[0];
  if (decode_timing) {
    result.dense.decode_ms_per_token = decode_timing->dense_ms;
    result.dense.decode_speedup = unit;
  }
  for (size_t v = 0; v < planners.size(); ++v) {
    const VariantTiming& timed = encoder.variants[v];
    Seq2SeqBenchVariant variant;
    variant.encoder_ms = timed.ms;
    variant.encoder_speedup = timed.speedup;
    variant.first_token_ms = timed.outer.ms;
    variant.first_token_speedup = timed.outer.speedup;
    variant.kept = timed.kept.front();
    variant.kv_cache_bytes = cache_bytes[v + 1];
    if (decode_timing) {
      variant.decode_ms_per_token = decode_timing->variants[v].ms;
      variant.decode_speedup = decode_timing->variants[v].speedup;
    }
    result.variants.push_back(std::move(variant));
  }
  return result;
}

}  // namespace latte
