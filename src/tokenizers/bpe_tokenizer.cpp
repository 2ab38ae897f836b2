// Byte-level BPE as Hugging Face `tokenizers` runs GPT-2 and Llama 3: added tokens cut out of
// the raw text, each stretch split by GPT-2's or Llama 3's regex, each piece's bytes mapped to
// printable symbols (bytes_to_unicode) and merged by rank, lowest first. Character classes come
// from utf8proc (Unicode 15), the reference's from Oniguruma; both are recent enough to agree on
// the text in tests/data/gpt2_tokenizer and tests/data/llama3_tokenizer.
#include "latte/tokenizers/bpe_tokenizer.h"

#include <utf8proc.h>

#include <algorithm>
#include <limits>
#include <mutex>
#include <nlohmann/json.hpp>
#include <queue>

#include "added_tokens.h"
#include "latte/core/error.h"
#include "latte/io/json_file.h"
#include "latte/io/read_file.h"

namespace latte {
namespace {

using nlohmann::json;

constexpr std::string_view kEndOfText = "<|endoftext|>";
// Llama 3's Split pattern exactly as its tokenizer.json writes it; for_each_llama3_word runs it.
constexpr std::string_view kLlama3Pattern =
    R"re((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)re";

// GPT-2's bytes_to_unicode: printable Latin-1 bytes stand for themselves, the other 68 bytes
// for U+0100.. in byte order, so every byte is one visible character.
char32_t byte_symbol(uint8_t byte) {
  const auto printable = [](unsigned b) {
    return (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || b >= 0xAE;
  };
  if (printable(byte)) return byte;
  char32_t next = 0x100;
  for (unsigned b = 0; b < byte; ++b) next += printable(b) ? 0 : 1;
  return next;
}

std::string utf8(char32_t cp) {
  utf8proc_uint8_t buffer[4];
  const utf8proc_ssize_t length = utf8proc_encode_char(static_cast<utf8proc_int32_t>(cp), buffer);
  return std::string(reinterpret_cast<const char*>(buffer), static_cast<size_t>(length));
}

// utf8(byte_symbol(byte)) for every byte, computed once.
const std::array<std::string, 256>& byte_symbol_texts() {
  static const std::array<std::string, 256> texts = [] {
    std::array<std::string, 256> result;
    for (unsigned byte = 0; byte < 256; ++byte) result[byte] = utf8(byte_symbol(static_cast<uint8_t>(byte)));
    return result;
  }();
  return texts;
}

// Code point at text[pos] (valid UTF-8) and its length in bytes.
std::pair<char32_t, size_t> next_code_point(std::string_view text, size_t pos) {
  utf8proc_int32_t cp = 0;
  const utf8proc_ssize_t length =
      utf8proc_iterate(reinterpret_cast<const utf8proc_uint8_t*>(text.data() + pos),
                       static_cast<utf8proc_ssize_t>(text.size() - pos), &cp);
  if (length <= 0) return {0xFFFD, 1};
  return {static_cast<char32_t>(cp), static_cast<size_t>(length)};
}

// The classes GPT-2's regex tells apart: \p{L}, \p{N}, \s (Oniguruma's: 0x09-0x0D, 0x85 and
// Z*), and everything else.
enum class CharClass : uint8_t { kLetter, kNumber, kSpace, kOther };

CharClass classify(char32_t cp) {
  if (cp < 0x80) {
    if ((cp >= 'a' && cp <= 'z') || (cp >= 'A' && cp <= 'Z')) return CharClass::kLetter;
    if (cp >= '0' && cp <= '9') return CharClass::kNumber;
    if (cp == ' ' || (cp >= 0x09 && cp <= 0x0D)) return CharClass::kSpace;
    return CharClass::kOther;
  }
  switch (utf8proc_category(static_cast<utf8proc_int32_t>(cp))) {
    case UTF8PROC_CATEGORY_LU:
    case UTF8PROC_CATEGORY_LL:
    case UTF8PROC_CATEGORY_LT:
    case UTF8PROC_CATEGORY_LM:
    case UTF8PROC_CATEGORY_LO:
      return CharClass::kLetter;
    case UTF8PROC_CATEGORY_ND:
    case UTF8PROC_CATEGORY_NL:
    case UTF8PROC_CATEGORY_NO:
      return CharClass::kNumber;
    case UTF8PROC_CATEGORY_ZS:
    case UTF8PROC_CATEGORY_ZL:
    case UTF8PROC_CATEGORY_ZP:
      return CharClass::kSpace;
    default:
      return cp == 0x85 ? CharClass::kSpace : CharClass::kOther;
  }
}

// Code points after an apostrophe that form one of 's 't 're 've 'm 'll 'd, or 0: case-sensitive
// as GPT-2's regex, or case-folded as Llama 3's (?i:...) is by Oniguruma: any ASCII case, and
// U+017F (long s) whose simple case fold is 's'; no other code point folds to these letters (the
// Kelvin sign folds to 'k', the "st" ligatures only as a whole). The small golden checks 'ſ.
size_t contraction_length(std::string_view rest, bool any_case) {
  if (any_case && rest.starts_with("\u017F")) return 1;
  const auto lower = [&](size_t i) {
    const char c = rest[i];
    return any_case && c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
  };
  if (rest.size() >= 2) {
    const char first = lower(0), second = lower(1);
    if ((first == 'r' || first == 'v') && second == 'e') return 2;
    if (first == 'l' && second == 'l') return 2;
  }
  if (!rest.empty() && (lower(0) == 's' || lower(0) == 't' || lower(0) == 'm' || lower(0) == 'd')) return 1;
  return 0;
}

// Code points of text with their byte offsets (one past the last: text.size()) and classes.
struct CodePoints {
  std::vector<size_t> offsets;  // [n + 1]
  std::vector<char32_t> points;
  std::vector<CharClass> classes;

  explicit CodePoints(std::string_view text) {
    for (size_t pos = 0; pos < text.size();) {
      const auto [cp, length] = next_code_point(text, pos);
      offsets.push_back(pos);
      points.push_back(cp);
      classes.push_back(classify(cp));
      pos += length;
    }
    offsets.push_back(text.size());
  }
  size_t size() const { return points.size(); }
  // One past the run of run_class that starts at from.
  size_t run_end(size_t from, CharClass run_class) const {
    while (from < size() && classes[from] == run_class) ++from;
    return from;
  }
  // Where "\s+(?!\S)|\s+" ends a whitespace run [start, spaces_end): the last space of a run
  // is left for the word after it, unless the run is one space or ends the text.
  size_t space_run_match_end(size_t start, size_t spaces_end) const {
    return spaces_end == size() || spaces_end - start == 1 ? spaces_end : spaces_end - 1;
  }
};

uint64_t pair_key(int32_t left, int32_t right) {
  return (static_cast<uint64_t>(static_cast<uint32_t>(left)) << 32) | static_cast<uint32_t>(right);
}

// The (token, id) pairs of a JSON object vocabulary.
std::vector<std::pair<std::string, int64_t>> vocab_entries(const json& vocab, const std::string& label) {
  if (!vocab.is_object()) {
    throw FormatError(label + ": expected a JSON object of token -> id, got " +
                      (vocab.is_structured() ? std::string(vocab.type_name()) : json_preview(vocab)));
  }
  std::vector<std::pair<std::string, int64_t>> entries;
  entries.reserve(vocab.size());
  for (const auto& [token, id] : vocab.items()) {
    if (!id.is_number_integer() || id.get<int64_t>() < 0) {
      throw FormatError(label + ": the id of token '" + token + "' must be a non-negative integer, got " +
                        json_preview(id));
    }
    entries.emplace_back(token, id.get<int64_t>());
  }
  return entries;
}

std::string line_preview(std::string_view line) {
  return line.size() > 40 ? std::string(line.substr(0, 40)) + "..." : std::string(line);
}

}  // namespace

// Merged words, keyed by their bytes. Bounded like Hugging Face's: short words only, and no
// more once full, so a hostile text cannot grow it without limit.
struct ByteLevelBpeTokenizer::WordCache {
  static constexpr size_t kMaxWordBytes = 256;
  static constexpr size_t kMaxWords = 10000;
  std::mutex mutex;
  std::unordered_map<std::string, std::vector<int32_t>, StringHash, std::equal_to<>> words;
};

ByteLevelBpeTokenizer::ByteLevelBpeTokenizer() : cache_(std::make_shared<WordCache>()) {}

void ByteLevelBpeTokenizer::set_tokens(std::vector<std::pair<std::string, int64_t>> entries,
                                       const std::string& label) {
  if (entries.empty()) throw FormatError(label + ": vocabulary is empty");
  if (entries.size() > static_cast<size_t>(std::numeric_limits<int32_t>::max())) {
    throw FormatError(label + ": vocabulary has too many tokens");
  }
  const auto n_tokens = static_cast<int64_t>(entries.size());
  tokens_.assign(entries.size(), std::string());
  std::vector<bool> seen(entries.size(), false);
  token_ids_.clear();
  for (auto& [token, id] : entries) {
    if (id < 0 || id >= n_tokens || seen[static_cast<size_t>(id)] || token_ids_.contains(token)) {
      throw FormatError(label + ": ids must be 0.." + std::to_string(n_tokens - 1) +
                        ", each token once (token '" + token + "' has id " + std::to_string(id) + ")");
    }
    seen[static_cast<size_t>(id)] = true;
    token_ids_.emplace(token, static_cast<int32_t>(id));
    tokens_[static_cast<size_t>(id)] = std::move(token);
  }
}

void ByteLevelBpeTokenizer::add_merge(std::string_view left, std::string_view right, int32_t rank,
                                      const std::string& where) {
  const auto require = [&](std::string_view symbol, const char* what) {
    const int32_t id = token_id(symbol);
    if (id < 0) {
      throw FormatError(where + ": " + what + " '" + std::string(symbol) + "' is not in the vocabulary");
    }
    return id;
  };
  const int32_t left_id = require(left, "merge symbol");
  const int32_t right_id = require(right, "merge symbol");
  const int32_t merged_id = require(std::string(left) + std::string(right), "merged symbol");
  // A repeated merge keeps its last rank, as Hugging Face's merge map does.
  merges_[pair_key(left_id, right_id)] = Merge{rank, merged_id};
}

void ByteLevelBpeTokenizer::index() {
  for (unsigned byte = 0; byte < 256; ++byte) {
    byte_ids_[byte] = token_id(utf8(byte_symbol(static_cast<uint8_t>(byte))));
  }
  // A token decodes to the bytes its symbols stand for; a token with any other character (an
  // added token such as "<|endoftext|>" is all symbols, " hi" is not) to its own UTF-8, as
  // Hugging Face's ByteLevel decoder does.
  std::array<int, 0x180> symbol_byte;
  symbol_byte.fill(-1);
  for (unsigned byte = 0; byte < 256; ++byte)
    symbol_byte[byte_symbol(static_cast<uint8_t>(byte))] = static_cast<int>(byte);
  token_bytes_.assign(tokens_.size(), std::string());
  for (size_t id = 0; id < tokens_.size(); ++id) {
    const std::string& token = tokens_[id];
    std::string bytes;
    for (size_t pos = 0; pos < token.size();) {
      const auto [cp, length] = next_code_point(token, pos);
      if (cp >= symbol_byte.size() || symbol_byte[cp] < 0) {
        bytes = token;
        break;
      }
      bytes += static_cast<char>(symbol_byte[cp]);
      pos += length;
    }
    token_bytes_[id] = std::move(bytes);
  }
  const int32_t end_of_text = token_id(kEndOfText);
  end_of_text_id_ = end_of_text >= 0 ? std::optional<int32_t>(end_of_text) : std::nullopt;
}

ByteLevelBpeTokenizer ByteLevelBpeTokenizer::from_files(const std::filesystem::path& vocab_json,
                                                        const std::filesystem::path& merges_txt) {
  ByteLevelBpeTokenizer tokenizer;
  tokenizer.source_ = vocab_json.string();
  tokenizer.set_tokens(vocab_entries(read_json_file(vocab_json), tokenizer.source_), tokenizer.source_);
  LineReader lines(ReadableFile::open(merges_txt));
  int32_t rank = 0;
  for (std::string line; lines.next(line);) {
    if (line.starts_with("#version")) continue;
    const std::string where = merges_txt.string() + ":" + std::to_string(lines.line_number());
    const size_t space = line.find(' ');
    if (space == std::string::npos || line.find(' ', space + 1) != std::string::npos) {
      throw FormatError(where + ": expected two symbols separated by one space, got '" + line_preview(line) +
                        "'");
    }
    tokenizer.add_merge(std::string_view(line).substr(0, space), std::string_view(line).substr(space + 1),
                        rank++, where);
  }
  tokenizer.in_model_vocab_.assign(tokenizer.tokens_.size(), true);
  tokenizer.special_.assign(tokenizer.tokens_.size(), false);
  // GPT-2's files list no added tokens; Hugging Face registers <|endoftext|> as a special one.
  if (const int32_t end_of_text = tokenizer.token_id(kEndOfText); end_of_text >= 0) {
    tokenizer.added_tokens_.emplace_back(kEndOfText);
    tokenizer.special_[static_cast<size_t>(end_of_text)] = true;
  }
  tokenizer.index();
  return tokenizer;
}

ByteLevelBpeTokenizer ByteLevelBpeTokenizer::from_tokenizer_json(const std::filesystem::path& path) {
  return from_tokenizer_json(read_json_file(path), path.string());
}

ByteLevelBpeTokenizer ByteLevelBpeTokenizer::from_tokenizer_json(const json& root,
                                                                 const std::string& source) {
  const auto field = [](const json& object, const char* key) {
    return object.is_object() && object.contains(key) ? object[key] : json();
  };
  const auto unsupported = [&](const std::string& what) {
    return FormatError(source + ": " + what + " is not supported (GPT-2's byte-level BPE only)");
  };
  try {
    if (!root.is_object()) throw FormatError(source + ": expected a JSON object");
    const json& model = root.at("model");
    const std::string type = field(model, "type").is_string() ? model["type"].get<std::string>() : "";
    if (type != "BPE") throw FormatError(source + ": model type '" + type + "' is not BPE");
    if (const json normalizer = field(root, "normalizer"); !normalizer.is_null()) {
      throw unsupported("normalizer " + json_preview(field(normalizer, "type")));
    }
    for (const char* key : {"dropout", "unk_token"}) {
      if (!field(model, key).is_null()) throw unsupported(std::string("model.") + key);
    }
    for (const char* key : {"continuing_subword_prefix", "end_of_word_suffix"}) {
      if (!field(model, key).is_null() && field(model, key) != "")
        throw unsupported(std::string("model.") + key);
    }
    for (const char* key : {"fuse_unk", "byte_fallback"}) {
      if (field(model, key) == true) throw unsupported(std::string("model.") + key + "=true");
    }

    ByteLevelBpeTokenizer tokenizer;
    tokenizer.source_ = source;
    tokenizer.read_pre_tokenizer(field(root, "pre_tokenizer"), source);
    tokenizer.ignore_merges_ = field(model, "ignore_merges") == true;
    std::vector<std::pair<std::string, int64_t>> entries =
        vocab_entries(model.at("vocab"), source + ": model.vocab");
    const size_t n_model_tokens = entries.size();
    std::vector<std::string> special_tokens;
    const json added_tokens = field(root, "added_tokens");
    if (!added_tokens.is_null() && !added_tokens.is_array())
      throw FormatError(source + ": added_tokens must be an array");
    for (const json& added : added_tokens) {
      const std::string content = added.at("content").get<std::string>();
      const int64_t id = json_require_int(added, "id", source + ": added_tokens");
      const auto flag = [&](const char* key) {
        const json value = added.value(key, json(false));
        if (!value.is_boolean()) {
          throw FormatError(source + ": added token " + content + ": field '" + key +
                            "' must be true or false, got " + json_preview(value));
        }
        return value.get<bool>();
      };
      // Only verbatim matching on the raw text is implemented: GPT-2's and Llama 3's need no more.
      for (const char* key : {"lstrip", "rstrip", "single_word"}) {
        if (flag(key)) throw unsupported("added token " + content + " with " + key + "=true");
      }
      const auto in_vocab = model["vocab"].find(content);
      if (in_vocab == model["vocab"].end()) {
        entries.emplace_back(content, id);
      } else if (*in_vocab != id) {
        throw FormatError(source + ": added token " + content + " has id " + std::to_string(id) +
                          " but model.vocab " + json_preview(*in_vocab));
      }
      tokenizer.added_tokens_.push_back(content);
      if (flag("special")) special_tokens.push_back(content);
    }
    std::vector<std::string> outside_model;  // added tokens model.vocab does not have
    for (size_t i = n_model_tokens; i < entries.size(); ++i) outside_model.push_back(entries[i].first);
    tokenizer.set_tokens(std::move(entries), source + ": model.vocab");
    tokenizer.in_model_vocab_.assign(tokenizer.tokens_.size(), true);
    for (const std::string& added : outside_model)
      tokenizer.in_model_vocab_[static_cast<size_t>(tokenizer.token_id(added))] = false;
    tokenizer.special_.assign(tokenizer.tokens_.size(), false);
    for (const std::string& special : special_tokens)
      tokenizer.special_[static_cast<size_t>(tokenizer.token_id(special))] = true;
    tokenizer.read_post_processor(field(root, "post_processor"), source);

    const json& merges = model.at("merges");
    if (!merges.is_array()) throw FormatError(source + ": model.merges must be an array");
    for (size_t rank = 0; rank < merges.size(); ++rank) {
      const json& merge = merges[rank];
      const std::string where = source + ": model.merges[" + std::to_string(rank) + "]";
      // Older files write "left right", newer ones ["left", "right"].
      if (merge.is_string()) {
        const std::string& text = merge.get_ref<const std::string&>();
        const size_t space = text.find(' ');
        if (space == std::string::npos || text.find(' ', space + 1) != std::string::npos) {
          throw FormatError(where + ": expected two symbols separated by one space, got '" +
                            line_preview(text) + "'");
        }
        tokenizer.add_merge(std::string_view(text).substr(0, space), std::string_view(text).substr(space + 1),
                            static_cast<int32_t>(rank), where);
      } else if (merge.is_array() && merge.size() == 2 && merge[0].is_string() && merge[1].is_string()) {
        tokenizer.add_merge(merge[0].get_ref<const std::string&>(), merge[1].get_ref<const std::string&>(),
                            static_cast<int32_t>(rank), where);
      } else {
        throw FormatError(where + ": expected \"left right\" or [left, right], got " + json_preview(merge));
      }
    }
    tokenizer.index();
    return tokenizer;
  } catch (const json::exception& e) {
    throw FormatError(source + ": " + json_error_text(e));
  }
}

void ByteLevelBpeTokenizer::read_pre_tokenizer(const json& pre_tokenizer, const std::string& source) {
  const auto unsupported = [&](const std::string& what) {
    return FormatError(source + ": " + what +
                       " is not supported (supported: ByteLevel with GPT-2's regex; Sequence [Split with "
                       "Llama 3's regex, ByteLevel without one])");
  };
  const auto type_of = [](const json& object) {
    return object.is_object() && object.contains("type") ? object["type"] : json();
  };
  const json type = type_of(pre_tokenizer);
  if (type == "ByteLevel") {
    if (pre_tokenizer.value("use_regex", true) == false)
      throw unsupported("pre_tokenizer ByteLevel with use_regex=false");
    add_prefix_space_ = pre_tokenizer.value("add_prefix_space", false);
    splitter_ = Splitter::kGpt2;
    return;
  }
  if (type != "Sequence") {
    throw unsupported("pre_tokenizer " +
                      (pre_tokenizer.is_null() ? std::string("null") : json_preview(type)));
  }
  const json& steps = pre_tokenizer.at("pretokenizers");
  if (!steps.is_array() || steps.size() != 2 || type_of(steps[0]) != "Split" ||
      type_of(steps[1]) != "ByteLevel") {
    std::string types;
    for (const json& step : steps.is_array() ? steps : json::array()) {
      types += (types.empty() ? "" : ", ") + json_preview(type_of(step));
    }
    throw unsupported("pre_tokenizer Sequence [" + types + "]");
  }
  const json& split = steps[0];
  const json pattern = split.value("pattern", json());
  if (!pattern.is_object() || !pattern.contains("Regex") || !pattern["Regex"].is_string()) {
    throw FormatError(source +
                      ": pre_tokenizer.pretokenizers[0].pattern: expected {\"Regex\": \"...\"}, got " +
                      json_preview(pattern));
  }
  if (pattern["Regex"].get_ref<const std::string&>() != kLlama3Pattern) {
    throw unsupported("pre_tokenizer Split regex " + json_preview(pattern["Regex"]) + " (not Llama 3's)");
  }
  if (split.value("behavior", json()) != "Isolated")
    throw unsupported("pre_tokenizer Split behavior " + json_preview(split.value("behavior", json())));
  if (split.value("invert", false)) throw unsupported("pre_tokenizer Split with invert=true");
  const json& byte_level = steps[1];
  if (byte_level.value("add_prefix_space", false))
    throw unsupported("pre_tokenizer ByteLevel after Split with add_prefix_space=true");
  if (byte_level.value("use_regex", true))
    throw unsupported("pre_tokenizer ByteLevel after Split with use_regex=true");
  splitter_ = Splitter::kLlama3;
}

void ByteLevelBpeTokenizer::read_post_processor(const json& processor, const std::string& source) {
  if (processor.is_null()) return;
  const json type = processor.is_object() && processor.contains("type") ? processor["type"] : json();
  const auto unsupported = [&](const std::string& what) {
    return FormatError(source + ": " + what +
                       " is not supported (supported: ByteLevel, TemplateProcessing, a Sequence of them)");
  };
  if (type == "ByteLevel") return;  // trim_offsets changes offsets only, which latte does not report
  if (type == "Sequence") {
    size_t templates = 0;
    for (const json& step : processor.at("processors")) {
      if (step.value("type", json()) == "Sequence")
        throw unsupported("post_processor Sequence inside Sequence");
      if (step.value("type", json()) == "TemplateProcessing" && ++templates > 1)
        throw unsupported("post_processor Sequence with two TemplateProcessing");
      read_post_processor(step, source);
    }
    return;
  }
  if (type != "TemplateProcessing") throw unsupported("post_processor " + json_preview(type));
  // The single-text template: special tokens around one Sequence "A". Pairs are BERT's only.
  const std::string where = source + ": post_processor TemplateProcessing";
  const json& single = processor.at("single");
  const json& specials = processor.at("special_tokens");
  if (!single.is_array()) throw FormatError(where + ": 'single' must be an array");
  bool text_seen = false;
  for (const json& piece : single) {
    if (piece.contains("Sequence")) {
      if (piece["Sequence"].value("id", json()) != "A" || text_seen)
        throw unsupported("post_processor TemplateProcessing single " + json_preview(piece));
      text_seen = true;
    } else if (piece.contains("SpecialToken")) {
      const json name = piece["SpecialToken"].value("id", json());
      if (!name.is_string() || !specials.contains(name.get<std::string>())) {
        throw FormatError(where + ": special token " + json_preview(name) + " is not in its special_tokens");
      }
      for (const json& id : specials[name.get<std::string>()].at("ids")) {
        if (!id.is_number_integer() || id.get<int64_t>() < 0 ||
            id.get<int64_t>() >= static_cast<int64_t>(tokens_.size())) {
          throw FormatError(where + ": special token " + json_preview(name) + " has id " + json_preview(id) +
                            ", out of range [0, " + std::to_string(tokens_.size()) + ")");
        }
        (text_seen ? template_suffix_ : template_prefix_).push_back(id.get<int32_t>());
      }
    } else {
      throw FormatError(where + ": expected {\"SpecialToken\": ...} or {\"Sequence\": ...}, got " +
                        json_preview(piece));
    }
    const json& inner = piece.begin().value();
    if (inner.value("type_id", 0) != 0)
      throw unsupported("post_processor TemplateProcessing with type_id != 0");
  }
  if (!text_seen) throw FormatError(where + ": 'single' has no {\"Sequence\": {\"id\": \"A\"}}");
}

ByteLevelBpeTokenizer ByteLevelBpeTokenizer::from_dir(const std::filesystem::path& model_dir) {
  if (std::filesystem::exists(model_dir / "tokenizer.json"))
    return from_tokenizer_json(model_dir / "tokenizer.json");
  if (std::filesystem::exists(model_dir / "vocab.json") &&
      std::filesystem::exists(model_dir / "merges.txt")) {
    return from_files(model_dir / "vocab.json", model_dir / "merges.txt");
  }
  throw FormatError("no tokenizer.json or vocab.json + merges.txt in " + model_dir.string());
}

std::vector<TokenizerFile> bpe_tokenizer_files(const std::filesystem::path& dir) {
  const auto exists = [&](const char* name) { return std::filesystem::exists(dir / name); };
  if (exists("tokenizer.json")) return {{dir / "tokenizer.json", "tokenizer.json"}};
  if (exists("vocab.json") && exists("merges.txt")) {
    return {{dir / "vocab.json", "vocab.json"}, {dir / "merges.txt", "merges.txt"}};
  }
  if (exists("encoder.json") && exists("vocab.bpe")) {
    return {{dir / "encoder.json", "vocab.json"}, {dir / "vocab.bpe", "merges.txt"}};
  }
  throw InputError(
      dir.string() +
      " holds no GPT-2 tokenizer (tokenizer.json, vocab.json + merges.txt, or encoder.json + vocab.bpe)");
}

const std::string& ByteLevelBpeTokenizer::token(int32_t id) const { return token_at(tokens_, id); }

bool ByteLevelBpeTokenizer::is_special(int32_t id) const {
  token(id);  // range check
  return special_[static_cast<size_t>(id)];
}

int32_t ByteLevelBpeTokenizer::token_id(std::string_view token) const {
  const auto it = token_ids_.find(token);
  return it == token_ids_.end() ? -1 : it->second;
}

void ByteLevelBpeTokenizer::for_each_word(std::string_view text,
                                          const std::function<bool(std::string_view)>& on_word) {
  const CodePoints cps(text);
  const size_t n = cps.size();
  for (size_t start = 0; start < n;) {
    size_t end = 0;
    const size_t contraction =
        cps.points[start] == '\'' ? contraction_length(text.substr(cps.offsets[start] + 1), false) : 0;
    if (contraction > 0) {
      end = start + 1 + contraction;  // 's 't 're 've 'm 'll 'd
    } else {
      // " ?\p{L}+", " ?\p{N}+" and " ?[^\s\p{L}\p{N}]+": an optional space, then a run of one class.
      const size_t first =
          cps.points[start] == ' ' && start + 1 < n && cps.classes[start + 1] != CharClass::kSpace ? start + 1
                                                                                                   : start;
      if (cps.classes[first] != CharClass::kSpace) {
        end = cps.run_end(first, cps.classes[first]);
      } else {
        end = cps.space_run_match_end(start, cps.run_end(start, CharClass::kSpace));
      }
    }
    if (!on_word(text.substr(cps.offsets[start], cps.offsets[end] - cps.offsets[start]))) return;
    start = end;
  }
}

void ByteLevelBpeTokenizer::for_each_llama3_word(std::string_view text,
                                                 const std::function<bool(std::string_view)>& on_word) {
  const CodePoints cps(text);
  const size_t n = cps.size();
  const auto is_line_break = [&](size_t i) { return cps.points[i] == '\r' || cps.points[i] == '\n'; };
  const auto class_at = [&](size_t i) { return i < n ? cps.classes[i] : CharClass::kSpace; };
  // Each branch is one alternative of the regex, tried in its order (leftmost wins, as Onig).
  for (size_t start = 0; start < n;) {
    size_t end = 0;
    const CharClass head = cps.classes[start];
    const size_t contraction =
        cps.points[start] == '\'' ? contraction_length(text.substr(cps.offsets[start] + 1), true) : 0;
    if (contraction > 0) {
      end = start + 1 + contraction;  // (?i:'s|'t|'re|'ve|'m|'ll|'d)
    } else if (head == CharClass::kLetter) {
      end = cps.run_end(start, CharClass::kLetter);  // [^\r\n\p{L}\p{N}]?\p{L}+ without the prefix
    } else if (head != CharClass::kNumber && !is_line_break(start) &&
               class_at(start + 1) == CharClass::kLetter) {
      end = cps.run_end(start + 1, CharClass::kLetter);  // ... with one leading non-letter
    } else if (head == CharClass::kNumber) {
      end = std::min(cps.run_end(start, CharClass::kNumber), start + 3);  // \p{N}{1,3}
    } else if (const size_t first =
                   cps.points[start] == ' ' && class_at(start + 1) == CharClass::kOther ? start + 1 : start;
               cps.classes[first] == CharClass::kOther) {
      // " ?[^\s\p{L}\p{N}]+[\r\n]*": punctuation takes the line breaks right after it.
      end = cps.run_end(first, CharClass::kOther);
      while (end < n && is_line_break(end)) ++end;
    } else {
      // "\s*[\r\n]+": a whitespace run up to its last line break; else "\s+(?!\S)|\s+".
      const size_t spaces_end = cps.run_end(start, CharClass::kSpace);
      size_t last_break = spaces_end;
      for (size_t i = start; i < spaces_end; ++i) {
        if (is_line_break(i)) last_break = i;
      }
      end = last_break < spaces_end ? last_break + 1 : cps.space_run_match_end(start, spaces_end);
    }
    if (!on_word(text.substr(cps.offsets[start], cps.offsets[end] - cps.offsets[start]))) return;
    start = end;
  }
}

std::vector<int32_t> ByteLevelBpeTokenizer::merge_word(std::string_view word) const {
  if (ignore_merges_) {
    std::string symbols;
    for (const char byte : word) symbols += byte_symbol_texts()[static_cast<uint8_t>(byte)];
    // Hugging Face looks the word up in the model's vocabulary only, not the added tokens.
    if (const int32_t id = token_id(symbols); id >= 0 && in_model_vocab_[static_cast<size_t>(id)])
      return {id};
  }
  struct Symbol {
    int32_t id;
    int32_t prev, next;  // neighbours still in the word, -1 at the ends
    bool merged_away;
  };
  std::vector<Symbol> symbols;
  symbols.reserve(word.size());
  for (const char byte : word) {
    // A byte without a symbol in the vocabulary is dropped, as Hugging Face does without unk.
    const int32_t id = byte_ids_[static_cast<uint8_t>(byte)];
    if (id < 0) continue;
    const auto index = static_cast<int32_t>(symbols.size());
    if (!symbols.empty()) symbols.back().next = index;
    symbols.push_back({id, index - 1, -1, false});
  }
  struct Candidate {
    int32_t rank;
    int32_t pos;  // left symbol of the pair
    int32_t merged_id;
    bool operator<(const Candidate& other) const {
      // priority_queue pops the greatest: make that the lowest rank, then the leftmost.
      return rank != other.rank ? rank > other.rank : pos > other.pos;
    }
  };
  std::priority_queue<Candidate> queue;
  const auto push_pair = [&](int32_t pos) {
    const Symbol& left = symbols[static_cast<size_t>(pos)];
    if (left.next < 0) return;
    const auto it = merges_.find(pair_key(left.id, symbols[static_cast<size_t>(left.next)].id));
    if (it != merges_.end()) queue.push({it->second.rank, pos, it->second.merged_id});
  };
  for (size_t pos = 0; pos + 1 < symbols.size(); ++pos) push_pair(static_cast<int32_t>(pos));
  while (!queue.empty()) {
    const Candidate top = queue.top();
    queue.pop();
    Symbol& left = symbols[static_cast<size_t>(top.pos)];
    if (left.merged_away || left.next < 0) continue;
    Symbol& right = symbols[static_cast<size_t>(left.next)];
    // Skip a pair that changed since it was queued.
    const auto it = merges_.find(pair_key(left.id, right.id));
    if (it == merges_.end() || it->second.merged_id != top.merged_id) continue;
    left.id = top.merged_id;
    right.merged_away = true;
    left.next = right.next;
    if (right.next >= 0) symbols[static_cast<size_t>(right.next)].prev = top.pos;
    if (left.prev >= 0) push_pair(left.prev);
    push_pair(top.pos);
  }
  std::vector<int32_t> ids;
  for (const Symbol& symbol : symbols) {
    if (!symbol.merged_away) ids.push_back(symbol.id);
  }
  return ids;
}

void ByteLevelBpeTokenizer::append_word_ids(std::string_view word, std::vector<int32_t>& ids) const {
  const bool cacheable = word.size() <= WordCache::kMaxWordBytes;
  if (cacheable) {
    const std::lock_guard lock(cache_->mutex);
    if (const auto it = cache_->words.find(word); it != cache_->words.end()) {
      ids.insert(ids.end(), it->second.begin(), it->second.end());
      return;
    }
  }
  std::vector<int32_t> merged = merge_word(word);
  ids.insert(ids.end(), merged.begin(), merged.end());
  if (cacheable) {
    const std::lock_guard lock(cache_->mutex);
    if (cache_->words.size() < WordCache::kMaxWords) cache_->words.emplace(word, std::move(merged));
  }
}

std::vector<int32_t> ByteLevelBpeTokenizer::text_ids(std::string_view text, size_t limit) const {
  return ids_around_added_tokens(
      text, added_tokens_, limit, [&](size_t added) { return token_id(added_tokens_[added]); },
      [&](std::string_view segment, std::vector<int32_t>& ids) {
        const auto on_word = [&](std::string_view word) {
          append_word_ids(word, ids);
          return ids.size() < limit;
        };
        if (splitter_ == Splitter::kLlama3) {
          for_each_llama3_word(segment, on_word);
        } else if (add_prefix_space_ && !segment.starts_with(' ')) {
          std::string prefixed(1, ' ');  // not " " + segment: GCC 12 warns falsely (-Wrestrict)
          prefixed.append(segment);
          for_each_word(prefixed, on_word);
        } else {
          for_each_word(segment, on_word);
        }
      });
}

std::vector<int32_t> ByteLevelBpeTokenizer::token_ids(std::string_view text) const {
  return text_ids(text, std::numeric_limits<size_t>::max());
}

Encoding ByteLevelBpeTokenizer::encode(std::string_view text, int64_t max_length) const {
  if (max_length < 0) {
    throw InputError("max_length must be >= 0 (0: no limit), got " + std::to_string(max_length));
  }
  const size_t n_specials = template_prefix_.size() + template_suffix_.size();
  if (max_length != 0 && static_cast<size_t>(max_length) < n_specials) {
    throw InputError("max_length " + std::to_string(max_length) + " leaves no room for the " +
                     std::to_string(n_specials) + " special tokens this tokenizer adds");
  }
  Encoding encoding;
  // One token past the limit tells a cut text from one that fits exactly.
  const size_t limit = static_cast<size_t>(max_length) - n_specials;
  std::vector<int32_t> content =
      text_ids(text, max_length == 0 ? std::numeric_limits<size_t>::max() : limit + 1);
  encoding.truncated = max_length != 0 && content.size() > limit;
  if (encoding.truncated) content.resize(limit);
  encoding.ids = template_prefix_;
  encoding.ids.insert(encoding.ids.end(), content.begin(), content.end());
  encoding.ids.insert(encoding.ids.end(), template_suffix_.begin(), template_suffix_.end());
  encoding.type_ids.assign(encoding.ids.size(), 0);
  encoding.tokens.reserve(encoding.ids.size());
  for (const int32_t id : encoding.ids) encoding.tokens.push_back(tokens_[static_cast<size_t>(id)]);
  return encoding;
}

std::string ByteLevelBpeTokenizer::decode(std::span<const int32_t> ids) const {
  std::string bytes;
  for (const int32_t id : ids) {
    token(id);  // range check
    bytes += token_bytes_[static_cast<size_t>(id)];
  }
  return bytes;
}

}  // namespace latte
