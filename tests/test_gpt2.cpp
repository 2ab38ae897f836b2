// latte's decoders (GPT-2; Llama and Qwen2 in the DecoderGolden cases) against the independent
// PyTorch references (tools/reference/gpt2_reference.py, llama_reference.py): dense logits, prefill
// elimination (ACC scores, kept positions, the pruned KV cache), cached decode steps and
// continuation scoring, for random checkpoints in Hugging Face layout. Llama-only checks are in
// test_llama.cpp.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>

#include "latte/core/error.h"
#include "latte/eval/latency_profile.h"
#include "latte/eval/perplexity.h"
#include "latte/generate/generate.h"
#include "latte/io/safetensors.h"
#include "latte/models/gpt2.h"
#include "latte/models/registry.h"
#include "test_support.h"

namespace latte {
namespace {

const std::filesystem::path kData = LATTE_TEST_DATA_DIR;
const std::filesystem::path kGpt2Data = kData / "gpt2";
constexpr float kTolerance = 1e-4f;
// Every decoder family's goldens have one layout: gpt2_reference.py and llama_reference.py.
const char* const kCases[] = {"gpt2/tiny",  "gpt2/tiny_f16",   "gpt2/base_model",
                              "llama/tiny", "llama/tiny_bf16", "llama/qwen2"};

nlohmann::json read_golden(const std::string& name) {
  std::ifstream file(kData / name / "golden.json");
  return nlohmann::json::parse(file);
}

std::vector<int32_t> ids_of(const nlohmann::json& values) { return values.get<std::vector<int32_t>>(); }

// Largest |actual - expected| over a row-major [rows, vocab] block.
float max_difference(const float* actual, const nlohmann::json& expected_rows) {
  float worst = 0.0f;
  size_t offset = 0;
  for (const auto& row : expected_rows) {
    for (size_t i = 0; i < row.size(); ++i) {
      worst = std::max(worst, std::fabs(actual[offset + i] - row[i].get<float>()));
    }
    offset += row.size();
  }
  return worst;
}

std::unique_ptr<Planner> keep_planner(const std::vector<int64_t>& keep, const CausalLm& model) {
  Knobs knobs;
  knobs.keep = keep;
  knobs.mode = PruneMode::kStatic;
  return std::make_unique<Planner>(knobs, model.shape(), std::nullopt, LatencyModel{}, nullptr);
}

// Greedy decode steps after a prefill: the tokens and the logits of the first `logged` steps.
std::vector<int32_t> greedy_steps(CausalLm& model, KvCache& cache, const DecoderOutput& prefill, int count,
                                  std::vector<std::vector<float>>& step_logits, int logged) {
  const int64_t vocab = model.vocab_size();
  std::vector<float> logits(prefill.logits.data(), prefill.logits.data() + vocab);
  std::vector<int32_t> tokens;
  for (int step = 0; step < count; ++step) {
    const auto token = static_cast<int32_t>(std::max_element(logits.begin(), logits.end()) - logits.begin());
    tokens.push_back(token);
    if (step + 1 == count) break;
    const DecoderOutput output = model.forward(std::span<const int32_t>(&token, 1), cache, {});
    logits.assign(output.logits.data(), output.logits.data() + vocab);
    if (step < logged) step_logits.push_back(logits);
  }
  return tokens;
}

class DecoderGolden : public ::testing::TestWithParam<const char*> {
 protected:
  // Through the families table, as the commands load it.
  CausalLm& load() {
    model_ = load_causal_lm(kData / GetParam());
    return *model_;
  }

