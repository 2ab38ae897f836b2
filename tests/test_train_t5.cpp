// The trainer's libtorch T5 against the engine on the same checkpoints (tests/data/t5's two
// and a freshly written one): kept counts, memory positions and decoder logits within 1e-4,
// dense and with elimination in the encoder; and against the Hugging Face goldens of
// tiny_gated. Then the T5 data (span corruption as T5 builds it, seq2seq JSONL) and the two
// runs, `latte train t5-span` and `latte train seq2seq`: they learn, write folders the engine
// loads with the torch model's logits and `latte generate` runs, and refuse bad input.
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <numeric>
#include <random>
#include <set>
#include <sstream>

#include "latte/core/error.h"
#include "latte/io/json_file.h"
#include "latte/io/safetensors.h"
#include "latte/models/t5.h"
#include "latte/train/checkpoint.h"
#include "latte/train/t5_data.h"
#include "latte/train/t5_modules.h"
#include "latte/train/trainer.h"
#include "test_support.h"
#include "train_support.h"

namespace latte {
namespace {

const std::filesystem::path kData = LATTE_TEST_DATA_DIR;
const std::filesystem::path kTokenizer = kData / "t5_tokenizer";

using test_support::TempDir;

// Sources of random tokens ending in </s> (id 1), of the given lengths.
std::vector<std::vector<int32_t>> random_sequences(const std::vector<int>& lengths, int64_t vocab_size,
                                                   uint32_t seed, bool end_with_eos) {
  std::mt19937 generator(seed);
  std::uniform_int_distribution<int32_t> token(3, static_cast<int32_t>(vocab_size) - 1);
  std::vector<std::vector<int32_t>> sequences;
  for (int length : lengths) {
    std::vector<int32_t> sequence;
    for (int i = 0; i < length; ++i) sequence.push_back(token(generator));
    if (end_with_eos) sequence.back() = 1;
    sequences.push_back(std::move(sequence));
  }
  return sequences;
}

float worst_difference(const torch::Tensor& actual, const float* expected, int64_t count) {
  const torch::Tensor values = actual.contiguous().to(torch::kFloat);
  EXPECT_EQ(values.numel(), count);
  float worst = 0.0f;
  for (int64_t i = 0; i < std::min(count, values.numel()); ++i)
    worst = std::max(worst, std::fabs(values.data_ptr<float>()[i] - expected[i]));
  return worst;
}

// The torch model and the engine on one folder: a batch of sources of mixed lengths (padded in
// torch, one at a time in the engine), each with its own decoder tokens.
void expect_same_as_engine(const std::filesystem::path& folder, const Knobs& knobs) {
  T5Model engine = T5Model::load(folder);
  train::T5ForConditionalGeneration model = train::load_t5(folder);
  model->eval();
  const int64_t vocab = engine.config().vocab_size;
  const Planner planner(knobs, engine.encoder_shape(), std::nullopt, LatencyModel{}, nullptr);
  const auto sources = random_sequences({12, 5, 17, 9}, vocab, 3, true);
  std::vector<std::vector<int32_t>> targets = random_sequences({6, 3, 6, 4}, vocab, 4, false);
  for (auto& target : targets) target.front() = engine.config().decoder_start_token_id;

  torch::NoGradGuard no_grad;
  const train::T5EncoderOutput memory = model->encode(train::pad_sequences(sources, 0), &planner);
  const torch::Tensor logits = model->logits(model->decode(train::pad_sequences(targets, 0).ids, memory));
  bool pruned_any = false;
  for (size_t b = 0; b < sources.size(); ++b) {
    EncoderOptions encoder_options;
    encoder_options.planner = &planner;
    Seq2SeqState state = engine.encode(sources[b], encoder_options);
    ASSERT_EQ(memory.kept[b], state.encoder_kept) << folder << " source " << b;
    pruned_any = pruned_any || state.encoder_kept.back() < static_cast<int64_t>(sources[b].size());
    const int64_t rows = state.encoder_kept.back();
    const torch::Tensor positions = memory.positions[static_cast<int64_t>(b)].slice(0, 0, rows).contiguous();
    EXPECT_EQ(std::vector<int64_t>(positions.data_ptr<int64_t>(), positions.data_ptr<int64_t>() + rows),
              state.memory_positions);
    DecoderOptions decoder_options;
    decoder_options.all_logits = true;
    const DecoderOutput expected = engine.decode(targets[b], state, decoder_options);
    const auto length = static_cast<int64_t>(targets[b].size());
    const torch::Tensor actual = logits[static_cast<int64_t>(b)].slice(0, 0, length);
    EXPECT_LE(worst_difference(actual, expected.logits.data(), expected.logits.numel()), 1e-4f)
        << folder << " source " << b;
  }
  EXPECT_EQ(pruned_any, !planner.dense()) << folder;
}

// A T5 of the tokenizer folder's shape with fresh weights (untied, gated-gelu) written as latte
// writes checkpoints, with the tokenizer files: a folder `latte generate` and seq2seq runs take.
std::filesystem::path fresh_t5_folder(const TempDir& dir, bool tied, const std::string& ffn) {
  T5Config config = T5Config::from_file(kTokenizer / "config.json");
  config.tie_word_embeddings = tied;
  config.feed_forward_proj = ffn;
  config.eos_token_id = 1;
  torch::manual_seed(11);
  train::T5ForConditionalGeneration model(config, 0.1);
  const std::filesystem::path folder = dir / ("fresh_" + std::string(tied ? "tied_" : "untied_") + ffn);
  train::save_model_files(folder, train::t5_config_json(config, 0.1), model->hf_weights(), DType::F32);
  for (const char* name : {"spiece.model", "tokenizer_config.json"})
    std::filesystem::copy_file(kTokenizer / name, folder / name);
  return folder;
}

class T5TrainParity : public ::testing::TestWithParam<std::string> {
 protected:
  std::filesystem::path folder() {
    const std::string name = GetParam();
    if (name == "fresh_tied_relu") return fresh_t5_folder(dir_, true, "relu");
    if (name == "fresh_untied_gated") return fresh_t5_folder(dir_, false, "gated-gelu");
    return kData / "t5" / name;
  }
  TempDir dir_{"train_t5_parity"};
};

TEST_P(T5TrainParity, Dense) { expect_same_as_engine(folder(), Knobs{}); }

TEST_P(T5TrainParity, StaticKeepList) {
  Knobs knobs;
  knobs.keep = std::vector<int64_t>{8, 4};
  expect_same_as_engine(folder(), knobs);
}

TEST_P(T5TrainParity, TargetSpeedup) {
  Knobs knobs;
  knobs.speedup = 2.0;
  expect_same_as_engine(folder(), knobs);
}

TEST_P(T5TrainParity, DynamicCoverage) {
  Knobs knobs;
  knobs.coverage = 0.7;
  expect_same_as_engine(folder(), knobs);
}

INSTANTIATE_TEST_SUITE_P(Folders, T5TrainParity,
                         ::testing::Values("tiny_gated", "tiny_relu", "fresh_tied_relu",
                                           "fresh_untied_gated"));

// Against Hugging Face's own numbers (tools/golden): the encoder rows and the first decoder
// step's logits of tiny_gated, dense and with keep lists, and the kept positions.
TEST(T5TrainGolden, MatchesHuggingFace) {
  const std::filesystem::path folder = kData / "t5" / "tiny_gated";
  const nlohmann::json golden = read_json_file(folder / "golden.json");
  train::T5ForConditionalGeneration model = train::load_t5(folder);
  model->eval();
  const std::vector<int32_t> source = golden["source_ids"].get<std::vector<int32_t>>();
  const auto check = [&](const nlohmann::json& expected, const Planner* planner) {
    torch::NoGradGuard no_grad;
    const train::T5EncoderOutput memory = model->encode(train::pad_sequences({source}, 0), planner);
    const std::vector<std::vector<float>> hidden = expected["encoder_hidden"];
    std::vector<float> flat;
    for (const auto& row : hidden) flat.insert(flat.end(), row.begin(), row.end());
    EXPECT_LE(worst_difference(memory.hidden[0], flat.data(), static_cast<int64_t>(flat.size())), 1e-4f);
    const torch::Tensor logits = model->logits(model->decode(torch::zeros({1, 1}, torch::kLong), memory));
    const std::vector<float> first = expected["first_logits"];
    EXPECT_LE(worst_difference(logits[0][0], first.data(), static_cast<int64_t>(first.size())), 1e-4f);
    return memory;
  };
  check(golden["dense"], nullptr);
  for (const nlohmann::json& pruned : golden["pruned"]) {
    Knobs knobs;
    knobs.keep = pruned["keep"].get<std::vector<int64_t>>();
    const Planner planner(knobs, t5_encoder_shape(model->config()), std::nullopt, LatencyModel{}, nullptr);
    const train::T5EncoderOutput memory = check(pruned, &planner);
    const std::vector<int64_t> positions = pruned["kept_positions"].back();
    const torch::Tensor actual = memory.positions[0].contiguous();
    EXPECT_EQ(std::vector<int64_t>(actual.data_ptr<int64_t>(), actual.data_ptr<int64_t>() + actual.numel()),
              positions);
  }
}

// The trainer's names are exactly the checkpoint's tensors, and a save reads back equal.
TEST(T5TrainModules, SavesWhatItLoads) {
  TempDir dir("train_t5_names");
  for (const char* name : {"tiny_gated", "tiny_relu"}) {
    const std::filesystem::path folder = kData / "t5" / name;
    train::T5ForConditionalGeneration model = train::load_t5(folder);
    const WeightStore store = WeightStore::open(folder);
    std::set<std::string> names;
    for (const auto& [weight_name, tensor] : model->hf_weights()) names.insert(weight_name);
    std::set<std::string> stored;
    for (const std::string& stored_name : store.names()) stored.insert(stored_name);
    EXPECT_EQ(names, stored) << name;
    const std::filesystem::path copy = dir / name;
    train::save_model_files(copy, train::t5_config_json(model->config(), 0.1), model->hf_weights(),
                            DType::F32);
    train::T5ForConditionalGeneration reloaded = train::load_t5(copy);
    const train::NamedWeights a = model->hf_weights(), b = reloaded->hf_weights();
    for (size_t i = 0; i < a.size(); ++i) EXPECT_TRUE(a[i].second.equal(b[i].second)) << a[i].first;
  }
}

// T5's random_spans_helper for 512 inputs: 568 tokens, 114 targets (the numbers T5's span
// corruption uses); and an inputs length too short for noise.
TEST(T5Data, SpanLengthsAsT5) {
  const train::SpanLengths lengths = train::span_corruption_lengths(512, 0.15, 3.0);
  EXPECT_EQ(lengths.tokens, 568);
  EXPECT_EQ(lengths.inputs, 512);
  EXPECT_EQ(lengths.targets, 114);
  const train::SpanLengths small = train::span_corruption_lengths(32, 0.15, 3.0);
  EXPECT_EQ(small.inputs, 32);
  EXPECT_EQ(small.tokens, 34);  // 5 noise tokens in 2 spans: 29 + 2 + 1 inputs, 5 + 2 + 1 targets
  EXPECT_EQ(small.targets, 8);
}

TEST(T5Data, NoiseMaskHasT5sCountsAndAlternates) {
  std::mt19937_64 generator(5);
  for (int trial = 0; trial < 20; ++trial) {
    const std::vector<bool> mask = train::random_spans_noise_mask(100, 0.15, 3.0, generator);
    ASSERT_EQ(mask.size(), 100u);
    EXPECT_EQ(std::count(mask.begin(), mask.end(), true), 15);
    EXPECT_FALSE(mask.front());  // the first span is not noise, the last is
    EXPECT_TRUE(mask.back());
    int noise_spans = 0;
    for (size_t i = 0; i < mask.size(); ++i) noise_spans += mask[i] && (i == 0 || !mask[i - 1]);
    EXPECT_EQ(noise_spans, 5);
  }
  std::mt19937_64 other(6);
  EXPECT_NE(train::random_spans_noise_mask(100, 0.15, 3.0, generator),
            train::random_spans_noise_mask(100, 0.15, 3.0, other));
}

TEST(T5Data, SpanCorruptionReplacesSpansWithSentinels) {
  const SentencePieceTokenizer tokenizer = SentencePieceTokenizer::from_dir(kTokenizer);
  const int32_t x0 = 2099, x1 = 2098, eos = 1;  // <extra_id_0>, <extra_id_1>
  ASSERT_EQ(tokenizer.sentinel_id(0), x0);
  const std::vector<int32_t> tokens = {10, 11, 12, 13, 14, 15, 16, 17};
  const std::vector<bool> noise = {false, false, true, true, false, false, false, true};
  const train::Seq2SeqIds ids = train::span_corrupt(tokens, noise, tokenizer);
  EXPECT_EQ(ids.source, (std::vector<int32_t>{10, 11, x0, 14, 15, 16, x1, eos}));
  EXPECT_EQ(ids.target, (std::vector<int32_t>{x0, 12, 13, x1, 17, eos}));
}

TEST(T5Data, EvenSpreadCoversTheWholeFile) {
  // 9 lines grouped in 3 tasks of 3: 3 examples take one of each.
  EXPECT_EQ(train::even_spread(9, 3), (std::vector<size_t>{0, 3, 6}));
  EXPECT_EQ(train::even_spread(10, 4), (std::vector<size_t>{0, 2, 5, 7}));
  EXPECT_EQ(train::even_spread(3, 8), (std::vector<size_t>{0, 1, 2}));
  EXPECT_TRUE(train::even_spread(5, 0).empty());
}

TEST(T5Data, Seq2SeqJsonlAndItsErrors) {
  TempDir dir("train_t5_jsonl");
  const SentencePieceTokenizer tokenizer = SentencePieceTokenizer::from_dir(kTokenizer);
  test_support::spit(
      dir / "good.jsonl",
      "{\"id\": 3, \"source\": \"the cat sat on the mat\", \"target\": \"cat\", \"task\": \"x\"}\n"
      "\n"
      "{\"source\": \"a\", \"target\": \"the dog sat on the log\"}\n");
  const train::Seq2SeqFile file = train::read_seq2seq_jsonl(dir / "good.jsonl", tokenizer, 4, 512);
  ASSERT_EQ(file.examples.size(), 2u);
  EXPECT_EQ(file.truncated_sources, 1);
  EXPECT_EQ(file.truncated_targets, 0);
  std::vector<int32_t> cut = tokenizer.encode("the cat sat on the mat", 4).ids;
  EXPECT_EQ(file.examples[0].ids.source, cut);
  EXPECT_EQ(file.examples[0].ids.source.size(), 4u);
  EXPECT_EQ(file.examples[0].ids.target, tokenizer.encode("cat", 0).ids);
  EXPECT_EQ(file.examples[1].origin, (dir / "good.jsonl").string() + ":3");

  const auto error_of = [&](const std::string& text) {
    test_support::spit(dir / "bad.jsonl", text);
    return test_support::error_of([&] { train::read_seq2seq_jsonl(dir / "bad.jsonl", tokenizer, 64, 64); });
  };
  const std::string bad = (dir / "bad.jsonl").string();
  EXPECT_EQ(error_of("{\"source\": \"a\", \"target\": \"b\"}\n{\"source\": \"a\"}\n"),
            bad + ":2: field 'target' is missing");
  EXPECT_EQ(error_of("{\"source\": 5, \"target\": \"b\"}\n"),
            bad + ":1: field 'source' must be a string, got 5");
  EXPECT_EQ(error_of("[1, 2]\n"), bad + ":1: expected a JSON object {\"source\", \"target\"}");
  EXPECT_EQ(error_of("\n \n"), bad + ": no examples (the file is empty)");
  EXPECT_EQ(error_of("{\"source\": \"a\",\n").rfind(bad + ":1: not valid JSON", 0), 0u);
}

double mean(const std::vector<double>& values, size_t first, size_t count) {
  return std::accumulate(values.begin() + static_cast<std::ptrdiff_t>(first),
                         values.begin() + static_cast<std::ptrdiff_t>(first + count), 0.0) /
         static_cast<double>(count);
}

train::T5SpanOptions span_options(const TempDir& dir) {
  train::T5SpanOptions options =
      test_support::tiny_text_run<train::T5SpanOptions>(dir, kTokenizer, {1.0, 2.0});
  options.dev_examples = 8;
  return options;
}

// The written folder in the engine: its logits those of the torch model reloaded from it,
// dense and pruned; and `latte generate` runs it.
void expect_engine_runs_folder(const std::filesystem::path& folder, const TempDir& dir) {
  T5Model engine = T5Model::load(folder);
  ASSERT_TRUE(engine.config().eos_token_id.has_value());
  EXPECT_EQ(*engine.config().eos_token_id, 1);
  Knobs knobs;
  knobs.speedup = 2.0;
  const Planner planner(knobs, engine.encoder_shape(), std::nullopt, LatencyModel{}, nullptr);
  train::T5ForConditionalGeneration model = train::load_t5(folder);
  model->eval();
  const SentencePieceTokenizer tokenizer = SentencePieceTokenizer::from_dir(folder);
  const std::vector<int32_t> source = tokenizer.encode("the cat sat on the mat and the dog", 0).ids;
  const std::vector<int32_t> target = {0, 5, 9, 12};
  for (const Planner* plan : {static_cast<const Planner*>(nullptr), &planner}) {
    EncoderOptions encoder_options;
    encoder_options.planner = plan;
    Seq2SeqState state = engine.encode(source, encoder_options);
    DecoderOptions decoder_options;
    decoder_options.all_logits = true;
    const DecoderOutput expected = engine.decode(target, state, decoder_options);
    torch::NoGradGuard no_grad;
    const train::T5EncoderOutput memory = model->encode(train::pad_sequences({source}, 0), plan);
    EXPECT_EQ(memory.kept[0], state.encoder_kept);
    const torch::Tensor logits = model->logits(model->decode(train::pad_sequences({target}, 0).ids, memory));
    EXPECT_LE(worst_difference(logits[0], expected.logits.data(), expected.logits.numel()), 1e-4f);
  }
  const test_support::CommandResult generated = test_support::run_binary(
      LATTE_CLI_PATH, dir.path(),
      "generate --model " + folder.string() + " --max-new-tokens 6 --speedup 2 'the cat sat on the mat'");
  EXPECT_EQ(generated.exit_code, 0) << generated.err;
}

TEST(TrainT5Span, LearnsSavesLoadsInTheEngineAndGenerates) {
  TempDir dir("train_t5_span");
  const train::T5SpanOptions options = span_options(dir);
  std::ostringstream log;
  const train::TrainResult result = train::train_t5_span(options, log);
  ASSERT_EQ(result.losses.size(), 30u);
  EXPECT_LT(mean(result.losses, 25, 5), 0.7 * mean(result.losses, 0, 5)) << log.str();
  ASSERT_TRUE(result.best);
  EXPECT_TRUE(result.best->metrics.contains("S=2")) << result.best->metrics.dump();
  EXPECT_NE(log.str().find("inputs 32, targets 8"), std::string::npos) << log.str();
  const nlohmann::json config = read_json_file(options.out / "config.json");
  EXPECT_EQ(config["vocab_size"], 2112);
  EXPECT_EQ(config["feed_forward_proj"], "gated-gelu");
  EXPECT_EQ(config["tie_word_embeddings"], false);
  EXPECT_EQ(test_support::slurp(options.out / "spiece.model"),
            test_support::slurp(kTokenizer / "spiece.model"));
  expect_engine_runs_folder(options.out, dir);
}

TEST(TrainT5Span, ResumeContinuesExactly) {
  TempDir dir("train_t5_resume");
  train::T5SpanOptions options = span_options(dir);
  options.steps = 4;
  options.eval_every = 2;
  std::ostringstream log;
  const train::TrainResult whole = train::train_t5_span(options, log);
  options.out = dir / "split";
  options.stop_after = 2;
  const train::TrainResult first = train::train_t5_span(options, log);
  options.stop_after = 0;
  options.resume = true;
  const train::TrainResult second = train::train_t5_span(options, log);
  std::vector<double> losses = first.losses;
  losses.insert(losses.end(), second.losses.begin(), second.losses.end());
  ASSERT_EQ(losses.size(), 4u);
  for (size_t i = 0; i < losses.size(); ++i) EXPECT_DOUBLE_EQ(losses[i], whole.losses[i]) << "step " << i + 1;
}

// A copy task on a handful of lines from a fresh T5 folder: the loss falls, the best checkpoint
// loads in the engine with the torch model's logits, and `latte generate` runs it.
TEST(TrainSeq2Seq, LearnsSavesLoadsInTheEngineAndGenerates) {
  TempDir dir("train_seq2seq");
  const std::filesystem::path init = fresh_t5_folder(dir, false, "gated-gelu");
  std::string lines;
  const char* words[] = {"cat", "dog", "bird", "hand", "bush", "mat"};
  for (int i = 0; i < 24; ++i) {
    lines += "{\"id\": " + std::to_string(i) + ", \"source\": \"animal: the " + words[i % 6] +
             " sat\", \"target\": \"" + words[i % 6] + "\"}\n";
  }
  test_support::spit(dir / "train.jsonl", lines);
  test_support::spit(dir / "dev.jsonl", lines.substr(0, lines.find('\n', lines.size() / 3) + 1));
  train::Seq2SeqOptions options;
  options.init = init;
  options.train = dir / "train.jsonl";
  options.dev = dir / "dev.jsonl";
  options.out = dir / "out";
  options.batch_size = 4;
  options.learning_rate = 1e-2;
  options.warmup_fraction = 0.0;
  options.steps = 150;
  options.eval_every = 75;
  options.max_source_len = 6;
  options.train_speedup_range = std::make_pair(1.0, 2.0);
  options.dev_generate = 8;
  options.threads = 1;
  options.interactive = false;
  std::ostringstream log;
  const train::TrainResult result = train::train_seq2seq(options, log);
  ASSERT_EQ(result.losses.size(), 150u);
  EXPECT_LT(mean(result.losses, 140, 10), 0.5 * mean(result.losses, 0, 10)) << log.str();
  ASSERT_TRUE(result.best);
  ASSERT_TRUE(result.best->metrics.contains("exact_match")) << result.best->metrics.dump();
  // The answer is in the source: a decoder that ignored its encoder would get 1 in 6 right
  // (this run gets 8 of 8; 7 leaves room for another compiler's rounding).
  EXPECT_GE(result.best->metrics["exact_match"]["share"].get<double>(), 0.875) << log.str();
  EXPECT_NE(
      log.str().find(" of 24 sources in " + options.train.string() + " cut to --max-source-len 6 tokens"),
      std::string::npos)
      << log.str();
  expect_engine_runs_folder(options.out, dir);
}

// Each bad flag or input is one error line naming it, and nothing is written to --out.
TEST(TrainSeq2Seq, BadInputIsOneError) {
  TempDir dir("train_seq2seq_bad");
  test_support::spit(dir / "train.jsonl", "{\"source\": \"a b\", \"target\": \"b\"}\n");
  train::Seq2SeqOptions good;
  good.init = kData / "t5" / "tiny_gated";
  good.train = dir / "train.jsonl";
  good.dev = dir / "train.jsonl";
  good.out = dir / "out";
  good.threads = 1;
  const auto error_of = [&](const std::function<void(train::Seq2SeqOptions&)>& change) {
    train::Seq2SeqOptions options = good;
    change(options);
    std::ostringstream log;
    const std::string error = test_support::error_of([&] { train::train_seq2seq(options, log); });
    EXPECT_FALSE(std::filesystem::exists(good.out)) << error;
    return error;
  };
  // tiny_gated has no tokenizer.
  EXPECT_NE(error_of([](auto&) {}).find((kData / "t5" / "tiny_gated" / "spiece.model").string()),
            std::string::npos);
  const std::filesystem::path init = fresh_t5_folder(dir, true, "relu");
  good.init = init;
  EXPECT_EQ(error_of([](auto& options) { options.max_source_len = 1; }),
            "--max-source-len must be in [2, 512] (the model's n_positions), got 1");
  EXPECT_EQ(error_of([](auto& options) { options.train_speedup_range = std::make_pair(2.0, 1.0); }),
            "--train-speedup-range must be LO,HI with 1 <= LO <= HI <= 10, got 2,1");
  EXPECT_EQ(error_of([&](auto& options) { options.init = dir / "nowhere"; }),
            "tokenizer folder " + (dir / "nowhere").string() + " does not exist or is not a folder");

  // Through the command line: one line on stderr, exit status 1.
  const test_support::CommandResult result = test_support::run_binary(
      LATTE_CLI_PATH, dir.path(),
      "train seq2seq --init " + init.string() + " --train " + good.train.string() + " --dev " +
          (dir / "missing.jsonl").string() + " --out " + good.out.string());
  EXPECT_EQ(result.exit_code, 1);
  EXPECT_EQ(std::count(result.err.begin(), result.err.end(), '\n'), 1) << result.err;
  EXPECT_EQ(result.err.rfind("latte: error: ", 0), 0u) << result.err;
  EXPECT_NE(result.err.find((dir / "missing.jsonl").string()), std::string::npos) << result.err;
  const test_support::CommandResult span = test_support::run_binary(
      LATTE_CLI_PATH, dir.path(),
      "train t5-span --tokenizer " + kTokenizer.string() + " --train " + good.train.string() + " --dev " +
          good.train.string() + " --out " + good.out.string() + " --seq-len 4");
  EXPECT_EQ(span.exit_code, 1);
  EXPECT_EQ(span.err, "latte: error: --seq-len must be in [8, 65536], got 4\n");
  EXPECT_FALSE(std::filesystem::exists(good.out));
}

}  // namespace
}  // namespace latte
