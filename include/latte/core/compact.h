// In-place gathers of the rows that survive a step: elimination compacts a layer's hidden states,
// a KV cache its keys and values, each by an ascending list of kept row indices.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

namespace latte {

// rows[kept[i]] -> rows[i] for `data` holding rows of `row_width` floats; kept is ascending, so
// moving each row down never overwrites one still to be read.
void compact_rows(float* data, int64_t row_width, std::span<const int64_t> kept);

// The same for any per-row value (positions, ids).
template <typename T>
void compact_values(std::vector<T>& values, std::span<const int64_t> kept) {
  for (size_t target = 0; target < kept.size(); ++target)
    values[target] = values[static_cast<size_t>(kept[target])];
  values.resize(kept.size());
}

}  // namespace latte
