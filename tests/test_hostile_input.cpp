// Hostile and careless input (issue 9): each class of input that once crashed, hung or gave a
// silent wrong answer now ends in a one-line error naming the file, field or tensor.
#include <gtest/gtest.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <limits>
#include <nlohmann/json.hpp>
#include <string>

#include "latte/core/error.h"
#include "latte/core/threads.h"
#include "latte/data/records.h"
#include "latte/io/json_file.h"
#include "latte/io/read_file.h"
#include "latte/io/safetensors.h"
#include "latte/models/bert.h"
#include "latte/tokenizers/bert_tokenizer.h"
#include "test_support.h"

namespace latte {
namespace {

namespace fs = std::filesystem;
using test_support::CommandResult;
using test_support::expect_one_line_error;
using test_support::slurp;
using test_support::spit;
using test_support::TempDir;

const fs::path kBertData = fs::path(LATTE_TEST_DATA_DIR) / "bert";

using test_support::error_of;

std::string nested_array(size_t depth) { return std::string(depth, '[') + std::string(depth, ']'); }

// A copy of the small three-class test model to corrupt, and the latte binary to run on it.
class HostileInput : public ::testing::Test {
 protected:
  void SetUp() override {
    model_ = dir_ / "model";
    fs::copy(kBertData / "cls3_f32", model_);
  }

  CommandResult run(const std::string& arguments, const std::string& stdin_text = "",
                    const std::string& environment = "") {
    return test_support::run_latte(dir_.path(), arguments, stdin_text, environment);
  }
  // Bounded in time: a regression to a hang must fail the test, not stall the suite.
  CommandResult run_with_timeout(const std::string& arguments) { return run(arguments, "", "timeout 60"); }
  std::string model() const { return model_.string(); }

  void edit_config(const std::function<void(nlohmann::json&)>& edit) const {
    nlohmann::json config = nlohmann::json::parse(slurp(model_ / "config.json"));
    edit(config);
    spit(model_ / "config.json", config.dump());
  }
  // model.safetensors as its JSON header and its data section, and back.
  struct Checkpoint {
    nlohmann::json header;
    std::string data;
  };
  Checkpoint read_checkpoint() const {
    const std::string bytes = slurp(model_ / "model.safetensors");
    uint64_t header_bytes = 0;
    std::memcpy(&header_bytes, bytes.data(), sizeof(header_bytes));
    return {nlohmann::json::parse(bytes.substr(8, header_bytes)), bytes.substr(8 + header_bytes)};
  }
  void write_weights(const std::string& header_text, const std::string& data) const {
    const uint64_t length = header_text.size();
    spit(model_ / "model.safetensors",
         std::string(reinterpret_cast<const char*>(&length), 8) + header_text + data);
  }

