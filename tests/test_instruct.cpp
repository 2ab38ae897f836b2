// Instruction data for encoder-decoders (data/instruct.h) on a small fetched-datasets folder, and
// the scoring of `latte eval` on it (eval/seq2seq_eval.h): answer normalisation, exact match,
// macro-F1 with answers outside the classes, paired changes and measured speedups.
#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <nlohmann/json.hpp>
#include <set>

#include "latte/core/error.h"
#include "latte/data/instruct.h"
#include "latte/eval/seq2seq_eval.h"
#include "test_support.h"

namespace {

namespace fs = std::filesystem;
using namespace latte;
using namespace latte::data;
using latte::test_support::slurp;
using latte::test_support::spit;
using latte::test_support::TempDir;

// A folder as `latte data fetch` writes it, with a few records per split.
void write_fetched(const fs::path& dir) {
  const char* genres[] = {"news", "humor", "belles_lettres"};
  for (const char* split : {"train", "dev", "test"}) {
    fs::create_directories(dir / "spam");
    fs::create_directories(dir / "brown-genre");
    fs::create_directories(dir / "lm");
    std::string spam, brown, lm;
    for (int i = 0; i < 8; ++i) {
      const std::string id = std::string(split) + "-" + std::to_string(i);
      spam +=
          nlohmann::json({{"id", "spam-1/" + id},
                          {"text", "message " + id + " buy now cheap offer today and many more words here"},
                          {"label", i % 2 == 0 ? "spam" : "ham"}})
              .dump() +
          "\n";
      brown += nlohmann::json({{"id", "ca0" + std::to_string(i) + "#" + split},
                               {"text", "The passage " + id + " tells of something that happened in town."},
                               {"label", genres[i % 3]}})
                   .dump() +
               "\n";
      lm += "The quick brown fox number " + std::to_string(i) + " jumps over the lazy sleeping dog " + split +
            ".\nshort line\n";
    }
    spit(dir / "spam" / (std::string(split) + ".jsonl"), spam);
    spit(dir / "brown-genre" / (std::string(split) + ".jsonl"), brown);
    spit(dir / "lm" / (std::string(split) + ".txt"), lm);
  }
}

size_t count_of(const std::string& text, const std::string& part) {
  size_t count = 0;
  for (size_t at = text.find(part); at != std::string::npos; at = text.find(part, at + 1)) ++count;
  return count;
}

TEST(Instruct, EveryTaskInEveryStyleForTestAndOneStyleEachForTrain) {
  TempDir work("instruct");
  write_fetched(work.path());
  InstructOptions options;
  options.shots = 2;
  const std::vector<InstructExample> test = build_instruct_examples(work.path(), Split::kTest, options);
  std::map<std::string, std::map<std::string, int>> counts;
  for (const InstructExample& example : test) ++counts[example.task][example.style];
  for (const char* task : kInstructTasks) {
    for (const char* style : kInstructStyles) EXPECT_EQ(counts[task][style], 8) << task << " " << style;
  }
  const std::vector<InstructExample> train = build_instruct_examples(work.path(), Split::kTrain, options);
  std::map<std::string, int> spam_styles;
  std::set<std::string> ids;
  for (const InstructExample& example : train) {
    if (example.task == "spam") ++spam_styles[example.style];
    EXPECT_TRUE(ids.insert(example.id.substr(0, example.id.find('@'))).second) << example.id;
  }
  EXPECT_EQ(spam_styles, (std::map<std::string, int>{{"fewshot", 2}, {"options", 3}, {"zero", 3}}));
}

TEST(Instruct, StylesFrameTheSameInputAndAnswer) {
  TempDir work("instruct_styles");
  write_fetched(work.path());
  InstructOptions options;
  options.shots = 3;
  const std::vector<InstructExample> dev = build_instruct_examples(work.path(), Split::kDev, options);
  std::map<std::string, std::map<std::string, const InstructExample*>> by_item;
  for (const InstructExample& example : dev)
    by_item[example.id.substr(0, example.id.find('@'))][example.style] = &example;
  int checked = 0;
  for (const auto& [item, styles] : by_item) {
    ASSERT_EQ(styles.size(), 3u) << item;
    const InstructExample& zero = *styles.at("zero");
    const InstructExample& listed = *styles.at("options");
    const InstructExample& fewshot = *styles.at("fewshot");
    EXPECT_EQ(zero.target, listed.target);
    EXPECT_EQ(zero.target, fewshot.target);
    // Every style ends with the same input and an answer prompt.
    const std::string tail = zero.source.substr(zero.source.rfind("\n\n") + 2);
    EXPECT_TRUE(listed.source.ends_with(tail)) << listed.source;
    EXPECT_TRUE(fewshot.source.ends_with(tail)) << fewshot.source;
    EXPECT_TRUE(zero.source.ends_with("\nAnswer:"));
    EXPECT_EQ(zero.source.find("Options:"), std::string::npos);
    EXPECT_NE(listed.source.find("Options:"), std::string::npos);
    // fewshot: three solved examples, each with its answer, then the input.
    EXPECT_EQ(count_of(fewshot.source, "Answer:"), 4u) << fewshot.source;
    EXPECT_EQ(listed.options.empty(), false);
    EXPECT_TRUE(std::find(listed.options.begin(), listed.options.end(), listed.target) !=
                listed.options.end());
    if (zero.task == "spam") {
      EXPECT_EQ(zero.classes, (std::vector<std::string>{"spam", "ham"}));
      EXPECT_NE(listed.source.find("Options: spam, ham."), std::string::npos);
    }
    if (zero.task == "genre") {
      // Labels become answers without underscores; the classes are the train genres.
      EXPECT_EQ(zero.classes, (std::vector<std::string>{"belles lettres", "humor", "news"}));
    }
    if (zero.task == "fill") {
      EXPECT_TRUE(zero.classes.empty());
      EXPECT_EQ(listed.options.size(), 4u);
      // Putting the answer in the blank gives back a line of lm/dev.txt.
      std::string sentence = tail.substr(tail.find(": ") + 2);
      sentence = sentence.substr(0, sentence.find('\n'));
      sentence.replace(sentence.find("___"), 3, zero.target);
      EXPECT_NE(slurp(work.path() / "lm" / "dev.txt").find(sentence + "\n"), std::string::npos) << sentence;
      EXPECT_GE(zero.target.size(), 4u);
    }
    ++checked;
  }
  EXPECT_EQ(checked, 24);
}

TEST(Instruct, FilesAreDeterministicAndReadBack) {
  TempDir work("instruct_files");
  write_fetched(work.path());
  InstructOptions options;
  write_instruct_datasets(work.path(), work.path() / "a", options);
  write_instruct_datasets(work.path(), work.path() / "b", options);
  options.seed = 7;
  write_instruct_datasets(work.path(), work.path() / "c", options);
  EXPECT_EQ(slurp(work.path() / "a" / "test.jsonl"), slurp(work.path() / "b" / "test.jsonl"));
  EXPECT_NE(slurp(work.path() / "a" / "test.jsonl"), slurp(work.path() / "c" / "test.jsonl"));
  const std::vector<InstructExample> read = read_instruct_examples(work.path() / "a" / "test.jsonl");
  EXPECT_EQ(read, build_instruct_examples(work.path(), Split::kTest, InstructOptions{}));
  EXPECT_EQ(read_instruct_examples(work.path() / "a" / "test.jsonl", 5).size(), 5u);
  EXPECT_NE(slurp(work.path() / "a" / "README.md").find("| test | fill | 8 | 8 | 8 |"), std::string::npos);
}

// A train split with fewer items than --shots: the fewshot prompts take what there is.
TEST(Instruct, FewerTrainItemsThanShots) {
  TempDir work("instruct_small");
  write_fetched(work.path());
  spit(work.path() / "spam" / "train.jsonl", R"({"id": "a", "text": "only one", "label": "ham"})"
                                             "\n"
                                             R"({"id": "b", "text": "and two", "label": "spam"})"
                                             "\n");
  InstructOptions options;
  options.shots = 3;
  for (const Split split : kAllSplits) {
    for (const InstructExample& example : build_instruct_examples(work.path(), split, options)) {
      if (example.task != "spam" || example.style != "fewshot") continue;
      EXPECT_EQ(count_of(example.source, "Answer:"), split == Split::kTrain ? 2u : 3u) << example.source;
    }
  }
}

TEST(Instruct, BadFilesNameTheirLine) {
  EXPECT_THROW(parse_instruct_line(R"({"source": "x"})", "f:3"), FormatError);
  try {
    parse_instruct_line(R"({"source": "x", "target": 4})", "f:3");
    FAIL();
  } catch (const FormatError& error) {
    EXPECT_STREQ(error.what(), "f:3: \"target\" is not a string");
  }
  const InstructExample bare = parse_instruct_line(R"({"source": "s", "target": "t"})", "f:1");
  EXPECT_EQ(bare.task, "all");
  EXPECT_EQ(bare.id, "f:1");
  TempDir work("instruct_missing");
  try {
    build_instruct_examples(work.path(), Split::kTest, {});
    FAIL();
  } catch (const FormatError& error) {
    EXPECT_NE(std::string(error.what()).find("spam/train.jsonl is missing"), std::string::npos)
        << error.what();
  }
}

TEST(Seq2SeqScore, NormalisesAnswers) {
  EXPECT_EQ(normalize_answer("  Belles   lettres. "), "belles lettres");
  EXPECT_EQ(normalize_answer("SPAM!"), "spam");
  EXPECT_EQ(normalize_answer("Café"), "café");
  EXPECT_EQ(normalize_answer(""), "");
}

TEST(Seq2SeqScore, ExactMatchMacroF1ChangesAndSpeedups) {
  const std::vector<std::string> classes{"spam", "ham"};
  std::vector<InstructExample> examples;
  const char* gold[] = {"spam", "spam", "ham", "ham"};
  for (int i = 0; i < 4; ++i)
    examples.push_back({"e" + std::to_string(i), "spam", "zero", "src", gold[i], {}, classes});
  examples.push_back({"f", "fill", "zero", "src", "word", {}, {}});
  Seq2SeqRuns runs;
  // Target 0: all right. Target 1: "Spam." right, one ham said spam, one answer outside the classes.
  const char* answers[2][5] = {{"spam", "spam", "ham", "ham", "word"},
                               {"Spam.", "spam", "spam", "maybe", "other"}};
  for (int t = 0; t < 2; ++t) {
    runs.predictions.emplace_back();
    for (int i = 0; i < 5; ++i) {
      Seq2SeqPrediction prediction;
      prediction.text = answers[t][i];
      prediction.exact = normalize_answer(prediction.text) == normalize_answer(examples[i].target);
      prediction.encoder_seconds = t == 0 ? 0.004 : 0.002;
      prediction.total_seconds = t == 0 ? 0.010 : 0.008;
      prediction.kept_fraction = t == 0 ? 1.0 : 0.5;
      runs.predictions.back().push_back(prediction);
    }
  }
  const auto scores = score_seq2seq_runs(examples, runs, 200);
  ASSERT_EQ(scores.size(), 2u);
  ASSERT_EQ(scores[1].size(), 3u);  // spam/zero, fill/zero, all/all
  const Seq2SeqGroupScore& spam = scores[1][0];
  EXPECT_EQ(spam.task, "spam");
  EXPECT_EQ(spam.examples, 4u);
  EXPECT_DOUBLE_EQ(spam.exact_match.value, 0.5);
  ASSERT_TRUE(spam.macro_f1.has_value());
  // spam: precision 2/3, recall 1 -> 0.8; ham: 0; "other": 0 (predicted once, never gold).
  EXPECT_NEAR(spam.macro_f1->value, 0.8 / 3, 1e-12);
  ASSERT_TRUE(spam.change.has_value());
  EXPECT_DOUBLE_EQ(spam.change->value, -0.5);
  EXPECT_LE(spam.change->low, spam.change->value);
  EXPECT_GE(spam.change->high, spam.change->value);
  EXPECT_NEAR(spam.encoder_speedup, 2.0, 1e-12);
  EXPECT_NEAR(spam.total_speedup, 1.25, 1e-12);
  EXPECT_NEAR(spam.encoder_ms, 2.0, 1e-12);
  EXPECT_DOUBLE_EQ(spam.kept_fraction, 0.5);
  EXPECT_FALSE(scores[0][0].change.has_value());
  EXPECT_DOUBLE_EQ(scores[0][0].macro_f1->value, 1.0);
  const Seq2SeqGroupScore& fill = scores[1][1];
  EXPECT_FALSE(fill.macro_f1.has_value());
  EXPECT_DOUBLE_EQ(fill.exact_match.value, 0.0);
  const Seq2SeqGroupScore& all = scores[1][2];
  EXPECT_EQ(all.task, "all");
  EXPECT_EQ(all.examples, 5u);
  EXPECT_DOUBLE_EQ(all.exact_match.value, 0.4);
  EXPECT_FALSE(all.macro_f1.has_value());
}

}  // namespace

