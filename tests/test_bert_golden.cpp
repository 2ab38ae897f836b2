// latte's BERT against the independent PyTorch reference (tools/reference):
// golden hidden states, pooled outputs and logits for random checkpoints.
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>

#include "latte/models/bert.h"

namespace latte {
namespace {

const std::filesystem::path kBertData = std::filesystem::path(LATTE_TEST_DATA_DIR) / "bert";
constexpr float kTolerance = 1e-4f;

nlohmann::json read_golden(const std::string& checkpoint) {
  std::ifstream file(kBertData / checkpoint / "golden.json");
  return nlohmann::json::parse(file);
}

// Golden inputs are right-padded; latte takes each sequence unpadded.
std::vector<BertInput> inputs_of(const nlohmann::json& test_case) {
  std::vector<BertInput> batch;
  const auto& ids = test_case["input_ids"];
  for (size_t b = 0; b < ids.size(); ++b) {
    BertInput input;
    for (size_t i = 0; i < ids[b].size(); ++i) {
      if (test_case["attention_mask"][b][i].get<int>() == 0) continue;
      input.input_ids.push_back(ids[b][i].get<int32_t>());
      input.token_type_ids.push_back(test_case["token_type_ids"][b][i].get<int32_t>());
    }
    batch.push_back(std::move(input));
  }
  return batch;
}

float max_difference(const float* actual, const nlohmann::json& expected, size_t count) {
  float worst = 0.0f;
  for (size_t i = 0; i < count; ++i) worst = std::max(worst, std::fabs(actual[i] - expected[i].get<float>()));
  return worst;
}

class BertGolden : public ::testing::TestWithParam<std::string> {};

TEST_P(BertGolden, MatchesPyTorchReference) {
  BertModel model = BertModel::load(kBertData / GetParam());
  const int64_t hidden = model.config().hidden_size;
  const nlohmann::json golden = read_golden(GetParam());
  ASSERT_GE(golden.size(), 4u);
  for (const auto& test_case : golden) {
    SCOPED_TRACE(test_case["name"].get<std::string>());
    const std::vector<BertInput> batch = inputs_of(test_case);
    const BertOutput output = model.forward(batch);
    for (size_t b = 0; b < batch.size(); ++b) {
      const int64_t first = output.offsets[b];
      for (size_t position = 0; position < batch[b].input_ids.size(); ++position) {
        const float* row =
            output.last_hidden_state.data() + (first + static_cast<int64_t>(position)) * hidden;
        EXPECT_LT(max_difference(row, test_case["last_hidden_state"][b][position], hidden), kTolerance)
            << "sequence " << b << " position " << position;
      }
      EXPECT_LT(
          max_difference(output.pooler_output.data() + b * hidden, test_case["pooler_output"][b], hidden),
          kTolerance);
      if (model.config().has_classifier()) {
        const int64_t labels = model.config().num_labels;
        EXPECT_LT(max_difference(output.logits.data() + b * labels, test_case["logits"][b], labels),
                  kTolerance);
      }
    }
  }
}

TEST_P(BertGolden, BatchEqualsOneByOne) {
  BertModel model = BertModel::load(kBertData / GetParam());
  const nlohmann::json golden = read_golden(GetParam());
  for (const auto& test_case : golden) {
    const std::vector<BertInput> batch = inputs_of(test_case);
    if (batch.size() < 2) continue;
    const BertOutput together = model.forward(batch);
    const int64_t hidden = model.config().hidden_size;
    for (size_t b = 0; b < batch.size(); ++b) {
      const BertOutput alone = model.forward({batch[b]});
      for (int64_t i = 0; i < hidden; ++i) {
        EXPECT_NEAR(alone.pooler_output.data()[i], together.pooler_output.data()[b * hidden + i], 1e-5);
      }
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Checkpoints, BertGolden,
                         ::testing::Values("cls3_f32", "cls3_f16", "regression_f32", "base_gamma_beta"));

}  // namespace
}  // namespace latte
