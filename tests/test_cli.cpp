// The latte command line on good and bad input: every bad input ends in one
// line on stderr and a non-zero exit, never a signal.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <cstdlib>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>

#include "test_support.h"

namespace {

using namespace latte::test_support;

namespace fs = std::filesystem;
const fs::path kBertData = fs::path(LATTE_TEST_DATA_DIR) / "bert";

class Cli : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    work_ = fs::temp_directory_path() /
            ("latte_cli_" + std::string(info->name()) + "_" + std::to_string(getpid()));
    fs::remove_all(work_);
    fs::create_directories(work_);
    model_ = work_ / "model";
    fs::copy(kBertData / "cls3_f32", model_);
  }
  void TearDown() override { fs::remove_all(work_); }

  CommandResult run(const std::string& arguments, const std::string& stdin_text = "") {
    return run_latte(work_, arguments, stdin_text);
  }

  // A command on the corrupted model must fail cleanly with `expected` in its one-line message.
  void expect_clean_failure(const std::string& arguments, const std::string& expected) {
    expect_one_line_error(run(arguments), expected);
  }

  std::string classify() const { return "classify --model " + model_.string() + " 'some text'"; }

  // The checkpoint's safetensors header and data, to corrupt.
  nlohmann::json header() const {
    const std::string bytes = slurp(model_ / "model.safetensors");
    uint64_t length = 0;
    std::memcpy(&length, bytes.data(), 8);
    return nlohmann::json::parse(bytes.substr(8, length));
  }
  std::string data_section() const {
    const std::string bytes = slurp(model_ / "model.safetensors");
    uint64_t length = 0;
    std::memcpy(&length, bytes.data(), 8);
    return bytes.substr(8 + length);
  }
  void write_weights(const nlohmann::json& new_header, const std::string& data) const {
    const std::string text = new_header.dump();
    const uint64_t length = text.size();
    std::string bytes(reinterpret_cast<const char*>(&length), 8);
    spit(model_ / "model.safetensors", bytes + text + data);
  }
  void edit_config(const std::function<void(nlohmann::json&)>& edit) const {
    nlohmann::json config = nlohmann::json::parse(slurp(model_ / "config.json"));
    edit(config);
    spit(model_ / "config.json", config.dump());
  }

  fs::path work_;
  fs::path model_;
};

TEST_F(Cli, ClassifiesAndTokenizes) {
  CommandResult result = run("classify --json --model " + model_.string() + " 'the cat' 'a dog ran'");
  ASSERT_EQ(result.exit_code, 0) << result.err;
  std::istringstream lines(result.out);
  std::string line;
  int count = 0;
  while (std::getline(lines, line)) {
    const auto object = nlohmann::json::parse(line);
    EXPECT_TRUE(object["label"].is_string());
    EXPECT_EQ(object["probs"].size(), 3u);
    EXPECT_EQ(object["logits"].size(), 3u);
    ++count;
  }
  EXPECT_EQ(count, 2);
  result = run("tokenize --json --model " + model_.string() + " 'the cat'");
  ASSERT_EQ(result.exit_code, 0) << result.err;
  const auto tokens = nlohmann::json::parse(result.out);
  EXPECT_EQ(tokens["tokens"].front(), "[CLS]");
  EXPECT_EQ(tokens["tokens"].back(), "[SEP]");
}

TEST_F(Cli, InputFileJsonlAndPlainKeepOrder) {
  spit(work_ / "in.jsonl", "{\"text\": \"the cat\"}\n\n{\"text\": \"a\", \"text_pair\": \"dog\"}\n");
  CommandResult result =
      run("classify --model " + model_.string() + " --input " + (work_ / "in.jsonl").string());
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_EQ(std::count(result.out.begin(), result.out.end(), '\n'), 2);
  spit(work_ / "bad.jsonl", "{\"text\": \"the cat\"}\n{\"txt\": 1}\n");
  expect_clean_failure("classify --model " + model_.string() + " --input " + (work_ / "bad.jsonl").string(),
                       "bad.jsonl:2");
  result = run("tokenize --model " + model_.string() + " --input -", "the cat\nthe dog\n");
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_EQ(std::count(result.out.begin(), result.out.end(), '\n'), 2);
}

