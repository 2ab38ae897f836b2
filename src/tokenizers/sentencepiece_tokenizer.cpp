#include "latte/tokenizers/sentencepiece_tokenizer.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <nlohmann/json.hpp>
#include <unordered_set>

#include "added_tokens.h"
#include "latte/core/error.h"
#include "latte/io/json_file.h"
#include "latte/io/read_file.h"
#include "latte/tokenizers/bert_tokenizer.h"
#include "metaspace_pipeline.h"
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

// Length of the code point at text[pos] if it is whitespace, else 0: by Python's str.isspace
// (what Hugging Face's slow tokenizer strips around sentinels), or with `unicode` by Unicode's
// White_Space (the Rust regex \s tokenizers strips around added tokens), which leaves out
// U+001C..U+001F. text is valid UTF-8.
size_t whitespace_at(std::string_view text, size_t pos, bool unicode) {
  const auto byte = [&](size_t i) { return static_cast<unsigned char>(text[pos + i]); };
  const unsigned char lead = byte(0);
  if (lead < 0x80) {
    return (lead >= 0x09 && lead <= 0x0D) || lead == 0x20 || (!unicode && lead >= 0x1C && lead <= 0x1F) ? 1
                                                                                                        : 0;
  }
  if (lead == 0xC2 && pos + 1 < text.size()) return byte(1) == 0x85 || byte(1) == 0xA0 ? 2 : 0;
  if ((lead == 0xE1 || lead == 0xE2 || lead == 0xE3) && pos + 2 < text.size()) {
    const uint32_t code = (uint32_t{lead} & 0x0F) << 12 | (uint32_t{byte(1)} & 0x3F) << 6 | (byte(2) & 0x3F);
    const bool space = code == 0x1680 || (code >= 0x2000 && code <= 0x200A) || code == 0x2028 ||
                       code == 0x2029 || code == 0x202F || code == 0x205F || code == 0x3000;
    return space ? 3 : 0;
  }
  return 0;
}

std::string_view strip_leading_whitespace(std::string_view text, bool unicode = false) {
  size_t pos = 0;
  while (pos < text.size()) {
    const size_t length = whitespace_at(text, pos, unicode);
    if (length == 0) break;
    pos += length;
  }
  return text.substr(pos);
}

