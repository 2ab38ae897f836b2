// latte generate on a T5 folder (encoder-decoder): the reference's greedy ids dense and with
// encoder elimination, the JSON contract (encoder_ms within ttft_ms), and one-line errors.
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>

#include "test_support.h"

namespace {

namespace fs = std::filesystem;
using namespace latte::test_support;

const fs::path kGated = fs::path(LATTE_TEST_DATA_DIR) / "t5" / "tiny_gated";

nlohmann::json golden() {
  std::ifstream file(kGated / "golden.json");
  return nlohmann::json::parse(file);
}

std::string joined(const nlohmann::json& values) {
  std::string text;
  for (const auto& value : values) {
    if (!text.empty()) text += ',';
    text += std::to_string(value.get<int64_t>());
  }
  return text;
}

// info describes an encoder-decoder folder from its config, every tensor checked in place.
TEST(T5GenerateCli, InfoDescribesAnEncoderDecoder) {
  TempDir work("t5_info");
  const CommandResult result = run_latte(work.path(), "info --json --model " + kGated.string());
  ASSERT_EQ(result.exit_code, 0) << result.err;
  const nlohmann::json info = nlohmann::json::parse(result.out);
  std::ifstream file(kGated / "config.json");
  const nlohmann::json config = nlohmann::json::parse(file);
  EXPECT_EQ(info["task"], "seq2seq-lm");
  EXPECT_EQ(info["layers"], config["num_layers"]);
  EXPECT_EQ(info["decoder_layers"], config.value("num_decoder_layers", config["num_layers"].get<int64_t>()));
  EXPECT_EQ(info["hidden_size"], config["d_model"]);
  EXPECT_EQ(info["head_dim"], config["d_kv"]);
  EXPECT_GT(info["checked"]["tensors"].get<int64_t>(), 10);
  EXPECT_TRUE(info["tokenizer"].is_null());
}

TEST(T5GenerateCli, JsonMatchesTheReferenceDenseAndPruned) {
  TempDir work("t5_generate");
  const nlohmann::json reference = golden();
  const std::string model = "generate --model " + kGated.string() + " --prompt-ids " +
                            joined(reference["source_ids"]) + " --max-new-tokens 6 --json";

  const CommandResult dense = run_latte(work.path(), model + " --logits");
  ASSERT_EQ(dense.exit_code, 0) << dense.err;
  const nlohmann::json line = nlohmann::json::parse(dense.out);
  EXPECT_EQ(line["ids"], reference["dense"]["greedy_ids"]);
  EXPECT_EQ(line["kept"], nlohmann::json({12, 12}));
  EXPECT_EQ(line["stop_reason"], "length");
  EXPECT_FALSE(line.contains("text")) << "no tokenizer in the folder";
  EXPECT_GT(line["encoder_ms"].get<double>(), 0.0);
  EXPECT_LE(line["encoder_ms"].get<double>(), line["ttft_ms"].get<double>());
  const auto first = line["first_logits"].get<std::vector<float>>();
  const auto expected = reference["dense"]["first_logits"].get<std::vector<float>>();
  ASSERT_EQ(first.size(), expected.size());
  for (size_t i = 0; i < first.size(); ++i) EXPECT_NEAR(first[i], expected[i], 1e-4) << i;

  for (const nlohmann::json& pruned : reference["pruned"]) {
    const CommandResult run =
        run_latte(work.path(), model + " --keep " + joined(pruned["keep"]) + " --mode static");
    ASSERT_EQ(run.exit_code, 0) << run.err;
    const nlohmann::json out = nlohmann::json::parse(run.out);
    EXPECT_EQ(out["ids"], pruned["greedy_ids"]);
    EXPECT_EQ(out["kept"], pruned["keep"]);
    EXPECT_LT(out["kv_cache_bytes"].get<int64_t>(), out["kv_cache_bytes_dense"].get<int64_t>());
  }

  // Sampling runs and is reproducible by its seed.
  const std::string sampled = model + " --temperature 0.8 --top-k 20 --seed 7";
  const CommandResult a = run_latte(work.path(), sampled);
  const CommandResult b = run_latte(work.path(), sampled);
  ASSERT_EQ(a.exit_code, 0) << a.err;
  EXPECT_EQ(nlohmann::json::parse(a.out)["ids"], nlohmann::json::parse(b.out)["ids"]);

  // Without --json and without a tokenizer: the ids, space-separated.
  const CommandResult plain =
      run_latte(work.path(), "generate --model " + kGated.string() + " --prompt-ids " +
                                 joined(reference["source_ids"]) + " --max-new-tokens 6");
  ASSERT_EQ(plain.exit_code, 0) << plain.err;
  std::string ids;
  for (const auto& id : reference["dense"]["greedy_ids"]) {
    if (!ids.empty()) ids += ' ';
    ids += std::to_string(id.get<int>());
  }
  EXPECT_EQ(plain.out, ids + "\n");
}

TEST(T5GenerateCli, BadInputsAreOneLineErrors) {
  TempDir work("t5_generate");
  const std::string model = "generate --model " + kGated.string() + " ";
  expect_one_line_error(run_latte(work.path(), model + "--prompt-ids 5,128,1"),
                        "outside the vocabulary of 128");
  expect_one_line_error(run_latte(work.path(), model + "--prompt-ids 5,1 --max-new-tokens 600"),
                        "--max-new-tokens 600 is above the 512 tokens the model's decoder takes");
  nlohmann::json long_list = nlohmann::json::array();
  for (int i = 0; i < 513; ++i) long_list.push_back(5 + i % 100);
  const std::string long_ids = joined(long_list);
  expect_one_line_error(run_latte(work.path(), model + "--prompt-ids " + long_ids),
                        "the prompt has 513 tokens; the model's encoder takes at most 512");
  const CommandResult truncated = run_latte(work.path(), model + "--prompt-ids " + long_ids +
                                                             ",1 --truncate --json "
                                                             "--max-new-tokens 1");
  ASSERT_EQ(truncated.exit_code, 0) << truncated.err;
  const nlohmann::json line = nlohmann::json::parse(truncated.out);
  EXPECT_EQ(line["prompt_ids"].size(), 512u);
  EXPECT_EQ(line["prompt_ids"].back(), 1) << "the final </s> kept";
  EXPECT_NE(truncated.err.find("cut to its first 511 and final token"), std::string::npos) << truncated.err;
  expect_one_line_error(run_latte(work.path(), model + "--prompt-ids 5,1 --speedup 0.5"), "speedup");

  // A config the model cannot run: one line naming the file and field, nothing written.
  const fs::path bad = work.path() / "bad";
  fs::create_directories(bad);
  fs::copy_file(kGated / "model.safetensors", bad / "model.safetensors");
  nlohmann::json config = nlohmann::json::parse(slurp(kGated / "config.json"));
  config["feed_forward_proj"] = "gated-swish";
  std::ofstream(bad / "config.json") << config.dump();
  const CommandResult result =
      run_latte(work.path(), "generate --model " + bad.string() + " --prompt-ids 5,1");
  expect_one_line_error(result, "feed_forward_proj' is 'gated-swish'");
  EXPECT_TRUE(result.out.empty());
}

}  // namespace