// The issue's CSV: a header row, quoted fields with commas, doubled quotes and a line break,
// and a label column that must not reach the text.
TEST_F(Cli, CsvInputIsOneOutputPerRowWithoutTheLabel) {
  std::string csv = "text,label\r\n";
  for (int i = 0; i < 17; ++i) csv += "the cat number " + std::to_string(i) + ",spam\r\n";
  csv += "\"the cat, the dog\",ham\r\n\"a \"\"quoted\"\" film\",ham\r\n\"two\r\nlines\",spam\r\n";
  spit(work_ / "test.csv", csv);
  const std::string input = " --input " + (work_ / "test.csv").string();
  CommandResult result = run("classify --model " + model_.string() + input);
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_EQ(lines_of(result.out).size(), 20u) << result.out;

  result = run("tokenize --model " + model_.string() + input);
  ASSERT_EQ(result.exit_code, 0) << result.err;
  const auto tokenized = lines_of(result.out);
  ASSERT_EQ(tokenized.size(), 20u);
  const CommandResult direct = run("tokenize --model " + model_.string() + " 'the cat, the dog'");
  EXPECT_EQ(tokenized[17] + "\n", direct.out);
  const CommandResult two_lines =
      run("tokenize --model " + model_.string() + " 'two lines'");  // \r\n is a space
  EXPECT_EQ(tokenized[19] + "\n", two_lines.out);

  // The same rows as TSV in a .txt file, read as TSV by --format.
  spit(work_ / "test.txt", "label\tsentence\nspam\tthe cat, the dog\n");
  result =
      run("tokenize --format tsv --model " + model_.string() + " --input " + (work_ / "test.txt").string());
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_EQ(result.out, direct.out);

  spit(work_ / "reviews.csv", "review,stars\nnice,5\n");
  expect_clean_failure("classify --model " + model_.string() + " --input " + (work_ / "reviews.csv").string(),
                       "--text-field is needed: " + (work_ / "reviews.csv").string() + ":1 has no column");
  result = run("classify --model " + model_.string() + " --text-field review --input " +
               (work_ / "reviews.csv").string());
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_EQ(lines_of(result.out).size(), 1u);
}

TEST_F(Cli, OverlongInputIsTruncatedAndAnswered) {
  std::string text;
  for (int i = 0; i < 5000; ++i) text += "the cat ran ";
  spit(work_ / "long.txt", text + "\n");
  const CommandResult result =
      run("classify --json --model " + model_.string() + " --input " + (work_ / "long.txt").string());
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_TRUE(nlohmann::json::parse(result.out)["label"].is_string());
  EXPECT_EQ(result.err,
            "latte: notice: 1 of 1 input was longer than 64 tokens and was truncated to 64 (--max-length N "
            "up to 64, or --no-truncate to refuse)\n");
}

// "the" is one word piece of the fixture's vocabulary: `words` of them are words + 2 tokens.
std::string the_times(int words) {
  std::string text;
  for (int i = 0; i < words; ++i) text += i == 0 ? "the" : " the";
  return text;
}

