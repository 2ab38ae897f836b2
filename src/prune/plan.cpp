#include "latte/prune/plan.h"

#include <algorithm>
#include <cmath>
#include <sstream>

#include "latte/core/error.h"
#include "latte/core/format.h"

namespace latte {

namespace {

constexpr double kPriorLowestT = 1e-3;
constexpr int kBisectionSteps = 60;

}  // namespace

void Knobs::validate(int64_t layers) const {
  const int given = (keep ? 1 : 0) + (coverage ? 1 : 0) + (speedup ? 1 : 0) + (latency_ms ? 1 : 0);
  if (given > 1)
    throw FieldError("knobs",
                     "are more than one; give only one of keep list, coverage, speedup, latency budget");
  if (speedup && !(*speedup >= 1.0 && std::isfinite(*speedup))) {
    throw FieldError("speedup", "must be a number >= 1, got " + format_number(*speedup));
  }
  if (coverage && !(*coverage > 0.0 && *coverage <= 1.0)) {
    throw FieldError("coverage", "must be in (0, 1], got " + format_number(*coverage));
  }
  if (latency_ms && !(*latency_ms > 0.0 && std::isfinite(*latency_ms))) {
    throw FieldError("latency budget",
                     "must be a positive number of milliseconds, got " + format_number(*latency_ms));
  }
  if (min_keep < 1) throw FieldError("min_keep", "must be at least 1");
  if (keep) {
    if (static_cast<int64_t>(keep->size()) != layers) {
      throw FieldError("keep list", "has " + std::to_string(keep->size()) + " entries; the model has " +
                                        std::to_string(layers) + " layers");
    }
    for (size_t i = 0; i < keep->size(); ++i) {
      if ((*keep)[i] < 1) {
        throw FieldError("keep list", "entry " + std::to_string(i + 1) + " is " + std::to_string((*keep)[i]) +
                                          "; counts must be positive");
      }
      if (i > 0 && (*keep)[i] > (*keep)[i - 1]) {
        throw FieldError("keep list", "must be non-increasing: entry " + std::to_string(i + 1) + " (" +
                                          std::to_string((*keep)[i]) + ") exceeds entry " +
                                          std::to_string(i) + " (" + std::to_string((*keep)[i - 1]) + ")");
      }
    }
  }
}

std::vector<int64_t> parse_integer_list(const std::string& text, const std::string& flag,
                                        const std::string& example) {
  std::vector<int64_t> values;
  std::stringstream stream(text);
  std::string item;
  while (std::getline(stream, item, ',')) {
    size_t consumed = 0;
    long long value = 0;
    try {
      value = std::stoll(item, &consumed);
    } catch (const std::exception&) {
      consumed = 0;
    }
    if (consumed == 0 || consumed != item.size()) {
      throw InputError(flag + ": '" + item + "' is not an integer (expected e.g. " + example + ")");
    }
    values.push_back(value);
  }
  if (values.empty()) throw InputError(flag + ": empty list");
  return values;
}

std::vector<int64_t> parse_keep_list(const std::string& text) {
  return parse_integer_list(text, "--keep", "--keep 128,96,64");
}

std::vector<double> parse_number_list(const std::string& text, const std::string& flag) {
  std::vector<double> values;
  std::stringstream stream(text);
  std::string item;
  while (std::getline(stream, item, ',')) {
    size_t consumed = 0;
    double value = 0;
    try {
      value = std::stod(item, &consumed);
    } catch (const std::exception&) {
      consumed = 0;
    }
    if (consumed == 0 || consumed != item.size() || !std::isfinite(value)) {
      throw InputError(flag + ": '" + item + "' is not a number");
    }
    values.push_back(value);
  }
  if (values.empty()) throw InputError(flag + ": empty list");
  return values;
}

std::vector<double> Calibration::fractions_at(double tau) const {
  if (tau >= taus.front()) return keep_fractions.front();
  if (tau <= taus.back()) return keep_fractions.back();
  size_t upper = 0;
  while (upper + 1 < taus.size() && taus[upper + 1] > tau) ++upper;
  const size_t lower = upper + 1;  // taus[upper] > tau >= taus[lower]
  const double weight = (taus[upper] - tau) / (taus[upper] - taus[lower]);
  std::vector<double> result(keep_fractions[upper].size());
  for (size_t layer = 0; layer < result.size(); ++layer) {
    result[layer] = (1.0 - weight) * keep_fractions[upper][layer] + weight * keep_fractions[lower][layer];
  }
  return result;
}

std::optional<Calibration> usable_calibration(const Knobs& knobs, std::optional<Calibration> calibration,
                                              int64_t layers) {
  if (!calibration || static_cast<int64_t>(calibration->keep_fractions.front().size()) == layers) {
    return calibration;
  }
  const bool needs_calibration = (knobs.speedup && *knobs.speedup > 1.0) || knobs.latency_ms ||
                                 (knobs.coverage && *knobs.coverage < 1.0);
  if (!needs_calibration) return std::nullopt;
  throw FormatError("latte.json: calibration has " +
                    std::to_string(calibration->keep_fractions.front().size()) + " layers; the model has " +
                    std::to_string(layers) + " (calibrate the model again)");
}

Planner::Planner(Knobs knobs, ModelShape shape, std::optional<Calibration> calibration, LatencyModel latency,
                 std::ostream* notices)
    : knobs_(std::move(knobs)),
      shape_(shape),
      calibration_(std::move(calibration)),
      latency_(latency),
      notices_(notices) {
  knobs_.validate(shape_.layers);
  calibration_ = usable_calibration(knobs_, std::move(calibration_), shape_.layers);
  mode_ = knobs_.mode.value_or(calibration_ ? PruneMode::kStatic : PruneMode::kDynamic);
  if (mode_ == PruneMode::kStatic && !calibration_ && (knobs_.coverage || knobs_.mode)) {
    if (notices_)
      *notices_ << "latte: notice: no calibration in latte.json; static mode falls back to dynamic "
                   "(run `latte calibrate` to enable static schedules)\n";
    mode_ = PruneMode::kDynamic;
  }
  const bool dense_target = knobs_.speedup && *knobs_.speedup == 1.0;
  if (!calibration_ && has_target() && !dense_target && notices_) {
    *notices_ << "latte: notice: no calibration in latte.json; targets use the geometric prior schedule "
                 "r_l = t^l (run `latte calibrate` for ACC-calibrated schedules)\n";
  }
}

std::vector<double> Planner::fractions(double t) const {
  if (calibration_) return calibration_->fractions_at(t);
  std::vector<double> result(static_cast<size_t>(shape_.layers));
  for (int64_t layer = 0; layer < shape_.layers; ++layer) {
    result[static_cast<size_t>(layer)] = std::pow(t, static_cast<double>(layer + 1));
  }
  return result;
}

double Planner::lowest_t() const { return calibration_ ? calibration_->min_tau() : kPriorLowestT; }

std::vector<int64_t> Planner::schedule_from_fractions(int64_t n0,
                                                      const std::vector<double>& keep_fractions) const {
  std::vector<int64_t> counts;
  int64_t previous = n0;
  for (double fraction : keep_fractions) {
    int64_t count = static_cast<int64_t>(std::ceil(fraction * static_cast<double>(n0) - 1e-9));
    count = std::clamp<int64_t>(std::max(count, knobs_.min_keep), 1, previous);
    counts.push_back(count);
    previous = count;
  }
  return counts;
}

void Planner::finish_prediction(int64_t n0, SequencePlan& plan) const {
  if (plan.expected_counts.empty()) return;
  const double dense = latency_.dense_seconds(n0, shape_);
  const double pruned = plan.dense ? dense : latency_.forward_seconds(n0, plan.expected_counts, shape_);
  plan.predicted_speedup = dense / pruned;
  plan.predicted_ms = pruned * 1e3;
}

SequencePlan Planner::make_plan(int64_t n0) const {
  SequencePlan plan;
  const std::vector<int64_t> dense_counts(static_cast<size_t>(shape_.layers), n0);
  plan.counts = dense_counts;
  plan.expected_counts = dense_counts;
  if (!knobs_.any() || (knobs_.speedup && *knobs_.speedup == 1.0) ||
      (knobs_.coverage && *knobs_.coverage >= 1.0)) {
    finish_prediction(n0, plan);
    return plan;
  }
  plan.dense = false;
  if (knobs_.keep) {
    int64_t previous = n0;
    for (size_t layer = 0; layer < plan.counts.size(); ++layer) {
      previous = std::min((*knobs_.keep)[layer], previous);
      plan.counts[layer] = previous;
    }
    plan.expected_counts = plan.counts;
    finish_prediction(n0, plan);
    return plan;
  }

  // Knob value t in (0, 1]: the coverage tau when calibrated, else the prior's decay.
  double t = 1.0;
  if (knobs_.coverage) {
    t = *knobs_.coverage;
  } else {
    auto schedule_at = [&](double value) { return schedule_from_fractions(n0, fractions(value)); };
    auto meets = [&](double value) {
      const std::vector<int64_t> counts = schedule_at(value);
      if (knobs_.speedup) {
        return latency_.dense_seconds(n0, shape_) / latency_.forward_seconds(n0, counts, shape_) >=
               *knobs_.speedup;
      }
      return latency_.forward_seconds(n0, counts, shape_) * 1e3 <= *knobs_.latency_ms;
    };
    if (knobs_.latency_ms && latency_.dense_seconds(n0, shape_) * 1e3 <= *knobs_.latency_ms) {
      // The dense model already fits the budget.
      plan.dense = true;
      finish_prediction(n0, plan);
      return plan;
    }
    // The largest t (most word-vectors kept) that meets the target.
    double low = lowest_t(), high = 1.0;
    if (!meets(low)) {
      if (notices_ && !warned_unreachable_) {
        warned_unreachable_ = true;
        const double best =
            latency_.dense_seconds(n0, shape_) / latency_.forward_seconds(n0, schedule_at(low), shape_);
        *notices_ << "latte: notice: target not reachable for " << n0
                  << " word-vectors; using the fastest schedule"
                  << " (predicted speedup " << best << ")\n";
      }
      high = low;
    }
    for (int step = 0; step < kBisectionSteps && high - low > 1e-9; ++step) {
      const double middle = 0.5 * (low + high);
      if (meets(middle)) {
        low = middle;
      } else {
        high = middle;
      }
    }
    t = low;
  }

  plan.expected_counts = schedule_from_fractions(n0, fractions(t));
  if (mode_ == PruneMode::kDynamic && (calibration_ || knobs_.coverage)) {
    plan.dynamic = true;
    plan.coverage = t;
    if (!calibration_) plan.expected_counts.clear();  // no prediction for uncalibrated dynamic coverage
  } else {
    plan.counts = plan.expected_counts;
  }
  finish_prediction(n0, plan);
  return plan;
}

const SequencePlan& Planner::plan(int64_t n0) const {
  std::lock_guard<std::mutex> lock(mutex_);
  auto found = cache_.find(n0);
  if (found == cache_.end()) found = cache_.emplace(n0, make_plan(n0)).first;
  return found->second;
}

}  // namespace latte