  TempDir dir_{"hostile"};
  fs::path model_;
};

// --- 1. Deep JSON nesting -------------------------------------------------------------------

TEST(HostileJson, NestingDepthIsBoundedForEveryParse) {
  TempDir dir("hostile_json");
  spit(dir / "deep.json", nested_array(200000));
  EXPECT_CONTAINS(error_of([&] { read_json_file(dir / "deep.json"); }),
                  (dir / "deep.json").string() + ": JSON nested deeper than 64 levels");
  // Brackets inside strings are text, not nesting.
  spit(dir / "text.json", "{\"text\": \"" + std::string(1000, '[') + "\"}");
  EXPECT_EQ(read_json_file(dir / "text.json")["text"].get<std::string>().size(), 1000u);
  EXPECT_NO_THROW(parse_json_bounded(nested_array(64), "x"));
  EXPECT_THROW(parse_json_bounded(nested_array(65), "x"), FormatError);
  EXPECT_THROW(parse_json_bounded(nested_array(65), "x", FileSource::kUser), InputError);
  // A JSONL input line is user input.
  EXPECT_CONTAINS(error_of([&] { data::parse_labeled_json_line(nested_array(100000), "in.jsonl:7"); }),
                  "in.jsonl:7: JSON nested deeper than 64 levels");
}

TEST(HostileJson, ErrorMessagesQuoteValuesBriefly) {
  const nlohmann::json config = {{"hidden_size", std::string(1 << 20, 'x')},
                                 {"layers", nlohmann::json::array()}};
  const std::string message = error_of([&] { json_require_int(config, "hidden_size", "config.json"); });
  EXPECT_CONTAINS(message, "config.json: field 'hidden_size' must be an integer, got \"xxx");
  EXPECT_LT(message.size(), 200u);
  EXPECT_LT(json_preview(nlohmann::json::parse(nested_array(60))).size(), 60u);
}

TEST_F(HostileInput, DeeplyNestedSafetensorsHeaderIsAnError) {
  // The offending value used to be dumped whole (recursively) into the message: SIGSEGV.
  const std::string deep = nested_array(200000);
  write_weights("{\"w\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": " + deep + "}}", "abcd");
  expect_one_line_error(run("info --model " + model()), "nested deeper than 64 levels");
  write_weights("{\"w\": {\"dtype\": \"F32\", \"shape\": " + deep + ", \"data_offsets\": [0, 4]}}", "abcd");
  expect_one_line_error(run("info --model " + model()), "model.safetensors: header: JSON nested deeper");
}

TEST_F(HostileInput, DeeplyNestedJsonFilesAndInputsAreErrors) {
  const std::string deep = nested_array(100000);
  spit(dir_ / "in.jsonl", "{\"text\": \"fine\"}\n{\"text\": " + deep + "}\n");
  expect_one_line_error(run("classify --model " + model() + " --input " + (dir_ / "in.jsonl").string()),
                        "in.jsonl:2: JSON nested deeper than 64 levels");
  spit(model_ / "latte.json", "{\"unknown\": " + deep + "}");
  expect_one_line_error(run("classify --model " + model() + " --coverage 0.9 'text'"),
                        "latte.json: JSON nested deeper");
  fs::remove(model_ / "latte.json");
  spit(model_ / "tokenizer_config.json", "{\"x\": " + deep + "}");
  expect_one_line_error(run("tokenize --model " + model() + " 'text'"),
                        "tokenizer_config.json: JSON nested deeper");
}

// The library names a bad knob in its own terms; the CLI names the flag that set it.
TEST_F(HostileInput, KnobErrorsNameTheFlag) {
  expect_one_line_error(run("classify --model " + model() + " --speedup 0.5 'text'"),
                        "--speedup must be a number >= 1, got 0.5");
  expect_one_line_error(run("classify --model " + model() + " --coverage 1.5 'text'"),
                        "--coverage must be in (0, 1]");
  expect_one_line_error(run("classify --model " + model() + " --keep 1,1,1,1,1,1,1,1,1 'text'"),
                        "--keep has 9 entries");
  expect_one_line_error(run("classify --model " + model() + " --latency-ms -1 'text'"),
                        "--latency-ms must be");
  expect_one_line_error(run("classify --model " + model() + " --speedup 2 --coverage 0.9 'text'"),
                        "give only one of --keep, --coverage, --speedup, --latency-ms");
}

// --- 2. --threads -------------------------------------------------------------------------------

TEST_F(HostileInput, ThreadCountIsBounded) {
  // 100,000 threads crashed inside libgomp / oneDNN.
  const CommandResult result = run("classify --model " + model() + " --threads 100000 'text'");
  EXPECT_FALSE(result.signalled);
  EXPECT_NE(result.exit_code, 0);
  EXPECT_CONTAINS(result.err, "--threads");
  EXPECT_CONTAINS(result.err, std::to_string(max_num_threads()));
  expect_one_line_error(
      run("classify --model " + model() + " 'text'", "", "LATTE_NUM_THREADS=100000"),
      "LATTE_NUM_THREADS must be an integer between 1 and " + std::to_string(max_num_threads()));
  EXPECT_THROW(resolve_num_threads(max_num_threads() + 1), InputError);
  EXPECT_EQ(resolve_num_threads(max_num_threads()), max_num_threads());
}

// --- 3. FIFOs and other non-regular files -------------------------------------------------------

TEST_F(HostileInput, FifoOrDeviceInPlaceOfAFileIsAnErrorNotAHang) {
  const auto replace_with_fifo = [&](const std::string& name) {
    fs::remove(model_ / name);
    ASSERT_EQ(::mkfifo((model_ / name).c_str(), 0600), 0);
  };
  const auto restore = [&](const std::string& name) {
    fs::remove(model_ / name);
    fs::copy_file(kBertData / "cls3_f32" / name, model_ / name);
  };
  replace_with_fifo("config.json");
  expect_one_line_error(run_with_timeout("info --model " + model()),
                        "config.json: not a regular file (a FIFO)");
  restore("config.json");

  fs::remove(model_ / "config.json");
  fs::create_symlink("/dev/zero", model_ / "config.json");
  expect_one_line_error(run_with_timeout("info --model " + model()),
                        "not a regular file (a character device)");
  restore("config.json");

  replace_with_fifo("vocab.txt");
  expect_one_line_error(run_with_timeout("tokenize --model " + model() + " 'text'"), "vocab.txt");
  restore("vocab.txt");

  replace_with_fifo("model.safetensors");
  expect_one_line_error(run_with_timeout("info --model " + model()), "model.safetensors: not a regular file");
  restore("model.safetensors");

  ASSERT_EQ(::mkfifo((dir_ / "input.fifo").c_str(), 0600), 0);
  expect_one_line_error(
      run_with_timeout("classify --model " + model() + " --input " + (dir_ / "input.fifo").string()),
      "cannot open input file " + (dir_ / "input.fifo").string() + ": not a regular file (a FIFO)");
  expect_one_line_error(
      run_with_timeout("eval --model " + model() + " --data " + (dir_ / "input.fifo").string()),
      "not a regular file");
  EXPECT_THROW(read_file_bytes(dir_.path()), FormatError);
}

TEST_F(HostileInput, StandardInputMayBeAPipe) {
  const std::string command = "printf 'the cat\\nthe dog\\n' | " + std::string(LATTE_CLI_PATH) +
                              " tokenize --model " + model() + " --input - >" + (dir_ / "out.txt").string() +
                              " 2>&1";
  ASSERT_EQ(std::system(command.c_str()), 0) << slurp(dir_ / "out.txt");
  EXPECT_EQ(test_support::lines_of(slurp(dir_ / "out.txt")).size(), 2u);
}

// --- 4. WordPiece cost --------------------------------------------------------------------------

// A tokenizer.json of BERT's shape with the given vocabulary and max_input_chars_per_word.
nlohmann::json wordpiece_json(const std::vector<std::string>& tokens, const nlohmann::json& max_chars) {
  nlohmann::json vocab = nlohmann::json::object();
  for (size_t id = 0; id < tokens.size(); ++id) vocab[tokens[id]] = id;
  return {{"model",
           {{"type", "WordPiece"},
            {"vocab", vocab},
            {"unk_token", "[UNK]"},
            {"continuing_subword_prefix", "##"},
            {"max_input_chars_per_word", max_chars}}},
          {"normalizer", {{"type", "BertNormalizer"}, {"lowercase", true}}},
          {"pre_tokenizer", {{"type", "BertPreTokenizer"}}},
          {"post_processor", {{"type", "BertProcessing"}, {"sep", {"[SEP]", 3}}, {"cls", {"[CLS]", 2}}}}};
}

TEST(HostileTokenizer, MaxInputCharsPerWordIsValidated) {
  TempDir dir("hostile_wordpiece");
  const std::vector<std::string> tokens = {"[PAD]", "[UNK]", "[CLS]", "[SEP]", "a", "##a"};
  spit(dir / "tokenizer.json", wordpiece_json(tokens, 1000000000).dump());
  EXPECT_CONTAINS(
      error_of([&] { BertTokenizer::from_dir(dir.path()); }),
      "tokenizer.json: model.max_input_chars_per_word must be an integer in 1..10000, got 1000000000");
  spit(dir / "tokenizer.json", wordpiece_json(tokens, 0).dump());
  EXPECT_THROW(BertTokenizer::from_dir(dir.path()), FormatError);
  spit(dir / "tokenizer.json", wordpiece_json(tokens, "100").dump());
  EXPECT_THROW(BertTokenizer::from_dir(dir.path()), FormatError);
  spit(dir / "tokenizer.json", wordpiece_json(tokens, 10000).dump());
  EXPECT_NO_THROW(BertTokenizer::from_dir(dir.path()));
}

TEST(HostileTokenizer, HugeFloatIdsAreErrorsNotConversions) {
  // Converting 1.1e29 to an integer is undefined behaviour; the fuzzer found it in three places.
  TempDir dir("hostile_wordpiece");
  const std::vector<std::string> tokens = {"[PAD]", "[UNK]", "[CLS]", "[SEP]", "a", "##a"};
  nlohmann::json root = wordpiece_json(tokens, 100);
  root["model"]["vocab"]["a"] = 1.1e29;
  spit(dir / "tokenizer.json", root.dump());
  EXPECT_CONTAINS(error_of([&] { BertTokenizer::from_dir(dir.path()); }),
                  "tokenizer.json: model.vocab ids must be 0..n-1, each once (token a)");

  root = wordpiece_json(tokens, 100);
  root["added_tokens"] = {{{"content", "[CLS]"}, {"id", 1.1e29}}};
  spit(dir / "tokenizer.json", root.dump());
  EXPECT_CONTAINS(error_of([&] { BertTokenizer::from_dir(dir.path()); }),
                  "tokenizer.json: added_tokens: field 'id' must be an integer");

  // BERT's template with a type_id that is no integer is not BERT's layout.
  const auto special = [](const char* id, const nlohmann::json& type_id) {
    return nlohmann::json{{"SpecialToken", {{"id", id}, {"type_id", type_id}}}};
  };
  const auto sequence = [](const char* id, int type_id) {
    return nlohmann::json{{"Sequence", {{"id", id}, {"type_id", type_id}}}};
  };
  root = wordpiece_json(tokens, 100);
  root["post_processor"] = {
      {"type", "TemplateProcessing"},
      {"single", {special("[CLS]", 0), sequence("A", 0), special("[SEP]", 0)}},
      {"pair",
       {special("[CLS]", 0), sequence("A", 0), special("[SEP]", 0), sequence("B", 1), special("[SEP]", 1)}}};
  spit(dir / "tokenizer.json", root.dump());
  EXPECT_NO_THROW(BertTokenizer::from_dir(dir.path()));
  root["post_processor"]["pair"][4] = special("[SEP]", 1.1e29);
  spit(dir / "tokenizer.json", root.dump());
  EXPECT_THROW(BertTokenizer::from_dir(dir.path()), FormatError);
}

TEST(HostileTokenizer, LongVocabularyTokensDoNotMakeMatchingQuadratic) {
  // A 20 kB word-start and continuation token made every position of a word hash thousands of
  // candidate substrings thousands of bytes long: minutes per word.
  TempDir dir("hostile_wordpiece");
  const std::string long_piece(20000, 'a');
  const std::vector<std::string> tokens = {"[PAD]", "[UNK]", "[CLS]",    "[SEP]",
                                           "a",     "##a",   long_piece, "##" + long_piece};
  spit(dir / "tokenizer.json", wordpiece_json(tokens, 10000).dump());
  const BertTokenizer tokenizer = BertTokenizer::from_dir(dir.path());
  const auto begin = std::chrono::steady_clock::now();
  const std::vector<std::string> pieces = tokenizer.tokenize(std::string(5000, 'a'));
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - begin).count();
  ASSERT_EQ(pieces.size(), 5000u);
  EXPECT_EQ(pieces[0], "a");
  EXPECT_EQ(pieces[1], "##a");
  EXPECT_LT(seconds, 10.0);  // about 0.05 s; the hashing matcher took minutes
  // Longest match still wins where the long piece fits.
  EXPECT_EQ(tokenizer.tokenize(long_piece), std::vector<std::string>{"[UNK]"});  // 20000 chars > 10000
}

