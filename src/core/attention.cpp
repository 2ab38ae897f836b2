#include "latte/core/attention.h"

#include <omp.h>

#if defined(__AVX2__)
#include <immintrin.h>
#endif

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

#if defined(__AVX2__) && defined(__FMA__)
// exp_approx on 8 lanes: GCC does not vectorise the scalar version's loop
// (measured 4-5 ns per element), this runs at a fraction of a nanosecond.
inline __m256 exp_approx8(__m256 x) {
  x = _mm256_min_ps(_mm256_max_ps(x, _mm256_set1_ps(-87.3f)), _mm256_set1_ps(88.3f));
  const __m256 n = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504088896341f)),
                                   _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693359375f), x);
  r = _mm256_fnmadd_ps(n, _mm256_set1_ps(-2.12194440e-4f), r);
  __m256 p = _mm256_set1_ps(1.9875691500e-4f);
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.3981999507e-3f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(8.3334519073e-3f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(4.1665795894e-2f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.6666665459e-1f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(5.0000001201e-1f));
  p = _mm256_fmadd_ps(_mm256_mul_ps(p, r), r, _mm256_add_ps(r, _mm256_set1_ps(1.0f)));
  const __m256i bits = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
  return _mm256_mul_ps(p, _mm256_castsi256_ps(bits));
}

inline float horizontal_sum(__m256 v) {
  __m128 sum = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  sum = _mm_add_ps(sum, _mm_movehl_ps(sum, sum));
  sum = _mm_add_ss(sum, _mm_movehdup_ps(sum));
  return _mm_cvtss_f32(sum);
}

inline float horizontal_max(__m256 v) {
  __m128 top = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  top = _mm_max_ps(top, _mm_movehl_ps(top, top));
  top = _mm_max_ss(top, _mm_movehdup_ps(top));
  return _mm_cvtss_f32(top);
}
#endif

// Softmax of row[0, valid) in place; entries past `valid` (causal future) become 0.
inline void softmax_prefix(float* row, int64_t valid, int64_t width) {
  int64_t j = 0;
  float maximum = row[0];
  float total = 0.0f;
#if defined(__AVX2__) && defined(__FMA__)
  if (valid >= 8) {
    __m256 maxima = _mm256_loadu_ps(row);
    for (j = 8; j + 8 <= valid; j += 8) maxima = _mm256_max_ps(maxima, _mm256_loadu_ps(row + j));
    maximum = horizontal_max(maxima);
    for (; j < valid; ++j) maximum = std::max(maximum, row[j]);
    const __m256 shift = _mm256_set1_ps(maximum);
    __m256 sums = _mm256_setzero_ps();
    for (j = 0; j + 8 <= valid; j += 8) {
      const __m256 e = exp_approx8(_mm256_sub_ps(_mm256_loadu_ps(row + j), shift));
      _mm256_storeu_ps(row + j, e);
      sums = _mm256_add_ps(sums, e);
    }
    total = horizontal_sum(sums);
  } else
#endif
  {
    for (int64_t i = 1; i < valid; ++i) maximum = std::max(maximum, row[i]);
  }
  for (; j < valid; ++j) {
    row[j] = exp_approx(row[j] - maximum);
    total += row[j];
  }
  const float inverse = 1.0f / total;
  for (int64_t i = 0; i < valid; ++i) row[i] *= inverse;
  for (int64_t i = valid; i < width; ++i) row[i] = 0.0f;
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
