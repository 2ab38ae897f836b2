#include "latte/tokenizers/sentencepiece_tokenizer.h"

#include <algorithm>
#include <limits>
#include <nlohmann/json.hpp>

#include "added_tokens.h"
#include "latte/core/error.h"
#include "latte/io/json_file.h"
#include "latte/io/read_file.h"
#include "latte/tokenizers/bert_tokenizer.h"
#include "pair_truncation.h"
#include "unigram.h"

namespace latte {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

constexpr std::string_view kSentinelPrefix = "<extra_id_";

std::string sentinel_name(int64_t n) { return std::string(kSentinelPrefix) + std::to_string(n) + ">"; }

bool is_sentinel_name(std::string_view token) {
  if (!token.starts_with(kSentinelPrefix) || !token.ends_with('>')) return false;
  const std::string_view digits =
      token.substr(kSentinelPrefix.size(), token.size() - kSentinelPrefix.size() - 1);
  return !digits.empty() &&
         std::all_of(digits.begin(), digits.end(), [](char c) { return c >= '0' && c <= '9'; });
}

// Length of the code point at text[pos] if it is whitespace by Python's str.isspace (what
// Hugging Face's strip() and lstrip() remove around sentinels), else 0. text is valid UTF-8.
size_t whitespace_at(std::string_view text, size_t pos) {
  const auto byte = [&](size_t i) { return static_cast<unsigned char>(text[pos + i]); };
  const unsigned char lead = byte(0);
  if (lead < 0x80) return (lead >= 0x09 && lead <= 0x0D) || (lead >= 0x1C && lead <= 0x20) ? 1 : 0;
  if (lead == 0xC2 && pos + 1 < text.size()) return byte(1) == 0x85 || byte(1) == 0xA0 ? 2 : 0;
  if ((lead == 0xE1 || lead == 0xE2 || lead == 0xE3) && pos + 2 < text.size()) {
    const uint32_t code = (uint32_t{lead} & 0x0F) << 12 | (uint32_t{byte(1)} & 0x3F) << 6 | (byte(2) & 0x3F);
    const bool space = code == 0x1680 || (code >= 0x2000 && code <= 0x200A) || code == 0x2028 ||
                       code == 0x2029 || code == 0x202F || code == 0x205F || code == 0x3000;
    return space ? 3 : 0;
  }
  return 0;
}

std::string_view strip_leading_whitespace(std::string_view text) {
  size_t pos = 0;
  while (pos < text.size()) {
    const size_t length = whitespace_at(text, pos);
    if (length == 0) break;
    pos += length;
  }
  return text.substr(pos);
}

std::string_view strip_trailing_whitespace(std::string_view text) {
  // Whitespace code points are at most 3 bytes: try each length ending at the end.
  for (bool stripped = true; stripped && !text.empty();) {
    stripped = false;
    for (size_t length = 1; length <= std::min<size_t>(3, text.size()); ++length) {
      if (whitespace_at(text, text.size() - length) == length) {
        text.remove_suffix(length);
        stripped = true;
        break;
      }
    }
  }
  return text;
}

// Counts the <extra_id_N> entries of an additional_special_tokens list (strings, or added-token
// objects with "content"); nullopt when `file` has no such list.
std::optional<int64_t> listed_sentinels(const json& root, const std::string& file) {
  if (!root.is_object() || !root.contains("additional_special_tokens")) return std::nullopt;
  const json& list = root["additional_special_tokens"];
  if (list.is_null()) return std::nullopt;
  if (!list.is_array()) throw FormatError(file + ": field 'additional_special_tokens' must be a list");
  int64_t count = 0;
  for (const json& entry : list) {
    const json& content = entry.is_object() && entry.contains("content") ? entry["content"] : entry;
    if (content.is_string() && is_sentinel_name(content.get_ref<const std::string&>())) ++count;
  }
  return count;
}

}  // namespace

int64_t t5_extra_ids(const std::filesystem::path& model_dir) {
  const fs::path config_path = model_dir / "tokenizer_config.json";
  const fs::path map_path = model_dir / "special_tokens_map.json";
  const std::string config_label = config_path.string();
  json config;
  if (fs::exists(config_path)) config = read_json_file(config_path);
  if (fs::exists(config_path) && !config.is_object())
    throw FormatError(config_label + ": expected a JSON object");
  std::optional<int64_t> extra_ids;
  if (config.is_object() && config.contains("extra_ids") && !config["extra_ids"].is_null()) {
    extra_ids = json_require_int(config, "extra_ids", config_label);
    if (*extra_ids < 0 || *extra_ids > SentencePieceTokenizer::kMaxExtraIds) {
      throw FormatError(config_label + ": field 'extra_ids' must be between 0 and " +
                        std::to_string(SentencePieceTokenizer::kMaxExtraIds) + ", got " +
                        std::to_string(*extra_ids));
    }
  }
  std::optional<int64_t> listed = listed_sentinels(config, config_label);
  std::string listed_in = config_label;
  if (!listed && fs::exists(map_path)) {
    listed_in = map_path.string();
    listed = listed_sentinels(read_json_file(map_path), listed_in);
  }
  if (listed && *listed > 0) {
    // Hugging Face refuses the same disagreement (T5Tokenizer.__init__).
    if (extra_ids && *extra_ids > 0 && *extra_ids != *listed) {
      throw FormatError(config_label + ": extra_ids is " + std::to_string(*extra_ids) + " but " + listed_in +
                        " lists " + std::to_string(*listed) + " <extra_id_N> tokens");
    }
    if (!extra_ids) extra_ids = std::min(*listed, SentencePieceTokenizer::kMaxExtraIds + 1);
    if (*extra_ids > SentencePieceTokenizer::kMaxExtraIds) {
      throw FormatError(listed_in + ": more than " + std::to_string(SentencePieceTokenizer::kMaxExtraIds) +
                        " <extra_id_N> tokens");
    }
  }
  return extra_ids.value_or(SentencePieceTokenizer::kDefaultExtraIds);
}

