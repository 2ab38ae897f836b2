// SentencePiece's Unigram tokenizer, read from a serialized ModelProto (a spiece.model) and run
// by latte itself: the normaliser's precompiled character map (a darts-clone double-array trie
// plus replacement strings), SentencePiece's whitespace rules, the Viterbi segmentation of
// unigram_model.cc (EncodeOptimized) with its unknown-piece and user-defined-symbol scores, and
// SentencePieceProcessor's Decode. Semantics follow SentencePiece 0.1.97 (Debian 12), which
// tests/data/t5_tokenizer's goldens were made with.
//
// The same Viterbi also runs a Hugging Face tokenizer.json's Unigram model (from_vocab), with
// the `tokenizers` crate's rules where they differ: every vocabulary entry is a candidate, scores
// are doubles, and a run of unknown characters is looked up whole before falling back.
//
// Why not libsentencepiece: Debian's builds in its own copy of protobuf-lite and exports it, and
// a process that also loads libprotobuf (libtorch does) crashes at start-up when the two copies
// resolve each other's symbols.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "latte/tokenizers/piece_trie.h"

namespace latte {

// sentencepiece_model.proto's ModelProto.SentencePiece.Type.
enum class SentencePieceType : uint8_t {
  kNormal = 1,
  kUnknown = 2,
  kControl = 3,
  kUserDefined = 4,
  kUnused = 5,
  kByte = 6,
};

// What latte reads of a ModelProto, with the proto's defaults.
struct SentencePieceModelProto {
  struct Piece {
    std::string text;
    float score = 0.0f;
    SentencePieceType type = SentencePieceType::kNormal;
  };
  std::vector<Piece> pieces;
  int model_type = 1;  // TrainerSpec.ModelType: 1 UNIGRAM, 2 BPE, 3 WORD, 4 CHAR
  bool treat_whitespace_as_suffix = false;
  bool byte_fallback = false;
  std::string unk_surface = " \xE2\x81\x87 ";  // " ⁇ "
  std::string eos_piece = "</s>";
  std::string precompiled_charsmap;  // NormalizerSpec
  bool add_dummy_prefix = true;
  bool remove_extra_whitespaces = true;
  bool escape_whitespaces = true;
  std::string denormalizer_charsmap;
};

// Parses the protobuf wire format. FormatError "SOURCE: not a valid SentencePiece model: ..."
// for bytes that are no ModelProto (truncated, another kind of file).
SentencePieceModelProto parse_sentencepiece_model(std::string_view bytes, const std::string& source);

// A SentencePiece normaliser's precompiled_charsmap: a darts-clone double-array trie over the
// UTF-8 of the characters it rewrites, then their NUL-ended replacement strings (normalizer.cc).
class PrecompiledCharsmap {
 public:
  PrecompiledCharsmap() = default;
  // Why a lookup in `charsmap` could leave it, or "" when none can.
  static std::string problem(std::string_view charsmap);
  // `charsmap` must have no problem().
  explicit PrecompiledCharsmap(std::string_view charsmap);

  bool empty() const { return trie_.empty(); }
  // The replacement of the longest rule that is a prefix of text, and the rule's length in bytes
  // (SentencePiece's Normalizer); {"", 0} when no rule matches.
  std::pair<std::string_view, size_t> longest_match(std::string_view text) const;
  // The replacement of the shortest such rule (spm_precompiled's transform, which Hugging Face's
  // Precompiled normaliser calls); nullopt when none matches.
  std::optional<std::string_view> shortest_match(std::string_view text) const;

 private:
  std::pair<std::string_view, size_t> match(std::string_view text, bool shortest) const;

  std::string trie_;     // darts-clone units, little-endian uint32
  std::string strings_;  // NUL-ended replacement strings
};

class UnigramTokenizerModel {
 public:
  UnigramTokenizerModel() = default;
  // FormatError "SOURCE: ..." for what latte cannot run exactly: another model type, suffix
  // whitespace, denormalisation rules; and for what SentencePiece itself refuses: no pieces, an
  // empty or repeated piece, no or two unknown pieces, a precompiled_charsmap whose trie could
  // lead a lookup outside itself.
  UnigramTokenizerModel(SentencePieceModelProto proto, const std::string& source);
  // Hugging Face tokenizers' Unigram model (a tokenizer.json's "model"): `vocab` of (piece,
  // score), all of them candidates, unk_id in range (the caller checks). encode() does not
  // normalise: its text is one pre-token. A run of unknown characters becomes the piece that
  // spells it if there is one, else with byte_fallback its <0xXX> pieces if all exist, else unk_id.
  static UnigramTokenizerModel from_vocab(std::vector<std::pair<std::string, double>> vocab, int32_t unk_id,
                                          bool byte_fallback);

  // Ids of valid UTF-8 text (the caller checks): normalised (SentencePiece models), segmented by
  // Viterbi, runs of unknown pieces fused into one (or spelled as <0xXX> byte pieces with
  // byte_fallback).
  // With `surfaces`, also the text each id covers (the piece; an unknown run's own characters),
  // as tokenizers' Encoding.tokens shows them.
  void encode(std::string_view text, std::vector<int32_t>& ids,
              std::vector<std::string>* surfaces = nullptr) const;
  // SentencePieceProcessor::Decode: control pieces vanish, unknown ones read unk_surface, byte
  // pieces are put back together (bytes that are no UTF-8 read U+FFFD), ▁ is a space and the
  // first one of the text is dropped. Ids are in range (the caller checks).
  std::string decode(std::span<const int32_t> ids) const;
  // The text after the normaliser (▁ for spaces), for tests.
  std::string normalize(std::string_view text) const;

  size_t size() const { return pieces_.size(); }
  const std::string& piece(int32_t id) const { return pieces_[static_cast<size_t>(id)].text; }
  SentencePieceType type(int32_t id) const { return pieces_[static_cast<size_t>(id)].type; }
  // The id of eos_piece if it is a control piece, else -1 (SentencePieceProcessor::eos_id).
  int32_t eos_id() const { return eos_id_; }

 private:
  // The normalised form of text's first character(s) and how many input bytes it covers.
  std::pair<std::string_view, size_t> normalize_prefix(std::string_view text) const;
  // Viterbi over normalised text, appending ids.
  void segment(std::string_view normalized, std::vector<int32_t>& ids,
               std::vector<std::string>* surfaces) const;

  std::vector<SentencePieceModelProto::Piece> pieces_;
  std::vector<double> scores_;  // [pieces_.size()]
  bool huggingface_ = false;    // from_vocab: tokenizers' rules, not SentencePiece's
  PieceTrie trie_;              // normal, user-defined and unused pieces
  PieceTrie user_defined_;      // kept whole by the normaliser
  PrecompiledCharsmap charsmap_;
  std::vector<int32_t> byte_ids_;  // [256]: the id of <0xXX>, or -1
  bool has_user_defined_ = false;
  bool byte_fallback_ = false;
  bool add_dummy_prefix_ = true;
  bool remove_extra_whitespaces_ = true;
  bool escape_whitespaces_ = true;
  std::string unk_surface_;
  int32_t unk_id_ = -1;
  int32_t eos_id_ = -1;
  double min_score_ = 0.0;
  float max_score_ = 0.0f;
};

}  // namespace latte
