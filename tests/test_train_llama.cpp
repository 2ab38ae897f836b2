// The trainer's libtorch Llama against the engine on the same checkpoints: logits within 1e-4 and
// the same kept counts, dense and with elimination in the prompt, on a Llama with grouped-query
// heads (4 over 2) and llama3 rope scaling, and on a Qwen2 (4 heads over 1, q/k/v biases, its own
// head). Then `latte train clm --family llama`: a short run that learns and saves a
// LlamaForCausalLM folder the engine loads and generates from, resumes exactly, and bad input.
#include <gtest/gtest.h>

#include <sstream>

#include "latte/models/llama.h"
#include "latte/tokenizers/bpe_tokenizer.h"
#include "latte/train/checkpoint.h"
#include "latte/train/llama_modules.h"
#include "latte/train/trainer.h"
#include "test_support.h"
#include "train_support.h"

namespace latte {
namespace {

const std::filesystem::path kData = LATTE_TEST_DATA_DIR;

using test_support::TempDir;

class LlamaTrainParity : public ::testing::TestWithParam<const char*> {
 protected:
  void SetUp() override {
    const std::filesystem::path folder = kData / "llama" / GetParam();
    engine_ = std::make_unique<LlamaModel>(LlamaModel::load(folder));
    torch_model_ = train::LlamaLM(engine_->config());
    train::load_hf_weights(folder, torch_model_->hf_weights(), nullptr);
    torch_model_->eval();
  }

  void expect_same(const Knobs& knobs, int64_t prompt, int64_t continuation) {
    test_support::expect_torch_matches_engine(*engine_, *torch_model_, knobs, prompt, continuation);
  }

