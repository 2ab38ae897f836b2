// layers/attention.h against a naive loop written out here: double accumulation, no oneDNN, no
// prefix trick: every key is checked against the query's position.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "latte/core/attention_head.h"
#include "latte/core/error.h"
#include "latte/core/packed_gemm.h"
#include "latte/core/threads.h"
#include "latte/layers/attention.h"
#include "latte/models/t5.h"

namespace latte {
namespace {

// One sequence's rows laid out with padding between them (strides above the widths), keys and
// values interleaved in one buffer as a QKV projection or a cache would hold them.
struct Problem {
  std::vector<int64_t> query_positions;
  std::vector<int64_t> key_positions;
  std::vector<float> queries;      // [n_queries, query_stride]
  std::vector<float> keys_values;  // [n_keys, key_value_stride]: keys, then values at kv_width
  std::vector<float> context;      // [n_queries, context_stride]
  std::vector<float> key_scores;   // [n_keys]
  int64_t query_stride = 0;
  int64_t key_value_stride = 0;
  int64_t context_stride = 0;
  int64_t kv_width = 0;

  Problem(const AttentionSpec& spec, std::vector<int64_t> query_positions_in,
          std::vector<int64_t> key_positions_in, uint32_t seed)
      : query_positions(std::move(query_positions_in)), key_positions(std::move(key_positions_in)) {
    const int64_t width = spec.n_heads * spec.head_dim;
    kv_width = spec.n_kv_heads * spec.head_dim;
    query_stride = width + 3;
    key_value_stride = 2 * kv_width + 5;
    context_stride = width + 1;
    const auto n_queries = static_cast<int64_t>(query_positions.size());
    const auto n_keys = static_cast<int64_t>(key_positions.size());
    std::mt19937 generator(seed);
    std::uniform_real_distribution<float> uniform(-1.0f, 1.0f);
    queries.resize(static_cast<size_t>(n_queries * query_stride));
    keys_values.resize(static_cast<size_t>(n_keys * key_value_stride));
    for (float& value : queries) value = 2.0f * uniform(generator);  // logits of a few units
    for (float& value : keys_values) value = uniform(generator);
    context.assign(static_cast<size_t>(n_queries * context_stride), 99.0f);  // padding must stay 99
    key_scores.assign(static_cast<size_t>(n_keys), -1.0f);
  }

