#include "unigram.h"

#include <algorithm>
#include <cstring>
#include <limits>
#include <optional>
#include <stdexcept>
#include <unordered_set>

#include "latte/core/error.h"

namespace latte {
namespace {

constexpr std::string_view kSpaceSymbol = "\xE2\x96\x81";  // ▁
constexpr std::string_view kReplacementCharacter = "\xEF\xBF\xBD";
constexpr float kUnknownPenalty = 10.0f;  // unigram_model.cc's kUnkPenalty

// One protobuf message, field by field (wire format only, no schema).
class WireReader {
 public:
  explicit WireReader(std::string_view bytes) : bytes_(bytes) {}

  struct Field {
    uint64_t number = 0;
    uint64_t wire_type = 0;
    uint64_t value = 0;      // varint, fixed32 and fixed64 fields
    std::string_view bytes;  // length-delimited fields
  };

  // The next field; nullopt at the end. Throws std::out_of_range on a malformed message.
  std::optional<Field> next() {
    if (pos_ >= bytes_.size()) return std::nullopt;
    const uint64_t key = varint();
    Field field{key >> 3, key & 7};
    switch (field.wire_type) {
      case 0:
        field.value = varint();
        break;
      case 1:
        field.value = fixed(8);
        break;
      case 2: {
        const uint64_t length = varint();
        if (length > bytes_.size() - pos_) throw std::out_of_range("length past the end");
        field.bytes = bytes_.substr(pos_, length);
        pos_ += length;
        break;
      }
      case 5:
        field.value = fixed(4);
        break;
      default:  // groups (3, 4) are not used by SentencePiece models; 6 and 7 do not exist
        throw std::out_of_range("wire type " + std::to_string(field.wire_type));
    }
    if (field.number == 0) throw std::out_of_range("field number 0");
    return field;
  }

 private:
  uint64_t varint() {
    uint64_t value = 0;
    for (int shift = 0; shift < 64 && pos_ < bytes_.size(); shift += 7) {
      const auto byte = static_cast<unsigned char>(bytes_[pos_++]);
      value |= uint64_t{byte & 0x7Fu} << shift;
      if ((byte & 0x80) == 0) return value;
    }
    throw std::out_of_range("truncated varint");
  }
  uint64_t fixed(size_t count) {
    if (count > bytes_.size() - pos_) throw std::out_of_range("field past the end");
    uint64_t value = 0;
    for (size_t i = 0; i < count; ++i)
      value |= uint64_t{static_cast<unsigned char>(bytes_[pos_ + i])} << (8 * i);
    pos_ += count;
    return value;
  }

