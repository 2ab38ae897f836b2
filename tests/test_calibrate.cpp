// Calibration and the latency fit on a tiny checkpoint.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <sstream>

#include "latte/core/error.h"
#include "latte/eval/calibrate.h"
#include "latte/eval/latency_profile.h"
#include "latte/io/safetensors.h"
#include "latte/models/gpt2.h"
#include "latte/models/registry.h"
#include "latte/models/t5.h"
#include "latte/models/weight_spec.h"
#include "test_support.h"

namespace latte {
namespace {

const std::filesystem::path kBertData = std::filesystem::path(LATTE_TEST_DATA_DIR) / "bert";

std::vector<BertInput> samples() {
  std::vector<BertInput> inputs;
  for (int length : {12, 20, 33, 47, 64}) {
    BertInput input;
    input.input_ids.push_back(2);
    for (int i = 1; i < length - 1; ++i) input.input_ids.push_back(5 + (i * 31 + length * 7) % 110);
    input.input_ids.push_back(3);
    inputs.push_back(input);
  }
  return inputs;
}

TEST(Calibrate, KeepFractionsShrinkWithTauAndDepth) {
  BertModel model = BertModel::load(kBertData / "cls3_f32");
  const CalibrationReport report = calibrate(model, samples(), default_calibration_taus(), nullptr);
  const Calibration& calibration = report.calibration;
  ASSERT_EQ(calibration.keep_fractions.size(), calibration.taus.size());
  for (double fraction : calibration.keep_fractions.front())
    EXPECT_DOUBLE_EQ(fraction, 1.0);  // tau = 1 is dense
  for (size_t t = 1; t < calibration.taus.size(); ++t) {
    for (size_t layer = 0; layer < 2; ++layer) {
      EXPECT_LE(calibration.keep_fractions[t][layer], calibration.keep_fractions[t - 1][layer] + 1e-12);
      if (layer > 0) {
        EXPECT_LE(calibration.keep_fractions[t][layer], calibration.keep_fractions[t][layer - 1]);
      }
    }
  }
  EXPECT_LT(calibration.keep_fractions.back().back(), 0.5);  // tau 0.1 drops most word-vectors
  ASSERT_EQ(report.top_shares.size(), 2u);
  for (const auto& shares : report.top_shares) {
    EXPECT_GT(shares[0], 0.0);
    EXPECT_LE(shares[0], shares[1]);
    EXPECT_LE(shares[1], shares[2]);
    EXPECT_LE(shares[2], 1.0 + 1e-9);
    EXPECT_GE(shares[2], 0.5 - 1e-9);  // the top half carries at least half
  }
  EXPECT_THROW(calibrate(model, {}, default_calibration_taus(), nullptr), InputError);
}

// A decoder calibrates on its prompts' prefills, through the same code as BERT.
TEST(Calibrate, DecoderPrefillCurvesAndKeepFractions) {
  const std::unique_ptr<CausalLm> model =
      load_causal_lm(std::filesystem::path(LATTE_TEST_DATA_DIR) / "gpt2" / "tiny");
  std::vector<std::vector<int32_t>> prompts;
  uint32_t state = 12345;
  for (int length : {2, 9, 24, 40, 64}) {
    std::vector<int32_t> prompt;
    for (int i = 0; i < length; ++i) {
      state = state * 1664525u + 1013904223u;
      prompt.push_back(static_cast<int32_t>((state >> 8) % static_cast<uint32_t>(model->vocab_size())));
    }
    prompts.push_back(prompt);
  }
  const CalibrationReport report = calibrate(*model, prompts, default_calibration_taus(), nullptr);
  const Calibration& calibration = report.calibration;
  const size_t layers = static_cast<size_t>(model->num_layers());
  EXPECT_EQ(calibration.samples, 5);
  ASSERT_EQ(calibration.acc_curves.size(), layers);
  for (const auto& curve : calibration.acc_curves) {
    ASSERT_EQ(curve.size(), calibration.curve_points.size());
    for (size_t p = 0; p < curve.size(); ++p) {
      EXPECT_GE(curve[p], 0.0);
      EXPECT_LE(curve[p], 1.0 + 1e-9);
      if (p > 0) {
        EXPECT_GE(curve[p], curve[p - 1] - 1e-12);
      }
    }
    EXPECT_NEAR(curve.back(), 1.0, 1e-9);  // every word-vector carries the whole context
  }
  ASSERT_EQ(calibration.keep_fractions.size(), calibration.taus.size());
  for (double fraction : calibration.keep_fractions.front()) EXPECT_NEAR(fraction, 1.0, 1e-12);
  for (size_t t = 0; t < calibration.taus.size(); ++t) {
    ASSERT_EQ(calibration.keep_fractions[t].size(), layers);
    for (size_t layer = 0; layer < layers; ++layer) {
      const double fraction = calibration.keep_fractions[t][layer];
      EXPECT_GT(fraction, 0.0);
      EXPECT_LE(fraction, 1.0);
      if (t > 0) {
        EXPECT_LE(fraction, calibration.keep_fractions[t - 1][layer] + 1e-12);
      }
    }
  }
  EXPECT_LT(calibration.keep_fractions.back().back(), 0.5);  // tau 0.1 drops most word-vectors
  EXPECT_THROW(calibrate(*model, {}, default_calibration_taus(), nullptr), InputError);
  EXPECT_THROW(calibrate(*model, {{5, 6}, {}}, default_calibration_taus(), nullptr), InputError);
}

// A random tiny GPT-2 with the small byte-level BPE tokenizer, as `latte init --tokenizer` writes it.
void write_tiny_gpt2(const std::filesystem::path& out) {
  const std::filesystem::path tokenizer =
      std::filesystem::path(LATTE_TEST_DATA_DIR) / "gpt2_tokenizer" / "small";
  std::filesystem::create_directories(out);
  for (const char* name : {"vocab.json", "merges.txt"})
    std::filesystem::copy_file(tokenizer / name, out / name);
  const Gpt2Config config = gpt2_preset("tiny", static_cast<int64_t>(load_tokenizer(out)->vocab_size()));
  write_safetensors(out / "model.safetensors", random_weights(gpt2_weight_specs(config), 7), DType::F32, {});
  test_support::spit(out / "config.json", config.to_json().dump());
}

TEST(CalibrateModel, AnEncoderFolderIsCalibratedOnTheFirstInputs) {
  const std::filesystem::path folder = kBertData / "cls3_f32";
  const std::filesystem::path inputs =
      std::filesystem::path(LATTE_TEST_DATA_DIR) / "fixtures" / "eval" / "cls3.jsonl";
  const ModelCalibration all = calibrate_model(folder, inputs.string(), 100, {}, nullptr);
  EXPECT_EQ(all.samples, 6u);
  const ModelCalibration first = calibrate_model(folder, inputs.string(), 2, {.max_length = 8}, nullptr);
  EXPECT_EQ(first.samples, 2u);
  // Both first inputs have more than 6 word pieces, the fixture's longest fits in 64 positions.
  EXPECT_EQ(first.truncation.truncated, 2u);
  EXPECT_EQ(first.truncation.max_length, 8);
  EXPECT_EQ(all.truncation.truncated, 0u);
  EXPECT_EQ(all.truncation.max_length, 64);
  // The same as calibrating the model directly on those two inputs, truncated to 8 tokens.
  BertModel model = BertModel::load(folder);
  const BertTokenizer tokenizer = load_bert_tokenizer(folder, model.config());
  std::vector<BertInput> encoded;
  for (const char* text :
       {"a great movie , i love this film", "the plot was boring and the ending was awful"}) {
    encoded.push_back(BertInput{tokenizer.encode(text, 8).ids, {}});
  }
  const CalibrationReport direct = calibrate(model, encoded, default_calibration_taus(), nullptr);
  EXPECT_EQ(first.report.calibration.keep_fractions, direct.calibration.keep_fractions);
  EXPECT_NE(first.report.calibration.keep_fractions, all.report.calibration.keep_fractions);
  try {
    calibrate_model(folder, inputs.string(), 10, {.max_length = 65}, nullptr);
    ADD_FAILURE() << "no error for max_length above the positions";
  } catch (const FieldError& error) {
    EXPECT_EQ(error.field(), "max_length");
    EXPECT_EQ(error.problem(), "65 exceeds the model's maximum length of 64");
  }
}

TEST(CalibrateModel, ADecoderSkipsOneTokenPromptsWithANotice) {
  test_support::TempDir dir("calibrate_model");
  write_tiny_gpt2(dir / "gpt2");
  test_support::spit(dir / "prompts.txt", ".\nthe cat sat on the mat\nthe dog ran after it\n");
  std::ostringstream log;
  const ModelCalibration calibration =
      calibrate_model(dir / "gpt2", (dir / "prompts.txt").string(), 10, {}, &log);
  EXPECT_EQ(calibration.samples, 2u);
  EXPECT_EQ(calibration.report.top_shares.size(), 2u);  // the tiny preset's layers
  EXPECT_NE(log.str().find("prompts.txt:1: skipped, the prompt has 1 token(s)"), std::string::npos)
      << log.str();
  test_support::spit(dir / "dots.txt", ".\n.\n");
  EXPECT_EQ(test_support::error_of(
                [&] { calibrate_model(dir / "gpt2", (dir / "dots.txt").string(), 10, {}, nullptr); }),
            (dir / "dots.txt").string() + ": no prompt has 2 tokens or more; nothing to calibrate on");
  test_support::spit(dir / "empty.txt", "\n");
  EXPECT_EQ(test_support::error_of(
                [&] { calibrate_model(dir / "gpt2", (dir / "empty.txt").string(), 10, {}, nullptr); }),
            (dir / "empty.txt").string() + ": no inputs to calibrate on");
}

// A random tiny T5 with the small SentencePiece test tokenizer, as `latte init --family t5
// --tokenizer` writes it.
void write_tiny_t5(const std::filesystem::path& out) {
  const std::filesystem::path tokenizer = std::filesystem::path(LATTE_TEST_DATA_DIR) / "t5_tokenizer";
  std::filesystem::create_directories(out);
  for (const char* name : {"spiece.model", "tokenizer_config.json"})
    std::filesystem::copy_file(tokenizer / name, out / name);
  const T5Config config = t5_preset("tiny", static_cast<int64_t>(load_tokenizer(out)->vocab_size()));
  write_safetensors(out / "model.safetensors", random_weights(t5_weight_specs(config), 11), DType::F32, {});
  test_support::spit(out / "config.json", config.to_json().dump());
}

// An encoder-decoder calibrates its encoder on the sources, as calibrate(Seq2SeqLm&) does on
// the same ids; the protected final </s> keeps every layer's fraction above 0.
TEST(CalibrateModel, AnEncoderDecoderCalibratesItsEncoderOnTheSources) {
  test_support::TempDir dir("calibrate_t5");
  write_tiny_t5(dir / "t5");
  const std::vector<std::string> texts = {
      "Is this e-mail spam or ham? E-mail: win a free prize now, click here. Answer:",
      "Which genre is this passage? The committee met on Tuesday to discuss the budget.",
      "Fill in the blank: the cat sat on the ___ and looked at the dog."};
  std::string lines;
  for (const std::string& text : texts)
    lines += nlohmann::json{{"source", text}, {"target", "x"}}.dump() + "\n";
  test_support::spit(dir / "sources.jsonl", lines);
  std::ostringstream log;
  const ModelCalibration calibration =
      calibrate_model(dir / "t5", (dir / "sources.jsonl").string(), 10, {}, &log,
                      data::RecordOptions{.fields = {.text = "source"}});
  EXPECT_EQ(calibration.samples, 3u);
  EXPECT_EQ(calibration.positions, 512);
  const std::unique_ptr<Seq2SeqLm> model = load_seq2seq_lm(dir / "t5");
  const size_t layers = static_cast<size_t>(model->num_encoder_layers());
  ASSERT_EQ(calibration.report.top_shares.size(), layers);
  const std::unique_ptr<Tokenizer> tokenizer = load_tokenizer(dir / "t5");
  std::vector<std::vector<int32_t>> sources;
  for (const std::string& text : texts) sources.push_back(tokenizer->encode(text, 512).ids);
  const CalibrationReport direct = calibrate(*model, sources, default_calibration_taus(), nullptr);
  EXPECT_EQ(calibration.report.calibration.keep_fractions, direct.calibration.keep_fractions);
  EXPECT_EQ(calibration.report.calibration.acc_curves, direct.calibration.acc_curves);
  const auto& fractions = direct.calibration.keep_fractions;
  ASSERT_EQ(fractions.size(), default_calibration_taus().size());
  for (double fraction : fractions.front()) EXPECT_DOUBLE_EQ(fraction, 1.0);  // tau = 1 is dense
  for (size_t layer = 0; layer < layers; ++layer) {
    EXPECT_LT(fractions.back()[layer], 0.5);  // tau 0.1 drops most word-vectors
    EXPECT_GT(fractions.back()[layer], 0.0);  // </s> stays
  }
  EXPECT_THROW(calibrate(*model, {sources[0], {}}, default_calibration_taus(), nullptr), InputError);
}

TEST(LoadProfileSubject, EachFamilyGetsItsLayerKindAndKeyAndOwnsItsModel) {
  test_support::TempDir dir("profile_subject");
  write_tiny_gpt2(dir / "gpt2");
  const FolderProfileSubject decoder = load_profile_subject(dir / "gpt2");
  EXPECT_EQ(decoder.subject.layer_kind, kDecoderPrefillLayer);
  EXPECT_EQ(decoder.key.family, "gpt2");
  EXPECT_EQ(decoder.key.layers, 2);
  const std::vector<int32_t> ids = {5, 6, 7, 8};
  // The model was loaded inside load_profile_subject: the subject keeps it alive.
  EXPECT_EQ(decoder.subject.run(ids, nullptr, nullptr), (std::vector<int64_t>{4, 4}));

  const FolderProfileSubject encoder = load_profile_subject(kBertData / "cls3_f32");
  EXPECT_EQ(encoder.subject.layer_kind, kEncoderLayer);
  EXPECT_EQ(encoder.key.family, "bert");
  EXPECT_EQ(encoder.subject.max_positions, 64);
  EXPECT_EQ(encoder.subject.run(ids, nullptr, nullptr), (std::vector<int64_t>{4, 4}));
}

}  // namespace
}  // namespace latte
