#include "metaspace_pipeline.h"

#include <utf8proc.h>

#include <nlohmann/json.hpp>

#include "latte/core/error.h"
#include "latte/tokenizers/bert_tokenizer.h"

namespace latte {
namespace {

using nlohmann::json;

// The code point at text[pos] (valid UTF-8) and its length in bytes.
std::pair<char32_t, size_t> code_point_at(std::string_view text, size_t pos) {
  utf8proc_int32_t code = 0;
  const auto length = utf8proc_iterate(reinterpret_cast<const utf8proc_uint8_t*>(text.data() + pos),
                                       static_cast<utf8proc_ssize_t>(text.size() - pos), &code);
  if (length <= 0) return {0xFFFD, 1};  // not reached: the text is checked to be UTF-8
  return {static_cast<char32_t>(code), static_cast<size_t>(length)};
}

// Rust's char::is_whitespace (Unicode White_Space), which Strip and WhitespaceSplit use.
bool is_white_space(char32_t c) {
  return (c >= 0x09 && c <= 0x0D) || c == 0x20 || c == 0x85 || c == 0xA0 || c == 0x1680 ||
         (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F || c == 0x205F ||
         c == 0x3000;
}

// Hugging Face's Precompiled normaliser: per extended grapheme cluster (unicode-segmentation; here
// utf8proc's rules), a cluster under 6 bytes that some rule starts is replaced whole by the
// shortest such rule's text; otherwise each character by its own rule, if it has one.
std::string apply_precompiled(const PrecompiledCharsmap& charsmap, std::string_view text) {
  std::string out;
  out.reserve(text.size());
  const auto each_char = [&](std::string_view cluster) {
    for (size_t pos = 0; pos < cluster.size();) {
      const size_t length = code_point_at(cluster, pos).second;
      const std::string_view character = cluster.substr(pos, length);
      const auto replacement = charsmap.shortest_match(character);
      out += replacement ? *replacement : character;
      pos += length;
    }
  };
  utf8proc_int32_t state = 0;
  size_t cluster_start = 0;
  char32_t previous = 0;
  for (size_t pos = 0; pos <= text.size();) {
    const bool end = pos == text.size();
    const auto [code, length] = end ? std::pair<char32_t, size_t>{0, 0} : code_point_at(text, pos);
    const bool breaks =
        end || (pos > 0 && utf8proc_grapheme_break_stateful(static_cast<utf8proc_int32_t>(previous),
                                                            static_cast<utf8proc_int32_t>(code), &state));
    if (breaks && pos > cluster_start) {
      const std::string_view cluster = text.substr(cluster_start, pos - cluster_start);
      const auto whole = cluster.size() < 6 ? charsmap.shortest_match(cluster) : std::nullopt;
      if (whole) {
        out += *whole;
      } else {
        each_char(cluster);
      }
      cluster_start = pos;
    }
    if (end) break;
    previous = code;
    pos += length;
  }
  return out;
}

std::string strip(std::string_view text, bool left, bool right) {
  size_t begin = 0, end = text.size();
  while (left && begin < end) {
    const auto [code, length] = code_point_at(text, begin);
    if (!is_white_space(code)) break;
    begin += length;
  }
  while (right && end > begin) {
    size_t start = end - 1;
    while (start > begin && (static_cast<unsigned char>(text[start]) & 0xC0) == 0x80) --start;
    if (!is_white_space(code_point_at(text, start).first)) break;
    end = start;
  }
  return std::string(text.substr(begin, end - begin));
}

std::string replace_all(std::string_view text, std::string_view pattern, std::string_view content) {
  std::string out;
  for (size_t pos = 0;;) {
    const size_t found = text.find(pattern, pos);
    if (found == std::string_view::npos) {
      out += text.substr(pos);
      return out;
    }
    out += text.substr(pos, found - pos);
    out += content;
    pos = found + pattern.size();
  }
}

// The Regex " {2,}" of SpmConverter: every run of two or more spaces.
std::string replace_space_runs(std::string_view text, std::string_view content) {
  std::string out;
  for (size_t pos = 0; pos < text.size();) {
    size_t run = 0;
    while (pos + run < text.size() && text[pos + run] == ' ') ++run;
    if (run >= 2) {
      out += content;
      pos += run;
    } else if (run == 1) {
      out += ' ';
      ++pos;
    } else {
      out += text[pos++];
    }
  }
  return out;
}

std::string type_of(const json& node) {
  return node.is_object() && node.contains("type") && node["type"].is_string()
             ? node["type"].get<std::string>()
             : "";
}

bool bool_field(const json& node, const char* key, bool fallback, const std::string& where,
                const std::string& source) {
  if (!node.contains(key) || node[key].is_null()) return fallback;
  if (!node[key].is_boolean()) {
    throw FormatError(source + ": field '" + where + "." + key + "' must be true or false");
  }
  return node[key].get<bool>();
}

std::string string_field(const json& node, const char* key, const std::string& where,
                         const std::string& source) {
  if (!node.contains(key) || !node[key].is_string()) {
    throw FormatError(source + ": field '" + where + "." + key + "' must be a string");
  }
  return node[key].get<std::string>();
}

// Strict standard base64 (serde's BASE64_STANDARD); nullopt for anything else.
std::optional<std::string> decode_base64_strict(std::string_view text) {
  if (text.size() % 4 != 0) return std::nullopt;
  std::string out;
  out.reserve(text.size() / 4 * 3);
  uint32_t bits = 0;
  int count = 0;
  size_t padding = 0;
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    int value = -1;
    if (c >= 'A' && c <= 'Z') value = c - 'A';
    if (c >= 'a' && c <= 'z') value = c - 'a' + 26;
    if (c >= '0' && c <= '9') value = c - '0' + 52;
    if (c == '+') value = 62;
    if (c == '/') value = 63;
    if (c == '=' && i + 2 >= text.size()) {
      ++padding;
      continue;
    }
    if (value < 0 || padding > 0) return std::nullopt;
    bits = (bits << 6) | static_cast<uint32_t>(value);
    count += 6;
    if (count >= 8) {
      count -= 8;
      out += static_cast<char>((bits >> count) & 0xFF);
    }
  }
  return out;
}

}  // namespace

void MetaspacePipeline::add_normalizer(const json& node, const std::string& where, const std::string& source,
                                       std::vector<Step>& steps) {
  const std::string type = type_of(node);
  Step step;
  if (type == "Sequence") {
    if (!node.contains("normalizers") || !node["normalizers"].is_array()) {
      throw FormatError(source + ": field '" + where + ".normalizers' must be a list");
    }
    for (size_t i = 0; i < node["normalizers"].size(); ++i) {
      add_normalizer(node["normalizers"][i], where + ".normalizers[" + std::to_string(i) + "]", source,
                     steps);
    }
    return;
  }
  if (type == "Precompiled") {
    const std::string encoded = string_field(node, "precompiled_charsmap", where, source);
    const auto charsmap = decode_base64_strict(encoded);
    if (!charsmap) {
      throw FormatError(source + ": field '" + where + ".precompiled_charsmap' is not base64");
    }
    if (const std::string problem = PrecompiledCharsmap::problem(*charsmap); !problem.empty()) {
      throw FormatError(source + ": field '" + where + ".precompiled_charsmap': " + problem);
    }
    // spm_precompiled refuses replacement strings that are not UTF-8.
    const size_t trie_bytes = static_cast<unsigned char>((*charsmap)[0]) |
                              static_cast<size_t>(static_cast<unsigned char>((*charsmap)[1])) << 8 |
                              static_cast<size_t>(static_cast<unsigned char>((*charsmap)[2])) << 16 |
                              static_cast<size_t>(static_cast<unsigned char>((*charsmap)[3])) << 24;
    if (find_invalid_utf8(std::string_view(*charsmap).substr(4 + trie_bytes)) != std::string_view::npos) {
      throw FormatError(source + ": field '" + where +
                        ".precompiled_charsmap': its replacement strings are not UTF-8");
    }
    step.kind = Step::Kind::kPrecompiled;
    step.charsmap = PrecompiledCharsmap(*charsmap);
  } else if (type == "Strip") {
    step.kind = Step::Kind::kStrip;
    step.left = bool_field(node, "strip_left", true, where, source);
    step.right = bool_field(node, "strip_right", true, where, source);
  } else if (type == "Replace") {
    const json& pattern = node.contains("pattern") ? node["pattern"] : json();
    step.content = string_field(node, "content", where, source);
    if (pattern.is_object() && pattern.contains("String") && pattern["String"].is_string() &&
        !pattern["String"].get_ref<const std::string&>().empty()) {
      step.kind = Step::Kind::kReplace;
      step.pattern = pattern["String"].get<std::string>();
    } else if (pattern.is_object() && pattern.contains("Regex") && pattern["Regex"] == " {2,}") {
      step.kind = Step::Kind::kReplaceSpaceRuns;
    } else {
      throw FormatError(source + ": field '" + where + ".pattern' " + pattern.dump() +
                        " is not supported (latte runs a non-empty String, or the Regex \" {2,}\" T5's "
                        "converter writes)");
    }
  } else {
    throw FormatError(
        source + ": field '" + where + "': normalizer type '" + type +
        "' is not supported for a Unigram tokenizer.json (supported: Precompiled, Strip, Replace, "
        "Sequence)");
  }
  steps.push_back(std::move(step));
}

MetaspacePipeline::Metaspace MetaspacePipeline::read_metaspace(const json& node, const std::string& where,
                                                               const std::string& source) {
  Metaspace metaspace;
  metaspace.replacement = string_field(node, "replacement", where, source);
  if (metaspace.replacement.empty() || find_invalid_utf8(metaspace.replacement) != std::string_view::npos ||
      code_point_at(metaspace.replacement, 0).second != metaspace.replacement.size()) {
    throw FormatError(source + ": field '" + where + ".replacement' must be one character");
  }
  if (node.contains("prepend_scheme") && !node["prepend_scheme"].is_null()) {
    const json& scheme = node["prepend_scheme"];
    if (scheme == "always") {
      metaspace.prepend = Prepend::kAlways;
    } else if (scheme == "first") {
      metaspace.prepend = Prepend::kFirst;
    } else if (scheme == "never") {
      metaspace.prepend = Prepend::kNever;
    } else {
      throw FormatError(source + ": field '" + where +
                        ".prepend_scheme' must be \"always\", \"first\" or \"never\"");
    }
  }
  // Older files: add_prefix_space false is prepend_scheme never (tokenizers refuses a contradiction).
  if (!bool_field(node, "add_prefix_space", true, where, source)) {
    if (node.contains("prepend_scheme") && !node["prepend_scheme"].is_null() &&
        metaspace.prepend != Prepend::kNever) {
      throw FormatError(source + ": field '" + where +
                        ".add_prefix_space' is false but prepend_scheme is not never");
    }
    metaspace.prepend = Prepend::kNever;
  }
  metaspace.split = bool_field(node, "split", true, where, source);
  return metaspace;
}

MetaspacePipeline MetaspacePipeline::from_json(const json& root, const std::string& source) {
  MetaspacePipeline pipeline;
  if (root.contains("normalizer") && !root["normalizer"].is_null()) {
    add_normalizer(root["normalizer"], "normalizer", source, pipeline.steps_);
  }
  const json& pre_tokenizer = root.contains("pre_tokenizer") ? root["pre_tokenizer"] : json();
  const auto unsupported_pre_tokenizer = [&](const std::string& where, const std::string& type) {
    return FormatError(source + ": field '" + where + "': pre_tokenizer type '" + type +
                       "' is not supported for a Unigram tokenizer.json (supported: Metaspace, or "
                       "Sequence [WhitespaceSplit, Metaspace])");
  };
  if (type_of(pre_tokenizer) == "Metaspace") {
    pipeline.pre_tokenizer_ = read_metaspace(pre_tokenizer, "pre_tokenizer", source);
  } else if (type_of(pre_tokenizer) == "Sequence" && pre_tokenizer.contains("pretokenizers") &&
             pre_tokenizer["pretokenizers"].is_array()) {
    const json& list = pre_tokenizer["pretokenizers"];
    for (size_t i = 0; i < list.size(); ++i) {
      const std::string where = "pre_tokenizer.pretokenizers[" + std::to_string(i) + "]";
      const std::string type = type_of(list[i]);
      const bool last = i + 1 == list.size();
      if (type == "WhitespaceSplit" && !last) {
        pipeline.whitespace_split_ = true;
      } else if (type == "Metaspace" && last) {
        pipeline.pre_tokenizer_ = read_metaspace(list[i], where, source);
      } else {
        throw unsupported_pre_tokenizer(where, type);
      }
    }
    if (list.empty()) throw unsupported_pre_tokenizer("pre_tokenizer", "Sequence");
  } else {
    throw unsupported_pre_tokenizer("pre_tokenizer",
                                    pre_tokenizer.is_null() ? "null" : type_of(pre_tokenizer));
  }
  const json& decoder = root.contains("decoder") ? root["decoder"] : json();
  if (type_of(decoder) != "Metaspace") {
    throw FormatError(source + ": field 'decoder': decoder type '" +
                      (decoder.is_null() ? "null" : type_of(decoder)) +
                      "' is not supported for a Unigram tokenizer.json (supported: Metaspace)");
  }
  pipeline.decoder_ = read_metaspace(decoder, "decoder", source);
  return pipeline;
}

std::string MetaspacePipeline::normalize(std::string_view text) const {
  std::string normalized(text);
  for (const Step& step : steps_) {
    switch (step.kind) {
      case Step::Kind::kPrecompiled:
        normalized = apply_precompiled(step.charsmap, normalized);
        break;
      case Step::Kind::kStrip:
        normalized = strip(normalized, step.left, step.right);
        break;
      case Step::Kind::kReplace:
        normalized = replace_all(normalized, step.pattern, step.content);
        break;
      case Step::Kind::kReplaceSpaceRuns:
        normalized = replace_space_runs(normalized, step.content);
        break;
    }
  }
  return normalized;
}

void MetaspacePipeline::metaspace_pieces(std::string piece, bool prepend,
                                         std::vector<std::string>& out) const {
  const std::string& replacement = pre_tokenizer_.replacement;
  piece = replace_all(piece, " ", replacement);
  if (prepend && !piece.empty() && !piece.starts_with(replacement)) piece.insert(0, replacement);
  if (!pre_tokenizer_.split) {
    if (!piece.empty()) out.push_back(std::move(piece));
    return;
  }
  // Split before every replacement character (MergedWithNext).
  size_t begin = 0;
  for (size_t found = piece.find(replacement, 1); found != std::string::npos;
       found = piece.find(replacement, found + replacement.size())) {
    if (found > begin) out.push_back(piece.substr(begin, found - begin));
    begin = found;
  }
  if (begin < piece.size()) out.push_back(piece.substr(begin));
}

std::vector<std::string> MetaspacePipeline::pre_tokens(std::string_view text, bool at_start) const {
  const std::string normalized = normalize(text);
  const Prepend scheme = pre_tokenizer_.prepend;
  std::vector<std::string> out;
  if (!whitespace_split_) {
    metaspace_pieces(normalized, scheme == Prepend::kAlways || (scheme == Prepend::kFirst && at_start), out);
    return out;
  }
  // WhitespaceSplit: words between runs of whitespace, which is dropped; with `first`, only a
  // word at the very start of the input gets the prefix.
  size_t word_start = std::string::npos;
  for (size_t pos = 0; pos <= normalized.size();) {
    const bool end = pos == normalized.size();
    const auto [code, length] = end ? std::pair<char32_t, size_t>{0x20, 0} : code_point_at(normalized, pos);
    if (is_white_space(code)) {
      if (word_start != std::string::npos) {
        const bool first = at_start && word_start == 0;
        metaspace_pieces(normalized.substr(word_start, pos - word_start),
                         scheme == Prepend::kAlways || (scheme == Prepend::kFirst && first), out);
        word_start = std::string::npos;
      }
    } else if (word_start == std::string::npos) {
      word_start = pos;
    }
    if (end) break;
    pos += length;
  }
  return out;
}

std::string MetaspacePipeline::decode(const std::vector<std::string_view>& tokens) const {
  std::string text;
  const std::string& replacement = decoder_.replacement;
  for (size_t i = 0; i < tokens.size(); ++i) {
    const bool drop = i == 0 && decoder_.prepend != Prepend::kNever;
    text += replace_all(tokens[i], replacement, drop ? "" : " ");
  }
  return text;
}

}  // namespace latte
