// The trainer's libtorch GPT-2 against the engine on the same checkpoint: logits within 1e-4
// and the same kept counts, dense and with elimination in the prompt, for the prompt's last row
// and for the continuation that follows it (engine: a pruned prefill, then the continuation
// through the KV cache).
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "latte/models/gpt2.h"
#include "latte/train/checkpoint.h"
#include "latte/train/gpt2_modules.h"
#include "train_support.h"

namespace latte {
namespace {

const std::filesystem::path kTinyGpt2 = std::filesystem::path(LATTE_TEST_DATA_DIR) / "gpt2" / "tiny";

// Windows of random tokens: [count][length].
std::vector<std::vector<int32_t>> random_windows(int64_t count, int64_t length, int64_t vocab_size,
                                                 uint32_t seed) {
  std::mt19937 generator(seed);
  std::uniform_int_distribution<int32_t> token(0, static_cast<int32_t>(vocab_size) - 1);
  std::vector<std::vector<int32_t>> windows(static_cast<size_t>(count));
  for (auto& window : windows) {
    for (int64_t i = 0; i < length; ++i) window.push_back(token(generator));
  }
  return windows;
}

torch::Tensor to_ids(const std::vector<std::vector<int32_t>>& windows) {
  torch::Tensor ids = torch::empty(
      {static_cast<int64_t>(windows.size()), static_cast<int64_t>(windows[0].size())}, torch::kLong);
  auto accessor = ids.accessor<int64_t, 2>();
  for (size_t b = 0; b < windows.size(); ++b) {
    for (size_t i = 0; i < windows[b].size(); ++i)
      accessor[static_cast<int64_t>(b)][static_cast<int64_t>(i)] = windows[b][i];
  }
  return ids;
}

class Gpt2TrainParity : public ::testing::Test {
 protected:
  void SetUp() override {
    engine_ = std::make_unique<Gpt2Model>(Gpt2Model::load(kTinyGpt2));
    torch_model_ = train::Gpt2LM(engine_->config());
    train::load_hf_weights(kTinyGpt2, torch_model_->hf_weights(), nullptr);
    torch_model_->eval();
  }

  // Four windows of `prompt` + `continuation` tokens through both models.
  void expect_same(const Knobs& knobs, int64_t prompt, int64_t continuation) {
    const Planner planner(knobs, engine_->shape(), std::nullopt, LatencyModel{}, nullptr);
    const auto windows = random_windows(4, prompt + continuation, engine_->config().vocab_size, 11);
    torch::NoGradGuard no_grad;
    const train::Gpt2Output output = torch_model_(to_ids(windows), prompt, &planner);
    const torch::Tensor logits =
        torch_model_->logits(train::Gpt2LMImpl::continuation_rows(output)).contiguous();
    const int64_t vocab = engine_->config().vocab_size;
    ASSERT_EQ(logits.size(1), 1 + continuation);
    bool any_pruned = false;
    for (size_t b = 0; b < windows.size(); ++b) {
      KvCache cache = engine_->new_cache();
      DecoderOptions prefill;
      prefill.planner = &planner;
      const std::span<const int32_t> ids(windows[b]);
      const DecoderOutput first = engine_->forward(ids.first(static_cast<size_t>(prompt)), cache, prefill);
      EXPECT_EQ(output.kept[b], first.kept) << "window " << b;
      any_pruned = any_pruned || first.kept.back() < prompt;
      std::vector<float> expected(first.logits.data(), first.logits.data() + vocab);
      if (continuation > 0) {
        DecoderOptions all;
        all.all_logits = true;
        const DecoderOutput rest = engine_->forward(ids.subspan(static_cast<size_t>(prompt)), cache, all);
        expected.insert(expected.end(), rest.logits.data(), rest.logits.data() + rest.logits.numel());
      }
      const float* actual = logits.data_ptr<float>() + static_cast<int64_t>(b) * logits.size(1) * vocab;
      ASSERT_EQ(static_cast<int64_t>(expected.size()), logits.size(1) * vocab);
      float worst = 0.0f;
      for (size_t i = 0; i < expected.size(); ++i)
        worst = std::max(worst, std::fabs(actual[i] - expected[i]));
      EXPECT_LE(worst, 1e-4f) << "window " << b;
    }
    if (knobs.any()) {
      EXPECT_TRUE(any_pruned) << "the knobs should eliminate something";
    }
  }

  std::unique_ptr<Gpt2Model> engine_;
  train::Gpt2LM torch_model_{nullptr};
};

TEST_F(Gpt2TrainParity, HfNamesMatchTheEngineSpecs) {
  test_support::expect_weights_match_specs(torch_model_->hf_weights(), gpt2_weight_specs(engine_->config()));
}

TEST_F(Gpt2TrainParity, DensePromptAndContinuation) { expect_same(Knobs{}, 40, 12); }

TEST_F(Gpt2TrainParity, DensePromptOnly) { expect_same(Knobs{}, 50, 0); }

TEST_F(Gpt2TrainParity, StaticKeepListThenContinuation) {
  Knobs knobs;
  knobs.keep = std::vector<int64_t>{24, 12, 6};
  expect_same(knobs, 40, 12);
}

TEST_F(Gpt2TrainParity, TargetSpeedupThenContinuation) {
  Knobs knobs;
  knobs.speedup = 2.5;
  expect_same(knobs, 48, 10);
}

// Coverage keeps a different count in each window: the padded path.
TEST_F(Gpt2TrainParity, DynamicCoverageThenContinuation) {
  Knobs knobs;
  knobs.coverage = 0.6;
  expect_same(knobs, 40, 8);
}

}  // namespace
}  // namespace latte