TEST_F(Cli, TruncationIsCountedOncePerRunAndCanBeChosenOrRefused) {
  // 62 words fill the 64 positions exactly; 63 and 100 are cut.
  spit(work_ / "in.txt", the_times(62) + "\n" + the_times(63) + "\nthe\n" + the_times(100) + "\n");
  const std::string input = " --model " + model_.string() + " --input " + (work_ / "in.txt").string();
  CommandResult result = run("classify" + input);
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_EQ(lines_of(result.out).size(), 4u);
  EXPECT_EQ(
      result.err,
      "latte: notice: 2 of 4 inputs were longer than 64 tokens and were truncated to 64 (--max-length N "
      "up to 64, or --no-truncate to refuse)\n");

  result = run("tokenize --json --max-length 10" + input);
  ASSERT_EQ(result.exit_code, 0) << result.err;
  const std::vector<std::string> lines = lines_of(result.out);
  ASSERT_EQ(lines.size(), 4u);
  EXPECT_EQ(nlohmann::json::parse(lines[0])["ids"].size(), 10u);
  EXPECT_EQ(nlohmann::json::parse(lines[2])["ids"].size(), 3u);
  EXPECT_NE(result.err.find("3 of 4 inputs were longer than 10 tokens and were truncated to 10"),
            std::string::npos)
      << result.err;

  result = run("classify --max-length 10 --json" + input);
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_NE(result.err.find("3 of 4 inputs were longer than 10 tokens"), std::string::npos) << result.err;

  expect_clean_failure("classify --max-length 65" + input, "--max-length must be between 2 and 64");
  expect_clean_failure("eval --task lm --max-length 10 --model " + model_.string() + " --data x",
                       "--max-length does not apply to --task lm");
  expect_clean_failure("tokenize --max-length 2" + input, "--max-length must be between 3 and 64");
  // Refused: the first over-long input, named with its length in tokens; nothing is cut.
  result = run("classify --no-truncate" + input);
  expect_one_line_error(result,
                        "in.txt:2: the input has 65 tokens, more than the 64 taken, and truncation is off");
  EXPECT_EQ(lines_of(result.out).size(), 0u);  // the batch holding the refused input never ran
  expect_clean_failure("tokenize --no-truncate --max-length 50" + input,
                       "in.txt:1: the input has 64 tokens, more than the 50 taken");
  // A text pair counts as one input.
  result = run("tokenize --model " + model_.string() + " --max-length 5 'the the' 'the the'");
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_NE(result.err.find("1 of 1 input was longer than 5 tokens"), std::string::npos) << result.err;
}

TEST_F(Cli, CalibrateSaysHowManyInputsItCut) {
  spit(work_ / "in.txt", the_times(62) + "\n" + the_times(63) + "\n");
  const std::string input = " --model " + model_.string() + " --input " + (work_ / "in.txt").string();
  CommandResult result = run("calibrate --max-length 32" + input);
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_NE(
      result.err.find("latte: notice: 2 of 2 inputs were longer than 32 tokens and were truncated to 32 "
                      "(--max-length N up to 64, or --no-truncate to refuse)"),
      std::string::npos)
      << result.err;
  expect_clean_failure("calibrate --no-truncate" + input,
                       "in.txt:2: the input has 65 tokens, more than the 64 taken, and truncation is off");
  expect_clean_failure("calibrate --max-length 65" + input,
                       "--max-length 65 exceeds the model's maximum length of 64");
}

TEST_F(Cli, FlagErrorsNameTheCommandItsHelpAndTheFlagMeant) {
  const std::string model = " --model " + model_.string();
  expect_clean_failure("classify" + model + " --spedup 2 'x'",
                       "latte: error: classify: unknown flag --spedup; did you mean --speedup? (see latte "
                       "classify --help)");
  expect_clean_failure("classify" + model + " --batchsize=4 'x'",
                       "unknown flag --batchsize; did you mean --batch-size?");
  expect_clean_failure("classify" + model + " --prompt-ids 1,2",
                       "classify: --prompt-ids is a flag of latte generate, not of latte classify (see latte "
                       "classify --help)");
  expect_clean_failure("classify" + model + " --frobnicate 'x'",
                       "classify: unknown flag --frobnicate (see latte classify --help)");
  const std::string data =
      " --data " + (fs::path(LATTE_TEST_DATA_DIR) / "fixtures" / "eval" / "cls3.jsonl").string();
  expect_clean_failure(
      "eval" + model + data + " --speedups 1 2 3",
      "eval: unexpected argument '2' after --speedups 1: --speedups takes one value; did you "
      "mean --speedups 1,2,3? (see latte eval --help)");
  expect_clean_failure("eval" + model + data + " --speedup 3",
                       "eval: unknown flag --speedup; did you mean --speedups?");
  expect_clean_failure("eval" + model + " --json 3" + data,
                       "eval: unexpected argument '3': latte eval takes no positional arguments");
  // A misspelt required flag is named as misspelt, not as missing.
  expect_clean_failure("eval" + model + " --dat x", "eval: unknown flag --dat; did you mean --data?");
  expect_clean_failure("eval" + model, "eval: --data is required (see latte eval --help)");
  expect_clean_failure("classify" + model + " --batch-size x 'y'", "(see latte classify --help)");
  expect_clean_failure("data fetch --outt x",
                       "data fetch: unknown flag --outt; did you mean --out? (see latte data fetch --help)");
  expect_clean_failure("clasify x", "unknown command 'clasify'; did you mean classify? (see latte --help)");
  expect_clean_failure("data fecth --out x",
                       "data: unknown command 'fecth'; did you mean fetch? (see latte data --help)");
}