// --- 5. NaN / Inf weights -----------------------------------------------------------------------

TEST_F(HostileInput, NonFiniteWeightsAreRejectedAtLoad) {
  // classify printed "probs":[null,null,null] with exit 0.
  Checkpoint checkpoint = read_checkpoint();
  nlohmann::json& weights = checkpoint.header;
  std::string& data = checkpoint.data;
  const uint64_t begin = weights["classifier.bias"]["data_offsets"][0].get<uint64_t>();
  const float nan = std::numeric_limits<float>::quiet_NaN();
  std::memcpy(data.data() + begin + sizeof(float), &nan, sizeof(nan));
  write_weights(weights.dump(), data);
  expect_one_line_error(run("classify --json --model " + model() + " 'the cat'"),
                        "tensor classifier.bias in " + (model_ / "model.safetensors").string() +
                            " holds NaN or infinity (element 1)");
  // info reads every tensor in place (no model is built) and finds the same.
  expect_one_line_error(run("info --model " + model()), "tensor classifier.bias in " +
                                                            (model_ / "model.safetensors").string() +
                                                            " holds NaN or infinity (element 1)");
  const float infinity = std::numeric_limits<float>::infinity();
  std::memcpy(data.data() + begin + sizeof(float), &infinity, sizeof(infinity));
  write_weights(weights.dump(), data);
  EXPECT_CONTAINS(error_of([&] { BertModel::load(model_); }), "classifier.bias");
  expect_one_line_error(run("info --model " + model()), "classifier.bias");
}

