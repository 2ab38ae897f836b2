// Checks the trainer tests share (they link libtorch; test_support.h does not).
#pragma once

#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <numeric>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "latte/models/causal_lm.h"
#include "latte/models/weight_spec.h"
#include "latte/train/causal_lm_modules.h"
#include "latte/train/torch_ops.h"
#include "latte/train/trainer.h"
#include "test_support.h"

namespace latte::test_support {

// The trainer's parameters carry exactly the engine's tensor names and shapes, in its order.
inline void expect_weights_match_specs(const train::NamedWeights& weights,
                                       const std::vector<WeightSpec>& specs) {
  ASSERT_EQ(weights.size(), specs.size());
  for (size_t i = 0; i < specs.size(); ++i) {
    EXPECT_EQ(weights[i].first, specs[i].name);
    EXPECT_EQ(std::vector<int64_t>(weights[i].second.sizes().begin(), weights[i].second.sizes().end()),
              specs[i].shape)
        << specs[i].name;
  }
}

// Windows of random tokens: [count][length].
inline std::vector<std::vector<int32_t>> random_windows(int64_t count, int64_t length, int64_t vocab_size,
                                                        uint32_t seed) {
  std::mt19937 generator(seed);
  std::uniform_int_distribution<int32_t> token(0, static_cast<int32_t>(vocab_size) - 1);
  std::vector<std::vector<int32_t>> windows(static_cast<size_t>(count));
  for (auto& window : windows) {
    for (int64_t i = 0; i < length; ++i) window.push_back(token(generator));
  }
  return windows;
}

inline torch::Tensor to_ids(const std::vector<std::vector<int32_t>>& windows) {
  torch::Tensor ids = torch::empty(
      {static_cast<int64_t>(windows.size()), static_cast<int64_t>(windows[0].size())}, torch::kLong);
  auto accessor = ids.accessor<int64_t, 2>();
  for (size_t b = 0; b < windows.size(); ++b) {
    for (size_t i = 0; i < windows[b].size(); ++i)
      accessor[static_cast<int64_t>(b)][static_cast<int64_t>(i)] = windows[b][i];
  }
  return ids;
}

// Four windows of `prompt` + `continuation` tokens through the trainer's model and the engine's on
// the same checkpoint: the same kept counts and logits within 1e-4, for the prompt's last row and
// for the continuation (engine: a pruned prefill, then the continuation through the KV cache).
inline void expect_torch_matches_engine(CausalLm& engine, train::CausalLMImpl& torch_model,
                                        const Knobs& knobs, int64_t prompt, int64_t continuation) {
  const Planner planner(knobs, engine.shape(), std::nullopt, LatencyModel{}, nullptr);
  const int64_t vocab = engine.vocab_size();
  const auto windows = random_windows(4, prompt + continuation, vocab, 11);
  torch::NoGradGuard no_grad;
  const train::CausalLMOutput output = torch_model.forward(to_ids(windows), prompt, &planner);
  const torch::Tensor logits =
      torch_model.logits(train::CausalLMImpl::continuation_rows(output)).contiguous();
  ASSERT_EQ(logits.size(1), 1 + continuation);
  bool any_pruned = false;
  for (size_t b = 0; b < windows.size(); ++b) {
    KvCache cache = engine.new_cache();
    DecoderOptions prefill;
    prefill.planner = &planner;
    const std::span<const int32_t> ids(windows[b]);
    const DecoderOutput first = engine.forward(ids.first(static_cast<size_t>(prompt)), cache, prefill);
    EXPECT_EQ(output.kept[b], first.kept) << "window " << b;
    any_pruned = any_pruned || first.kept.back() < prompt;
    std::vector<float> expected(first.logits.data(), first.logits.data() + vocab);
    if (continuation > 0) {
      DecoderOptions all;
      all.all_logits = true;
      const DecoderOutput rest = engine.forward(ids.subspan(static_cast<size_t>(prompt)), cache, all);
      expected.insert(expected.end(), rest.logits.data(), rest.logits.data() + rest.logits.numel());
    }
    const float* actual = logits.data_ptr<float>() + static_cast<int64_t>(b) * logits.size(1) * vocab;
    ASSERT_EQ(static_cast<int64_t>(expected.size()), logits.size(1) * vocab);
    float worst = 0.0f;
    for (size_t i = 0; i < expected.size(); ++i) worst = std::max(worst, std::fabs(actual[i] - expected[i]));
    EXPECT_LE(worst, 1e-4f) << "window " << b;
  }
  if (knobs.any()) {
    EXPECT_TRUE(any_pruned) << "the knobs should eliminate something";
  }
}

// Repetitive text a tiny model learns in a few dozen steps.
inline std::string training_text(int lines) {
  const char* sentences[] = {"the cat sat on the mat and the dog sat on the log.",
                             "a bird in the hand is worth two in the bush.",
                             "one two three four five six seven eight nine ten."};
  std::string text;
  for (int i = 0; i < lines; ++i) text += std::string(sentences[i % 3]) + "\n";
  return text;
}

// A 30-step `latte train clm` run of a tiny model (default family, GPT-2) from scratch on that
// text, with the test data's 1257-token GPT-2 tokenizer, elimination sampled from 1..3.
// A 30-step run of a tiny model from scratch on training_text in dir (train.txt, dev.txt), with
// `tokenizer` and elimination sampled from `range`; the family's own fields are the caller's.
template <typename Options>
Options tiny_text_run(const TempDir& dir, const std::filesystem::path& tokenizer,
                      std::pair<double, double> range) {
  spit(dir / "train.txt", training_text(90));
  spit(dir / "dev.txt", training_text(12));
  Options options;
  options.data = dir / "train.txt";
  options.dev = dir / "dev.txt";
  options.tokenizer = tokenizer;
  options.out = dir / "out";
  options.preset = "tiny";
  options.seq_len = 32;
  options.batch_size = 4;
  options.learning_rate = 3e-3;
  options.warmup_fraction = 0.0;
  options.steps = 30;
  options.eval_every = 15;
  options.train_speedup_range = range;
  options.threads = 1;
  options.interactive = false;
  return options;
}

inline train::CausalLMOptions tiny_causal_lm_options(const TempDir& dir) {
  train::CausalLMOptions options = tiny_text_run<train::CausalLMOptions>(
      dir, std::filesystem::path(LATTE_TEST_DATA_DIR) / "gpt2_tokenizer" / "small", {1.0, 3.0});
  options.dev_windows = 8;
  return options;
}

// Stopping `options`' run after step 3 and resuming it in another --out gives exactly the losses of
// the uninterrupted run; `options` is left as the resumed run (resume on, out the split folder).
inline void expect_resume_continues_exactly(train::CausalLMOptions& options,
                                            const std::filesystem::path& split) {
  options.steps = 6;
  options.eval_every = 3;
  std::ostringstream log;
  const train::TrainResult whole = train::train_causal_lm(options, log);
  ASSERT_EQ(whole.losses.size(), 6u);

  options.out = split;
  options.stop_after = 3;
  const train::TrainResult first = train::train_causal_lm(options, log);
  EXPECT_EQ(first.last_step, 3);
  options.stop_after = 0;
  options.resume = true;
  const train::TrainResult second = train::train_causal_lm(options, log);
  EXPECT_EQ(second.first_step, 3);
  std::vector<double> losses = first.losses;
  losses.insert(losses.end(), second.losses.begin(), second.losses.end());
  ASSERT_EQ(losses.size(), 6u);
  for (size_t i = 0; i < losses.size(); ++i) EXPECT_DOUBLE_EQ(losses[i], whole.losses[i]) << "step " << i + 1;
}

inline double mean(const std::vector<double>& values, size_t first, size_t count) {
  return std::accumulate(values.begin() + static_cast<std::ptrdiff_t>(first),
                         values.begin() + static_cast<std::ptrdiff_t>(first + count), 0.0) /
         static_cast<double>(count);
}

}  // namespace latte::test_support
