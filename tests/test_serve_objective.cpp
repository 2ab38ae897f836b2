// The latency objective of `latte serve --slo-ms`: pass budgets from the line, admission, and
// the correction from measured passes.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <memory>

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
  // Later observations move the mean a fifth of the way each and the mean deviation a fifth of
  // the way to the distance from the mean; each is predicted at its mean plus twice that
  // deviation: scale 1.8 + 2 x 0.2, time beyond the pass 4 + 2 x 1.
  slo.observe(10.0, 10.0, 10.0);
  EXPECT_NEAR(slo.pass_scale(), 2.2, 1e-12);
  EXPECT_NEAR(slo.extra_ms(), 6.0, 1e-12);
  EXPECT_NEAR(slo.hold_ms(10.0), 28.0, 1e-12);
  // Steady measurements shrink the margin again.
  for (int i = 0; i < 80; ++i) slo.observe(10.0, 10.0, 10.0);
  EXPECT_NEAR(slo.pass_scale(), 1.0, 1e-4);
  EXPECT_NEAR(slo.extra_ms(), 0.0, 1e-4);
  // Nonsense observations are ignored.
  const double scale = slo.pass_scale();
  slo.observe(0.0, 10.0, 10.0);
  slo.observe(10.0, std::nan(""), 10.0);
  EXPECT_DOUBLE_EQ(slo.pass_scale(), scale);
}

TEST(LatencyObjective, ATimeToFirstTokenObjectiveDoesNotCountTheDecodeSteps) {
  LatencyObjective slo = objective(100.0, 1, /*ends_with_pass=*/true);
  slo.observe(10.0, 10.0, 60.0);  // a generation: 10 ms prefill, 50 ms of decode steps
  EXPECT_DOUBLE_EQ(slo.objective_part_ms(10.0), 10.0);
  EXPECT_NEAR(slo.pass_budget_ms(0.0, 1.0, {}, {}), 100.0, 1e-6);
  // A request behind waits for this one's whole generation: p + 50 + p <= 100.
  EXPECT_NEAR(slo.pass_budget_ms(0.0, 1.0, {}, {{0.0, 1.0}}), 25.0, 1e-3);
}

TEST(LatencyObjective, AnswersLaterThanTheObjectiveMakeItAimLowerUntilAboutOnePercentMiss) {
  LatencyObjective slo = objective(100.0);
  // Answers in time: it aims at the objective itself.
  for (int i = 0; i < 50; ++i) slo.observe_answer(90.0);
  EXPECT_DOUBLE_EQ(slo.slack_ms(), 0.0);
  EXPECT_NEAR(slo.pass_budget_ms(0.0, 1.0, {}, {}), 100.0, 1e-6);
  // One answer late: 2 % of the objective, less the 1 % of that an answer in time takes back.
  slo.observe_answer(120.0);
  EXPECT_NEAR(slo.slack_ms(), 2.0 * 0.99, 1e-12);
  EXPECT_NEAR(slo.pass_budget_ms(0.0, 1.0, {}, {}), 100.0 - 1.98, 1e-6);
  slo.observe_answer(50.0);
  EXPECT_NEAR(slo.slack_ms(), 1.98 - 0.02, 1e-12);
  // A request whose fastest pass fits the objective but not the aim is refused.
  EXPECT_TRUE(objective(100.0).admits(99.0, {}, {}));
  EXPECT_FALSE(slo.admits(99.0, {}, {}));
  // 5 % late: the aim keeps falling; 1 % late: it stays where it is; none late: back to 0.
  LatencyObjective busy = objective(100.0);
  for (int i = 0; i < 500; ++i) busy.observe_answer(i % 20 == 0 ? 150.0 : 80.0);
  const double slack = busy.slack_ms();
  EXPECT_NEAR(slack, 25 * 1.98 - 475 * 0.02, 1e-9);
  for (int i = 0; i < 1000; ++i) busy.observe_answer(i % 100 == 0 ? 150.0 : 80.0);
  EXPECT_NEAR(busy.slack_ms(), slack, 1e-6);
  for (int i = 0; i < 5000; ++i) busy.observe_answer(80.0);
  EXPECT_DOUBLE_EQ(busy.slack_ms(), 0.0);
  // It never aims below a quarter of the objective; nonsense totals are ignored.
  for (int i = 0; i < 1000; ++i) busy.observe_answer(1e6);
  EXPECT_NEAR(busy.slack_ms(), 75.0, 1e-9);
  busy.observe_answer(std::nan(""));
  busy.observe_answer(-1.0);
  EXPECT_NEAR(busy.slack_ms(), 75.0, 1e-9);
}