// info checks the shapes config.json implies without loading: a classifier of the wrong width.
TEST_F(HostileInput, InfoChecksShapesAgainstTheConfig) {
  CommandResult result = run("info --json --model " + model());
  ASSERT_EQ(result.exit_code, 0) << result.err;
  const nlohmann::json checked = nlohmann::json::parse(result.out)["checked"];
  Checkpoint checkpoint = read_checkpoint();
  EXPECT_EQ(checked["tensors"], static_cast<int64_t>(checkpoint.header.size()) -
                                    (checkpoint.header.contains("__metadata__") ? 1 : 0));
  EXPECT_GT(checked["shapes_checked"].get<int64_t>(), 10);
  nlohmann::json& header = checkpoint.header;
  const std::vector<int64_t> shape = header["classifier.weight"]["shape"].get<std::vector<int64_t>>();
  header["classifier.weight"]["shape"] = {shape[1], shape[0]};  // same bytes, transposed shape
  write_weights(header.dump(), checkpoint.data);
  expect_one_line_error(run("info --model " + model()),
                        "tensor classifier.weight in " + (model_ / "model.safetensors").string() +
                            " has shape [" + std::to_string(shape[1]) + ", " + std::to_string(shape[0]) +
                            "], expected [" + std::to_string(shape[0]) + ", " + std::to_string(shape[1]) +
                            "] (from config.json)");
}

