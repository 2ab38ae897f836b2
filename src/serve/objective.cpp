#include "latte/serve/objective.h"

#include <algorithm>
#include <cmath>
#include <functional>
#include <queue>

#include "latte/core/error.h"

namespace latte::serve {

namespace {

constexpr double kSmoothing = 0.2;  // weight of each new observation
constexpr int kBisectionSteps = 40;

// Workers by the time each is next free, earliest first.
using FreeTimes = std::priority_queue<double, std::vector<double>, std::greater<>>;

}  // namespace

LatencyObjective::LatencyObjective(ObjectiveOptions options) : options_(options) {
  if (!(options_.objective_ms > 0.0 && std::isfinite(options_.objective_ms))) {
    throw InputError("the latency objective must be a positive number of milliseconds, got " +
                     std::to_string(options_.objective_ms));
  }
  if (options_.workers < 1) throw InputError("the latency objective needs at least one worker");
}

LatencyObjective::Correction LatencyObjective::correction() const {
  std::lock_guard lock(mutex_);
  return correction_;
}

double LatencyObjective::pass_scale() const { return correction().scale; }
double LatencyObjective::extra_ms() const { return correction().extra_ms; }

double LatencyObjective::hold_ms(double pass_ms) const {
  const Correction c = correction();
  return c.scale * pass_ms + c.extra_ms;
}

double LatencyObjective::objective_part_ms(double pass_ms) const {
  const Correction c = correction();
  return c.scale * pass_ms + (options_.ends_with_pass ? 0.0 : c.extra_ms);
}

bool LatencyObjective::line_meets(double budget_ms, double waited_ms, const std::vector<double>& busy_ms,
                                  const std::vector<WaitingRequest>& behind, const Correction& c) const {
  const double extra_counted = options_.ends_with_pass ? 0.0 : c.extra_ms;
  if (waited_ms + c.scale * budget_ms + extra_counted > options_.objective_ms) return false;
  FreeTimes free(busy_ms.begin(), busy_ms.end());
  free.push(c.scale * budget_ms + c.extra_ms);  // the worker taking this request
  for (const WaitingRequest& request : behind) {
    const double pass = std::max(budget_ms, request.fastest_pass_ms);
    const double start = free.top();
    free.pop();
    if (request.waited_ms + start + c.scale * pass + extra_counted > options_.objective_ms) return false;
    free.push(start + c.scale * pass + c.extra_ms);
  }
  return true;
}

double LatencyObjective::pass_budget_ms(double waited_ms, double fastest_pass_ms,
                                        const std::vector<double>& busy_ms,
                                        const std::vector<WaitingRequest>& behind) const {
  const Correction c = correction();
  const double extra_counted = options_.ends_with_pass ? 0.0 : c.extra_ms;
  // No pass longer than the objective left for this request alone.
  double high = (options_.objective_ms - waited_ms - extra_counted) / c.scale;
  double low = fastest_pass_ms;
  if (!(high > low) || !line_meets(low, waited_ms, busy_ms, behind, c)) return fastest_pass_ms;
  if (line_meets(high, waited_ms, busy_ms, behind, c)) return high;
  for (int step = 0; step < kBisectionSteps && high - low > 1e-6 * high; ++step) {
    const double middle = 0.5 * (low + high);
    (line_meets(middle, waited_ms, busy_ms, behind, c) ? low : high) = middle;
  }
  return low;
}

bool LatencyObjective::admits(double fastest_pass_ms, const std::vector<double>& busy_ms,
                              const std::vector<WaitingRequest>& line) const {
  const Correction c = correction();
  const double extra_counted = options_.ends_with_pass ? 0.0 : c.extra_ms;
  FreeTimes free(busy_ms.begin(), busy_ms.end());
  for (int worker = static_cast<int>(busy_ms.size()); worker < options_.workers; ++worker) free.push(0.0);
  for (const WaitingRequest& request : line) {
    const double start = free.top();
    free.pop();
    free.push(start + c.scale * request.fastest_pass_ms + c.extra_ms);
  }
  return free.top() + c.scale * fastest_pass_ms + extra_counted <= options_.objective_ms;
}

void LatencyObjective::observe(double predicted_pass_ms, double measured_pass_ms, double held_ms) {
  if (!(predicted_pass_ms > 0.0) || !(measured_pass_ms >= 0.0) || !std::isfinite(held_ms)) return;
  const double scale = std::clamp(measured_pass_ms / predicted_pass_ms, 0.2, 10.0);
  const double extra = std::max(0.0, held_ms - measured_pass_ms);
  std::lock_guard lock(mutex_);
  if (!observed_) {
    correction_ = {scale, extra};
    observed_ = true;
    return;
  }
  correction_.scale += kSmoothing * (scale - correction_.scale);
  correction_.extra_ms += kSmoothing * (extra - correction_.extra_ms);
}

}  // namespace latte::serve