  AttentionSequence view(bool with_scores) {
    return AttentionSequence{.queries = queries.data(),
                             .query_stride = query_stride,
                             .query_positions = query_positions,
                             .keys = keys_values.data(),
                             .values = keys_values.data() + kv_width,
                             .key_value_stride = key_value_stride,
                             .key_positions = key_positions,
                             .context = context.data(),
                             .context_stride = context_stride,
                             .key_scores = with_scores ? key_scores.data() : nullptr};
  }
};

// T5-like: nearer keys weigh more, and each head has its own offset.
class DistanceBias : public PositionBias {
 public:
  void add(int64_t head, int64_t query_position, std::span<const int64_t> key_positions,
           float* logits) const override {
    for (size_t j = 0; j < key_positions.size(); ++j)
      logits[j] += -0.1f * static_cast<float>(std::llabs(query_position - key_positions[j])) +
                   static_cast<float>(head);
  }
};

struct Reference {
  std::vector<double> context;     // [n_queries, n_heads * head_dim]
  std::vector<double> key_scores;  // [n_keys]
};

Reference naive_attention(const AttentionSpec& spec, const Problem& problem, const PositionBias* bias) {
  const auto n_queries = static_cast<int64_t>(problem.query_positions.size());
  const auto n_keys = static_cast<int64_t>(problem.key_positions.size());
  const int64_t d = spec.head_dim;
  const int64_t width = spec.n_heads * d;
  Reference result{std::vector<double>(static_cast<size_t>(n_queries * width), 0.0),
                   std::vector<double>(static_cast<size_t>(n_keys), 0.0)};
  for (int64_t head = 0; head < spec.n_heads; ++head) {
    const int64_t kv_head = head / (spec.n_heads / spec.n_kv_heads);
    std::vector<double> received(static_cast<size_t>(n_keys), 0.0);
    std::vector<double> seen_by(static_cast<size_t>(n_keys), 0.0);
    for (int64_t i = 0; i < n_queries; ++i) {
      const int64_t query_position = problem.query_positions[static_cast<size_t>(i)];
      std::vector<float> bias_row(static_cast<size_t>(n_keys), 0.0f);
      if (bias) bias->add(head, query_position, problem.key_positions, bias_row.data());
      std::vector<double> weights(static_cast<size_t>(n_keys), 0.0);
      double largest = -INFINITY;
      for (int64_t j = 0; j < n_keys; ++j) {
        if (spec.causal && problem.key_positions[static_cast<size_t>(j)] > query_position) continue;
        double dot = 0.0;
        for (int64_t e = 0; e < d; ++e) {
          dot += static_cast<double>(problem.queries[i * problem.query_stride + head * d + e]) *
                 problem.keys_values[j * problem.key_value_stride + kv_head * d + e];
        }
        weights[j] = spec.scale * dot + bias_row[j];
        largest = std::max(largest, weights[j]);
      }
      double total = 0.0;
      for (int64_t j = 0; j < n_keys; ++j) {
        const bool sees = !spec.causal || problem.key_positions[static_cast<size_t>(j)] <= query_position;
        weights[j] = sees ? std::exp(weights[j] - largest) : 0.0;
        total += weights[j];
        seen_by[j] += sees ? 1.0 : 0.0;
      }
      if (total == 0.0) continue;  // sees no key: context row stays 0
      for (int64_t j = 0; j < n_keys; ++j) {
        const double p = weights[j] / total;
        received[j] += p;
        for (int64_t e = 0; e < d; ++e) {
          result.context[i * width + head * d + e] +=
              p * problem.keys_values[j * problem.key_value_stride + problem.kv_width + kv_head * d + e];
        }
      }
    }
    for (int64_t j = 0; j < n_keys; ++j) {
      double score = received[j];
      if (spec.causal) score = seen_by[j] > 0.0 ? score / seen_by[j] : 0.0;
      result.key_scores[j] += score / static_cast<double>(spec.n_heads);
    }
  }
  return result;
}

bool close(double got, double expected) {
  return std::abs(got - expected) <= 1e-5 * std::max(1.0, std::abs(expected));
}

// Runs all problems as one packed call and checks each against the naive loop.
void check(const AttentionSpec& spec, std::vector<Problem>& problems, const PositionBias* bias = nullptr) {
  std::vector<AttentionSequence> sequences;
  for (Problem& problem : problems) sequences.push_back(problem.view(true));
  Arena arena;
  attention(spec, sequences, bias, arena);
  for (size_t s = 0; s < problems.size(); ++s) {
    const Problem& problem = problems[s];
    const Reference expected = naive_attention(spec, problem, bias);
    const int64_t width = spec.n_heads * spec.head_dim;
    int failures = 0;
    for (size_t i = 0; i < problem.query_positions.size(); ++i) {
      for (int64_t c = 0; c < problem.context_stride && failures < 5; ++c) {
        const float got = problem.context[i * problem.context_stride + c];
        if (c >= width) {
          EXPECT_EQ(got, 99.0f) << "sequence " << s << " wrote past its context row " << i;
          continue;
        }
        const double want = expected.context[i * width + c];
        if (!close(got, want)) {
          ++failures;
          ADD_FAILURE() << "sequence " << s << " context [" << i << ", " << c << "]: got " << got
                        << ", expected " << want;
        }
      }
    }
    for (size_t j = 0; j < problem.key_positions.size(); ++j) {
      EXPECT_TRUE(close(problem.key_scores[j], expected.key_scores[j]))
          << "sequence " << s << " key score " << j << ": got " << problem.key_scores[j] << ", expected "
          << expected.key_scores[j];
    }
  }
}

std::vector<int64_t> iota(int64_t first, int64_t count) {
  std::vector<int64_t> positions(static_cast<size_t>(count));
  for (int64_t i = 0; i < count; ++i) positions[static_cast<size_t>(i)] = first + i;
  return positions;
}

AttentionSpec make_spec(int64_t n_heads, int64_t n_kv_heads, int64_t head_dim, bool causal) {
  return AttentionSpec{.n_heads = n_heads,
                       .n_kv_heads = n_kv_heads,
                       .head_dim = head_dim,
                       .scale = 1.0f / std::sqrt(static_cast<float>(head_dim)),
                       .causal = causal};
}

// Self-attention over a packed batch: the same rows are queries and keys.
std::vector<Problem> self_batch(const AttentionSpec& spec,
                                const std::vector<std::vector<int64_t>>& positions) {
  std::vector<Problem> problems;
  uint32_t seed = 11;
  for (const std::vector<int64_t>& sequence : positions)
    problems.emplace_back(spec, sequence, sequence, seed++);
  return problems;
}

TEST(Attention, BidirectionalPackedBatchOfThreeLengths) {
  const AttentionSpec spec = make_spec(4, 4, 16, false);
  std::vector<Problem> problems = self_batch(spec, {iota(0, 13), iota(0, 1), iota(0, 37)});
  check(spec, problems);
}

TEST(Attention, CausalContiguousPositions) {
  const AttentionSpec spec = make_spec(4, 4, 16, true);
  std::vector<Problem> problems = self_batch(spec, {iota(0, 21), iota(0, 1), iota(0, 9)});
  check(spec, problems);
}

// A pruned prefill: the surviving rows keep their original, gapped positions.
TEST(Attention, CausalGappedPositionsOfAPrunedPrefill) {
  const AttentionSpec spec = make_spec(4, 4, 8, true);
  std::vector<Problem> problems = self_batch(spec, {{0, 2, 3, 7, 8, 12, 13, 20, 31, 32}, {0, 5}});
  check(spec, problems);
}

// Queries are the new rows; keys are a (pruned) cache followed by the new rows themselves.
TEST(Attention, CausalChunkAndDecodeRowOverACache) {
  const AttentionSpec spec = make_spec(4, 4, 16, true);
  const std::vector<int64_t> cache_and_chunk = {0, 1, 3, 6, 7, 8, 9, 10};
  std::vector<Problem> problems;
  problems.emplace_back(spec, std::vector<int64_t>{8, 9, 10}, cache_and_chunk, 3);  // chunk of 3 rows
  problems.emplace_back(spec, std::vector<int64_t>{11}, iota(0, 12), 4);            // one decode step
  check(spec, problems);
}

// Causal attention runs in blocks of 64 queries over the keys each block sees: several blocks,
// a block boundary inside a run of gapped positions, a long chunk after a cache, and a bias.
TEST(Attention, CausalBlocksOfManyQueries) {
  const AttentionSpec spec = make_spec(2, 2, 8, true);
  std::vector<int64_t> gapped;
  for (int64_t position = 0; gapped.size() < 150; position += 1 + position % 3) gapped.push_back(position);
  std::vector<Problem> problems = self_batch(spec, {iota(0, 200), gapped, iota(0, 65)});
  problems.emplace_back(spec, iota(40, 130), iota(0, 170), 9);  // 130 new rows after a 40-row cache
  check(spec, problems);
  const DistanceBias bias;
  std::vector<Problem> biased = self_batch(spec, {iota(0, 140)});
  check(spec, biased, &bias);
}

TEST(Attention, QueryBeforeEveryKeySeesNothingAndGetsZeroContext) {
  const AttentionSpec spec = make_spec(2, 2, 8, true);
  std::vector<Problem> problems;
  problems.emplace_back(spec, std::vector<int64_t>{2, 6, 9}, std::vector<int64_t>{5, 6, 7}, 5);
  check(spec, problems);
  for (int64_t c = 0; c < 16; ++c) EXPECT_EQ(problems[0].context[c], 0.0f);
  EXPECT_EQ(problems[0].key_scores[2] > 0.0f, true);
}

TEST(Attention, GroupedQueryHeadsShareKeyValueHeads) {
  for (int64_t n_kv_heads : {1, 2}) {
    for (bool causal : {false, true}) {
      SCOPED_TRACE("n_kv_heads " + std::to_string(n_kv_heads) + (causal ? " causal" : " bidirectional"));
      const AttentionSpec spec = make_spec(4, n_kv_heads, 8, causal);
      std::vector<Problem> problems = self_batch(spec, {iota(0, 11), iota(0, 4)});
      check(spec, problems);
    }
  }
}

TEST(Attention, PositionBiasAddedBeforeSoftmax) {
  const DistanceBias bias;
  for (bool causal : {false, true}) {
    SCOPED_TRACE(causal ? "causal" : "bidirectional");
    const AttentionSpec spec = make_spec(3, 3, 8, causal);
    std::vector<Problem> problems = self_batch(spec, {{0, 1, 4, 5, 9, 10, 11, 15, 16, 17}, iota(0, 1)});
    check(spec, problems, &bias);
  }
}

TEST(Attention, ScaleOneAsT5AndInverseSqrtHeadDim) {
  for (float scale : {1.0f, 0.25f}) {
    AttentionSpec spec = make_spec(2, 2, 16, false);
    spec.scale = scale;
    std::vector<Problem> problems = self_batch(spec, {iota(0, 9)});
    check(spec, problems);
  }
}

TEST(Attention, KeyScoresSumToQueryCountOrAverageOverSeeingQueries) {
  // Bidirectional: each query hands out 1 in total. Causal over contiguous positions: key j is
  // seen by n - j queries, and the first key takes everything from query 0.
  const int64_t n = 12;
  for (bool causal : {false, true}) {
    const AttentionSpec spec = make_spec(4, 4, 8, causal);
    std::vector<Problem> problems = self_batch(spec, {iota(0, n)});
    check(spec, problems);
    double total = 0.0;
    for (float score : problems[0].key_scores) total += score;
    if (causal) {
      EXPECT_GE(problems[0].key_scores[0], 1.0f / static_cast<float>(n));
    } else {
      EXPECT_NEAR(total, static_cast<double>(n), 1e-4);
    }
  }
}

TEST(Attention, SameResultWithOneAndTwoThreads) {
  const int threads_before = num_threads();
  for (bool causal : {false, true}) {
    const AttentionSpec spec = make_spec(4, 2, 16, causal);
    std::vector<std::vector<float>> contexts, scores;
    for (int threads : {1, 2}) {
      set_num_threads(threads);
      std::vector<Problem> problems = self_batch(spec, {iota(0, 30), iota(0, 1), {0, 3, 4, 9, 10}});
      std::vector<AttentionSequence> sequences;
      for (Problem& problem : problems) sequences.push_back(problem.view(true));
      Arena arena;
      attention(spec, sequences, nullptr, arena);
      std::vector<float> context, key_scores;
      for (const Problem& problem : problems) {
        context.insert(context.end(), problem.context.begin(), problem.context.end());
        key_scores.insert(key_scores.end(), problem.key_scores.begin(), problem.key_scores.end());
      }
      contexts.push_back(context);
      scores.push_back(key_scores);
    }
    EXPECT_EQ(std::memcmp(contexts[0].data(), contexts[1].data(), contexts[0].size() * sizeof(float)), 0);
    EXPECT_EQ(std::memcmp(scores[0].data(), scores[1].data(), scores[0].size() * sizeof(float)), 0);
  }
  set_num_threads(threads_before);
}

// Keys and values laid out head-major ([n_kv_heads, capacity, head_dim], each head's rows a block
// of their own, as a cache read head by head wants them) give bit for bit the interleaved
// layout's result, causal and bidirectional, grouped-query heads included.
TEST(Attention, HeadMajorKeysAndValuesMatchTheInterleavedLayout) {
  for (const bool causal : {false, true}) {
    const AttentionSpec spec = make_spec(4, 2, 16, causal);
    Problem problem(spec, iota(40, 3), iota(0, 43), 7);
    const auto n_keys = static_cast<int64_t>(problem.key_positions.size());
    const int64_t capacity = n_keys + 5;  // spare rows after each head's block
    std::vector<float> keys(static_cast<size_t>(spec.n_kv_heads * capacity * spec.head_dim), 7.0f);
    std::vector<float> values(keys.size(), 7.0f);
    for (int64_t h = 0; h < spec.n_kv_heads; ++h) {
      for (int64_t r = 0; r < n_keys; ++r) {
        for (int64_t d = 0; d < spec.head_dim; ++d) {
          const size_t to = static_cast<size_t>((h * capacity + r) * spec.head_dim + d);
          const size_t from = static_cast<size_t>(r * problem.key_value_stride + h * spec.head_dim + d);
          keys[to] = problem.keys_values[from];
          values[to] = problem.keys_values[from + static_cast<size_t>(problem.kv_width)];
        }
      }
    }
    Arena arena;
    const AttentionSequence interleaved = problem.view(true);
    attention(spec, std::span(&interleaved, 1), nullptr, arena);
    const std::vector<float> expected_context = problem.context, expected_scores = problem.key_scores;
    AttentionSequence head_major = problem.view(true);
    head_major.keys = keys.data();
    head_major.values = values.data();
    head_major.key_value_stride = spec.head_dim;
    head_major.key_value_head_stride = capacity * spec.head_dim;
    std::fill(problem.context.begin(), problem.context.end(), 99.0f);
    attention(spec, std::span(&head_major, 1), nullptr, arena);
    EXPECT_EQ(problem.context, expected_context) << (causal ? "causal" : "bidirectional");
    EXPECT_EQ(problem.key_scores, expected_scores) << (causal ? "causal" : "bidirectional");
  }
  // A head stride that makes heads overlap is an error naming both strides.
  const AttentionSpec spec = make_spec(2, 2, 8, true);
  Problem problem(spec, {0, 1}, {0, 1}, 3);
  AttentionSequence overlapping = problem.view(false);
  overlapping.key_value_stride = 8;
  overlapping.key_value_head_stride = 8;  // below 2 rows x 8
  Arena arena;
  try {
    attention(spec, std::span(&overlapping, 1), nullptr, arena);
    ADD_FAILURE() << "no error for overlapping heads";
  } catch (const InputError& error) {
    EXPECT_NE(std::string(error.what()).find("head stride >= rows x row stride, got 8 and 8"),
              std::string::npos)
        << error.what();
  }
}

// T5's relative position bias (scale 1, head_dim 64: both ISAs' fused kernels take it) on
// bidirectional and causal self-attention: dense rows, rows with gaps as elimination leaves them,
// blocks of queries below, at and above 8, keys past max_distance (where the buckets end), and a
// chunk after a cache; the key scores as well (check compares them). The suite runs again on
// the general path and on AVX2 (tests/CMakeLists.txt), against the same naive loop.
TEST(Attention, T5RelativeBiasMatchesTheNaiveLoop) {
  const int64_t n_heads = 3;
  const int64_t num_buckets = 32;
  Tensor table({num_buckets, n_heads});
  std::mt19937 generator(17);
  std::uniform_real_distribution<float> uniform(-2.0f, 2.0f);
  for (int64_t i = 0; i < table.numel(); ++i) table.data()[i] = uniform(generator);
  std::vector<int64_t> gapped;  // 150 rows over positions 0..~300
  for (int64_t position = 0; gapped.size() < 150; position += 1 + position % 3) gapped.push_back(position);
  for (const bool causal : {false, true}) {
    SCOPED_TRACE(causal ? "causal" : "bidirectional");
    const T5RelativeBias bias(table, !causal, 40, 512);
    AttentionSpec spec = make_spec(n_heads, n_heads, 64, causal);
    spec.scale = 1.0f;
    std::vector<Problem> problems = self_batch(
        spec, {iota(0, 5), iota(0, 8), iota(0, 13), {0, 2, 3, 9, 10, 11, 40, 41, 90}, gapped, iota(0, 120)});
    problems.emplace_back(spec, iota(60, 21), iota(0, 81), 21);  // 21 new rows after a 60-row cache
    check(spec, problems, &bias);
  }
}

// Head sizes of real models (64, 128) and odd vector counts, with GQA, causal and bidirectional,
// row counts around the fused kernel's blocks of queries and tiles of keys (on this CPU's kernel;
// tests/CMakeLists.txt runs this suite again on the general path and on AVX2).
TEST(Attention, ModelHeadSizesMatchTheNaiveLoop) {
  for (const int64_t head_dim : {48, 64, 128}) {
    for (const bool causal : {false, true}) {
      SCOPED_TRACE("head_dim " + std::to_string(head_dim) + (causal ? " causal" : " bidirectional"));
      const AttentionSpec spec = make_spec(4, 2, head_dim, causal);
      std::vector<Problem> problems = self_batch(spec, {iota(0, 3), iota(0, 4), iota(0, 9), iota(0, 70)});
      problems.emplace_back(spec, iota(50, 17), iota(0, 67), 5);  // a chunk after a cache
      check(spec, problems);
    }
  }
}

// attention_head's kernel for each ISA this CPU runs, directly: one head against the naive loop
// in double, visible prefixes with empty ones among them, a position bias, rows contiguous and strided, and
// the column sums added to what was there. A head_dim that is not a whole number of vectors is declined with
// nothing written.
TEST(AttentionHead, EachIsaKernelMatchesTheNaiveLoop) {
  const std::optional<GemmIsa> best = best_gemm_isa();
  if (!best) GTEST_SKIP() << "this CPU has neither AVX2 nor AVX-512";
  std::vector<GemmIsa> isas = {GemmIsa::kAvx2};
  if (*best == GemmIsa::kAvx512) isas.push_back(GemmIsa::kAvx512);
  std::mt19937 generator(5);
  std::uniform_real_distribution<float> uniform(-1.0f, 1.0f);
  for (const GemmIsa isa : isas) {
    for (const int64_t head_dim : {16, 48, 64}) {
      for (const int64_t n_queries : {1, 5, 8, 13}) {
        for (const int64_t n_keys : {1, 7, 16, 33, 50, 97}) {
          for (const int variant : {0, 1, 2}) {  // all keys; visible prefixes; prefixes and a bias
            const bool prefixes = variant > 0;
            const bool biased = variant == 2;
            SCOPED_TRACE(std::string(gemm_isa_name(isa)) + " head_dim " + std::to_string(head_dim) + ", " +
                         std::to_string(n_queries) + " queries, " + std::to_string(n_keys) + " keys" +
                         (prefixes ? ", prefixes" : "") + (biased ? ", bias" : ""));
            // Rows side by side (a head-major cache: V is read in place) or strided (V is packed).
            const int64_t stride = head_dim + (n_keys % 2 == 0 ? 0 : 3);
            std::vector<float> queries(static_cast<size_t>(n_queries * stride));
            std::vector<float> keys(static_cast<size_t>(n_keys * stride)), values(keys.size());
            for (float& value : queries) value = 2.0f * uniform(generator);
            for (float& value : keys) value = uniform(generator);
            for (float& value : values) value = uniform(generator);
            std::vector<int64_t> visible(static_cast<size_t>(n_queries));
            for (int64_t i = 0; i < n_queries; ++i) visible[i] = (i * 7 + 3) % (n_keys + 1);  // some 0
            // Positions for the bias: queries 3 apart, keys with gaps.
            std::vector<int64_t> query_positions(static_cast<size_t>(n_queries));
            std::vector<int64_t> key_positions(static_cast<size_t>(n_keys));
            for (int64_t i = 0; i < n_queries; ++i) query_positions[i] = 3 * i;
            for (int64_t j = 0; j < n_keys; ++j) key_positions[j] = j + j / 2;
            const DistanceBias bias;
            const int64_t head = 2;
            std::vector<float> context(static_cast<size_t>(n_queries * stride), 99.0f);
            std::vector<float> column_sums(static_cast<size_t>(n_keys), 0.5f);
            std::vector<float> workspace(static_cast<size_t>(attention_workspace_floats(head_dim, n_keys)));
            const float scale = 1.0f / std::sqrt(static_cast<float>(head_dim));
            const AttentionHeadArgs args{.queries = queries.data(),
                                         .query_stride = stride,
                                         .n_queries = n_queries,
                                         .keys = keys.data(),
                                         .values = values.data(),
                                         .key_value_stride = stride,
                                         .n_keys = n_keys,
                                         .head_dim = head_dim,
                                         .scale = scale,
                                         .visible = prefixes ? visible.data() : nullptr,
                                         .context = context.data(),
                                         .context_stride = stride,
                                         .column_sums = column_sums.data(),
                                         .workspace = workspace.data(),
                                         .bias = biased ? &bias : nullptr,
                                         .head = head,
                                         .query_positions = query_positions.data(),
                                         .key_positions = key_positions.data()};
            if (isa == GemmIsa::kAvx512 && head_dim % 16 != 0) continue;
            ASSERT_TRUE(attention_head(isa, args));
            std::vector<double> sums(static_cast<size_t>(n_keys), 0.5);
            for (int64_t i = 0; i < n_queries; ++i) {
              const int64_t seen = prefixes ? visible[i] : n_keys;
              std::vector<float> bias_row(static_cast<size_t>(n_keys), 0.0f);
              if (biased) bias.add(head, query_positions[i], key_positions, bias_row.data());
              std::vector<double> weights(static_cast<size_t>(seen));
              double largest = -INFINITY, total = 0.0;
              for (int64_t j = 0; j < seen; ++j) {
                double dot = 0.0;
                for (int64_t d = 0; d < head_dim; ++d)
                  dot += static_cast<double>(queries[i * stride + d]) * keys[j * stride + d];
                weights[j] = scale * dot + bias_row[j];
                largest = std::max(largest, weights[j]);
              }
              for (double& weight : weights) total += weight = std::exp(weight - largest);
              for (int64_t d = 0; d < stride; ++d) {
                double want = d < head_dim ? 0.0 : 99.0;  // padding past head_dim is untouched
                for (int64_t j = 0; j < seen && d < head_dim; ++j)
                  want += weights[j] / total * values[j * stride + d];
                EXPECT_TRUE(close(context[i * stride + d], want))
                    << "context [" << i << ", " << d << "]: got " << context[i * stride + d] << ", expected "
                    << want;
              }
              for (int64_t j = 0; j < seen; ++j) sums[j] += weights[j] / total;
            }
            for (int64_t j = 0; j < n_keys; ++j) {
              EXPECT_TRUE(close(column_sums[j], sums[j]))
                  << "column sum " << j << ": got " << column_sums[j] << ", expected " << sums[j];
            }
          }
        }
      }
    }
    // 12 floats is no whole number of vectors on either ISA: declined, nothing written.
    std::vector<float> rows(64, 1.0f), context(64, 99.0f), workspace(1024);
    const AttentionHeadArgs odd{.queries = rows.data(),
                                .query_stride = 12,
                                .n_queries = 4,
                                .keys = rows.data(),
                                .values = rows.data(),
                                .key_value_stride = 12,
                                .n_keys = 4,
                                .head_dim = 12,
                                .scale = 1.0f,
                                .context = context.data(),
                                .context_stride = 12,
                                .workspace = workspace.data()};
    EXPECT_FALSE(attention_head(isa, odd)) << gemm_isa_name(isa);
    EXPECT_EQ(context, std::vector<float>(64, 99.0f));
  }
}

TEST(Attention, InvalidSpecsAndSequencesNameTheValues) {
  Arena arena;
  const std::vector<AttentionSequence> none;
  const auto message = [&](const AttentionSpec& spec, std::span<const AttentionSequence> sequences) {
    try {
      attention(spec, sequences, nullptr, arena);
    } catch (const InputError& error) {
      return std::string(error.what());
    }
    return std::string("no error");
  };
  EXPECT_NE(message(make_spec(4, 3, 8, false), none).find("n_kv_heads 3 does not divide n_heads 4"),
            std::string::npos);
  EXPECT_NE(message(make_spec(4, 4, 0, false), none).find("head_dim 0"), std::string::npos);
  AttentionSpec unscaled = make_spec(2, 2, 8, false);
  unscaled.scale = 0.0f;
  EXPECT_NE(message(unscaled, none).find("scale"), std::string::npos);

  const AttentionSpec causal = make_spec(2, 2, 8, true);
  Problem descending(causal, {0, 1, 2}, {0, 2, 1}, 1);
  const AttentionSequence unsorted[] = {descending.view(false)};
  EXPECT_NE(message(causal, unsorted).find("key 2 has position 1 after 2"), std::string::npos);
  Problem narrow(causal, {0, 1}, {0, 1}, 2);
  AttentionSequence short_stride = narrow.view(false);
  short_stride.key_value_stride = 8;
  const AttentionSequence strided[] = {short_stride};
  EXPECT_NE(message(causal, strided).find("key/value stride 8"), std::string::npos);
}

}  // namespace
}  // namespace latte
