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

double timed_ms(BertModel& model, const std::vector<BertInput>& input, const ForwardOptions& forward,
                BertOutput* output) {
  const auto start = std::chrono::steady_clock::now();
  BertOutput result = model.forward(input, forward);
  const double milliseconds =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
  if (output) *output = std::move(result);
  return milliseconds;
}

}  // namespace

Spread spread(std::vector<double> values) {
  if (values.empty()) return {};
  std::sort(values.begin(), values.end());
  return Spread{quantile(values, 0.5), quantile(values, 0.1), quantile(values, 0.9)};
}

PairedTiming time_paired(BertModel& model, const std::vector<std::vector<BertInput>>& inputs,
                         const std::vector<TimedVariant>& variants, const PairedTimingOptions& options) {
  if (inputs.empty()) throw InputError("nothing to time: no inputs");
  if (options.rounds < 1) throw InputError("timing needs at least one round");
  PairedTiming timing;
  timing.cores = online_cores();
  timing.variants.resize(variants.size());
  const ForwardOptions dense;
  auto watch_load = [&] {
    if (const std::optional<double> load = load_average()) {
      timing.peak_load = std::max(timing.peak_load.value_or(0.0), *load);
    }
  };
  watch_load();
  for (int warm = 0; warm < options.warm_up; ++warm) {
    for (const std::vector<BertInput>& input : inputs) {
      model.forward(input, dense);
      for (const TimedVariant& variant : variants) model.forward(input, variant.forward);
    }
  }
  const size_t total = inputs.size() * static_cast<size_t>(options.rounds);
  size_t done = 0;
  BertOutput output;
  for (int round = 0; round < options.rounds; ++round) {
    for (const std::vector<BertInput>& input : inputs) {
      double before = timed_ms(model, input, dense, nullptr);
      timing.dense_milliseconds.push_back(before);
      for (size_t v = 0; v < variants.size(); ++v) {
        const double milliseconds = timed_ms(model, input, variants[v].forward, &output);
        const double after = timed_ms(model, input, dense, nullptr);
        timing.dense_milliseconds.push_back(after);
        VariantTiming& result = timing.variants[v];
        result.milliseconds.push_back(milliseconds);
        result.ratios.push_back(0.5 * (before + after) / milliseconds);
        if (round == 0) result.kept.push_back(output.kept.front());
        before = after;
      }
      watch_load();
      if (options.progress) options.progress(++done, total);
    }
  }
  timing.dense_ms = spread(timing.dense_milliseconds);
  for (VariantTiming& result : timing.variants) {
    result.ms = spread(result.milliseconds);
    result.speedup = spread(result.ratios);
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

}  // namespace latte
