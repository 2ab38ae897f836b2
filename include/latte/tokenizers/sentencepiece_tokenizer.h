// T5's tokenizer: a SentencePiece Unigram model (spiece.model) run by latte's own implementation
// of SentencePiece's encoder and decoder (src/tokenizers/unigram.h), with
// Hugging Face T5Tokenizer's conventions on top (transformers 4.x, legacy=True as T5 checkpoints
// load by default): `</s>` appended and no BOS; `<extra_id_N>` sentinels above the model's pieces
// (the last id is <extra_id_0>); special tokens written in text are single tokens; a pair is
// `A </s> B </s>`. tests/data/t5_tokenizer holds the goldens it is checked against, made by
// tools/golden/make_t5_tokenizer.sh.
//
// A T5 folder with only Hugging Face's tokenizer.json (T5TokenizerFast's file) is read as the
// `tokenizers` crate runs it: its added tokens, Precompiled/Strip/Replace normaliser, Metaspace
// pre-tokenizer and decoder, and the same Unigram Viterbi with tokenizers' rules
// (tests/data/t5_tokenizer_json, goldens from the crate's Node binding).
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <nlohmann/json_fwd.hpp>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "latte/tokenizers/tokenizer.h"

namespace latte {

class UnigramTokenizerModel;
class MetaspacePipeline;

class SentencePieceTokenizer final : public Tokenizer {
 public:
  // Hugging Face's default number of sentinels, and the most latte accepts (T5 uses 100, ByT5
  // 125; far more is a broken config, whose ids would mostly be embedding rows never trained).
  static constexpr int64_t kDefaultExtraIds = 100;
  static constexpr int64_t kMaxExtraIds = 10000;

  // model_dir holds spiece.model (else a tokenizer.json, read by from_tokenizer_json, whose added
  // tokens give the sentinels); the number of sentinels comes from tokenizer_config.json's
  // "extra_ids", else from the <extra_id_N> tokens listed in additional_special_tokens
  // (tokenizer_config.json or special_tokens_map.json), else kDefaultExtraIds. FormatError
  // naming the file for a missing, truncated or foreign spiece.model or a bad extra_ids.
  static SentencePieceTokenizer from_dir(const std::filesystem::path& model_dir);
  // A serialized SentencePiece ModelProto (the bytes of a spiece.model); `source` names it in
  // errors.
  static SentencePieceTokenizer from_model_bytes(const std::string& bytes, const std::string& source,
                                                 int64_t extra_ids);
  // A parsed tokenizer.json whose model is Unigram, as T5TokenizerFast writes it: the template
  // `$A </s>` / `$A </s> $B </s>`, added tokens at the ids of their vocabulary pieces, sentinels
  // <extra_id_N> (if any) at the top in T5's order. FormatError "SOURCE: field 'F': ..." naming
  // the field for anything else (an unknown normalizer, no vocab, unk_id out of range, a score
  // that is not a finite number, a special token at the wrong id).
  static SentencePieceTokenizer from_tokenizer_json(const nlohmann::json& root, const std::string& source);

  // text's ids then `</s>`; with max_length > 0 the first max_length - 1 ids are kept before the
  // `</s>` (max_length 0: no limit). InputError on invalid UTF-8 (naming the byte offset) or a
  // negative max_length.
  Encoding encode(std::string_view text, int64_t max_length) const override;
  // `text </s> pair </s>`, all type ids 0 (T5 has no segment embedding); cut to max_length
  // (0: no limit, else >= 2) as tokenizers' LongestFirst does.
  Encoding encode_pair(std::string_view text, std::string_view pair, int64_t max_length) const;
  // Hugging Face's decode(skip_special_tokens=True): `</s>`, `<pad>`, `<unk>` and sentinels are
  // dropped, the rest detokenized by SentencePiece (▁ becomes a space) and stripped of the
  // whitespace at both ends. Decode a whole sequence, not token by token: the space a piece
  // starts with is stripped when it comes first. From a tokenizer.json: tokenizers'
  // decode(skip_special_tokens=true), the added tokens marked special dropped and the rest put
  // through the Metaspace decoder, with no stripping.
  std::string decode(std::span<const int32_t> ids) const override;
  // Pieces plus sentinels; a model's vocab_size may be larger (padding rows).
  size_t vocab_size() const override { return tokens_.size(); }
  const std::string& source() const override { return source_; }
  // `</s>`: generation stops there.
  std::optional<int32_t> end_of_text_id() const override { return eos_id_; }
  const std::string& token(int32_t id) const override;
  std::string_view kind() const override { return "sentencepiece"; }

  // Ids of text without `</s>`, no truncation. InputError on invalid UTF-8.
  std::vector<int32_t> token_ids(std::string_view text) const;
  // `</s>`, `<pad>`, `<unk>` (the model's control and unknown pieces; a tokenizer.json's added
  // tokens marked special) and the sentinels: what decode drops. InputError for an id out of range.
  bool is_special(int32_t id) const override;
  int64_t extra_ids() const { return extra_ids_; }
  // The id of <extra_id_N>, for N in [0, extra_ids).
  int32_t sentinel_id(int64_t n) const;

 private:
  SentencePieceTokenizer() = default;
  // Ids of text without `</s>`, stopping once there are more than `limit`; with `surfaces`, the
  // text of each (tokenizer.json: what tokenizers' Encoding.tokens shows).
  std::vector<int32_t> text_ids(std::string_view text, size_t limit,
                                std::vector<std::string>* surfaces = nullptr) const;
  // The token strings of ids (tokens_), or `surfaces` for a tokenizer.json.
  Encoding finish_encoding(std::vector<int32_t> ids, std::vector<std::string> surfaces) const;
  // Registers an added token matched whole in text; `strip`: it takes the whitespace around it.
  void add_special(const std::string& content, int32_t id, bool strip);
  // The id of the token T5's TemplateProcessing appends; FormatError for another post_processor.
  static int32_t t5_template_eos(const nlohmann::json& root, const SentencePieceTokenizer& tokenizer,
                                 const std::string& source);

  std::shared_ptr<const UnigramTokenizerModel> model_;  // shared by copies
  std::shared_ptr<const MetaspacePipeline> pipeline_;   // tokenizer.json only
  std::string source_;
  std::vector<std::string>
      tokens_;  // [vocab_size]: the pieces, then <extra_id_{extra_ids-1}> .. <extra_id_0>
  std::vector<std::string>
      special_;  // matched verbatim in text: the control and unknown pieces, then sentinels
  std::vector<int32_t> special_ids_;  // [special_.size()]
  std::vector<bool> strip_left_;      // [special_.size()]: whitespace before it goes with it
  std::vector<bool> strip_right_;     // [special_.size()]: whitespace after it goes with it
  std::vector<bool> is_special_;      // [vocab_size]: what decode drops
  size_t n_pieces_ = 0;
  int64_t extra_ids_ = 0;
  int32_t eos_id_ = 0;
};

// The number of <extra_id_N> sentinels a Hugging Face T5 tokenizer folder declares (see
// SentencePieceTokenizer::from_dir). FormatError naming the file for a bad value.
int64_t t5_extra_ids(const std::filesystem::path& model_dir);

// Whether model_dir's tokenizer_config.json names a SentencePiece tokenizer class (T5Tokenizer,
// T5TokenizerFast, MT5Tokenizer, ...): such a folder needs spiece.model or a tokenizer.json.
bool names_sentencepiece_tokenizer(const std::filesystem::path& model_dir);

}  // namespace latte
