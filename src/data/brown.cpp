#include "latte/data/brown.h"

#include <algorithm>
#include <filesystem>

#include "latte/core/error.h"

namespace latte::data {

namespace {

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\f' || c == '\v'; }

std::vector<std::string_view> split_whitespace(std::string_view line) {
  std::vector<std::string_view> fields;
  size_t at = 0;
  while (at < line.size()) {
    while (at < line.size() && is_space(line[at])) ++at;
    const size_t start = at;
    while (at < line.size() && !is_space(line[at])) ++at;
    if (at > start) fields.push_back(line.substr(start, at - start));
  }
  return fields;
}

bool attaches_left(std::string_view word) {
  static constexpr std::string_view kClosing[] = {",", ".", ";", ":", "?", "!", ")", "]", "''"};
  return std::find(std::begin(kClosing), std::end(kClosing), word) != std::end(kClosing);
}

bool attaches_right(std::string_view word) { return word == "(" || word == "[" || word == "``"; }

}  // namespace

std::vector<BrownSentence> parse_brown_document(std::string_view text, const std::string& source) {
  std::vector<BrownSentence> sentences;
  bool after_blank = true;
  size_t at = 0;
  for (size_t number = 1; at < text.size(); ++number) {
    const size_t newline = text.find('\n', at);
    const std::string_view line = text.substr(at, newline == std::string_view::npos ? newline : newline - at);
    at = newline == std::string_view::npos ? text.size() : newline + 1;
    const std::vector<std::string_view> tokens = split_whitespace(line);
    if (tokens.empty()) {
      after_blank = true;
      continue;
    }
    BrownSentence sentence;
    sentence.starts_paragraph = after_blank;
    sentence.line = number;
    sentence.headline = true;
    for (const std::string_view token : tokens) {
      const size_t slash = token.rfind('/');
      if (slash == std::string_view::npos || slash == 0 || slash + 1 == token.size()) {
        throw FormatError(source + ":" + std::to_string(number) + ": token '" + std::string(token) +
                          "' is not word/tag");
      }
      sentence.words.emplace_back(token.substr(0, slash));
      sentence.headline = sentence.headline && token.substr(slash + 1).ends_with("-hl");
    }
    sentences.push_back(std::move(sentence));
    after_blank = false;
  }
  return sentences;
}

std::string detokenize_brown(const std::vector<std::string>& words) {
  std::string out;
  bool glue_next = true;     // no space before the next word
  bool single_open = false;  // a lone ' opened a quote
  for (const std::string& raw : words) {
    if (raw.starts_with("**")) continue;  // symbol codes such as **zg
    std::string_view word = raw;
    bool left = attaches_left(word), right = attaches_right(word);
    if (word == "``" || word == "''") word = "\"";
    if (word == "'") {
      right = !single_open;
      left = single_open;
      single_open = !single_open;
    }
    if (word == "." && out.ends_with('.')) continue;  // "Jr." then the sentence's "."
    if (!out.empty() && !glue_next && !left) out += ' ';
    out += word;
    glue_next = right;
  }
  return out;
}

std::vector<std::string> brown_passages(const std::vector<BrownSentence>& sentences,
                                        const PassageOptions& options) {
  std::vector<std::string> passages;
  std::string current;
  size_t current_words = 0;
  const auto flush = [&] {
    if (!current.empty()) passages.push_back(std::move(current));
    current.clear();
    current_words = 0;
  };
  bool paragraph_break = false;  // a dropped headline ends the paragraph before it
  for (const BrownSentence& sentence : sentences) {
    paragraph_break = paragraph_break || sentence.starts_paragraph;
    if (sentence.headline) {
      paragraph_break = true;
      continue;
    }
    const std::string text = detokenize_brown(sentence.words);
    if (text.empty()) continue;
    const size_t words = sentence.words.size();
    if (current_words >= options.min_words &&
        (paragraph_break || current_words + words > options.max_words)) {
      flush();
    }
    paragraph_break = false;
    if (!current.empty()) current += ' ';
    current += text;
    current_words += words;
  }
  if (!current.empty()) {
    if (current_words < options.min_words && !passages.empty()) {
      passages.back() += ' ' + current;
    } else {
      passages.push_back(std::move(current));
    }
  }
  return passages;
}

std::map<std::string, std::string> parse_brown_categories(std::string_view text, const std::string& source) {
  std::map<std::string, std::string> categories;
  size_t at = 0;
  for (size_t number = 1; at < text.size(); ++number) {
    const size_t newline = text.find('\n', at);
    const std::string_view line = text.substr(at, newline == std::string_view::npos ? newline : newline - at);
    at = newline == std::string_view::npos ? text.size() : newline + 1;
    const std::vector<std::string_view> fields = split_whitespace(line);
    if (fields.empty()) continue;
    if (fields.size() != 2) {
      throw FormatError(source + ":" + std::to_string(number) + ": expected 'FILE GENRE', found " +
                        std::to_string(fields.size()) + " fields");
    }
    // The names are joined to the package folder: an absolute name or a `..` would read a file
    // outside it into the dataset.
    const std::filesystem::path name(fields[0]);
    const bool escapes = name.is_absolute() ||
                         std::any_of(name.begin(), name.end(), [](const auto& part) { return part == ".."; });
    if (escapes) {
      throw FormatError(source + ":" + std::to_string(number) + ": file name " + std::string(fields[0]) +
                        " leaves the package folder");
    }
    if (!categories.emplace(std::string(fields[0]), std::string(fields[1])).second) {
      throw FormatError(source + ":" + std::to_string(number) + ": file " + std::string(fields[0]) +
                        " listed twice");
    }
  }
  return categories;
}

}  // namespace latte::data
