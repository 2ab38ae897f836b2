// Per-layer key/value cache of a decoder (DESIGN.md section 1, "Per family"): for one sequence,
// the keys and values of exactly the rows that entered each layer's attention, with their
// original positions. ACC elimination in the prefill leaves later layers fewer rows, so their
// caches are shorter: every decode step reads less and the cache takes less memory.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <vector>

namespace latte {

class LayerCache {
 public:
  LayerCache() = default;
  // width: floats per row of keys (and of values), n_kv_heads * head_dim. With head_dim < width
  // the cache is head-major: each key/value head's rows form a block of their own
  // ([n_kv_heads, capacity, head_dim]), so attention over the cache reads every head's keys and
  // values front to back (a decode step is bound by that read). head_dim = width (the default)
  // keeps rows whole ([capacity, width]). InputError unless head_dim divides width.
  explicit LayerCache(int64_t width, int64_t head_dim = 0);
  // Copies hold the same rows (and capacity); moves take the buffers.
  LayerCache(const LayerCache& other);
  LayerCache& operator=(const LayerCache& other);
  LayerCache(LayerCache&&) = default;
  LayerCache& operator=(LayerCache&&) = default;

  int64_t width() const { return width_; }
  int64_t head_dim() const { return head_dim_; }
  int64_t rows() const { return static_cast<int64_t>(positions_.size()); }
  // Keys and values of head 0; head h starts head_stride() floats further (0: heads side by side
  // in a row); row r of a head is row_stride() floats after row 0.
  const float* keys() const { return keys_.get(); }
  const float* values() const { return values_.get(); }
  int64_t row_stride() const { return head_dim_ == width_ ? width_ : head_dim_; }
  int64_t head_stride() const { return head_dim_ == width_ ? 0 : capacity_ * head_dim_; }
  // Element `column` (< width) of row `row`'s key or value, whatever the layout.
  float key(int64_t row, int64_t column) const { return keys_[offset(row, column)]; }
  float value(int64_t row, int64_t column) const { return values_[offset(row, column)]; }
  std::span<const int64_t> positions() const { return positions_; }

  // Appends n rows read `stride` floats apart; positions ascending and above the last cached
  // one (Error otherwise: the causal mask relies on it). InputError for a stride below width()
  // or a positions count other than n; Error on a cache built without a width. Nothing is
  // appended when a check fails.
  void append(const float* keys, const float* values, int64_t stride, int64_t n,
              std::span<const int64_t> positions);
  // Keeps only the rows at `kept` (ascending indices into the cached rows; Error otherwise).
  void keep(std::span<const int64_t> kept);
  // Room for `rows` rows in all without reallocating (a prefill's rows plus the decode steps to
  // come); appends grow the cache geometrically anyway. InputError for a negative count.
  void reserve(int64_t rows);
  int64_t capacity() const { return capacity_; }
  void clear();
  // Bytes of the keys and values held (rows x width x 2 floats), not of spare capacity.
  size_t bytes() const { return static_cast<size_t>(rows() * width_) * 2 * sizeof(float); }

 private:
  size_t offset(int64_t row, int64_t column) const {
    const int64_t head = column / head_dim_;
    return static_cast<size_t>(head * head_stride() + row * row_stride() + column % head_dim_);
  }

  int64_t width_ = 0;
  int64_t head_dim_ = 0;
  int64_t capacity_ = 0;  // rows the buffers hold
  // [capacity, width] or [width / head_dim, capacity, head_dim]; only the rows held are written (a
  // long prompt's cache is not zeroed first: its pages are touched as its layers append to them).
  std::unique_ptr<float[]> keys_;
  std::unique_ptr<float[]> values_;
  std::vector<int64_t> positions_;
};

// A decoder's cache for one sequence: one LayerCache per layer.
struct KvCache {
  std::vector<LayerCache> layers;

  KvCache() = default;
  // head_dim < width: every layer head-major (see LayerCache).
  KvCache(int64_t n_layers, int64_t width, int64_t head_dim = 0)
      : layers(static_cast<size_t>(n_layers), LayerCache(width, head_dim)) {}
  // Room for `extra_rows` more rows in every layer: decode steps then never copy the cache.
  void reserve_more(int64_t extra_rows) {
    for (LayerCache& layer : layers) layer.reserve(layer.rows() + extra_rows);
  }
  size_t bytes() const {
    size_t total = 0;
    for (const LayerCache& layer : layers) total += layer.bytes();
    return total;
  }
  // What every layer would take holding `rows` rows: the cache of a pass that eliminated nothing.
  size_t dense_bytes(int64_t rows) const {
    if (layers.empty()) return 0;
    return static_cast<size_t>(layers[0].width()) * 2 * sizeof(float) * layers.size() *
           static_cast<size_t>(rows);
  }
};

}  // namespace latte