 private:
  std::unique_ptr<CausalLm> model_;
};

TEST_P(DecoderGolden, DenseLogitsAtEveryPosition) {
  const nlohmann::json golden = read_golden(GetParam());
  CausalLm& model = load();
  KvCache cache = model.new_cache();
  const std::vector<int32_t> prompt = ids_of(golden["prompt_ids"]);
  DecoderOptions options;
  options.all_logits = true;
  const DecoderOutput output = model.forward(prompt, cache, options);
  ASSERT_EQ(output.logits.dim(0), static_cast<int64_t>(prompt.size()));
  EXPECT_LT(max_difference(output.logits.data(), golden["dense"]["logits"]), kTolerance);
  for (const LayerCache& layer : cache.layers) EXPECT_EQ(layer.rows(), static_cast<int64_t>(prompt.size()));
}

TEST_P(DecoderGolden, DenseGreedyDecodeWithCache) {
  const nlohmann::json golden = read_golden(GetParam());
  CausalLm& model = load();
  KvCache cache = model.new_cache();
  const std::vector<int32_t> prompt = ids_of(golden["prompt_ids"]);
  const DecoderOutput prefill = model.forward(prompt, cache, {});
  std::vector<std::vector<float>> steps;
  const std::vector<int32_t> greedy =
      greedy_steps(model, cache, prefill, static_cast<int>(golden["dense"]["greedy_ids"].size()), steps, 3);
  EXPECT_EQ(greedy, ids_of(golden["dense"]["greedy_ids"]));
  for (size_t step = 0; step < steps.size(); ++step) {
    EXPECT_LT(
        max_difference(steps[step].data(), nlohmann::json::array({golden["dense"]["step_logits"][step]})),
        kTolerance)
        << "decode step " << step;
  }
  // generate() runs the same loop.
  GenerationOptions options;
  options.max_new_tokens = static_cast<int64_t>(greedy.size());
  options.stop_at_eos = false;
  const GenerationResult result = generate(model, prompt, options);
  EXPECT_EQ(result.ids, greedy);
  EXPECT_EQ(result.stop_reason, "length");
  EXPECT_EQ(result.kv_cache_bytes, result.kv_cache_bytes_dense);
}

TEST_P(DecoderGolden, PrunedPrefillScoresKeptRowsCacheAndDecode) {
  const nlohmann::json golden = read_golden(GetParam());
  CausalLm& model = load();
  const std::vector<int32_t> prompt = ids_of(golden["prompt_ids"]);
  for (const auto& schedule : golden["pruned"]) {
    const auto keep = schedule["keep"].get<std::vector<int64_t>>();
    SCOPED_TRACE("keep " + schedule["keep"].dump());
    const std::unique_ptr<Planner> planner = keep_planner(keep, model);
    KvCache cache = model.new_cache();
    DecoderOptions options;
    options.planner = planner.get();
    std::vector<std::vector<float>> scores;
    options.on_scores = [&](int64_t, std::span<const float> layer_scores) {
      scores.emplace_back(layer_scores.begin(), layer_scores.end());
    };
    const DecoderOutput prefill = model.forward(prompt, cache, options);
    ASSERT_EQ(scores.size(), schedule["scores"].size());
    for (size_t layer = 0; layer < scores.size(); ++layer) {
      EXPECT_LT(max_difference(scores[layer].data(), nlohmann::json::array({schedule["scores"][layer]})),
                1e-5f)
          << "ACC scores of layer " << layer;
    }
    // Layer l's cache holds the rows that entered it: all for layer 0, then what l-1 kept.
    const auto& kept_positions = schedule["kept_positions"];
    for (size_t layer = 0; layer < cache.layers.size(); ++layer) {
      const std::span<const int64_t> cached = cache.layers[layer].positions();
      EXPECT_EQ(cache.layers[layer].rows(), schedule["cache_rows"][layer].get<int64_t>());
      if (layer > 0) {
        EXPECT_EQ(std::vector<int64_t>(cached.begin(), cached.end()),
                  kept_positions[layer - 1].get<std::vector<int64_t>>())
            << "cache of layer " << layer;
      }
      EXPECT_EQ(prefill.kept[layer], static_cast<int64_t>(kept_positions[layer].size()));
    }
    EXPECT_EQ(prefill.positions.back(), static_cast<int64_t>(prompt.size()) - 1);
    EXPECT_LT(max_difference(prefill.logits.data(), nlohmann::json::array({schedule["last_logits"]})),
              kTolerance);
    std::vector<std::vector<float>> steps;
    const std::vector<int32_t> greedy =
        greedy_steps(model, cache, prefill, static_cast<int>(schedule["greedy_ids"].size()), steps, 3);
    EXPECT_EQ(greedy, ids_of(schedule["greedy_ids"]));
    for (size_t step = 0; step < steps.size(); ++step) {
      EXPECT_LT(max_difference(steps[step].data(), nlohmann::json::array({schedule["step_logits"][step]})),
                kTolerance)
          << "decode step " << step;
    }
  }
}

TEST_P(DecoderGolden, ContinuationScoredAfterDenseAndPrunedPrompt) {
  const nlohmann::json golden = read_golden(GetParam());
  CausalLm& model = load();
  const std::vector<int32_t> prompt = ids_of(golden["prompt_ids"]);
  const std::vector<int32_t> continuation = ids_of(golden["continuation"]["ids"]);
  DecoderOptions all;
  all.all_logits = true;
  for (const bool pruned : {false, true}) {
    SCOPED_TRACE(pruned ? "pruned prompt" : "dense prompt");
    const std::unique_ptr<Planner> planner =
        keep_planner(golden["pruned"][0]["keep"].get<std::vector<int64_t>>(), model);
    KvCache cache = model.new_cache();
    DecoderOptions prefill;
    if (pruned) prefill.planner = planner.get();
    model.forward(prompt, cache, prefill);
    const DecoderOutput output = model.forward(continuation, cache, all);
    ASSERT_EQ(output.logits.dim(0), static_cast<int64_t>(continuation.size()));
    EXPECT_EQ(output.positions.front(), static_cast<int64_t>(prompt.size()));
    EXPECT_LT(max_difference(output.logits.data(),
                             golden["continuation"][pruned ? "pruned_logits" : "dense_logits"]),
              kTolerance);
  }
}

// The perplexity runner against NLLs computed here from the reference's logits.
TEST_P(DecoderGolden, PerplexityOfContinuationMatchesReferenceLogits) {
  const nlohmann::json golden = read_golden(GetParam());
  CausalLm& model = load();
  const std::vector<int32_t> prompt = ids_of(golden["prompt_ids"]);
  const std::vector<int32_t> continuation = ids_of(golden["continuation"]["ids"]);
  const auto nll = [](const nlohmann::json& row, int32_t target) {
    const std::vector<double> logits = row.get<std::vector<double>>();
    const double top = *std::max_element(logits.begin(), logits.end());
    double total = 0.0;
    for (const double logit : logits) total += std::exp(logit - top);
    return std::log(total) - (logits[static_cast<size_t>(target)] - top);
  };
  for (const bool pruned : {false, true}) {
    SCOPED_TRACE(pruned ? "pruned prompt" : "dense prompt");
    const nlohmann::json& first_row =
        pruned ? golden["pruned"][0]["last_logits"] : golden["dense"]["logits"][prompt.size() - 1];
    const nlohmann::json& rows = golden["continuation"][pruned ? "pruned_logits" : "dense_logits"];
    double expected = nll(first_row, continuation[0]);
    for (size_t i = 0; i + 1 < continuation.size(); ++i) expected += nll(rows[i], continuation[i + 1]);
    expected /= static_cast<double>(continuation.size());

    std::vector<int32_t> stream = prompt;
    stream.insert(stream.end(), continuation.begin(), continuation.end());
    const std::vector<LmWindow> windows =
        lm_windows(stream, static_cast<int64_t>(prompt.size()), static_cast<int64_t>(continuation.size()), 0);
    ASSERT_EQ(windows.size(), 1u);
    const std::unique_ptr<Planner> planner =
        keep_planner(golden["pruned"][0]["keep"].get<std::vector<int64_t>>(), model);
    const LmScore score = score_continuations(model, windows, pruned ? planner.get() : nullptr);
    EXPECT_EQ(score.tokens, static_cast<int64_t>(continuation.size()));
    EXPECT_NEAR(score.mean_nll, expected, 1e-4);
    EXPECT_NEAR(score.perplexity, std::exp(expected), 1e-3 * std::exp(expected));
    EXPECT_LT(score.kept_fraction, pruned ? 1.0 : 1.0 + 1e-12);
    // The cache a prompt leaves: each layer holds the rows that entered it, K and V in f32.
    const ModelShape shape = model.shape();
    const std::vector<int64_t> keep = golden["pruned"][0]["keep"].get<std::vector<int64_t>>();
    int64_t cached_rows = 0;
    for (int64_t layer = 0; layer < shape.layers; ++layer) {
      const auto entering = static_cast<int64_t>(prompt.size());
      cached_rows +=
          pruned && layer > 0 ? std::min(keep[static_cast<size_t>(layer - 1)], entering) : entering;
    }
    EXPECT_DOUBLE_EQ(score.kv_cache_bytes,
                     2.0 * sizeof(float) * static_cast<double>(shape.kv_width() * cached_rows));
  }
}

// The prefill is profiled like an encoder pass, into its own layer kind of the latency table.
TEST(Gpt2, PrefillLatencyTableIsProfiledAndPredicts) {
  Gpt2Model model = Gpt2Model::load(kGpt2Data / "tiny");
  ProfileOptions options;
  options.grid = {1, 4, 8, 16, 32, 64};
  options.rounds = 2;
  options.validate = false;
  const ProfileReport report = profile_latency(profile_subject(model), options);
  ASSERT_TRUE(report.table.layers.contains(kDecoderPrefillLayer));
  EXPECT_FALSE(report.table.layers.contains(kEncoderLayer));
  const LatencyModel latency(report.table, kDecoderPrefillLayer);
  const ModelShape shape = model.shape();
  EXPECT_TRUE(shape.causal);
  const double dense = latency.dense_seconds(64, shape);
  const double pruned = latency.forward_seconds(64, {16, 8, 4}, shape);
  EXPECT_GT(dense, 0.0);
  EXPECT_GT(pruned, 0.0);
  // Timings of a tiny model on a busy machine can be flat across the grid, so the profile only
  // promises curves that never fall: fewer rows never predict a slower pass.
  const LayerLatency& prefill = report.table.layer(kDecoderPrefillLayer);
  for (const RowCurve* phase : {&prefill.in, &prefill.kept, &report.table.dense_forward}) {
    for (size_t i = 1; i < phase->seconds.size(); ++i) EXPECT_GE(phase->seconds[i], phase->seconds[i - 1]);
  }
  EXPECT_LE(pruned, latency.forward_seconds(64, {64, 64, 64}, shape));
  EXPECT_THROW(LatencyModel(report.table, kEncoderLayer), FormatError);
  EXPECT_NE(latency_key(model.description()).hash(),
            latency_key(Gpt2Model::load(kGpt2Data / "base_model").description()).hash());
}

TEST(Gpt2, WarmUpChangesNoResultAndGenerateReportsItsSetupApart) {
  // warm_up runs on a scratch cache: a prompt generated after it gives the same tokens and
  // logits as in a fresh process; the planning of the prompt's length is setup, not TTFT.
  const nlohmann::json golden = read_golden("gpt2/tiny");
  const std::vector<int32_t> prompt = ids_of(golden["prompt_ids"]);
  const auto keep = golden["pruned"][0]["keep"].get<std::vector<int64_t>>();
  GenerationOptions options;
  options.max_new_tokens = 6;
  options.keep_first_logits = true;
  options.stop_at_eos = false;
  Gpt2Model fresh = Gpt2Model::load(kGpt2Data / "tiny");
  const std::unique_ptr<Planner> fresh_planner = keep_planner(keep, fresh);
  options.planner = fresh_planner.get();
  const GenerationResult expected = generate(fresh, prompt, options);

  Gpt2Model warmed = Gpt2Model::load(kGpt2Data / "tiny");
  const std::unique_ptr<Planner> planner = keep_planner(keep, warmed);
  EXPECT_GT(warm_up(warmed, planner.get()), 0.0);
  options.planner = planner.get();
  const GenerationResult result = generate(warmed, prompt, options);
  EXPECT_EQ(result.ids, expected.ids);
  EXPECT_EQ(result.first_logits, expected.first_logits);
  EXPECT_EQ(result.kept, expected.kept);
  EXPECT_GT(result.setup_seconds, 0.0);
  EXPECT_GT(result.ttft_seconds, 0.0);
}

TEST(Gpt2, LmWindowsCutTheStreamAndRejectShortText) {
  const std::vector<int32_t> stream = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11};
  const std::vector<LmWindow> windows = lm_windows(stream, 3, 2, 0);
  ASSERT_EQ(windows.size(), 2u);
  EXPECT_EQ(windows[1].prompt, (std::vector<int32_t>{6, 7, 8}));
  EXPECT_EQ(windows[1].continuation, (std::vector<int32_t>{9, 10}));
  EXPECT_EQ(lm_windows(stream, 3, 2, 1).size(), 1u);
  EXPECT_THROW(lm_windows(stream, 10, 2, 0), InputError);
}

INSTANTIATE_TEST_SUITE_P(Checkpoints, DecoderGolden, ::testing::ValuesIn(kCases),
                         [](const ::testing::TestParamInfo<const char*>& param) {
                           std::string name = param.param;
                           std::replace(name.begin(), name.end(), '/', '_');
                           return name;
                         });

TEST(Gpt2, RegistryLoadsByModelType) {
  const std::filesystem::path bert = std::filesystem::path(LATTE_TEST_DATA_DIR) / "bert" / "cls3_f32";
  EXPECT_EQ(std::string(model_family(kGpt2Data / "tiny").model_type), "gpt2");
  EXPECT_EQ(model_family(kGpt2Data / "tiny").kind, ModelKind::kCausalLm);
  EXPECT_EQ(std::string(model_family(bert).model_type), "bert");
  EXPECT_EQ(model_family(bert).kind, ModelKind::kEncoder);
  EXPECT_NO_THROW(load_causal_lm(kGpt2Data / "tiny"));
  EXPECT_EQ(
      test_support::error_of([&] { load_causal_lm(bert); }),
      bert.string() +
          " holds a bert model (encoder); this needs a decoder-only model (gpt2, llama, mistral, qwen2)");
  EXPECT_EQ(test_support::error_of([&] { load_seq2seq_lm(kGpt2Data / "tiny"); }),
            (kGpt2Data / "tiny").string() +
                " holds a gpt2 model (decoder-only); this needs an encoder-decoder model (t5, mt5)");
}

TEST(Gpt2, RegistryIsOneTableOfFamiliesWithTheirInterfaces) {
  std::vector<std::string> types;
  for (const ModelFamily& family : model_families()) {
    types.emplace_back(family.model_type);
    EXPECT_NE(family.linear_weights, nullptr) << family.model_type;
    EXPECT_NE(family.max_input_tokens, nullptr) << family.model_type;
    // A family loads behind exactly the interface of its kind.
    EXPECT_EQ(family.load_causal_lm != nullptr, family.kind == ModelKind::kCausalLm) << family.model_type;
    EXPECT_EQ(family.load_seq2seq_lm != nullptr, family.kind == ModelKind::kSeq2SeqLm) << family.model_type;
  }
  EXPECT_EQ(types, (std::vector<std::string>{"bert", "gpt2", "llama", "mistral", "qwen2", "t5", "mt5"}));
  test_support::TempDir dir("registry");
  test_support::spit(dir / "config.json", R"({"model_type": "mamba"})");
  EXPECT_EQ(test_support::error_of([&] { model_family(dir.path()); }),
            (dir / "config.json").string() +
                ": unknown architecture: model_type 'mamba' (supported: bert, gpt2, llama, mistral, qwen2, "
                "t5, mt5)");
}

TEST(Gpt2, MaxInputTokensReadsTheConfigOfEitherFamilyAndChecksTheTokenizer) {
  const std::filesystem::path data = LATTE_TEST_DATA_DIR;
  const std::unique_ptr<Tokenizer> wordpiece = load_tokenizer(data / "bert" / "cls3_f32");
  EXPECT_EQ(max_input_tokens(data / "bert" / "cls3_f32", *wordpiece), 64);
  const std::unique_ptr<Tokenizer> bpe = load_tokenizer(data / "gpt2_tokenizer" / "small");  // 1257 tokens
  EXPECT_THROW(max_input_tokens(data / "bert" / "cls3_f32", *bpe), FormatError);
  EXPECT_THROW(max_input_tokens(kGpt2Data / "tiny", *bpe), FormatError);  // vocab_size 128
  test_support::TempDir dir("max_input_tokens");
  test_support::spit(dir / "config.json",
                     R"({"model_type": "gpt2", "vocab_size": 1257, "n_positions": 100})");
  EXPECT_EQ(max_input_tokens(dir.path(), *bpe), 100);
  test_support::spit(dir / "config.json", R"({"model_type": "gpt2", "vocab_size": 1257})");
  EXPECT_NE(test_support::error_of([&] { max_input_tokens(dir.path(), *bpe); }).find("n_positions"),
            std::string::npos);
}

TEST(Gpt2, PrunedPrefillShrinksTheCacheAndKeepsSinkAndLastToken) {
  Gpt2Model model = Gpt2Model::load(kGpt2Data / "tiny");
  const std::vector<int32_t> prompt = ids_of(read_golden("gpt2/tiny")["prompt_ids"]);
  const std::vector<int64_t> keep(static_cast<size_t>(model.num_layers()), 2);
  const std::unique_ptr<Planner> planner = keep_planner(keep, model);
  GenerationOptions options;
  options.planner = planner.get();
  options.max_new_tokens = 3;
  options.stop_at_eos = false;
  const GenerationResult result = generate(model, prompt, options);
  EXPECT_EQ(result.ids.size(), 3u);
  EXPECT_LT(result.kv_cache_bytes, result.kv_cache_bytes_dense);
  KvCache cache = model.new_cache();
  DecoderOptions prefill;
  prefill.planner = planner.get();
  model.forward(prompt, cache, prefill);
  const std::span<const int64_t> last_layer = cache.layers.back().positions();
  ASSERT_EQ(last_layer.size(), 2u);
  EXPECT_EQ(last_layer[0], 0);
  EXPECT_EQ(last_layer[1], static_cast<int64_t>(prompt.size()) - 1);
}

// A copy of the tiny checkpoint with its config edited and tensors added, for loader errors.
class Gpt2BadCheckpoint : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() / ("latte_gpt2_bad_" + std::to_string(::getpid()));
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
    std::filesystem::copy_file(kGpt2Data / "tiny" / "config.json", dir_ / "config.json");
    std::filesystem::copy_file(kGpt2Data / "tiny" / "model.safetensors", dir_ / "model.safetensors");
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  void edit_config(const std::function<void(nlohmann::json&)>& change) {
    nlohmann::json config = nlohmann::json::parse(std::ifstream(dir_ / "config.json"));
    change(config);
    std::ofstream(dir_ / "config.json") << config.dump();
  }
  void add_tensor(const std::string& name, std::vector<int64_t> shape) {
    const WeightStore store = WeightStore::open(kGpt2Data / "tiny");
    std::vector<std::pair<std::string, Tensor>> tensors;
    for (const std::string& existing : store.names()) {
      tensors.emplace_back(existing, store.load(existing, store.entry(existing).shape));
    }
    tensors.emplace_back(name, Tensor(std::move(shape)));
    write_safetensors(dir_ / "model.safetensors", tensors, DType::F32, {});
  }
  std::string load_error() {
    try {
      Gpt2Model::load(dir_);
    } catch (const Error& error) {
      return error.what();
    }
    return "";
  }
  std::filesystem::path dir_;
};