TEST(LatencyObjective, AGenerationsDecodeStepsAreTakenAtTheirMeanWithoutAMargin) {
  // They vary with each request's length, not with noise.
  LatencyObjective slo = objective(100.0, 1, /*ends_with_pass=*/true);
  slo.observe(10.0, 10.0, 60.0);
  slo.observe(10.0, 10.0, 20.0);
  EXPECT_NEAR(slo.extra_ms(), 42.0, 1e-9);  // 50 + 0.2 x (10 - 50)
  EXPECT_NEAR(slo.hold_ms(10.0), 52.0, 1e-9);
}

// Continuous batching: a time-to-first-token objective over one worker of `streams` slots whose
// decode steps were measured at `step_ms` (for any number of streams).
std::unique_ptr<LatencyObjective> batching(double ms, int streams, double step_ms) {
  auto slo = std::make_unique<LatencyObjective>(ObjectiveOptions{ms, 1, true, streams});
  slo->observe_step(streams, step_ms);
  return slo;
}

StreamWorker stepping(double running_ms, std::vector<int64_t> decoding, std::vector<LineStream> queued = {}) {
  StreamWorker worker;
  worker.running = StreamWorker::Running::kStep;
  worker.running_ms = running_ms;
  worker.decoding = std::move(decoding);
  worker.queued = std::move(queued);
  return worker;
}

TEST(LatencyObjective, TwoPrefillsQueuedOnAWorkerRunBeforeTheNextRequest) {
  const auto slo = batching(300.0, 4, 20.0);
  // A step 5 ms in (15 left), then the two prefills handed to it meanwhile (50, 30), then ours.
  const std::vector<StreamWorker> workers = {stepping(5.0, {5}, {{50.0, 7}, {30.0, 7}})};
  EXPECT_NEAR(slo->line_ms(workers, 0), 95.0, 1e-9);
  // Waited 10 ms: 10 + 95 + p <= 300.
  EXPECT_NEAR(slo->pass_budget_ms(10.0, 5.0, 7, workers, 0, {}), 195.0, 1e-3);
  // Prefills measured twice as slow as predicted: 15 + 2 (50 + 30) ahead, 10 + 175 + 2p <= 300.
  const auto slower = batching(300.0, 4, 20.0);
  slower->observe_prefill(10.0, 20.0);
  EXPECT_NEAR(slower->line_ms(workers, 0), 175.0, 1e-9);
  EXPECT_NEAR(slower->pass_budget_ms(10.0, 5.0, 7, workers, 0, {}), 57.5, 1e-3);
}

TEST(LatencyObjective, ARequestHandedOverDuringPrefillsWaitsForTheStepAfterThem) {
  const auto slo = batching(300.0, 4, 20.0);
  StreamWorker worker;
  worker.running = StreamWorker::Running::kPrefill;
  worker.running_ms = 10.0;
  worker.prefill = {40.0, 7};  // 30 left
  worker.batch = {{30.0, 7}};  // then this one
  worker.decoding = {3};
  // 30 + 30, then a step of the three streams (20), then ours.
  EXPECT_NEAR(slo->line_ms({worker}, 0), 80.0, 1e-9);
}

