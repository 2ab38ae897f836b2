#include "latte/data/email.h"

#include <iconv.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdint>
#include <map>
#include <vector>

namespace latte::data {

namespace {

constexpr int kMaxMimeDepth = 8;  // nested multiparts / attached messages followed
constexpr char32_t kReplacement = 0xFFFD;

char lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

std::string to_lower(std::string_view text) {
  std::string result(text);
  for (char& c : result) c = lower(c);
  return result;
}

std::string_view trim(std::string_view text) {
  const size_t first = text.find_first_not_of(" \t\r\n");
  if (first == std::string_view::npos) return {};
  const size_t last = text.find_last_not_of(" \t\r\n");
  return text.substr(first, last - first + 1);
}

bool starts_with_ci(std::string_view text, size_t at, std::string_view prefix) {
  if (text.size() - std::min(at, text.size()) < prefix.size()) return false;
  for (size_t i = 0; i < prefix.size(); ++i) {
    if (lower(text[at + i]) != prefix[i]) return false;
  }
  return true;
}

size_t find_ci(std::string_view text, std::string_view needle, size_t from = 0) {
  for (size_t at = from; at + needle.size() <= text.size(); ++at) {
    if (starts_with_ci(text, at, needle)) return at;
  }
  return std::string_view::npos;
}

void append_utf8(std::string& out, char32_t code_point) {
  if (code_point > 0x10FFFF || (code_point >= 0xD800 && code_point <= 0xDFFF)) code_point = kReplacement;
  if (code_point < 0x80) {
    out += static_cast<char>(code_point);
  } else if (code_point < 0x800) {
    out += static_cast<char>(0xC0 | (code_point >> 6));
    out += static_cast<char>(0x80 | (code_point & 0x3F));
  } else if (code_point < 0x10000) {
    out += static_cast<char>(0xE0 | (code_point >> 12));
    out += static_cast<char>(0x80 | ((code_point >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (code_point & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (code_point >> 18));
    out += static_cast<char>(0x80 | ((code_point >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((code_point >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (code_point & 0x3F));
  }
}

// Length of the valid UTF-8 sequence at text[at] (its code point in *code_point), or 0.
size_t decode_utf8(std::string_view text, size_t at, char32_t* code_point) {
  const auto byte = [&](size_t i) { return static_cast<unsigned char>(text[at + i]); };
  const unsigned char lead = byte(0);
  size_t length = 0;
  char32_t value = 0, minimum = 0;
  if (lead < 0x80) {
    *code_point = lead;
    return 1;
  } else if ((lead & 0xE0) == 0xC0) {
    length = 2, value = lead & 0x1F, minimum = 0x80;
  } else if ((lead & 0xF0) == 0xE0) {
    length = 3, value = lead & 0x0F, minimum = 0x800;
  } else if ((lead & 0xF8) == 0xF0) {
    length = 4, value = lead & 0x07, minimum = 0x10000;
  } else {
    return 0;
  }
  if (at + length > text.size()) return 0;
  for (size_t i = 1; i < length; ++i) {
    if ((byte(i) & 0xC0) != 0x80) return 0;
    value = (value << 6) | (byte(i) & 0x3F);
  }
  if (value < minimum || value > 0x10FFFF || (value >= 0xD800 && value <= 0xDFFF)) return 0;
  *code_point = value;
  return length;
}

bool is_valid_utf8(std::string_view text) {
  char32_t code_point = 0;
  for (size_t at = 0; at < text.size();) {
    const size_t length = decode_utf8(text, at, &code_point);
    if (length == 0) return false;
    at += length;
  }
  return true;
}

// windows-1252 bytes 0x80..0x9F; the five unassigned ones map to the C1 control, as in HTML5.
constexpr std::array<char32_t, 32> kWindows1252High = {
    0x20AC, 0x0081, 0x201A, 0x0192, 0x201E, 0x2026, 0x2020, 0x2021, 0x02C6, 0x2030, 0x0160,
    0x2039, 0x0152, 0x008D, 0x017D, 0x008F, 0x0090, 0x2018, 0x2019, 0x201C, 0x201D, 0x2022,
    0x2013, 0x2014, 0x02DC, 0x2122, 0x0161, 0x203A, 0x0153, 0x009D, 0x017E, 0x0178};

std::string windows1252_to_utf8(std::string_view bytes) {
  std::string out;
  out.reserve(bytes.size());
  for (const char c : bytes) {
    const auto byte = static_cast<unsigned char>(c);
    append_utf8(out, byte >= 0x80 && byte < 0xA0 ? kWindows1252High[byte - 0x80] : char32_t{byte});
  }
  return out;
}

std::string iconv_to_utf8(std::string_view bytes, const std::string& charset, bool* supported) {
  iconv_t converter = iconv_open("UTF-8", charset.c_str());
  *supported = converter != reinterpret_cast<iconv_t>(-1);
  if (!*supported) return {};
  std::string out;
  std::vector<char> input(bytes.begin(), bytes.end());
  char* in = input.data();
  size_t in_left = input.size();
  std::array<char, 4096> buffer;
  while (in_left > 0) {
    char* out_pointer = buffer.data();
    size_t out_left = buffer.size();
    const size_t result = iconv(converter, &in, &in_left, &out_pointer, &out_left);
    out.append(buffer.data(), static_cast<size_t>(out_pointer - buffer.data()));
    if (result == static_cast<size_t>(-1) && errno != E2BIG) {
      // EILSEQ / EINVAL: an invalid or truncated sequence; skip one byte and go on.
      append_utf8(out, kReplacement);
      ++in;
      --in_left;
      iconv(converter, nullptr, nullptr, nullptr, nullptr);
    }
  }
  iconv_close(converter);
  return repair_utf8(out);
}

// --- MIME ---

struct Entity {
  std::string type = "text/plain";            // lower-case media type
  std::map<std::string, std::string> params;  // lower-case names; values as written
  std::string encoding;                       // lower-case Content-Transfer-Encoding
  bool declared_type = false;                 // a Content-Type header was present
  std::string_view body;
};

bool is_header_name(std::string_view line, size_t colon) {
  if (colon == 0 || colon == std::string_view::npos) return false;
  for (size_t i = 0; i < colon; ++i) {
    const auto c = static_cast<unsigned char>(line[i]);
    if (c <= 32 || c >= 127) return false;
  }
  return true;
}

// "text/plain; charset="x"; format=flowed" -> type and parameters.
void parse_content_type(std::string_view value, Entity& entity) {
  const size_t semicolon = value.find(';');
  const std::string type = to_lower(trim(value.substr(0, semicolon)));
  if (type.find('/') != std::string::npos) entity.type = type;
  size_t at = semicolon;
  while (at != std::string_view::npos && at < value.size()) {
    ++at;  // past ';'
    const size_t equals = value.find('=', at);
    if (equals == std::string_view::npos) break;
    const std::string name = to_lower(trim(value.substr(at, equals - at)));
    size_t end = equals + 1;
    while (end < value.size() && (value[end] == ' ' || value[end] == '\t')) ++end;
    std::string parameter;
    if (end < value.size() && value[end] == '"') {
      const size_t close = value.find('"', end + 1);
      parameter =
          std::string(value.substr(end + 1, close == std::string_view::npos ? close : close - end - 1));
      at = close == std::string_view::npos ? close : value.find(';', close);
    } else {
      const size_t next = value.find(';', end);
      parameter = std::string(trim(value.substr(end, next == std::string_view::npos ? next : next - end)));
      at = next;
    }
    if (!name.empty()) entity.params[name] = parameter;
  }
}

// Headers up to the first blank line (or the first line that is no header), then the body.
Entity parse_entity(std::string_view raw, bool top_level) {
  Entity entity;
  std::vector<std::pair<std::string, std::string>> headers;
  size_t at = 0;
  bool first = true;
  size_t body_start = raw.size();
  while (at < raw.size()) {
    const size_t newline = raw.find('\n', at);
    const size_t end = newline == std::string_view::npos ? raw.size() : newline;
    std::string_view line = raw.substr(at, end - at);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    const size_t next = newline == std::string_view::npos ? raw.size() : newline + 1;
    if (line.empty()) {
      body_start = next;
      break;
    }
    if (top_level && first && line.starts_with("From ")) {
      // mbox separator line
    } else if ((line[0] == ' ' || line[0] == '\t') && !headers.empty()) {
      headers.back().second += ' ';
      headers.back().second += trim(line);
    } else if (const size_t colon = line.find(':'); is_header_name(line, colon)) {
      headers.emplace_back(to_lower(line.substr(0, colon)), std::string(trim(line.substr(colon + 1))));
    } else {
      body_start = at;  // malformed header block: the body starts here
      break;
    }
    first = false;
    at = next;
  }
  entity.body = raw.substr(std::min(body_start, raw.size()));
  for (const auto& [name, value] : headers) {
    if (name == "content-type") {
      parse_content_type(value, entity);
      entity.declared_type = true;
    }
    if (name == "content-transfer-encoding") entity.encoding = to_lower(trim(value));
  }
  return entity;
}

// The parts of a multipart body between "--boundary" lines; empty when there is none.
std::vector<std::string_view> split_multipart(std::string_view body, const std::string& boundary) {
  std::vector<std::string_view> parts;
  const std::string delimiter = "--" + boundary;
  size_t part_start = std::string_view::npos;
  size_t at = 0;
  while (at < body.size()) {
    const size_t newline = body.find('\n', at);
    const size_t next = newline == std::string_view::npos ? body.size() : newline + 1;
    const std::string_view line = body.substr(at, next - at);
    if (line.starts_with(delimiter)) {
      if (part_start != std::string_view::npos) parts.push_back(body.substr(part_start, at - part_start));
      if (line.substr(delimiter.size()).starts_with("--")) return parts;
      part_start = next;
    }
    at = next;
  }
  if (part_start != std::string_view::npos) parts.push_back(body.substr(part_start));
  return parts;
}

// A message without Content-Type whose body still holds "--X" followed by a
// "Content-Type:" line is multipart with boundary X (seen in spam from broken mailers).
std::string guess_boundary(std::string_view body) {
  size_t at = 0;
  while (at < body.size()) {
    const size_t newline = body.find('\n', at);
    if (newline == std::string_view::npos) break;
    const std::string_view line = trim(body.substr(at, newline - at));
    if (line.starts_with("--") && line.size() > 2 && starts_with_ci(body, newline + 1, "content-type:")) {
      return std::string(line.substr(2));
    }
    at = newline + 1;
  }
  return {};
}

std::string decode_transfer(const Entity& entity) {
  if (entity.encoding == "quoted-printable") return decode_quoted_printable(entity.body);
  if (entity.encoding == "base64") return decode_base64(entity.body);
  return std::string(entity.body);
}

// Markup in a part that calls itself plain text.
bool looks_like_html(std::string_view text) {
  for (const std::string_view marker : {"<html", "<body", "</a>", "<br>", "<br/>", "<br />", "</p>",
                                        "</font>", "</div>", "</td>", "</table>"}) {
    if (find_ci(text, marker) != std::string_view::npos) return true;
  }
  return false;
}

bool is_blank(std::string_view text) { return text.find_first_not_of(" \t\r\n") == std::string_view::npos; }

std::string entity_text(const Entity& entity, int depth) {
  if (depth > kMaxMimeDepth) return {};
  if (!entity.declared_type) {
    if (std::string boundary = guess_boundary(entity.body); !boundary.empty()) {
      Entity multipart = entity;
      multipart.type = "multipart/mixed";
      multipart.declared_type = true;
      multipart.params["boundary"] = std::move(boundary);
      return entity_text(multipart, depth + 1);
    }
  }
  const std::string& type = entity.type;
  if (type.starts_with("multipart/")) {
    const auto boundary = entity.params.find("boundary");
    const std::vector<std::string_view> parts = boundary == entity.params.end() || boundary->second.empty()
                                                    ? std::vector<std::string_view>{}
                                                    : split_multipart(entity.body, boundary->second);
    if (parts.empty()) {  // broken multipart: read the body as plain text
      Entity plain = entity;
      plain.type = "text/plain";
      return entity_text(plain, depth + 1);
    }
    std::vector<std::pair<std::string, std::string>> texts;  // (type, text)
    for (const std::string_view part : parts) {
      const Entity child = parse_entity(part, false);
      std::string text = entity_text(child, depth + 1);
      if (!is_blank(text)) texts.emplace_back(child.type, std::move(text));
    }
    if (texts.empty()) return {};
    if (type == "multipart/alternative") {
      for (const auto& [child_type, text] : texts) {
        if (child_type == "text/plain") return text;
      }
      return texts.front().second;
    }
    std::string joined;
    for (const auto& [child_type, text] : texts) joined += text + "\n";
    return joined;
  }
  if (type == "message/rfc822") return entity_text(parse_entity(entity.body, true), depth + 1);
  if (!type.starts_with("text/")) return {};
  const auto charset = entity.params.find("charset");
  const std::string text =
      to_utf8(decode_transfer(entity), charset == entity.params.end() ? "" : charset->second);
  if (type == "text/html" || looks_like_html(text)) return html_to_text(text);
  return text;
}

// --- HTML ---

// Names of U+00A0..U+00FF, in order.
constexpr std::array<std::string_view, 96> kLatin1EntityNames = {
    "nbsp",   "iexcl",  "cent",   "pound",  "curren", "yen",    "brvbar", "sect",   "uml",    "copy",
    "ordf",   "laquo",  "not",    "shy",    "reg",    "macr",   "deg",    "plusmn", "sup2",   "sup3",
    "acute",  "micro",  "para",   "middot", "cedil",  "sup1",   "ordm",   "raquo",  "frac14", "frac12",
    "frac34", "iquest", "Agrave", "Aacute", "Acirc",  "Atilde", "Auml",   "Aring",  "AElig",  "Ccedil",
    "Egrave", "Eacute", "Ecirc",  "Euml",   "Igrave", "Iacute", "Icirc",  "Iuml",   "ETH",    "Ntilde",
    "Ograve", "Oacute", "Ocirc",  "Otilde", "Ouml",   "times",  "Oslash", "Ugrave", "Uacute", "Ucirc",
    "Uuml",   "Yacute", "THORN",  "szlig",  "agrave", "aacute", "acirc",  "atilde", "auml",   "aring",
    "aelig",  "ccedil", "egrave", "eacute", "ecirc",  "euml",   "igrave", "iacute", "icirc",  "iuml",
    "eth",    "ntilde", "ograve", "oacute", "ocirc",  "otilde", "ouml",   "divide", "oslash", "ugrave",
    "uacute", "ucirc",  "uuml",   "yacute", "thorn",  "yuml"};

struct NamedEntity {
  std::string_view name;
  char32_t code_point;
};
constexpr NamedEntity kOtherEntities[] = {
    {"amp", '&'},       {"lt", '<'},        {"gt", '>'},        {"quot", '"'},      {"apos", '\''},
    {"euro", 0x20AC},   {"trade", 0x2122},  {"hellip", 0x2026}, {"mdash", 0x2014},  {"ndash", 0x2013},
    {"lsquo", 0x2018},  {"rsquo", 0x2019},  {"ldquo", 0x201C},  {"rdquo", 0x201D},  {"sbquo", 0x201A},
    {"bdquo", 0x201E},  {"bull", 0x2022},   {"dagger", 0x2020}, {"Dagger", 0x2021}, {"permil", 0x2030},
    {"lsaquo", 0x2039}, {"rsaquo", 0x203A}, {"OElig", 0x0152},  {"oelig", 0x0153},  {"Scaron", 0x0160},
    {"scaron", 0x0161}, {"Yuml", 0x0178},   {"fnof", 0x0192},   {"circ", 0x02C6},   {"tilde", 0x02DC},
    {"ensp", 0x2002},   {"emsp", 0x2003},   {"thinsp", 0x2009}, {"zwnj", 0x200C},   {"zwj", 0x200D},
    {"hearts", 0x2665}, {"larr", 0x2190},   {"rarr", 0x2192},   {"uarr", 0x2191},   {"darr", 0x2193}};

// Decodes the character reference at html[at] == '&' into out; returns its length, or 0.
size_t decode_reference(std::string_view html, size_t at, std::string& out) {
  const size_t semicolon = html.find(';', at + 1);
  if (semicolon == std::string_view::npos || semicolon - at > 12) return 0;
  const std::string_view name = html.substr(at + 1, semicolon - at - 1);
  if (name.empty()) return 0;
  if (name[0] == '#') {
    const bool hex = name.size() > 1 && (name[1] == 'x' || name[1] == 'X');
    const std::string_view digits = name.substr(hex ? 2 : 1);
    if (digits.empty()) return 0;
    uint32_t value = 0;
    for (const char c : digits) {
      int digit = -1;
      if (c >= '0' && c <= '9') digit = c - '0';
      if (hex && c >= 'a' && c <= 'f') digit = c - 'a' + 10;
      if (hex && c >= 'A' && c <= 'F') digit = c - 'A' + 10;
      if (digit < 0) return 0;
      value = std::min<uint32_t>(value * (hex ? 16 : 10) + static_cast<uint32_t>(digit), 0x110000);
    }
    if (value >= 0x80 && value < 0xA0) value = kWindows1252High[value - 0x80];
    append_utf8(out, value == 0 ? kReplacement : value);
    return semicolon - at + 1;
  }
  for (size_t i = 0; i < kLatin1EntityNames.size(); ++i) {
    if (kLatin1EntityNames[i] == name) {
      append_utf8(out, static_cast<char32_t>(0xA0 + i));
      return semicolon - at + 1;
    }
  }
  for (const NamedEntity& entity : kOtherEntities) {
    if (entity.name == name) {
      append_utf8(out, entity.code_point);
      return semicolon - at + 1;
    }
  }
  return 0;
}

bool is_block_tag(std::string_view name) {
  static constexpr std::string_view kBlockTags[] = {
      "address", "blockquote", "br",    "center", "dd", "div",  "dl",   "dt",     "form", "h1",    "h2",
      "h3",      "h4",         "h5",    "h6",     "hr", "li",   "ol",   "p",      "pre",  "table", "tbody",
      "td",      "th",         "title", "tr",     "ul", "body", "html", "option", "img"};
  return std::find(std::begin(kBlockTags), std::end(kBlockTags), name) != std::end(kBlockTags);
}

bool is_ascii_alpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }

}  // namespace

std::string decode_quoted_printable(std::string_view encoded) {
  const auto hex_value = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
  };
  std::string out;
  out.reserve(encoded.size());
  for (size_t i = 0; i < encoded.size(); ++i) {
    const char c = encoded[i];
    if (c != '=') {
      out += c;
      continue;
    }
    // Soft line break: '=' then optional trailing blanks, then the end of the line.
    size_t j = i + 1;
    while (j < encoded.size() && (encoded[j] == ' ' || encoded[j] == '\t')) ++j;
    if (j == encoded.size()) break;
    if (encoded[j] == '\n' || (encoded[j] == '\r' && j + 1 < encoded.size() && encoded[j + 1] == '\n')) {
      i = encoded[j] == '\r' ? j + 1 : j;
      continue;
    }
    if (i + 2 < encoded.size() && hex_value(encoded[i + 1]) >= 0 && hex_value(encoded[i + 2]) >= 0) {
      out += static_cast<char>(hex_value(encoded[i + 1]) * 16 + hex_value(encoded[i + 2]));
      i += 2;
      continue;
    }
    out += '=';
  }
  return out;
}

std::string decode_base64(std::string_view encoded) {
  std::string out;
  out.reserve(encoded.size() * 3 / 4);
  uint32_t bits = 0;
  int bit_count = 0;
  for (const char c : encoded) {
    int value = -1;
    if (c >= 'A' && c <= 'Z') value = c - 'A';
    if (c >= 'a' && c <= 'z') value = c - 'a' + 26;
    if (c >= '0' && c <= '9') value = c - '0' + 52;
    if (c == '+') value = 62;
    if (c == '/') value = 63;
    if (c == '=') break;
    if (value < 0) continue;
    bits = (bits << 6) | static_cast<uint32_t>(value);
    bit_count += 6;
    if (bit_count >= 8) {
      bit_count -= 8;
      out += static_cast<char>((bits >> bit_count) & 0xFF);
    }
  }
  return out;
}

std::string html_to_text(std::string_view html) {
  std::string out;
  out.reserve(html.size());
  size_t at = 0;
  while (at < html.size()) {
    const char c = html[at];
    if (c == '<' && html.substr(at).starts_with("<!--")) {
      const size_t close = html.find("-->", at + 4);
      at = close == std::string_view::npos ? html.size() : close + 3;
      continue;
    }
    if (c == '<' && at + 1 < html.size() &&
        (is_ascii_alpha(html[at + 1]) || html[at + 1] == '/' || html[at + 1] == '!' || html[at + 1] == '?')) {
      const size_t close = html.find('>', at + 1);
      if (close == std::string_view::npos) break;  // an unterminated tag ends the text
      size_t name_start = at + 1;
      if (html[name_start] == '/') ++name_start;
      size_t name_end = name_start;
      while (name_end < close &&
             (is_ascii_alpha(html[name_end]) || (html[name_end] >= '0' && html[name_end] <= '9'))) {
        ++name_end;
      }
      const std::string name = to_lower(html.substr(name_start, name_end - name_start));
      at = close + 1;
      if ((name == "script" || name == "style") && html[at - 2] != '/' && html[name_start - 1] != '/') {
        const size_t end_tag = find_ci(html, "</" + name, at);
        const size_t end_close = end_tag == std::string_view::npos ? end_tag : html.find('>', end_tag);
        at = end_close == std::string_view::npos ? html.size() : end_close + 1;
        continue;
      }
      if (is_block_tag(name)) out += ' ';
      continue;
    }
    if (c == '&') {
      const size_t length = decode_reference(html, at, out);
      if (length > 0) {
        at += length;
        continue;
      }
    }
    out += c;
    ++at;
  }
  return out;
}

std::string repair_utf8(std::string_view bytes) {
  std::string out;
  out.reserve(bytes.size());
  char32_t code_point = 0;
  for (size_t at = 0; at < bytes.size();) {
    const size_t length = decode_utf8(bytes, at, &code_point);
    if (length == 0) {
      append_utf8(out, kReplacement);
      ++at;
    } else {
      out.append(bytes.substr(at, length));
      at += length;
    }
  }
  return out;
}

std::string to_utf8(std::string_view bytes, std::string_view charset) {
  std::string name = to_lower(trim(charset));
  while (!name.empty() && (name.front() == '"' || name.front() == '\'')) name.erase(name.begin());
  while (!name.empty() && (name.back() == '"' || name.back() == '\'')) name.pop_back();
  if (name == "utf-8" || name == "utf8") return repair_utf8(bytes);
  static constexpr std::string_view kWestern[] = {
      "",           "us-ascii",  "ascii",        "iso-8859-1", "iso8859-1",
      "iso_8859-1", "latin1",    "latin-1",      "default",    "default_charset",
      "unknown",    "x-unknown", "windows-1252", "cp1252",     "x-user-defined"};
  const bool western = std::find(std::begin(kWestern), std::end(kWestern), name) != std::end(kWestern);
  // Supersets that mailers actually meant (as browsers read them).
  static const std::map<std::string, std::string> kSupersets = {
      {"gb2312", "GB18030"},         {"gbk", "GB18030"},     {"x-gbk", "GB18030"},
      {"euc-cn", "GB18030"},         {"big5", "BIG5-HKSCS"}, {"ks_c_5601-1987", "CP949"},
      {"euc-kr", "CP949"},           {"shift_jis", "CP932"}, {"x-sjis", "CP932"},
      {"iso-8859-9", "WINDOWS-1254"}};
  if (const auto superset = kSupersets.find(name); superset != kSupersets.end()) name = superset->second;
  if (!western) {
    bool supported = false;
    std::string converted = iconv_to_utf8(bytes, name, &supported);
    if (supported) return converted;
  }
  // Undeclared, Western or unknown to iconv: text that is valid UTF-8 is taken as such.
  if (is_valid_utf8(bytes)) return std::string(bytes);
  return windows1252_to_utf8(bytes);
}

std::string collapse_whitespace(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  bool pending_space = false;
  bool last_was_replacement = false;
  char32_t code_point = 0;
  for (size_t at = 0; at < text.size();) {
    size_t length = decode_utf8(text, at, &code_point);
    const bool invalid = length == 0;  // not expected for valid input: read the byte as U+FFFD
    if (invalid) {
      code_point = kReplacement;
      length = 1;
    }
    const size_t start = at;
    at += length;
    const bool space =
        code_point <= 0x20 || code_point == 0x7F || (code_point >= 0x80 && code_point <= 0xA0) ||
        code_point == 0x1680 || (code_point >= 0x2000 && code_point <= 0x200A) || code_point == 0x2028 ||
        code_point == 0x2029 || code_point == 0x202F || code_point == 0x205F || code_point == 0x3000;
    if (space) {
      pending_space = !out.empty();
      continue;
    }
    const bool invisible = code_point == 0x200B || code_point == 0x200C || code_point == 0x200D ||
                           code_point == 0x2060 || code_point == 0xFEFF || code_point == 0xAD;
    if (invisible) continue;
    if (code_point == kReplacement && last_was_replacement && !pending_space) continue;
    if (pending_space) out += ' ';
    pending_space = false;
    last_was_replacement = code_point == kReplacement;
    if (invalid) {
      append_utf8(out, kReplacement);
    } else {
      out.append(text.substr(start, length));
    }
  }
  return out;
}

std::string truncate_utf8(std::string_view text, size_t max_chars) {
  size_t chars = 0;
  for (size_t at = 0; at < text.size(); ++at) {
    if ((static_cast<unsigned char>(text[at]) & 0xC0) != 0x80) {
      if (chars == max_chars) return std::string(text.substr(0, at));
      ++chars;
    }
  }
  return std::string(text);
}

std::string parse_email_body(std::string_view raw_message, const EmailBodyOptions& options) {
  const Entity message = parse_entity(raw_message, true);
  return truncate_utf8(collapse_whitespace(repair_utf8(entity_text(message, 0))), options.max_chars);
}

}  // namespace latte::data