bool names_sentencepiece_tokenizer(const std::filesystem::path& model_dir) {
  const fs::path config_path = model_dir / "tokenizer_config.json";
  if (!fs::exists(config_path)) return false;
  const json config = read_json_file(config_path);
  if (!config.is_object() || !config.contains("tokenizer_class") || !config["tokenizer_class"].is_string()) {
    return false;
  }
  const std::string& name = config["tokenizer_class"].get_ref<const std::string&>();
  return name.starts_with("T5Tokenizer") || name.starts_with("MT5Tokenizer");
}

SentencePieceTokenizer SentencePieceTokenizer::from_dir(const std::filesystem::path& model_dir) {
  const fs::path model_path = model_dir / "spiece.model";
  if (!fs::exists(model_path)) {
    std::string why =
        names_sentencepiece_tokenizer(model_dir) ? " (tokenizer_config.json names a T5 tokenizer)" : "";
    if (fs::exists(model_dir / "tokenizer.json")) {
      why += "; a T5 folder with only tokenizer.json is not supported yet: add the model's spiece.model";
    }
    throw FormatError(model_path.string() + " is missing" + why);
  }
  const int64_t extra_ids = t5_extra_ids(model_dir);
  return from_model_bytes(read_file_bytes(model_path), model_path.string(), extra_ids);
}

SentencePieceTokenizer SentencePieceTokenizer::from_model_bytes(const std::string& bytes,
                                                                const std::string& source,
                                                                int64_t extra_ids) {
  if (extra_ids < 0 || extra_ids > kMaxExtraIds) {
    throw FormatError(source + ": extra_ids must be between 0 and " + std::to_string(kMaxExtraIds) +
                      ", got " + std::to_string(extra_ids));
  }
  if (bytes.empty()) throw FormatError(source + ": empty file, not a SentencePiece model");
  auto model =
      std::make_shared<const UnigramTokenizerModel>(parse_sentencepiece_model(bytes, source), source);
  SentencePieceTokenizer tokenizer;
  tokenizer.source_ = source;
  tokenizer.n_pieces_ = model->size();
  tokenizer.extra_ids_ = extra_ids;
  if (model->eos_id() < 0) {
    throw FormatError(source + ": the model has no </s> piece (eos_id -1), which T5 appends to every input");
  }
  tokenizer.eos_id_ = model->eos_id();
  if (tokenizer.n_pieces_ + static_cast<size_t>(extra_ids) >
      static_cast<size_t>(std::numeric_limits<int32_t>::max())) {
    throw FormatError(source + ": " + std::to_string(tokenizer.n_pieces_) + " pieces are too many");
  }
  tokenizer.tokens_.reserve(tokenizer.n_pieces_ + static_cast<size_t>(extra_ids));
  for (size_t id = 0; id < tokenizer.n_pieces_; ++id) {
    const auto piece_id = static_cast<int32_t>(id);
    tokenizer.tokens_.push_back(model->piece(piece_id));
    const SentencePieceType type = model->type(piece_id);
    if (type == SentencePieceType::kControl || type == SentencePieceType::kUnknown) {
      tokenizer.special_.push_back(tokenizer.tokens_.back());
      tokenizer.special_ids_.push_back(piece_id);
    }
  }
  // <extra_id_0> is the last id: tokens_ continues with <extra_id_{extra_ids-1}>.
  for (int64_t n = extra_ids - 1; n >= 0; --n) tokenizer.tokens_.push_back(sentinel_name(n));
  for (int64_t n = 0; n < extra_ids; ++n) {
    tokenizer.special_.push_back(sentinel_name(n));
    tokenizer.special_ids_.push_back(tokenizer.sentinel_id(n));
  }
  tokenizer.model_ = std::move(model);
  return tokenizer;
}

