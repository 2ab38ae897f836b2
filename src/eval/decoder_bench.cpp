#include "latte/eval/decoder_bench.h"

#include <algorithm>
#include <chrono>
#include <random>

#include "latte/core/cpu.h"
#include "latte/core/error.h"

namespace latte {

namespace {

// Keys each layer's query attends to, averaged over `steps` decode steps after a prefill that left
// `cache_rows` (each step adds one row to every layer).
std::vector<int64_t> mean_step_keys(const std::vector<int64_t>& cache_rows, int64_t steps) {
  std::vector<int64_t> keys;
  for (const int64_t rows : cache_rows) keys.push_back(rows + (steps + 1) / 2);
  return keys;
}

// The dense decode steps again with phase clocks on: the mean step of each round and its parts,
// from the round of median total (its parts add up, medians of each part need not).
DecodeBreakdown break_down_decode(CausalLm& model, const KvCache& prefilled,
                                  std::span<const int32_t> continuation, int rounds) {
  std::vector<DecodeBreakdown> per_round;
  PhaseTimes times;
  DecoderOptions step;
  step.phase_times = &times;
  const double steps = static_cast<double>(continuation.size());
  for (int round = 0; round < std::max(rounds, 1); ++round) {
    KvCache cache = prefilled;
    cache.reserve_more(static_cast<int64_t>(continuation.size()));
    DecodeBreakdown sums;
    for (const int32_t& token : continuation) {
      const auto start = std::chrono::steady_clock::now();
      model.forward(std::span<const int32_t>(&token, 1), cache, step);
      sums.ms_per_token +=
          std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
      double layers = 0.0;
      for (size_t layer = 0; layer < times.layer_in.size(); ++layer)
        layers += times.layer_in[layer] + times.layer_kept[layer];
      double attention = 0.0;
      for (const double seconds : times.layer_attention) attention += seconds;
      sums.attention_ms += attention * 1e3;
      sums.gemv_ms += (layers - attention + times.head) * 1e3;
    }
    DecodeBreakdown mean;
    mean.ms_per_token = sums.ms_per_token / steps;
    mean.gemv_ms = sums.gemv_ms / steps;
    mean.attention_ms = sums.attention_ms / steps;
    mean.rest_ms = std::max(0.0, mean.ms_per_token - mean.gemv_ms - mean.attention_ms);
    per_round.push_back(mean);
  }
  std::sort(per_round.begin(), per_round.end(), [](const DecodeBreakdown& a, const DecodeBreakdown& b) {
    return a.ms_per_token < b.ms_per_token;
  });
  return per_round[per_round.size() / 2];
}

std::vector<int64_t> rows_per_layer(const KvCache& cache) {
  std::vector<int64_t> rows;
  for (const LayerCache& layer : cache.layers) rows.push_back(layer.rows());
  return rows;
}

}  // namespace

DecoderBenchResult bench_decoder(CausalLm& model, std::span<const Planner* const> planners,
                                 const DecoderBenchOptions& options) {
  if (options.prompt_tokens < 1 || options.decode_tokens < 0) {
    throw InputError("a decoder benchmark needs a prompt of at least one token");
  }
  if (options.prompt_tokens + options.decode_tokens > model.max_positions()) {
    throw InputError("a prompt of " + std::to_string(options.prompt_tokens) + " tokens and " +
                     std::to_string(options.decode_tokens) + " decode steps exceed the model's " +
                     std::to_string(model.max_positions()) + " positions");
  }
  std::mt19937 generator(static_cast<uint32_t>(options.seed));
  std::uniform_int_distribution<int32_t> word(0, static_cast<int32_t>(model.vocab_size() - 1));
  std::vector<int32_t> prompt(static_cast<size_t>(options.prompt_tokens));
  for (int32_t& id : prompt) id = word(generator);
  std::vector<int32_t> continuation(static_cast<size_t>(options.decode_tokens));
  for (int32_t& id : continuation) id = word(generator);

  const auto planner_of = [&](int variant) {
    return variant < 0 ? nullptr : planners[static_cast<size_t>(variant)];
  };
  // Prefill: the whole pass is the time to first token (the last row's logits included).
  std::vector<size_t> cache_bytes(planners.size() + 1, 0);
  const TimedPass prefill = [&](size_t, int variant) {
    KvCache cache = model.new_cache();
    DecoderOptions forward;
    forward.planner = planner_of(variant);
    DecoderOutput output = model.forward(prompt, cache, forward);
    cache_bytes[static_cast<size_t>(variant + 1)] = cache.bytes();
    return PassResult{std::move(output.kept), std::nullopt};
  };
  PairedTimingOptions timing_options;
  timing_options.rounds = options.rounds;
  timing_options.warm_up = options.warm_up;
  timing_options.notices = options.notices;
  const PairedTiming prefill_timing = time_paired(1, planners.size(), prefill, timing_options);

  // Decode: each configuration's prefilled cache is copied (untimed), then the steps are timed.
  std::vector<KvCache> prefilled;
  for (int variant = -1; variant < static_cast<int>(planners.size()); ++variant) {
    KvCache cache = model.new_cache();
    DecoderOptions forward;
    forward.planner = planner_of(variant);
    model.forward(prompt, cache, forward);
    prefilled.push_back(std::move(cache));
  }
  const TimedPass decode = [&](size_t, int variant) {
    KvCache cache = prefilled[static_cast<size_t>(variant + 1)];
    cache.reserve_more(options.decode_tokens);  // as generate() does: steps never copy the cache
    const auto start = std::chrono::steady_clock::now();
    for (const int32_t& token : continuation) model.forward(std::span<const int32_t>(&token, 1), cache, {});
    const double milliseconds =
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
    return PassResult{{}, milliseconds / static_cast<double>(std::max<int64_t>(1, options.decode_tokens))};
  };
  std::optional<PairedTiming> decode_timing;
  if (options.decode_tokens > 0) {
    PairedTimingOptions decode_options = timing_options;
    decode_options.notices = nullptr;  // one load notice is enough
    decode_timing = time_paired(1, planners.size(), decode, decode_options);
  }

  DecoderBenchResult result;
  if (decode_timing && options.decode_breakdown) {
    result.decode_breakdown = break_down_decode(model, prefilled.front(), continuation, options.rounds);
    const ModelShape shape = model.shape();
    const DecodeStepBytes bytes = decoder_step_bytes(
        mean_step_keys(rows_per_layer(prefilled.front()), options.decode_tokens), shape, model.precision());
    result.decode_breakdown->weight_bytes = bytes.weights;
    result.decode_breakdown->cache_bytes = bytes.cache;
    result.decode_breakdown->memory_bytes_per_second = options.memory_bytes_per_second.value_or(0.0) > 0.0
                                                           ? *options.memory_bytes_per_second
                                                           : measure_memory_bandwidth();
  }
  result.cores = prefill_timing.cores;
  result.peak_load = prefill_timing.peak_load;
  if (decode_timing && decode_timing->peak_load) {
    result.peak_load = std::max(result.peak_load.value_or(0.0), *decode_timing->peak_load);
  }
  result.dense.prefill_ms = prefill_timing.dense_ms;
  result.dense.prefill_speedup = Spread{1.0, 1.0, 1.0};
  result.dense.kept.assign(static_cast<size_t>(model.num_layers()), options.prompt_tokens);
  result.dense.kv_cache_bytes = cache_bytes[0];
  result.dense.cache_rows = rows_per_layer(prefilled.front());
  if (decode_timing) {
    result.dense.decode_ms_per_token = decode_timing->dense_ms;
    result.dense.decode_speedup = Spread{1.0, 1.0, 1.0};
  }
  for (size_t v = 0; v < planners.size(); ++v) {
    DecoderBenchVariant variant;
    variant.prefill_ms = prefill_timing.variants[v].ms;
    variant.prefill_speedup = prefill_timing.variants[v].speedup;
    variant.kept = prefill_timing.variants[v].kept.front();
    variant.kv_cache_bytes = cache_bytes[v + 1];
    variant.cache_rows = rows_per_layer(prefilled[v + 1]);
    if (result.decode_breakdown) {
      const ModelShape shape = model.shape();
      const double bandwidth = result.decode_breakdown->memory_bytes_per_second;
      variant.predicted_decode_speedup =
          decoder_step_seconds(mean_step_keys(result.dense.cache_rows, options.decode_tokens), shape,
                               bandwidth, model.precision()) /
          decoder_step_seconds(mean_step_keys(variant.cache_rows, options.decode_tokens), shape, bandwidth,
                               model.precision());
    }
    if (decode_timing) {
      variant.decode_ms_per_token = decode_timing->variants[v].ms;
      variant.decode_speedup = decode_timing->variants[v].speedup;
    }
    result.variants.push_back(std::move(variant));
  }
  return result;
}

}  // namespace latte
