#include "latte/tokenizers/tokenizer.h"

#include <limits>
#include <nlohmann/json.hpp>

#include "latte/core/error.h"
#include "latte/io/json_file.h"
#include "latte/tokenizers/bert_tokenizer.h"
#include "latte/tokenizers/bpe_tokenizer.h"
#include "latte/tokenizers/sentencepiece_tokenizer.h"

namespace latte {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

// The type string of object[key]["type"], or "" when there is none.
std::string type_of(const json& root, const char* key) {
  if (!root.is_object() || !root.contains(key) || !root[key].is_object()) return "";
  const json& type = root[key].contains("type") ? root[key]["type"] : json();
  return type.is_string() ? type.get<std::string>() : "";
}

// One step of decoding UTF-8 at text[pos]: a well-formed sequence (Unicode's table 3-7), or
// the maximal subpart of one that is not, or a well-formed start cut off by the end of text.
struct Utf8Step {
  size_t length;
  bool valid;
  bool truncated;
};

Utf8Step utf8_step(std::string_view text, size_t pos) {
  const auto lead = static_cast<unsigned char>(text[pos]);
  if (lead < 0x80) return {1, true, false};
  size_t need = 0;
  unsigned char low = 0x80, high = 0xBF;  // allowed range of the second byte
  if (lead >= 0xC2 && lead <= 0xDF) {
    need = 2;
  } else if (lead >= 0xE0 && lead <= 0xEF) {
    need = 3;
    if (lead == 0xE0) low = 0xA0;   // no overlong forms
    if (lead == 0xED) high = 0x9F;  // no surrogates
  } else if (lead >= 0xF0 && lead <= 0xF4) {
    need = 4;
    if (lead == 0xF0) low = 0x90;   // no overlong forms
    if (lead == 0xF4) high = 0x8F;  // nothing past U+10FFFF
  } else {
    return {1, false, false};
  }
  for (size_t i = 1; i < need; ++i) {
    if (pos + i >= text.size()) return {i, false, true};
    const auto byte = static_cast<unsigned char>(text[pos + i]);
    if (byte < (i == 1 ? low : 0x80) || byte > (i == 1 ? high : 0xBF)) return {i, false, false};
  }
  return {need, true, false};
}

constexpr std::string_view kReplacement = "\xEF\xBF\xBD";  // U+FFFD

}  // namespace

std::unique_ptr<Tokenizer> load_tokenizer(const std::filesystem::path& model_dir) {
  // Before tokenizer.json: Hugging Face writes a Unigram tokenizer.json beside T5's spiece.model.
  if (fs::exists(model_dir / "spiece.model") || names_sentencepiece_tokenizer(model_dir)) {
    return std::make_unique<SentencePieceTokenizer>(SentencePieceTokenizer::from_dir(model_dir));
  }
  const fs::path tokenizer_json = model_dir / "tokenizer.json";
  if (fs::exists(tokenizer_json)) {
    const json root = read_json_file(tokenizer_json);
    const std::string source = tokenizer_json.string();
    const std::string type = type_of(root, "model");
    if (type == "WordPiece") return std::make_unique<BertTokenizer>(BertTokenizer::from_dir(model_dir));
    if (type == "BPE") {
      // The pre-tokenizer (GPT-2's or Llama 3's) is checked there.
      return std::make_unique<ByteLevelBpeTokenizer>(
          ByteLevelBpeTokenizer::from_tokenizer_json(root, source));
    }
    if (type == "Unigram") {
      // T5TokenizerFast's file (the post-processor and pre-tokenizer are checked there).
      return std::make_unique<SentencePieceTokenizer>(
          SentencePieceTokenizer::from_tokenizer_json(root, source));
    }
    throw FormatError(source + ": model type '" + type +
                      "' is not supported (supported: WordPiece, BPE, Unigram)");
  }
  const bool has_vocab_json = fs::exists(model_dir / "vocab.json");
  const bool has_merges = fs::exists(model_dir / "merges.txt");
  if (has_vocab_json && has_merges) {
    return std::make_unique<ByteLevelBpeTokenizer>(
        ByteLevelBpeTokenizer::from_files(model_dir / "vocab.json", model_dir / "merges.txt"));
  }
  if (fs::exists(model_dir / "vocab.txt")) {
    return std::make_unique<BertTokenizer>(BertTokenizer::from_dir(model_dir));
  }
  std::string found;
  if (has_vocab_json) found = " (vocab.json is there but not merges.txt)";
  if (has_merges) found = " (merges.txt is there but not vocab.json)";
  throw FormatError(
      "no tokenizer in " + model_dir.string() +
      ": looked for tokenizer.json, vocab.json + merges.txt and vocab.txt, and T5's spiece.model" + found);
}

const std::string& Tokenizer::token_at(const std::vector<std::string>& tokens, int32_t id) {
  if (id < 0 || static_cast<size_t>(id) >= tokens.size()) {
    throw InputError("token id " + std::to_string(id) + " is out of range [0, " +
                     std::to_string(tokens.size()) + ")");
  }
  return tokens[static_cast<size_t>(id)];
}