TEST_F(Gpt2BadCheckpoint, WidthNotDivisibleByHeads) {
  edit_config([](nlohmann::json& config) { config["n_head"] = 5; });
  EXPECT_NE(load_error().find("n_embd 32 is not divisible by n_head 5"), std::string::npos) << load_error();
}

TEST_F(Gpt2BadCheckpoint, UntiedHeadOfTheWrongShape) {
  add_tensor("lm_head.weight", {5, 32});
  EXPECT_NE(load_error().find("lm_head.weight"), std::string::npos) << load_error();
}

TEST_F(Gpt2BadCheckpoint, TensorsTheConfigDoesNotDescribe) {
  add_tensor("transformer.h.3.ln_1.weight", {32});
  EXPECT_NE(load_error().find("transformer.h.3.ln_1.weight"), std::string::npos) << load_error();
}

TEST_F(Gpt2BadCheckpoint, UnsupportedConfigFields) {
  edit_config([](nlohmann::json& config) { config["scale_attn_by_inverse_layer_idx"] = true; });
  EXPECT_NE(load_error().find("scale_attn_by_inverse_layer_idx"), std::string::npos) << load_error();
  edit_config([](nlohmann::json& config) {
    config["scale_attn_by_inverse_layer_idx"] = false;
    config["model_type"] = "mamba";
  });
  EXPECT_NE(load_error().find("model_type is 'mamba'"), std::string::npos) << load_error();
  EXPECT_THROW(model_family(dir_), FormatError);
}

