#include "latte/core/attention.h"

#include <omp.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>

#include "latte/core/linear.h"

namespace latte {

namespace {

// Cephes-style expf: 2^n * p(r) with r = x - n ln2 in [-ln2/2, ln2/2].
inline float exp_approx(float x) {
  x = std::min(std::max(x, -87.3f), 88.3f);
  const float n = std::nearbyint(x * 1.44269504088896341f);
  float r = x - n * 0.693359375f;
  r = r - n * -2.12194440e-4f;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * r * r + r + 1.0f;
  const int32_t bits = (static_cast<int32_t>(n) + 127) << 23;
  return p * std::bit_cast<float>(bits);
}

// Softmax of row[0, valid) in place; entries past `valid` (causal future) become 0.
inline void softmax_prefix(float* row, int64_t valid, int64_t width) {
  float maximum = row[0];
  for (int64_t j = 1; j < valid; ++j) maximum = std::max(maximum, row[j]);
  float total = 0.0f;
#pragma omp simd reduction(+ : total)
  for (int64_t j = 0; j < valid; ++j) {
    row[j] = exp_approx(row[j] - maximum);
    total += row[j];
  }
  const float inverse = 1.0f / total;
#pragma omp simd
  for (int64_t j = 0; j < valid; ++j) row[j] *= inverse;
  for (int64_t j = valid; j < width; ++j) row[j] = 0.0f;
}

}  // namespace

void exp_inplace(float* x, int64_t count) {
#pragma omp simd
  for (int64_t i = 0; i < count; ++i) x[i] = exp_approx(x[i]);
}

void self_attention(const float* qkv, std::span<const int64_t> offsets, const AttentionShape& shape,
                    float* context, float* received, Arena& arena) {
  const int64_t n_sequences = static_cast<int64_t>(offsets.size()) - 1;
  if (n_sequences <= 0) return;
  const int64_t hidden = shape.n_heads * shape.head_dim;
  const int64_t qkv_stride = 3 * hidden;
  const int64_t total_rows = offsets.back();
  int64_t longest = 0;
  for (int64_t b = 0; b < n_sequences; ++b) longest = std::max(longest, offsets[b + 1] - offsets[b]);

  const int threads = omp_get_max_threads();
  float* probabilities = arena.allocate(static_cast<size_t>(threads * longest * longest));
  // Per-head scores, summed over heads afterwards in a fixed order (deterministic).
  float* head_received = received ? arena.allocate(static_cast<size_t>(shape.n_heads * total_rows)) : nullptr;
  const float scale = 1.0f / std::sqrt(static_cast<float>(shape.head_dim));
  const int64_t n_tasks = n_sequences * shape.n_heads;

#pragma omp parallel for schedule(dynamic, 1)
  for (int64_t task = 0; task < n_tasks; ++task) {
    const int64_t sequence = task / shape.n_heads;
    const int64_t head = task % shape.n_heads;
    const int64_t first = offsets[sequence];
    const int64_t length = offsets[sequence + 1] - first;
    if (length == 0) continue;
    float* scores = probabilities + static_cast<int64_t>(omp_get_thread_num()) * longest * longest;
    const float* query = qkv + first * qkv_stride + head * shape.head_dim;
    const float* key = query + hidden;
    const float* value = query + 2 * hidden;
    // scores[length, length] = scale * Q K^T
    sgemm(true, length, length, shape.head_dim, scale, query, qkv_stride, key, qkv_stride, 0.0f, scores,
          length);
    for (int64_t i = 0; i < length; ++i) {
      softmax_prefix(scores + i * length, shape.causal ? i + 1 : length, length);
    }
    // context rows of this head = P V
    sgemm(false, length, shape.head_dim, length, 1.0f, scores, length, value, qkv_stride, 0.0f,
          context + first * hidden + head * shape.head_dim, hidden);
    if (head_received) {
      float* column_sums = head_received + head * total_rows + first;
      std::fill(column_sums, column_sums + length, 0.0f);
      for (int64_t i = 0; i < length; ++i) {
        const float* row = scores + i * length;
#pragma omp simd
        for (int64_t j = 0; j < length; ++j) column_sums[j] += row[j];
      }
      if (shape.causal) {
        for (int64_t j = 0; j < length; ++j) column_sums[j] /= static_cast<float>(length - j);
      }
    }
  }

  if (received) {
    const float inverse_heads = 1.0f / static_cast<float>(shape.n_heads);
    for (int64_t row = 0; row < total_rows; ++row) {
      float total = 0.0f;
      for (int64_t head = 0; head < shape.n_heads; ++head) total += head_received[head * total_rows + row];
      received[row] = total * inverse_heads;
    }
  }
}

}  // namespace latte