TEST_F(Cli, TheDefaultModelNoteIsOnlyWhereModelIsOptional) {
  const std::string note = "Without --model, this command uses the bundled default model";
  const auto help = [&](const std::string& command) {
    const CommandResult result = run(command + " --help");
    EXPECT_EQ(result.exit_code, 0) << result.err;
    return result.out;
  };
  EXPECT_NE(help("classify").find(note), std::string::npos);
  EXPECT_NE(help("eval").find(note), std::string::npos);
  EXPECT_EQ(help("plot").find(note), std::string::npos);
  EXPECT_EQ(help("compare").find(note), std::string::npos);
  EXPECT_EQ(help("generate").find(note), std::string::npos);  // --model is required there
  EXPECT_EQ(run("--help").out.find("Without --model"), std::string::npos);
}

TEST_F(Cli, InvalidUtf8IsRejected) {
  spit(work_ / "bad.txt", "fine\nbad \xff\xfe bytes\n");
  expect_clean_failure("classify --model " + model_.string() + " --input " + (work_ / "bad.txt").string(),
                       "bad.txt:2");
}

TEST_F(Cli, BadFlagsAreUsageErrors) {
  expect_clean_failure("classify --model " + model_.string() + " --batch-size 0 'x'", "batch-size");
  expect_clean_failure("bench --model " + model_.string() + " --seq 100000", "seq");
  expect_clean_failure("frobnicate", "frobnicate");
  expect_clean_failure("classify --model " + (work_ / "nope").string() + " x", "does not exist");
  expect_clean_failure("classify --model " + model_.string() + " --threads 0 x", "threads");
}

// The kernel switches of the environment: a bad value is one line naming the variable.
TEST_F(Cli, BadKernelEnvironmentVariablesAreOneLineErrors) {
  expect_one_line_error(run_latte(work_, classify(), "", "LATTE_ATTENTION=flash"),
                        "LATTE_ATTENTION must be fused or sgemm, got 'flash'");
  expect_one_line_error(run_latte(work_, classify(), "", "LATTE_GEMM_ISA=sse2"),
                        "LATTE_GEMM_ISA must be avx2 or avx512, got 'sse2'");
  const CommandResult general = run_latte(work_, classify(), "", "LATTE_ATTENTION=sgemm");
  const CommandResult fused = run_latte(work_, classify(), "", "LATTE_ATTENTION=fused");
  ASSERT_EQ(general.exit_code, 0) << general.err;
  ASSERT_EQ(fused.exit_code, 0) << fused.err;
  EXPECT_EQ(general.out, fused.out);  // the same label and rounded probability either way
}

TEST_F(Cli, TruncatedWeights) {
  const std::string bytes = slurp(model_ / "model.safetensors");
  spit(model_ / "model.safetensors", bytes.substr(0, bytes.size() / 2));
  expect_clean_failure(classify(), "model.safetensors");
  spit(model_ / "model.safetensors", bytes.substr(0, 5));
  expect_clean_failure(classify(), "model.safetensors");
}

TEST_F(Cli, AbsurdHeaderLength) {
  std::string bytes = slurp(model_ / "model.safetensors");
  const uint64_t absurd = uint64_t{1} << 60;
  std::memcpy(bytes.data(), &absurd, 8);
  spit(model_ / "model.safetensors", bytes);
  expect_clean_failure(classify(), "model.safetensors");
}

TEST_F(Cli, HeaderNotJson) {
  const std::string text = "{not json at all";
  const uint64_t length = text.size();
  spit(model_ / "model.safetensors", std::string(reinterpret_cast<const char*>(&length), 8) + text);
  expect_clean_failure(classify(), "model.safetensors");
}

TEST_F(Cli, OffsetsPastTheEnd) {
  nlohmann::json h = header();
  h["classifier.bias"]["data_offsets"][1] = 1u << 30;
  write_weights(h, data_section());
  expect_clean_failure(classify(), "classifier.bias");
}

