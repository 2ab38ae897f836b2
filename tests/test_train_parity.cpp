// The trainer's libtorch BERT against the engine on the same checkpoint:
// logits within 1e-4 and the same kept word-vector counts, dense and with
// elimination (static keep lists and dynamic coverage).
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "latte/models/bert.h"
#include "latte/train/bert_modules.h"
#include "latte/train/checkpoint.h"
#include "train_support.h"

namespace latte {
namespace {

const std::filesystem::path kCheckpoint = std::filesystem::path(LATTE_TEST_DATA_DIR) / "bert" / "cls3_f32";

// [CLS] random tokens [SEP] of mixed lengths, some with a second segment.
std::vector<BertInput> mixed_batch(int64_t vocab_size) {
  std::mt19937 generator(7);
  std::uniform_int_distribution<int32_t> token(5, static_cast<int32_t>(vocab_size) - 1);
  std::vector<BertInput> batch;
  for (int length : {30, 9, 24, 3, 17, 40}) {
    BertInput input;
    input.input_ids.push_back(2);
    for (int i = 0; i < length - 2; ++i) input.input_ids.push_back(token(generator));
    input.input_ids.push_back(3);
    input.token_type_ids.assign(input.input_ids.size(), 0);
    if (length > 20) {
      for (int i = length / 2; i < length; ++i) input.token_type_ids[static_cast<size_t>(i)] = 1;
    }
    batch.push_back(std::move(input));
  }
  return batch;
}

class TrainParity : public ::testing::Test {
 protected:
  void SetUp() override {
    engine_ = std::make_unique<BertModel>(BertModel::load(kCheckpoint));
    torch_model_ = train::BertClassifier(train::read_bert_config(kCheckpoint));
    train::load_hf_weights(kCheckpoint, torch_model_->hf_weights(), nullptr);
    torch_model_->eval();
  }

  void expect_same(const Knobs& knobs) {
    const ModelShape shape = engine_->shape();
    const Planner planner(knobs, shape, std::nullopt, LatencyModel{}, nullptr);
    const std::vector<BertInput> batch = mixed_batch(engine_->config().vocab_size);
    ForwardOptions options;
    options.planner = &planner;
    const BertOutput expected = engine_->forward(batch, options);

    torch::NoGradGuard no_grad;
    const train::ClassifierOutput actual =
        torch_model_(train::make_token_batch(batch, engine_->config().pad_token_id), &planner);
    ASSERT_EQ(actual.kept, expected.kept);
    const torch::Tensor logits = actual.logits.contiguous();
    ASSERT_EQ(logits.numel(), expected.logits.numel());
    float worst = 0.0f;
    for (int64_t i = 0; i < logits.numel(); ++i) {
      worst = std::max(worst, std::fabs(logits.data_ptr<float>()[i] - expected.logits.data()[i]));
    }
    EXPECT_LE(worst, 1e-4f);
  }

  std::unique_ptr<BertModel> engine_;
  train::BertClassifier torch_model_{nullptr};
};

TEST_F(TrainParity, HfNamesMatchTheEngineSpecs) {
  test_support::expect_weights_match_specs(torch_model_->hf_weights(), bert_weight_specs(engine_->config()));
}

TEST_F(TrainParity, Dense) { expect_same(Knobs{}); }

TEST_F(TrainParity, StaticKeepList) {
  Knobs knobs;
  knobs.keep = std::vector<int64_t>{20, 6};
  expect_same(knobs);
}

TEST_F(TrainParity, DynamicCoverage) {
  Knobs knobs;
  knobs.coverage = 0.7;
  expect_same(knobs);
}

TEST_F(TrainParity, TargetSpeedup) {
  Knobs knobs;
  knobs.speedup = 2.5;
  expect_same(knobs);
}

}  // namespace
}  // namespace latte