// --- 6. Tokenizer and model disagree ------------------------------------------------------------

TEST_F(HostileInput, TokenizerMustBelongToTheModel) {
  const std::vector<std::string> vocab = test_support::lines_of(slurp(model_ / "vocab.txt"));
  ASSERT_EQ(vocab.size(), 120u);
  std::string truncated;
  for (size_t i = 0; i < 60; ++i) truncated += vocab[i] + "\n";
  spit(model_ / "vocab.txt", truncated);
  expect_one_line_error(run("classify --model " + model() + " 'the cat'"),
                        (model_ / "vocab.txt").string() + " has 60 tokens but " +
                            (model_ / "config.json").string() + " has vocab_size 120");
  expect_one_line_error(run("tokenize --model " + model() + " 'the cat'"), "has 60 tokens");
  // More tokens than embedding rows: ids would run past the table.
  std::string extended = slurp(kBertData / "cls3_f32" / "vocab.txt");
  for (int i = 0; i < 5; ++i) extended += "extra" + std::to_string(i) + "\n";
  spit(model_ / "vocab.txt", extended);
  expect_one_line_error(run("info --model " + model()), "token ids would run past the embedding");
  // A padded embedding (up to 10 % more rows than tokens) is fine.
  std::string padded;
  for (size_t i = 0; i < 110; ++i) padded += vocab[i] + "\n";
  spit(model_ / "vocab.txt", padded);
  const CommandResult result = run("classify --model " + model() + " 'the cat'");
  EXPECT_EQ(result.exit_code, 0) << result.err;
}

// --- 7. Checkpoint tensors the config does not use ----------------------------------------------

TEST_F(HostileInput, TensorsOfLayersTheConfigLacksAreAnError) {
  edit_config([](nlohmann::json& config) { config["num_hidden_layers"] = 1; });
  expect_one_line_error(
      run("classify --model " + model() + " 'the cat'"),
      "16 tensors are not part of the model config.json describes (1 layers, "
      "BertForSequenceClassification): bert.encoder.layer.1.attention.output.LayerNorm.bias");
}

TEST_F(HostileInput, HuggingFaceExtrasAreAllowedOthersAreNot) {
  Checkpoint checkpoint = read_checkpoint();
  nlohmann::json& weights = checkpoint.header;
  std::string& data = checkpoint.data;
  const auto add = [&](const std::string& name) {
    weights[name] = {{"dtype", "F32"}, {"shape", {1}}, {"data_offsets", {data.size(), data.size() + 4}}};
    data += std::string(4, '\0');
  };
  add("bert.embeddings.position_ids");
  add("cls.predictions.bias");
  write_weights(weights.dump(), data);
  EXPECT_NO_THROW(BertModel::load(model_));
  add("bert.encoder.layer.7.output.dense.bias");
  write_weights(weights.dump(), data);
  EXPECT_CONTAINS(error_of([&] { BertModel::load(model_); }),
                  "1 tensors are not part of the model config.json describes (2 layers, "
                  "BertForSequenceClassification): bert.encoder.layer.7.output.dense.bias");
}