  std::string_view bytes_;
  size_t pos_ = 0;
};

// A field's value checked against the wire type the schema gives it.
uint64_t varint_of(const WireReader::Field& field) {
  if (field.wire_type != 0)
    throw std::out_of_range("field " + std::to_string(field.number) + " is no varint");
  return field.value;
}
std::string_view bytes_of(const WireReader::Field& field) {
  if (field.wire_type != 2)
    throw std::out_of_range("field " + std::to_string(field.number) + " is no string");
  return field.bytes;
}

SentencePieceModelProto::Piece parse_piece(std::string_view bytes) {
  SentencePieceModelProto::Piece piece;
  WireReader reader(bytes);
  while (const auto field = reader.next()) {
    if (field->number == 1) {
      piece.text = std::string(bytes_of(*field));
    } else if (field->number == 2) {
      if (field->wire_type != 5) throw std::out_of_range("a piece's score is no float");
      const auto bits = static_cast<uint32_t>(field->value);
      std::memcpy(&piece.score, &bits, sizeof bits);
    } else if (field->number == 3) {
      const uint64_t type = varint_of(*field);
      if (type < 1 || type > 6) throw std::out_of_range("piece type " + std::to_string(type));
      piece.type = static_cast<SentencePieceType>(type);
    }
  }
  return piece;
}

void parse_trainer_spec(std::string_view bytes, SentencePieceModelProto& proto) {
  WireReader reader(bytes);
  while (const auto field = reader.next()) {
    switch (field->number) {
      case 3:
        proto.model_type = static_cast<int>(std::min<uint64_t>(varint_of(*field), 1000));
        break;
      case 24:
        proto.treat_whitespace_as_suffix = varint_of(*field) != 0;
        break;
      case 35:
        proto.byte_fallback = varint_of(*field) != 0;
        break;
      case 44:
        proto.unk_surface = std::string(bytes_of(*field));
        break;
      case 47:
        proto.eos_piece = std::string(bytes_of(*field));
        break;
      default:
        break;
    }
  }
}

// NormalizerSpec: the charsmap and three flags.
void parse_normalizer_spec(std::string_view bytes, std::string& charsmap, bool* add_dummy_prefix,
                           bool* remove_extra_whitespaces, bool* escape_whitespaces) {
  WireReader reader(bytes);
  while (const auto field = reader.next()) {
    if (field->number == 2) charsmap = std::string(bytes_of(*field));
    if (field->number == 3 && add_dummy_prefix) *add_dummy_prefix = varint_of(*field) != 0;
    if (field->number == 4 && remove_extra_whitespaces) *remove_extra_whitespaces = varint_of(*field) != 0;
    if (field->number == 5 && escape_whitespaces) *escape_whitespaces = varint_of(*field) != 0;
  }
}

uint32_t little_endian_u32(std::string_view bytes, size_t at) {
  uint32_t value = 0;
  for (size_t i = 0; i < 4; ++i) value |= uint32_t{static_cast<unsigned char>(bytes[at + i])} << (8 * i);
  return value;
}

// darts-clone's unit encoding, as DoubleArray::commonPrefixSearch reads it.
size_t unit_offset(uint32_t u) { return size_t{u >> 10} << ((u & (1u << 9)) >> 6); }
bool unit_has_leaf(uint32_t u) { return ((u >> 8) & 1) != 0; }
uint32_t unit_label(uint32_t u) { return u & ((1u << 31) | 0xFF); }
uint32_t unit_value(uint32_t u) { return u & ((1u << 31) - 1); }

// Bytes of the UTF-8 character text starts with (SentencePiece's OneCharLen, by the lead byte).
size_t one_char_length(std::string_view text) {
  static constexpr unsigned char kLength[16] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 3, 4};
  return std::min<size_t>(kLength[static_cast<unsigned char>(text[0]) >> 4], text.size());
}

// Length of the valid UTF-8 character text starts with, or 0 (SentencePiece's
// IsValidDecodeUTF8: shortest form, no surrogates, at most U+10FFFF).
size_t valid_char_length(std::string_view text) {
  const auto byte = [&](size_t i) { return static_cast<unsigned char>(text[i]); };
  const unsigned char lead = byte(0);
  if (lead < 0x80) return 1;
  size_t length = 0;
  uint32_t code = 0;
  if (lead >= 0xC2 && lead <= 0xDF) {
    length = 2, code = lead & 0x1F;
  } else if (lead >= 0xE0 && lead <= 0xEF) {
    length = 3, code = lead & 0x0F;
  } else if (lead >= 0xF0 && lead <= 0xF4) {
    length = 4, code = lead & 0x07;
  } else {
    return 0;
  }
  if (text.size() < length) return 0;
  for (size_t i = 1; i < length; ++i) {
    if ((byte(i) & 0xC0) != 0x80) return 0;
    code = code << 6 | (byte(i) & 0x3F);
  }
  const bool shortest = (length == 3 && code >= 0x800) || (length == 4 && code >= 0x10000) || length == 2;
  if (!shortest || (code >= 0xD800 && code <= 0xDFFF) || code > 0x10FFFF) return 0;
  return length;
}

// The byte a piece <0xXX> stands for, or -1.
int byte_of_piece(std::string_view piece) {
  if (piece.size() != 6 || !piece.starts_with("<0x") || piece.back() != '>') return -1;
  int value = 0;
  for (const char c : piece.substr(3, 2)) {
    const int digit = c >= '0' && c <= '9' ? c - '0' : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
    if (digit < 0) return -1;
    value = value * 16 + digit;
  }
  return value;
}

std::string replace_space_symbols(std::string_view piece) {
  std::string text;
  text.reserve(piece.size());
  for (size_t pos = 0; pos < piece.size();) {
    if (piece.substr(pos, kSpaceSymbol.size()) == kSpaceSymbol) {
      text += ' ';
      pos += kSpaceSymbol.size();
    } else {
      text += piece[pos++];
    }
  }
  return text;
}

}  // namespace

