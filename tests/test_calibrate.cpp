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

}  // namespace
}  // namespace latte
