// latte_attention_bench: time of latte::attention alone at real head shapes (BERT-base: 12 heads
// of 64; GPT-2 124M causal prefill; with --t5-bias, Flan-T5's relative position bias of 32
// buckets up to 128 and scale 1), with and without the ACC key scores, against the row count.
// It prints ms per call and GFLOP/s of the two products (QK^T and PV), medians of interleaved
// rounds, so two builds can be compared side by side (docs/benchmarks.md, issue 12).
//
//   latte_attention_bench [--rows 32,128,256,512] [--repeats 20] [--causal] [--queries Q] [--t5-bias]
//
// --queries Q: only the last Q rows query (all rows are keys), as a decode step (Q = 1) or a short
// chunk after a cache does.
#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "latte/core/arena.h"
#include "latte/layers/attention.h"
#include "latte/models/t5.h"

namespace {

using Clock = std::chrono::steady_clock;

std::vector<int64_t> parse_rows(const char* text) {
  std::vector<int64_t> rows;
  for (const char* p = text; *p != '\0';) {
    char* end = nullptr;
    const long value = std::strtol(p, &end, 10);
    if (end == p || value <= 0) {
      std::fprintf(stderr, "latte_attention_bench: --rows wants positive integers, got '%s'\n", text);
      std::exit(2);
    }
    rows.push_back(value);
    p = *end == ',' ? end + 1 : end;
  }
  return rows;
}

// One decode step's attention over `layers` separate caches of n rows (more bytes than the last
// level cache holds, as in a real model), row-major [n, heads * head_dim] against head-major
// [heads, n, head_dim]: ms per step for each, medians of interleaved rounds.
void compare_cache_layouts(const std::vector<int64_t>& row_counts, int64_t layers, int repeats) {
  const int64_t heads = 12, head_dim = 64, width = heads * head_dim;
  const latte::AttentionSpec spec{heads, heads, head_dim, 0.125f, true};
  std::printf("decode step over %lld caches: 1 query, %lld heads of %lld, %d threads\n",
              static_cast<long long>(layers), static_cast<long long>(heads), static_cast<long long>(head_dim),
              omp_get_max_threads());
  std::printf("%8s %10s %14s %14s %8s\n", "rows", "cache MB", "row-major ms", "head-major ms", "ratio");
  std::mt19937 generator(11);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  for (const int64_t n : row_counts) {
    // Both layouts hold the same numbers; keys and values of every layer in their own buffers.
    std::vector<std::vector<float>> row_major(static_cast<size_t>(2 * layers)), head_major(row_major.size());
    for (size_t b = 0; b < row_major.size(); ++b) {
      row_major[b].resize(static_cast<size_t>(n * width));
      head_major[b].resize(static_cast<size_t>(n * width));
      for (float& x : row_major[b]) x = normal(generator);
      for (int64_t r = 0; r < n; ++r)
        for (int64_t h = 0; h < heads; ++h)
          for (int64_t d = 0; d < head_dim; ++d)
            head_major[b][static_cast<size_t>((h * n + r) * head_dim + d)] =
                row_major[b][static_cast<size_t>(r * width + h * head_dim + d)];
    }
    std::vector<float> query(static_cast<size_t>(width)), context(static_cast<size_t>(width)),
        reference(context.size());
    for (float& x : query) x = normal(generator);
    std::vector<int64_t> positions(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) positions[static_cast<size_t>(i)] = i;
    const int64_t last = n - 1;
    latte::Arena arena;
    std::vector<double> times[2];
    for (int r = 0; r < repeats + 1; ++r) {
      for (int layout = 0; layout < 2; ++layout) {
        const auto start = Clock::now();
        for (int64_t l = 0; l < layers; ++l) {
          const auto& buffers = layout == 0 ? row_major : head_major;
          latte::AttentionSequence sequence;
          sequence.queries = query.data();
          sequence.query_stride = width;
          sequence.query_positions = std::span<const int64_t>(&last, 1);
          sequence.keys = buffers[static_cast<size_t>(2 * l)].data();
          sequence.values = buffers[static_cast<size_t>(2 * l + 1)].data();
          sequence.key_value_stride = layout == 0 ? width : head_dim;
          sequence.key_value_head_stride = layout == 0 ? 0 : n * head_dim;
          sequence.key_positions = positions;
          sequence.context = layout == 0 ? reference.data() : context.data();
          sequence.context_stride = width;
          arena.reset();
          latte::attention(spec, std::span(&sequence, 1), nullptr, arena);
        }
        if (r > 0) times[layout].push_back(std::chrono::duration<double>(Clock::now() - start).count());
      }
    }
    if (context != reference) std::printf("(layouts disagree: a bug)\n");
    for (auto& t : times) std::sort(t.begin(), t.end());
    const double a = times[0][times[0].size() / 2], b = times[1][times[1].size() / 2];
    std::printf("%8lld %10.1f %14.3f %14.3f %7.2fx\n", static_cast<long long>(n),
                static_cast<double>(2 * layers * n * width * 4) / 1e6, a * 1e3, b * 1e3, a / b);
  }
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<int64_t> row_counts = {32, 128, 256, 512};
  int repeats = 20;
  bool causal = false;
  int64_t queries = 0;  // 0: every row
  int64_t decode_layers = 0;
  bool t5_bias = false;
  for (int i = 1; i < argc; ++i) {
    const std::string flag = argv[i];
    if (flag == "--rows" && i + 1 < argc) {
      row_counts = parse_rows(argv[++i]);
    } else if (flag == "--repeats" && i + 1 < argc) {
      repeats = std::max(1, std::atoi(argv[++i]));
    } else if (flag == "--causal") {
      causal = true;
    } else if (flag == "--t5-bias") {
      t5_bias = true;
    } else if (flag == "--decode-layers" && i + 1 < argc) {
      decode_layers = std::max(1, std::atoi(argv[++i]));
    } else if (flag == "--queries" && i + 1 < argc) {
      queries = std::max(1, std::atoi(argv[++i]));
    } else {
      std::fprintf(
          stderr,
          "usage: latte_attention_bench [--rows 32,128,256,512] [--repeats N] [--causal] [--queries Q] "
          "[--t5-bias]\n");
      return 2;
    }
  }
  if (decode_layers > 0) {
    compare_cache_layouts(row_counts, decode_layers, repeats);
    return 0;
  }
  const int64_t heads = 12, head_dim = 64, width = heads * head_dim;
  const latte::AttentionSpec spec{heads, heads, head_dim, t5_bias ? 1.0f : 0.125f, causal};
  std::mt19937 generator(7);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  latte::Tensor table({32, heads});  // T5's [num_buckets, n_heads]
  for (int64_t i = 0; i < table.numel(); ++i) table.data()[i] = normal(generator);
  const latte::T5RelativeBias relative_bias(table, !causal, 128, 4096);
  const latte::PositionBias* bias = t5_bias ? &relative_bias : nullptr;
  std::printf("attention, %lld heads of %lld, %s%s, %s, %d threads, %d repeats (medians)\n",
              static_cast<long long>(heads), static_cast<long long>(head_dim),
              causal ? "causal" : "bidirectional", t5_bias ? ", T5 relative bias" : "",
              queries > 0 ? ("last " + std::to_string(queries) + " rows query").c_str() : "every row queries",
              omp_get_max_threads(), repeats);
  std::printf("%8s %12s %12s %12s %12s\n", "rows", "ms", "GFLOP/s", "ms+scores", "GFLOP/s");
  for (const int64_t n : row_counts) {
    std::vector<float> qkv(static_cast<size_t>(n * 3 * width));
    for (float& x : qkv) x = normal(generator);
    std::vector<float> context(static_cast<size_t>(n * width));
    std::vector<float> scores(static_cast<size_t>(n));
    std::vector<int64_t> positions(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) positions[static_cast<size_t>(i)] = i;
    latte::Arena arena;
    std::vector<double> plain, scored;
    for (int r = 0; r < repeats + 2; ++r) {
      for (const bool scoring : {false, true}) {
        latte::AttentionSequence sequence;
        sequence.keys = qkv.data() + width;
        sequence.values = qkv.data() + 2 * width;
        sequence.query_stride = sequence.key_value_stride = 3 * width;
        const int64_t q = queries > 0 ? std::min(queries, n) : n;
        sequence.queries = qkv.data() + (n - q) * 3 * width;
        sequence.query_positions = std::span<const int64_t>(positions).last(static_cast<size_t>(q));
        sequence.key_positions = positions;
        sequence.context = context.data();
        sequence.context_stride = width;
        sequence.key_scores = scoring ? scores.data() : nullptr;
        arena.reset();
        const auto start = Clock::now();
        latte::attention(spec, std::span(&sequence, 1), bias, arena);
        const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
        if (r >= 2) (scoring ? scored : plain).push_back(seconds);
      }
    }
    std::sort(plain.begin(), plain.end());
    std::sort(scored.begin(), scored.end());
    const int64_t q = queries > 0 ? std::min(queries, n) : n;
    const double flops = queries > 0 ? 4.0 * static_cast<double>(q * n * width)
                                     : 4.0 * static_cast<double>(n * n * width) * (causal ? 0.5 : 1.0);
    const double a = plain[plain.size() / 2], b = scored[scored.size() / 2];
    std::printf("%8lld %12.3f %12.1f %12.3f %12.1f\n", static_cast<long long>(n), a * 1e3, flops / a / 1e9,
                b * 1e3, flops / b / 1e9);
  }
  return 0;
}