// --- 8. Config integers -------------------------------------------------------------------------

TEST_F(HostileInput, ConfigIntegersAreBounded) {
  // 2^32 + 2 positions was truncated to int 2: tokenize printed "[CLS] [SEP]" for any text.
  edit_config([](nlohmann::json& config) { config["max_position_embeddings"] = (int64_t{1} << 32) + 2; });
  expect_one_line_error(
      run("tokenize --model " + model() + " 'the cat'"),
      (model_ / "config.json").string() +
          ": field 'max_position_embeddings' is 4294967298, above latte's limit of 1048576");
  for (const char* field : {"vocab_size", "hidden_size", "num_hidden_layers", "intermediate_size"}) {
    edit_config([&](nlohmann::json& config) {
      config["max_position_embeddings"] = 64;
      config[field] = int64_t{1} << 40;
    });
    EXPECT_CONTAINS(error_of([&] { BertConfig::from_file(model_ / "config.json"); }),
                    std::string("field '") + field + "' is 1099511627776, above latte's limit");
    edit_config([&](nlohmann::json& config) {
      config = nlohmann::json::parse(slurp(kBertData / "cls3_f32" / "config.json"));
    });
  }
}

// --- 10. Line endings ---------------------------------------------------------------------------

TEST_F(HostileInput, LoneCarriageReturnsEndLines) {
  // Classic Mac line ends merged three inputs into one.
  spit(dir_ / "mac.txt", "the cat\rthe dog\ra bird\r");
  CommandResult result = run("classify --model " + model() + " --input " + (dir_ / "mac.txt").string());
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_EQ(test_support::lines_of(result.out).size(), 3u);
  spit(dir_ / "mixed.txt", "the cat\r\nthe dog\na bird\rthe end");
  result = run("tokenize --model " + model() + " --input " + (dir_ / "mixed.txt").string());
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_EQ(test_support::lines_of(result.out).size(), 4u);
  spit(dir_ / "mac.jsonl", "{\"text\": \"a\", \"label\": 1}\r{\"text\": \"b\", \"label\": 0}\r\r");
  const std::vector<data::LabeledExample> examples = data::read_records(dir_ / "mac.jsonl");
  ASSERT_EQ(examples.size(), 2u);
  EXPECT_EQ(examples[1].origin, (dir_ / "mac.jsonl").string() + ":2");
}

TEST(HostileLines, LineReaderSplitsEveryLineEndAcrossBufferBoundaries) {
  TempDir dir("hostile_lines");
  std::string text;
  std::vector<std::string> expected;
  const char* endings[] = {"\n", "\r\n", "\r"};
  for (int i = 0; i < 30000; ++i) {
    expected.push_back(std::string(static_cast<size_t>(i % 7), 'x') + std::to_string(i));
    text += expected.back() + endings[i % 3];
  }
  spit(dir / "lines.txt", text);
  LineReader reader(ReadableFile::open(dir / "lines.txt"));
  std::vector<std::string> lines;
  for (std::string line; reader.next(line);) lines.push_back(line);
  EXPECT_EQ(lines, expected);
  EXPECT_EQ(reader.line_number(), expected.size());
  // One endless line is an error, not an ever-growing buffer.
  spit(dir / "long.txt", "short\n" + std::string(300000, 'x'));
  LineReader bounded(ReadableFile::open(dir / "long.txt", FileSource::kUser), 100000);
  std::string line;
  EXPECT_TRUE(bounded.next(line));
  EXPECT_CONTAINS(error_of([&] { bounded.next(line); }),
                  (dir / "long.txt").string() + ":2: line longer than 100000 bytes");
}

// --- 11. Every file error names the file --------------------------------------------------------