int32_t SentencePieceTokenizer::sentinel_id(int64_t n) const {
  if (n < 0 || n >= extra_ids_) {
    throw InputError("sentinel <extra_id_" + std::to_string(n) + "> is out of range: the tokenizer has " +
                     std::to_string(extra_ids_));
  }
  return static_cast<int32_t>(static_cast<int64_t>(n_pieces_) + extra_ids_ - 1 - n);
}

bool SentencePieceTokenizer::is_special(int32_t id) const {
  token_at(tokens_, id);                                  // InputError for an id out of range
  if (static_cast<size_t>(id) >= n_pieces_) return true;  // a sentinel
  const SentencePieceType type = model_->type(id);
  return type == SentencePieceType::kControl || type == SentencePieceType::kUnknown;
}

std::vector<int32_t> SentencePieceTokenizer::text_ids(std::string_view text, size_t limit) const {
  if (const size_t bad = find_invalid_utf8(text); bad != std::string_view::npos) {
    throw InputError("invalid UTF-8 at byte " + std::to_string(bad));
  }
  // Cut at special tokens first (Hugging Face's added-token split), then strip the whitespace
  // around each sentinel (its AddedToken has lstrip and rstrip) before SentencePiece sees a stretch.
  struct Part {
    std::string_view text;
    size_t special = std::numeric_limits<size_t>::max();  // index into special_, or none for text
  };
  std::vector<Part> parts;
  split_at_added_tokens(
      text, special_,
      [&](std::string_view stretch) {
        parts.push_back({stretch});
        return true;
      },
      [&](size_t index) {
        parts.push_back({{}, index});
        return true;
      });
  const auto is_sentinel = [&](size_t i) {
    return i < parts.size() && parts[i].special < special_.size() &&
           static_cast<size_t>(special_ids_[parts[i].special]) >= n_pieces_;
  };
  std::vector<int32_t> ids;
  for (size_t i = 0; i < parts.size() && ids.size() <= limit; ++i) {
    if (parts[i].special < special_.size()) {
      ids.push_back(special_ids_[parts[i].special]);
      continue;
    }
    std::string_view stretch = parts[i].text;
    if (i > 0 && is_sentinel(i - 1)) stretch = strip_leading_whitespace(stretch);
    if (is_sentinel(i + 1)) stretch = strip_trailing_whitespace(stretch);
    if (stretch.empty()) continue;
    model_->encode(stretch, ids);
  }
  return ids;
}

std::vector<int32_t> SentencePieceTokenizer::token_ids(std::string_view text) const {
  return text_ids(text, std::numeric_limits<size_t>::max());
}

Encoding SentencePieceTokenizer::encode(std::string_view text, int64_t max_length) const {
  if (max_length < 0) {
    throw InputError("max_length " + std::to_string(max_length) +
                     " must be >= 1 (room for </s>), or 0 for no limit");
  }
  const size_t budget =
      max_length == 0 ? std::numeric_limits<size_t>::max() - 1 : static_cast<size_t>(max_length) - 1;
  std::vector<int32_t> ids = text_ids(text, budget);
  Encoding encoding;
  encoding.truncated = ids.size() > budget;
  if (encoding.truncated) ids.resize(budget);
  ids.push_back(eos_id_);
  encoding.type_ids.assign(ids.size(), 0);
  for (const int32_t id : ids) encoding.tokens.push_back(tokens_[static_cast<size_t>(id)]);
  encoding.ids = std::move(ids);
  return encoding;
}

Encoding SentencePieceTokenizer::encode_pair(std::string_view text, std::string_view pair,
                                             int64_t max_length) const {
  if (max_length < 0 || max_length == 1) {
    throw InputError("max_length " + std::to_string(max_length) +
                     " leaves no room for the two </s> of a pair (needs >= 2, or 0 for no limit)");
  }
  std::vector<int32_t> first = token_ids(text);
  std::vector<int32_t> second = token_ids(pair);
  Encoding encoding;
  if (max_length > 0) {
    const PairLengths kept = longest_first(first.size(), second.size(), static_cast<size_t>(max_length) - 2);
    encoding.truncated = kept.first < first.size() || kept.second < second.size();
    first.resize(kept.first);
    second.resize(kept.second);
  }
  first.push_back(eos_id_);
  first.insert(first.end(), second.begin(), second.end());
  first.push_back(eos_id_);
  encoding.type_ids.assign(first.size(), 0);
  for (const int32_t id : first) encoding.tokens.push_back(tokens_[static_cast<size_t>(id)]);
  encoding.ids = std::move(first);
  return encoding;
}

std::string SentencePieceTokenizer::decode(std::span<const int32_t> ids) const {
  std::vector<int32_t> pieces;
  pieces.reserve(ids.size());
  for (const int32_t id : ids) {
    if (!is_special(id)) pieces.push_back(id);
  }
  const std::string text = model_->decode(pieces);
  return std::string(strip_trailing_whitespace(strip_leading_whitespace(text)));
}

const std::string& SentencePieceTokenizer::token(int32_t id) const { return token_at(tokens_, id); }

}  // namespace latte
