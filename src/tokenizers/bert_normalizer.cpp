// BertNormalizer + BertPreTokenizer of Hugging Face `tokenizers`, character for character.
// Character properties come from utf8proc (Unicode 15); where the Rust crates behind the
// reference use older Unicode data the difference is listed below, so results stay identical
// (tests/data/tokenizer/unicode_reference.txt records the reference for every code point).
#include <utf8proc.h>

#include <algorithm>
#include <array>
#include <string>
#include <vector>

#include "latte/core/error.h"
#include "latte/tokenizers/bert_tokenizer.h"

namespace latte {
namespace {

struct Range {
  char32_t first;
  char32_t last;
};

bool in_ranges(char32_t cp, const Range* begin, const Range* end) {
  const Range* it = std::upper_bound(begin, end, cp, [](char32_t c, const Range& r) { return c < r.first; });
  return it != begin && cp <= (it - 1)->last;
}

template <size_t N>
bool in_ranges(char32_t cp, const std::array<Range, N>& ranges) {
  return in_ranges(cp, ranges.data(), ranges.data() + N);
}

// The CJK blocks of `tokenizers`' is_chinese_char. Note 0x2B920 where Google's BERT and the
// Python BertTokenizer have 0x2B820: the Rust reference leaves U+2B820..U+2B91F alone.
constexpr std::array<Range, 8> kCjkRanges = {{{0x3400, 0x4DBF},
                                              {0x4E00, 0x9FFF},
                                              {0xF900, 0xFAFF},
                                              {0x20000, 0x2A6DF},
                                              {0x2A700, 0x2B73F},
                                              {0x2B740, 0x2B81F},
                                              {0x2B920, 0x2CEAF},
                                              {0x2F800, 0x2FA1F}}};

// Rust's char::is_whitespace (the White_Space property).
constexpr std::array<Range, 10> kWhitespaceRanges = {{{0x09, 0x0D},
                                                      {0x20, 0x20},
                                                      {0x85, 0x85},
                                                      {0xA0, 0xA0},
                                                      {0x1680, 0x1680},
                                                      {0x2000, 0x200A},
                                                      {0x2028, 0x2029},
                                                      {0x202F, 0x202F},
                                                      {0x205F, 0x205F},
                                                      {0x3000, 0x3000}}};

bool is_ascii_punct(char32_t cp) {
  return (cp >= 33 && cp <= 47) || (cp >= 58 && cp <= 64) || (cp >= 91 && cp <= 96) || (cp >= 123 && cp <= 126);
}

bool is_whitespace(char32_t cp) {
  if (cp < 0x80) return cp == ' ' || (cp >= 0x09 && cp <= 0x0D);
  return in_ranges(cp, kWhitespaceRanges);
}

bool is_cjk(char32_t cp) { return cp >= 0x3400 && in_ranges(cp, kCjkRanges); }

utf8proc_category_t category(char32_t cp) { return utf8proc_category(static_cast<utf8proc_int32_t>(cp)); }

// clean_text drops NUL, U+FFFD and "other" characters (Cc, Cf, Co; unassigned ones stay) but
// keeps tab, newline and carriage return, which become spaces.
bool is_dropped(char32_t cp) {
  if (cp < 0x80) return cp < 0x20 ? !(cp == '\t' || cp == '\n' || cp == '\r') : cp == 0x7F;
  if (cp == 0xFFFD) return true;
  const utf8proc_category_t cat = category(cp);
  return cat == UTF8PROC_CATEGORY_CC || cat == UTF8PROC_CATEGORY_CF || cat == UTF8PROC_CATEGORY_CO;
}

bool is_punct(char32_t cp) {
  if (cp < 0x80) return is_ascii_punct(cp);
  const utf8proc_category_t cat = category(cp);
  return cat >= UTF8PROC_CATEGORY_PC && cat <= UTF8PROC_CATEGORY_PO;
}

bool is_nonspacing_mark(char32_t cp) { return cp >= 0x300 && category(cp) == UTF8PROC_CATEGORY_MN; }

void append_utf8(char32_t cp, std::string& out) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

// Decodes the code point at text[pos] of valid UTF-8 and advances pos past it.
char32_t next_code_point(std::string_view text, size_t& pos) {
  const auto byte = [&](size_t i) { return static_cast<unsigned char>(text[i]); };
  const unsigned char lead = byte(pos);
  if (lead < 0x80) {
    pos += 1;
    return lead;
  }
  if (lead < 0xE0) {
    const char32_t cp = (char32_t(lead & 0x1F) << 6) | (byte(pos + 1) & 0x3F);
    pos += 2;
    return cp;
  }
  if (lead < 0xF0) {
    const char32_t cp = (char32_t(lead & 0x0F) << 12) | (char32_t(byte(pos + 1) & 0x3F) << 6) | (byte(pos + 2) & 0x3F);
    pos += 3;
    return cp;
  }
  const char32_t cp = (char32_t(lead & 0x07) << 18) | (char32_t(byte(pos + 1) & 0x3F) << 12) |
                      (char32_t(byte(pos + 2) & 0x3F) << 6) | (byte(pos + 3) & 0x3F);
  pos += 4;
  return cp;
}

// Appends the lowercase of cp the way Rust's char::to_lowercase does (full mapping; only
// U+0130 expands to more than one code point).
void append_lowercase(char32_t cp, std::u32string& out) {
  if (cp < 0x80) {
    out += (cp >= 'A' && cp <= 'Z') ? cp + 32 : cp;
  } else if (cp == 0x130) {
    out += U'i';
    out += char32_t{0x307};
  } else {
    out += static_cast<char32_t>(utf8proc_tolower(static_cast<utf8proc_int32_t>(cp)));
  }
}

// strip_accents and lowercase of one run of characters, in the reference's order (strip
// first, then lowercase), as code points.
std::u32string normalize_run(std::string_view run, const BertNormalizerOptions& options) {
  std::u32string code_points;
  if (options.strip_accents) {
    std::vector<utf8proc_int32_t> decomposed(run.size() + 8);
    for (;;) {
      const utf8proc_ssize_t count =
          utf8proc_decompose(reinterpret_cast<const utf8proc_uint8_t*>(run.data()),
                             static_cast<utf8proc_ssize_t>(run.size()), decomposed.data(),
                             static_cast<utf8proc_ssize_t>(decomposed.size()), UTF8PROC_DECOMPOSE);
      if (count < 0) throw InputError(std::string("text cannot be normalized: ") + utf8proc_errmsg(count));
      if (static_cast<size_t>(count) <= decomposed.size()) {
        decomposed.resize(static_cast<size_t>(count));
        break;
      }
      decomposed.resize(static_cast<size_t>(count));
    }
    for (utf8proc_int32_t cp : decomposed) {
      if (!is_nonspacing_mark(static_cast<char32_t>(cp))) code_points += static_cast<char32_t>(cp);
    }
  } else {
    for (size_t pos = 0; pos < run.size();) code_points += next_code_point(run, pos);
  }
  if (!options.lowercase) return code_points;
  std::u32string lowered;
  lowered.reserve(code_points.size());
  for (char32_t cp : code_points) append_lowercase(cp, lowered);
  return lowered;
}

bool is_ascii_only(std::string_view text) {
  return std::all_of(text.begin(), text.end(), [](char c) { return static_cast<unsigned char>(c) < 0x80; });
}

// Splits one normalized word (no whitespace from the raw text) on whitespace and punctuation
// the way BertPreTokenizer does, calling on_word for each piece; false stops.
bool split_word(std::string_view raw_word, const BertNormalizerOptions& options,
                const std::function<bool(std::string_view)>& on_word) {
  if (is_ascii_only(raw_word)) {
    std::string word(raw_word);
    if (options.lowercase) {
      for (char& c : word) c = (c >= 'A' && c <= 'Z') ? static_cast<char>(c + 32) : c;
    }
    size_t start = 0;
    for (size_t i = 0; i < word.size(); ++i) {
      if (!is_ascii_punct(static_cast<unsigned char>(word[i]))) continue;
      if (i > start && !on_word(std::string_view(word).substr(start, i - start))) return false;
      if (!on_word(std::string_view(word).substr(i, 1))) return false;
      start = i + 1;
    }
    return start >= word.size() || on_word(std::string_view(word).substr(start));
  }
  const std::u32string code_points = normalize_run(raw_word, options);
  std::string piece;
  for (char32_t cp : code_points) {
    const bool space = is_whitespace(cp);
    if (space || is_punct(cp)) {
      if (!piece.empty() && !on_word(piece)) return false;
      piece.clear();
      if (space) continue;
      append_utf8(cp, piece);
      if (!on_word(piece)) return false;
      piece.clear();
    } else {
      append_utf8(cp, piece);
    }
  }
  return piece.empty() || on_word(piece);
}

}  // namespace

size_t find_invalid_utf8(std::string_view text) {
  const auto byte = [&](size_t i) { return static_cast<unsigned char>(text[i]); };
  const auto continuation = [&](size_t i) { return i < text.size() && (byte(i) & 0xC0) == 0x80; };
  size_t pos = 0;
  while (pos < text.size()) {
    const unsigned char lead = byte(pos);
    if (lead < 0x80) {
      ++pos;
      continue;
    }
    size_t length = 0;
    char32_t min_value = 0;
    if (lead >= 0xC2 && lead <= 0xDF) {
      length = 2;
      min_value = 0x80;
    } else if (lead >= 0xE0 && lead <= 0xEF) {
      length = 3;
      min_value = 0x800;
    } else if (lead >= 0xF0 && lead <= 0xF4) {
      length = 4;
      min_value = 0x10000;
    } else {
      return pos;
    }
    for (size_t i = 1; i < length; ++i) {
      if (!continuation(pos + i)) return pos;
    }
    size_t next = pos;
    const char32_t cp = next_code_point(text, next);
    // Overlong forms, UTF-16 surrogates and values past U+10FFFF are not scalar values.
    if (cp < min_value || (cp >= 0xD800 && cp <= 0xDFFF) || cp > 0x10FFFF) return pos;
    pos = next;
  }
  return std::string_view::npos;
}

std::string BertNormalizer::normalize(std::string_view text) const {
  if (const size_t bad = find_invalid_utf8(text); bad != std::string_view::npos) {
    throw InputError("invalid UTF-8 at byte " + std::to_string(bad));
  }
  std::string out;
  out.reserve(text.size());
  size_t run_start = 0;
  std::string run;
  const auto flush_run = [&] {
    if (run.empty()) return;
    if (!options_.strip_accents && !options_.lowercase) {
      out += run;
    } else {
      for (char32_t cp : normalize_run(run, options_)) append_utf8(cp, out);
    }
    run.clear();
  };
  for (size_t pos = 0; pos < text.size();) {
    run_start = pos;
    const char32_t cp = next_code_point(text, pos);
    const std::string_view raw = text.substr(run_start, pos - run_start);
    if (options_.clean_text && (cp == 0 || is_dropped(cp))) continue;
    if (options_.clean_text && is_whitespace(cp)) {
      flush_run();
      out += ' ';
    } else if (options_.handle_chinese_chars && is_cjk(cp)) {
      flush_run();
      out += ' ';
      run = raw;
      flush_run();
      out += ' ';
    } else {
      run += raw;
    }
  }
  flush_run();
  return out;
}

std::vector<std::string> BertNormalizer::pre_tokenize(std::string_view normalized) {
  std::vector<std::string> words;
  std::string piece;
  for (size_t pos = 0; pos < normalized.size();) {
    const size_t start = pos;
    const char32_t cp = next_code_point(normalized, pos);
    const bool space = is_whitespace(cp);
    if (space || is_punct(cp)) {
      if (!piece.empty()) words.push_back(std::move(piece));
      piece.clear();
      if (!space) words.emplace_back(normalized.substr(start, pos - start));
    } else {
      piece += normalized.substr(start, pos - start);
    }
  }
  if (!piece.empty()) words.push_back(std::move(piece));
  return words;
}

void BertNormalizer::for_each_word(std::string_view text,
                                   const std::function<bool(std::string_view)>& on_word) const {
  // Whitespace and CJK characters end words before any normalization: nothing that
  // strip_accents or lowercase does crosses them, so each raw word is normalized alone.
  std::string word;
  const auto flush = [&] {
    if (word.empty()) return true;
    const bool go_on = split_word(word, options_, on_word);
    word.clear();
    return go_on;
  };
  for (size_t pos = 0; pos < text.size();) {
    const size_t start = pos;
    const char32_t cp = next_code_point(text, pos);
    if (options_.clean_text && is_dropped(cp)) continue;
    if (is_whitespace(cp)) {
      if (!flush()) return;
    } else if (options_.handle_chinese_chars && is_cjk(cp)) {
      if (!flush()) return;
      word = text.substr(start, pos - start);
      if (!flush()) return;
    } else {
      word += text.substr(start, pos - start);
    }
  }
  flush();
}

}  // namespace latte
