// latte's T5 against the independent PyTorch reference (tools/reference/t5_reference.py): the
// encoder's output, the decoder's first-step and step logits, greedy ids, and encoder
// elimination (ACC scores, kept positions, the pruned memory the decoder reads), for random
// checkpoints in Hugging Face layout; and the config and weight checks that name what is wrong.
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>

#include "latte/core/error.h"
#include "latte/io/json_file.h"
#include "latte/models/registry.h"
#include "latte/models/t5.h"
#include "test_support.h"

namespace latte {
namespace {

using test_support::error_of;

const std::filesystem::path kT5Data = std::filesystem::path(LATTE_TEST_DATA_DIR) / "t5";
constexpr float kTolerance = 1e-4f;
constexpr float kScoreTolerance = 1e-5f;
const char* const kCases[] = {"tiny_gated", "tiny_relu"};

nlohmann::json read_golden(const std::string& name) {
  std::ifstream file(kT5Data / name / "golden.json");
  return nlohmann::json::parse(file);
}

// Largest |actual - expected| over a row-major block (rows of a nested list, or one flat row).
float max_difference(const float* actual, const nlohmann::json& expected) {
  float worst = 0.0f;
  size_t offset = 0;
  const auto row = [&](const nlohmann::json& values) {
    for (size_t i = 0; i < values.size(); ++i)
      worst = std::max(worst, std::fabs(actual[offset + i] - values[i].get<float>()));
    offset += values.size();
  };
  if (!expected.empty() && expected[0].is_array()) {
    for (const auto& values : expected) row(values);
  } else {
    row(expected);
  }
  return worst;
}

std::unique_ptr<Planner> keep_planner(const std::vector<int64_t>& keep, const T5Model& model) {
  Knobs knobs;
  knobs.keep = keep;
  knobs.mode = PruneMode::kStatic;
  return std::make_unique<Planner>(knobs, model.encoder_shape(), std::nullopt, LatencyModel{}, nullptr);
}

// Greedy decoding from decoder_start_token_id: the ids, and the logits of every step.
std::vector<int32_t> greedy(T5Model& model, Seq2SeqState& state, int count,
                            std::vector<std::vector<float>>& steps) {
  std::vector<int32_t> ids;
  int32_t token = model.decoder_start_token_id();
  for (int step = 0; step < count; ++step) {
    const DecoderOutput out = model.decode(std::span<const int32_t>(&token, 1), state, {});
    const float* logits = out.logits.data();
    steps.emplace_back(logits, logits + model.vocab_size());
    token = static_cast<int32_t>(std::max_element(logits, logits + model.vocab_size()) - logits);
    ids.push_back(token);
  }
  return ids;
}

TEST(T5Golden, DenseEncoderDecoderAndGreedy) {
  for (const char* name : kCases) {
    SCOPED_TRACE(name);
    const nlohmann::json golden = read_golden(name);
    T5Model model = T5Model::load(kT5Data / name);
    const auto source = golden["source_ids"].get<std::vector<int32_t>>();
    const nlohmann::json& dense = golden["dense"];

    const Tensor hidden = model.encoder_hidden(source, {});
    ASSERT_EQ(hidden.shape()[0], static_cast<int64_t>(source.size()));
    EXPECT_LE(max_difference(hidden.data(), dense["encoder_hidden"]), kTolerance);

    Seq2SeqState state = model.encode(source, {});
    EXPECT_EQ(state.source_tokens, static_cast<int64_t>(source.size()));
    std::vector<std::vector<float>> steps;
    const std::vector<int32_t> ids =
        greedy(model, state, static_cast<int>(dense["greedy_ids"].size()), steps);
    EXPECT_EQ(ids, dense["greedy_ids"].get<std::vector<int32_t>>());
    EXPECT_LE(max_difference(steps[0].data(), dense["first_logits"]), kTolerance);
    for (size_t step = 0; step < dense["step_logits"].size(); ++step) {
      EXPECT_LE(max_difference(steps[step].data(), dense["step_logits"][step]), kTolerance)
          << "step " << step;
    }
    // Decoding the whole target at once equals step by step (the self-attention cache).
    Seq2SeqState batch = model.encode(source, {});
    std::vector<int32_t> target = {model.decoder_start_token_id()};
    target.insert(target.end(), ids.begin(), ids.end() - 1);
    DecoderOptions all;
    all.all_logits = true;
    const DecoderOutput out = model.decode(target, batch, all);
    for (size_t step = 0; step < steps.size(); ++step) {
      EXPECT_LE(max_difference(out.logits.data() + step * model.vocab_size(), nlohmann::json(steps[step])),
                1e-4f);
    }
  }
}

TEST(T5Golden, EncoderEliminationMatchesReference) {
  for (const char* name : kCases) {
    SCOPED_TRACE(name);
    const nlohmann::json golden = read_golden(name);
    T5Model model = T5Model::load(kT5Data / name);
    const auto source = golden["source_ids"].get<std::vector<int32_t>>();
    for (const nlohmann::json& pruned : golden["pruned"]) {
      const auto keep = pruned["keep"].get<std::vector<int64_t>>();
      SCOPED_TRACE(pruned["keep"].dump());
      const std::unique_ptr<Planner> planner = keep_planner(keep, model);
      EncoderOptions options;
      options.planner = planner.get();
      std::vector<std::vector<float>> scores;
      options.on_scores = [&](int64_t, std::span<const float> layer) {
        scores.emplace_back(layer.begin(), layer.end());
      };

      const Tensor hidden = model.encoder_hidden(source, options);
      EXPECT_LE(max_difference(hidden.data(), pruned["encoder_hidden"]), kTolerance);
      ASSERT_EQ(scores.size(), pruned["scores"].size());
      for (size_t layer = 0; layer < scores.size(); ++layer) {
        ASSERT_EQ(scores[layer].size(), pruned["scores"][layer].size());
        EXPECT_LE(max_difference(scores[layer].data(), pruned["scores"][layer]), kScoreTolerance);
      }

      Seq2SeqState state = model.encode(source, options);
      const auto kept_positions = pruned["kept_positions"].get<std::vector<std::vector<int64_t>>>();
      EXPECT_EQ(state.memory_positions, kept_positions.back());
      for (size_t layer = 0; layer < kept_positions.size(); ++layer)
        EXPECT_EQ(state.encoder_kept[layer], static_cast<int64_t>(kept_positions[layer].size()));
      EXPECT_EQ(state.memory_positions.back(), static_cast<int64_t>(source.size()) - 1) << "</s> protected";
      EXPECT_EQ(state.cross.layers[0].rows(), static_cast<int64_t>(kept_positions.back().size()));
      std::vector<std::vector<float>> steps;
      const std::vector<int32_t> ids =
          greedy(model, state, static_cast<int>(pruned["greedy_ids"].size()), steps);
      EXPECT_EQ(ids, pruned["greedy_ids"].get<std::vector<int32_t>>());
      EXPECT_LE(max_difference(steps[0].data(), pruned["first_logits"]), kTolerance);
    }
  }
}

TEST(T5Golden, LoadsThroughTheRegistry) {
  const std::unique_ptr<Seq2SeqLm> model = load_seq2seq_lm(kT5Data / "tiny_relu");
  EXPECT_EQ(model->num_encoder_layers(), 2);
  EXPECT_EQ(model->num_decoder_layers(), 2);
  EXPECT_EQ(model->decoder_start_token_id(), 0);
  EXPECT_EQ(model->eos_token_id(), std::optional<int32_t>(1));
  EXPECT_EQ(model->max_source_tokens(), T5Config::kDefaultMaxTokens);
  EXPECT_EQ(model->description().family, "t5");
  EXPECT_THROW(load_causal_lm(kT5Data / "tiny_relu"), InputError);
}

// Bucket rule of modeling_t5.py, spot values worked by hand: 32 buckets, max distance 128.
TEST(T5RelativeBias, BucketsAsHuggingFace) {
  // Bidirectional: 16 per direction, 8 exact; keys after the query in the upper half.
  EXPECT_EQ(T5RelativeBias::bucket(0, true, 32, 128), 0);
  EXPECT_EQ(T5RelativeBias::bucket(-3, true, 32, 128), 3);
  EXPECT_EQ(T5RelativeBias::bucket(3, true, 32, 128), 19);
  // 8 + floor(log(20/8) / log(16) * 8) = 8 + floor(2.64) = 10.
  EXPECT_EQ(T5RelativeBias::bucket(-20, true, 32, 128), 10);
  EXPECT_EQ(T5RelativeBias::bucket(-1000, true, 32, 128), 15);
  // Causal: keys after the query fall in bucket 0; 16 exact buckets backwards.
  EXPECT_EQ(T5RelativeBias::bucket(5, false, 32, 128), 0);
  EXPECT_EQ(T5RelativeBias::bucket(-15, false, 32, 128), 15);
  // 16 + floor(log(40/16) / log(8) * 16) = 16 + floor(7.05) = 23.
  EXPECT_EQ(T5RelativeBias::bucket(-40, false, 32, 128), 23);
  EXPECT_EQ(T5RelativeBias::bucket(-5000, false, 32, 128), 31);
}

// add() against the bucket rule looked up key by key: keys at consecutive positions (a slice of
// the tabulated row, with ends before and past max_distance), keys with gaps (a gather), keys
// beyond every tabulated distance, both directions; and a config with more heads than the rows
// tabulated per head allow (looked up bucket by bucket past a shorter reach).
TEST(T5RelativeBias, AddEqualsTheBucketOfEachKey) {
  std::vector<int64_t> gapped;
  for (int64_t position = 0; gapped.size() < 200; position += 1 + position % 4) gapped.push_back(position);
  std::vector<int64_t> consecutive(300), far(40);
  for (int64_t j = 0; j < 300; ++j) consecutive[static_cast<size_t>(j)] = 100 + j;
  for (int64_t j = 0; j < 40; ++j) far[static_cast<size_t>(j)] = 5000 + 7 * j;
  const std::vector<std::vector<int64_t>> key_sets = {consecutive, gapped, far, {250}, {}};
  for (const int64_t n_heads : {3, 70000}) {
    const int64_t num_buckets = 32, max_distance = 128;
    Tensor table({num_buckets, n_heads});
    for (int64_t i = 0; i < table.numel(); ++i) table.data()[i] = 0.25f * static_cast<float>(i % 997) - 7.0f;
    for (const bool bidirectional : {true, false}) {
      const T5RelativeBias bias(table, bidirectional, max_distance, 512);
      for (const int64_t head : {int64_t{0}, n_heads - 1}) {
        for (const int64_t query : {0, 37, 240, 460, 1000, 6000}) {
          for (const std::vector<int64_t>& keys : key_sets) {
            std::vector<float> logits(keys.size(), 0.5f);
            bias.add(head, query, keys, logits.data());
            for (size_t j = 0; j < keys.size(); ++j) {
              const int64_t bucket =
                  T5RelativeBias::bucket(keys[j] - query, bidirectional, num_buckets, max_distance);
              ASSERT_EQ(logits[j], 0.5f + table.data()[bucket * n_heads + head])
                  << n_heads << " heads, " << (bidirectional ? "bidirectional" : "causal") << ", head "
                  << head << ", query at " << query << ", key " << j << " at " << keys[j];
            }
          }
        }
      }
    }
  }
}

// A copy of tiny_relu with config.json changed by `edit`.
std::filesystem::path edited_copy(const std::string& label,
                                  const std::function<void(nlohmann::json&)>& edit) {
  const std::filesystem::path dir = std::filesystem::path(::testing::TempDir()) / ("t5_" + label);
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  std::filesystem::copy_file(kT5Data / "tiny_relu" / "model.safetensors", dir / "model.safetensors");
  nlohmann::json config = read_json_file(kT5Data / "tiny_relu" / "config.json");
  edit(config);
  std::ofstream(dir / "config.json") << config.dump();
  return dir;
}

TEST(T5BadInput, ConfigErrorsNameTheField) {
  const auto message = [](const std::string& label, const std::function<void(nlohmann::json&)>& edit) {
    const std::filesystem::path dir = edited_copy(label, edit);
    return error_of([&] { T5Model::load(dir); });
  };
  EXPECT_NE(message("ffn", [](auto& c) { c["feed_forward_proj"] = "gated-swish"; })
                .find("feed_forward_proj' is 'gated-swish'"),
            std::string::npos);
  EXPECT_NE(message("buckets0", [](auto& c) { c["relative_attention_num_buckets"] = 0; })
                .find("relative_attention_num_buckets"),
            std::string::npos);
  EXPECT_NE(message("distance_small", [](auto& c) { c["relative_attention_max_distance"] = 4; })
                .find("'relative_attention_max_distance' is 4; with 8 buckets it must exceed 4"),
            std::string::npos);
  EXPECT_NE(message("buckets_big", [](auto& c) { c["relative_attention_num_buckets"] = 5000; })
                .find("'relative_attention_num_buckets' is 5000, above latte's limit of 1024"),
            std::string::npos);
  // 4 heads x 8 != the 24 rows of the stored query weights.
  EXPECT_NE(message("dkv", [](auto& c) { c["d_kv"] = 8; }).find("encoder.block.0.layer.0.SelfAttention"),
            std::string::npos);
  EXPECT_NE(message("start", [](auto& c) { c["decoder_start_token_id"] = 500; })
                .find("'decoder_start_token_id' is 500, outside the vocabulary of 112"),
            std::string::npos);
  EXPECT_NE(message("encoder_only", [](auto& c) { c["architectures"] = {"T5EncoderModel"}; })
                .find("encoder-decoder T5"),
            std::string::npos);
}

TEST(T5BadInput, SourceAndTargetErrors) {
  const std::filesystem::path dir = edited_copy("short", [](auto& c) { c["n_positions"] = 8; });
  T5Model model = T5Model::load(dir);
  const std::vector<int32_t> long_source(9, 5);
  EXPECT_NE(error_of([&] {
              model.encode(long_source, {});
            }).find("the source has 9 tokens; the model takes at most 8"),
            std::string::npos);
  EXPECT_NE(error_of([&] { model.encode({}, {}); }).find("no source tokens"), std::string::npos);
  const std::vector<int32_t> outside = {5, 112, 1};
  EXPECT_NE(error_of([&] { model.encode(outside, {}); }).find("source token id 112 at position 1"),
            std::string::npos);
  Seq2SeqState state = model.encode(std::vector<int32_t>{5, 6, 1}, {});
  const std::vector<int32_t> target(9, 0);
  EXPECT_NE(error_of([&] { model.decode(target, state, {}); }).find("the target would reach 9 tokens"),
            std::string::npos);
  Seq2SeqState empty;
  EXPECT_THROW(model.decode(std::vector<int32_t>{0}, empty, {}), InputError);
}

}  // namespace
}  // namespace latte
