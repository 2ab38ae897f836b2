#include "added_tokens.h"

#include <vector>

#include "latte/core/error.h"
#include "latte/tokenizers/bert_tokenizer.h"

namespace latte {

void split_at_added_tokens(std::string_view text, std::span<const std::string> added,
                           const std::function<bool(std::string_view)>& on_text,
                           const std::function<bool(size_t)>& on_added) {
  constexpr size_t npos = std::string_view::npos;
  // The next match of each token at or after the cursor, found again only once passed.
  std::vector<size_t> next_match(added.size(), npos);
  for (size_t i = 0; i < added.size(); ++i) {
    if (!added[i].empty()) next_match[i] = text.find(added[i]);
  }
  size_t cursor = 0;
  while (cursor < text.size()) {
    size_t best = npos;
    for (size_t i = 0; i < added.size(); ++i) {
      if (next_match[i] != npos && next_match[i] < cursor) next_match[i] = text.find(added[i], cursor);
      if (next_match[i] == npos) continue;
      if (best == npos || next_match[i] < next_match[best] ||
          (next_match[i] == next_match[best] && added[i].size() > added[best].size())) {
        best = i;
      }
    }
    const size_t segment_end = best == npos ? text.size() : next_match[best];
    if (segment_end > cursor && !on_text(text.substr(cursor, segment_end - cursor))) return;
    if (best == npos || !on_added(best)) return;
    cursor = segment_end + added[best].size();
  }
}

std::vector<int32_t> ids_around_added_tokens(
    std::string_view text, std::span<const std::string> added, size_t limit,
    const std::function<int32_t(size_t)>& added_id,
    const std::function<void(std::string_view, std::vector<int32_t>&)>& append_segment) {
  if (const size_t bad = find_invalid_utf8(text); bad != std::string_view::npos) {
    throw InputError("invalid UTF-8 at byte " + std::to_string(bad));
  }
  std::vector<int32_t> ids;
  split_at_added_tokens(
      text, added,
      [&](std::string_view segment) {
        append_segment(segment, ids);
        return ids.size() < limit;
      },
      [&](size_t index) {
        ids.push_back(added_id(index));
        return ids.size() < limit;
      });
  if (ids.size() > limit) ids.resize(limit);
  return ids;
}

}  // namespace latte