// The layout (normalizer.cc): uint32 trie size, the darts-clone trie (uint32 units), then the
// replacement strings, each ended by NUL, which a trie leaf's value indexes.
std::string PrecompiledCharsmap::problem(std::string_view charsmap) {
  if (charsmap.size() < 4) return "its precompiled_charsmap is shorter than its header";
  const size_t trie_bytes = little_endian_u32(charsmap, 0);
  if (trie_bytes == 0 || trie_bytes % 4 != 0 || trie_bytes > charsmap.size() - 4) {
    return "its precompiled_charsmap's trie size " + std::to_string(trie_bytes) + " does not fit the map";
  }
  const std::string_view trie = charsmap.substr(4, trie_bytes);
  const std::string_view strings = charsmap.substr(4 + trie_bytes);
  if (strings.empty() || strings.back() != '\0') {
    return "its precompiled_charsmap's replacement strings do not end with NUL";
  }
  const size_t n_units = trie_bytes / 4;
  const auto unit = [&](size_t index) { return little_endian_u32(trie, 4 * index); };
  // Every node a lookup can reach: from a node at `p`, the next input byte c reads unit p ^ c
  // whatever c is, so the node's whole 256-unit block must lie in the array.
  std::vector<bool> seen(n_units, false);
  std::vector<size_t> pending = {unit_offset(unit(0))};
  while (!pending.empty()) {
    const size_t node = pending.back();
    pending.pop_back();
    if ((node | 0xFF) >= n_units) return "its precompiled_charsmap's trie points outside itself";
    if (seen[node]) continue;
    seen[node] = true;
    for (uint32_t c = 0; c < 256; ++c) {
      const uint32_t u = unit(node ^ c);
      if (unit_label(u) != c) continue;
      const size_t child = (node ^ c) ^ unit_offset(u);
      if (child >= n_units) return "its precompiled_charsmap's trie points outside itself";
      if (unit_has_leaf(u) && unit_value(unit(child)) >= strings.size()) {
        return "its precompiled_charsmap's trie points past its replacement strings";
      }
      pending.push_back(child);
    }
  }
  return "";
}

PrecompiledCharsmap::PrecompiledCharsmap(std::string_view charsmap) {
  const size_t trie_bytes = little_endian_u32(charsmap, 0);
  trie_ = std::string(charsmap.substr(4, trie_bytes));
  strings_ = std::string(charsmap.substr(4 + trie_bytes));
}

std::pair<std::string_view, size_t> PrecompiledCharsmap::match(std::string_view text, bool shortest) const {
  if (trie_.empty()) return {{}, 0};
  // darts-clone's commonPrefixSearch: every rule that is a prefix of text, shortest first.
  const auto unit = [&](size_t index) { return little_endian_u32(trie_, 4 * index); };
  size_t node = unit_offset(unit(0));
  size_t length = 0;
  uint32_t value = 0;
  for (size_t i = 0; i < text.size(); ++i) {
    const auto c = static_cast<unsigned char>(text[i]);
    node ^= c;
    const uint32_t u = unit(node);
    if (unit_label(u) != c) break;
    node ^= unit_offset(u);
    if (unit_has_leaf(u)) {
      length = i + 1;
      value = unit_value(unit(node));
      if (shortest) break;
    }
  }
  if (length == 0) return {{}, 0};
  return {std::string_view(strings_.data() + value), length};  // NUL-ended (checked on load)
}

