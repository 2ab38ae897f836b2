#include "latte/layers/kv_cache.h"

#include <algorithm>
#include <string>

#include "latte/core/error.h"
#include "latte/prune/keep.h"

namespace latte {

void LayerCache::append(const float* keys, const float* values, int64_t stride, int64_t n,
                        std::span<const int64_t> positions) {
  if (width_ <= 0)
    throw Error("KV cache layer has width " + std::to_string(width_) + "; construct it with one");
  if (n < 0 || static_cast<int64_t>(positions.size()) != n) {
    throw InputError("KV cache append of " + std::to_string(n) + " rows got " +
                     std::to_string(positions.size()) + " positions");
  }
  if (n == 0) return;
  if (stride < width_) {
    throw InputError("KV cache append: row stride " + std::to_string(stride) + " is below the cache width " +
                     std::to_string(width_));
  }
  if (keys == nullptr || values == nullptr)
    throw InputError("KV cache append of " + std::to_string(n) + " rows without keys or values");
  int64_t previous = positions_.empty() ? -1 : positions_.back();
  for (int64_t r = 0; r < n; ++r) {
    const int64_t position = positions[static_cast<size_t>(r)];
    if (position <= previous) {
      throw Error("KV cache append: row " + std::to_string(r) + " has position " + std::to_string(position) +
                  ", not above " + std::to_string(previous) + " (positions must ascend for the causal mask)");
    }
    previous = position;
  }
  // Grow to at least twice the capacity: a decode step appends one row, and growing to exactly
  // the new size would copy the whole cache every step.
  const size_t needed = keys_.size() + static_cast<size_t>(n * width_);
  if (needed > keys_.capacity()) reserve(std::max<int64_t>(rows() + n, 2 * capacity()));
  for (int64_t r = 0; r < n; ++r) {
    keys_.insert(keys_.end(), keys + r * stride, keys + r * stride + width_);
    values_.insert(values_.end(), values + r * stride, values + r * stride + width_);
  }
  positions_.insert(positions_.end(), positions.begin(), positions.end());
}

void LayerCache::keep(std::span<const int64_t> kept) {
  int64_t previous = -1;
  for (size_t i = 0; i < kept.size(); ++i) {
    if (kept[i] <= previous || kept[i] >= rows()) {
      throw Error("KV cache keep: entry " + std::to_string(i) + " is row " + std::to_string(kept[i]) +
                  "; rows must ascend and lie below " + std::to_string(rows()));
    }
    previous = kept[i];
  }
  compact_rows(keys_.data(), width_, kept);
  compact_rows(values_.data(), width_, kept);
  keys_.resize(kept.size() * static_cast<size_t>(width_));
  values_.resize(kept.size() * static_cast<size_t>(width_));
  compact_values(positions_, kept);
}

void LayerCache::reserve(int64_t rows) {
  if (rows < 0) throw InputError("KV cache reserve of " + std::to_string(rows) + " rows");
  const size_t floats = static_cast<size_t>(rows) * static_cast<size_t>(width_);
  keys_.reserve(floats);
  values_.reserve(floats);
  positions_.reserve(static_cast<size_t>(rows));
}

void LayerCache::clear() {
  keys_.clear();
  values_.clear();
  positions_.clear();
}

}  // namespace latte