TEST_F(Cli, OverlappingOffsets) {
  nlohmann::json h = header();
  h["classifier.bias"]["data_offsets"] = h["classifier.weight"]["data_offsets"];
  h["classifier.bias"]["shape"] = h["classifier.weight"]["shape"];
  write_weights(h, data_section());
  expect_clean_failure(classify(), "overlap");
}

TEST_F(Cli, DtypeSizeDisagreesWithBytes) {
  nlohmann::json h = header();
  h["classifier.bias"]["dtype"] = "F16";
  write_weights(h, data_section());
  expect_clean_failure(classify(), "classifier.bias");
}

TEST_F(Cli, UnknownDtype) {
  nlohmann::json h = header();
  h["classifier.bias"]["dtype"] = "Q4_K";
  write_weights(h, data_section());
  expect_clean_failure(classify(), "Q4_K");
}

TEST_F(Cli, WrongShape) {
  nlohmann::json h = header();
  h["classifier.bias"]["shape"] = {1, 3};
  write_weights(h, data_section());
  expect_clean_failure(classify(), "classifier.bias");
}

TEST_F(Cli, MissingTensor) {
  nlohmann::json h = header();
  h.erase("bert.pooler.dense.bias");
  write_weights(h, data_section());
  expect_clean_failure(classify(), "bert.pooler.dense.bias");
}

TEST_F(Cli, ConfigMissingField) {
  edit_config([](nlohmann::json& config) { config.erase("num_attention_heads"); });
  expect_clean_failure(classify(), "num_attention_heads");
}

TEST_F(Cli, ConfigNotJson) {
  spit(model_ / "config.json", "{\"hidden_size\": 32,");
  expect_clean_failure(classify(), "config.json");
}

TEST_F(Cli, UnknownArchitecture) {
  edit_config([](nlohmann::json& config) { config["architectures"] = {"MambaForCausalLM"}; });
  expect_clean_failure(classify(), "MambaForCausalLM");
  edit_config([](nlohmann::json& config) { config["model_type"] = "mamba"; });
  expect_clean_failure(classify(), "mamba");
}

TEST_F(Cli, HeadsDoNotDivideHidden) {
  edit_config([](nlohmann::json& config) { config["num_attention_heads"] = 5; });
  expect_clean_failure(classify(), "divisible");
}

TEST_F(Cli, FolderWithoutWeightsOrVocabulary) {
  fs::remove(model_ / "model.safetensors");
  expect_clean_failure(classify(), "model.safetensors");
  fs::copy(kBertData / "cls3_f32" / "model.safetensors", model_ / "model.safetensors");
  fs::remove(model_ / "vocab.txt");
  expect_clean_failure(classify(), "vocab");
}

TEST_F(Cli, InitWritesALoadableCheckpointAndRefusesToOverwrite) {
  const std::string out = (work_ / "fresh").string();
  const std::string vocab = (model_ / "vocab.txt").string();
  CommandResult result =
      run("init --preset tiny --num-labels 1 --vocab " + vocab + " --out " + out + " --dtype f16");
  ASSERT_EQ(result.exit_code, 0) << result.err;
  result = run("info --json --model " + out);
  ASSERT_EQ(result.exit_code, 0) << result.err;
  const auto info = nlohmann::json::parse(result.out);
  EXPECT_EQ(info["task"], "regression");
  EXPECT_EQ(info["dtype_on_disk"], "F16");
  result = run("classify --json --model " + out + " 'the cat'");
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_TRUE(nlohmann::json::parse(result.out)["score"].is_number());
  expect_clean_failure("init --preset tiny --vocab " + vocab + " --out " + out, "--force");
}

TEST_F(Cli, InitRefusesANonEmptyFolderWithoutForce) {
  // Only config.json and model.safetensors used to be checked: a vocab.txt was overwritten.
  const fs::path out = work_ / "occupied";
  fs::create_directories(out);
  spit(out / "vocab.txt", "[PAD]\nmine\n");
  expect_clean_failure(
      "init --preset tiny --vocab " + (model_ / "vocab.txt").string() + " --out " + out.string(),
      out.string() + " is not empty");
  EXPECT_EQ(slurp(out / "vocab.txt"), "[PAD]\nmine\n");
  EXPECT_FALSE(fs::exists(out / "config.json"));
}

