// BertNormalizer + BertPreTokenizer of Hugging Face `tokenizers`, character for character.
// Character properties come from utf8proc (Unicode 15); where the Rust crates behind the
// reference use older Unicode data the difference is listed below, so results stay identical
// (tests/data/tokenizer/unicode_reference.txt records the reference for every code point).
#include <utf8proc.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstring>
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

// Where the reference's Unicode data differs from utf8proc's (Unicode 15.0). The reference takes
// punctuation and "other" (Cc/Cf/Co) from the unicode_categories crate (Unicode 8.0 era), the
// nonspacing marks and decompositions of strip_accents from unicode-normalization-alignments
// (also pre-9.0), and lowercase from Rust's std (Unicode 16.0). These lists are exactly the
// code points where the two disagree; BertTokenizerUnicode.EveryCodePointMatchesReference
// fails if an update of either side changes them.
constexpr std::array<Range, 32> kPunctNotInReference = {
    {{0x61D, 0x61D},     {0x9FD, 0x9FD},     {0xA76, 0xA76},     {0xC77, 0xC77},     {0xC84, 0xC84},
     {0x1B7D, 0x1B7E},   {0x2E43, 0x2E4F},   {0x2E52, 0x2E5D},   {0x10EAD, 0x10EAD}, {0x10F55, 0x10F59},
     {0x10F86, 0x10F89}, {0x1144B, 0x1144F}, {0x1145A, 0x1145B}, {0x1145D, 0x1145D}, {0x11660, 0x1166C},
     {0x116B9, 0x116B9}, {0x1183B, 0x1183B}, {0x11944, 0x11946}, {0x119E2, 0x119E2}, {0x11A3F, 0x11A46},
     {0x11A9A, 0x11A9C}, {0x11A9E, 0x11AA2}, {0x11B00, 0x11B09}, {0x11C41, 0x11C45}, {0x11C70, 0x11C71},
     {0x11EF7, 0x11EF8}, {0x11F43, 0x11F4F}, {0x11FFF, 0x11FFF}, {0x12FF1, 0x12FF2}, {0x16E97, 0x16E9A},
     {0x16FE2, 0x16FE2}, {0x1E95E, 0x1E95F}}};
constexpr std::array<Range, 2> kPunctOnlyInReference = {{{0x166D, 0x166D}, {0x111C9, 0x111C9}}};
constexpr std::array<Range, 4> kFormatNotInReference = {
    {{0x890, 0x891}, {0x8E2, 0x8E2}, {0x110CD, 0x110CD}, {0x13430, 0x1343F}}};
