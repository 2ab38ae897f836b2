// The evaluation runner as a library: inputs of a command, encodings, labelled data, the
// per-target evaluation and sweep of a BERT classifier, and the language-model evaluation of a
// decoder, called directly (test_eval_cli.cpp covers them through `latte eval`).
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <sstream>
#include <vector>

#include "latte/core/error.h"
#include "latte/data/records.h"
#include "latte/eval/encoder_bench.h"
#include "latte/eval/lm_compare.h"
#include "latte/eval/lm_eval.h"
#include "latte/eval/runner.h"
#include "latte/models/bert.h"
#include "latte/models/registry.h"
#include "latte/tokenizers/tokenizer.h"
#include "test_support.h"

namespace latte {
namespace {

namespace fs = std::filesystem;
using test_support::error_of;
using test_support::spit;
using test_support::TempDir;

const fs::path kData = LATTE_TEST_DATA_DIR;
const fs::path kCls3 = kData / "bert" / "cls3_f32";
const fs::path kCls3Data = kData / "fixtures" / "eval" / "cls3.jsonl";

// A latency source that records what it was asked and answers with the FLOPs prior.
struct RecordedLatency {
  std::vector<bool> asked;
  LatencySource source() {
    return [this](bool needs_latency) {
      asked.push_back(needs_latency);
      return LatencyModel{};
    };
  }
};

std::vector<data::LabeledExample> read_all(data::RecordReader reader) {
  std::vector<data::LabeledExample> inputs;
  for (data::LabeledExample input; reader.next(input);) inputs.push_back(input);
  return inputs;
}

TEST(InputReader, TextLinesSkipBlanksAndNameTheirLine) {
  TempDir dir("reader");
  spit(dir / "texts.txt", "first\r\n\n  \nsecond {not json}\rthird\n");
  const std::vector<data::LabeledExample> inputs = read_all(data::RecordReader::from_file(dir / "texts.txt"));
  ASSERT_EQ(inputs.size(), 3u);
  EXPECT_EQ(inputs[0].text, "first");
  EXPECT_EQ(inputs[1].text, "second {not json}");
  EXPECT_EQ(inputs[2].text, "third");
  EXPECT_EQ(inputs[0].origin, (dir / "texts.txt").string() + ":1");
  EXPECT_EQ(inputs[1].origin, (dir / "texts.txt").string() + ":4");
  EXPECT_FALSE(inputs[0].label);
}

TEST(InputReader, JsonlWhenTheFirstLineIsAnObject) {
  TempDir dir("reader");
  spit(dir / "pairs.jsonl", "\n {\"text\": \"a\", \"text_pair\": \"b\", \"label\": 2}\n{\"text\": \"c\"}\n");
  const std::vector<data::LabeledExample> inputs =
      read_all(data::RecordReader::from_file(dir / "pairs.jsonl"));
  ASSERT_EQ(inputs.size(), 2u);
  EXPECT_EQ(inputs[0].text_pair, "b");
  EXPECT_EQ(inputs[0].label, "2");
  EXPECT_EQ(inputs[0].origin, (dir / "pairs.jsonl").string() + ":2");
  EXPECT_FALSE(inputs[1].text_pair);
  spit(dir / "bad.jsonl", "{\"text\": \"a\"}\nplain text\n");
  EXPECT_NE(error_of([&] { read_all(data::RecordReader::from_file(dir / "bad.jsonl")); }).find("bad.jsonl:2"),
            std::string::npos);
}

TEST(InputReader, GivenInputsComeBackInOrder) {
  const std::vector<data::LabeledExample> inputs = read_all(data::RecordReader::from_inputs(
      {{.text = "x", .origin = "argument 1"}, {.text = "y", .origin = "argument 2"}}));
  ASSERT_EQ(inputs.size(), 2u);
  EXPECT_EQ(inputs[1].text, "y");
  EXPECT_EQ(inputs[1].origin, "argument 2");
}

TEST(EncodeInput, PairsAreWordPieceOnlyAndErrorsNameTheOrigin) {
  const std::unique_ptr<Tokenizer> wordpiece = load_tokenizer(kCls3);
  const Encoding single = encode_input(*wordpiece, "a great movie", std::nullopt, 64, "x:1");
  EXPECT_EQ(single.ids, wordpiece->encode("a great movie", 64).ids);
  const Encoding pair = encode_input(*wordpiece, "a great movie", std::string("boring"), 64, "x:1");
  EXPECT_GT(pair.ids.size(), single.ids.size());
  EXPECT_EQ(pair.type_ids.back(), 1);
  EXPECT_EQ(pair.type_ids.front(), 0);
  EXPECT_EQ(encode_input(*wordpiece, "a great movie", std::string("boring"), 4, "x:1").ids.size(), 4u);

  const std::unique_ptr<Tokenizer> bpe = load_tokenizer(kData / "gpt2_tokenizer" / "small");
  EXPECT_EQ(
      error_of([&] { encode_input(*bpe, "a", std::string("b"), 0, "argument 1"); }),
      "argument 1: text pairs need a WordPiece or SentencePiece tokenizer; this model's is byte-level-bpe");
  EXPECT_EQ(
      error_of([&] { encode_input(*bpe, "caf\xc3", std::nullopt, 0, "in.txt:3"); }).rfind("in.txt:3: ", 0),
      0u);
}

class Cls3Runner : public ::testing::Test {
 protected:
  BertModel model_ = BertModel::load(kCls3);
  const BertTokenizer tokenizer_ = load_bert_tokenizer(kCls3, model_.config());
};

TEST_F(Cls3Runner, LoadEvalDataEncodesEveryExampleAndDropsTheText) {
  const EvalData all = load_eval_data(kCls3Data, "", 0, model_.config(), tokenizer_, "cls3");
  ASSERT_EQ(all.examples.size(), 6u);
  ASSERT_EQ(all.inputs.size(), 6u);
  EXPECT_EQ(all.inputs[0].input_ids, tokenizer_.encode("a great movie , i love this film", 64).ids);
  EXPECT_TRUE(all.examples[0].text.empty());
  EXPECT_EQ(all.examples[1].label, "negative");
  EXPECT_EQ(all.examples[2].origin, kCls3Data.string() + ":3");
  EXPECT_EQ(load_eval_data(kCls3Data, "", 2, model_.config(), tokenizer_, "cls3").inputs.size(), 2u);
}

TEST_F(Cls3Runner, LoadEvalDataChecksTheTaskAgainstTheModel) {
  EXPECT_EQ(error_of([&] {
              load_eval_data(kData / "fixtures" / "glue" / "stsb_dev.tsv", "sts-b", 0, model_.config(),
                             tokenizer_, "models/cls3");
            }),
            "task sts-b is regression but model models/cls3 is a classification model");
  TempDir dir("evaldata");
  spit(dir / "empty.jsonl", "\n\n");
  EXPECT_EQ(
      error_of([&] { load_eval_data(dir / "empty.jsonl", "", 0, model_.config(), tokenizer_, "cls3"); }),
      "no examples in " + (dir / "empty.jsonl").string());
}

TEST_F(Cls3Runner, GoldClassesResolveNamesCaseAndListUnknownLabels) {
  EXPECT_EQ(resolve_label("Positive", model_.config().id2label), 2);
  EXPECT_EQ(resolve_label("0", {"LABEL_0", "LABEL_1"}), 0);
  EXPECT_FALSE(resolve_label("1", model_.config().id2label));
  const EvalData data = load_eval_data(kCls3Data, "", 0, model_.config(), tokenizer_, "cls3");
  EXPECT_EQ(gold_classes(data.examples, model_.config()), (std::vector<int64_t>{2, 0, 1, 2, 0, 1}));
  std::vector<data::LabeledExample> odd = data.examples;
  odd[3].label = "sarcastic";
  EXPECT_NE(error_of([&] { gold_classes(odd, model_.config()); }).find("'sarcastic' (first at"),
            std::string::npos);
  EXPECT_NE(error_of([&] { gold_scores(data.examples); }).find("has no numeric label"), std::string::npos);
}

TEST_F(Cls3Runner, EvaluateSpeedupsGivesEveryTargetItsMetricsAndPairedTiming) {
  const EvalData data = load_eval_data(kCls3Data, "", 0, model_.config(), tokenizer_, "cls3");
  const std::vector<int64_t> classes = gold_classes(data.examples, model_.config());
  RecordedLatency latency;
  std::vector<std::string> stages;
  std::ostringstream notices;
  SpeedupRunOptions options;
  options.batch_size = 4;
  options.latency_samples = 3;
  options.progress = [&](std::optional<double> speedup, size_t, size_t, const char* stage) {
    stages.push_back((speedup ? std::to_string(*speedup) : std::string("-")) + " " + stage);
  };
  options.notices = &notices;
  const SpeedupEvaluation evaluation = evaluate_speedups(model_, data.inputs, classes, {}, {1.0, 2.0, 3.0},
                                                         Sidecar{}, latency.source(), options);

  EXPECT_EQ(latency.asked, std::vector<bool>{true});  // once, for the fastest target
  ASSERT_EQ(evaluation.results.size(), 3u);
  EXPECT_EQ(evaluation.timed, 3u);
  // The dense target is what evaluate() gives with a dense planner; its time is the dense runs'.
  Planner dense(Knobs{}, model_.shape(), std::nullopt, LatencyModel{}, nullptr);
  const SpeedupResult direct =
      evaluate(model_, data.inputs, classes, {}, 1.0, dense, 4, [](size_t, size_t) {});
  EXPECT_EQ(evaluation.results[0].metrics, direct.metrics);
  EXPECT_EQ(evaluation.results[0].kept_fraction, 1.0);
  EXPECT_EQ(evaluation.results[0].measured_speedup.median, 1.0);
  EXPECT_GT(evaluation.results[0].median_ms, 0.0);
  for (const SpeedupResult& result : evaluation.results) {
    EXPECT_EQ(result.metrics.size(), 3u);  // accuracy, macro_f1, mcc
    EXPECT_GT(result.median_ms, 0.0);
  }
  EXPECT_EQ(evaluation.results[2].speedup, 3.0);
  EXPECT_LT(evaluation.results[2].kept_fraction, 1.0);
  EXPECT_GT(evaluation.results[2].predicted_speedup, 1.0);
  EXPECT_GT(evaluation.results[2].measured_speedup.median, 0.0);
  EXPECT_EQ(stages.front(), "1.000000 examples");
  EXPECT_EQ(stages.back(), "- latency, paired with dense");
  // The "no calibration" notice of the two pruned targets, written once.
  const std::string text = notices.str();
  const size_t first = text.find("no calibration in latte.json");
  ASSERT_NE(first, std::string::npos) << text;
  EXPECT_EQ(text.find("no calibration in latte.json", first + 1), std::string::npos) << text;
}

TEST_F(Cls3Runner, DenseOnlyTargetsNeedNoMeasuredLatency) {
  const EvalData data = load_eval_data(kCls3Data, "", 0, model_.config(), tokenizer_, "cls3");
  RecordedLatency latency;
  SpeedupRunOptions options;
  options.latency_samples = 2;
  const SpeedupEvaluation evaluation =
      evaluate_speedups(model_, data.inputs, gold_classes(data.examples, model_.config()), {}, {1.0},
                        Sidecar{}, latency.source(), options);
  EXPECT_EQ(latency.asked, std::vector<bool>{false});
  ASSERT_EQ(evaluation.results.size(), 1u);
  EXPECT_EQ(evaluation.results[0].kept_fraction, 1.0);
}

TEST_F(Cls3Runner, ACalibrationOfAnotherModelFailsBeforeLatencyIsAskedFor) {
  const EvalData data = load_eval_data(kCls3Data, "", 0, model_.config(), tokenizer_, "cls3");
  Sidecar sidecar;
  sidecar.calibration = Calibration{};
  sidecar.calibration->taus = {1.0, 0.5};
  sidecar.calibration->keep_fractions = {{1.0, 1.0, 1.0}, {0.5, 0.4, 0.3}};  // 3 layers; the model has 2
  RecordedLatency latency;
  const std::vector<int64_t> classes = gold_classes(data.examples, model_.config());
  EXPECT_NE(error_of([&] {
              evaluate_speedups(model_, data.inputs, classes, {}, {1.0, 2.0}, sidecar, latency.source(), {});
            }).find("calibration has 3 layers; the model has 2"),
            std::string::npos);
  EXPECT_NE(error_of([&] {
              sweep_speedups(model_, data.inputs, classes, {}, {2.0}, sidecar, latency.source(), {});
            }).find("calibration has 3 layers"),
            std::string::npos);
  EXPECT_TRUE(latency.asked.empty());
}

TEST_F(Cls3Runner, SweepAddsTheDenseRowSortsAndScoresOnlyLabelledData) {
  const EvalData data = load_eval_data(kCls3Data, "", 0, model_.config(), tokenizer_, "cls3");
  const std::vector<int64_t> classes = gold_classes(data.examples, model_.config());
  RecordedLatency latency;
  SpeedupRunOptions options;
  options.latency_samples = 2;
  const std::vector<SweepRow> rows =
      sweep_speedups(model_, data.inputs, classes, {}, {3.0, 1.5}, Sidecar{}, latency.source(), options);
  ASSERT_EQ(rows.size(), 3u);
  EXPECT_EQ(rows[0].requested_speedup, 1.0);
  EXPECT_EQ(rows[1].requested_speedup, 1.5);
  EXPECT_EQ(rows[2].requested_speedup, 3.0);
  EXPECT_EQ(rows[0].kept_fraction, 1.0);
  EXPECT_EQ(rows[0].measured_speedup, 1.0);
  EXPECT_LT(rows[2].kept_fraction, rows[1].kept_fraction);
  EXPECT_GT(rows[2].predicted_speedup, rows[1].predicted_speedup);
  Planner dense(Knobs{}, model_.shape(), std::nullopt, LatencyModel{}, nullptr);
  ASSERT_TRUE(rows[0].quality);
  EXPECT_EQ(*rows[0].quality, evaluate(model_, data.inputs, classes, {}, 1.0, dense, 16, [](size_t, size_t) {
                              }).metrics.at("accuracy"));
  EXPECT_EQ(latency.asked, std::vector<bool>{true});

  const std::vector<SweepRow> unlabelled =
      sweep_speedups(model_, data.inputs, {}, {}, {2.0}, Sidecar{}, latency.source(), options);
  ASSERT_EQ(unlabelled.size(), 2u);
  EXPECT_FALSE(unlabelled[0].quality);
  EXPECT_FALSE(unlabelled[1].quality);
}

TEST_F(Cls3Runner, TargetPlannersShareTheBaseKnobsAndOneLatencyModel) {
  RecordedLatency latency;
  std::ostringstream notes;
  Knobs base;
  base.min_keep = 3;
  const std::vector<std::unique_ptr<Planner>> targets =
      target_planners(model_.shape(), base, {2.0, 3.0}, Sidecar{}, latency.source(), notes);
  ASSERT_EQ(targets.size(), 2u);
  EXPECT_EQ(latency.asked, std::vector<bool>{true});
  EXPECT_TRUE(targets[1]->has_target());
  EXPECT_EQ(targets[1]->min_keep(), 3);
  EXPECT_GT(*targets[1]->plan(40).predicted_speedup, *targets[0]->plan(40).predicted_speedup);

  Knobs keep;
  keep.keep = std::vector<int64_t>{20, 10};
  const std::vector<std::unique_ptr<Planner>> alone =
      target_planners(model_.shape(), keep, {}, Sidecar{}, latency.source(), notes);
  ASSERT_EQ(alone.size(), 1u);
  EXPECT_EQ(latency.asked, (std::vector<bool>{true, false}));  // a keep list needs no measured latency
  EXPECT_EQ(alone[0]->plan(40).counts, (std::vector<int64_t>{20, 10}));
}

TEST_F(Cls3Runner, BenchEncoderTimesEveryVariantOnInputsOfExactlySeqTokens) {
  Knobs keep;
  keep.keep = std::vector<int64_t>{20, 10};
  const Planner planner(keep, model_.shape(), std::nullopt, LatencyModel{}, nullptr);
  EncoderBenchOptions options;
  options.seq = 40;
  options.batch = 2;
  options.rounds = 2;
  options.warm_up = 1;
  const EncoderBenchResult result =
      bench_encoder(model_, {TimedVariant{ForwardOptions{.planner = &planner}}}, options);
  ASSERT_EQ(result.timing.variants.size(), 1u);
  EXPECT_EQ(result.timing.dense_milliseconds.size(), 4u);  // before and after the variant, each round
  EXPECT_EQ(result.timing.variants[0].kept.front(), (std::vector<int64_t>{20, 10}));
  EXPECT_GT(result.gemm_ceiling_gflops, 0.0);
  options.seq = 65;
  EXPECT_EQ(error_of([&] { bench_encoder(model_, {}, options); }),
            "seq 65 exceeds the model's maximum length of 64");
}

TEST(LmEval, WindowsComeFromTheTokenStreamWithEndOfText) {
  const std::unique_ptr<CausalLm> model = load_causal_lm(kData / "gpt2" / "tiny");  // eos 127, 64 positions
  const std::unique_ptr<Tokenizer> tokenizer = load_tokenizer(kData / "gpt2_tokenizer" / "small");
  TempDir dir("lmwindows");
  std::string text;
  for (int i = 0; i < 20; ++i) text += "the cat sat on the mat " + std::to_string(i) + "\n";
  spit(dir / "lm.txt", text);
  std::vector<int32_t> stream;
  for (int i = 0; i < 20; ++i) {
    const Encoding encoding = tokenizer->encode("the cat sat on the mat " + std::to_string(i), 0);
    stream.insert(stream.end(), encoding.ids.begin(), encoding.ids.end());
    stream.push_back(127);
  }
  const std::vector<LmWindow> windows =
      read_lm_windows((dir / "lm.txt").string(), *model, *tokenizer, 6, 4, 0);
  ASSERT_EQ(windows.size(), stream.size() / 10);
  EXPECT_EQ(windows[1].prompt, std::vector<int32_t>(stream.begin() + 10, stream.begin() + 16));
  EXPECT_EQ(windows[1].continuation, std::vector<int32_t>(stream.begin() + 16, stream.begin() + 20));
  EXPECT_EQ(read_lm_windows((dir / "lm.txt").string(), *model, *tokenizer, 6, 4, 2).size(), 2u);

  try {
    read_lm_windows((dir / "lm.txt").string(), *model, *tokenizer, 60, 8, 0);
    ADD_FAILURE() << "no error for a window longer than the positions";
  } catch (const FieldError& error) {
    EXPECT_EQ(error.field(), "prompt_length + continuation_length");
    EXPECT_EQ(error.problem(), "is 68; the model takes at most 64 tokens");
  }
  // Errors name the file, and the line where a line is at fault.
  spit(dir / "short.txt", "the cat sat\n");
  EXPECT_EQ(error_of([&] { read_lm_windows((dir / "short.txt").string(), *model, *tokenizer, 40, 20, 0); }),
            (dir / "short.txt").string() + ": the text has 6 tokens, fewer than one window of 40 + 20");
  spit(dir / "bad.txt", "the cat sat\ncaf\xc3 ok\n");
  EXPECT_EQ(error_of([&] { read_lm_windows((dir / "bad.txt").string(), *model, *tokenizer, 4, 2, 0); }),
            (dir / "bad.txt").string() + ":2: invalid UTF-8 at byte 3");
}

// Windows of 24 prompt + 8 continuation tokens of a fixed token stream.
std::vector<LmWindow> fixed_windows() {
  std::vector<int32_t> stream;
  for (int i = 0; i < 200; ++i) stream.push_back((i * 37 + 11) % 127);
  return lm_windows(stream, 24, 8, 0);
}

TEST(LmEval, EveryTargetIsScoredAndTimedAgainstDense) {
  std::unique_ptr<CausalLm> model = load_causal_lm(kData / "gpt2" / "tiny");
  const std::vector<LmWindow> windows = fixed_windows();
  RecordedLatency latency;
  LmEvalOptions options;
  options.latency_samples = 2;
  const LmEvaluation evaluation =
      evaluate_lm_speedups(*model, windows, {1.0, 2.0, 3.0}, Sidecar{}, latency.source(), options);
  EXPECT_EQ(evaluation.timed, 2u);
  // S = 1 needs no measured table, S = 2 asks for one; the prior is not measured, so S = 3 asks again.
  EXPECT_EQ(latency.asked, (std::vector<bool>{false, true, true}));
  ASSERT_EQ(evaluation.targets.size(), 3u);
  const LmScore dense = score_continuations(*model, windows, nullptr);
  EXPECT_EQ(evaluation.targets[0].score.mean_nll, dense.mean_nll);
  EXPECT_DOUBLE_EQ(evaluation.targets[0].score.kept_fraction, 1.0);
  EXPECT_EQ(evaluation.targets[0].predicted_speedup, 1.0);
  for (const LmTargetResult& target : evaluation.targets) {
    EXPECT_EQ(target.score.tokens, static_cast<int64_t>(windows.size() * 8));
    EXPECT_EQ(target.timing.milliseconds.size(), 2u);
    EXPECT_GT(target.timing.ms.median, 0.0);
  }
  EXPECT_LT(evaluation.targets[2].score.kept_fraction, 1.0);
  EXPECT_GT(evaluation.targets[2].predicted_speedup, evaluation.targets[1].predicted_speedup);
}

// The truncation baseline: each S > 1 also as the prompts' last tokens prefilled dense, as many as
// the latency model says take 1/S of the whole prompt; scored on the same continuations.
TEST(LmEval, TruncationBaselineCutsThePromptToItsLastTokens) {
  std::unique_ptr<CausalLm> model = load_causal_lm(kData / "gpt2" / "tiny");
  const std::vector<LmWindow> windows = fixed_windows();
  RecordedLatency latency;
  LmEvalOptions options;
  options.latency_samples = 2;
  options.truncation_baseline = true;
  const LmEvaluation evaluation =
      evaluate_lm_speedups(*model, windows, {1.0, 2.0, 4.0}, Sidecar{}, latency.source(), options);
  ASSERT_EQ(evaluation.targets.size(), 5u);
  std::vector<std::string> arms;
  for (const LmTargetResult& target : evaluation.targets) arms.push_back(target.arm);
  EXPECT_EQ(arms, (std::vector<std::string>{"dense", "eliminate", "eliminate", "truncate", "truncate"}));
  const LatencyModel prior;
  for (size_t t = 3; t < 5; ++t) {
    const LmTargetResult& target = evaluation.targets[t];
    EXPECT_EQ(target.speedup, t == 3 ? 2.0 : 4.0);
    EXPECT_EQ(target.prompt_tokens, truncation_length(prior, model->shape(), 24, target.speedup));
    EXPECT_LT(target.prompt_tokens, 24);
    EXPECT_GE(target.predicted_speedup, target.speedup);
    EXPECT_EQ(target.timing.milliseconds.size(), 2u);
    std::vector<LmWindow> cut = windows;
    for (LmWindow& window : cut)
      window.prompt.erase(window.prompt.begin(), window.prompt.end() - target.prompt_tokens);
    EXPECT_EQ(target.score.mean_nll, score_continuations(*model, cut, nullptr).mean_nll);
    EXPECT_EQ(target.score.tokens, static_cast<int64_t>(windows.size() * 8));
  }
  EXPECT_LT(evaluation.targets[4].prompt_tokens, evaluation.targets[3].prompt_tokens);
  // truncation_length: the longest prefix within the budget.
  const int64_t half = truncation_length(prior, model->shape(), 24, 2.0);
  EXPECT_LE(prior.dense_seconds(half, model->shape()), prior.dense_seconds(24, model->shape()) / 2.0);
  EXPECT_GT(prior.dense_seconds(half + 1, model->shape()), prior.dense_seconds(24, model->shape()) / 2.0);
  EXPECT_EQ(truncation_length(prior, model->shape(), 24, 1.0), 24);
}

// The paired bootstrap: a constant shift has no spread; noise widens the interval around the
// point estimate, the same seed gives the same interval, and unpaired inputs are refused.
TEST(LmEval, PerplexityChangeIsPairedOverWindows) {
  const std::vector<double> base = {5.0, 6.0, 7.0, 5.5, 6.5};
  std::vector<double> shifted = base;
  for (double& nll : shifted) nll += 0.1;
  const PairedEstimate constant = perplexity_change(base, shifted);
  EXPECT_NEAR(constant.value, 100.0 * std::expm1(0.1), 1e-9);
  EXPECT_NEAR(constant.low, constant.value, 1e-9);
  EXPECT_NEAR(constant.high, constant.value, 1e-9);

  std::vector<double> noisy = base;
  const double noise[] = {0.3, -0.2, 0.25, -0.1, 0.05};  // mean 0.06
  for (size_t i = 0; i < noisy.size(); ++i) noisy[i] += noise[i];
  const PairedEstimate spread = perplexity_change(base, noisy);
  EXPECT_NEAR(spread.value, 100.0 * std::expm1(0.06), 1e-9);
  EXPECT_LT(spread.low, spread.value);
  EXPECT_GT(spread.high, spread.value);
  EXPECT_LT(spread.low, 0.0);  // five noisy windows cannot tell +6 % from no change
  const PairedEstimate again = perplexity_change(base, noisy);
  EXPECT_EQ(again.low, spread.low);
  EXPECT_EQ(again.high, spread.high);

  EXPECT_THROW(perplexity_change(base, std::vector<double>(4, 1.0)), InputError);
  EXPECT_THROW(perplexity_change({}, {}), InputError);
}

// Two models compared on the same windows: noise the two share cancels, so a constant gap
// between their increases has no spread, while noise of one alone widens the interval.
TEST(LmEval, ChangeDifferenceIsPairedAcrossBothModels) {
  const std::vector<double> dense = {5.0, 6.0, 7.0, 5.5, 6.5, 6.2};
  const double noise[] = {0.3, -0.2, 0.25, -0.1, 0.05, 0.0};
  std::vector<double> base_pruned = dense, other_dense = dense, other_pruned = dense;
  for (size_t i = 0; i < dense.size(); ++i) {
    base_pruned[i] += 0.05 + noise[i];        // the base model's increase, window by window
    other_dense[i] += 0.4;                    // the other model is worse everywhere
    other_pruned[i] += 0.4 + 0.1 + noise[i];  // and rises 0.05 nats more, on the same noise
  }
  const PairedChanges changes = perplexity_changes(dense, base_pruned, other_dense, other_pruned);
  // One pass gives each arm's change exactly as its own bootstrap does (the same draws).
  for (const auto& [joint, alone] :
       {std::pair{changes.base, perplexity_change(dense, base_pruned)},
        std::pair{changes.other, perplexity_change(other_dense, other_pruned)}}) {
    EXPECT_EQ(joint.value, alone.value);
    EXPECT_EQ(joint.low, alone.low);
    EXPECT_EQ(joint.high, alone.high);
  }
  const PairedEstimate shared = changes.difference;
  const double expected =
      perplexity_change(other_dense, other_pruned).value - perplexity_change(dense, base_pruned).value;
  EXPECT_NEAR(shared.value, expected, 1e-9);
  EXPECT_GT(shared.value, 0.0);
  EXPECT_GT(shared.low, 0.0);  // the shared noise cancels: the gap is clear on six windows

  std::vector<double> own_noise = other_dense;
  for (size_t i = 0; i < dense.size(); ++i) own_noise[i] += 0.1 + noise[(i + 3) % dense.size()];
  const PairedEstimate apart = perplexity_changes(dense, base_pruned, other_dense, own_noise).difference;
  EXPECT_GT(apart.high - apart.low, 10.0 * (shared.high - shared.low));
  EXPECT_LT(apart.low, 0.0);
  EXPECT_LE(apart.low, apart.value);
  EXPECT_GE(apart.high, apart.value);

  const PairedEstimate same = perplexity_changes(dense, base_pruned, dense, base_pruned).difference;
  EXPECT_NEAR(same.value, 0.0, 1e-12);
  EXPECT_NEAR(same.low, 0.0, 1e-12);
  EXPECT_NEAR(same.high, 0.0, 1e-12);
  EXPECT_THROW(perplexity_changes(dense, base_pruned, other_dense, std::vector<double>(5, 1.0)), InputError);
}

// latte compare's reader: each bad line is one error naming FILE:LINE, and the sizes are bounded.
TEST(LmEval, ComparedRunsAreReadStrictly) {
  TempDir dir("lmrun");
  const auto line = [](double speedup, const std::string& nll, const std::string& extra = "") {
    return "{\"speedup\": " + std::to_string(speedup) + ", \"perplexity\": 300, \"window_nll\": [" + nll +
           "]" + extra + "}\n";
  };
  const auto error = [&](const std::string& text) {
    spit(dir / "run.jsonl", text);
    return error_of([&] { read_lm_run(dir / "run.jsonl"); });
  };
  const std::string name = (dir / "run.jsonl").string();
  spit(dir / "run.jsonl", line(1, "5, 6") + "\n" + line(2, "5.5, 6"));
  const LmRun run = read_lm_run(dir / "run.jsonl");
  ASSERT_EQ(run.targets.size(), 2u);
  EXPECT_EQ(run.targets[1].window_nll, (std::vector<double>{5.5, 6.0}));
  EXPECT_FALSE(run.fingerprint.has_value());

  EXPECT_EQ(error(""), name + ": no results (expected lines of latte eval --task lm --json)");
  EXPECT_EQ(error(line(1, "5, 6") + line(1, "5, 6")), name + ":2: speedup 1.0 appears twice");
  EXPECT_EQ(error(line(1, "5, 6") + line(2, "5")), name + ":2: 1 windows, where line 1 has 2");
  EXPECT_EQ(error(line(1, "5, \"x\"")), name + ":1: 'window_nll' holds \"x\", not a finite number");
  EXPECT_EQ(error(line(1, "5, null")), name + ":1: 'window_nll' holds null, not a finite number");
  EXPECT_EQ(error(line(1, "5", ", \"windows_fingerprint\": \"ab\"") +
                  line(2, "5", ", \"windows_fingerprint\": \"cd\"")),
            name + ":2: scored other windows than the lines before it (windows_fingerprint differs)");
  EXPECT_EQ(error("{\"speedup\": 1, \"perplexity\": 3}\n"),
            name + ":1: no per-window NLLs ('window_nll'); it needs a line of latte eval --task lm --json");
  EXPECT_EQ(error("[1]\n"), name + ":1: expected a JSON object (a line of latte eval --task lm --json)");

  std::string many_windows = "0";
  for (size_t i = 0; i < kMaxLmRunWindows; ++i) many_windows += ",0";
  EXPECT_EQ(error(line(1, many_windows)), name + ":1: 100001 windows; a comparison takes at most 100000");
  std::string many_targets;
  for (size_t i = 0; i <= kMaxLmRunTargets; ++i) many_targets += line(1.0 + static_cast<double>(i), "5");
  EXPECT_EQ(error(many_targets),
            name + ":1001: more than 1000 results; a comparison takes at most 1000 speedups");
  std::string many_values;  // 11 lines of 100,000 windows each
  for (int i = 0; i < 11; ++i) many_values += line(1.0 + i, many_windows.substr(2));
  EXPECT_EQ(error(many_values),
            name + ":11: more than 1000000 window NLLs in all; a comparison takes at most that many");
}

TEST(LmEval, WindowsFingerprintTellsWindowsApart) {
  const std::vector<LmWindow> windows = {{{1, 2, 3}, {4}}, {{5, 6, 7}, {8}}};
  std::vector<LmWindow> changed = windows;
  changed[1].continuation[0] = 9;
  std::vector<LmWindow> moved = windows;
  moved[0] = {{1, 2}, {3, 4}};  // the same tokens, split elsewhere
  const std::vector<LmWindow> swapped = {windows[1], windows[0]};
  const uint64_t fingerprint = windows_fingerprint(windows);
  EXPECT_EQ(windows_fingerprint(std::vector<LmWindow>(windows)), fingerprint);
  EXPECT_NE(windows_fingerprint(changed), fingerprint);
  EXPECT_NE(windows_fingerprint(moved), fingerprint);
  EXPECT_NE(windows_fingerprint(swapped), fingerprint);
  EXPECT_NE(windows_fingerprint(std::span<const LmWindow>(windows).first(1)), fingerprint);
}

}  // namespace
}  // namespace latte
