// What a Hugging Face tokenizer.json does around its Unigram model for T5 (transformers'
// SpmConverter writes it): the normaliser (Precompiled, Strip, Replace, in a Sequence), the
// Metaspace pre-tokenizer (after an optional WhitespaceSplit) and the Metaspace decoder, with the
// `tokenizers` crate's semantics. Anything else in those fields is refused by name.
#pragma once

#include <cstddef>
#include <nlohmann/json_fwd.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "unigram.h"

namespace latte {

class MetaspacePipeline {
 public:
  // From a tokenizer.json's "normalizer", "pre_tokenizer" and "decoder"; FormatError
  // "SOURCE: field 'normalizer': ..." naming what latte does not run.
  static MetaspacePipeline from_json(const nlohmann::json& root, const std::string& source);

  // tokenizers' normaliser over one stretch of text between added tokens (valid UTF-8).
  std::string normalize(std::string_view text) const;
  // The pre-tokens of one stretch: normalised, whitespace-split if the file says so, spaces
  // turned into the replacement character, which is prepended as prepend_scheme says (`first`:
  // only to what begins the input, `at_start`) and starts every piece. Empty pieces are dropped.
  std::vector<std::string> pre_tokens(std::string_view text, bool at_start) const;
  // The Metaspace decoder: the replacement character reads as a space, except in the first
  // token, where it vanishes (unless prepend_scheme is never).
  std::string decode(const std::vector<std::string_view>& tokens) const;

 private:
  enum class Prepend { kAlways, kFirst, kNever };
  struct Step {
    enum class Kind { kPrecompiled, kStrip, kReplace, kReplaceSpaceRuns } kind = Kind::kPrecompiled;
    PrecompiledCharsmap charsmap;  // kPrecompiled
    bool left = false;             // kStrip
    bool right = false;            // kStrip
    std::string pattern;           // kReplace: a literal
    std::string content;           // kReplace, kReplaceSpaceRuns
  };
  struct Metaspace {
    std::string replacement = "\xE2\x96\x81";  // ▁, one character
    Prepend prepend = Prepend::kAlways;
    bool split = true;
  };

  static void add_normalizer(const nlohmann::json& node, const std::string& where, const std::string& source,
                             std::vector<Step>& steps);
  static Metaspace read_metaspace(const nlohmann::json& node, const std::string& where,
                                  const std::string& source);
  void metaspace_pieces(std::string piece, bool prepend, std::vector<std::string>& out) const;

  std::vector<Step> steps_;
  bool whitespace_split_ = false;  // WhitespaceSplit before Metaspace (older T5 files)
  Metaspace pre_tokenizer_;
  Metaspace decoder_;
};

}  // namespace latte
