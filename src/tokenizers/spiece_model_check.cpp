#include "spiece_model_check.h"

#include <cstddef>
#include <cstdint>
#include <optional>
#include <vector>

#include "latte/core/error.h"

namespace latte {
namespace {

// Field numbers of sentencepiece_model.proto that hold a NormalizerSpec, and its charsmap.
constexpr uint64_t kNormalizerSpecField = 3;
constexpr uint64_t kDenormalizerSpecField = 5;
constexpr uint64_t kPrecompiledCharsmapField = 2;

// One protobuf message, field by field (wire format only, no schema).
class WireReader {
 public:
  explicit WireReader(std::string_view bytes) : bytes_(bytes) {}

  struct Field {
    uint64_t number;
    std::optional<std::string_view> bytes;  // set for length-delimited fields
  };

  // The next field; nullopt at the end. Throws std::out_of_range on a malformed message.
  std::optional<Field> next() {
    if (pos_ >= bytes_.size()) return std::nullopt;
    const uint64_t key = varint();
    const uint64_t wire_type = key & 7;
    Field field{key >> 3, std::nullopt};
    switch (wire_type) {
      case 0:
        varint();
        break;
      case 1:
        skip(8);
        break;
      case 2: {
        const uint64_t length = varint();
        if (length > bytes_.size() - pos_) throw std::out_of_range("length past the end");
        field.bytes = bytes_.substr(pos_, length);
        pos_ += length;
        break;
      }
      case 5:
        skip(4);
        break;
      default:  // groups (3, 4) are not used by SentencePiece models; 6 and 7 do not exist
        throw std::out_of_range("wire type " + std::to_string(wire_type));
    }
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
  void skip(size_t count) {
    if (count > bytes_.size() - pos_) throw std::out_of_range("field past the end");
    pos_ += count;
  }

  std::string_view bytes_;
  size_t pos_ = 0;
};

uint32_t little_endian_u32(std::string_view bytes, size_t at) {
  uint32_t value = 0;
  for (size_t i = 0; i < 4; ++i) value |= uint32_t{static_cast<unsigned char>(bytes[at + i])} << (8 * i);
  return value;
}

// Why the SentencePiece normaliser could read outside `charsmap`, or "" when it cannot. The
// layout (normalizer.cc): uint32 trie size, the darts-clone trie (uint32 units), then the
// replacement strings, each ended by NUL, which a trie leaf's value indexes.
std::string charsmap_problem(std::string_view charsmap) {
  if (charsmap.empty()) return "";  // no normalisation rules
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
  // darts-clone's unit encoding, as DoubleArray::commonPrefixSearch reads it.
  const size_t n_units = trie_bytes / 4;
  const auto unit = [&](size_t index) { return little_endian_u32(trie, 4 * index); };
  const auto offset = [](uint32_t u) { return size_t{u >> 10} << ((u & (1u << 9)) >> 6); };
  const auto has_leaf = [](uint32_t u) { return ((u >> 8) & 1) != 0; };
  const auto label = [](uint32_t u) { return u & ((1u << 31) | 0xFF); };
  const auto value = [](uint32_t u) { return u & ((1u << 31) - 1); };
  // Every node a lookup can reach: from a node at `p`, the next input byte c reads unit p ^ c
  // whatever c is, so the node's whole 256-unit block must lie in the array.
  std::vector<bool> seen(n_units, false);
  std::vector<size_t> pending = {offset(unit(0))};
  while (!pending.empty()) {
    const size_t node = pending.back();
    pending.pop_back();
    if ((node | 0xFF) >= n_units) return "its precompiled_charsmap's trie points outside itself";
    if (seen[node]) continue;
    seen[node] = true;
    for (uint32_t c = 0; c < 256; ++c) {
      const uint32_t u = unit(node ^ c);
      if (label(u) != c) continue;
      const size_t child = (node ^ c) ^ offset(u);
      if (child >= n_units) return "its precompiled_charsmap's trie points outside itself";
      if (has_leaf(u) && value(unit(child)) >= strings.size()) {
        return "its precompiled_charsmap's trie points past its replacement strings";
      }
      pending.push_back(child);
    }
  }
  return "";
}

}  // namespace

void check_precompiled_charsmaps(std::string_view model_bytes, const std::string& source) {
  const std::string prefix = source + ": not a valid SentencePiece model: ";
  std::string problem;
  try {
    WireReader model(model_bytes);
    while (problem.empty()) {
      const auto field = model.next();
      if (!field) break;
      const bool spec = field->number == kNormalizerSpecField || field->number == kDenormalizerSpecField;
      if (!spec || !field->bytes) continue;
      // Every charsmap is checked, not only the last one protobuf keeps: a superset is safe.
      WireReader normalizer(*field->bytes);
      while (const auto inner = normalizer.next()) {
        if (inner->number != kPrecompiledCharsmapField || !inner->bytes) continue;
        problem = charsmap_problem(*inner->bytes);
        if (!problem.empty()) break;
      }
    }
  } catch (const std::out_of_range&) {
    throw FormatError(prefix + "the bytes do not parse as one (truncated, or another kind of file)");
  }
  if (!problem.empty()) throw FormatError(prefix + problem);
}

}  // namespace latte