std::pair<std::string_view, size_t> PrecompiledCharsmap::longest_match(std::string_view text) const {
  return match(text, false);
}

std::optional<std::string_view> PrecompiledCharsmap::shortest_match(std::string_view text) const {
  const auto [replacement, length] = match(text, true);
  if (length == 0) return std::nullopt;
  return replacement;
}

SentencePieceModelProto parse_sentencepiece_model(std::string_view bytes, const std::string& source) {
  SentencePieceModelProto proto;
  try {
    WireReader reader(bytes);
    while (const auto field = reader.next()) {
      if (field->number == 1) {
        proto.pieces.push_back(parse_piece(bytes_of(*field)));
      } else if (field->number == 2) {
        parse_trainer_spec(bytes_of(*field), proto);
      } else if (field->number == 3) {
        parse_normalizer_spec(bytes_of(*field), proto.precompiled_charsmap, &proto.add_dummy_prefix,
                              &proto.remove_extra_whitespaces, &proto.escape_whitespaces);
      } else if (field->number == 5) {
        parse_normalizer_spec(bytes_of(*field), proto.denormalizer_charsmap, nullptr, nullptr, nullptr);
      }
    }
  } catch (const std::out_of_range&) {
    throw FormatError(source +
                      ": not a valid SentencePiece model: the bytes do not parse as one (truncated, or "
                      "another kind of file)");
  }
  return proto;
}