constexpr std::array<Range, 91> kMarkNotInReference = {
    {{0x7FD, 0x7FD},     {0x898, 0x89F},     {0x8CA, 0x8E1},     {0x9FE, 0x9FE},     {0xAFA, 0xAFF},
     {0xB55, 0xB55},     {0xC04, 0xC04},     {0xC3C, 0xC3C},     {0xD00, 0xD00},     {0xD3B, 0xD3C},
     {0xD81, 0xD81},     {0xEBA, 0xEBA},     {0xECE, 0xECE},     {0x180F, 0x180F},   {0x1885, 0x1886},
     {0x1ABF, 0x1ACE},   {0x1DF6, 0x1DFB},   {0xA82C, 0xA82C},   {0xA8C5, 0xA8C5},   {0xA8FF, 0xA8FF},
     {0xA9BD, 0xA9BD},   {0x10D24, 0x10D27}, {0x10EAB, 0x10EAC}, {0x10EFD, 0x10EFF}, {0x10F46, 0x10F50},
     {0x10F82, 0x10F85}, {0x11070, 0x11070}, {0x11073, 0x11074}, {0x110C2, 0x110C2}, {0x111C9, 0x111C9},
     {0x111CF, 0x111CF}, {0x1123E, 0x1123E}, {0x11241, 0x11241}, {0x1133B, 0x1133B}, {0x11438, 0x1143F},
     {0x11442, 0x11444}, {0x11446, 0x11446}, {0x1145E, 0x1145E}, {0x1182F, 0x11837}, {0x11839, 0x1183A},
     {0x1193B, 0x1193C}, {0x1193E, 0x1193E}, {0x11943, 0x11943}, {0x119D4, 0x119D7}, {0x119DA, 0x119DB},
     {0x119E0, 0x119E0}, {0x11A01, 0x11A0A}, {0x11A33, 0x11A38}, {0x11A3B, 0x11A3E}, {0x11A47, 0x11A47},
     {0x11A51, 0x11A56}, {0x11A59, 0x11A5B}, {0x11A8A, 0x11A96}, {0x11A98, 0x11A99}, {0x11C30, 0x11C36},
     {0x11C38, 0x11C3D}, {0x11C3F, 0x11C3F}, {0x11C92, 0x11CA7}, {0x11CAA, 0x11CB0}, {0x11CB2, 0x11CB3},
     {0x11CB5, 0x11CB6}, {0x11D31, 0x11D36}, {0x11D3A, 0x11D3A}, {0x11D3C, 0x11D3D}, {0x11D3F, 0x11D45},
     {0x11D47, 0x11D47}, {0x11D90, 0x11D91}, {0x11D95, 0x11D95}, {0x11D97, 0x11D97}, {0x11EF3, 0x11EF4},
     {0x11F00, 0x11F01}, {0x11F36, 0x11F3A}, {0x11F40, 0x11F40}, {0x11F42, 0x11F42}, {0x13440, 0x13440},
     {0x13447, 0x13455}, {0x16F4F, 0x16F4F}, {0x16FE4, 0x16FE4}, {0x1CF00, 0x1CF2D}, {0x1CF30, 0x1CF46},
     {0x1E000, 0x1E006}, {0x1E008, 0x1E018}, {0x1E01B, 0x1E021}, {0x1E023, 0x1E024}, {0x1E026, 0x1E02A},
     {0x1E08F, 0x1E08F}, {0x1E130, 0x1E136}, {0x1E2AE, 0x1E2AE}, {0x1E2EC, 0x1E2EF}, {0x1E4EC, 0x1E4EF},
     {0x1E944, 0x1E94A}}};
// U+1734 HANUNOO SIGN PAMUDPOD was Mn before Unicode 14.
constexpr std::array<Range, 1> kMarkOnlyInReference = {{{0x1734, 0x1734}}};
// U+11938 DIVES AKURU VOWEL SIGN O (Unicode 13) decomposes in utf8proc, not in the reference.
constexpr std::array<Range, 1> kNoDecompositionInReference = {{{0x11938, 0x11938}}};

// Lowercase mappings of Unicode 16.0 that utf8proc lacks: first..last map to lower_first..
struct CaseRange {
  char32_t first;
  char32_t last;
  char32_t lower_first;
};
constexpr std::array<CaseRange, 10> kLowercaseNotInUtf8proc = {{{0x1C89, 0x1C89, 0x1C8A},
                                                                {0xA7CB, 0xA7CB, 0x264},
                                                                {0xA7CC, 0xA7CC, 0xA7CD},
                                                                {0xA7CE, 0xA7CE, 0xA7CF},
                                                                {0xA7D2, 0xA7D2, 0xA7D3},
                                                                {0xA7D4, 0xA7D4, 0xA7D5},
                                                                {0xA7DA, 0xA7DA, 0xA7DB},
                                                                {0xA7DC, 0xA7DC, 0x19B},
                                                                {0x10D50, 0x10D65, 0x10D70},
                                                                {0x16EA0, 0x16EB8, 0x16EBB}}};

bool is_ascii_punct(char32_t cp) {
  return (cp >= 33 && cp <= 47) || (cp >= 58 && cp <= 64) || (cp >= 91 && cp <= 96) ||
         (cp >= 123 && cp <= 126);
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
  if (cat == UTF8PROC_CATEGORY_CF && in_ranges(cp, kFormatNotInReference)) return false;
  return cat == UTF8PROC_CATEGORY_CC || cat == UTF8PROC_CATEGORY_CF || cat == UTF8PROC_CATEGORY_CO;
}