TEST(LatencyObjective, WithEverySlotTakenARequestWaitsForAStreamToEnd) {
  // Two slots, both decoding: the stream with one step left ends with the step running now (at
  // 20); the request takes its slot after the scheduler has begun its next step, so its prefill
  // (10 at its fastest) starts at 40: first token at 50.
  const std::vector<StreamWorker> workers = {stepping(0.0, {1, 3})};
  EXPECT_TRUE(batching(50.0, 2, 20.0)->admits(10.0, 7, workers, {}));
  EXPECT_FALSE(batching(49.9, 2, 20.0)->admits(10.0, 7, workers, {}));
  // One request ahead in line for a slot takes that slot first (its prefill runs 40 to 50): ours
  // waits for the other stream, whose last step follows that prefill (50 to 70), then for one
  // more step (90), then prefills: 100. Only the new request's own time decides its admission.
  EXPECT_TRUE(batching(100.0, 2, 20.0)->admits(10.0, 7, workers, {{5.0, 10.0, 7}}));
  EXPECT_FALSE(batching(99.9, 2, 20.0)->admits(10.0, 7, workers, {{5.0, 10.0, 7}}));
}

TEST(LatencyObjective, RequestsWaitingForASlotShrinkTheBudgetOfTheOneHandedOver) {
  const auto slo = batching(300.0, 2, 20.0);
  // One stream decoding (2 steps left, a step just begun); ours takes the other slot. Its prefill
  // p starts at 20; then a step ends the first stream (40 + p), the request waiting behind takes
  // its slot after one more step (60 + p) and prefills at max(p, 10): 60 + 2p <= 300.
  const std::vector<StreamWorker> workers = {stepping(0.0, {2})};
  EXPECT_NEAR(slo->pass_budget_ms(0.0, 10.0, 7, workers, 0, {{0.0, 10.0, 7}}), 120.0, 1e-3);
  // Alone, only its own first token counts: 20 + p <= 300.
  EXPECT_NEAR(slo->pass_budget_ms(0.0, 10.0, 7, workers, 0, {}), 280.0, 1e-3);
}

// Chunked prefill (--max-stall-ms): a prefill joining decoding streams runs a piece of whole layers
// within the bound between two of their steps, so its first token comes later by the steps between.
std::unique_ptr<LatencyObjective> chunked(double ms, double piece_ms, int64_t layers) {
  auto slo = std::make_unique<LatencyObjective>(ObjectiveOptions{.objective_ms = ms,
                                                                 .workers = 1,
                                                                 .ends_with_pass = true,
                                                                 .streams = 4,
                                                                 .prefill_piece_ms = piece_ms,
                                                                 .layers = layers});
  slo->observe_step(4, 20.0);
  return slo;
}

TEST(LatencyObjective, AChunkedPrefillRunsAPieceBetweenTwoSteps) {
  // One stream decoding, a step just begun (20 ms). Ours, 100 ms over 10 layers (10 ms each) with
  // pieces within 25 ms: 2 layers a piece, 5 pieces, a step after each of the first four: its
  // first token at 20 + 5 * 20 + 4 * 20 = 200. Whole, it would come at 120.
  const std::vector<StreamWorker> workers = {stepping(0.0, {50})};
  EXPECT_TRUE(chunked(200.0, 25.0, 10)->admits(100.0, 7, workers, {}));
  EXPECT_FALSE(chunked(199.9, 25.0, 10)->admits(100.0, 7, workers, {}));
  EXPECT_TRUE(batching(120.0, 4, 20.0)->admits(100.0, 7, workers, {}));
  EXPECT_FALSE(batching(119.9, 4, 20.0)->admits(100.0, 7, workers, {}));
  // A bound below one layer: a layer a piece (10 pieces, 9 steps between): 20 + 100 + 180 = 300.
  EXPECT_TRUE(chunked(300.0, 4.0, 10)->admits(100.0, 7, workers, {}));
  EXPECT_FALSE(chunked(299.9, 4.0, 10)->admits(100.0, 7, workers, {}));
  // Nothing decoding: the prefill runs whole (100), the bound holds up nobody.
  EXPECT_TRUE(chunked(100.0, 25.0, 10)->admits(100.0, 7, {StreamWorker{}}, {}));
  EXPECT_FALSE(chunked(99.9, 25.0, 10)->admits(100.0, 7, {StreamWorker{}}, {}));
}