std::string_view strip_trailing_whitespace(std::string_view text, bool unicode = false) {
  // Whitespace code points are at most 3 bytes: try each length ending at the end.
  for (bool stripped = true; stripped && !text.empty();) {
    stripped = false;
    for (size_t length = 1; length <= std::min<size_t>(3, text.size()); ++length) {
      if (whitespace_at(text, text.size() - length, unicode) == length) {
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
    const fs::path tokenizer_json = model_dir / "tokenizer.json";
    // T5TokenizerFast's file alone; with both, spiece.model is read (the slow tokenizer's).
    if (fs::exists(tokenizer_json))
      return from_tokenizer_json(read_json_file(tokenizer_json), tokenizer_json.string());
    std::string why =
        names_sentencepiece_tokenizer(model_dir) ? " (tokenizer_config.json names a T5 tokenizer)" : "";
    throw FormatError(model_path.string() + " is missing" + why + ", and there is no tokenizer.json");
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
    const bool special = type == SentencePieceType::kControl || type == SentencePieceType::kUnknown;
    tokenizer.is_special_.push_back(special);
    if (special) tokenizer.add_special(tokenizer.tokens_.back(), piece_id, false);
  }
  // <extra_id_0> is the last id: tokens_ continues with <extra_id_{extra_ids-1}>. Their
  // AddedTokens in the slow tokenizer have lstrip and rstrip.
  for (int64_t n = extra_ids - 1; n >= 0; --n) {
    tokenizer.tokens_.push_back(sentinel_name(n));
    tokenizer.is_special_.push_back(true);
  }
  for (int64_t n = 0; n < extra_ids; ++n)
    tokenizer.add_special(sentinel_name(n), tokenizer.sentinel_id(n), true);
  tokenizer.model_ = std::move(model);
  return tokenizer;
}

void SentencePieceTokenizer::add_special(const std::string& content, int32_t id, bool strip) {
  special_.push_back(content);
  special_ids_.push_back(id);
  strip_left_.push_back(strip);
  strip_right_.push_back(strip);
}

SentencePieceTokenizer SentencePieceTokenizer::from_tokenizer_json(const json& root,
                                                                   const std::string& source) {
  const auto fail = [&](const std::string& field, const std::string& why) {
    return FormatError(source + ": field '" + field + "' " + why);
  };
  if (!root.is_object() || !root.contains("model") || !root["model"].is_object()) {
    throw fail("model", "must be an object");
  }
  const json& model = root["model"];
  if (!model.contains("type") || model["type"] != "Unigram") throw fail("model.type", "must be \"Unigram\"");
  if (!model.contains("vocab") || !model["vocab"].is_array() || model["vocab"].empty()) {
    throw fail("model.vocab", "must be a non-empty list of [piece, score]");
  }
  const json& entries = model["vocab"];
  if (entries.size() > static_cast<size_t>(std::numeric_limits<int32_t>::max())) {
    throw fail("model.vocab", "has too many pieces");
  }
  std::vector<std::pair<std::string, double>> vocab;
  vocab.reserve(entries.size());
  for (size_t i = 0; i < entries.size(); ++i) {
    const json& entry = entries[i];
    const std::string field = "model.vocab[" + std::to_string(i) + "]";
    if (!entry.is_array() || entry.size() != 2 || !entry[0].is_string() || !entry[1].is_number()) {
      throw fail(field, "must be [piece, score]: a string and a number");
    }
    const double score = entry[1].get<double>();
    if (!std::isfinite(score)) throw fail(field, "has a score that is not a finite number");
    std::string piece = entry[0].get<std::string>();
    if (piece.empty() || find_invalid_utf8(piece) != std::string_view::npos) {
      throw fail(field, "must have a non-empty UTF-8 piece");
    }
    vocab.emplace_back(std::move(piece), score);
  }
  const auto n_vocab = static_cast<int64_t>(vocab.size());
  const json& unk = model.contains("unk_id") ? model["unk_id"] : json();
  if (!unk.is_number_integer() || unk.get<int64_t>() < 0 || unk.get<int64_t>() >= n_vocab) {
    throw fail("model.unk_id", "must be an id in [0, " + std::to_string(n_vocab) + "), got " + unk.dump());
  }
  const auto unk_id = static_cast<int32_t>(unk.get<int64_t>());
  bool byte_fallback = false;
  if (model.contains("byte_fallback") && !model["byte_fallback"].is_null()) {
    if (!model["byte_fallback"].is_boolean()) throw fail("model.byte_fallback", "must be true or false");
    byte_fallback = model["byte_fallback"].get<bool>();
  }

  SentencePieceTokenizer tokenizer;
  tokenizer.source_ = source;
  tokenizer.pipeline_ = std::make_shared<const MetaspacePipeline>(MetaspacePipeline::from_json(root, source));
  for (const auto& [piece, score] : vocab) tokenizer.tokens_.push_back(piece);
  tokenizer.is_special_.assign(vocab.size(), false);

  // Added tokens: matched whole in the text; latte takes those T5TokenizerFast writes, each at the
  // id of the vocabulary piece it names.
  const json& added = root.contains("added_tokens") ? root["added_tokens"] : json::array();
  if (!added.is_array()) throw fail("added_tokens", "must be a list");
  std::unordered_set<std::string> special_contents;
  std::map<int64_t, int32_t> sentinels;  // N of <extra_id_N> -> id
  for (size_t i = 0; i < added.size(); ++i) {
    const json& token = added[i];
    const std::string field = "added_tokens[" + std::to_string(i) + "]";
    if (!token.is_object() || !token.contains("id") || !token["id"].is_number_integer() ||
        !token.contains("content") || !token["content"].is_string()) {
      throw fail(field, "must be an object with an integer id and a string content");
    }
    const int64_t id = token["id"].get<int64_t>();
    const std::string& content = token["content"].get_ref<const std::string&>();
    if (id < 0 || id >= n_vocab) {
      throw fail(field + ".id",
                 "is " + std::to_string(id) + ", outside the model's " + std::to_string(n_vocab) + " pieces");
    }
    if (content != tokenizer.tokens_[static_cast<size_t>(id)]) {
      throw fail(field, "says '" + content + "' has id " + std::to_string(id) +
                            ", but the vocabulary's piece " + std::to_string(id) + " is '" +
                            tokenizer.tokens_[static_cast<size_t>(id)] + "'");
    }
    const auto flag = [&](const char* key, bool fallback) {
      if (!token.contains(key) || token[key].is_null()) return fallback;
      if (!token[key].is_boolean()) throw fail(field + "." + key, "must be true or false");
      return token[key].get<bool>();
    };
    if (flag("single_word", false))
      throw fail(field + ".single_word", "true is not supported (T5's are false)");
    const bool special = flag("special", false);
    if (flag("normalized", !special)) {
      throw fail(field + ".normalized", "true is not supported (T5's added tokens are matched unnormalised)");
    }
    tokenizer.special_.push_back(content);
    tokenizer.special_ids_.push_back(static_cast<int32_t>(id));
    tokenizer.strip_left_.push_back(flag("lstrip", false));
    tokenizer.strip_right_.push_back(flag("rstrip", false));
    if (special) special_contents.insert(content);
    if (is_sentinel_name(content)) {
      const std::string digits =
          content.substr(kSentinelPrefix.size(), content.size() - kSentinelPrefix.size() - 1);
      if (digits.size() <= 9) sentinels[std::stoll(digits)] = static_cast<int32_t>(id);
    }
  }
  // What decode drops: every piece spelled like a special added token (tokenizers compares text).
  for (size_t id = 0; id < vocab.size(); ++id) {
    tokenizer.is_special_[id] = special_contents.contains(tokenizer.tokens_[id]);
  }
  // Sentinels: <extra_id_0> .. <extra_id_{N-1}> at the top, <extra_id_0> last (T5Converter.vocab).
  tokenizer.extra_ids_ = static_cast<int64_t>(sentinels.size());
  if (tokenizer.extra_ids_ > kMaxExtraIds)
    throw fail("added_tokens", "has more than " + std::to_string(kMaxExtraIds) + " sentinels");
  tokenizer.n_pieces_ = vocab.size() - sentinels.size();
  for (const auto& [n, id] : sentinels) {
    const int64_t expected = n_vocab - 1 - n;
    if (n >= tokenizer.extra_ids_ || id != expected) {
      throw fail("added_tokens", "has <extra_id_" + std::to_string(n) + "> at id " + std::to_string(id) +
                                     ", but T5's " + std::to_string(tokenizer.extra_ids_) +
                                     " sentinels are the last ids, <extra_id_" + std::to_string(n) + "> at " +
                                     std::to_string(expected));
    }
  }
  tokenizer.eos_id_ = t5_template_eos(root, tokenizer, source);
  tokenizer.model_ = std::make_shared<const UnigramTokenizerModel>(
      UnigramTokenizerModel::from_vocab(std::move(vocab), unk_id, byte_fallback));
  return tokenizer;
}

int32_t SentencePieceTokenizer::t5_template_eos(const json& root, const SentencePieceTokenizer& tokenizer,
                                                const std::string& source) {
  const json& processor = root.contains("post_processor") ? root["post_processor"] : json();
  const std::string expected =
      "must be T5's TemplateProcessing: single [$A, </s>], pair [$A, </s>, $B, </s>]";
  if (!processor.is_object() || processor.value("type", json()) != "TemplateProcessing") {
    throw FormatError(source + ": field 'post_processor' " + expected);
  }
  // The end token the single template appends, found again in the pair template.
  const auto piece = [](const json& item, const char* kind) -> const json* {
    if (!item.is_object() || !item.contains(kind) || !item[kind].is_object()) return nullptr;
    const json& inner = item[kind];
    if (!inner.contains("id") || !inner["id"].is_string() || inner.value("type_id", json(0)) != 0)
      return nullptr;
    return &inner["id"];
  };
  const json& single = processor.contains("single") ? processor["single"] : json();
  const json& pair = processor.contains("pair") ? processor["pair"] : json();
  const json* end = single.is_array() && single.size() == 2 ? piece(single[1], "SpecialToken") : nullptr;
  const bool single_ok =
      end != nullptr && piece(single[0], "Sequence") && *piece(single[0], "Sequence") == "A";
  const bool pair_ok = single_ok && pair.is_array() && pair.size() == 4 && piece(pair[0], "Sequence") &&
                       *piece(pair[0], "Sequence") == "A" && piece(pair[1], "SpecialToken") &&
                       *piece(pair[1], "SpecialToken") == *end && piece(pair[2], "Sequence") &&
                       *piece(pair[2], "Sequence") == "B" && piece(pair[3], "SpecialToken") &&
                       *piece(pair[3], "SpecialToken") == *end;
  if (!pair_ok) throw FormatError(source + ": field 'post_processor' " + expected);
  const std::string& name = end->get_ref<const std::string&>();
  const json& specials = processor.contains("special_tokens") ? processor["special_tokens"] : json();
  const json* ids = specials.is_object() && specials.contains(name) && specials[name].is_object() &&
                            specials[name].contains("ids")
                        ? &specials[name]["ids"]
                        : nullptr;
  const auto found = std::find(tokenizer.special_.begin(), tokenizer.special_.end(), name);
  if (found == tokenizer.special_.end()) {
    throw FormatError(source + ": field 'post_processor' appends '" + name +
                      "', which is not in added_tokens");
  }
  const int32_t eos_id = tokenizer.special_ids_[static_cast<size_t>(found - tokenizer.special_.begin())];
  if (ids == nullptr || *ids != json::array({eos_id})) {
    throw FormatError(source + ": field 'post_processor.special_tokens." + name + ".ids' must be [" +
                      std::to_string(eos_id) + "], the id of '" + name + "' in added_tokens" +
                      (ids ? ", got " + ids->dump() : ""));
  }
  return eos_id;
}

int32_t SentencePieceTokenizer::sentinel_id(int64_t n) const {
  if (n < 0 || n >= extra_ids_) {
    throw InputError("sentinel <extra_id_" + std::to_string(n) + "> is out of range: the tokenizer has " +
                     std::to_string(extra_ids_));
  }
  return static_cast<int32_t>(static_cast<int64_t>(n_pieces_) + extra_ids_ - 1 - n);
}

bool SentencePieceTokenizer::is_special(int32_t id) const {
  token_at(tokens_, id);  // InputError for an id out of range
  return is_special_[static_cast<size_t>(id)];
}

std::vector<int32_t> SentencePieceTokenizer::text_ids(std::string_view text, size_t limit,
                                                      std::vector<std::string>* surfaces) const {
  if (const size_t bad = find_invalid_utf8(text); bad != std::string_view::npos) {
    throw InputError("invalid UTF-8 at byte " + std::to_string(bad));
  }
  // Cut at added tokens first (Hugging Face's added-token split), then strip the whitespace that
  // goes with each (lstrip, rstrip: the slow tokenizer's sentinels, a tokenizer.json's flags)
  // before the model sees a stretch.
  struct Part {
    std::string_view text;
    size_t special = std::numeric_limits<size_t>::max();  // index into special_, or none for text
  };
  std::vector<Part> parts;
  size_t offset = 0;
  split_at_added_tokens(
      text, special_,
      [&](std::string_view stretch) {
        parts.push_back({stretch});
        offset += stretch.size();
        return true;
      },
      [&](size_t index) {
        parts.push_back({text.substr(offset, special_[index].size()), index});
        offset += special_[index].size();
        return true;
      });
  const bool unicode = pipeline_ != nullptr;
  const auto strips = [&](size_t i, const std::vector<bool>& flags) {
    return i < parts.size() && parts[i].special < special_.size() && flags[parts[i].special];
  };
  std::vector<int32_t> ids;
  for (size_t i = 0; i < parts.size() && ids.size() <= limit; ++i) {
    if (parts[i].special < special_.size()) {
      ids.push_back(special_ids_[parts[i].special]);
      if (surfaces) surfaces->emplace_back(parts[i].text);
      continue;
    }
    std::string_view stretch = parts[i].text;
    if (i > 0 && strips(i - 1, strip_right_)) {
      const std::string_view kept = strip_leading_whitespace(stretch, unicode);
      // tokenizers' token is the matched text with the whitespace it took.
      if (surfaces) surfaces->back() += stretch.substr(0, stretch.size() - kept.size());
      stretch = kept;
    }
    std::string_view taken_by_next;
    if (strips(i + 1, strip_left_)) {
      const std::string_view kept = strip_trailing_whitespace(stretch, unicode);
      taken_by_next = stretch.substr(kept.size());
      stretch = kept;
    }
    if (!stretch.empty()) {
      if (pipeline_) {
        const bool at_start = stretch.data() == text.data();
        for (const std::string& piece : pipeline_->pre_tokens(stretch, at_start))
          model_->encode(piece, ids, surfaces);
      } else {
        model_->encode(stretch, ids);
      }
    }
    if (!taken_by_next.empty()) {
      parts[i + 1].text =
          std::string_view(taken_by_next.data(), taken_by_next.size() + parts[i + 1].text.size());
    }
  }
  return ids;
}

std::vector<int32_t> SentencePieceTokenizer::token_ids(std::string_view text) const {
  return text_ids(text, std::numeric_limits<size_t>::max());
}

Encoding SentencePieceTokenizer::finish_encoding(std::vector<int32_t> ids,
                                                 std::vector<std::string> surfaces) const {
  Encoding encoding;
  encoding.type_ids.assign(ids.size(), 0);
  if (pipeline_) {
    encoding.tokens = std::move(surfaces);
  } else {
    for (const int32_t id : ids) encoding.tokens.push_back(tokens_[static_cast<size_t>(id)]);
  }
  encoding.ids = std::move(ids);
  return encoding;
}

Encoding SentencePieceTokenizer::encode(std::string_view text, int64_t max_length) const {
  if (max_length < 0) {
    throw InputError("max_length " + std::to_string(max_length) +
                     " must be >= 1 (room for </s>), or 0 for no limit");
  }
  const size_t budget =
      max_length == 0 ? std::numeric_limits<size_t>::max() - 1 : static_cast<size_t>(max_length) - 1;
  std::vector<std::string> surfaces;
  std::vector<int32_t> ids = text_ids(text, budget, &surfaces);
  const bool truncated = ids.size() > budget;
  if (truncated) ids.resize(budget);
  surfaces.resize(std::min(surfaces.size(), ids.size()));
  ids.push_back(eos_id_);
  surfaces.push_back(tokens_[static_cast<size_t>(eos_id_)]);
  Encoding encoding = finish_encoding(std::move(ids), std::move(surfaces));
  encoding.truncated = truncated;
  return encoding;
}

Encoding SentencePieceTokenizer::encode_pair(std::string_view text, std::string_view pair,
                                             int64_t max_length) const {
  if (max_length < 0 || max_length == 1) {
    throw InputError("max_length " + std::to_string(max_length) +
                     " leaves no room for the two </s> of a pair (needs >= 2, or 0 for no limit)");
  }
  constexpr size_t kAll = std::numeric_limits<size_t>::max();
  std::vector<std::string> first_surfaces, second_surfaces;
  std::vector<int32_t> first = text_ids(text, kAll, &first_surfaces);
  std::vector<int32_t> second = text_ids(pair, kAll, &second_surfaces);
  bool truncated = false;
  if (max_length > 0) {
    const PairLengths kept = longest_first(first.size(), second.size(), static_cast<size_t>(max_length) - 2);
    truncated = kept.first < first.size() || kept.second < second.size();
    first.resize(kept.first);
    second.resize(kept.second);
  }
  first_surfaces.resize(std::min(first_surfaces.size(), first.size()));
  second_surfaces.resize(std::min(second_surfaces.size(), second.size()));
  const std::string& eos = tokens_[static_cast<size_t>(eos_id_)];
  first.push_back(eos_id_);
  first.insert(first.end(), second.begin(), second.end());
  first.push_back(eos_id_);
  first_surfaces.push_back(eos);
  first_surfaces.insert(first_surfaces.end(), second_surfaces.begin(), second_surfaces.end());
  first_surfaces.push_back(eos);
  Encoding encoding = finish_encoding(std::move(first), std::move(first_surfaces));
  encoding.truncated = truncated;
  return encoding;
}

std::string SentencePieceTokenizer::decode(std::span<const int32_t> ids) const {
  std::vector<int32_t> pieces;
  pieces.reserve(ids.size());
  for (const int32_t id : ids) {
    if (!is_special(id)) pieces.push_back(id);
  }
  if (pipeline_) {
    std::vector<std::string_view> tokens;
    for (const int32_t id : pieces) tokens.push_back(tokens_[static_cast<size_t>(id)]);
    return pipeline_->decode(tokens);
  }
  const std::string text = model_->decode(pieces);
  return std::string(strip_trailing_whitespace(strip_leading_whitespace(text)));
}

const std::string& SentencePieceTokenizer::token(int32_t id) const { return token_at(tokens_, id); }

}  // namespace latte
