#include "latte/eval/tune.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <span>

#include "latte/core/error.h"
#include "latte/core/format.h"
#include "latte/eval/metrics.h"

namespace latte {

namespace {}  // namespace

void TuneBudget::validate() const {
  if (max_loss.has_value() == latency_ms.has_value())
    throw InputError("a tuning budget needs exactly one of a largest loss and a latency budget");
  if (max_loss && !(std::isfinite(*max_loss) && *max_loss >= 0.0))
    throw FieldError("max_drop", "must be a finite number of points >= 0, got " + format_number(*max_loss));
  if (latency_ms && !(std::isfinite(*latency_ms) && *latency_ms > 0.0))
    throw FieldError("latency budget",
                     "must be a finite number of ms > 0, got " + format_number(*latency_ms));
}

std::optional<size_t> choose_speedup(const std::vector<TuneCandidate>& candidates, const TuneBudget& budget) {
  budget.validate();
  // Whether a is preferred to b, both within the budget: the higher target is the faster one
  // (measured speedups are reported, but one burst of other work can reorder them).
  const auto better = [&](const TuneCandidate& a, const TuneCandidate& b) {
    if (budget.latency_ms && a.loss.value != b.loss.value) return a.loss.value < b.loss.value;
    return a.speedup > b.speedup;
  };
  std::optional<size_t> chosen;
  for (size_t i = 0; i < candidates.size(); ++i) {
    const TuneCandidate& candidate = candidates[i];
    const bool fits =
        budget.max_loss ? candidate.loss.high <= *budget.max_loss : candidate.median_ms <= *budget.latency_ms;
    if (fits && (!chosen || better(candidate, candidates[*chosen]))) chosen = i;
  }
  return chosen;
}

const std::vector<std::string>& tune_metrics() {
  static const std::vector<std::string> kMetrics = {"accuracy", "macro_f1", "mcc"};
  return kMetrics;
}

namespace {

// `metric` of `predicted` against `gold` over the examples at `indices`; `picked` and
// `picked_gold` are scratch.
double metric_of(const std::string& metric, const std::vector<int64_t>& predicted,
                 const std::vector<int64_t>& gold, int64_t num_classes, std::span<const size_t> indices,
                 std::vector<int64_t>& picked, std::vector<int64_t>& picked_gold) {
  picked.clear();
  picked_gold.clear();
  for (const size_t i : indices) {
    picked.push_back(predicted[i]);
    picked_gold.push_back(gold[i]);
  }
  if (metric == "accuracy") return eval::accuracy(picked, picked_gold);
  if (metric == "macro_f1") return eval::macro_f1(picked, picked_gold, num_classes);
  return eval::matthews_corrcoef(picked, picked_gold, num_classes);
}

}  // namespace

std::vector<TuneCandidate> tune_candidates(const SpeedupEvaluation& evaluation, const std::string& metric,
                                           const std::vector<int64_t>& classes, int64_t num_classes,
                                           int resamples) {
  const std::vector<std::string>& metrics = tune_metrics();
  if (std::find(metrics.begin(), metrics.end(), metric) == metrics.end()) {
    std::string names;
    for (const std::string& name : metrics) names += (names.empty() ? "" : ", ") + name;
    throw InputError("unknown metric '" + metric + "' (a classifier is tuned by one of " + names + ")");
  }
  const std::vector<SpeedupResult>& results = evaluation.results;
  const auto dense = std::find_if(results.begin(), results.end(), [](const SpeedupResult& result) {
    return result.speedup == 1.0 && !result.latency_ms;
  });
  if (dense == results.end()) throw InputError("tuning needs the dense model (speedup 1) among the targets");
  for (const SpeedupResult& result : results) {
    if (result.predictions.classes.size() != classes.size()) {
      throw InputError("speedup " + std::to_string(result.speedup) + " has " +
                       std::to_string(result.predictions.classes.size()) + " predictions for " +
                       std::to_string(classes.size()) + " examples");
    }
  }
  std::vector<int64_t> picked, picked_gold;
  // Statistic k: the loss of target k against dense on the draw, in points.
  const std::vector<PairedEstimate> losses = paired_bootstrap(
      classes.size(), results.size(), resamples,
      [&](std::span<const size_t> indices, std::span<double> values) {
        const double base =
            metric_of(metric, dense->predictions.classes, classes, num_classes, indices, picked, picked_gold);
        for (size_t k = 0; k < results.size(); ++k) {
          values[k] = 100.0 * (base - metric_of(metric, results[k].predictions.classes, classes, num_classes,
                                                indices, picked, picked_gold));
        }
      });
  std::vector<size_t> all(classes.size());
  std::iota(all.begin(), all.end(), size_t{0});
  std::vector<TuneCandidate> candidates;
  for (size_t k = 0; k < results.size(); ++k) {
    const SpeedupResult& result = results[k];
    candidates.push_back(TuneCandidate{.speedup = result.speedup,
                                       .quality = metric_of(metric, result.predictions.classes, classes,
                                                            num_classes, all, picked, picked_gold),
                                       .loss = losses[k],
                                       .median_ms = result.median_ms,
                                       .measured_speedup = result.measured_speedup.median});
  }
  return candidates;
}

}  // namespace latte