Encoding encode_input(const Tokenizer& tokenizer, std::string_view text,
                      const std::optional<std::string>& text_pair, int64_t max_length,
                      const std::string& origin) {
  try {
    if (!text_pair) return tokenizer.encode(text, max_length);
    if (const auto* wordpiece = dynamic_cast<const BertTokenizer*>(&tokenizer)) {
      return wordpiece->encode_pair(text, *text_pair, max_length);
    }
    if (const auto* sentencepiece = dynamic_cast<const SentencePieceTokenizer*>(&tokenizer)) {
      return sentencepiece->encode_pair(text, *text_pair, max_length);
    }
    throw InputError("text pairs need a WordPiece or SentencePiece tokenizer; this model's is " +
                     std::string(tokenizer.kind()));
  } catch (const InputError& error) {
    throw InputError(origin + ": " + error.what());
  }
}

Encoding encode_input(const Tokenizer& tokenizer, std::string_view text,
                      const std::optional<std::string>& text_pair, Truncation& truncation,
                      const std::string& origin) {
  Encoding encoding = encode_input(tokenizer, text, text_pair, truncation.max_length, origin);
  ++truncation.inputs;
  if (!encoding.truncated) return encoding;
  if (truncation.refuse) {
    // Only a refused input pays for a second, unlimited encoding: its length goes in the message.
    const size_t length =
        encode_input(tokenizer, text, text_pair, std::numeric_limits<int64_t>::max(), origin).ids.size();
    throw InputError(origin + ": the input has " + std::to_string(length) + " tokens, more than the " +
                     std::to_string(truncation.max_length) + " taken, and truncation is off");
  }
  ++truncation.truncated;
  return encoding;
}

void check_tokenizer_fits(const Tokenizer& tokenizer, int64_t vocab_size,
                          const std::filesystem::path& config_file) {
  const auto tokens = static_cast<int64_t>(tokenizer.vocab_size());
  const bool too_many = tokens > vocab_size;
  // At most 10 % padding: 30,522 BERT tokens may sit in an embedding of up to 33,913 rows.
  const bool too_few = tokens * 10 < vocab_size * 9;
  if (!too_many && !too_few) return;
  throw FormatError(tokenizer.source() + " has " + std::to_string(tokens) + " tokens but " +
                    config_file.string() + " has vocab_size " + std::to_string(vocab_size) + ": " +
                    (too_many ? "token ids would run past the embedding"
                              : "the tokenizer is not this model's (at most 10 % of the embedding may be "
                                "padding)"));
}

std::string Utf8Stream::push(std::string_view bytes) {
  pending_.append(bytes);
  std::string text;
  size_t pos = 0;
  while (pos < pending_.size()) {
    const Utf8Step step = utf8_step(pending_, pos);
    if (step.truncated) break;  // may complete with the next push
    if (step.valid) {
      text.append(pending_, pos, step.length);
    } else {
      text += kReplacement;
    }
    pos += step.length;
  }
  pending_.erase(0, pos);
  return text;
}

std::string Utf8Stream::finish() {
  std::string text = push({});
  if (!pending_.empty()) text += kReplacement;
  pending_.clear();
  return text;
}

std::vector<int32_t> ids_with_tokens(const Tokenizer& tokenizer, std::span<const int32_t> ids) {
  std::vector<int32_t> kept;
  for (const int32_t id : ids) {
    if (id >= 0 && static_cast<size_t>(id) < tokenizer.vocab_size()) kept.push_back(id);
  }
  return kept;
}

std::string TokenTextStream::push(int32_t id) {
  if (id < 0 || static_cast<size_t>(id) >= tokenizer_->vocab_size()) return "";
  // Decoding a few tokens of context before the new ones, not the whole sequence, keeps each push
  // O(1): the tokenizers decode locally, and the context carries the space a piece starts with.
  constexpr size_t kContextTokens = 8;
  ids_.push_back(id);
  visible_.push_back(!tokenizer_->decode(std::span<const int32_t>(&id, 1)).empty());
  const std::string before = tokenizer_->decode(std::span<const int32_t>(ids_).first(n_context_));
  const std::string after = tokenizer_->decode(ids_);
  if (after.size() < before.size() || after.compare(0, before.size(), before) != 0) return "";
  std::string added = utf8_.push(std::string_view(after).substr(before.size()));
  // The context starts at a token with text of its own: one of only whitespace or specials (a run
  // of SentencePiece's lone ▁) decodes to nothing at the start, and the spaces after it would be
  // lost from the next difference.
  size_t start = ids_.size() > kContextTokens ? ids_.size() - kContextTokens : 0;
  while (start > 0 && !visible_[start]) --start;
  ids_.erase(ids_.begin(), ids_.begin() + static_cast<std::ptrdiff_t>(start));
  visible_.erase(visible_.begin(), visible_.begin() + static_cast<std::ptrdiff_t>(start));
  n_context_ = ids_.size();
  return added;
}

std::string TokenTextStream::finish() {
  std::string rest = utf8_.finish();
  ids_.clear();
  visible_.clear();
  n_context_ = 0;
  return rest;
}

}  // namespace latte
