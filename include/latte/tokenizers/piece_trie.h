// A vocabulary as a byte trie: WordPiece's greedy longest match, Unigram's Viterbi candidates.
// Looking a piece up by hashing every candidate substring costs (longest piece)^2 bytes per position, which a
// crafted vocabulary with a 20 kB token turns into seconds per word; walking the trie costs at most one step
// per byte of the longest piece.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace latte {

class PieceTrie {
 public:
  PieceTrie() = default;
  // `pieces[i]` has id `ids[i]`; a piece listed twice keeps its largest id (as Hugging Face's
  // vocabulary loading keeps the last line).
  PieceTrie(const std::vector<std::string_view>& pieces, const std::vector<int32_t>& ids);

  // The id and byte length of the longest piece that is a prefix of `text` and whose length
  // `boundary` accepts (WordPiece only cuts at character boundaries); {-1, 0} when none.
  std::pair<int32_t, size_t> longest_prefix(std::string_view text,
                                            const std::function<bool(size_t)>& boundary) const;
  // Calls visit(id, length) for every piece that is a prefix of `text`, shortest first.
  template <typename Visit>
  void each_prefix(std::string_view text, Visit&& visit) const;

 private:
  struct Node {
    int32_t id = -1;  // -1: no piece ends here
    uint32_t first_edge = 0;
    uint32_t edge_count = 0;
  };
  struct Edge {
    unsigned char byte = 0;
    uint32_t child = 0;
  };

  std::vector<Node> nodes_;
  std::vector<Edge> edges_;  // each node's edges are contiguous and sorted by byte

  // The child of `node` along `byte`, or -1.
  int64_t child(uint32_t node, unsigned char byte) const;
};

template <typename Visit>
void PieceTrie::each_prefix(std::string_view text, Visit&& visit) const {
  if (nodes_.empty()) return;
  uint32_t node = 0;
  for (size_t length = 0; length < text.size();) {
    const int64_t next = child(node, static_cast<unsigned char>(text[length]));
    if (next < 0) return;
    node = static_cast<uint32_t>(next);
    ++length;
    if (nodes_[node].id >= 0) visit(nodes_[node].id, length);
  }
}

}  // namespace latte
