// The trainer's libtorch GPT-2 against the engine on the same checkpoint: logits within 1e-4
// and the same kept counts, dense and with elimination in the prompt, for the prompt's last row
// and for the continuation that follows it (engine: a pruned prefill, then the continuation
// through the KV cache). Then `latte train clm`: windows, a short run that learns, saves a
// folder the engine loads and generates from, resumes exactly, and refuses bad input.
#include <gtest/gtest.h>

#include <cmath>
#include <numeric>
#include <random>
#include <sstream>

#include "latte/core/cpu.h"
#include "latte/core/error.h"
#include "latte/models/gpt2.h"
#include "latte/tokenizers/bpe_tokenizer.h"
#include "latte/train/checkpoint.h"
#include "latte/train/datasets.h"
#include "latte/train/gpt2_modules.h"
#include "latte/train/trainer.h"
#include "test_support.h"
#include "train_support.h"

namespace latte {
namespace {

const std::filesystem::path kData = LATTE_TEST_DATA_DIR;
const std::filesystem::path kTinyGpt2 = kData / "gpt2" / "tiny";
const std::filesystem::path kTokenizer = kData / "gpt2_tokenizer" / "small";  // 1257 tokens

using test_support::TempDir;

using test_support::random_windows;
using test_support::to_ids;

class Gpt2TrainParity : public ::testing::Test {
 protected:
  void SetUp() override {
    engine_ = std::make_unique<Gpt2Model>(Gpt2Model::load(kTinyGpt2));
    torch_model_ = train::Gpt2LM(engine_->config());
    train::load_hf_weights(kTinyGpt2, torch_model_->hf_weights(), nullptr);
    torch_model_->eval();
  }