UnigramTokenizerModel::UnigramTokenizerModel(SentencePieceModelProto proto, const std::string& source) {
  const std::string prefix = source + ": not a valid SentencePiece model: ";
  const std::string unsupported = source + ": ";
  if (proto.pieces.empty()) throw FormatError(prefix + "it has no pieces");
  if (proto.model_type != 1) {
    static constexpr const char* kTypes[] = {"", "Unigram", "BPE", "word", "char"};
    const std::string type = proto.model_type >= 2 && proto.model_type <= 4
                                 ? std::string(kTypes[proto.model_type])
                                 : "type " + std::to_string(proto.model_type);
    throw FormatError(unsupported + "a SentencePiece " + type +
                      " model; latte runs Unigram models (T5's, mT5's), whose model_type is 1");
  }
  if (proto.treat_whitespace_as_suffix) {
    throw FormatError(unsupported +
                      "treat_whitespace_as_suffix is not supported (T5 and mT5 models do not set it)");
  }
  if (!proto.denormalizer_charsmap.empty()) {
    throw FormatError(unsupported +
                      "denormalisation rules (denormalizer_spec.precompiled_charsmap) are not supported");
  }
  if (!proto.precompiled_charsmap.empty()) {
    if (const std::string problem = PrecompiledCharsmap::problem(proto.precompiled_charsmap);
        !problem.empty()) {
      throw FormatError(prefix + problem);
    }
    charsmap_ = PrecompiledCharsmap(proto.precompiled_charsmap);
  }
  if (proto.pieces.size() > static_cast<size_t>(std::numeric_limits<int32_t>::max())) {
    throw FormatError(prefix + "too many pieces");
  }
  // ModelInterface::InitializePieces: normal, user-defined and unused pieces share one
  // namespace, control, unknown and byte pieces another.
  std::unordered_set<std::string_view> normal_names, reserved_names;
  std::vector<std::string_view> trie_pieces, user_pieces;
  std::vector<int32_t> trie_ids, user_ids;
  byte_ids_.assign(256, -1);
  min_score_ = std::numeric_limits<double>::max();
  max_score_ = std::numeric_limits<float>::lowest();
  for (size_t i = 0; i < proto.pieces.size(); ++i) {
    const auto& piece = proto.pieces[i];
    const auto id = static_cast<int32_t>(i);
    if (piece.text.empty()) throw FormatError(prefix + "piece " + std::to_string(i) + " is empty");
    if (piece.text.find('\0') != std::string::npos) {
      throw FormatError(prefix + "piece " + std::to_string(i) + " holds a NUL byte");
    }
    const bool normal = piece.type == SentencePieceType::kNormal ||
                        piece.type == SentencePieceType::kUserDefined ||
                        piece.type == SentencePieceType::kUnused;
    if (!(normal ? normal_names : reserved_names).insert(piece.text).second) {
      throw FormatError(prefix + "piece " + std::to_string(i) + " '" + piece.text + "' is defined twice");
    }
    if (normal) {
      trie_pieces.push_back(piece.text);
      trie_ids.push_back(id);
    }
    if (piece.type == SentencePieceType::kUserDefined) {
      user_pieces.push_back(piece.text);
      user_ids.push_back(id);
    }
    if (piece.type == SentencePieceType::kNormal) {
      min_score_ = std::min(min_score_, static_cast<double>(piece.score));
      max_score_ = std::max(max_score_, piece.score);
    }
    if (piece.type == SentencePieceType::kUnknown) {
      if (unk_id_ >= 0) throw FormatError(prefix + "it has two unknown pieces");
      unk_id_ = id;
    }
    if (piece.type == SentencePieceType::kByte) {
      const int byte = byte_of_piece(piece.text);
      if (byte < 0) throw FormatError(prefix + "byte piece " + std::to_string(i) + " is not <0xXX>");
      byte_ids_[static_cast<size_t>(byte)] = id;
    }
    if (piece.type == SentencePieceType::kControl && piece.text == proto.eos_piece) eos_id_ = id;
  }
  if (unk_id_ < 0) throw FormatError(prefix + "it has no unknown piece");
  if (min_score_ > max_score_) min_score_ = max_score_ = 0.0f;  // no normal pieces
  for (const auto& piece : proto.pieces) scores_.push_back(piece.score);
  trie_ = PieceTrie(trie_pieces, trie_ids);
  has_user_defined_ = !user_pieces.empty();
  if (has_user_defined_) user_defined_ = PieceTrie(user_pieces, user_ids);
  byte_fallback_ = proto.byte_fallback;
  add_dummy_prefix_ = proto.add_dummy_prefix;
  remove_extra_whitespaces_ = proto.remove_extra_whitespaces;
  escape_whitespaces_ = proto.escape_whitespaces;
  unk_surface_ = proto.unk_surface;
  pieces_ = std::move(proto.pieces);
}

std::pair<std::string_view, size_t> UnigramTokenizerModel::normalize_prefix(std::string_view text) const {
  if (has_user_defined_) {
    // A user-defined symbol passes unnormalised (Normalizer::NormalizePrefix's matcher).
    const auto [id, length] = user_defined_.longest_prefix(text, [](size_t) { return true; });
    if (id >= 0) return {text.substr(0, length), length};
  }
  if (const auto [replacement, length] = charsmap_.longest_match(text); length > 0) {
    return {replacement, length};
  }
  const size_t length = valid_char_length(text);
  if (length == 0) return {kReplacementCharacter, 1};
  return {text.substr(0, length), length};
}

std::string UnigramTokenizerModel::normalize(std::string_view text) const {
  // Normalizer::Normalize (no alignment kept).
  if (remove_extra_whitespaces_) {
    while (!text.empty()) {
      const auto [normalized, consumed] = normalize_prefix(text);
      if (normalized != " ") break;
      text.remove_prefix(consumed);
    }
  }
  std::string out;
  if (text.empty()) return out;
  out.reserve(text.size() * 3);
  const std::string_view space = escape_whitespaces_ ? kSpaceSymbol : std::string_view(" ");
  if (add_dummy_prefix_) out += space;
  bool previous_space = remove_extra_whitespaces_;
  while (!text.empty()) {
    auto [normalized, consumed] = normalize_prefix(text);
    while (previous_space && normalized.starts_with(' ')) normalized.remove_prefix(1);
    if (!normalized.empty()) {
      for (const char c : normalized) {
        if (escape_whitespaces_ && c == ' ') {
          out += kSpaceSymbol;
        } else {
          out += c;
        }
      }
      previous_space = normalized.ends_with(' ');
    }
    text.remove_prefix(consumed);
    if (!remove_extra_whitespaces_) previous_space = false;
  }
  if (remove_extra_whitespaces_) {
    while (out.ends_with(space)) out.erase(out.size() - space.size());
  }
  return out;
}