TEST_F(HostileInput, JsonValueErrorsNameTheFile) {
  spit(model_ / "config.json", slurp(model_ / "config.json").replace(1, 0, "\"big\": 1e400, "));
  const CommandResult result = run("info --model " + model());
  expect_one_line_error(result, (model_ / "config.json").string() + ": not valid JSON: number overflow");
  EXPECT_EQ(result.err.find("[json.exception"), std::string::npos) << result.err;

  fs::copy_file(kBertData / "cls3_f32" / "config.json", model_ / "config.json",
                fs::copy_options::overwrite_existing);
  spit(model_ / "latte.json",
       R"({"calibration": {"samples": "four", "taus": [1.0], "keep_fractions": [[1.0, 1.0]],
                           "curve_points": [1.0], "acc_curves": [[1.0], [1.0]]}})");
  const CommandResult sidecar = run("classify --model " + model() + " --coverage 0.9 'the cat'");
  expect_one_line_error(sidecar, "latte.json");
  EXPECT_EQ(sidecar.err.find("[json.exception"), std::string::npos) << sidecar.err;
  fs::remove(model_ / "latte.json");

  spit(model_ / "tokenizer_config.json", R"({"do_lower_case": "yes"})");
  const CommandResult tokenizer = run("tokenize --model " + model() + " 'the cat'");
  expect_one_line_error(tokenizer, (model_ / "tokenizer_config.json").string() + ": ");
  EXPECT_EQ(tokenizer.err.find("[json.exception"), std::string::npos) << tokenizer.err;
}

// --- 16. Streaming inputs -----------------------------------------------------------------------

TEST_F(HostileInput, CalibrateAndEvalReadOnlyTheInputsTheyUse) {
  // Line 5 is malformed: a command that stops after its first inputs never reaches it.
  spit(dir_ / "in.jsonl",
       "{\"text\": \"the cat\", \"label\": \"negative\"}\n{\"text\": \"a dog\", \"label\": \"positive\"}\n"
       "{\"text\": \"x\"}\n{\"text\": \"y\"}\n{oops\n");
  CommandResult result =
      run("calibrate --model " + model() + " --max 1 --input " + (dir_ / "in.jsonl").string());
  EXPECT_EQ(result.exit_code, 0) << result.err;
  result = run("eval --model " + model() + " --max 2 --speedups 1 --latency-samples 1 --data " +
               (dir_ / "in.jsonl").string());
  EXPECT_EQ(result.exit_code, 0) << result.err;
  // Without --max the bad line is reached, and named.
  expect_one_line_error(run("calibrate --model " + model() + " --input " + (dir_ / "in.jsonl").string()),
                        "in.jsonl:5");
}

// Peak resident memory (kB) of `latte ARGUMENTS`, run as a child of this process.
long peak_rss_kb(const std::vector<std::string>& arguments) {
  const pid_t child = ::fork();
  if (child == 0) {
    std::vector<char*> argv = {const_cast<char*>(LATTE_CLI_PATH)};
    for (const std::string& argument : arguments) argv.push_back(const_cast<char*>(argument.c_str()));
    argv.push_back(nullptr);
    if (std::freopen("/dev/null", "w", stdout) == nullptr ||
        std::freopen("/dev/null", "w", stderr) == nullptr)
      ::_exit(126);
    ::execv(LATTE_CLI_PATH, argv.data());
    ::_exit(127);
  }
  int status = 0;
  struct rusage usage {};
  ::wait4(child, &status, 0, &usage);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "latte exited with status " << status;
  return usage.ru_maxrss;
}

TEST_F(HostileInput, LargeInputsRunInBoundedMemory) {
#if defined(__SANITIZE_ADDRESS__)
  GTEST_SKIP() << "AddressSanitizer's quarantine keeps freed memory: peak RSS measures it, not latte";
#endif
  // The whole input file used to be read first: about 17 bytes of memory per byte of input.
  const std::string line = "the cat sat on the mat and the dog ran after a bird in the park today\n";
  spit(dir_ / "one.txt", line);
  std::string big;
  while (big.size() < (size_t{8} << 20)) big += line;
  spit(dir_ / "big.txt", big);
  const long baseline =
      peak_rss_kb({"calibrate", "--model", model(), "--max", "1", "--input", (dir_ / "one.txt").string()});
  const long calibrate =
      peak_rss_kb({"calibrate", "--model", model(), "--max", "1", "--input", (dir_ / "big.txt").string()});
  EXPECT_LT(calibrate, baseline + 20 * 1024) << "calibrate --max 1 on 8 MB: " << calibrate << " kB";
  const long tokenize = peak_rss_kb({"tokenize", "--model", model(), "--input", (dir_ / "big.txt").string()});
  EXPECT_LT(tokenize, baseline + 20 * 1024) << "tokenize on 8 MB: " << tokenize << " kB";
}

}  // namespace
}  // namespace latte