TEST(Gpt2, BadInputsAreClearErrors) {
  Gpt2Model model = Gpt2Model::load(kGpt2Data / "tiny");
  KvCache cache = model.new_cache();
  const std::vector<int32_t> out_of_vocabulary = {1, static_cast<int32_t>(model.vocab_size())};
  EXPECT_THROW(model.forward(out_of_vocabulary, cache, {}), InputError);
  const std::vector<int32_t> too_long(static_cast<size_t>(model.max_positions() + 1), 1);
  EXPECT_THROW(model.forward(too_long, cache, {}), InputError);
  EXPECT_THROW(model.forward(std::vector<int32_t>{}, cache, {}), InputError);
  // Elimination belongs to the prefill.
  const std::vector<int32_t> prompt = {1, 2, 3, 4};
  model.forward(prompt, cache, {});
  const std::unique_ptr<Planner> planner =
      keep_planner(std::vector<int64_t>(static_cast<size_t>(model.num_layers()), 2), model);
  DecoderOptions pruning;
  pruning.planner = planner.get();
  EXPECT_THROW(model.forward(prompt, cache, pruning), InputError);
  GenerationOptions options;
  options.max_new_tokens = model.max_positions();
  EXPECT_THROW(generate(model, prompt, options), InputError);
  options.max_new_tokens = 0;
  EXPECT_THROW(generate(model, prompt, options), InputError);
}

}  // namespace
}  // namespace latte