namespace {

using latte::test_support::CommandResult;
using latte::test_support::expect_one_line_error;
using latte::test_support::lines_of;
using latte::test_support::run_latte;

// latte eval on a T5 folder: every arm and group in the JSON, elimination and truncation keeping
// fewer rows than dense, and the dense answers the ones `latte generate` gives.
TEST(Seq2SeqEvalCli, EveryArmPerTaskAndStyleAndDenseAnswersAsGenerate) {
  TempDir work("t5_eval");
  write_fetched(work.path());
  write_instruct_datasets(work.path(), work.path() / "instruct", InstructOptions{});
  const fs::path model = work.path() / "t5";
  const CommandResult init =
      run_latte(work.path(), "init --family t5 --preset tiny --tokenizer " +
                                 (fs::path(LATTE_TEST_DATA_DIR) / "t5_tokenizer").string() + " --out " +
                                 model.string());
  ASSERT_EQ(init.exit_code, 0) << init.err;
  const fs::path data = work.path() / "instruct" / "test.jsonl";
  const fs::path predictions = work.path() / "predictions.jsonl";
  const CommandResult eval = run_latte(
      work.path(), "eval --model " + model.string() + " --data " + data.string() +
                       " --max 9 --speedups 1,2 --no-profile --truncation-baseline --json --predictions " +
                       predictions.string());
  ASSERT_EQ(eval.exit_code, 0) << eval.err;
  // --max 9: the spam task's first three inputs, each in three styles.
  std::map<std::string, nlohmann::json> rows;  // "arm speedup style"
  for (const std::string& line : lines_of(eval.out)) {
    const nlohmann::json row = nlohmann::json::parse(line);
    EXPECT_EQ(row["task"], row["style"] == "all" ? "all" : "spam");
    const double exact = row["exact_match"];
    EXPECT_GE(exact, 0.0);
    EXPECT_LE(exact, 1.0);
    EXPECT_LE(row["exact_match_ci95"][0].get<double>(), exact);
    EXPECT_GE(row["exact_match_ci95"][1].get<double>(), exact);
    EXPECT_TRUE(row.contains("macro_f1")) << line;  // "all" is one classification task too
    EXPECT_GT(row["encoder_ms"].get<double>(), 0.0);
    EXPECT_GE(row["total_ms"].get<double>(), row["encoder_ms"].get<double>());
    rows[row["arm"].get<std::string>() + " " + std::to_string(row["speedup"].get<int>()) + " " +
         row["style"].get<std::string>()] = row;
  }
  ASSERT_EQ(rows.size(), 12u) << eval.out;  // dense, eliminate 2, truncate 2 x (3 styles + all)
  for (const char* style : {"zero", "options", "fewshot", "all"}) {
    EXPECT_EQ(rows.at(std::string("dense 1 ") + style)["kept_fraction"], 1.0);
    EXPECT_LT(rows.at(std::string("eliminate 2 ") + style)["kept_fraction"].get<double>(), 1.0);
    EXPECT_LT(rows.at(std::string("truncate 2 ") + style)["kept_fraction"].get<double>(), 1.0);
    EXPECT_TRUE(rows.at(std::string("eliminate 2 ") + style).contains("exact_match_change"));
  }
  EXPECT_EQ(rows.at("dense 1 all")["examples"], 9);

  // The dense answers are generate's on the same sources.
  std::vector<nlohmann::json> dense;
  for (const std::string& line : lines_of(slurp(predictions))) {
    const nlohmann::json prediction = nlohmann::json::parse(line);
    if (prediction["arm"] == "dense") dense.push_back(prediction);
  }
  ASSERT_EQ(dense.size(), 9u);
  std::string first_nine;
  for (const std::string& line : lines_of(slurp(data))) {
    if (lines_of(first_nine).size() < 9) first_nine += line + "\n";
  }
  spit(work.path() / "nine.jsonl", first_nine);
  const int max_new_tokens = nlohmann::json::parse(lines_of(eval.out)[0])["max_new_tokens"];
  const CommandResult generated =
      run_latte(work.path(),
                "generate --model " + model.string() + " --input " + (work.path() / "nine.jsonl").string() +
                    " --text-field source --max-new-tokens " + std::to_string(max_new_tokens) + " --json");
  ASSERT_EQ(generated.exit_code, 0) << generated.err;
  const std::vector<std::string> answers = lines_of(generated.out);
  ASSERT_EQ(answers.size(), 9u);
  for (size_t i = 0; i < 9; ++i)
    EXPECT_EQ(nlohmann::json::parse(answers[i])["text"], dense[i]["answer"]) << i;
}

TEST(Seq2SeqEvalCli, BadInputsAreOneLineErrors) {
  TempDir work("t5_eval_bad");
  const fs::path model = work.path() / "t5";
  ASSERT_EQ(run_latte(work.path(), "init --family t5 --preset tiny --tokenizer " +
                                       (fs::path(LATTE_TEST_DATA_DIR) / "t5_tokenizer").string() + " --out " +
                                       model.string())
                .exit_code,
            0);
  spit(work.path() / "bad.jsonl",
       "{\"source\": \"a question\", \"target\": \"x\"}\n{\"source\": \"no target\"}\n");
  expect_one_line_error(run_latte(work.path(), "eval --no-profile --model " + model.string() + " --data " +
                                                   (work.path() / "bad.jsonl").string()),
                        "bad.jsonl:2: missing \"target\"");
  expect_one_line_error(run_latte(work.path(), "eval --no-profile --model " + model.string() + " --data " +
                                                   (work.path() / "bad.jsonl").string() + " --task sst-2"),
                        "--task, --latency-ms and --max-length do not apply");
  const fs::path bert = fs::path(LATTE_TEST_DATA_DIR) / "bert" / "cls3_f32";
  expect_one_line_error(
      run_latte(work.path(), "eval --model " + bert.string() + " --data " +
                                 (work.path() / "bad.jsonl").string() + " --truncation-baseline"),
      "--truncation-baseline applies to encoder-decoders");
}

}  // namespace

namespace {

// latte data instruct: a folder without the fetched datasets, and a flag out of range.
TEST(InstructCli, BadInputsAreOneLineErrors) {
  TempDir work("instruct_cli");
  latte::test_support::expect_one_line_error(
      latte::test_support::run_latte(work.path(), "data instruct --data " + work.path().string()),
      "spam/train.jsonl is missing: write the datasets with `latte data fetch");
  latte::test_support::expect_one_line_error(
      latte::test_support::run_latte(work.path(),
                                     "data instruct --data " + work.path().string() + " --shots 99"),
      "--shots");
  EXPECT_FALSE(fs::exists(work.path() / "instruct"));  // nothing written
}

}  // namespace
