// Calibration and the latency fit on a tiny checkpoint.
#include <gtest/gtest.h>

#include "latte/core/error.h"
#include "latte/eval/calibrate.h"

namespace latte {
namespace {

const std::filesystem::path kBertData = std::filesystem::path(LATTE_TEST_DATA_DIR) / "bert";

std::vector<BertInput> samples() {
  std::vector<BertInput> inputs;
  for (int length : {12, 20, 33, 47, 64}) {
    BertInput input;
    input.input_ids.push_back(2);
    for (int i = 1; i < length - 1; ++i) input.input_ids.push_back(5 + (i * 31 + length * 7) % 110);
    input.input_ids.push_back(3);
    inputs.push_back(input);
  }
  return inputs;
}

TEST(Calibrate, KeepFractionsShrinkWithTauAndDepth) {
  BertModel model = BertModel::load(kBertData / "cls3_f32");
  const CalibrationReport report = calibrate(model, samples(), default_calibration_taus(), nullptr);
  const Calibration& calibration = report.calibration;
  ASSERT_EQ(calibration.keep_fractions.size(), calibration.taus.size());
  for (double fraction : calibration.keep_fractions.front())
    EXPECT_DOUBLE_EQ(fraction, 1.0);  // tau = 1 is dense
  for (size_t t = 1; t < calibration.taus.size(); ++t) {
    for (size_t layer = 0; layer < 2; ++layer) {
      EXPECT_LE(calibration.keep_fractions[t][layer], calibration.keep_fractions[t - 1][layer] + 1e-12);
      if (layer > 0) {
        EXPECT_LE(calibration.keep_fractions[t][layer], calibration.keep_fractions[t][layer - 1]);
      }
    }
  }
  EXPECT_LT(calibration.keep_fractions.back().back(), 0.5);  // tau 0.1 drops most word-vectors
  ASSERT_EQ(report.top_shares.size(), 2u);
  for (const auto& shares : report.top_shares) {
    EXPECT_GT(shares[0], 0.0);
    EXPECT_LE(shares[0], shares[1]);
    EXPECT_LE(shares[1], shares[2]);
    EXPECT_LE(shares[2], 1.0 + 1e-9);
    EXPECT_GE(shares[2], 0.5 - 1e-9);  // the top half carries at least half
  }
  EXPECT_THROW(calibrate(model, {}, default_calibration_taus(), nullptr), InputError);
}

TEST(Calibrate, LatencyFitPredictsItsOwnPoints) {
  BertModel model = BertModel::load(kBertData / "cls3_f32");
  const ProfileReport report = profile_latency(model, {16, 32, 64}, 2, nullptr);
  EXPECT_GT(report.model.seconds_per_gemm_flop, 0.0);
  EXPECT_GE(report.model.seconds_per_attention_flop, 0.0);
  EXPECT_EQ(report.model.source, "profile");
  ASSERT_EQ(report.points.size(), 15u);
  for (const ProfilePoint& point : report.points) {
    EXPECT_GT(point.measured_ms, 0.0);
    EXPECT_GT(point.predicted_ms, 0.0);
  }
  EXPECT_THROW(profile_latency(model, {1000}, 1, nullptr), InputError);
}

}  // namespace
}  // namespace latte