void UnigramTokenizerModel::encode(std::string_view text, std::vector<int32_t>& ids,
                                   std::vector<std::string>* surfaces) const {
  if (huggingface_) {
    segment(text, ids, surfaces);
  } else {
    segment(normalize(text), ids, surfaces);
  }
}

void UnigramTokenizerModel::segment(std::string_view normalized, std::vector<int32_t>& ids,
                                    std::vector<std::string>* surfaces) const {
  const size_t size = normalized.size();
  if (size == 0) return;
  // unigram_model.cc's EncodeOptimized (tokenizers' encode_optimized is a port): the best path
  // ending at each byte, in float for SentencePiece as there, in double for tokenizers.
  struct Best {
    int32_t id = -1;
    double score = 0.0;
    int64_t starts_at = -1;
  };
  std::vector<Best> best(size + 1);
  const auto stored = [&](double score) { return huggingface_ ? score : static_cast<float>(score); };
  const double unknown_score = huggingface_ ? min_score_ - static_cast<double>(kUnknownPenalty)
                                            : static_cast<float>(min_score_) - kUnknownPenalty;
  const std::string_view view = normalized;
  for (size_t starts_at = 0; starts_at < size;) {
    const double base = best[starts_at].score;
    const size_t char_length = one_char_length(view.substr(starts_at));
    bool has_single_node = false;
    trie_.each_prefix(view.substr(starts_at), [&](int32_t id, size_t length) {
      const SentencePieceType type = pieces_[static_cast<size_t>(id)].type;
      if (type == SentencePieceType::kUnused) return;
      Best& target = best[starts_at + length];
      // A user-defined symbol gets a bonus that always selects it. SentencePiece adds in double
      // (its score expression is double) and stores a float: ties break as there.
      const double score = type == SentencePieceType::kUserDefined
                               ? static_cast<double>(static_cast<float>(length) * max_score_) - 0.1
                               : scores_[static_cast<size_t>(id)];
      // SentencePiece compares the unrounded sum with the stored float.
      const double candidate = score + base;
      if (target.starts_at == -1 || candidate > target.score) {
        target = {id, stored(candidate), static_cast<int64_t>(starts_at)};
      }
      if (length == char_length) has_single_node = true;
    });
    if (!has_single_node) {
      Best& target = best[starts_at + char_length];
      const double candidate = stored(unknown_score + base);
      if (target.starts_at == -1 || candidate > target.score) {
        target = {unk_id_, candidate, static_cast<int64_t>(starts_at)};
      }
    }
    starts_at += char_length;
  }
  struct Node {
    int32_t id;
    size_t begin, end;
  };
  std::vector<Node> path;
  for (size_t ends_at = size; ends_at > 0;) {
    const Best& node = best[ends_at];
    const auto begin = static_cast<size_t>(node.starts_at);
    // A run of unknown pieces is one piece (as SentencePieceProcessor returns it).
    if (node.id == unk_id_ && !path.empty() && path.back().id == unk_id_) {
      path.back().begin = begin;
    } else {
      path.push_back({node.id, begin, ends_at});
    }
    ends_at = begin;
  }
  const auto push = [&](int32_t id, std::string_view surface) {
    ids.push_back(id);
    if (surfaces) surfaces->emplace_back(surface);
  };
  for (auto node = path.rbegin(); node != path.rend(); ++node) {
    const std::string_view run = view.substr(node->begin, node->end - node->begin);
    if (node->id != unk_id_) {
      push(node->id, run);
      continue;
    }
    if (huggingface_) {
      // tokenizers' Unigram::tokenize: the fused run by name, then its bytes only if all exist.
      const auto [id, length] = trie_.longest_prefix(run, [&](size_t n) { return n == run.size(); });
      const bool all_bytes = byte_fallback_ && std::all_of(run.begin(), run.end(), [&](char c) {
                               return byte_ids_[static_cast<unsigned char>(c)] >= 0;
                             });
      if (id >= 0) {
        push(id, run);
      } else if (all_bytes) {
        for (const char c : run) {
          const int32_t byte_id = byte_ids_[static_cast<unsigned char>(c)];
          push(byte_id, pieces_[static_cast<size_t>(byte_id)].text);
        }
      } else {
        push(unk_id_, run);
      }
    } else if (byte_fallback_) {
      for (const char c : run) {
        const int32_t byte_id = byte_ids_[static_cast<unsigned char>(c)];
        push(byte_id >= 0 ? byte_id : unk_id_, std::string_view(&c, 1));
      }
    } else {
      push(unk_id_, run);
    }
  }
}

