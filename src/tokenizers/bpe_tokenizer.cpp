// Byte-level BPE as Hugging Face `tokenizers` runs GPT-2: added tokens cut out of the raw text,
// each stretch split by GPT-2's regex, each piece's bytes mapped to printable symbols
// (bytes_to_unicode) and merged by rank, lowest first. Character classes come from utf8proc
// (Unicode 15), the reference's from Oniguruma; both are recent enough to agree on the text in
// tests/data/gpt2_tokenizer.
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

// Characters after an apostrophe that form one of 's 't 're 've 'm 'll 'd (case-sensitive, as
// GPT-2's regex), or 0.
size_t contraction_length(std::string_view rest) {
  if (rest.size() >= 2 && (rest.starts_with("re") || rest.starts_with("ve") || rest.starts_with("ll")))
    return 2;
  if (!rest.empty() && (rest[0] == 's' || rest[0] == 't' || rest[0] == 'm' || rest[0] == 'd')) return 1;
  return 0;
}

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
    if (id >= n_tokens || seen[static_cast<size_t>(id)] || token_ids_.contains(token)) {
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
  // GPT-2's files list no added tokens; Hugging Face registers <|endoftext|> as a special one.
  if (tokenizer.token_id(kEndOfText) >= 0) tokenizer.added_tokens_.emplace_back(kEndOfText);
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
    const json pre_tokenizer = field(root, "pre_tokenizer");
    if (field(pre_tokenizer, "type") != "ByteLevel") {
      throw unsupported(
          "pre_tokenizer " +
          (pre_tokenizer.is_null() ? std::string("null") : json_preview(field(pre_tokenizer, "type"))) +
          " (needs ByteLevel)");
    }
    if (field(pre_tokenizer, "use_regex") == false) throw unsupported("pre_tokenizer.use_regex=false");
    if (!field(root, "normalizer").is_null()) throw unsupported("a normalizer");
    // GPT-2's ByteLevel post-processor adds nothing; a template that adds tokens would not be
    // what encode() gives.
    if (const json processor = field(root, "post_processor");
        !processor.is_null() && field(processor, "type") != "ByteLevel") {
      throw unsupported("post_processor " + json_preview(field(processor, "type")));
    }
    for (const char* key : {"dropout", "unk_token"}) {
      if (!field(model, key).is_null()) throw unsupported(std::string("model.") + key);
    }
    for (const char* key : {"continuing_subword_prefix", "end_of_word_suffix"}) {
      if (!field(model, key).is_null() && field(model, key) != "")
        throw unsupported(std::string("model.") + key);
    }
    for (const char* key : {"fuse_unk", "byte_fallback", "ignore_merges"}) {
      if (field(model, key) == true) throw unsupported(std::string("model.") + key + "=true");
    }

    ByteLevelBpeTokenizer tokenizer;
    tokenizer.source_ = source;
    tokenizer.add_prefix_space_ = field(pre_tokenizer, "add_prefix_space") == true;
    std::vector<std::pair<std::string, int64_t>> entries =
        vocab_entries(model.at("vocab"), source + ": model.vocab");
    const json added_tokens = field(root, "added_tokens");
    if (!added_tokens.is_null() && !added_tokens.is_array())
      throw FormatError(source + ": added_tokens must be an array");
    for (const json& added : added_tokens) {
      const std::string content = added.at("content").get<std::string>();
      const int64_t id = json_require_int(added, "id", source + ": added_tokens");
      // Only verbatim matching on the raw text is implemented: GPT-2's <|endoftext|> needs no more.
      for (const char* flag : {"lstrip", "rstrip", "single_word"}) {
        if (added.value(flag, false)) throw unsupported("added token " + content + " with " + flag + "=true");
      }
      const auto in_vocab = model["vocab"].find(content);
      if (in_vocab == model["vocab"].end()) {
        entries.emplace_back(content, id);
      } else if (*in_vocab != id) {
        throw FormatError(source + ": added token " + content + " has id " + std::to_string(id) +
                          " but model.vocab " + json_preview(*in_vocab));
      }
      tokenizer.added_tokens_.push_back(content);
    }
    tokenizer.set_tokens(std::move(entries), source + ": model.vocab");

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

int32_t ByteLevelBpeTokenizer::token_id(std::string_view token) const {
  const auto it = token_ids_.find(token);
  return it == token_ids_.end() ? -1 : it->second;
}

void ByteLevelBpeTokenizer::for_each_word(std::string_view text,
                                          const std::function<bool(std::string_view)>& on_word) {
  // Code points of text with their byte offsets (one past the last: text.size()).
  std::vector<size_t> offsets;
  std::vector<CharClass> classes;
  std::vector<char32_t> points;
  for (size_t pos = 0; pos < text.size();) {
    const auto [cp, length] = next_code_point(text, pos);
    offsets.push_back(pos);
    points.push_back(cp);
    classes.push_back(classify(cp));
    pos += length;
  }
  const size_t n = points.size();
  offsets.push_back(text.size());
  const auto run_end = [&](size_t from, CharClass run_class) {
    while (from < n && classes[from] == run_class) ++from;
    return from;
  };
  for (size_t start = 0; start < n;) {
    size_t end = 0;
    const size_t contraction =
        points[start] == '\'' ? contraction_length(text.substr(offsets[start] + 1)) : 0;
    if (contraction > 0) {
      end = start + 1 + contraction;  // 's 't 're 've 'm 'll 'd
    } else {
      // " ?\p{L}+", " ?\p{N}+" and " ?[^\s\p{L}\p{N}]+": an optional space, then a run of one class.
      const size_t first = points[start] == ' ' && start + 1 < n && classes[start + 1] != CharClass::kSpace
                               ? start + 1
                               : start;
      if (classes[first] != CharClass::kSpace) {
        end = run_end(first, classes[first]);
      } else {
        // "\s+(?!\S)" leaves the last space of a run for the word after it; "\s+" takes a lone one.
        const size_t spaces_end = run_end(start, CharClass::kSpace);
        end = spaces_end == n || spaces_end - start == 1 ? spaces_end : spaces_end - 1;
      }
    }
    if (!on_word(text.substr(offsets[start], offsets[end] - offsets[start]))) return;
    start = end;
  }
}

std::vector<int32_t> ByteLevelBpeTokenizer::merge_word(std::string_view word) const {
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
        if (add_prefix_space_ && !segment.starts_with(' ')) {
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
  Encoding encoding;
  // One token past the limit tells a cut text from one that fits exactly.
  const auto limit = static_cast<size_t>(max_length);
  encoding.ids = text_ids(text, max_length == 0 ? std::numeric_limits<size_t>::max() : limit + 1);
  encoding.truncated = max_length != 0 && encoding.ids.size() > limit;
  if (encoding.truncated) encoding.ids.resize(limit);
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
