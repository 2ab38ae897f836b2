// Choosing a speedup from a budget: the selection rule on fixed per-example results (no
// clocks), the paired intervals it reads, latte.json's default knob, and `latte tune` / `latte
// eval --latency-ms` end to end on a tiny classifier.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <nlohmann/json.hpp>

#include "latte/core/error.h"
#include "latte/eval/bootstrap.h"
#include "latte/eval/tune.h"
#include "latte/prune/sidecar.h"
#include "test_support.h"

namespace {

namespace fs = std::filesystem;
using namespace latte;
using namespace latte::test_support;

const fs::path kData = fs::path(LATTE_TEST_DATA_DIR);
const fs::path kClassifier = kData / "bert" / "cls3_f32";
const fs::path kExamples = kData / "fixtures" / "eval" / "cls3.jsonl";
const fs::path kGpt2 = kData / "gpt2" / "tiny";

TuneCandidate candidate(double speedup, double loss, double low, double high, double median_ms,
                        double measured) {
  return TuneCandidate{.speedup = speedup,
                       .quality = 0.9 - loss / 100.0,
                       .loss = PairedEstimate{loss, low, high},
                       .median_ms = median_ms,
                       .measured_speedup = measured};
}

// A grid as tune sees it: dense, then targets losing more and running faster.
std::vector<TuneCandidate> grid() {
  return {candidate(1.0, 0.0, 0.0, 0.0, 3.0, 1.0), candidate(2.0, 0.2, -0.3, 0.6, 1.6, 1.9),
          candidate(3.0, 0.5, 0.1, 0.9, 1.1, 2.8), candidate(4.0, 0.8, 0.2, 1.4, 0.9, 3.5),
          candidate(5.0, 3.0, 2.0, 4.0, 0.8, 3.9)};
}

TEST(TuneChoice, MaxDropTakesTheFastestWhoseIntervalBoundFits) {
  // S = 4 loses 0.8 points by its estimate, within 1, but its interval reaches 1.4: the rule
  // reads the bound, so S = 3 (bound 0.9) is the pick.
  EXPECT_EQ(choose_speedup(grid(), TuneBudget{.max_loss = 1.0}), std::optional<size_t>(2));
  EXPECT_EQ(choose_speedup(grid(), TuneBudget{.max_loss = 1.4}), std::optional<size_t>(3));
  EXPECT_EQ(choose_speedup(grid(), TuneBudget{.max_loss = 100.0}), std::optional<size_t>(4));
  // Dense always fits a budget of 0 (its loss is exactly 0).
  EXPECT_EQ(choose_speedup(grid(), TuneBudget{.max_loss = 0.0}), std::optional<size_t>(0));
}

TEST(TuneChoice, FastestMeansTheHighestTargetNotANoisyMeasurement) {
  // One burst of other work can make S = 4 measure slower than S = 3: the pick stays S = 4.
  std::vector<TuneCandidate> candidates = grid();
  candidates[3].measured_speedup = 2.5;
  candidates[3].median_ms = 2.0;
  EXPECT_EQ(choose_speedup(candidates, TuneBudget{.max_loss = 1.4}), std::optional<size_t>(3));
  // The order of the candidates does not matter.
  std::swap(candidates[2], candidates[3]);
  EXPECT_EQ(choose_speedup(candidates, TuneBudget{.max_loss = 1.4}), std::optional<size_t>(2));
}

TEST(TuneChoice, LatencyTakesTheMostAccurateWithinTheBudget) {
  EXPECT_EQ(choose_speedup(grid(), TuneBudget{.latency_ms = 1.2}), std::optional<size_t>(2));
  EXPECT_EQ(choose_speedup(grid(), TuneBudget{.latency_ms = 0.85}), std::optional<size_t>(4));
  EXPECT_EQ(choose_speedup(grid(), TuneBudget{.latency_ms = 3.0}), std::optional<size_t>(0));
  EXPECT_EQ(choose_speedup(grid(), TuneBudget{.latency_ms = 0.5}), std::nullopt);
  // Equal losses: the higher target.
  std::vector<TuneCandidate> candidates = grid();
  candidates[3].loss.value = candidates[2].loss.value;
  EXPECT_EQ(choose_speedup(candidates, TuneBudget{.latency_ms = 1.2}), std::optional<size_t>(3));
}

TEST(TuneChoice, BadBudgetsAreErrorsNamingTheBudget) {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  EXPECT_CONTAINS(error_of([&] { choose_speedup(grid(), TuneBudget{.max_loss = -1.0}); }), "max_drop");
  EXPECT_CONTAINS(error_of([&] { choose_speedup(grid(), TuneBudget{.max_loss = nan}); }), "max_drop");
  EXPECT_CONTAINS(error_of([&] { choose_speedup(grid(), TuneBudget{.latency_ms = 0.0}); }), "latency budget");
  EXPECT_CONTAINS(error_of([&] { choose_speedup(grid(), TuneBudget{.latency_ms = nan}); }), "latency budget");
  EXPECT_CONTAINS(error_of([&] { choose_speedup(grid(), TuneBudget{}); }), "exactly one");
  EXPECT_CONTAINS(error_of([&] { choose_speedup(grid(), TuneBudget{.max_loss = 1.0, .latency_ms = 1.0}); }),
                  "exactly one");
}

// An evaluation of 10 examples (gold 0,1,0,1,...) with dense right on all and each target wrong
// on the first `wrong` examples.
SpeedupEvaluation evaluation_of(const std::vector<int>& wrong) {
  SpeedupEvaluation evaluation;
  const std::vector<int64_t> gold = {0, 1, 0, 1, 0, 1, 0, 1, 0, 1};
  for (size_t t = 0; t < wrong.size(); ++t) {
    SpeedupResult result;
    result.speedup = 1.0 + static_cast<double>(t);
    result.predictions.classes = gold;
    for (int i = 0; i < wrong[t]; ++i) result.predictions.classes[static_cast<size_t>(i)] ^= 1;
    result.metrics["accuracy"] = 1.0 - wrong[t] / 10.0;
    result.median_ms = 2.0 / result.speedup;
    result.measured_speedup = Spread{result.speedup, result.speedup, result.speedup};
    evaluation.results.push_back(result);
  }
  return evaluation;
}

TEST(TuneCandidates, LossesArePairedIntervalsInPoints) {
  const std::vector<int64_t> gold = {0, 1, 0, 1, 0, 1, 0, 1, 0, 1};
  const SpeedupEvaluation evaluation = evaluation_of({0, 0, 1, 3, 3});
  const std::vector<TuneCandidate> candidates = tune_candidates(evaluation, "accuracy", gold, 2);
  ASSERT_EQ(candidates.size(), 5u);
  // Dense, and a target predicting exactly what dense does, lose nothing on every draw.
  for (size_t k : {0, 1}) {
    EXPECT_EQ(candidates[k].loss.value, 0.0);
    EXPECT_EQ(candidates[k].loss.low, 0.0);
    EXPECT_EQ(candidates[k].loss.high, 0.0);
  }
  EXPECT_NEAR(candidates[2].loss.value, 10.0, 1e-9);
  EXPECT_NEAR(candidates[3].loss.value, 30.0, 1e-9);
  EXPECT_DOUBLE_EQ(candidates[3].quality, 0.7);
  EXPECT_DOUBLE_EQ(candidates[3].median_ms, 0.5);
  EXPECT_DOUBLE_EQ(candidates[3].measured_speedup, 4.0);
  for (const TuneCandidate& each : candidates) {
    EXPECT_LE(each.loss.low, each.loss.value);
    EXPECT_GE(each.loss.high, each.loss.value);
    EXPECT_GE(each.loss.low, 0.0);  // no target is ever right where dense is wrong
  }
  // One error leaves draws without it: the interval reaches 0 and spans more than the estimate.
  EXPECT_EQ(candidates[2].loss.low, 0.0);
  EXPECT_GT(candidates[2].loss.high, 10.0);
  // The same predictions on the same draws give the same interval.
  EXPECT_EQ(candidates[3].loss.low, candidates[4].loss.low);
  EXPECT_EQ(candidates[3].loss.high, candidates[4].loss.high);
  // macro_f1 and mcc are recomputed on each draw too.
  const std::vector<TuneCandidate> by_mcc = tune_candidates(evaluation, "mcc", gold, 2);
  EXPECT_EQ(by_mcc[1].loss.high, 0.0);
  EXPECT_GT(by_mcc[3].loss.value, 0.0);
}

TEST(TuneCandidates, NeedsDenseAKnownMetricAndMatchingPredictions) {
  const std::vector<int64_t> gold = {0, 1, 0, 1, 0, 1, 0, 1, 0, 1};
  SpeedupEvaluation evaluation = evaluation_of({0, 1});
  EXPECT_CONTAINS(error_of([&] { tune_candidates(evaluation, "f1", gold, 2); }), "accuracy, macro_f1, mcc");
  evaluation.results.front().latency_ms = 5.0;  // a latency-budget target is not dense
  EXPECT_CONTAINS(error_of([&] { tune_candidates(evaluation, "accuracy", gold, 2); }), "dense");
  evaluation = evaluation_of({0, 1});
  evaluation.results[1].predictions.classes.pop_back();
  EXPECT_CONTAINS(error_of([&] { tune_candidates(evaluation, "accuracy", gold, 2); }), "9 predictions");
}

TEST(PairedBootstrap, SeparateCallsDrawTheSameItems) {
  const std::vector<double> values = {1, 5, 2, 8, 3, 9, 4};
  const auto mean = [&](std::span<const size_t> indices, std::span<double> out) {
    double total = 0.0;
    for (const size_t i : indices) total += values[i];
    out[0] = total / static_cast<double>(indices.size());
    out[1] = 2.0 * out[0];
  };
  const std::vector<PairedEstimate> both = paired_bootstrap(values.size(), 2, 500, mean);
  const std::vector<PairedEstimate> again = paired_bootstrap(values.size(), 2, 500, mean);
  EXPECT_NEAR(both[0].value, 32.0 / 7.0, 1e-12);
  EXPECT_EQ(both[0].low, again[0].low);
  EXPECT_EQ(both[0].high, again[0].high);
  EXPECT_DOUBLE_EQ(both[1].low, 2.0 * both[0].low);  // the same draws for both statistics
  EXPECT_LT(both[0].low, both[0].value);
  EXPECT_GT(both[0].high, both[0].value);
  EXPECT_THROW(paired_bootstrap(0, 1, 10, mean), InputError);
  EXPECT_THROW(paired_bootstrap(3, 1, 0, mean), InputError);
}

TEST(DefaultKnob, RoundTripsBesideTheCalibrationAndIsChecked) {
  TempDir dir("default_knob");
  Sidecar sidecar;
  sidecar.calibration = Calibration{{1.0, 0.9}, {{1.0, 1.0}, {0.8, 0.5}}, {}, {}, 3};
  sidecar.write(dir.path());
  EXPECT_EQ(Sidecar::read_default_knob(dir.path()), std::nullopt);
  Sidecar::update(dir.path(), [](Sidecar& each) {
    each.default_knob = DefaultKnob{.speedup = 2.5, .chosen_by = "latte tune --max-drop 1", .measured = "m"};
  });
  const Sidecar back = Sidecar::read(dir.path());
  ASSERT_TRUE(back.calibration);
  EXPECT_EQ(back.calibration->keep_fractions, sidecar.calibration->keep_fractions);
  ASSERT_TRUE(back.default_knob);
  EXPECT_EQ(back.default_knob->speedup, 2.5);
  EXPECT_EQ(back.default_knob->chosen_by, "latte tune --max-drop 1");
  EXPECT_EQ(Sidecar::read_default_knob(dir.path())->measured, "m");
  // Writing the calibration again keeps the knob.
  sidecar.write(dir.path());
  EXPECT_EQ(Sidecar::read_default_knob(dir.path())->speedup, 2.5);

  const auto error_for = [&](const std::string& section) {
    spit(dir / "latte.json", R"({"latte_version": 1, "default_knob": )" + section + "}");
    return error_of([&] { Sidecar::read_default_knob(dir.path()); });
  };
  EXPECT_CONTAINS(error_for(R"({"speedup": 0.5})"), "'default_knob.speedup' is 0.5");
  EXPECT_CONTAINS(error_for(R"({"speedup": 1e9})"), "'default_knob.speedup'");
  EXPECT_CONTAINS(error_for(R"({"speedup": "3"})"), "'speedup' must be");
  EXPECT_CONTAINS(error_for(R"({})"), "'speedup' is missing");
  EXPECT_CONTAINS(error_for(R"(3)"), "'default_knob' must be an object");
  EXPECT_CONTAINS(error_for(R"({"speedup": 2, "chosen_by": 7})"), "'chosen_by'");
  EXPECT_CONTAINS(error_for(R"({"speedup": 2, "chosen_by": "a\nb"})"), "control character");
  EXPECT_CONTAINS(error_for(R"({"speedup": 2, "chosen_by": "x"})"), "(no error)");
  EXPECT_CONTAINS(error_of([&] { Sidecar::read(dir.path()); }), "(no error)");
  EXPECT_CONTAINS(error_for(R"({"speedup": 0})"), "latte.json");
  EXPECT_THROW(Sidecar::read(dir.path()), FormatError);
  // Only the knob is read: a calibration for another model does not matter here.
  spit(dir / "latte.json", R"({"calibration": "stale", "default_knob": {"speedup": 2}})");
  EXPECT_EQ(Sidecar::read_default_knob(dir.path())->speedup, 2.0);
}

// ---- End to end ----

class TuneCli : public ::testing::Test {
 protected:
  void SetUp() override {
    model_ = work_ / "model";
    fs::copy(kClassifier, model_);
  }
  CommandResult run(const std::string& arguments) { return run_latte(work_.path(), arguments); }
  // tune on the fixture's 6 examples; the FLOPs prior, so no profile is needed.
  std::string tune(const std::string& budget) const {
    return "tune --model " + model_.string() + " --data " + kExamples.string() + " " + budget +
           " --speedups 1,2,3 --latency-samples 2 --threads 1 --no-profile";
  }
  std::string classify(const std::string& knob) const {
    return "classify --json --threads 1 --no-profile --model " + model_.string() + " " + knob + " 'the cat'";
  }

