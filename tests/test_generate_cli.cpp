// latte generate and latte bench on a GPT-2 folder: what a user sees, and a one-line error for
// every bad flag or prompt.
#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>
#include <fstream>
#include <nlohmann/json.hpp>

#include "test_support.h"

namespace {

namespace fs = std::filesystem;
using namespace latte::test_support;

const fs::path kTiny = fs::path(LATTE_TEST_DATA_DIR) / "gpt2" / "tiny";

nlohmann::json golden() {
  std::ifstream file(kTiny / "golden.json");
  return nlohmann::json::parse(file);
}

// "1,2,3" of a JSON list of integers.
std::string joined(const nlohmann::json& values) {
  std::string text;
  for (const auto& value : values) {
    if (!text.empty()) text += ',';
    text += std::to_string(value.get<int>());
  }
  return text;
}

std::string prompt_flag(const nlohmann::json& ids) { return "--prompt-ids " + joined(ids); }

// The reference's greedy tokens, up to and including an end-of-text token (latte stops there).
std::vector<int> until_eos(const nlohmann::json& ids, int eos) {
  std::vector<int> tokens;
  for (const auto& id : ids) {
    tokens.push_back(id.get<int>());
    if (tokens.back() == eos) break;
  }
  return tokens;
}

TEST(GenerateCli, JsonMatchesTheReferenceDenseAndPruned) {
  TempDir work("generate");
  const nlohmann::json reference = golden();
  const int eos = nlohmann::json::parse(slurp(kTiny / "config.json"))["eos_token_id"].get<int>();
  const std::string model = "--model " + kTiny.string() + " " + prompt_flag(reference["prompt_ids"]);

  CommandResult dense = run_latte(work.path(), "generate " + model + " --max-new-tokens 8 --json --logits");
  ASSERT_EQ(dense.exit_code, 0) << dense.err;
  const nlohmann::json line = nlohmann::json::parse(dense.out);
  EXPECT_EQ(line["ids"].get<std::vector<int>>(), until_eos(reference["dense"]["greedy_ids"], eos));
  for (const char* key : {"prompt_ids", "kept", "predicted_speedup", "setup_ms", "ttft_ms",
                          "decode_ms_per_token", "kv_cache_bytes", "kv_cache_bytes_dense", "first_logits"}) {
    EXPECT_TRUE(line.contains(key)) << key;
  }
  EXPECT_EQ(line["kv_cache_bytes"], line["kv_cache_bytes_dense"]);
  EXPECT_EQ(line["first_logits"].size(), 128u);

  const nlohmann::json& schedule = reference["pruned"][0];
  const std::string keep = joined(schedule["keep"]);
  CommandResult pruned = run_latte(
      work.path(), "generate " + model + " --max-new-tokens 8 --json --keep " + keep + " --mode static");
  ASSERT_EQ(pruned.exit_code, 0) << pruned.err;
  const nlohmann::json pruned_line = nlohmann::json::parse(pruned.out);
  EXPECT_EQ(pruned_line["ids"].get<std::vector<int>>(), until_eos(schedule["greedy_ids"], eos));
  EXPECT_LT(pruned_line["kv_cache_bytes"].get<double>(), pruned_line["kv_cache_bytes_dense"].get<double>());
  EXPECT_GT(pruned_line["predicted_speedup"].get<double>(), 1.0);
  std::vector<int64_t> expected_kept;
  for (const auto& positions : schedule["kept_positions"]) expected_kept.push_back(positions.size());
  EXPECT_EQ(pruned_line["kept"].get<std::vector<int64_t>>(), expected_kept);
}

TEST(GenerateCli, PlainModeStreamsIdsWithoutATokenizer) {
  TempDir work("generate");
  CommandResult result =
      run_latte(work.path(), "generate --model " + kTiny.string() + " --prompt-ids 5,6,7 --max-new-tokens 3");
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_EQ(lines_of(result.out).size(), 1u);
}

TEST(GenerateCli, SamplingIsReproducibleWithASeed) {
  TempDir work("generate");
  const std::string command =
      "generate --model " + kTiny.string() +
      " --prompt-ids 5,6,7 --max-new-tokens 6 --temperature 1.5 --top-k 20 --top-p 0.9 "
      "--seed 7 --json";
  const CommandResult first = run_latte(work.path(), command);
  const CommandResult second = run_latte(work.path(), command);
  ASSERT_EQ(first.exit_code, 0) << first.err;
  EXPECT_EQ(nlohmann::json::parse(first.out)["ids"], nlohmann::json::parse(second.out)["ids"]);
}

TEST(GenerateCli, BadInputsAreOneLineErrors) {
  TempDir work("generate");
  const std::string model = "generate --model " + kTiny.string() + " ";
  expect_one_line_error(run_latte(work.path(), model + "--prompt-ids 1,2 --max-new-tokens 0"),
                        "--max-new-tokens");
  expect_one_line_error(run_latte(work.path(), model + "--prompt-ids 1,128"), "outside the vocabulary");
  expect_one_line_error(run_latte(work.path(), model + "--prompt-ids 1,x"), "--prompt-ids");
  expect_one_line_error(run_latte(work.path(), model + "--prompt-ids 1,2 --temperature 0"), "temperature");
  expect_one_line_error(run_latte(work.path(), model + "--prompt-ids 1,2 --top-p 1.5"), "top-p");
  expect_one_line_error(run_latte(work.path(), model + "--prompt-ids 1,2 --max-new-tokens 64"), "at most");
  expect_one_line_error(run_latte(work.path(), model + "--prompt-ids 1,2 --speedup 0.5"), "speedup");
  expect_one_line_error(run_latte(work.path(), model), "nothing to continue");
  nlohmann::json long_ids = nlohmann::json::array();
  for (int i = 0; i < 60; ++i) long_ids.push_back(i);
  const std::string long_prompt = joined(long_ids);
  expect_one_line_error(run_latte(work.path(), model + "--prompt-ids " + long_prompt + " --max-new-tokens 8"),
                        "(64 positions)");
  const CommandResult truncated =
      run_latte(work.path(), model + "--prompt-ids " + long_prompt + " --max-new-tokens 8 --truncate --json");
  ASSERT_EQ(truncated.exit_code, 0) << truncated.err;
  EXPECT_EQ(
      truncated.err,
      "latte: notice: 1 of 1 prompt was longer than 56 tokens (64 positions less --max-new-tokens 8) and "
      "was cut to its last 56\n");
  EXPECT_EQ(nlohmann::json::parse(truncated.out)["prompt_ids"].size(), 56u);
  expect_one_line_error(run_latte(work.path(), model + "--prompt-ids " + long_prompt +
                                                   " --max-new-tokens 8 --truncate --no-truncate"),
                        "(64 positions)");
  expect_one_line_error(
      run_latte(work.path(), "generate --model " +
                                 (fs::path(LATTE_TEST_DATA_DIR) / "bert" / "cls3_f32").string() +
                                 " --prompt-ids 1,2"),
      "needs a decoder");
}

// A GPT-2 with a real byte-level BPE tokenizer: `latte init --tokenizer`, text prompts, stop
// strings and perplexity.
class Gpt2TextModel : public ::testing::Test {
 protected:
  void SetUp() override {
    const CommandResult init =
        run_latte(work_.path(), "init --family gpt2 --preset tiny --tokenizer " +
                                    (fs::path(LATTE_TEST_DATA_DIR) / "gpt2_tokenizer" / "small").string() +
                                    " --out " + model_.string());
    ASSERT_EQ(init.exit_code, 0) << init.err;
  }
  TempDir work_{"gpt2text"};
  fs::path model_ = work_ / "model";
};

TEST_F(Gpt2TextModel, InitCopiesTheTokenizerAndGenerateTakesText) {
  EXPECT_TRUE(fs::exists(model_ / "vocab.json"));
  EXPECT_TRUE(fs::exists(model_ / "merges.txt"));
  const nlohmann::json config = nlohmann::json::parse(slurp(model_ / "config.json"));
  EXPECT_EQ(config["vocab_size"].get<int>(), 1257);
  const CommandResult info = run_latte(work_.path(), "info --json --model " + model_.string());
  ASSERT_EQ(info.exit_code, 0) << info.err;
  EXPECT_EQ(nlohmann::json::parse(info.out)["tokenizer"]["kind"], "byte-level-bpe");
  const CommandResult result =
      run_latte(work_.path(),
                "generate --model " + model_.string() + " --max-new-tokens 4 --json \"The quick brown fox\"");
  ASSERT_EQ(result.exit_code, 0) << result.err;
  const nlohmann::json line = nlohmann::json::parse(result.out);
  EXPECT_EQ(line["ids"].size(), 4u);
  EXPECT_TRUE(line["text"].is_string());
  const CommandResult ids =
      run_latte(work_.path(), "tokenize --model " + model_.string() + " --json \"The quick brown fox\"");
  ASSERT_EQ(ids.exit_code, 0) << ids.err;
  EXPECT_EQ(nlohmann::json::parse(ids.out)["ids"], line["prompt_ids"]);
  expect_one_line_error(run_latte(work_.path(), "generate --model " + model_.string() + " \"\""),
                        "prompt is empty");
  spit(work_ / "bad.txt", "caf\xc3 ok\n");
  expect_one_line_error(run_latte(work_.path(), "generate --model " + model_.string() + " --input " +
                                                    (work_ / "bad.txt").string()),
                        "bad.txt:1: invalid UTF-8");
  // An empty input continues nothing and says so.
  spit(work_ / "empty.txt", "");
  const CommandResult empty = run_latte(
      work_.path(), "generate --model " + model_.string() + " --input " + (work_ / "empty.txt").string());
  EXPECT_EQ(empty.exit_code, 0) << empty.err;
  EXPECT_EQ(empty.out, "");
  EXPECT_NE(empty.err.find("no prompts"), std::string::npos) << empty.err;
}

TEST_F(Gpt2TextModel, EachStopFlagTakesOneStringAndTheTextStaysThePrompt) {
  const std::string generate = "generate --model " + model_.string() + " --max-new-tokens 8 --json ";
  const std::string prompt = "\"The quick brown fox\"";
  const CommandResult tokens =
      run_latte(work_.path(), "tokenize --model " + model_.string() + " --json " + prompt);
  ASSERT_EQ(tokens.exit_code, 0) << tokens.err;
  const nlohmann::json prompt_ids = nlohmann::json::parse(tokens.out)["ids"];
  const CommandResult free_run = run_latte(work_.path(), generate + prompt);
  ASSERT_EQ(free_run.exit_code, 0) << free_run.err;
  const std::string text = nlohmann::json::parse(free_run.out)["text"];
  const auto letter = std::find_if(text.begin(), text.end(), [](char c) { return std::isalnum(c) != 0; });
  ASSERT_NE(letter, text.end()) << "greedy continuation without a letter: " << text;
  const std::string stop(1, *letter);

  // `--stop . TEXT`: TEXT is the prompt, not a second stop string.
  CommandResult result = run_latte(work_.path(), generate + "--stop zqzq " + prompt);
  ASSERT_EQ(result.exit_code, 0) << result.err;
  nlohmann::json line = nlohmann::json::parse(result.out);
  EXPECT_EQ(line["prompt_ids"], prompt_ids);
  EXPECT_EQ(line["text"], text);
  // Repeated, every --stop counts: the second one ends the continuation at its first letter.
  result = run_latte(work_.path(), generate + "--stop zqzq --stop " + stop + " " + prompt);
  ASSERT_EQ(result.exit_code, 0) << result.err;
  line = nlohmann::json::parse(result.out);
  EXPECT_EQ(line["prompt_ids"], prompt_ids);
  EXPECT_EQ(line["stop_reason"], "callback");
  EXPECT_NE(line["text"].get<std::string>().find(stop), std::string::npos);
  EXPECT_LE(line["ids"].size(), nlohmann::json::parse(free_run.out)["ids"].size());
}

TEST_F(Gpt2TextModel, EvalLmReportsPerplexityPerSpeedup) {
  std::string text;
  for (int i = 0; i < 40; ++i)
    text += "the cat sat on the mat and looked at the dog " + std::to_string(i) + "\n";
  spit(work_ / "lm.txt", text);
  const CommandResult result = run_latte(
      work_.path(), "eval --model " + model_.string() + " --task lm --data " + (work_ / "lm.txt").string() +
                        " --prompt-len 24 --continuation-len 8 --speedups 1,2 --latency-samples 3 --json");
  ASSERT_EQ(result.exit_code, 0) << result.err;
  const std::vector<std::string> lines = lines_of(result.out);
  ASSERT_EQ(lines.size(), 2u);
  for (const std::string& text_line : lines) {
    const nlohmann::json line = nlohmann::json::parse(text_line);
    EXPECT_GT(line["perplexity"].get<double>(), 1.0);
    EXPECT_GT(line["tokens"].get<int>(), 0);
    EXPECT_TRUE(line.contains("measured_speedup"));
    EXPECT_TRUE(line.contains("next_token_accuracy"));
  }
  EXPECT_LT(nlohmann::json::parse(lines[1])["kept_fraction"].get<double>(), 1.0);
  // Each window's NLL, and each target's perplexity change against S = 1 with its interval.
  const nlohmann::json dense = nlohmann::json::parse(lines[0]), pruned = nlohmann::json::parse(lines[1]);
  const auto window_nll = pruned["window_nll"].get<std::vector<double>>();
  ASSERT_EQ(window_nll.size(), pruned["windows"].get<size_t>());
  double mean = 0.0;
  for (const double nll : window_nll) mean += nll / static_cast<double>(window_nll.size());
  EXPECT_NEAR(mean, pruned["mean_nll"].get<double>(), 1e-9);
  EXPECT_EQ(dense["perplexity_change_pct"].get<double>(), 0.0);
  const double change = pruned["perplexity_change_pct"].get<double>();
  EXPECT_NEAR(change, 100.0 * (pruned["perplexity"].get<double>() / dense["perplexity"].get<double>() - 1.0),
              1e-6);
  const auto interval = pruned["perplexity_change_ci95_pct"].get<std::vector<double>>();
  ASSERT_EQ(interval.size(), 2u);
  EXPECT_LE(interval[0], change);
  EXPECT_GE(interval[1], change);
  const CommandResult text_table = run_latte(
      work_.path(), "eval --model " + model_.string() + " --task lm --data " + (work_ / "lm.txt").string() +
                        " --prompt-len 24 --continuation-len 8 --speedups 1,2 --latency-samples 3");
  ASSERT_EQ(text_table.exit_code, 0) << text_table.err;
  EXPECT_NE(text_table.out.find("ppl vs S=1 [95% CI over windows]"), std::string::npos) << text_table.out;
  // The truncation baseline: a line of its own at S = 2, the prompt cut to its last tokens; compare
  // passes over it.
  const CommandResult cut = run_latte(
      work_.path(), "eval --model " + model_.string() + " --task lm --data " + (work_ / "lm.txt").string() +
                        " --prompt-len 24 --continuation-len 8 --speedups 1,2 --latency-samples 3 "
                        "--truncation-baseline --json");
  ASSERT_EQ(cut.exit_code, 0) << cut.err;
  const std::vector<std::string> cut_lines = lines_of(cut.out);
  ASSERT_EQ(cut_lines.size(), 3u);
  const nlohmann::json truncated = nlohmann::json::parse(cut_lines[2]);
  EXPECT_EQ(nlohmann::json::parse(cut_lines[0])["arm"], "dense");
  EXPECT_EQ(nlohmann::json::parse(cut_lines[1])["arm"], "eliminate");
  EXPECT_EQ(truncated["arm"], "truncate");
  EXPECT_EQ(truncated["speedup"], 2.0);
  EXPECT_LT(truncated["prompt_tokens"].get<int>(), 24);
  EXPECT_EQ(truncated["tokens"], dense["tokens"]);  // the same continuations scored
  spit(work_ / "cut.jsonl", cut.out);
  const CommandResult compared = run_latte(work_.path(), "compare --json " + (work_ / "cut.jsonl").string() +
                                                             " " + (work_ / "cut.jsonl").string());
  ASSERT_EQ(compared.exit_code, 0) << compared.err;
  EXPECT_EQ(lines_of(compared.out).size(), 1u) << compared.out;  // S = 2, eliminated
  expect_one_line_error(
      run_latte(work_.path(), "eval --model " + model_.string() + " --task lm --data " +
                                  (work_ / "lm.txt").string() + " --prompt-len 250 --continuation-len 8"),
      "at most 256");
}

// latte compare: two models' perplexity changes on the same windows, and how much more the
// second rises, each with its interval; runs on other windows are refused.
TEST_F(Gpt2TextModel, CompareTwoModelsOnTheSameWindows) {
  const fs::path other = work_ / "other";
  const CommandResult init =
      run_latte(work_.path(), "init --family gpt2 --preset tiny --seed 2 --tokenizer " +
                                  (fs::path(LATTE_TEST_DATA_DIR) / "gpt2_tokenizer" / "small").string() +
                                  " --out " + other.string());
  ASSERT_EQ(init.exit_code, 0) << init.err;
  std::string text;
  for (int i = 0; i < 40; ++i)
    text += "the cat sat on the mat and looked at the dog " + std::to_string(i) + "\n";
  spit(work_ / "lm.txt", text);
  const auto evaluate = [&](const fs::path& model, const std::string& flags, const std::string& out) {
    const CommandResult result = run_latte(
        work_.path(), "eval --model " + model.string() + " --task lm --data " + (work_ / "lm.txt").string() +
                          " --latency-samples 2 --no-profile --json " + flags);
    ASSERT_EQ(result.exit_code, 0) << result.err;
    spit(work_ / out, result.out);
  };
  evaluate(model_, "--prompt-len 24 --continuation-len 8 --speedups 1,2,3", "a.jsonl");
  evaluate(other, "--prompt-len 24 --continuation-len 8 --speedups 1,3", "b.jsonl");
  const nlohmann::json first = nlohmann::json::parse(lines_of(slurp(work_ / "a.jsonl"))[0]);
  EXPECT_EQ(first["windows_fingerprint"].get<std::string>().size(), 16u);

  const std::string pair = (work_ / "a.jsonl").string() + " " + (work_ / "b.jsonl").string();
  const CommandResult json = run_latte(work_.path(), "compare --json " + pair);
  ASSERT_EQ(json.exit_code, 0) << json.err;
  EXPECT_EQ(json.err, "");  // both runs recorded their windows
  const std::vector<std::string> lines = lines_of(json.out);
  ASSERT_EQ(lines.size(), 1u);  // S = 3, the one speedup above 1 both scored
  const nlohmann::json row = nlohmann::json::parse(lines[0]);
  EXPECT_EQ(row["speedup"].get<double>(), 3.0);
  const double a_change =
      nlohmann::json::parse(lines_of(slurp(work_ / "a.jsonl"))[2])["perplexity_change_pct"];
  const double b_change =
      nlohmann::json::parse(lines_of(slurp(work_ / "b.jsonl"))[1])["perplexity_change_pct"];
  EXPECT_NEAR(row["base_change_pct"].get<double>(), a_change, 1e-9);
  EXPECT_NEAR(row["other_change_pct"].get<double>(), b_change, 1e-9);
  EXPECT_NEAR(row["difference_points"].get<double>(), b_change - a_change, 1e-9);
  const auto interval = row["difference_ci95_points"].get<std::vector<double>>();
  ASSERT_EQ(interval.size(), 2u);
  EXPECT_LE(interval[0], row["difference_points"].get<double>());
  EXPECT_GE(interval[1], row["difference_points"].get<double>());
  const CommandResult table = run_latte(work_.path(), "compare " + pair);
  ASSERT_EQ(table.exit_code, 0) << table.err;
  EXPECT_NE(table.out.find("other - base, points"), std::string::npos) << table.out;

  // Other windows: fewer of them, or as many split elsewhere; a run without S = 1; not lm lines.
  evaluate(other, "--prompt-len 24 --continuation-len 8 --speedups 1,3 --max 2", "fewer.jsonl");
  expect_one_line_error(run_latte(work_.path(), "compare " + pair + "x"), "b.jsonlx");
  expect_one_line_error(run_latte(work_.path(), "compare " + (work_ / "a.jsonl").string() + " " +
                                                    (work_ / "fewer.jsonl").string()),
                        "a paired comparison needs the same windows");
  evaluate(other, "--prompt-len 16 --continuation-len 16 --speedups 1,3", "split.jsonl");
  expect_one_line_error(run_latte(work_.path(), "compare " + (work_ / "a.jsonl").string() + " " +
                                                    (work_ / "split.jsonl").string()),
                        "scored different windows");
  evaluate(other, "--prompt-len 24 --continuation-len 8 --speedups 3", "no-dense.jsonl");
  expect_one_line_error(run_latte(work_.path(), "compare " + (work_ / "a.jsonl").string() + " " +
                                                    (work_ / "no-dense.jsonl").string()),
                        "no line at speedup 1");
  spit(work_ / "classify.jsonl", "{\"speedup\": 1, \"accuracy\": 0.9, \"perplexity\": 3}\n");
  expect_one_line_error(run_latte(work_.path(), "compare " + (work_ / "classify.jsonl").string() + " " +
                                                    (work_ / "a.jsonl").string()),
                        "classify.jsonl:1: no per-window NLLs");
}

TEST_F(Gpt2TextModel, CalibrateWritesTheSidecarThatSpeedupsUse) {
  const std::string generate = "generate --model " + model_.string() +
                               " --max-new-tokens 2 --speedup 2 --no-profile --json \"The quick brown fox\"";
  const CommandResult before = run_latte(work_.path(), generate);
  ASSERT_EQ(before.exit_code, 0) << before.err;
  EXPECT_NE(before.err.find("no calibration"), std::string::npos) << before.err;

  std::string text = ".\n";  // one token: skipped with a notice
  for (int i = 0; i < 6; ++i)
    text += "the cat sat on the mat and looked at the dog number " + std::to_string(i) + "\n";
  spit(work_ / "prompts.txt", text);
  const CommandResult result = run_latte(
      work_.path(), "calibrate --model " + model_.string() + " --input " + (work_ / "prompts.txt").string());
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_NE(result.err.find("prompts.txt:1: skipped"), std::string::npos) << result.err;
  EXPECT_NE(result.out.find("(6 inputs)"), std::string::npos) << result.out;
  const nlohmann::json sidecar = nlohmann::json::parse(slurp(model_ / "latte.json"));
  const int layers = nlohmann::json::parse(slurp(model_ / "config.json"))["n_layer"].get<int>();
  ASSERT_TRUE(sidecar.contains("calibration"));
  EXPECT_EQ(sidecar["calibration"]["acc_curves"].size(), static_cast<size_t>(layers));

  const CommandResult after = run_latte(work_.path(), generate);
  ASSERT_EQ(after.exit_code, 0) << after.err;
  EXPECT_EQ(after.err.find("no calibration"), std::string::npos) << after.err;
  EXPECT_TRUE(nlohmann::json::parse(after.out).contains("kept"));

  spit(work_ / "empty.txt", "");
  expect_one_line_error(run_latte(work_.path(), "calibrate --model " + model_.string() + " --input " +
                                                    (work_ / "empty.txt").string()),
                        "empty.txt");
}

TEST(GenerateCli, InfoDescribesADecoder) {
  TempDir work("generate");
  const CommandResult result = run_latte(work.path(), "info --json --model " + kTiny.string());
  ASSERT_EQ(result.exit_code, 0) << result.err;
  const nlohmann::json info = nlohmann::json::parse(result.out);
  EXPECT_EQ(info["family"], "gpt2");
  EXPECT_EQ(info["layers"], 3);
  EXPECT_TRUE(info["tokenizer"].is_null());
  // Every tensor read in place; the shape of each tensor GPT-2's config implies checked.
  EXPECT_GT(info["checked"]["tensors"].get<int64_t>(), 3 * 12);
  EXPECT_GE(info["checked"]["shapes_checked"].get<int64_t>(), 3 * 12);
}

// bench --json splits resident memory: what loading added (the weights, held once: a tied head
// shares the embedding's table), the KV cache, the timed passes' workspace.
TEST(GenerateCli, BenchSplitsResidentMemory) {
  TempDir work("bench_memory");
  const fs::path model = work.path() / "model";
  // GPT-2 small shape at 2 layers, GPT-2's vocabulary: 23.5 M parameters, 94 MB in f32.
  const CommandResult init = run_latte(
      work.path(), "init --family gpt2 --preset small --layers 2 --vocab-size 50257 --out " + model.string());
  ASSERT_EQ(init.exit_code, 0) << init.err;
  const CommandResult info = run_latte(work.path(), "info --json --model " + model.string());
  ASSERT_EQ(info.exit_code, 0) << info.err;
  [[maybe_unused]] const double weight_bytes =
      4.0 * nlohmann::json::parse(info.out)["parameters"].get<double>();
  const CommandResult result =
      run_latte(work.path(), "bench --model " + model.string() +
                                 " --seq 64 --repeats 1 --warmup 0 --decode-tokens 2 --no-profile --json");
  ASSERT_EQ(result.exit_code, 0) << result.err;
  const nlohmann::json dense = nlohmann::json::parse(lines_of(result.out).at(0));
  ASSERT_TRUE(dense.contains("memory")) << result.out;
  const nlohmann::json& memory = dense["memory"];
  EXPECT_EQ(memory["kv_cache_bytes"], dense["kv_cache_bytes"]);
  const double weights = memory["weights_bytes"].get<double>();
#if !defined(__SANITIZE_ADDRESS__)  // its shadow memory and quarantine count in RSS, not latte's
  EXPECT_GT(weights, 0.8 * weight_bytes) << memory.dump();
  EXPECT_LT(weights, 1.25 * weight_bytes) << "the table twice? " << memory.dump();
#endif
  EXPECT_GE(memory["peak_rss_bytes"].get<double>(), memory["process_bytes"].get<double>() + weights);
  EXPECT_GE(memory["peak_rss_bytes"].get<double>(), memory["run_peak_bytes"].get<double>());
  // False where /proc is read-only (containers, mmdebstrap's hooks): VmHWM cannot be reset, and the
  // run's peak then includes the load's.
  EXPECT_TRUE(memory["run_peak_measured"].is_boolean());
  // The text report says the same in one line.
  const CommandResult text =
      run_latte(work.path(), "bench --model " + model.string() +
                                 " --seq 16 --repeats 1 --warmup 0 --decode-tokens 1 --no-profile");
  ASSERT_EQ(text.exit_code, 0) << text.err;
  EXPECT_CONTAINS(text.out, "memory: weights ");
  EXPECT_CONTAINS(text.out, " MB while loading, ");
}

TEST(GenerateCli, BenchOnADecoderReportsPrefillDecodeAndCache) {
  TempDir work("generate");
  const CommandResult result =
      run_latte(work.path(), "bench --model " + kTiny.string() +
                                 " --seq 32 --keep 20,12,6 --repeats 2 --warmup 1 --decode-tokens 4 --json");
  ASSERT_EQ(result.exit_code, 0) << result.err;
  const std::vector<std::string> lines = lines_of(result.out);
  ASSERT_EQ(lines.size(), 2u);
  const nlohmann::json dense = nlohmann::json::parse(lines[0]);
  const nlohmann::json pruned = nlohmann::json::parse(lines[1]);
  for (const char* key : {"median_ms", "measured_speedup", "kept", "decode_ms_per_token", "kv_cache_bytes"}) {
    EXPECT_TRUE(pruned.contains(key)) << key;
  }
  EXPECT_EQ(pruned["kept"], nlohmann::json::parse("[20,12,6]"));
  EXPECT_EQ(dense["kv_cache_bytes"].get<int64_t>(), 3 * 32 * 32 * 2 * 4);
  EXPECT_EQ(pruned["kv_cache_bytes"].get<int64_t>(), (32 + 20 + 12) * 32 * 2 * 4);
  // The dense decode step against memory: its parts by phase clocks, the bytes it streams and
  // the measured bandwidth; the pruned cache is read faster by the prior too.
  ASSERT_TRUE(dense.contains("decode_breakdown")) << lines[0];
  const nlohmann::json& parts = dense["decode_breakdown"];
  EXPECT_GT(parts["weight_bytes_per_token"].get<double>(), 0.0);
  // 4 steps after 32 cached rows: the mean step attends to 32 + 2 keys in each of 3 layers.
  EXPECT_DOUBLE_EQ(parts["cache_bytes_per_token"].get<double>(), 3.0 * 34 * 32 * 2 * 4);
  EXPECT_GT(parts["memory_bytes_per_second"].get<double>(), 0.0);
  EXPECT_GT(parts["gemv_ms"].get<double>(), 0.0);
  EXPECT_GT(parts["attention_ms"].get<double>(), 0.0);
  EXPECT_LE(parts["gemv_share"].get<double>() + parts["attention_share"].get<double>() +
                parts["rest_share"].get<double>(),
            1.0 + 1e-9);
  EXPECT_FALSE(pruned.contains("decode_breakdown"));
  EXPECT_GT(pruned["predicted_decode_speedup"].get<double>(), 1.0);
}

}  // namespace