TEST(LatencyObjective, ARequestHandedOverDuringAPieceWaitsBehindThatPrefill) {
  // A piece 5 ms in: 60 ms over the 6 layers left (10 each), 2 a piece: it ends at 15, a step
  // (35), a piece (55), a step (75), its last piece (95), a step of both streams (115); ours
  // begins then.
  StreamWorker worker;
  worker.running = StreamWorker::Running::kPrefill;
  worker.running_ms = 5.0;
  worker.prefill = {60.0, 7, 6};
  worker.decoding = {50};
  EXPECT_NEAR(chunked(1000.0, 25.0, 10)->line_ms({worker}, 0), 115.0, 1e-9);
  // During a step, a prefill in line with 2 of its layers left (20 ms): the step ends at 20, its
  // last piece at 40, a step of both (60); ours begins then.
  StreamWorker stepping_worker = stepping(0.0, {50});
  stepping_worker.batch = {{20.0, 7, 2}};
  EXPECT_NEAR(chunked(1000.0, 25.0, 10)->line_ms({stepping_worker}, 0), 60.0, 1e-9);
}

TEST(LatencyObjective, DecodeStepsAreMeasuredByStreams) {
  LatencyObjective slo(ObjectiveOptions{300.0, 1, true, 4});
  EXPECT_DOUBLE_EQ(slo.step_ms(2), 0.0);  // nothing measured yet
  slo.observe_step(2, 10.0);
  slo.observe_step(4, 30.0);
  EXPECT_DOUBLE_EQ(slo.step_ms(1), 10.0);  // the nearest count measured
  EXPECT_DOUBLE_EQ(slo.step_ms(3), 30.0);  // more streams first at the same distance
  // A fifth of the way (32), plus twice the smoothed deviation (a fifth of |40 - 30|).
  slo.observe_step(4, 40.0);
  EXPECT_DOUBLE_EQ(slo.step_ms(4), 36.0);
  slo.observe_step(0, 99.0);  // no such step
  slo.observe_step(5, 99.0);
  slo.observe_step(2, std::nan(""));
  EXPECT_DOUBLE_EQ(slo.step_ms(2), 10.0);
  EXPECT_DOUBLE_EQ(slo.step_ms(4), 36.0);
}

TEST(LatencyObjective, VaryingPrefillsWidenTheMargin) {
  LatencyObjective slo(ObjectiveOptions{300.0, 1, true, 4});
  slo.observe_prefill(10.0, 10.0);  // as predicted
  EXPECT_DOUBLE_EQ(slo.prefill_scale(), 1.0);
  slo.observe_prefill(10.0, 20.0);  // twice: mean 1.2, deviation 0.2, predicted at 1.2 + 2 x 0.2
  EXPECT_NEAR(slo.prefill_scale(), 1.6, 1e-12);
  // An idle worker: its own prefill alone, 1.6 p <= 300.
  const std::vector<StreamWorker> idle(1);
  EXPECT_NEAR(slo.pass_budget_ms(0.0, 5.0, 7, idle, 0, {}), 187.5, 1e-3);
}

TEST(LatencyObjective, RejectsObjectivesThatAreNotPositiveMilliseconds) {
  for (const double bad : {0.0, -5.0, std::nan(""), std::numeric_limits<double>::infinity()}) {
    EXPECT_THROW(objective(bad), InputError) << bad;
  }
  EXPECT_THROW(objective(100.0, 0), InputError);
  EXPECT_THROW(LatencyObjective(ObjectiveOptions{100.0, 1, true, 0}), InputError);
  EXPECT_THROW(batching(100.0, 2, 10.0)->line_ms({}, 0), InputError);
}

}  // namespace
}  // namespace latte::serve
