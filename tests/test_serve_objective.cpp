// The latency objective of `latte serve --slo-ms`: pass budgets from the line, admission, and
// the correction from measured passes.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "latte/core/error.h"
#include "latte/serve/objective.h"

namespace latte::serve {
namespace {

LatencyObjective objective(double ms, int workers = 1, bool ends_with_pass = false) {
  return LatencyObjective(ObjectiveOptions{ms, workers, ends_with_pass});
}

TEST(LatencyObjective, AnIdleServerGivesTheRequestWhatIsLeftOfTheObjective) {
  const LatencyObjective slo = objective(100.0);
  EXPECT_NEAR(slo.pass_budget_ms(0.0, 5.0, {}, {}), 100.0, 1e-6);
  EXPECT_NEAR(slo.pass_budget_ms(30.0, 5.0, {}, {}), 70.0, 1e-6);
}

TEST(LatencyObjective, RequestsWaitingBehindShrinkTheBudget) {
  const LatencyObjective slo = objective(100.0);
  // One worker: this pass p, then each request behind runs p after it: the third ends at 3p.
  const double budget = slo.pass_budget_ms(0.0, 5.0, {}, {{0.0, 5.0}, {0.0, 5.0}});
  EXPECT_NEAR(budget, 100.0 / 3.0, 1e-3);
  // A request behind that has already waited 40 ms leaves less: 40 + 2p <= 100.
  EXPECT_NEAR(slo.pass_budget_ms(0.0, 5.0, {}, {{40.0, 5.0}}), 30.0, 1e-3);
}

TEST(LatencyObjective, MoreWorkersShareTheLine) {
  const LatencyObjective slo = objective(100.0, 2);
  // The other worker is idle in 0 ms: the first request behind starts at once, the second after
  // this pass (at p, ending at 2p).
  EXPECT_NEAR(slo.pass_budget_ms(0.0, 5.0, {0.0}, {{0.0, 5.0}, {0.0, 5.0}}), 50.0, 1e-3);
}

TEST(LatencyObjective, ALineThatCannotMeetTheObjectiveRunsTheFastestSchedule) {
  const LatencyObjective slo = objective(100.0);
  EXPECT_DOUBLE_EQ(slo.pass_budget_ms(0.0, 8.0, {}, {{95.0, 8.0}}), 8.0);
  EXPECT_DOUBLE_EQ(slo.pass_budget_ms(120.0, 8.0, {}, {}), 8.0);
}

TEST(LatencyObjective, AdmitsOnlyWhatTheFastestScheduleCanStillServeInTime) {
  const LatencyObjective slo = objective(100.0);
  EXPECT_TRUE(slo.admits(10.0, {0.0}, {}));
  EXPECT_TRUE(slo.admits(10.0, {80.0}, {}));                           // 80 + 10
  EXPECT_FALSE(slo.admits(10.0, {80.0}, {{0.0, 10.0}, {0.0, 10.0}}));  // 80 + 10 + 10 + 10
  const LatencyObjective two = objective(100.0, 2);
  EXPECT_TRUE(two.admits(10.0, {80.0, 85.0}, {{0.0, 10.0}}));  // behind the first free worker: 90 + 10
  EXPECT_FALSE(two.admits(10.0, {80.0, 85.0}, {{0.0, 10.0}, {0.0, 10.0}, {0.0, 10.0}}));
}

TEST(LatencyObjective, MeasuredPassesCorrectThePredictions) {
  LatencyObjective slo = objective(100.0);
  slo.observe(10.0, 20.0, 25.0);  // twice as slow as predicted, 5 ms beyond the pass
  EXPECT_DOUBLE_EQ(slo.pass_scale(), 2.0);
  EXPECT_DOUBLE_EQ(slo.extra_ms(), 5.0);
  EXPECT_NEAR(slo.pass_budget_ms(0.0, 1.0, {}, {}), 47.5, 1e-6);
  EXPECT_DOUBLE_EQ(slo.hold_ms(10.0), 25.0);
  // Later observations move the correction a fifth of the way each.
  slo.observe(10.0, 10.0, 10.0);
  EXPECT_NEAR(slo.pass_scale(), 1.8, 1e-12);
  EXPECT_NEAR(slo.extra_ms(), 4.0, 1e-12);
  // Nonsense observations are ignored.
  slo.observe(0.0, 10.0, 10.0);
  slo.observe(10.0, std::nan(""), 10.0);
  EXPECT_NEAR(slo.pass_scale(), 1.8, 1e-12);
}

TEST(LatencyObjective, ATimeToFirstTokenObjectiveDoesNotCountTheDecodeSteps) {
  LatencyObjective slo = objective(100.0, 1, /*ends_with_pass=*/true);
  slo.observe(10.0, 10.0, 60.0);  // a generation: 10 ms prefill, 50 ms of decode steps
  EXPECT_DOUBLE_EQ(slo.objective_part_ms(10.0), 10.0);
  EXPECT_NEAR(slo.pass_budget_ms(0.0, 1.0, {}, {}), 100.0, 1e-6);
  // A request behind waits for this one's whole generation: p + 50 + p <= 100.
  EXPECT_NEAR(slo.pass_budget_ms(0.0, 1.0, {}, {{0.0, 1.0}}), 25.0, 1e-3);
}

TEST(LatencyObjective, RejectsObjectivesThatAreNotPositiveMilliseconds) {
  for (const double bad : {0.0, -5.0, std::nan(""), std::numeric_limits<double>::infinity()}) {
    EXPECT_THROW(objective(bad), InputError) << bad;
  }
  EXPECT_THROW(objective(100.0, 0), InputError);
}

}  // namespace
}  // namespace latte::serve
