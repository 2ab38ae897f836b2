#include "latte/eval/timing.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>

#include "latte/core/cpu.h"
#include "latte/core/error.h"

namespace latte {

namespace {

double quantile(const std::vector<double>& sorted, double q) {
  const double position = q * static_cast<double>(sorted.size() - 1);
  const size_t below = static_cast<size_t>(std::floor(position));
  const size_t above = std::min(below + 1, sorted.size() - 1);
  const double weight = position - static_cast<double>(below);
  return sorted[below] * (1.0 - weight) + sorted[above] * weight;
}

// The pass's time, and its outer span's when it reports one.
struct Timed {
  double milliseconds = 0.0;
  std::optional<double> outer;
};

Timed timed_ms(const TimedPass& pass, size_t input, int variant, std::vector<int64_t>* kept) {
  const auto start = std::chrono::steady_clock::now();
  PassResult result = pass(input, variant);
  const double milliseconds =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
  if (kept) *kept = std::move(result.kept);
  return Timed{result.milliseconds.value_or(milliseconds), result.outer_milliseconds};
}

void add_outer(OuterTiming& timing, const Timed& run) {
  if (run.outer) timing.milliseconds.push_back(*run.outer);
}

void summarize(OuterTiming& timing) {
  timing.ms = spread(timing.milliseconds);
  timing.speedup = spread(timing.ratios);
}

}  // namespace

Spread spread(std::vector<double> values) {
  if (values.empty()) return {};
  std::sort(values.begin(), values.end());
  return Spread{quantile(values, 0.5), quantile(values, 0.1), quantile(values, 0.9)};
}

PairedTiming time_paired(size_t n_inputs, size_t n_variants, const TimedPass& pass,
                         const PairedTimingOptions& options) {
  if (n_inputs == 0) throw InputError("nothing to time: no inputs");
  if (options.rounds < 1) throw InputError("timing needs at least one round");
  PairedTiming timing;
  timing.cores = online_cores();
  timing.variants.resize(n_variants);
  auto watch_load = [&] {
    if (const std::optional<double> load = load_average()) {
      timing.peak_load = std::max(timing.peak_load.value_or(0.0), *load);
    }
  };
  watch_load();
  const int variants = static_cast<int>(n_variants);
  for (int warm = 0; warm < options.warm_up; ++warm) {
    for (size_t input = 0; input < n_inputs; ++input) {
      pass(input, -1);
      for (int v = 0; v < variants; ++v) pass(input, v);
    }
  }
  const size_t total = n_inputs * static_cast<size_t>(options.rounds);
  size_t done = 0;
  std::vector<int64_t> kept;
  for (int round = 0; round < options.rounds; ++round) {
    for (size_t input = 0; input < n_inputs; ++input) {
      Timed before = timed_ms(pass, input, -1, nullptr);
      timing.dense_milliseconds.push_back(before.milliseconds);
      timing.dense_inputs.push_back(input);
      add_outer(timing.dense_outer, before);
      for (int v = 0; v < variants; ++v) {
        const Timed run = timed_ms(pass, input, v, &kept);
        const Timed after = timed_ms(pass, input, -1, nullptr);
        timing.dense_milliseconds.push_back(after.milliseconds);
        timing.dense_inputs.push_back(input);
        add_outer(timing.dense_outer, after);
        VariantTiming& result = timing.variants[static_cast<size_t>(v)];
        result.milliseconds.push_back(run.milliseconds);
        result.ratios.push_back(0.5 * (before.milliseconds + after.milliseconds) / run.milliseconds);
        if (run.outer && before.outer && after.outer) {
          add_outer(result.outer, run);
          result.outer.ratios.push_back(0.5 * (*before.outer + *after.outer) / *run.outer);
        }
        if (round == 0) result.kept.push_back(kept);
        before = after;
      }
      watch_load();
      if (options.progress) options.progress(++done, total);
    }
  }
  timing.dense_ms = spread(timing.dense_milliseconds);
  summarize(timing.dense_outer);
  for (VariantTiming& result : timing.variants) {
    result.ms = spread(result.milliseconds);
    result.speedup = spread(result.ratios);
    summarize(result.outer);
  }
  if (options.notices && timing.peak_load && *timing.peak_load > static_cast<double>(timing.cores)) {
    char line[200];
    std::snprintf(line, sizeof(line),
                  "latte: notice: load average %.2f exceeded the %d cores while timing; other work shared "
                  "the CPU, so timings are noisy (speedups are medians of paired runs)\n",
                  *timing.peak_load, timing.cores);
    *options.notices << line;
  }
  return timing;
}

PairedTiming time_paired(BertModel& model, const std::vector<std::vector<BertInput>>& inputs,
                         const std::vector<TimedVariant>& variants, const PairedTimingOptions& options) {
  const ForwardOptions dense;
  return time_paired(
      inputs.size(), variants.size(),
      [&](size_t input, int variant) {
        const BertOutput output = model.forward(
            inputs[input], variant < 0 ? dense : variants[static_cast<size_t>(variant)].forward);
        return PassResult{output.kept.front(), std::nullopt};
      },
      options);
}

}  // namespace latte