  TempDir work_{"tune_cli"};
  fs::path model_;
};

TEST_F(TuneCli, PrintsEveryTargetAndTheRecommendation) {
  const CommandResult result = run(tune("--max-drop 100"));
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_CONTAINS(result.out, "6 examples");
  EXPECT_CONTAINS(result.out, "change [95% interval]");
  const std::vector<std::string> lines = lines_of(result.out);
  int rows = 0;
  for (const std::string& line : lines) rows += line.find("points [") != std::string::npos ? 1 : 0;
  EXPECT_EQ(rows, 3 + 1) << result.out;  // three targets, and the recommendation
  // Dense loses exactly nothing.
  EXPECT_CONTAINS(result.out, "+0.00 points [+0.00, +0.00]");
  EXPECT_CONTAINS(result.out, "rule: the highest speedup whose accuracy drop vs dense, at the upper end");
  ASSERT_FALSE(lines.empty());
  EXPECT_EQ(lines.back().rfind("recommended: speedup ", 0), 0u) << result.out;
  EXPECT_CONTAINS(lines.back(), "x measured)");
  EXPECT_FALSE(fs::exists(model_ / "latte.json")) << "nothing is saved without --save";
}

TEST_F(TuneCli, SaveMakesClassifyUseTheKnobUntilAnExplicitOneIsGiven) {
  const CommandResult dense = run(classify(""));
  ASSERT_EQ(dense.exit_code, 0) << dense.err;
  EXPECT_FALSE(nlohmann::json::parse(dense.out).contains("kept")) << dense.out;

  // A budget of 100 points takes the fastest of 1, 2, 3 as measured: always above 1.
  const CommandResult tuned = run(tune("--max-drop 100 --metric macro_f1 --save"));
  ASSERT_EQ(tuned.exit_code, 0) << tuned.err;
  const nlohmann::json knob = nlohmann::json::parse(slurp(model_ / "latte.json"))["default_knob"];
  const double speedup = knob["speedup"].get<double>();
  EXPECT_GT(speedup, 1.0);
  EXPECT_CONTAINS(knob["chosen_by"].get<std::string>(), "latte tune --max-drop 100 --metric macro_f1");
  EXPECT_CONTAINS(knob["measured"].get<std::string>(), "macro_f1 ");
  EXPECT_CONTAINS(tuned.err, "saved default speedup");

  const CommandResult by_default = run(classify(""));
  ASSERT_EQ(by_default.exit_code, 0) << by_default.err;
  EXPECT_CONTAINS(by_default.err, "latte: notice: using latte.json's default speedup");
  EXPECT_CONTAINS(by_default.err, "(latte tune --max-drop 100");
  EXPECT_CONTAINS(by_default.err, "; --speedup 1 for dense");
  const nlohmann::json line = nlohmann::json::parse(by_default.out);
  ASSERT_TRUE(line.contains("kept")) << by_default.out;
  EXPECT_GT(line["predicted_speedup"].get<double>(), 1.0);

  for (const char* knob_flag : {"--speedup 1", "--keep 4,4"}) {
    const CommandResult given = run(classify(knob_flag));
    ASSERT_EQ(given.exit_code, 0) << given.err;
    EXPECT_EQ(given.err.find("default speedup"), std::string::npos) << knob_flag << ": " << given.err;
  }
  EXPECT_EQ(nlohmann::json::parse(run(classify("--speedup 1")).out)["logits"],
            nlohmann::json::parse(dense.out)["logits"]);

  // A broken knob is a one-line error naming the field, with or without a knob of the command's own.
  spit(model_ / "latte.json", R"({"default_knob": {"speedup": -2}})");
  expect_one_line_error(run(classify("")), "default_knob.speedup");
  expect_one_line_error(run(classify("--speedup 1")), "default_knob.speedup");
}

TEST_F(TuneCli, GenerateUsesTheDefaultKnobToo) {
  const fs::path gpt2 = work_ / "gpt2";
  fs::copy(kGpt2, gpt2);
  spit(gpt2 / "latte.json", R"({"default_knob": {"speedup": 3, "chosen_by": "by hand"}})");
  const std::string generate =
      "generate --json --threads 1 --no-profile --max-new-tokens 2 --prompt-ids 1,2,3,4,5,6,7,8,9,10,11,12 "
      "--model " +
      gpt2.string();
  const CommandResult pruned = run(generate);
  ASSERT_EQ(pruned.exit_code, 0) << pruned.err;
  EXPECT_CONTAINS(pruned.err, "using latte.json's default speedup 3 (by hand); --speedup 1 for dense");
  const nlohmann::json line = nlohmann::json::parse(pruned.out);
  EXPECT_LT(line["kv_cache_bytes"].get<double>(), line["kv_cache_bytes_dense"].get<double>());
  const CommandResult dense = run(generate + " --speedup 1");
  ASSERT_EQ(dense.exit_code, 0) << dense.err;
  EXPECT_EQ(dense.err.find("default speedup"), std::string::npos) << dense.err;
  const nlohmann::json dense_line = nlohmann::json::parse(dense.out);
  EXPECT_EQ(dense_line["kv_cache_bytes"], dense_line["kv_cache_bytes_dense"]);
}

TEST_F(TuneCli, LatencyBudgetPicksWithinItOrFailsClearly) {
  const CommandResult roomy = run(tune("--latency-ms 100000"));
  ASSERT_EQ(roomy.exit_code, 0) << roomy.err;
  EXPECT_CONTAINS(roomy.out, "rule: the most accurate (accuracy) speedup whose measured median latency");
  EXPECT_CONTAINS(roomy.out, "recommended: speedup ");

  const CommandResult tight = run(tune("--latency-ms 0.000001 --save"));
  EXPECT_EQ(tight.exit_code, 1);
  EXPECT_CONTAINS(tight.out, "rule: ");  // the table is still printed
  // Notices (no calibration, FLOPs prior) come first; the error is the one last line.
  const std::vector<std::string> lines = lines_of(tight.err);
  ASSERT_FALSE(lines.empty());
  EXPECT_EQ(lines.back().rfind("latte: error: no speedup fits the budget: the fastest, speedup ", 0), 0u)
      << tight.err;
  EXPECT_EQ(tight.err.find("latte: error:"), tight.err.rfind("latte: error:")) << tight.err;
  EXPECT_FALSE(fs::exists(model_ / "latte.json")) << "nothing is saved when nothing fits";
}

TEST_F(TuneCli, BadBudgetsAreOneLineErrors) {
  expect_one_line_error(run(tune("--max-drop -1")), "--max-drop must be a finite number of points >= 0");
  expect_one_line_error(run(tune("--max-drop nan")), "--max-drop");
  expect_one_line_error(run(tune("--latency-ms 0")), "--latency-ms must be");
  expect_one_line_error(run(tune("--latency-ms inf")), "--latency-ms");
  expect_one_line_error(run(tune("--max-drop 1 --latency-ms 5")), "exactly one budget");
  expect_one_line_error(run(tune("")), "exactly one budget: --max-drop POINTS or --latency-ms MS");
  expect_one_line_error(run(tune("--max-drop 1 --metric f1")), "--metric f1");
  expect_one_line_error(run(tune("--max-drop 1 --speedups 0.5")), "--speedups");
  const CommandResult decoder =
      run("tune --max-drop 1 --data " + kExamples.string() + " --model " + kGpt2.string());
  expect_one_line_error(decoder, "tune supports classifiers for now");
  const CommandResult regression = run("tune --max-drop 1 --data " + kExamples.string() + " --model " +
                                       (kData / "bert" / "regression_f32").string());
  expect_one_line_error(regression, "is not a classifier");
}

TEST_F(TuneCli, EvalTakesALatencyBudget) {
  const std::string eval = "eval --model " + model_.string() + " --data " + kExamples.string() +
                           " --latency-samples 2 --threads 1 --no-profile ";
  const CommandResult result = run(eval + "--latency-ms 1000 --json");
  ASSERT_EQ(result.exit_code, 0) << result.err;
  const std::vector<std::string> lines = lines_of(result.out);
  ASSERT_EQ(lines.size(), 2u) << result.out;
  const nlohmann::json dense = nlohmann::json::parse(lines[0]);
  const nlohmann::json budget = nlohmann::json::parse(lines[1]);
  EXPECT_EQ(dense["speedup"], 1.0);
  EXPECT_FALSE(dense.contains("latency_ms"));
  EXPECT_TRUE(budget["speedup"].is_null());
  EXPECT_EQ(budget["latency_ms"], 1000.0);
  // A budget far above the dense time keeps everything.
  EXPECT_DOUBLE_EQ(budget["kept_fraction"].get<double>(), 1.0);
  EXPECT_EQ(budget["accuracy"], dense["accuracy"]);
  const CommandResult table = run(eval + "--latency-ms 1000");
  ASSERT_EQ(table.exit_code, 0) << table.err;
  EXPECT_CONTAINS(table.out, "<=1000.00ms");

  expect_one_line_error(run(eval + "--latency-ms -3"), "--latency-ms");
  expect_one_line_error(run(eval + "--latency-ms 5 --speedups 1,2"),
                        "give --speedups or --latency-ms, not both");
}

}  // namespace