bool is_punct(char32_t cp) {
  if (cp < 0x80) return is_ascii_punct(cp);
  const utf8proc_category_t cat = category(cp);
  if (cat >= UTF8PROC_CATEGORY_PC && cat <= UTF8PROC_CATEGORY_PO) return !in_ranges(cp, kPunctNotInReference);
  return in_ranges(cp, kPunctOnlyInReference);
}

bool is_nonspacing_mark(char32_t cp) {
  if (cp < 0x300) return false;
  if (category(cp) == UTF8PROC_CATEGORY_MN) return !in_ranges(cp, kMarkNotInReference);
  return in_ranges(cp, kMarkOnlyInReference);
}

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
    const char32_t cp =
        (char32_t(lead & 0x0F) << 12) | (char32_t(byte(pos + 1) & 0x3F) << 6) | (byte(pos + 2) & 0x3F);
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
    char32_t lower = static_cast<char32_t>(utf8proc_tolower(static_cast<utf8proc_int32_t>(cp)));
    for (const CaseRange& range : kLowercaseNotInUtf8proc) {
      if (cp >= range.first && cp <= range.last) lower = range.lower_first + (cp - range.first);
    }
    out += lower;
  }
}

// Appends the canonical decomposition (NFD) of valid UTF-8 text to out.
void append_nfd(std::string_view text, std::vector<utf8proc_int32_t>& out) {
  if (text.empty()) return;
  const size_t offset = out.size();
  out.resize(offset + text.size() + 8);
  for (;;) {
    const size_t capacity = out.size() - offset;
    const utf8proc_ssize_t count = utf8proc_decompose(
        reinterpret_cast<const utf8proc_uint8_t*>(text.data()), static_cast<utf8proc_ssize_t>(text.size()),
        out.data() + offset, static_cast<utf8proc_ssize_t>(capacity), UTF8PROC_DECOMPOSE);
    if (count < 0) throw InputError(std::string("text cannot be normalized: ") + utf8proc_errmsg(count));
    out.resize(offset + static_cast<size_t>(count));
    if (static_cast<size_t>(count) <= capacity) return;
  }
}

// strip_accents and lowercase of one run of characters, in the reference's order (strip
// first, then lowercase), as code points.
std::u32string normalize_run(std::string_view run, const BertNormalizerOptions& options) {
  std::u32string code_points;
  if (options.strip_accents) {
    std::vector<utf8proc_int32_t> decomposed;
    // Characters the reference does not decompose are starters (combining class 0), so the
    // text on either side of one can be decomposed on its own.
    size_t segment_start = 0;
    for (size_t pos = 0; pos < run.size();) {
      const size_t start = pos;
      const char32_t cp = next_code_point(run, pos);
      if (!in_ranges(cp, kNoDecompositionInReference)) continue;
      append_nfd(run.substr(segment_start, start - segment_start), decomposed);
      decomposed.push_back(static_cast<utf8proc_int32_t>(cp));
      segment_start = pos;
    }
    append_nfd(run.substr(segment_start), decomposed);
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

// Normalizes one raw word (no whitespace or CJK in it) and splits the result on whitespace and
// punctuation the way BertPreTokenizer does, calling on_word for each piece; false stops.
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
    // Mostly-ASCII text is checked eight bytes at a time.
    if (uint64_t chunk = 0; pos + sizeof(chunk) <= text.size()) {
      std::memcpy(&chunk, text.data() + pos, sizeof(chunk));
      if ((chunk & 0x8080808080808080ull) == 0) {
        pos += sizeof(chunk);
        continue;
      }
    }
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

namespace {

void check_utf8(std::string_view text) {
  if (const size_t bad = find_invalid_utf8(text); bad != std::string_view::npos) {
    throw InputError("invalid UTF-8 at byte " + std::to_string(bad));
  }
}

}  // namespace

std::string BertNormalizer::normalize(std::string_view text) const {
  check_utf8(text);
  std::string out;
  out.reserve(text.size());
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
    const size_t start = pos;
    const char32_t cp = next_code_point(text, pos);
    const std::string_view raw = text.substr(start, pos - start);
    if (options_.clean_text && is_dropped(cp)) continue;
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
  check_utf8(normalized);
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
  check_utf8(text);
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
