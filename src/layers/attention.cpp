#include "latte/layers/attention.h"

#include <omp.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdlib>
#include <optional>
#include <string>
#include <vector>

#include "latte/core/attention_head.h"
#include "latte/core/error.h"
#include "latte/core/linear.h"
#include "latte/core/threads.h"

namespace latte {

namespace {

// Queries per block of causal attention: small enough to skip most of the masked triangle, large
// enough for efficient GEMMs.
constexpr int64_t kCausalQueryBlock = 64;

// Fewer queries than this per sequence (a decode step, a short chunk after a cache) go through
// oneDNN's sgemm: packing K^T for the fused kernel costs more than it saves there.
constexpr int64_t kFusedMinQueries = 4;

// The ISA of the fused kernel (latte/core/attention_head.h), or none: LATTE_ATTENTION=sgemm
// keeps every head on the general path, to compare the two.
std::optional<GemmIsa> fused_attention_isa() {
  static const std::optional<GemmIsa> isa = []() -> std::optional<GemmIsa> {
    const char* value = std::getenv("LATTE_ATTENTION");
    const std::string name = value == nullptr ? "fused" : value;
    if (name != "fused" && name != "sgemm") {
      throw InputError("LATTE_ATTENTION must be fused or sgemm, got '" + name + "'");
    }
    return name == "fused" ? best_gemm_isa() : std::nullopt;
  }();
  return isa;
}

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

// Softmax of row[0, valid) in place; entries past `valid` (keys the query does not see) become 0,
// and a row that sees no key is all 0, so its context row is 0. The probabilities are added to
// column_sums[0, width) when it is given. Vector CPUs run the fused kernel's softmax_row
// (latte/core/attention_head.h); this loop is the one for CPUs without AVX2.
inline void softmax_prefix(float* row, int64_t valid, int64_t width, float* column_sums) {
  if (const std::optional<GemmIsa> isa = best_gemm_isa())
    return softmax_row(*isa, row, valid, width, column_sums);
  if (valid == 0) {
    std::fill(row, row + width, 0.0f);
    return;
  }
  float maximum = row[0];
  for (int64_t i = 1; i < valid; ++i) maximum = std::max(maximum, row[i]);
  float total = 0.0f;
  for (int64_t j = 0; j < valid; ++j) {
    row[j] = exp_approx(row[j] - maximum);
    total += row[j];
  }
  const float inverse = 1.0f / total;
  for (int64_t i = 0; i < valid; ++i) row[i] *= inverse;
  for (int64_t i = valid; i < width; ++i) row[i] = 0.0f;
  if (column_sums != nullptr) {
    for (int64_t j = 0; j < width; ++j) column_sums[j] += row[j];
  }
}

void check_spec(const AttentionSpec& spec) {
  if (spec.n_heads <= 0 || spec.n_kv_heads <= 0 || spec.head_dim <= 0) {
    throw InputError("attention needs positive sizes, got n_heads " + std::to_string(spec.n_heads) +
                     ", n_kv_heads " + std::to_string(spec.n_kv_heads) + ", head_dim " +
                     std::to_string(spec.head_dim));
  }
  if (spec.n_heads % spec.n_kv_heads != 0) {
    throw InputError("attention's n_kv_heads " + std::to_string(spec.n_kv_heads) +
                     " does not divide n_heads " + std::to_string(spec.n_heads));
  }
  if (!std::isfinite(spec.scale) || spec.scale <= 0.0f) {
    throw InputError("attention's scale must be positive and finite, got " + std::to_string(spec.scale));
  }
}

void check_sequence(const AttentionSpec& spec, const AttentionSequence& sequence, size_t index) {
  const std::string where = "attention sequence " + std::to_string(index) + ": ";
  const int64_t query_width = spec.n_heads * spec.head_dim;
  const int64_t key_width = spec.n_kv_heads * spec.head_dim;
  const bool has_queries = !sequence.query_positions.empty();
  const bool has_keys = !sequence.key_positions.empty();
  if (has_queries && (sequence.queries == nullptr || sequence.context == nullptr)) {
    throw InputError(where + std::to_string(sequence.query_positions.size()) +
                     " queries but no query or context rows");
  }
  if (has_keys && (sequence.keys == nullptr || sequence.values == nullptr)) {
    throw InputError(where + std::to_string(sequence.key_positions.size()) +
                     " keys but no key or value rows");
  }
  if (has_queries && (sequence.query_stride < query_width || sequence.context_stride < query_width)) {
    throw InputError(where + "query stride " + std::to_string(sequence.query_stride) + " or context stride " +
                     std::to_string(sequence.context_stride) +
                     " is below n_heads * head_dim = " + std::to_string(query_width));
  }
  const int64_t head_stride = sequence.key_value_head_stride;
  if (has_keys && head_stride != 0) {
    // Head-major: each head's rows are a block of their own.
    const auto n_keys = static_cast<int64_t>(sequence.key_positions.size());
    if (sequence.key_value_stride < spec.head_dim || head_stride < n_keys * sequence.key_value_stride) {
      throw InputError(where + "head-major keys/values need a row stride >= head_dim " +
                       std::to_string(spec.head_dim) + " and a head stride >= rows x row stride, got " +
                       std::to_string(sequence.key_value_stride) + " and " + std::to_string(head_stride));
    }
  } else if (has_keys && sequence.key_value_stride < key_width) {
    throw InputError(where + "key/value stride " + std::to_string(sequence.key_value_stride) +
                     " is below n_kv_heads * head_dim = " + std::to_string(key_width));
  }
  if (spec.causal && !std::is_sorted(sequence.key_positions.begin(), sequence.key_positions.end())) {
    const auto descent = std::is_sorted_until(sequence.key_positions.begin(), sequence.key_positions.end());
    throw InputError(where + "causal attention needs ascending key positions, key " +
                     std::to_string(descent - sequence.key_positions.begin()) + " has position " +
                     std::to_string(*descent) + " after " + std::to_string(*(descent - 1)));
  }
}

}  // namespace

void attention(const AttentionSpec& spec, std::span<const AttentionSequence> sequences,
               const PositionBias* bias, Arena& arena) {
  check_spec(spec);
  for (size_t s = 0; s < sequences.size(); ++s) check_sequence(spec, sequences[s], s);
  const auto n_sequences = static_cast<int64_t>(sequences.size());
  if (n_sequences == 0) return;
  const int64_t head_dim = spec.head_dim;
  const int64_t group = spec.n_heads / spec.n_kv_heads;  // query heads per key/value head

  // Per sequence: where its keys start in the per-head score buffer, and under `causal` how many
  // keys each query sees (a prefix, keys being ascending) and how many queries see each key.
  std::vector<int64_t> key_offsets(static_cast<size_t>(n_sequences) + 1, 0);
  std::vector<int64_t> visible_offsets(static_cast<size_t>(n_sequences) + 1, 0);
  bool scoring = false;
  for (int64_t s = 0; s < n_sequences; ++s) {
    const AttentionSequence& sequence = sequences[static_cast<size_t>(s)];
    const auto n_queries = static_cast<int64_t>(sequence.query_positions.size());
    const auto n_keys = static_cast<int64_t>(sequence.key_positions.size());
    key_offsets[static_cast<size_t>(s) + 1] = key_offsets[static_cast<size_t>(s)] + n_keys;
    visible_offsets[static_cast<size_t>(s) + 1] =
        visible_offsets[static_cast<size_t>(s)] + (spec.causal ? n_queries : 0);
    scoring = scoring || sequence.key_scores != nullptr;
  }
  const int64_t total_keys = key_offsets.back();
  std::vector<int64_t> visible_keys(static_cast<size_t>(visible_offsets.back()));  // [queries] per sequence
  std::vector<int64_t> seen_by(spec.causal && scoring ? static_cast<size_t>(total_keys) : 0);  // [keys]
  if (spec.causal) {
    for (int64_t s = 0; s < n_sequences; ++s) {
      const AttentionSequence& sequence = sequences[static_cast<size_t>(s)];
      const std::span<const int64_t> keys = sequence.key_positions;
      int64_t* visible = visible_keys.data() + visible_offsets[static_cast<size_t>(s)];
      for (size_t i = 0; i < sequence.query_positions.size(); ++i) {
        visible[i] = std::upper_bound(keys.begin(), keys.end(), sequence.query_positions[i]) - keys.begin();
      }
      if (seen_by.empty()) continue;
      // seen_by[j] = #queries whose visible prefix is longer than j: a histogram, then suffix sums.
      int64_t* counts = seen_by.data() + key_offsets[static_cast<size_t>(s)];
      const auto n_keys = static_cast<int64_t>(keys.size());
      for (size_t i = 0; i < sequence.query_positions.size(); ++i) {
        if (visible[i] > 0) ++counts[visible[i] - 1];
      }
      for (int64_t j = n_keys - 2; j >= 0; --j) counts[j] += counts[j + 1];
    }
  }

  // Which sequences run the fused kernel: those with enough queries, when head_dim is a whole
  // number of its vectors.
  std::optional<GemmIsa> fused_isa = fused_attention_isa();
  if (fused_isa && head_dim % attention_head_vector_width(*fused_isa) != 0) fused_isa.reset();
  std::vector<char> fused(static_cast<size_t>(n_sequences), 0);
  int64_t per_thread = 1;  // floats: the kernel's workspace or the general path's score matrix
  for (int64_t s = 0; s < n_sequences; ++s) {
    const AttentionSequence& sequence = sequences[static_cast<size_t>(s)];
    const auto n_queries = static_cast<int64_t>(sequence.query_positions.size());
    const auto n_keys = static_cast<int64_t>(sequence.key_positions.size());
    fused[static_cast<size_t>(s)] = fused_isa && n_queries >= kFusedMinQueries && n_keys > 0;
    per_thread =
        std::max(per_thread, fused[static_cast<size_t>(s)] ? attention_workspace_floats(head_dim, n_keys)
                                                           : n_queries * n_keys);
  }

  // Allocated before the parallel region: the arena is not thread-safe.
  const int threads = omp_get_max_threads();
  float* probabilities = arena.allocate(static_cast<size_t>(threads * per_thread));
  // Per-head key scores, summed over heads afterwards in a fixed order: deterministic whatever
  // the thread count.
  float* head_scores =
      scoring ? arena.allocate(static_cast<size_t>(spec.n_heads * std::max<int64_t>(total_keys, 1)))
              : nullptr;
  const int64_t n_tasks = n_sequences * spec.n_heads;

  parallel_tasks(n_tasks, [&](int64_t task, int worker) {
    const int64_t s = task / spec.n_heads;
    const int64_t head = task % spec.n_heads;
    const int64_t kv_head = head / group;
    const AttentionSequence& sequence = sequences[static_cast<size_t>(s)];
    const auto n_queries = static_cast<int64_t>(sequence.query_positions.size());
    const auto n_keys = static_cast<int64_t>(sequence.key_positions.size());
    float* column_sums =
        head_scores ? head_scores + head * total_keys + key_offsets[static_cast<size_t>(s)] : nullptr;
    if (column_sums) std::fill(column_sums, column_sums + n_keys, 0.0f);
    if (n_queries == 0) return;
    float* context = sequence.context + head * head_dim;
    if (n_keys == 0) {  // no query sees a key: zero context rows
      for (int64_t i = 0; i < n_queries; ++i)
        std::fill_n(context + i * sequence.context_stride, head_dim, 0.0f);
      return;
    }
    float* scores = probabilities + static_cast<int64_t>(worker) * per_thread;
    const float* query = sequence.queries + head * head_dim;
    // Where key/value head kv_head starts: side by side in a row, or a block per head.
    const int64_t head_offset =
        kv_head * (sequence.key_value_head_stride != 0 ? sequence.key_value_head_stride : head_dim);
    const float* key = sequence.keys + head_offset;
    const float* value = sequence.values + head_offset;
    const int64_t* visible =
        spec.causal ? visible_keys.data() + visible_offsets[static_cast<size_t>(s)] : nullptr;
    if (fused[static_cast<size_t>(s)]) {
      // head_dim and n_keys were checked above: the kernel does not decline.
      attention_head(*fused_isa, AttentionHeadArgs{.queries = query,
                                                   .query_stride = sequence.query_stride,
                                                   .n_queries = n_queries,
                                                   .keys = key,
                                                   .values = value,
                                                   .key_value_stride = sequence.key_value_stride,
                                                   .n_keys = n_keys,
                                                   .head_dim = head_dim,
                                                   .scale = spec.scale,
                                                   .visible = visible,
                                                   .context = context,
                                                   .context_stride = sequence.context_stride,
                                                   .column_sums = column_sums,
                                                   .workspace = scores,
                                                   .bias = bias,
                                                   .head = head,
                                                   .query_positions = sequence.query_positions.data(),
                                                   .key_positions = sequence.key_positions.data()});
    } else {
      // Causal attention runs in blocks of queries, each over the keys its last query sees: with
      // ascending positions the masked upper triangle is mostly skipped (half the FLOPs of a
      // prefill). Bidirectional attention is one block over every key.
      const int64_t block = visible ? kCausalQueryBlock : n_queries;
      for (int64_t first = 0; first < n_queries; first += block) {
        const int64_t rows = std::min(block, n_queries - first);
        int64_t width = n_keys;
        if (visible) width = *std::max_element(visible + first, visible + first + rows);
        if (width == 0) {
          for (int64_t i = first; i < first + rows; ++i)
            std::fill_n(context + i * sequence.context_stride, head_dim, 0.0f);
          continue;
        }
        // scores[rows, width] = scale * Q K^T
        sgemm(true, rows, width, head_dim, spec.scale, query + first * sequence.query_stride,
              sequence.query_stride, key, sequence.key_value_stride, 0.0f, scores, width);
        for (int64_t i = 0; i < rows; ++i) {
          float* row = scores + i * width;
          if (bias) {
            bias->add(head, sequence.query_positions[static_cast<size_t>(first + i)],
                      sequence.key_positions.first(static_cast<size_t>(width)), row);
          }
          softmax_prefix(row, visible ? visible[first + i] : width, width, column_sums);
        }
        // context rows of this head = P V
        sgemm(false, rows, head_dim, width, 1.0f, scores, width, value, sequence.key_value_stride, 0.0f,
              context + first * sequence.context_stride, sequence.context_stride);
      }
    }
    if (column_sums && spec.causal) {
      const int64_t* counts = seen_by.data() + key_offsets[static_cast<size_t>(s)];
      for (int64_t j = 0; j < n_keys; ++j) {
        if (counts[j] > 0) column_sums[j] /= static_cast<float>(counts[j]);
      }
    }
  });

  if (!scoring) return;
  const float inverse_heads = 1.0f / static_cast<float>(spec.n_heads);
  for (int64_t s = 0; s < n_sequences; ++s) {
    const AttentionSequence& sequence = sequences[static_cast<size_t>(s)];
    if (sequence.key_scores == nullptr) continue;
    const int64_t first = key_offsets[static_cast<size_t>(s)];
    const int64_t n_keys = key_offsets[static_cast<size_t>(s) + 1] - first;
    for (int64_t j = 0; j < n_keys; ++j) {
      float total = 0.0f;
      for (int64_t head = 0; head < spec.n_heads; ++head) total += head_scores[head * total_keys + first + j];
      sequence.key_scores[j] = total * inverse_heads;
    }
  }
}

}  // namespace latte