  void expect_same(const Knobs& knobs, int64_t prompt, int64_t continuation) {
    test_support::expect_torch_matches_engine(*engine_, *torch_model_, knobs, prompt, continuation);
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

// --score-kept-prompt's rows: every surviving row with the token after its original position.
// Coverage keeps a different count per window, so padding is left out too.
TEST_F(Gpt2TrainParity, SurvivingRowsPredictTheTokenAfterTheirPosition) {
  Knobs knobs;
  knobs.coverage = 0.6;
  const Planner planner(knobs, engine_->shape(), std::nullopt, LatencyModel{}, nullptr);
  const int64_t prompt = 40, continuation = 8;
  const auto windows = random_windows(3, prompt + continuation + 1, engine_->config().vocab_size, 7);
  const torch::Tensor ids = to_ids(windows);
  torch::NoGradGuard no_grad;
  for (const Planner* plan : {static_cast<const Planner*>(nullptr), &planner}) {
    SCOPED_TRACE(plan ? "pruned" : "dense");
    const train::CausalLMOutput output = torch_model_(ids.slice(1, 0, prompt + continuation), prompt, plan);
    const auto [rows, targets] = train::Gpt2LMImpl::surviving_rows(output, ids);
    int64_t expected_rows = 0;
    std::vector<int64_t> expected_targets;
    for (size_t b = 0; b < windows.size(); ++b) {
      const int64_t kept = plan ? output.kept[b].back() : prompt;
      expected_rows += kept + continuation;
      for (int64_t r = 0; r < output.rows.hidden.size(1); ++r) {
        if (!output.rows.valid[static_cast<int64_t>(b)][r].item<bool>()) continue;
        const int64_t position = output.rows.positions[static_cast<int64_t>(b)][r].item<int64_t>();
        expected_targets.push_back(windows[b][static_cast<size_t>(position + 1)]);
      }
    }
    ASSERT_EQ(rows.size(0), expected_rows);
    EXPECT_EQ(rows.size(1), engine_->config().n_embd);
    ASSERT_EQ(targets.numel(), expected_rows);
    for (int64_t i = 0; i < expected_rows; ++i) EXPECT_EQ(targets[i].item<int64_t>(), expected_targets[i]);
    if (!plan) {  // nothing pruned: every position 0..47 predicts the next token
      EXPECT_TRUE(targets.equal(ids.slice(1, 1, prompt + continuation + 1).reshape({-1})));
    } else {
      EXPECT_LT(expected_rows, static_cast<int64_t>(windows.size()) * (prompt + continuation));
    }
  }
}

TEST(CausalLMData, LinesJoinedWithSeparatorsAndCutIntoWindows) {
  // The middle line is longer than a window: it continues into the next one.
  const std::vector<std::vector<int32_t>> lines = {{1, 2}, {3, 4, 5, 6, 7, 8}, {9}};
  const std::vector<std::vector<int32_t>> windows = train::causal_lm_windows(lines, 0, 4, "x.txt");
  EXPECT_EQ(windows, (std::vector<std::vector<int32_t>>{{1, 2, 0, 3}, {4, 5, 6, 7}, {8, 0, 9, 0}}));
  EXPECT_EQ(train::causal_lm_windows(lines, 0, 5, "x.txt").size(), 2u);  // the tail of 2 is dropped
  const std::string error = test_support::error_of([&] { train::causal_lm_windows(lines, 0, 13, "x.txt"); });
  EXPECT_EQ(error, "x.txt: 12 tokens, fewer than one window of 13");
}

using test_support::mean;

// From scratch with elimination: the loss falls; the best checkpoint is a GPT2LMHeadModel folder
// the engine loads (its logits those of the torch model, dense and pruned) and `latte generate`
// runs.
TEST(TrainCausalLM, LearnsSavesLoadsInTheEngineAndGenerates) {
  TempDir dir("train_clm");
  const train::CausalLMOptions options = test_support::tiny_causal_lm_options(dir);
  std::ostringstream log;
  const train::TrainResult result = train::train_causal_lm(options, log);
  ASSERT_EQ(result.losses.size(), 30u);
  EXPECT_LT(mean(result.losses, 25, 5), 0.7 * mean(result.losses, 0, 5)) << log.str();
  ASSERT_TRUE(result.best);
  EXPECT_TRUE(result.best->metrics.contains("S=3")) << result.best->metrics.dump();
  EXPECT_LT(result.best->metrics["S=1"]["perplexity"].get<double>(), 100.0) << log.str();

  Gpt2Model engine = Gpt2Model::load(options.out);
  EXPECT_EQ(engine.config().n_positions, 32);
  EXPECT_EQ(engine.config().vocab_size, 1257);
  ASSERT_EQ(engine.eos_token_ids().size(), 1u);
  EXPECT_EQ(engine.eos_token_ids().front(), ByteLevelBpeTokenizer::from_dir(options.out).end_of_text_id());
  train::Gpt2LM reloaded(engine.config());
  train::load_hf_weights(options.out, reloaded->hf_weights(), nullptr);
  reloaded->eval();
  Knobs knobs;
  knobs.speedup = 2.0;
  const Planner planner(knobs, engine.shape(), std::nullopt, LatencyModel{}, nullptr);
  const auto windows = random_windows(1, 24, 1257, 5);
  for (const Planner* plan : {static_cast<const Planner*>(nullptr), &planner}) {
    KvCache cache = engine.new_cache();
    DecoderOptions prefill;
    prefill.planner = plan;
    const DecoderOutput expected = engine.forward(windows[0], cache, prefill);
    torch::NoGradGuard no_grad;
    const train::CausalLMOutput output = reloaded(to_ids(windows), 24, plan);
    EXPECT_EQ(output.kept[0], expected.kept);
    const torch::Tensor logits = reloaded->logits(train::Gpt2LMImpl::continuation_rows(output)).contiguous();
    for (int64_t i = 0; i < logits.numel(); ++i)
      EXPECT_NEAR(logits.data_ptr<float>()[i], expected.logits.data()[i], 1e-4);
  }

  const test_support::CommandResult generated = test_support::run_binary(
      LATTE_CLI_PATH, dir.path(),
      "generate --model " + options.out.string() + " --max-new-tokens 8 'the cat sat'");
  EXPECT_EQ(generated.exit_code, 0) << generated.err;
  EXPECT_FALSE(generated.out.empty()) << generated.err;
}

// --score-kept-prompt: pruned batches also train on the surviving prompt rows; the run says so,
// learns, and its dev evaluation still scores the continuation only (the same numbers as a
// run without the flag would report for the same model).
TEST(TrainCausalLM, ScoringTheKeptPromptRowsLearnsToo) {
  TempDir dir("train_clm_kept");
  train::CausalLMOptions options = test_support::tiny_causal_lm_options(dir);
  options.score_kept_prompt = true;
  std::ostringstream log;
  const train::TrainResult result = train::train_causal_lm(options, log);
  EXPECT_NE(log.str().find("pruned batches scored on every surviving row"), std::string::npos) << log.str();
  ASSERT_EQ(result.losses.size(), 30u);
  EXPECT_LT(mean(result.losses, 25, 5), 0.7 * mean(result.losses, 0, 5)) << log.str();
  ASSERT_TRUE(result.best);
  EXPECT_LT(result.best->metrics["S=1"]["perplexity"].get<double>(), 100.0) << log.str();
  // Without the flag, the same seed trains differently (pruned batches see other targets).
  TempDir plain_dir("train_clm_plain");
  const train::TrainResult plain =
      train::train_causal_lm(test_support::tiny_causal_lm_options(plain_dir), log);
  ASSERT_EQ(plain.losses.size(), 30u);
  EXPECT_NE(plain.losses, result.losses);
}

// --init: a GPT-2 folder (here one latte wrote) with its own tokenizer starts where it stopped.
TEST(TrainCausalLM, FineTunesFromAGpt2Folder) {
  TempDir dir("train_clm_init");
  train::CausalLMOptions options = test_support::tiny_causal_lm_options(dir);
  std::ostringstream log;
  const train::TrainResult scratch = train::train_causal_lm(options, log);
  options.init = options.out;
  options.tokenizer.clear();
  options.out = dir / "tuned";
  options.steps = 2;
  options.learning_rate = 1e-4;
  const train::TrainResult tuned = train::train_causal_lm(options, log);
  ASSERT_EQ(tuned.losses.size(), 2u);
  EXPECT_LT(tuned.losses[0], 0.5 * scratch.losses[0]) << log.str();
  EXPECT_EQ(test_support::slurp(options.out / "vocab.json"), test_support::slurp(kTokenizer / "vocab.json"));
}

// Stopping after step 3 and resuming gives exactly the losses of an uninterrupted run.
TEST(TrainCausalLM, ResumeContinuesExactly) {
  TempDir dir("train_clm_resume");
  train::CausalLMOptions options = test_support::tiny_causal_lm_options(dir);
  test_support::expect_resume_continues_exactly(options, dir / "split");
}

// Each bad input is one error naming the file or flag, before anything is written to --out.
TEST(TrainCausalLM, BadInputIsOneErrorAndWritesNothing) {
  TempDir dir("train_clm_bad");
  const train::CausalLMOptions good = test_support::tiny_causal_lm_options(dir);
  const auto error_of = [&](const std::function<void(train::CausalLMOptions&)>& change) {
    train::CausalLMOptions options = good;
    change(options);
    std::ostringstream log;
    const std::string error = test_support::error_of([&] { train::train_causal_lm(options, log); });
    EXPECT_FALSE(std::filesystem::exists(good.out / "trainer_state")) << error;
    EXPECT_FALSE(std::filesystem::exists(good.out / "model.safetensors")) << error;
    return error;
  };
  test_support::spit(dir / "empty.txt", "\n \n");
  EXPECT_EQ(error_of([&](auto& options) { options.data = dir / "empty.txt"; }),
            (dir / "empty.txt").string() + ": no text (the file is empty)");
  EXPECT_NE(error_of([&](auto& options) {
              options.dev = dir / "missing.txt";
            }).find((dir / "missing.txt").string()),
            std::string::npos);
  EXPECT_EQ(error_of([&](auto& options) { options.train_speedup_range = std::make_pair(0.5, 3.0); }),
            "--train-speedup-range must be LO,HI with 1 <= LO <= HI <= 10, got 0.5,3");
  EXPECT_EQ(error_of([&](auto& options) { options.train_speedup_range = std::make_pair(2.0, 12.0); }),
            "--train-speedup-range must be LO,HI with 1 <= LO <= HI <= 10, got 2,12");
  EXPECT_EQ(error_of([&](auto& options) { options.init = kTinyGpt2; }),
            "the tokenizer of " + kTokenizer.string() + " has 1257 tokens; " +
                (kTinyGpt2 / "config.json").string() + " has vocab_size 128");
  EXPECT_EQ(error_of([&](auto& options) { options.tokenizer.clear(); }),
            "give --tokenizer (training from scratch) or --init");
  EXPECT_EQ(error_of([&](auto& options) { options.prompt_length_range = std::make_pair(10, 32); }),
            "--prompt-len-range must be LO,HI with 1 <= LO <= HI < --seq-len 32, got 10,32");
}

// A resume from the state of another model (architecture or vocabulary) is refused before
// anything is overwritten.
TEST(TrainCausalLM, ResumeFromAnotherModelIsRefused) {
  TempDir dir("train_clm_other");
  train::CausalLMOptions options = test_support::tiny_causal_lm_options(dir);
  options.steps = 2;
  options.train_speedup_range.reset();
  std::ostringstream log;
  train::train_causal_lm(options, log);
  const std::string saved = test_support::slurp(options.out / "trainer_state" / "model.safetensors");
  options.resume = true;
  options.steps = 4;
  options.layers = 3;
  const std::string error = test_support::error_of([&] { train::train_causal_lm(options, log); });
  EXPECT_EQ(error,
            (options.out / "trainer_state").string() +
                " holds a GPT-2 of 2 layers, hidden 128, 2 heads, 32 positions, vocabulary 1257; this run "
                "trains 3 layers, hidden 128, 2 heads, 32 positions, vocabulary 1257");
  // The same tokenizer with one token more.
  options.layers.reset();
  options.tokenizer = dir / "bigger";
  std::filesystem::create_directories(options.tokenizer);
  nlohmann::json vocab = nlohmann::json::parse(test_support::slurp(kTokenizer / "vocab.json"));
  vocab["zzzz"] = 1257;
  test_support::spit(options.tokenizer / "vocab.json", vocab.dump());
  std::filesystem::copy_file(kTokenizer / "merges.txt", options.tokenizer / "merges.txt");
  EXPECT_EQ(test_support::error_of([&] { train::train_causal_lm(options, log); }),
            (options.out / "trainer_state").string() +
                " holds a GPT-2 of 2 layers, hidden 128, 2 heads, 32 positions, vocabulary 1257; this run "
                "trains 2 layers, hidden 128, 2 heads, 32 positions, vocabulary 1258");
  EXPECT_EQ(test_support::slurp(options.out / "trainer_state" / "model.safetensors"), saved);

  // The state of a BERT fine-tuning run.
  options.out = dir / "bert_run";
  std::filesystem::create_directories(options.out / "trainer_state");
  test_support::spit(options.out / "trainer_state" / "state.json", R"({"task": "classify", "step": 3})");
  EXPECT_EQ(test_support::error_of([&] { train::train_causal_lm(options, log); }),
            (options.out / "trainer_state").string() + " is the state of a 'classify' run, not 'clm'");
}

// Through the command line: one line on stderr naming the flag, exit status 1.
TEST(TrainCausalLM, CliSpeedupRangeOutsideOneToTenIsOneLine) {
  TempDir dir("train_clm_cli");
  const train::CausalLMOptions options = test_support::tiny_causal_lm_options(dir);
  const test_support::CommandResult result = test_support::run_binary(
      LATTE_CLI_PATH, dir.path(),
      "train clm --data " + options.data.string() + " --dev " + options.dev.string() + " --tokenizer " +
          kTokenizer.string() + " --preset tiny --seq-len 32 --train-speedup-range 1,11 --out " +
          (dir / "out").string());
  EXPECT_EQ(result.exit_code, 1);
  EXPECT_EQ(result.err,
            "latte: error: --train-speedup-range must be LO,HI with 1 <= LO <= HI <= 10, got 1,11\n");
  EXPECT_FALSE(std::filesystem::exists(dir / "out"));
}

// A CPU newer than Debian 12's OpenBLAS 0.3.21 (Xeon model 207 here) is taken for a "Prescott",
// whose SSE3 kernels trained 3-4x slower; latte-train then restarts itself with OpenBLAS's best
// kernels for the CPU, unless OPENBLAS_CORETYPE says otherwise.
TEST(TrainBlas, CoresWithoutAvx2AreReplacedOnCpusThatHaveIt) {
  const std::vector<std::string> avx512 = {"avx",      "avx2",     "fma",     "avx512f",
                                           "avx512bw", "avx512vl", "avx512dq"};
  const std::vector<std::string> avx2 = {"avx", "avx2", "fma"};
  EXPECT_EQ(train::openblas_core_override("Prescott", avx512), "SkylakeX");
  EXPECT_EQ(train::openblas_core_override("Sandybridge", avx512), "SkylakeX");
  EXPECT_EQ(train::openblas_core_override("Prescott", avx2), "Haswell");
  EXPECT_EQ(train::openblas_core_override("Core2", avx2), "Haswell");
  EXPECT_EQ(train::openblas_core_override("Prescott", {"avx"}), std::nullopt);
  EXPECT_EQ(train::openblas_core_override("Prescott", {"avx512f", "avx2"}), std::nullopt);  // no FMA
  for (const char* fits : {"Haswell", "ZEN", "SkylakeX", "Cooperlake", "SapphireRapids"}) {
    EXPECT_EQ(train::openblas_core_override(fits, avx512), std::nullopt) << fits;
  }
}

TEST(TrainBlas, TheTrainerRunsOnKernelsThatUseTheCpusAvx2) {
  TempDir dir("train_clm_blas");
  const train::CausalLMOptions options = test_support::tiny_causal_lm_options(dir);
  const test_support::CommandResult result = test_support::run_binary(
      LATTE_CLI_PATH, dir.path(),
      "train clm --data " + options.data.string() + " --dev " + options.dev.string() + " --tokenizer " +
          kTokenizer.string() + " --preset tiny --seq-len 32 --steps 1 --threads 1 --out " +
          (dir / "out").string(),
      "", "-u OPENBLAS_CORETYPE");
  ASSERT_EQ(result.exit_code, 0) << result.err;
  const std::string marker = "OpenBLAS kernels for ";
  const size_t at = result.err.find(marker);
  if (at == std::string::npos) GTEST_SKIP() << "torch's BLAS is not OpenBLAS here: " << result.err;
  const size_t start = at + marker.size();
  const std::string core = result.err.substr(start, result.err.find(' ', start) - start);
  EXPECT_EQ(train::openblas_core_override(core, read_cpu_info().isa), std::nullopt) << result.err;
}

}  // namespace
}  // namespace latte
