// latte_bf16_bench: a bf16 Linear at few rows, oneDNN's matmul (GemmPath::kOneDnn) against
// latte's few-row kernel (GemmPath::kAuto) on the same weights, timed interleaved in one
// process, as GB/s of weights streamed beside the machine's measured memory bandwidth.
// Shapes are the Llama-3.2-1B block's (hidden 2048, 8 KV heads of 64, FFN 8192).
//
// Each shape's weights are cycled through enough copies to exceed L3 many times over, as in a
// decode step (a 1B model's 2.5 GB never stay cached).
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "bench_args.h"
#include "latte/core/cpu.h"
#include "latte/core/linear.h"
#include "latte/core/tensor.h"
#include "latte/core/threads.h"

namespace {

using Clock = std::chrono::steady_clock;

// The time at `fraction` of the sorted samples: 0.5 the median, 0.1 the fastest decile (what a
// call takes when no other process holds one of its threads' cores on this shared machine).
double quantile(std::vector<double> values, double fraction) {
  std::sort(values.begin(), values.end());
  return values[static_cast<size_t>(fraction * static_cast<double>(values.size() - 1))];
}

struct Shape {
  const char* name;
  int64_t in_features, out_features;
  latte::Activation activation;
  bool accumulate;
};

using latte::bench::parse_rows;

}  // namespace

int main(int argc, char** argv) {
  int threads = 2, repeats = 20;
  std::vector<int64_t> row_counts = {1, 2, 3, 4, 5, 6, 8};
  for (int i = 1; i + 1 < argc; i += 2) {
    if (std::strcmp(argv[i], "--threads") == 0) {
      threads = std::atoi(argv[i + 1]);
    } else if (std::strcmp(argv[i], "--repeats") == 0) {
      repeats = std::atoi(argv[i + 1]);
    } else if (std::strcmp(argv[i], "--rows") == 0) {
      row_counts = parse_rows(argv[i + 1]);
    } else {
      std::fprintf(stderr, "usage: latte_bf16_bench [--threads N] [--repeats N] [--rows 1,2,4]\n");
      return 2;
    }
  }
  if (threads < 1 || repeats < 1 || row_counts.empty()) {
    std::fprintf(stderr, "latte_bf16_bench: threads, repeats and rows must be positive\n");
    return 2;
  }
  if (const std::string reason = latte::precision_unavailable_reason(latte::Precision::kBf16);
      !reason.empty()) {
    std::fprintf(stderr, "%s\n", reason.c_str());
    return 1;
  }
  latte::set_num_threads(threads);
  const double bandwidth = latte::measure_memory_bandwidth() / 1e9;
  std::ifstream loadavg_file("/proc/loadavg");
  std::string loadavg;
  std::getline(loadavg_file, loadavg);
  const latte::CpuInfo cpu = latte::read_cpu_info();
  std::printf("%s, %d threads, load average %s\nmeasured memory bandwidth %.1f GB/s\n", cpu.model.c_str(),
              threads, loadavg.c_str(), bandwidth);

  const Shape shapes[] = {
      {"qkv", 2048, 3072, latte::Activation::kNone, false},
      {"o_proj", 2048, 2048, latte::Activation::kNone, true},
      {"gate", 2048, 8192, latte::Activation::kSilu, false},
      {"down", 8192, 2048, latte::Activation::kNone, true},
  };
  std::mt19937 generator(42);
  std::uniform_real_distribution<float> distribution(-0.05f, 0.05f);
  const int64_t max_rows = *std::max_element(row_counts.begin(), row_counts.end());
  for (const Shape& shape : shapes) {
    const int64_t weight_bytes = shape.in_features * shape.out_features * 2;
    // 1 GiB of copies per path: where a buffer lands in physical memory moved one object's
    // streaming rate by up to 25 % here, so each path's median spreads over many objects.
    const int64_t copies = std::max<int64_t>(2, (int64_t{1} << 30) / weight_bytes);
    std::vector<latte::Linear> onednn, few_row;
    for (int64_t c = 0; c < copies; ++c) {
      latte::Tensor weight({shape.out_features, shape.in_features});
      for (int64_t i = 0; i < weight.numel(); ++i) weight.data()[i] = distribution(generator);
      onednn.emplace_back(weight, latte::Tensor(), shape.activation, shape.accumulate,
                          latte::GemmPath::kOneDnn, latte::Precision::kBf16);
      few_row.emplace_back(weight, latte::Tensor(), shape.activation, shape.accumulate,
                           latte::GemmPath::kAuto, latte::Precision::kBf16);
    }
    latte::Tensor x({max_rows, shape.in_features}), y({max_rows, shape.out_features});
    for (int64_t i = 0; i < x.numel(); ++i) x.data()[i] = distribution(generator);
    std::printf("\n%s [M, %ld] x [%ld, %ld]: %.1f MB of bf16 weights, %ld copies cycled\n", shape.name,
                static_cast<long>(shape.in_features), static_cast<long>(shape.in_features),
                static_cast<long>(shape.out_features), weight_bytes / 1e6, static_cast<long>(copies));
    std::printf(
        "| rows | oneDNN ms, median / fastest decile | few-row ms | oneDNN / few-row, median / decile | "
        "oneDNN "
        "GB/s at the decile | few-row GB/s |\n");
    std::printf("|---|---|---|---|---|---|\n");
    const size_t cells = row_counts.size();
    std::vector<std::vector<double>> onednn_seconds(cells), few_row_seconds(cells);
    int64_t onednn_copy = 0, few_row_copy = 0;
    // Every cell every round, both paths back to back on different copies: a burst of load
    // elsewhere on the machine lands on both alike. Two warm-up rounds make the primitives.
    for (int round = 0; round < repeats + 2; ++round) {
      for (size_t cell = 0; cell < cells; ++cell) {
        const int64_t rows = row_counts[cell];
        auto start = Clock::now();
        onednn[onednn_copy++ % copies](x.data(), rows, y.data());
        const double onednn_elapsed = std::chrono::duration<double>(Clock::now() - start).count();
        start = Clock::now();
        few_row[few_row_copy++ % copies](x.data(), rows, y.data());
        const double few_row_elapsed = std::chrono::duration<double>(Clock::now() - start).count();
        if (round < 2) continue;
        onednn_seconds[cell].push_back(onednn_elapsed);
        few_row_seconds[cell].push_back(few_row_elapsed);
      }
    }
    for (size_t cell = 0; cell < cells; ++cell) {
      const double a = quantile(onednn_seconds[cell], 0.5), b = quantile(few_row_seconds[cell], 0.5);
      const double a10 = quantile(onednn_seconds[cell], 0.1), b10 = quantile(few_row_seconds[cell], 0.1);
      std::printf("| %ld | %.3f / %.3f | %.3f / %.3f | %.2f / %.2f | %.1f | %.1f |\n",
                  static_cast<long>(row_counts[cell]), a * 1e3, a10 * 1e3, b * 1e3, b10 * 1e3, a / b,
                  a10 / b10, weight_bytes / a10 / 1e9, weight_bytes / b10 / 1e9);
    }
  }
  return 0;
}
