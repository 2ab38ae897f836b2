// Per-layer key/value cache of a decoder (DESIGN.md section 1, "Per family"): for one sequence,
// the keys and values of exactly the rows that entered each layer's attention, with their
// original positions. ACC elimination in the prefill leaves later layers fewer rows, so their
// caches are shorter: every decode step reads less and the cache takes less memory.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

namespace latte {

class LayerCache {
 public:
  LayerCache() = default;
  // width: floats per row of keys (and of values), n_kv_heads * head_dim.
  explicit LayerCache(int64_t width) : width_(width) {}

  int64_t width() const { return width_; }
  int64_t rows() const { return static_cast<int64_t>(positions_.size()); }
  const float* keys() const { return keys_.data(); }      // [rows, width]
  const float* values() const { return values_.data(); }  // [rows, width]
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
  int64_t capacity() const { return width_ > 0 ? static_cast<int64_t>(keys_.capacity()) / width_ : 0; }
  void clear();
  // Bytes of the keys and values held (rows x width x 2 floats), not of spare capacity.
  size_t bytes() const { return static_cast<size_t>(rows() * width_) * 2 * sizeof(float); }

 private:
  int64_t width_ = 0;
  std::vector<float> keys_;
  std::vector<float> values_;
  std::vector<int64_t> positions_;
};

// A decoder's cache for one sequence: one LayerCache per layer.
struct KvCache {
  std::vector<LayerCache> layers;

  KvCache() = default;
  KvCache(int64_t n_layers, int64_t width) : layers(static_cast<size_t>(n_layers), LayerCache(width)) {}
  // Room for `extra_rows` more rows in every layer: decode steps then never copy the cache.
  void reserve_more(int64_t extra_rows) {
    for (LayerCache& layer : layers) layer.reserve(layer.rows() + extra_rows);
  }
  size_t bytes() const {
    size_t total = 0;
    for (const LayerCache& layer : layers) total += layer.bytes();
    return total;
  }
};

}  // namespace latte
