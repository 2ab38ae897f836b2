// Choosing a speedup from a budget (`latte tune`): each target of a grid with how much worse
// than dense it is, as a paired bootstrap interval over the examples (bootstrap.h), and its
// measured latency; one rule per budget picks the target.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "latte/eval/bootstrap.h"
#include "latte/eval/runner.h"

namespace latte {

// One target of the grid as a choice sees it.
struct TuneCandidate {
  double speedup = 1.0;           // the target; 1 = dense
  double quality = 0.0;           // the metric (accuracy, macro_f1, ...) over all examples
  PairedEstimate loss;            // dense's quality minus this one's, in points (x 100); dense: 0 [0, 0]
  double median_ms = 0.0;         // measured at batch 1
  double measured_speedup = 1.0;  // median of the ratios to adjacent dense runs
};

// Exactly one of the two.
struct TuneBudget {
  // The largest loss in points allowed; a target passes when its interval's upper bound (the
  // worst loss the examples support at 95 %) is within it, not only its point estimate.
  std::optional<double> max_loss;
  // The largest measured median latency per input, in ms.
  std::optional<double> latency_ms;

  // FieldError "max_drop" or "latency budget" for a value that is not finite, a negative loss
  // or a budget of 0 ms or less; InputError for both or neither.
  void validate() const;
};

// The candidate `budget` picks: with max_loss the fastest (the highest target speedup) whose
// loss bound is within it; with latency_ms the most accurate (lowest estimated loss, ties to
// the higher target) whose measured median latency is within it. None when no candidate fits.
std::optional<size_t> choose_speedup(const std::vector<TuneCandidate>& candidates, const TuneBudget& budget);

// The metrics a classifier's candidates can be judged by: accuracy, macro_f1, mcc. (Regression
// is left out: a resampled draw with a constant side has no correlation.)
const std::vector<std::string>& tune_metrics();

// The candidates of a classifier's evaluation whose results include dense (speedup 1, no
// latency budget): each one's `metric` against gold `classes` (a model of `num_classes`
// classes) and its loss against dense with a 95 % interval from one paired bootstrap over the
// examples (`resamples` draws, the same draws for every target). InputError naming the metrics
// for an unknown `metric`, or when dense is missing.
std::vector<TuneCandidate> tune_candidates(const SpeedupEvaluation& evaluation, const std::string& metric,
                                           const std::vector<int64_t>& classes, int64_t num_classes,
                                           int resamples = 2000);

}  // namespace latte
