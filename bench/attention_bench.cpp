// latte_attention_bench: time of latte::attention alone at real head shapes (BERT-base: 12 heads
// of 64; GPT-2 124M causal prefill), with and without the ACC key scores, against the row count.
// It prints ms per call and GFLOP/s of the two products (QK^T and PV), medians of interleaved
// rounds, so two builds can be compared side by side (docs/benchmarks.md, issue 12).
//
//   latte_attention_bench [--rows 32,128,256,512] [--repeats 20] [--causal] [--queries Q]
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

}  // namespace

int main(int argc, char** argv) {
  std::vector<int64_t> row_counts = {32, 128, 256, 512};
  int repeats = 20;
  bool causal = false;
  int64_t queries = 0;  // 0: every row
  for (int i = 1; i < argc; ++i) {
    const std::string flag = argv[i];
    if (flag == "--rows" && i + 1 < argc) {
      row_counts = parse_rows(argv[++i]);
    } else if (flag == "--repeats" && i + 1 < argc) {
      repeats = std::max(1, std::atoi(argv[++i]));
    } else if (flag == "--causal") {
      causal = true;
    } else if (flag == "--queries" && i + 1 < argc) {
      queries = std::max(1, std::atoi(argv[++i]));
    } else {
      std::fprintf(
          stderr,
          "usage: latte_attention_bench [--rows 32,128,256,512] [--repeats N] [--causal] [--queries Q]\n");
      return 2;
    }
  }
  const int64_t heads = 12, head_dim = 64, width = heads * head_dim;
  const latte::AttentionSpec spec{heads, heads, head_dim, 0.125f, causal};
  std::printf("attention, %lld heads of %lld, %s, %s, %d threads, %d repeats (medians)\n",
              static_cast<long long>(heads), static_cast<long long>(head_dim),
              causal ? "causal" : "bidirectional",
              queries > 0 ? ("last " + std::to_string(queries) + " rows query").c_str() : "every row queries",
              omp_get_max_threads(), repeats);
  std::printf("%8s %12s %12s %12s %12s\n", "rows", "ms", "GFLOP/s", "ms+scores", "GFLOP/s");
  std::mt19937 generator(7);
  std::normal_distribution<float> normal(0.0f, 1.0f);
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
        latte::attention(spec, std::span(&sequence, 1), nullptr, arena);
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