  std::unique_ptr<LlamaModel> engine_;
  train::LlamaLM torch_model_{nullptr};
};

TEST_P(LlamaTrainParity, DensePromptAndContinuation) { expect_same(Knobs{}, 40, 12); }

TEST_P(LlamaTrainParity, StaticKeepListThenContinuation) {
  Knobs knobs;
  knobs.keep = std::vector<int64_t>{24, 12, 6};
  knobs.keep->resize(static_cast<size_t>(engine_->num_layers()));  // 3 layers, or Qwen2's 2
  expect_same(knobs, 40, 12);
}

// Coverage keeps a different count in each window: the padded path.
TEST_P(LlamaTrainParity, DynamicCoverageThenContinuation) {
  Knobs knobs;
  knobs.coverage = 0.6;
  expect_same(knobs, 40, 8);
}

INSTANTIATE_TEST_SUITE_P(Folders, LlamaTrainParity, ::testing::Values("tiny", "qwen2"));

TEST(LlamaTrainModule, HfNamesMatchTheEngineSpecs) {
  for (const bool tied : {true, false}) {
    LlamaConfig config = llama_preset("tiny", 300);
    config.tie_word_embeddings = tied;
    train::LlamaLM model(config);
    test_support::expect_weights_match_specs(model->hf_weights(), llama_weight_specs(config));
  }
}

// Hugging Face's initialisation: N(0, 0.02) matrices, unit norms, no biases unless configured.
TEST(LlamaTrainModule, InitialisesAsHuggingFace) {
  torch::manual_seed(1);
  train::LlamaLM model(llama_preset("tiny", 1000));
  for (const auto& [name, weight] : model->hf_weights()) {
    if (weight.dim() == 1) {
      EXPECT_TRUE(weight.eq(1.0f).all().item<bool>()) << name;
    } else {
      EXPECT_NEAR(weight.std().item<double>(), 0.02, 0.002) << name;
      EXPECT_NEAR(weight.mean().item<double>(), 0.0, 0.002) << name;
    }
  }
}

train::CausalLMOptions tiny_llama_options(const TempDir& dir) {
  train::CausalLMOptions options = test_support::tiny_causal_lm_options(dir);
  options.family = "llama";
  return options;
}

// From scratch with elimination: the loss falls; the best checkpoint is a LlamaForCausalLM folder
// the engine loads (its logits those of the torch model, dense and pruned) and `latte generate`
// runs; --score-kept-prompt learns too and trains differently.
TEST(TrainCausalLMLlama, LearnsSavesLoadsInTheEngineAndGenerates) {
  TempDir dir("train_clm_llama");
  const train::CausalLMOptions options = tiny_llama_options(dir);
  std::ostringstream log;
  const train::TrainResult result = train::train_causal_lm(options, log);
  EXPECT_NE(log.str().find("causal-LM training of a Llama (2 layers, hidden 128, 4 heads over 2 key/value "
                           "heads, FFN 344, 32 positions, vocabulary 1257"),
            std::string::npos)
      << log.str();
  ASSERT_EQ(result.losses.size(), 30u);
  EXPECT_LT(test_support::mean(result.losses, 25, 5), 0.7 * test_support::mean(result.losses, 0, 5))
      << log.str();
  ASSERT_TRUE(result.best);
  EXPECT_TRUE(result.best->metrics.contains("S=3")) << result.best->metrics.dump();
  EXPECT_LT(result.best->metrics["S=1"]["perplexity"].get<double>(), 100.0) << log.str();

  const nlohmann::json config = nlohmann::json::parse(test_support::slurp(options.out / "config.json"));
  EXPECT_EQ(config["model_type"], "llama");
  EXPECT_EQ(config["architectures"], nlohmann::json::array({"LlamaForCausalLM"}));
  LlamaModel engine = LlamaModel::load(options.out);
  EXPECT_EQ(engine.config().max_position_embeddings, 32);
  EXPECT_EQ(engine.config().num_key_value_heads, 2);
  EXPECT_TRUE(engine.config().tie_word_embeddings);
  const std::optional<int32_t> end_of_text = ByteLevelBpeTokenizer::from_dir(options.out).end_of_text_id();
  EXPECT_EQ(engine.eos_token_ids(), std::vector<int32_t>{*end_of_text});
  EXPECT_EQ(engine.config().bos_token_id, end_of_text);
  train::LlamaLM reloaded(engine.config());
  train::load_hf_weights(options.out, reloaded->hf_weights(), nullptr);
  reloaded->eval();
  Knobs knobs;
  knobs.speedup = 2.0;
  test_support::expect_torch_matches_engine(engine, *reloaded, Knobs{}, 24, 4);
  test_support::expect_torch_matches_engine(engine, *reloaded, knobs, 24, 4);

  const test_support::CommandResult generated = test_support::run_binary(
      LATTE_CLI_PATH, dir.path(),
      "generate --model " + options.out.string() + " --max-new-tokens 8 'the cat sat'");
  EXPECT_EQ(generated.exit_code, 0) << generated.err;
  EXPECT_FALSE(generated.out.empty()) << generated.err;

  train::CausalLMOptions kept = options;
  kept.out = dir / "kept";
  kept.score_kept_prompt = true;
  kept.steps = 10;
  kept.eval_every = 10;
  const train::TrainResult kept_result = train::train_causal_lm(kept, log);
  EXPECT_NE(log.str().find("pruned batches scored on every surviving row"), std::string::npos) << log.str();
  ASSERT_EQ(kept_result.losses.size(), 10u);
  EXPECT_NE(kept_result.losses, std::vector<double>(result.losses.begin(), result.losses.begin() + 10));
}

// Stopping after step 3 and resuming gives exactly the losses of an uninterrupted run; a resume
// into the state of a GPT-2 run is refused, naming both models.
TEST(TrainCausalLMLlama, ResumeContinuesExactlyAndRefusesAnotherFamily) {
  TempDir dir("train_clm_llama_resume");
  train::CausalLMOptions options = tiny_llama_options(dir);
  test_support::expect_resume_continues_exactly(options, dir / "split");

  std::ostringstream log;
  options.family = "gpt2";
  options.steps = 8;
  EXPECT_EQ(
      test_support::error_of([&] { train::train_causal_lm(options, log); }),
      (options.out / "trainer_state").string() +
          " holds a Llama of 2 layers, hidden 128, 4 heads over 2 key/value heads, FFN 344, 32 positions, "
          "vocabulary 1257; this run trains a GPT-2 of 2 layers, hidden 128, 2 heads, 32 positions, "
          "vocabulary 1257");
}

// The --init folder decides the family: --family llama from a GPT-2 folder fine-tunes the GPT-2.
// An unknown family or a folder of another model type is one error, nothing written.
TEST(TrainCausalLMLlama, InitFolderDecidesTheFamilyAndBadInputIsOneError) {
  TempDir dir("train_clm_llama_init");
  train::CausalLMOptions options = test_support::tiny_causal_lm_options(dir);
  options.steps = 2;
  std::ostringstream log;
  train::train_causal_lm(options, log);
  options.init = options.out;
  options.tokenizer.clear();
  options.out = dir / "tuned";
  options.family = "llama";
  std::ostringstream tuned_log;
  train::train_causal_lm(options, tuned_log);
  EXPECT_NE(tuned_log.str().find("causal-LM training of a GPT-2 ("), std::string::npos) << tuned_log.str();
  EXPECT_EQ(nlohmann::json::parse(test_support::slurp(options.out / "config.json"))["model_type"], "gpt2");

  train::CausalLMOptions bad = tiny_llama_options(dir);
  bad.out = dir / "bad";
  bad.family = "mamba";
  EXPECT_EQ(test_support::error_of([&] { train::train_causal_lm(bad, log); }),
            "unknown family 'mamba' (choose gpt2 or llama)");
  bad.family = "llama";
  bad.preset = "base";
  EXPECT_EQ(test_support::error_of([&] { train::train_causal_lm(bad, log); }),
            "unknown Llama preset 'base' (choose tiny, small, 1b or 8b)");
  bad.preset = "tiny";
  bad.init = kData / "bert" / "cls3_f32";
  const std::string error = test_support::error_of([&] { train::train_causal_lm(bad, log); });
  EXPECT_NE(error.find("latte train clm trains gpt2 and llama"), std::string::npos) << error;
  EXPECT_FALSE(std::filesystem::exists(bad.out));

  const test_support::CommandResult result = test_support::run_binary(
      LATTE_CLI_PATH, dir.path(),
      "train clm --data " + (dir / "train.txt").string() + " --dev " + (dir / "dev.txt").string() +
          " --tokenizer " + (kData / "gpt2_tokenizer" / "small").string() + " --family mamba --out " +
          (dir / "cli").string());
  EXPECT_EQ(result.exit_code, 1);
  EXPECT_EQ(result.err, "latte: error: unknown family 'mamba' (choose gpt2 or llama)\n");
  EXPECT_FALSE(std::filesystem::exists(dir / "cli"));
}

}  // namespace
}  // namespace latte
