#include "latte/tokenizers/piece_trie.h"

#include <algorithm>
#include <deque>
#include <numeric>

namespace latte {

PieceTrie::PieceTrie(const std::vector<std::string_view>& pieces, const std::vector<int32_t>& ids) {
  // Sorted, every node's pieces form one contiguous range whose members share the node's prefix;
  // breadth first (pieces may be 20 kB long: no recursion), each node's children are created
  // together, so its edges are contiguous.
  std::vector<size_t> order(pieces.size());
  std::iota(order.begin(), order.end(), size_t{0});
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    return pieces[a] != pieces[b] ? pieces[a] < pieces[b] : ids[a] < ids[b];
  });
  struct Range {
    size_t begin, end, depth;
    uint32_t node;
  };
  nodes_.push_back(Node{});
  std::deque<Range> pending = {{0, order.size(), 0, 0}};
  while (!pending.empty()) {
    const Range range = pending.front();
    pending.pop_front();
    size_t cursor = range.begin;
    // Pieces that end at this node sort first; the last of them has the largest id.
    while (cursor < range.end && pieces[order[cursor]].size() == range.depth) {
      nodes_[range.node].id = ids[order[cursor]];
      ++cursor;
    }
    nodes_[range.node].first_edge = static_cast<uint32_t>(edges_.size());
    while (cursor < range.end) {
      const unsigned char byte = static_cast<unsigned char>(pieces[order[cursor]][range.depth]);
      size_t group_end = cursor;
      while (group_end < range.end &&
             static_cast<unsigned char>(pieces[order[group_end]][range.depth]) == byte) {
        ++group_end;
      }
      const uint32_t child = static_cast<uint32_t>(nodes_.size());
      nodes_.push_back(Node{});
      edges_.push_back(Edge{byte, child});
      ++nodes_[range.node].edge_count;
      pending.push_back(Range{cursor, group_end, range.depth + 1, child});
      cursor = group_end;
    }
  }
}

std::pair<int32_t, size_t> PieceTrie::longest_prefix(std::string_view text,
                                                     const std::function<bool(size_t)>& boundary) const {
  std::pair<int32_t, size_t> best = {-1, 0};
  if (nodes_.empty()) return best;
  uint32_t node = 0;
  for (size_t length = 0;; ++length) {
    if (length > 0 && nodes_[node].id >= 0 && boundary(length)) best = {nodes_[node].id, length};
    if (length == text.size()) break;
    const int64_t next = child(node, static_cast<unsigned char>(text[length]));
    if (next < 0) break;
    node = static_cast<uint32_t>(next);
  }
  return best;
}

int64_t PieceTrie::child(uint32_t node, unsigned char byte) const {
  const Edge* first = edges_.data() + nodes_[node].first_edge;
  const Edge* last = first + nodes_[node].edge_count;
  const Edge* found = std::lower_bound(first, last, byte,
                                       [](const Edge& edge, unsigned char key) { return edge.byte < key; });
  return found == last || found->byte != byte ? -1 : int64_t{found->child};
}

}  // namespace latte