TEST_F(Cli, InitForceRemovesTheOldModelsStaleFilesOnly) {
  // A stale tokenizer.json would win over the new vocab.txt (every word [UNK]) and a stale
  // latte.json would calibrate the new model with the old one's numbers.
  const fs::path out = work_ / "replaced";
  fs::copy(model_, out);
  spit(out / "tokenizer.json", R"({"model": {"type": "WordPiece", "vocab": {"[UNK]": 0}}})");
  spit(out / "latte.json", R"({"latte_version": 1, "calibration": "stale"})");
  spit(out / "notes.md", "mine");
  spit(work_ / "victim", "precious");
  fs::create_symlink(work_ / "victim", out / "model.safetensors.tmp");
  const CommandResult result = run("init --preset tiny --vocab " + (model_ / "vocab.txt").string() +
                                   " --out " + out.string() + " --force");
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_FALSE(fs::exists(out / "tokenizer.json"));
  EXPECT_FALSE(fs::exists(out / "latte.json"));
  EXPECT_NE(result.err.find("removed " + (out / "latte.json").string()), std::string::npos) << result.err;
  EXPECT_EQ(slurp(out / "notes.md"), "mine");
  EXPECT_EQ(slurp(work_ / "victim"), "precious");
  // The words of the new vocab.txt, not the stale tokenizer.json's [UNK].
  const CommandResult expected = run("tokenize --json --model " + model_.string() + " 'the movie'");
  const CommandResult tokens = run("tokenize --json --model " + out.string() + " 'the movie'");
  ASSERT_EQ(tokens.exit_code, 0) << tokens.err;
  EXPECT_EQ(tokens.out, expected.out);
  EXPECT_EQ(tokens.out.find("[UNK]"), std::string::npos) << tokens.out;
}

TEST_F(Cli, CalibrateIgnoresASymlinkAtTheOldTemporaryName) {
  spit(work_ / "victim", "precious");
  fs::create_symlink(work_ / "victim", model_ / "latte.json.tmp");
  const CommandResult result = run("calibrate --model " + model_.string() + " --input -", "the cat\na dog\n");
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_EQ(slurp(work_ / "victim"), "precious");
  EXPECT_TRUE(nlohmann::json::parse(slurp(model_ / "latte.json")).contains("calibration"));
}

TEST_F(Cli, CalibrateLeavesNoLockFileInTheModelFolder) {
  const CommandResult result = run("calibrate --model " + model_.string() + " --input -", "the cat\na dog\n");
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_TRUE(fs::exists(model_ / "latte.json"));
  EXPECT_FALSE(fs::exists(fs::symlink_status(model_ / "latte.json.lock")));
}

TEST_F(Cli, CalibrateOutWritesACalibratedCopyAndLeavesTheModelUnchanged) {
  std::map<std::string, std::pair<std::string, fs::file_time_type>> before;
  for (const auto& entry : fs::directory_iterator(model_)) {
    before[entry.path().filename().string()] = {slurp(entry.path()), fs::last_write_time(entry.path())};
  }
  const fs::path out = work_ / "calibrated";
  CommandResult result = run("calibrate --model " + model_.string() + " --out " + out.string() + " --input -",
                             "the cat\na dog\n");
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_NE(result.out.find((out / "latte.json").string()), std::string::npos) << result.out;
  std::map<std::string, std::pair<std::string, fs::file_time_type>> after;
  for (const auto& entry : fs::directory_iterator(model_)) {
    after[entry.path().filename().string()] = {slurp(entry.path()), fs::last_write_time(entry.path())};
  }
  EXPECT_EQ(after, before) << "the source folder changed";
  EXPECT_TRUE(nlohmann::json::parse(slurp(out / "latte.json")).contains("calibration"));
  for (const auto& [name, contents] : before) EXPECT_EQ(slurp(out / name), contents.first) << name;
  EXPECT_FALSE(fs::exists(fs::symlink_status(out / "latte.json.lock")));
  // The copy is a model of its own: it loads and runs at a calibrated static schedule.
  result = run("classify --json --model " + out.string() +
               " --speedup 2 --mode static --no-profile 'the cat sat'");
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_TRUE(nlohmann::json::parse(lines_of(result.out).at(0)).contains("label")) << result.out;
}

