// SentencePieceTokenizer (T5) against tests/data/t5_tokenizer/t5_golden.jsonl, written by
// tools/golden/make_t5_tokenizer.sh from Debian's python3-sentencepiece plus Hugging Face
// T5Tokenizer's conventions; and every bad tokenizer file a T5 folder may hold.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <functional>
#include <limits>
#include <map>
#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <vector>

#include "latte/core/error.h"
#include "latte/models/registry.h"
#include "latte/tokenizers/sentencepiece_tokenizer.h"
#include "test_support.h"

namespace latte {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using test_support::error_of;
using test_support::slurp;
using test_support::spit;
using test_support::TempDir;

const fs::path kT5Dir = fs::path(LATTE_TEST_DATA_DIR) / "t5_tokenizer";

const SentencePieceTokenizer& t5() {
  static const SentencePieceTokenizer tokenizer = SentencePieceTokenizer::from_dir(kT5Dir);
  return tokenizer;
}

std::vector<json> goldens() {
  std::ifstream in(kT5Dir / "t5_golden.jsonl");
  std::vector<json> records;
  for (std::string line; std::getline(in, line);) {
    if (!line.empty()) records.push_back(json::parse(line));
  }
  return records;
}

// A folder with the test spiece.model and the given tokenizer_config.json (none when empty).
void write_t5_folder(const fs::path& dir, const std::string& tokenizer_config) {
  fs::copy_file(kT5Dir / "spiece.model", dir / "spiece.model");
  if (!tokenizer_config.empty()) spit(dir / "tokenizer_config.json", tokenizer_config);
}

TEST(SentencePieceTokenizer, MatchesTheT5Goldens) {
  const std::vector<json> cases = goldens();
  ASSERT_GE(cases.size(), 90u);
  size_t with_unknown = 0, with_sentinel = 0, truncated = 0;
  for (const json& golden : cases) {
    const std::string text = golden["text"];
    const int64_t max_length = golden.value("max_length", int64_t{0});
    const Encoding encoding = golden.contains("pair")
                                  ? t5().encode_pair(text, golden["pair"].get<std::string>(), max_length)
                                  : t5().encode(text, max_length);
    const auto ids = golden["ids"].get<std::vector<int32_t>>();
    EXPECT_EQ(encoding.ids, ids) << golden.dump();
    EXPECT_EQ(encoding.tokens, golden["tokens"].get<std::vector<std::string>>()) << golden.dump();
    EXPECT_EQ(encoding.type_ids, std::vector<int32_t>(ids.size(), 0));
    EXPECT_EQ(t5().decode(ids), golden["decoded"].get<std::string>()) << golden.dump();
    with_unknown += std::count(ids.begin(), ids.end(), 2) > 0;
    with_sentinel += std::any_of(ids.begin(), ids.end(), [](int32_t id) { return id >= 2000; });
    truncated += encoding.truncated;
  }
  // The goldens cover what they are meant to: unknown pieces, sentinels, truncation.
  EXPECT_GE(with_unknown, 5u);
  EXPECT_GE(with_sentinel, 5u);
  EXPECT_GE(truncated, 6u);
}

TEST(SentencePieceTokenizer, FollowsT5Conventions) {
  const SentencePieceTokenizer& tokenizer = t5();
  EXPECT_EQ(tokenizer.kind(), "sentencepiece");
  EXPECT_EQ(tokenizer.vocab_size(), 2100u);  // 2,000 pieces + 100 sentinels
  EXPECT_EQ(tokenizer.extra_ids(), 100);
  EXPECT_EQ(tokenizer.end_of_text_id(), 1);
  EXPECT_EQ(tokenizer.token(0), "<pad>");
  EXPECT_EQ(tokenizer.token(1), "</s>");
  EXPECT_EQ(tokenizer.token(2), "<unk>");
  EXPECT_EQ(tokenizer.sentinel_id(0), 2099);
  EXPECT_EQ(tokenizer.sentinel_id(99), 2000);
  EXPECT_EQ(tokenizer.token(2099), "<extra_id_0>");
  EXPECT_EQ(tokenizer.token(2000), "<extra_id_99>");
  EXPECT_TRUE(tokenizer.is_special(0));
  EXPECT_TRUE(tokenizer.is_special(1));
  EXPECT_TRUE(tokenizer.is_special(2));
  EXPECT_FALSE(tokenizer.is_special(3));
  EXPECT_TRUE(tokenizer.is_special(2000));
  EXPECT_THROW(tokenizer.is_special(2100), InputError);
  EXPECT_THROW(tokenizer.is_special(-1), InputError);
  EXPECT_THROW(tokenizer.sentinel_id(100), InputError);
  EXPECT_THROW(tokenizer.token(2100), InputError);
  EXPECT_THROW(tokenizer.token(-1), InputError);
  // Truncation keeps the final </s>, and an input that fits exactly is not marked cut.
  const Encoding whole = tokenizer.encode("Hello world", 0);
  ASSERT_EQ(whole.ids.size(), 5u);
  EXPECT_FALSE(tokenizer.encode("Hello world", 5).truncated);
  const Encoding cut = tokenizer.encode("Hello world", 4);
  EXPECT_TRUE(cut.truncated);
  EXPECT_EQ(cut.ids, (std::vector<int32_t>{whole.ids[0], whole.ids[1], whole.ids[2], 1}));
  EXPECT_EQ(tokenizer.encode("Hello world", 1).ids, std::vector<int32_t>{1});
  EXPECT_THROW(tokenizer.encode("x", -1), InputError);
  EXPECT_THROW(tokenizer.encode_pair("x", "y", 1), InputError);
  // A model's pairs go through encode_input, as BERT's do.
  EXPECT_EQ(encode_input(tokenizer, "a", std::string("b"), 0, "arg").ids,
            tokenizer.encode_pair("a", "b", 0).ids);
}

TEST(SentencePieceTokenizer, DecodeSkipsSpecialTokensAndChecksIds) {
  const SentencePieceTokenizer& tokenizer = t5();
  const std::vector<int32_t> ids = tokenizer.encode("The <extra_id_0> walks in the park.", 0).ids;
  std::vector<int32_t> padded = {0};
  padded.insert(padded.end(), ids.begin(), ids.end());
  padded.insert(padded.end(), {0, 0, 2});
  EXPECT_EQ(tokenizer.decode(padded), "The walks in the park.");
  EXPECT_EQ(tokenizer.decode({}), "");
  const std::vector<int32_t> out_of_range = {5, 2100};
  EXPECT_EQ(error_of([&] { tokenizer.decode(out_of_range); }), "token id 2100 is out of range [0, 2100)");
}

// Streaming generated text token by token gives what decoding the whole sequence gives: the
// spaces SentencePiece's per-token decode would strip stay between the words.
// A model's padding rows (ids at or above the tokenizer's 2,100 tokens) carry no text.
TEST(SentencePieceTokenizer, PaddingRowIdsHaveNoText) {
  const std::vector<int32_t> ids = t5().encode("Hello world", 0).ids;
  std::vector<int32_t> padded = ids;
  padded.insert(padded.begin() + 1, 2105);
  padded.push_back(2111);
  EXPECT_EQ(ids_with_tokens(t5(), padded), ids);
  TokenTextStream stream(t5());
  std::string text;
  for (const int32_t id : padded) text += stream.push(id);
  text += stream.finish();
  EXPECT_EQ(text, t5().decode(ids));
  EXPECT_EQ(text, "Hello world");
}

TEST(SentencePieceTokenizer, TokenTextStreamGivesTheWholeDecode) {
  size_t compared = 0;
  for (const json& golden : goldens()) {
    const auto ids = golden["ids"].get<std::vector<int32_t>>();
    TokenTextStream stream(t5());
    std::string streamed;
    for (const int32_t id : ids) streamed += stream.push(id);
    streamed += stream.finish();
    EXPECT_EQ(streamed, golden["decoded"].get<std::string>()) << golden.dump();
    compared += ids.size() > 3;
  }
  EXPECT_GT(compared, 50u);
  // Token by token, the words of "Hello world" come with the space between them.
  TokenTextStream stream(t5());
  std::vector<std::string> pieces;
  for (const int32_t id : t5().encode("Hello world", 0).ids) pieces.push_back(stream.push(id));
  EXPECT_EQ(pieces, (std::vector<std::string>{"He", "l", "lo", " world", ""}));
  // Byte-level BPE keeps its exact bytes, a character split across tokens held back until whole.
  const auto gpt2 = load_tokenizer(fs::path(LATTE_TEST_DATA_DIR) / "gpt2_tokenizer" / "small");
  const std::string text = "Hello world, caf\xC3\xA9 \xF0\x9F\x98\x80!";
  TokenTextStream bytes(*gpt2);
  std::string streamed;
  for (const int32_t id : gpt2->encode(text, 0).ids) streamed += bytes.push(id);
  EXPECT_EQ(streamed + bytes.finish(), text);
}

TEST(SentencePieceTokenizer, InvalidUtf8NamesTheByte) {
  EXPECT_EQ(error_of([] { t5().encode("hello \xff world", 0); }), "invalid UTF-8 at byte 6");
  EXPECT_EQ(error_of([] { t5().encode_pair("ok", "ab\xc3", 0); }), "invalid UTF-8 at byte 2");
}

TEST(SentencePieceTokenizer, LoadTokenizerPicksSpieceModel) {
  const auto tokenizer = load_tokenizer(kT5Dir);
  EXPECT_EQ(tokenizer->kind(), "sentencepiece");
  EXPECT_EQ(tokenizer->source(), (kT5Dir / "spiece.model").string());
  // The embedding of config.json has 12 padding rows: the tokenizer fits it.
  EXPECT_NO_THROW(check_tokenizer_fits(*tokenizer, 2112, kT5Dir / "config.json"));
  EXPECT_NE(error_of([&] {
              check_tokenizer_fits(*tokenizer, 2099, kT5Dir / "config.json");
            }).find("spiece.model has 2100 tokens but "),
            std::string::npos);
  EXPECT_NE(error_of([&] {
              check_tokenizer_fits(*tokenizer, 32128, kT5Dir / "config.json");
            }).find("is not this model's"),
            std::string::npos);
}

TEST(SentencePieceTokenizer, ExtraIdsComeFromTheTokenizerFiles) {
  TempDir dir("t5_extra");
  write_t5_folder(dir.path(), R"({"tokenizer_class": "T5Tokenizer", "extra_ids": 3})");
  const SentencePieceTokenizer three = SentencePieceTokenizer::from_dir(dir.path());
  EXPECT_EQ(three.vocab_size(), 2003u);
  EXPECT_EQ(three.sentinel_id(0), 2002);
  // <extra_id_3> is not a sentinel of this tokenizer: plain text, cut into pieces.
  EXPECT_GT(three.encode("<extra_id_3>", 0).ids.size(), 2u);
  EXPECT_EQ(three.encode("<extra_id_2>", 0).ids, (std::vector<int32_t>{2000, 1}));

  TempDir listed("t5_listed");
  write_t5_folder(listed.path(), "");
  spit(
      listed / "special_tokens_map.json",
      R"({"eos_token": "</s>", "additional_special_tokens": ["<extra_id_0>", {"content": "<extra_id_1>"}, "<x>"]})");
  EXPECT_EQ(SentencePieceTokenizer::from_dir(listed.path()).extra_ids(), 2);

  TempDir none("t5_none");
  write_t5_folder(none.path(), "");
  EXPECT_EQ(SentencePieceTokenizer::from_dir(none.path()).extra_ids(), 100);
}

TEST(SentencePieceTokenizer, BadExtraIdsNameTheFile) {
  const auto error_for = [](const std::string& tokenizer_config) {
    TempDir dir("t5_bad_extra");
    write_t5_folder(dir.path(), tokenizer_config);
    const std::string config = (dir / "tokenizer_config.json").string();
    std::string message;
    try {
      load_tokenizer(dir.path());
    } catch (const FormatError& error) {
      message = error.what();
    }
    EXPECT_EQ(message.rfind(config + ": ", 0), 0u) << message;
    return message;
  };
  EXPECT_NE(error_for(R"({"extra_ids": -1})").find("field 'extra_ids' must be between 0 and 10000, got -1"),
            std::string::npos);
  EXPECT_NE(error_for(R"({"extra_ids": 1000000000})").find("got 1000000000"), std::string::npos);
  EXPECT_NE(error_for(R"({"extra_ids": "100"})").find("field 'extra_ids' must be"), std::string::npos);
  EXPECT_NE(error_for(R"({"extra_ids": 100, "additional_special_tokens": ["<extra_id_0>"]})")
                .find("extra_ids is 100 but"),
            std::string::npos);
  EXPECT_NE(
      error_for(R"({"additional_special_tokens": 7})").find("'additional_special_tokens' must be a list"),
      std::string::npos);
}

// One FormatError naming spiece.model for each way the file can be wrong, from load_tokenizer.
std::string load_error(const fs::path& dir) {
  try {
    load_tokenizer(dir);
  } catch (const FormatError& error) {
    return error.what();
  }
  return "(loaded)";
}

TEST(SentencePieceTokenizer, BrokenModelFilesAreFormatErrors) {
  const std::string model = slurp(kT5Dir / "spiece.model");
  std::mt19937 random(7);
  std::string noise(4096, '\0');
  for (char& byte : noise) byte = static_cast<char>(random());
  const std::vector<std::pair<std::string, std::string>> broken = {
      {"empty", ""},
      {"truncated to half", model.substr(0, model.size() / 2)},
      {"truncated to 100 bytes", model.substr(0, 100)},
      {"random bytes", noise},
      {"a JSON file renamed", slurp(kT5Dir / "config.json")},
      {"text", "this is not a model\n"},
  };
  for (const auto& [what, bytes] : broken) {
    TempDir dir("t5_broken");
    spit(dir / "spiece.model", bytes);
    const std::string message = load_error(dir.path());
    EXPECT_EQ(message.rfind((dir / "spiece.model").string() + ": ", 0), 0u) << what << ": " << message;
    EXPECT_NE(message.find("SentencePiece model"), std::string::npos) << what << ": " << message;
  }
}

// Models that parse but once crashed latte when libsentencepiece ran them (found by
// fuzz_sentencepiece): a piece starting with NUL (its trie builder threw) and a
// precompiled_charsmap whose trie points outside itself (Encode read out of bounds).
TEST(SentencePieceTokenizer, HostileModelsFoundByFuzzingAreFormatErrors) {
  const fs::path corpus = fs::path(LATTE_TEST_DATA_DIR) / ".." / "fuzz" / "corpus" / "sentencepiece";
  const std::string nul_piece = error_of(
      [&] { SentencePieceTokenizer::from_model_bytes(slurp(corpus / "nul_piece.model"), "nul.model", 100); });
  EXPECT_EQ(nul_piece.rfind("nul.model: not a valid SentencePiece model: ", 0), 0u) << nul_piece;
  EXPECT_NE(nul_piece.find("piece 5 holds a NUL byte"), std::string::npos) << nul_piece;
  EXPECT_EQ(
      error_of([&] {
        SentencePieceTokenizer::from_model_bytes(slurp(corpus / "bad_charsmap.model"), "bad.model", 100);
      }),
      "bad.model: not a valid SentencePiece model: its precompiled_charsmap's trie points outside itself");
  // A model without </s> (trained by spm_train --eos_id=-1) cannot follow T5's conventions.
  EXPECT_EQ(error_of([&] {
              SentencePieceTokenizer::from_model_bytes(slurp(kT5Dir / "no_eos.model"), "no_eos.model", 100);
            }),
            "no_eos.model: the model has no </s> piece (eos_id -1), which T5 appends to every input");
  // The Unigram seeds (T5's settings; custom rules, byte fallback and user-defined symbols)
  // load and encode; the other model types are refused by name.
  for (const char* name : {"unigram", "rules"}) {
    const auto tokenizer =
        SentencePieceTokenizer::from_model_bytes(slurp(corpus / (std::string(name) + ".model")), name, 2);
    EXPECT_GE(tokenizer.encode("Hello <extra_id_1> world", 0).ids.size(), 3u) << name;
  }
  for (const auto& [name, type] : {std::pair{"bpe", "BPE"}, {"char", "char"}, {"word", "word"}}) {
    EXPECT_EQ(error_of([&] {
                SentencePieceTokenizer::from_model_bytes(slurp(corpus / (std::string(name) + ".model")), name,
                                                         2);
              }),
              std::string(name) + ": a SentencePiece " + type +
                  " model; latte runs Unigram models (T5's, mT5's), whose model_type is 1");
  }
}

// Damage anywhere in the real model (mostly its 240 kB normalisation map) loads and encodes, or
// is a FormatError: never a crash.
// Byte fallback and the decoder's byte runs, against python3-sentencepiece 0.1.97 on the "rules"
// seed (custom rules, byte fallback: <0xXX> is id 5 + XX).
TEST(SentencePieceTokenizer, ByteFallbackMatchesSentencePiece) {
  const fs::path corpus = fs::path(LATTE_TEST_DATA_DIR) / ".." / "fuzz" / "corpus" / "sentencepiece";
  const auto tokenizer = SentencePieceTokenizer::from_model_bytes(slurp(corpus / "rules.model"), "rules", 2);
  const std::string text = "x \xF0\x9F\x98\x80 y";  // x 😀 y: the emoji has no piece
  const std::vector<int32_t> ids = {261, 364, 261, 245, 164, 157, 133, 261, 276, 1};
  EXPECT_EQ(tokenizer.encode(text, 0).ids, ids);
  EXPECT_EQ(tokenizer.decode(ids), text);
  // The rules fold case and decompose é; the decomposition's combining accent is bytes.
  EXPECT_EQ(tokenizer.encode("Ab\xC3\xA9 \xE6\xBC\xA2 z", 0).ids,
            (std::vector<int32_t>{275, 290, 263, 209, 134, 261, 235, 193, 167, 261, 361, 1}));
  // A byte run that is no UTF-8 reads U+FFFD per bad byte.
  EXPECT_EQ(tokenizer.decode(std::vector<int32_t>{5 + 0xF0, 5 + 0x9F, 5 + 0x5F}),
            "\xEF\xBF\xBD\xEF\xBF\xBD_");
}

TEST(SentencePieceTokenizer, DamagedModelBytesNeverCrash) {
  const std::string model = slurp(kT5Dir / "spiece.model");
  std::mt19937 random(21);
  size_t rejected = 0;
  for (int trial = 0; trial < 60; ++trial) {
    std::string damaged = model;
    const size_t at = random() % (damaged.size() - 4);
    for (size_t i = 0; i < 4; ++i) damaged[at + i] = static_cast<char>(random());
    try {
      const auto tokenizer = SentencePieceTokenizer::from_model_bytes(damaged, "spiece.model", 100);
      tokenizer.decode(tokenizer.encode("Ｆｕｌｌ café ﬁne 日本 😀 <extra_id_0> text", 0).ids);
    } catch (const FormatError&) {
      ++rejected;
    }
  }
  EXPECT_GT(rejected, 0u);
}

TEST(SentencePieceTokenizer, MissingModelIsAFormatError) {
  TempDir dir("t5_missing");
  spit(dir / "tokenizer_config.json", R"({"tokenizer_class": "T5Tokenizer"})");
  EXPECT_EQ(load_error(dir.path()),
            (dir / "spiece.model").string() +
                " is missing (tokenizer_config.json names a T5 tokenizer), and there is no tokenizer.json");
  // Hugging Face's T5 tokenizer.json alone is read instead, and its faults named.
  spit(dir / "tokenizer.json",
       R"({"model": {"type": "Unigram", "vocab": []}, "pre_tokenizer": {"type": "Metaspace"}})");
  EXPECT_EQ(load_error(dir.path()), (dir / "tokenizer.json").string() +
                                        ": field 'model.vocab' must be a non-empty list of [piece, score]");
  fs::remove(dir / "tokenizer_config.json");
  EXPECT_EQ(load_error(dir.path()), (dir / "tokenizer.json").string() +
                                        ": field 'model.vocab' must be a non-empty list of [piece, score]");
}

// --- A T5 folder with only tokenizer.json (T5TokenizerFast's file) -------------------------------

const fs::path kT5JsonDir = fs::path(LATTE_TEST_DATA_DIR) / "t5_tokenizer_json";

const SentencePieceTokenizer& t5_json() {
  static const SentencePieceTokenizer tokenizer = SentencePieceTokenizer::from_dir(kT5JsonDir);
  return tokenizer;
}

// The variants make_t5_tokenizer_json_golden.js runs, by the same edits of the file.
SentencePieceTokenizer t5_json_variant(const std::string& variant) {
  json root = json::parse(slurp(kT5JsonDir / "tokenizer.json"));
  if (variant == "first") {
    root["pre_tokenizer"]["prepend_scheme"] = "first";
    root["decoder"]["prepend_scheme"] = "first";
  } else if (variant == "older") {
    root["normalizer"] = json(root["normalizer"]["normalizers"][0]);
    const json metaspace = {{"type", "Metaspace"}, {"replacement", "\u2581"}, {"add_prefix_space", true}};
    root["pre_tokenizer"] = {{"type", "Sequence"},
                             {"pretokenizers", json::array({{{"type", "WhitespaceSplit"}}, metaspace})}};
    root["decoder"] = metaspace;
  } else if (variant == "byte_fallback") {
    root["model"]["byte_fallback"] = true;
    static constexpr char kHex[] = "0123456789ABCDEF";
    for (int byte = 0; byte < 256; ++byte) {
      root["model"]["vocab"][1744 + byte] =
          json::array({std::string("<0x") + kHex[byte / 16] + kHex[byte % 16] + ">", 0.0});
    }
  }
  return SentencePieceTokenizer::from_tokenizer_json(root, variant);
}

// tools/golden/make_t5_tokenizer_json_golden.js: Hugging Face tokenizers' Node binding.
TEST(T5TokenizerJson, MatchesTheTokenizersGoldens) {
  std::map<std::string, SentencePieceTokenizer> variants;
  for (const char* name : {"first", "older", "byte_fallback"}) variants.emplace(name, t5_json_variant(name));
  std::ifstream in(kT5JsonDir / "t5_json_golden.jsonl");
  size_t cases = 0, with_unknown = 0, with_sentinel = 0, truncated = 0, pairs = 0, with_bytes = 0;
  std::map<std::string, size_t> per_variant;
  for (std::string line; std::getline(in, line);) {
    const json golden = json::parse(line);
    const std::string variant = golden.value("variant", "");
    const SentencePieceTokenizer& tokenizer = variant.empty() ? t5_json() : variants.at(variant);
    const std::string text = golden["text"];
    const int64_t max_length = golden.value("max_length", int64_t{0});
    const Encoding encoding = golden.contains("pair")
                                  ? tokenizer.encode_pair(text, golden["pair"].get<std::string>(), max_length)
                                  : tokenizer.encode(text, max_length);
    const auto ids = golden["ids"].get<std::vector<int32_t>>();
    EXPECT_EQ(encoding.ids, ids) << golden.dump();
    EXPECT_EQ(encoding.tokens, golden["tokens"].get<std::vector<std::string>>()) << golden.dump();
    EXPECT_EQ(encoding.type_ids, std::vector<int32_t>(ids.size(), 0));
    EXPECT_EQ(tokenizer.decode(ids), golden["decoded"].get<std::string>()) << golden.dump();
    ++per_variant[variant];
    ++cases;
    with_unknown += std::count(ids.begin(), ids.end(), 2) > 0;
    with_sentinel += std::any_of(ids.begin(), ids.end(), [](int32_t id) { return id >= 2000; });
    with_bytes += variant == "byte_fallback" &&
                  std::any_of(ids.begin(), ids.end(), [](int32_t id) { return id >= 1744 && id < 2000; });
    truncated += encoding.truncated;
    pairs += golden.contains("pair");
  }
  EXPECT_GE(cases, 250u);
  EXPECT_EQ(per_variant.size(), 4u);
  EXPECT_GE(with_unknown, 30u);
  EXPECT_GE(with_sentinel, 20u);
  EXPECT_GE(with_bytes, 15u);
  EXPECT_GE(truncated, 6u);
  EXPECT_GE(pairs, 10u);
}

TEST(T5TokenizerJson, FollowsT5Conventions) {
  const auto tokenizer = load_tokenizer(kT5JsonDir);
  EXPECT_EQ(tokenizer->kind(), "sentencepiece");
  EXPECT_EQ(tokenizer->source(), (kT5JsonDir / "tokenizer.json").string());
  EXPECT_EQ(tokenizer->vocab_size(), 2100u);
  EXPECT_EQ(tokenizer->end_of_text_id(), 1);
  EXPECT_EQ(t5_json().extra_ids(), 100);
  EXPECT_EQ(t5_json().sentinel_id(0), 2099);
  EXPECT_EQ(t5_json().sentinel_id(99), 2000);
  EXPECT_TRUE(t5_json().is_special(0) && t5_json().is_special(1) && t5_json().is_special(2));
  EXPECT_FALSE(t5_json().is_special(3));
  // The same pieces as spiece.model, id for id.
  for (int32_t id = 0; id < 2100; ++id) EXPECT_EQ(t5_json().token(id), t5().token(id)) << id;
  EXPECT_NO_THROW(check_tokenizer_fits(*tokenizer, 2112, kT5JsonDir / "config.json"));
  EXPECT_NE(error_of([&] { check_tokenizer_fits(*tokenizer, 2050, kT5JsonDir / "config.json"); })
                .find("tokenizer.json has 2100 tokens but " + (kT5JsonDir / "config.json").string() +
                      " has vocab_size 2050"),
            std::string::npos);
  EXPECT_EQ(error_of([] { t5_json().encode("ok \xc3", 0); }), "invalid UTF-8 at byte 3");
  EXPECT_NE(error_of([] { t5_json().decode(std::vector<int32_t>{2100}); }).find("out of range"),
            std::string::npos);
}

// The fuzz seeds load and run; cut or bit-flipped, they load or fail with latte's Error, never crash.
TEST(T5TokenizerJson, FuzzSeedsLoadAndDamagedOnesNeverCrash) {
  const fs::path corpus = fs::path(LATTE_TEST_DATA_DIR) / ".." / "fuzz" / "corpus" / "t5_tokenizer_json";
  const std::string text = "Hello <extra_id_0> world,  cafe\xCC\x81 \xEF\xBC\xA1\xCC\x81 </s>";
  size_t seeds = 0;
  for (const auto& entry : fs::directory_iterator(corpus)) {
    const std::string bytes = slurp(entry.path());
    TempDir dir("t5_json_seed");
    spit(dir / "tokenizer.json", bytes);
    const SentencePieceTokenizer tokenizer = SentencePieceTokenizer::from_dir(dir.path());
    EXPECT_EQ(tokenizer.encode(text, 0).ids.back(), 1) << entry.path();
    ++seeds;
    std::mt19937 random(11);
    for (int trial = 0; trial < 40; ++trial) {
      std::string damaged = bytes;
      if (trial % 2 == 0) {
        damaged.resize(random() % damaged.size());
      } else {
        for (int flip = 0; flip < 4; ++flip)
          damaged[random() % damaged.size()] ^= static_cast<char>(1 << (random() % 8));
      }
      spit(dir / "tokenizer.json", damaged);
      try {
        const SentencePieceTokenizer loaded = SentencePieceTokenizer::from_dir(dir.path());
        loaded.decode(loaded.encode_pair(text, text, 0).ids);
      } catch (const Error&) {
      }
    }
  }
  EXPECT_EQ(seeds, 3u);
}

// With spiece.model beside tokenizer.json, spiece.model is read (the slow tokenizer's file).
TEST(T5TokenizerJson, SpieceModelWinsWhenBothArePresent) {
  TempDir dir("t5_both");
  fs::copy_file(kT5Dir / "spiece.model", dir / "spiece.model");
  fs::copy_file(kT5JsonDir / "tokenizer.json", dir / "tokenizer.json");
  EXPECT_EQ(load_tokenizer(dir.path())->source(), (dir / "spiece.model").string());
}

// Each damage to the test tokenizer.json gives one FormatError naming the file and the field.
TEST(T5TokenizerJson, BadFilesNameTheField) {
  const json good = json::parse(slurp(kT5JsonDir / "tokenizer.json"));
  const std::vector<std::pair<std::function<void(json&)>, std::string>> cases = {
      {[](json& root) { root["model"].erase("vocab"); }, "field 'model.vocab' must be a non-empty list"},
      {[](json& root) { root["model"]["vocab"] = json::array(); },
       "field 'model.vocab' must be a non-empty list"},
      {[](json& root) { root["model"]["vocab"][5] = "abc"; },
       "field 'model.vocab[5]' must be [piece, score]"},
      {[](json& root) { root["model"]["vocab"][5][1] = "high"; },
       "field 'model.vocab[5]' must be [piece, score]"},
      {[](json& root) { root["model"]["vocab"][7][1] = std::numeric_limits<double>::infinity(); },
       "field 'model.vocab[7]' must be [piece, score]"},
      {[](json& root) { root["model"]["vocab"][9][0] = ""; }, "field 'model.vocab[9]' must have a non-empty"},
      {[](json& root) { root["model"]["unk_id"] = 2100; },
       "field 'model.unk_id' must be an id in [0, 2100), got 2100"},
      {[](json& root) { root["model"]["unk_id"] = -1; },
       "field 'model.unk_id' must be an id in [0, 2100), got -1"},
      {[](json& root) { root["model"].erase("unk_id"); }, "field 'model.unk_id' must be an id"},
      {[](json& root) { root["model"]["byte_fallback"] = "yes"; },
       "field 'model.byte_fallback' must be true or false"},
      {[](json& root) {
         root["normalizer"]["normalizers"][1] = {{"type", "NFKC"}};
       },
       "field 'normalizer.normalizers[1]': normalizer type 'NFKC' is not supported"},
      {[](json& root) {
         root["normalizer"] = {{"type", "Lowercase"}};
       },
       "field 'normalizer': normalizer type 'Lowercase' is not supported"},
      {[](json& root) {
         root["normalizer"]["normalizers"][2]["pattern"] = {{"Regex", "\\s+"}};
       },
       "field 'normalizer.normalizers[2].pattern' {\"Regex\":\"\\\\s+\"} is not supported"},
      {[](json& root) { root["normalizer"]["normalizers"][0]["precompiled_charsmap"] = "not base64!"; },
       "field 'normalizer.normalizers[0].precompiled_charsmap' is not base64"},
      {[](json& root) { root["normalizer"]["normalizers"][0]["precompiled_charsmap"] = "AAAAAAAA"; },
       "field 'normalizer.normalizers[0].precompiled_charsmap': its precompiled_charsmap's trie size 0"},
      {[](json& root) {
         root["pre_tokenizer"] = {{"type", "ByteLevel"}};
       },
       "field 'pre_tokenizer': pre_tokenizer type 'ByteLevel' is not supported"},
      {[](json& root) { root["pre_tokenizer"] = nullptr; },
       "field 'pre_tokenizer': pre_tokenizer type 'null'"},
      {[](json& root) { root["pre_tokenizer"]["replacement"] = "ab"; },
       "field 'pre_tokenizer.replacement' must be one character"},
      {[](json& root) { root["pre_tokenizer"]["prepend_scheme"] = "sometimes"; },
       "field 'pre_tokenizer.prepend_scheme' must be \"always\", \"first\" or \"never\""},
      {[](json& root) {
         root["decoder"] = {{"type", "ByteLevel"}};
       },
       "field 'decoder': decoder type 'ByteLevel' is not supported"},
      {[](json& root) { root["post_processor"] = nullptr; },
       "field 'post_processor' must be T5's TemplateProcessing"},
      {[](json& root) { root["post_processor"]["single"].erase(1); },
       "field 'post_processor' must be T5's TemplateProcessing"},
      {[](json& root) { root["post_processor"]["special_tokens"]["</s>"]["ids"] = {7}; },
       "field 'post_processor.special_tokens.</s>.ids' must be [1], the id of '</s>' in added_tokens, got "
       "[7]"},
      {[](json& root) { root["added_tokens"][1]["id"] = 5; },
       "field 'added_tokens[1]' says '</s>' has id 5, but the vocabulary's piece 5 is"},
      {[](json& root) { root["added_tokens"][3]["id"] = 4000; },
       "field 'added_tokens[3].id' is 4000, outside the model's 2100 pieces"},
      {[](json& root) {
         std::swap(root["model"]["vocab"][2000], root["model"]["vocab"][2001]);
         root["added_tokens"][3]["id"] = 2001;
         root["added_tokens"][4]["id"] = 2000;
       },
       "field 'added_tokens' has <extra_id_98> at id 2000, but T5's 100 sentinels are the last ids, "
       "<extra_id_98> at "
       "2001"},
      {[](json& root) { root["added_tokens"][0]["normalized"] = true; },
       "field 'added_tokens[0].normalized' true is not supported"},
      {[](json& root) { root["added_tokens"] = 3; }, "field 'added_tokens' must be a list"},
  };
  for (const auto& [damage, expected] : cases) {
    TempDir dir("t5_json_bad");
    json root = good;
    damage(root);
    spit(dir / "tokenizer.json", root.dump());
    const std::string message = load_error(dir.path());
    EXPECT_EQ(message.rfind((dir / "tokenizer.json").string() + ": " + expected, 0), 0u) << message;
  }
}

bool t5_family_registered() {
  const auto families = model_families();
  return std::any_of(families.begin(), families.end(),
                     [](const ModelFamily& family) { return std::string(family.model_type) == "t5"; });
}

class SentencePieceCli : public ::testing::Test {
 protected:
  test_support::CommandResult run(const std::string& arguments, const std::string& stdin_text = "") {
    return test_support::run_latte(work_.path(), arguments, stdin_text);
  }
  TempDir work_{"t5_cli"};
};

TEST_F(SentencePieceCli, TokenizePrintsIdsAndTokens) {
  // `latte tokenize` asks the model family for the input cap: the t5 family (src/models/t5.cpp)
  // comes with the T5 model itself.
  if (!t5_family_registered()) GTEST_SKIP() << "no t5 entry in the model registry yet";
  const auto result = run("tokenize --json --model " + kT5Dir.string() + " 'Hello <extra_id_0> world'");
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_EQ(json::parse(result.out), json::parse(R"({"ids": [84, 52, 124, 2099, 428, 1],
                            "tokens": ["▁He", "l", "lo", "<extra_id_0>", "▁world", "</s>"]})"));
  const auto pair = run("tokenize --json --model " + kT5Dir.string() + " 'a cat' 'a dog'");
  ASSERT_EQ(pair.exit_code, 0) << pair.err;
  const json line = json::parse(pair.out);
  EXPECT_EQ(line["ids"], t5().encode_pair("a cat", "a dog", 0).ids);
  // std::system's /bin/sh has no $'...' quoting: printf writes the byte.
  test_support::expect_one_line_error(
      run("tokenize --model " + kT5Dir.string() + " \"$(printf 'bad \\377')\""), "invalid UTF-8 at byte 4");
}

TEST_F(SentencePieceCli, TokenizeReadsATokenizerJsonFolder) {
  if (!t5_family_registered()) GTEST_SKIP() << "no t5 entry in the model registry yet";
  const auto result = run("tokenize --json --model " + kT5JsonDir.string() + " 'Hello <extra_id_0> world'");
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_EQ(json::parse(result.out), json::parse(R"({"ids": [84, 52, 124, 2099, 428, 1],
                            "tokens": ["▁He", "l", "lo", "<extra_id_0>", "▁world", "</s>"]})"));
  TempDir model("t5_cli_json_broken");
  fs::copy_file(kT5JsonDir / "config.json", model / "config.json");
  json root = json::parse(slurp(kT5JsonDir / "tokenizer.json"));
  root["pre_tokenizer"] = {{"type", "Whitespace"}};
  spit(model / "tokenizer.json", root.dump());
  test_support::expect_one_line_error(
      run("tokenize --model " + model.path().string() + " hello"),
      (model / "tokenizer.json").string() +
          ": field 'pre_tokenizer': pre_tokenizer type 'Whitespace' is not supported");
}

TEST_F(SentencePieceCli, BrokenSpieceModelIsOneErrorLine) {
  TempDir model("t5_cli_broken");
  fs::copy_file(kT5Dir / "config.json", model / "config.json");
  spit(model / "spiece.model", slurp(kT5Dir / "config.json"));
  test_support::expect_one_line_error(
      run("tokenize --model " + model.path().string() + " hello"),
      (model / "spiece.model").string() + ": not a valid SentencePiece model");
}

}  // namespace
}  // namespace latte
