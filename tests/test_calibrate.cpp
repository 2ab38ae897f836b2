// Calibration and the latency fit on a tiny checkpoint.
#include <gtest/gtest.h>

#include "latte/core/error.h"
#include "latte/eval/calibrate.h"
#include "latte/models/registry.h"

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

// A decoder calibrates on its prompts' prefills, through the same code as BERT.
TEST(Calibrate, DecoderPrefillCurvesAndKeepFractions) {
  const std::unique_ptr<CausalLm> model =
      load_causal_lm(std::filesystem::path(LATTE_TEST_DATA_DIR) / "gpt2" / "tiny");
  std::vector<std::vector<int32_t>> prompts;
  uint32_t state = 12345;
  for (int length : {2, 9, 24, 40, 64}) {
    std::vector<int32_t> prompt;
    for (int i = 0; i < length; ++i) {
      state = state * 1664525u + 1013904223u;
      prompt.push_back(static_cast<int32_t>((state >> 8) % static_cast<uint32_t>(model->vocab_size())));
    }
    prompts.push_back(prompt);
  }
  const CalibrationReport report = calibrate(*model, prompts, default_calibration_taus(), nullptr);
  const Calibration& calibration = report.calibration;
  const size_t layers = static_cast<size_t>(model->num_layers());
  EXPECT_EQ(calibration.samples, 5);
  ASSERT_EQ(calibration.acc_curves.size(), layers);
  for (const auto& curve : calibration.acc_curves) {
    ASSERT_EQ(curve.size(), calibration.curve_points.size());
    for (size_t p = 0; p < curve.size(); ++p) {
      EXPECT_GE(curve[p], 0.0);
      EXPECT_LE(curve[p], 1.0 + 1e-9);
      if (p > 0) {
        EXPECT_GE(curve[p], curve[p - 1] - 1e-12);
      }
    }
    EXPECT_NEAR(curve.back(), 1.0, 1e-9);  // every word-vector carries the whole context
  }
  ASSERT_EQ(calibration.keep_fractions.size(), calibration.taus.size());
  for (double fraction : calibration.keep_fractions.front()) EXPECT_NEAR(fraction, 1.0, 1e-12);
  for (size_t t = 0; t < calibration.taus.size(); ++t) {
    ASSERT_EQ(calibration.keep_fractions[t].size(), layers);
    for (size_t layer = 0; layer < layers; ++layer) {
      const double fraction = calibration.keep_fractions[t][layer];
      EXPECT_GT(fraction, 0.0);
      EXPECT_LE(fraction, 1.0);
      if (t > 0) {
        EXPECT_LE(fraction, calibration.keep_fractions[t - 1][layer] + 1e-12);
      }
    }
  }
  EXPECT_LT(calibration.keep_fractions.back().back(), 0.5);  // tau 0.1 drops most word-vectors
  EXPECT_THROW(calibrate(*model, {}, default_calibration_taus(), nullptr), InputError);
  EXPECT_THROW(calibrate(*model, {{5, 6}, {}}, default_calibration_taus(), nullptr), InputError);
}

}  // namespace
}  // namespace latte