TEST_F(Cli, CalibrateOutRefusesASymlinkAFileAndAFolderInUse) {
  spit(work_ / "victim", "precious");
  fs::create_directories(work_ / "victim_dir");
  fs::create_symlink(work_ / "victim_dir", work_ / "link");
  const std::string calibrate =
      "calibrate --model " + model_.string() + " --input " + (work_ / "victim").string();
  expect_clean_failure(calibrate + " --out " + (work_ / "link").string(),
                       "--out " + (work_ / "link").string() + " is a symbolic link");
  expect_clean_failure(calibrate + " --out " + (work_ / "victim").string(), "is not an empty folder");
  expect_clean_failure(calibrate + " --out " + model_.string(), "is not an empty folder");
  EXPECT_EQ(slurp(work_ / "victim"), "precious");
  EXPECT_TRUE(fs::is_empty(work_ / "victim_dir"));
  EXPECT_FALSE(fs::exists(model_ / "latte.json"));
}

TEST_F(Cli, AHubNameSaysLatteReadsLocalFoldersAndHowToGetOne) {
  expect_clean_failure(
      "classify --model bert-base-uncased 'some text'",
      "latte reads local Hugging Face folders (config.json + model.safetensors), not hub names: "
      "get one with `huggingface-cli download bert-base-uncased --local-dir bert-base-uncased`");
  expect_clean_failure("generate --model openai-community/gpt2 'Hello'",
                       "`huggingface-cli download openai-community/gpt2 --local-dir gpt2` (docs/models.md)");
  // A path that is not a hub name keeps the plain message.
  const CommandResult result = run("classify --model " + (work_ / "absent").string() + " 'some text'");
  expect_one_line_error(result,
                        "model folder " + (work_ / "absent").string() + " does not exist or is not a folder");
}

TEST_F(Cli, APytorchBinFolderSaysBinIsNotReadAndWhereTheConversionIs) {
  fs::rename(model_ / "model.safetensors", model_ / "pytorch_model.bin");
  for (const std::string command : {"classify", "info"}) {
    expect_clean_failure(command + " --model " + model_.string() + (command == "info" ? "" : " 'some text'"),
                         "it holds pytorch_model.bin, which latte does not read: convert it to "
                         "model.safetensors (docs/models.md)");
  }
}

TEST_F(Cli, InitLayersOverridesThePreset) {
  const std::string out = (work_ / "deep").string();
  const std::string vocab = (model_ / "vocab.txt").string();
  CommandResult result = run("init --preset tiny --layers 3 --vocab " + vocab + " --out " + out);
  ASSERT_EQ(result.exit_code, 0) << result.err;
  result = run("info --json --model " + out);
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_EQ(nlohmann::json::parse(result.out)["layers"], 3);
  expect_clean_failure("init --preset tiny --layers 0 --vocab " + vocab + " --out " + out + "0", "--layers");
  expect_clean_failure("init --preset tiny --layers 99 --vocab " + vocab + " --out " + out + "99",
                       "--layers");
}

TEST_F(Cli, SweepWritesCsvAndSvgAndRejectsBadTargets) {
  spit(work_ / "data.jsonl",
       "{\"text\": \"the cat sat on the mat today\", \"label\": \"positive\"}\n"
       "{\"text\": \"a dog ran\", \"label\": \"negative\"}\n");
  const std::string out = (work_ / "sweep").string();
  const CommandResult result =
      run("sweep --json --model " + model_.string() + " --input " + (work_ / "data.jsonl").string() +
          " --speedups 2,1.5 --threads 1 --out " + out);
  ASSERT_EQ(result.exit_code, 0) << result.err;
  std::istringstream lines(result.out);
  std::string line;
  std::vector<double> requested;
  while (std::getline(lines, line)) {
    const auto row = nlohmann::json::parse(line);
    requested.push_back(row["speedup"].get<double>());
    EXPECT_TRUE(row.contains("accuracy"));
    EXPECT_GT(row["measured_ms"].get<double>(), 0.0);
  }
  EXPECT_EQ(requested, (std::vector<double>{1.0, 1.5, 2.0}));  // dense baseline added, sorted
  const std::string csv = slurp(out + ".csv");
  EXPECT_EQ(std::count(csv.begin(), csv.end(), '\n'), 4);
  EXPECT_EQ(csv.rfind("requested_speedup,predicted_speedup,measured_speedup", 0), 0u);
  const std::string svg = slurp(out + ".svg");
  EXPECT_NE(svg.find("<svg"), std::string::npos);
  EXPECT_NE(svg.find("</svg>"), std::string::npos);
  // --data is the same option as --input (as on eval): the bad target is the error.
  expect_clean_failure(
      "sweep --model " + model_.string() + " --data " + (work_ / "data.jsonl").string() + " --speedups 0.5",
      "--speedups");
}