UnigramTokenizerModel UnigramTokenizerModel::from_vocab(std::vector<std::pair<std::string, double>> vocab,
                                                        int32_t unk_id, bool byte_fallback) {
  UnigramTokenizerModel model;
  model.huggingface_ = true;
  model.unk_id_ = unk_id;
  model.byte_fallback_ = byte_fallback;
  model.byte_ids_.assign(256, -1);
  model.min_score_ = std::numeric_limits<double>::infinity();
  std::vector<std::string_view> names;
  std::vector<int32_t> ids;
  model.pieces_.reserve(vocab.size());
  for (auto& [piece, score] : vocab) {
    model.pieces_.push_back({std::move(piece), static_cast<float>(score), SentencePieceType::kNormal});
    model.scores_.push_back(score);
    model.min_score_ = std::min(model.min_score_, score);
  }
  for (size_t i = 0; i < model.pieces_.size(); ++i) {
    const auto id = static_cast<int32_t>(i);
    names.push_back(model.pieces_[i].text);
    ids.push_back(id);
    // A piece named twice is the later one, as tokenizers' token_to_ids keeps it.
    if (const int byte = byte_of_piece(model.pieces_[i].text); byte >= 0)
      model.byte_ids_[static_cast<size_t>(byte)] = id;
  }
  model.trie_ = PieceTrie(names, ids);
  return model;
}

std::string UnigramTokenizerModel::decode(std::span<const int32_t> ids) const {
  std::string text;
  bool at_start = true;  // the first ▁ of the text is the dummy prefix
  std::string bytes;     // a run of byte pieces
  const auto flush_bytes = [&] {
    for (size_t pos = 0; pos < bytes.size();) {
      const size_t length = valid_char_length(std::string_view(bytes).substr(pos));
      if (length == 0) {
        text += kReplacementCharacter;
        pos += 1;
      } else {
        text.append(bytes, pos, length);
        pos += length;
      }
    }
    if (!bytes.empty()) at_start = false;
    bytes.clear();
  };
  for (const int32_t id : ids) {
    const auto& piece = pieces_[static_cast<size_t>(id)];
    if (piece.type == SentencePieceType::kByte) {
      bytes += static_cast<char>(byte_of_piece(piece.text));
      continue;
    }
    flush_bytes();
    if (piece.type == SentencePieceType::kControl) continue;
    if (piece.type == SentencePieceType::kUnknown) {
      text += unk_surface_;
      at_start = text.empty();
      continue;
    }
    std::string_view surface = piece.text;
    if (at_start && add_dummy_prefix_ && surface.starts_with(kSpaceSymbol))
      surface.remove_prefix(kSpaceSymbol.size());
    text += replace_space_symbols(surface);
    if (!text.empty()) at_start = false;
  }
  flush_bytes();
  return text;
}

}  // namespace latte
