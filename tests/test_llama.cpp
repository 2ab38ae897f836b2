// The Llama family beyond the decoder goldens (test_gpt2.cpp's DecoderGolden runs llama/tiny,
// llama/tiny_bf16 and llama/qwen2 against tools/reference/llama_reference.py): config errors,
// generation stopping at any of a list of eos ids, Mistral's sliding window, int8 and bf16, and
// the command line.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>

#include "latte/core/error.h"
#include "latte/core/linear.h"
#include "latte/generate/generate.h"
#include "latte/models/llama.h"
#include "latte/models/registry.h"
#include "test_support.h"

namespace latte {
namespace {

namespace fs = std::filesystem;
using test_support::error_of;
using test_support::run_latte;
using test_support::TempDir;

const fs::path kLlamaData = fs::path(LATTE_TEST_DATA_DIR) / "llama";

nlohmann::json read_json(const fs::path& path) { return nlohmann::json::parse(std::ifstream(path)); }

std::vector<int32_t> prompt_of(const std::string& name) {
  return read_json(kLlamaData / name / "golden.json")["prompt_ids"].get<std::vector<int32_t>>();
}

// A copy of a test checkpoint whose config.json `change` edits.
void copy_with_config(const std::string& name, const fs::path& to,
                      const std::function<void(nlohmann::json&)>& change) {
  fs::create_directories(to);
  fs::copy_file(kLlamaData / name / "model.safetensors", to / "model.safetensors");
  nlohmann::json config = read_json(kLlamaData / name / "config.json");
  change(config);
  std::ofstream(to / "config.json") << config.dump();
}

std::string load_error(const std::string& name, const std::function<void(nlohmann::json&)>& change) {
  TempDir dir("llama_bad");
  copy_with_config(name, dir.path(), change);
  return error_of([&] { LlamaModel::load(dir.path()); });
}

TEST(LlamaConfig, BadFieldsAreErrorsNamingTheFileAndField) {
  struct Case {
    const char* what;
    std::function<void(nlohmann::json&)> change;
    const char* expected;
  };
  const Case cases[] = {
      {"heads", [](nlohmann::json& c) { c["num_key_value_heads"] = 3; },
       "num_attention_heads 4 is not divisible by num_key_value_heads 3"},
      {"rope type", [](nlohmann::json& c) { c["rope_scaling"]["rope_type"] = "yarn"; },
       "field 'rope_scaling' has type 'yarn'; latte supports 'llama3' and none"},
      {"llama3 field", [](nlohmann::json& c) { c["rope_scaling"].erase("low_freq_factor"); },
       "low_freq_factor"},
      {"llama3 order", [](nlohmann::json& c) { c["rope_scaling"]["high_freq_factor"] = 0.5; },
       "'high_freq_factor' must be above 'low_freq_factor'"},
      {"theta", [](nlohmann::json& c) { c["rope_theta"] = 0; }, "field 'rope_theta' must be positive"},
      {"eps", [](nlohmann::json& c) { c["rms_norm_eps"] = -1e-5; }, "field 'rms_norm_eps' must be positive"},
      {"eos list", [](nlohmann::json& c) { c["eos_token_id"] = nlohmann::json::array(); },
       "field 'eos_token_id' is an empty list"},
      {"eos range",
       [](nlohmann::json& c) {
         c["eos_token_id"] = {1, 128};
       },
       "field 'eos_token_id' holds 128, outside the vocabulary of 128"},
      {"activation", [](nlohmann::json& c) { c["hidden_act"] = "gelu"; }, "field 'hidden_act' is 'gelu'"},
      {"partial rotary", [](nlohmann::json& c) { c["partial_rotary_factor"] = 0.5; },
       "partial_rotary_factor"},
      {"model_type", [](nlohmann::json& c) { c["model_type"] = "gemma"; }, "model_type is 'gemma'"},
      {"head_dim odd", [](nlohmann::json& c) { c["head_dim"] = 7; }, "rotary needs an even head_dim"},
  };
  for (const Case& bad : cases) {
    const std::string error = load_error("tiny", bad.change);
    EXPECT_CONTAINS(error, bad.expected);
    EXPECT_CONTAINS(error, "config.json");
  }
}

TEST(LlamaConfig, WeightsThatDoNotFitTheConfigNameTheTensor) {
  // head_dim 10 instead of 12: q_proj holds 48 rows where 40 are expected.
  EXPECT_CONTAINS(load_error("tiny_bf16", [](nlohmann::json& c) { c["head_dim"] = 10; }),
                  "model.layers.0.self_attn.q_proj.bias in");
  // An untied checkpoint said to be tied leaves lm_head.weight unused... and differing.
  EXPECT_CONTAINS(load_error("tiny_bf16", [](nlohmann::json& c) { c["tie_word_embeddings"] = true; }),
                  "lm_head.weight");
  // A tied checkpoint said to be untied misses its head.
  EXPECT_CONTAINS(load_error("tiny", [](nlohmann::json& c) { c["tie_word_embeddings"] = false; }),
                  "'lm_head.weight' is missing");
  EXPECT_CONTAINS(load_error("qwen2", [](nlohmann::json& c) { c["use_sliding_window"] = true; }),
                  "use_sliding_window");
}

TEST(Llama, GenerationStopsAtAnyOfTheEosIds) {
  const std::vector<int32_t> prompt = prompt_of("tiny_bf16");
  const auto greedy =
      read_json(kLlamaData / "tiny_bf16" / "golden.json")["dense"]["greedy_ids"].get<std::vector<int32_t>>();
  TempDir dir("llama_eos");
  // The third greedy token becomes the second of two eos ids.
  copy_with_config("tiny_bf16", dir.path(), [&](nlohmann::json& c) { c["eos_token_id"] = {111, greedy[2]}; });
  std::unique_ptr<CausalLm> model = load_causal_lm(dir.path());
  EXPECT_EQ(model->eos_token_ids(), (std::vector<int32_t>{111, greedy[2]}));
  GenerationOptions options;
  options.max_new_tokens = 8;
  const GenerationResult result = generate(*model, prompt, options);
  EXPECT_EQ(result.stop_reason, "eos");
  EXPECT_EQ(result.ids, std::vector<int32_t>(greedy.begin(), greedy.begin() + 3));
  options.stop_at_eos = false;
  EXPECT_EQ(generate(*model, prompt, options).ids, greedy);
}

TEST(Llama, MistralRunsWithinItsSlidingWindowAndSaysSoBeyondIt) {
  TempDir dir("mistral");
  copy_with_config("tiny", dir.path(), [](nlohmann::json& c) {
    c["model_type"] = "mistral";
    c["architectures"] = {"MistralForCausalLM"};
    c["sliding_window"] = 24;
    c.erase("attention_bias");
    c.erase("mlp_bias");
  });
  EXPECT_EQ(model_family(dir.path()).model_type, std::string("mistral"));
  std::unique_ptr<CausalLm> mistral = load_causal_lm(dir.path());
  std::unique_ptr<CausalLm> llama = load_causal_lm(kLlamaData / "tiny");
  EXPECT_EQ(mistral->max_positions(), 24);
  const std::vector<int32_t> prompt = prompt_of("tiny");
  KvCache mistral_cache = mistral->new_cache(), llama_cache = llama->new_cache();
  const DecoderOutput a = mistral->forward(prompt, mistral_cache, {});
  const DecoderOutput b = llama->forward(prompt, llama_cache, {});
  EXPECT_TRUE(std::equal(a.logits.data(), a.logits.data() + a.logits.numel(), b.logits.data()));
  GenerationOptions options;
  options.max_new_tokens = 5;
  EXPECT_CONTAINS(error_of([&] { generate(*mistral, prompt, options); }), "the model takes at most 24");
}

TEST(Llama, Int8AndBf16StayCloseToF32AndQuantizeWritesAFolderThatLoads) {
  const std::vector<int32_t> prompt = prompt_of("tiny_bf16");
  const auto last_logits = [&](const fs::path& dir, Precision precision) {
    std::unique_ptr<CausalLm> model = load_causal_lm(dir, precision);
    KvCache cache = model->new_cache();
    const DecoderOutput output = model->forward(prompt, cache, {});
    return std::vector<float>(output.logits.data(), output.logits.data() + output.logits.numel());
  };
  const std::vector<float> dense = last_logits(kLlamaData / "tiny_bf16", Precision::kF32);
  float magnitude = 0.0f;
  for (const float value : dense) magnitude = std::max(magnitude, std::fabs(value));
  for (const Precision precision : {Precision::kInt8, Precision::kBf16}) {
    const std::vector<float> reduced = last_logits(kLlamaData / "tiny_bf16", precision);
    float worst = 0.0f;
    for (size_t i = 0; i < dense.size(); ++i) worst = std::max(worst, std::fabs(reduced[i] - dense[i]));
    EXPECT_LT(worst, 0.05f * magnitude) << precision_name(precision);
    // Where the CPU has no bf16 arithmetic, bf16 runs in f32 on the same (bf16-stored) weights.
    const std::string unavailable = precision_unavailable_reason(precision);
    if (unavailable.empty()) {
      EXPECT_GT(worst, 0.0f) << precision_name(precision) << " computed in f32";
    } else {
      EXPECT_EQ(worst, 0.0f) << precision_name(precision) << " falls back to f32 here: " << unavailable;
    }
  }
  TempDir dir("llama_q8");
  quantize_model_folder(kLlamaData / "tiny_bf16", dir.path() / "q8");
  EXPECT_EQ(stored_precision(dir.path() / "q8"), Precision::kInt8);
  EXPECT_EQ(last_logits(dir.path() / "q8", Precision::kInt8),
            last_logits(kLlamaData / "tiny_bf16", Precision::kInt8));
}

TEST(LlamaCli, GenerateFromIdsMatchesTheReferenceDenseAndPruned) {
  TempDir work("llama_cli");
  const nlohmann::json golden = read_json(kLlamaData / "tiny" / "golden.json");
  std::string ids;
  for (const int32_t id : golden["prompt_ids"].get<std::vector<int32_t>>()) {
    if (!ids.empty()) ids += ',';
    ids += std::to_string(id);
  }
  const std::string model = "--model " + (kLlamaData / "tiny").string() + " --prompt-ids " + ids;
  const auto dense = run_latte(work.path(), "generate " + model + " --max-new-tokens 8 --json");
  ASSERT_EQ(dense.exit_code, 0) << dense.err;
  EXPECT_EQ(nlohmann::json::parse(dense.out)["ids"], golden["dense"]["greedy_ids"]);
  const auto pruned = run_latte(work.path(), "generate " + model + " --keep 8,4,2 --max-new-tokens 8 --json");
  ASSERT_EQ(pruned.exit_code, 0) << pruned.err;
  const nlohmann::json result = nlohmann::json::parse(pruned.out);
  EXPECT_EQ(result["ids"], golden["pruned"][1]["greedy_ids"]);
  EXPECT_EQ(result["kept"], nlohmann::json({8, 4, 2}));
  EXPECT_LT(result["kv_cache_bytes"].get<int64_t>(), result["kv_cache_bytes_dense"].get<int64_t>());
  // Past max_position_embeddings (64): one line naming the limit.
  test_support::expect_one_line_error(
      run_latte(work.path(), "generate " + model + " --max-new-tokens 60 --json"),
      "the model (64 positions) takes at most 4");
}

TEST(LlamaCli, InitWritesARandomLlamaThatGeneratesAndReadsBack) {
  TempDir work("llama_init");
  const fs::path out = work.path() / "model";
  const fs::path tokenizer = fs::path(LATTE_TEST_DATA_DIR) / "llama3_tokenizer" / "small";
  const auto init =
      run_latte(work.path(), "init --family llama --preset tiny --layers 1 --dtype bf16 --tokenizer " +
                                 tokenizer.string() + " --out " + out.string());
  ASSERT_EQ(init.exit_code, 0) << init.err;
  EXPECT_CONTAINS(init.err, "wrote a random tiny Llama (1 layers, hidden 128, 4 heads over 2");
  const LlamaConfig config = LlamaConfig::from_file(out / "config.json");
  EXPECT_EQ(config.num_key_value_heads, 2);
  // The config reads back to what was written.
  nlohmann::json written = read_json(out / "config.json"), again = config.to_json();
  written.erase("torch_dtype");
  again.erase("torch_dtype");
  EXPECT_EQ(written, again);
  EXPECT_EQ(read_json(out / "config.json")["torch_dtype"], "bfloat16");
  const auto generated =
      run_latte(work.path(), "generate --model " + out.string() + " --max-new-tokens 3 --json Hello");
  ASSERT_EQ(generated.exit_code, 0) << generated.err;
  const nlohmann::json result = nlohmann::json::parse(generated.out);
  EXPECT_EQ(result["ids"].size(), 3u);
  EXPECT_EQ(result["prompt_ids"][0], 1259) << "the small Llama 3 tokenizer's <|begin_of_text|> comes first";
  test_support::expect_one_line_error(
      run_latte(work.path(), "init --family llama --preset base --out " + (work.path() / "other").string()),
      "unknown Llama preset 'base' (choose tiny, small, 1b or 8b)");
  EXPECT_FALSE(fs::exists(work.path() / "other"));
}

}  // namespace
}  // namespace latte