TEST_F(Cli, WithoutModelUsesTheDefaultModel) {
  setenv("LATTE_DEFAULT_MODEL", model_.c_str(), 1);
  const CommandResult result = run("info --json");
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_EQ(nlohmann::json::parse(result.out)["model"], model_.string());
  setenv("LATTE_DEFAULT_MODEL", (work_ / "missing").c_str(), 1);
  expect_clean_failure("classify 'the cat'", "no bundled default model");
  unsetenv("LATTE_DEFAULT_MODEL");
}

// The bundled default model (models/default) with its latte.json: the sample e-mails
// of the demo come out spam, ham, spam, ham, dense and at 3x and 5x.
TEST_F(Cli, BundledModelClassifiesTheDemoEmails) {
  const fs::path root = fs::path(LATTE_TEST_DATA_DIR).parent_path().parent_path();
  const fs::path model = root / "models" / "default";
  const nlohmann::json sidecar = nlohmann::json::parse(slurp(model / "latte.json"));
  EXPECT_TRUE(sidecar.contains("calibration"));
  EXPECT_FALSE(sidecar.contains("latency_model"));  // latency is profiled per machine
  for (const char* speedup : {"1", "3", "5"}) {
    const CommandResult result =
        run("classify --json --model " + model.string() + " --input " +
            (root / "examples" / "emails.txt").string() + " --threads 1 --speedup " + speedup);
    ASSERT_EQ(result.exit_code, 0) << result.err;
    std::vector<std::string> labels;
    for (const std::string& line : lines_of(result.out))
      labels.push_back(nlohmann::json::parse(line)["label"]);
    EXPECT_EQ(labels, (std::vector<std::string>{"spam", "ham", "spam", "ham"})) << "speedup " << speedup;
  }
}

TEST_F(Cli, BenchReportsCeiling) {
  const CommandResult result =
      run("bench --json --model " + model_.string() + " --seq 16 --repeats 2 --warmup 0");
  ASSERT_EQ(result.exit_code, 0) << result.err;
  const auto report = nlohmann::json::parse(result.out);
  for (const char* key : {"seq", "batch", "median_ms", "gflops", "gemm_ceiling_gflops"}) {
    EXPECT_TRUE(report.contains(key)) << key;
  }
  EXPECT_EQ(report["seq"], 16);
  EXPECT_GT(report["median_ms"].get<double>(), 0.0);
}

}  // namespace

namespace {

// `latte train` runs latte-train from the binary's own folder with the same arguments; without
// it (a build without the trainer, or a copied binary) it says so in one line.
TEST_F(Cli, TrainRunsLatteTrainBesideTheBinaryAndSaysSoWhenItIsMissing) {
  const fs::path beside = fs::path(LATTE_CLI_PATH).parent_path() / "latte-train";
  if (fs::exists(beside)) {
    const CommandResult help = run("train clm --help");
    ASSERT_EQ(help.exit_code, 0) << help.err;
    EXPECT_NE(help.out.find("Usage: latte train clm"), std::string::npos) << help.out;
    expect_one_line_error(run("train clm"), "--data is required");
  }
  const fs::path alone = work_ / "bin" / "latte";
  fs::create_directories(alone.parent_path());
  fs::copy_file(LATTE_CLI_PATH, alone);
  const CommandResult missing = run_binary(alone.string(), work_, "train clm --help");
  expect_one_line_error(missing, (alone.parent_path() / "latte-train").string() + ", which is not there");
  // Every other command works without it.
  const CommandResult version = run_binary(alone.string(), work_, "--version");
  EXPECT_EQ(version.exit_code, 0) << version.err;
  EXPECT_NE(version.out.find("latte 0.1.0"), std::string::npos);
}

}  // namespace
