#include "latte/layers/kv_cache.h"

#include <algorithm>
#include <string>

#include "latte/core/compact.h"
#include "latte/core/error.h"

namespace latte {

LayerCache::LayerCache(int64_t width, int64_t head_dim)
    : width_(width), head_dim_(head_dim > 0 ? head_dim : width) {
  if (width_ < 0 || (width_ > 0 && width_ % head_dim_ != 0)) {
    throw InputError("KV cache: head_dim " + std::to_string(head_dim) + " does not divide the width " +
                     std::to_string(width));
  }
}

LayerCache::LayerCache(const LayerCache& other) : width_(other.width_), head_dim_(other.head_dim_) {
  reserve(other.capacity_);
  const int64_t held = other.rows();
  for (int64_t column = 0; held > 0 && column < width_; column += head_dim_) {
    std::copy_n(other.keys_.get() + other.offset(0, column), held * row_stride(),
                keys_.get() + offset(0, column));
    std::copy_n(other.values_.get() + other.offset(0, column), held * row_stride(),
                values_.get() + offset(0, column));
  }
  positions_ = other.positions_;
}

LayerCache& LayerCache::operator=(const LayerCache& other) {
  if (this != &other) *this = LayerCache(other);
  return *this;
}

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
  if (rows() + n > capacity_) reserve(std::max<int64_t>(rows() + n, 2 * capacity_));
  const int64_t first = rows();
  for (int64_t r = 0; r < n; ++r) {
    for (int64_t column = 0; column < width_; column += head_dim_) {
      const size_t to = offset(first + r, column);
      std::copy_n(keys + r * stride + column, head_dim_, keys_.get() + to);
      std::copy_n(values + r * stride + column, head_dim_, values_.get() + to);
    }
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
  // Each head's block (one block of whole rows when row-major) keeps its rows in place.
  for (int64_t column = 0; column < width_; column += head_dim_) {
    compact_rows(keys_.get() + offset(0, column), row_stride(), kept);
    compact_rows(values_.get() + offset(0, column), row_stride(), kept);
  }
  compact_values(positions_, kept);
}

void LayerCache::reserve(int64_t rows) {
  if (rows < 0) throw InputError("KV cache reserve of " + std::to_string(rows) + " rows");
  positions_.reserve(static_cast<size_t>(rows));
  if (rows <= capacity_) return;
  // Moves each head's rows into a block of the new capacity.
  auto keys = std::make_unique_for_overwrite<float[]>(static_cast<size_t>(rows * width_));
  auto values = std::make_unique_for_overwrite<float[]>(static_cast<size_t>(rows * width_));
  const int64_t held = this->rows();
  for (int64_t column = 0; column < width_; column += head_dim_) {
    const size_t from = offset(0, column);
    const auto to = static_cast<size_t>(column / head_dim_ * rows * head_dim_);  // 0 when rows are whole
    std::copy_n(keys_.get() + from, held * row_stride(), keys.get() + to);
    std::copy_n(values_.get() + from, held * row_stride(), values.get() + to);
  }
  keys_ = std::move(keys);
  values_ = std::move(values);
  capacity_ = rows;
}

void LayerCache::clear() { positions_.clear(); }

}  // namespace latte
