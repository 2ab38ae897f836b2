// latte_gemm_bench: GFLOP/s of each BERT-base GEMM against the row count, for
// oneDNN's matmul and latte's PackedGemm timed interleaved in one process,
// beside the machine's fp32 peak and the weight-streaming bound. With
// --dtype int8 or bf16, Linear in that precision is timed in the same rounds.
//
// The weights of every shape are cycled through enough copies to exceed L3,
// as in a real forward pass (BERT-base's 340 MB of layer weights never stay
// cached), so small-row numbers include streaming the weights from memory.
#include <immintrin.h>
#include <omp.h>

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
#include "latte/core/error.h"
#include "latte/core/linear.h"
#include "latte/core/packed_gemm.h"
#include "latte/core/tensor.h"
#include "latte/core/threads.h"

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

double median(std::vector<double> values) {
  std::sort(values.begin(), values.end());
  return values[values.size() / 2];
}

double cpu_mhz() {
  std::ifstream cpuinfo("/proc/cpuinfo");
  std::string line;
  while (std::getline(cpuinfo, line)) {
    if (line.rfind("cpu MHz", 0) == 0) return std::atof(line.substr(line.find(':') + 1).c_str());
  }
  return 0.0;
}

// The 90th percentile of rates measured in short bursts: on a shared machine a
// long run is mostly a measure of the other jobs; a short burst with every
// thread on a core is what a layer's GEMM call sees when it runs.
double best_decile(std::vector<double> rates) {
  std::sort(rates.begin(), rates.end());
  return rates[rates.size() * 9 / 10];
}

// Streaming read on every thread, in bursts of 32 MiB walking a 1 GiB buffer
// (32x a 32 MB L3, so no burst finds its data cached): memory bandwidth in GB/s.
double measure_bandwidth_gbs() {
  const size_t burst = size_t{32} << 20 >> 2, count = size_t{1} << 30 >> 2;  // uint32 elements
  std::vector<uint32_t> buffer(count);
#pragma omp parallel for schedule(static)
  for (size_t i = 0; i < count; ++i) buffer[i] = static_cast<uint32_t>(i);
  std::vector<double> rates;
  uint32_t sink = 0;
  for (int pass = 0; pass < 3; ++pass) {
    for (size_t begin = 0; begin < count; begin += burst) {
      const auto start = Clock::now();
      uint32_t sum = 0;
#pragma omp parallel reduction(+ : sum)
      {
        // Integer sums vectorise without reassociation flags.
        const size_t threads = static_cast<size_t>(omp_get_num_threads());
        const size_t thread = static_cast<size_t>(omp_get_thread_num());
        const uint32_t* slice = buffer.data() + begin + burst * thread / threads;
        const size_t length = burst * (thread + 1) / threads - burst * thread / threads;
        uint32_t local = 0;
        for (size_t i = 0; i < length; ++i) local += slice[i];
        sum += local;
      }
      rates.push_back(static_cast<double>(burst * 4) / seconds_since(start) / 1e9);
      sink += sum;
    }
  }
  if (sink == 1) std::printf(" ");  // keeps the reads
  return best_decile(rates);
}

// FMA throughput with operands in registers: 12 independent chains (distinct
// start values, so none can be merged) per thread, 0.1 M iterations a burst.
__attribute__((target("avx512f"))) double fma_burst_avx512(int64_t iterations) {
  double total = 0;
#pragma omp parallel reduction(+ : total)
  {
    __m512 chains[12];
    for (int c = 0; c < 12; ++c) chains[c] = _mm512_set1_ps(static_cast<float>(c + omp_get_thread_num()));
    const __m512 a = _mm512_set1_ps(0.999f), b = _mm512_set1_ps(0.001f);
    for (int64_t i = 0; i < iterations; ++i) {
#pragma GCC unroll 12
      for (int c = 0; c < 12; ++c) chains[c] = _mm512_fmadd_ps(chains[c], a, b);
    }
    float lanes[16];
    __m512 sum = chains[0];
    for (int c = 1; c < 12; ++c) sum = _mm512_add_ps(sum, chains[c]);
    _mm512_storeu_ps(lanes, sum);
    total += lanes[0] * 1e-30;
  }
  return total;
}

__attribute__((target("avx2,fma"))) double fma_burst_avx2(int64_t iterations) {
  double total = 0;
#pragma omp parallel reduction(+ : total)
  {
    __m256 chains[12];
    for (int c = 0; c < 12; ++c) chains[c] = _mm256_set1_ps(static_cast<float>(c + omp_get_thread_num()));
    const __m256 a = _mm256_set1_ps(0.999f), b = _mm256_set1_ps(0.001f);
    for (int64_t i = 0; i < iterations; ++i) {
#pragma GCC unroll 12
      for (int c = 0; c < 12; ++c) chains[c] = _mm256_fmadd_ps(chains[c], a, b);
    }
    float lanes[8];
    __m256 sum = chains[0];
    for (int c = 1; c < 12; ++c) sum = _mm256_add_ps(sum, chains[c]);
    _mm256_storeu_ps(lanes, sum);
    total += lanes[0] * 1e-30;
  }
  return total;
}

// Measured fp32 GFLOP/s of FMAs on registers with every thread busy.
double measure_fma_peak(latte::GemmIsa isa) {
  const int64_t iterations = 100'000;
  const int lanes = isa == latte::GemmIsa::kAvx512 ? 16 : 8;
  std::vector<double> rates;
  for (int burst = 0; burst < 300; ++burst) {
    const auto start = Clock::now();
    const double sink =
        isa == latte::GemmIsa::kAvx512 ? fma_burst_avx512(iterations) : fma_burst_avx2(iterations);
    const double elapsed = seconds_since(start);
    if (sink == 1.0) std::printf(" ");
    rates.push_back(2.0 * lanes * 12 * static_cast<double>(iterations) * latte::num_threads() / elapsed /
                    1e9);
  }
  return best_decile(rates);
}

struct GemmShape {
  const char* name;
  int64_t in_features, out_features;
  latte::Activation activation;
  bool accumulate;
};

using latte::bench::parse_rows;

}  // namespace

int main(int argc, char** argv) {
  int threads = 2, repeats = 30;
  std::vector<int64_t> row_counts = {1, 2, 4, 8, 12, 16, 24, 32, 48, 64, 96, 128};
  std::string only;
  latte::Precision precision = latte::Precision::kF32;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (std::strcmp(argv[i], "--threads") == 0)
      threads = std::atoi(argv[i + 1]);
    else if (std::strcmp(argv[i], "--repeats") == 0)
      repeats = std::atoi(argv[i + 1]);
    else if (std::strcmp(argv[i], "--rows") == 0)
      row_counts = parse_rows(argv[i + 1]);
    else if (std::strcmp(argv[i], "--shape") == 0)
      only = argv[i + 1];
    else if (std::strcmp(argv[i], "--dtype") == 0) {
      try {
        precision = latte::precision_from_name(argv[i + 1]);
      } catch (const latte::Error& error) {
        std::fprintf(stderr, "%s\n", error.what());
        return 2;
      }
    } else {
      std::fprintf(stderr,
                   "usage: latte_gemm_bench [--threads N] [--repeats N] [--rows 1,2,4] [--shape NAME] "
                   "[--dtype f32|int8|bf16]\n");
      return 2;
    }
  }
  if (const std::string reason = latte::precision_unavailable_reason(precision); !reason.empty()) {
    std::fprintf(stderr, "%s\n", reason.c_str());
    return 1;
  }
  const bool low_precision = precision != latte::Precision::kF32;
  const char* dtype = latte::precision_name(precision);
  // Bytes per weight the low-precision Linear streams.
  const int64_t low_precision_bytes = precision == latte::Precision::kInt8 ? 1 : 2;
  latte::set_num_threads(threads);
  const std::optional<latte::GemmIsa> isa = latte::best_gemm_isa();
  if (!isa) {
    std::fprintf(stderr, "this CPU has no AVX2+FMA: PackedGemm does not run here\n");
    return 1;
  }
  const int lanes = *isa == latte::GemmIsa::kAvx512 ? 16 : 8;
  const double mhz = cpu_mhz();
  // Zen cores have 2 FMA pipes; the nominal figure assumes each retires a full
  // vector per cycle (Zen 4 splits a 512-bit FMA in two 256-bit halves, so its
  // measured AVX-512 peak is half of this).
  const double nominal_peak = threads * 2.0 * lanes * 2.0 * mhz / 1e3;
  const double fma_peak = measure_fma_peak(*isa);
  // The floor is a lower bound on time, so it takes the best bandwidth seen:
  // on this VM unpinned threads that migrate between cores measured 10x below
  // one thread (docs/benchmarks.md).
  const double bandwidth_all = measure_bandwidth_gbs();
  latte::set_num_threads(1);
  const double bandwidth_one = measure_bandwidth_gbs();
  latte::set_num_threads(threads);
  const double bandwidth = std::max(bandwidth_all, bandwidth_one);
  std::ifstream loadavg_file("/proc/loadavg");
  std::string loadavg;
  std::getline(loadavg_file, loadavg);
  std::printf("threads %d, ISA %s, cpu MHz %.0f, load average %s\n", threads, latte::gemm_isa_name(*isa), mhz,
              loadavg.c_str());
  std::printf(
      "fp32 peak: nominal %.0f GFLOP/s (threads x 2 FMA units x %d lanes x 2 x clock), "
      "measured FMA loop %.0f GFLOP/s (best decile of bursts)\n",
      nominal_peak, lanes, fma_peak);
  std::printf(
      "memory bandwidth (streaming read, best decile of 32 MiB bursts): %.1f GB/s on %d threads, "
      "%.1f on 1\n",
      bandwidth_all, threads, bandwidth_one);

  const GemmShape shapes[] = {
      {"qkv", 768, 2304, latte::Activation::kNone, false},
      {"out_proj", 768, 768, latte::Activation::kNone, true},
      {"ffn_in", 768, 3072, latte::Activation::kGeluErf, false},
      {"ffn_out", 3072, 768, latte::Activation::kNone, true},
  };
  std::mt19937 generator(42);
  std::uniform_real_distribution<float> distribution(-0.05f, 0.05f);
  const int64_t max_rows = *std::max_element(row_counts.begin(), row_counts.end());
  for (const GemmShape& shape : shapes) {
    if (!only.empty() && only != shape.name) continue;
    const int64_t weight_bytes = shape.in_features * shape.out_features * 4;
    const int64_t copies = std::max<int64_t>(1, (int64_t{128} << 20) / weight_bytes);
    // The low-precision weights are smaller, so more copies of them exceed L3 alike.
    const int64_t low_precision_copies = low_precision ? copies * 4 / low_precision_bytes : 0;
    std::vector<latte::Linear> onednn, packed, reduced;
    for (int64_t c = 0; c < std::max(copies, low_precision_copies); ++c) {
      latte::Tensor weight({shape.out_features, shape.in_features}), bias({shape.out_features});
      for (int64_t i = 0; i < weight.numel(); ++i) weight.data()[i] = distribution(generator);
      for (int64_t i = 0; i < bias.numel(); ++i) bias.data()[i] = distribution(generator);
      if (c < copies) {
        onednn.emplace_back(weight, bias, shape.activation, shape.accumulate, latte::GemmPath::kOneDnn);
        packed.emplace_back(weight, bias, shape.activation, shape.accumulate, latte::GemmPath::kPacked);
      }
      if (c < low_precision_copies) {
        reduced.emplace_back(weight, bias, shape.activation, shape.accumulate, latte::GemmPath::kAuto,
                             precision);
      }
    }
    latte::Tensor x({max_rows, shape.in_features}), y({max_rows, shape.out_features});
    for (int64_t i = 0; i < x.numel(); ++i) x.data()[i] = distribution(generator);
    const double floor_ms = static_cast<double>(weight_bytes) / (bandwidth * 1e9) * 1e3;
    std::printf(
        "\n%s [M, %ld] x [%ld, %ld]%s%s: %.1f MB of weights, %ld copies cycled; streaming floor %.3f ms\n",
        shape.name, static_cast<long>(shape.in_features), static_cast<long>(shape.in_features),
        static_cast<long>(shape.out_features),
        shape.activation == latte::Activation::kGeluErf ? " + gelu" : "",
        shape.accumulate ? " + residual" : "", weight_bytes / 1e6, static_cast<long>(copies), floor_ms);
    if (low_precision) {
      std::printf(
          "| rows | oneDNN GFLOP/s | packed GFLOP/s | packed / oneDNN | %s GFLOP/s | %s / best fp32 | bound "
          "GFLOP/s | packed / bound | %s streaming bound GFLOP/s |\n",
          dtype, dtype, dtype);
      std::printf("|---|---|---|---|---|---|---|---|---|\n");
      // Every copy meets every row bucket once before timing: its first call makes the
      // bucket's oneDNN primitive.
      for (latte::Linear& linear : reduced) {
        for (const int64_t rows : row_counts) linear(x.data(), rows, y.data());
      }
    } else {
      std::printf(
          "| rows | oneDNN GFLOP/s | packed GFLOP/s | packed / oneDNN | bound GFLOP/s | packed / bound |\n");
      std::printf("|---|---|---|---|---|---|\n");
    }
    // Interleaved: every round times both kernels at every row count, each call
    // on the next copy of the weights, so a burst of load elsewhere on the
    // machine lands on all cells of the table alike rather than on one row.
    const size_t cells = row_counts.size();
    std::vector<std::vector<double>> onednn_seconds(cells), packed_seconds(cells), reduced_seconds(cells);
    int64_t copy = 0, reduced_copy = 0;
    for (int round = 0; round < repeats + 2; ++round) {
      for (size_t cell = 0; cell < cells; ++cell) {
        const int64_t rows = row_counts[cell];
        auto start = Clock::now();
        onednn[copy++ % copies](x.data(), rows, y.data());
        const double onednn_elapsed = seconds_since(start);
        start = Clock::now();
        packed[copy++ % copies](x.data(), rows, y.data());
        const double packed_elapsed = seconds_since(start);
        double reduced_elapsed = 0.0;
        if (low_precision) {
          start = Clock::now();
          reduced[reduced_copy++ % low_precision_copies](x.data(), rows, y.data());
          reduced_elapsed = seconds_since(start);
        }
        if (round < 2) continue;  // warm-up
        onednn_seconds[cell].push_back(onednn_elapsed);
        packed_seconds[cell].push_back(packed_elapsed);
        reduced_seconds[cell].push_back(reduced_elapsed);
      }
    }
    for (size_t cell = 0; cell < cells; ++cell) {
      const int64_t rows = row_counts[cell];
      const double flops = 2.0 * static_cast<double>(rows * shape.in_features * shape.out_features);
      const double onednn_gflops = flops / median(onednn_seconds[cell]) / 1e9;
      const double packed_gflops = flops / median(packed_seconds[cell]) / 1e9;
      // The faster a GEMM can be: weights streamed once at full bandwidth, or
      // every FMA unit busy, whichever takes longer.
      const double bound = std::min(fma_peak, flops / (floor_ms * 1e-3) / 1e9);
      if (!low_precision) {
        std::printf("| %ld | %.1f | %.1f | %.2f | %.1f | %.0f %% |\n", static_cast<long>(rows), onednn_gflops,
                    packed_gflops, packed_gflops / onednn_gflops, bound, 100.0 * packed_gflops / bound);
        continue;
      }
      const double reduced_gflops = flops / median(reduced_seconds[cell]) / 1e9;
      // Only the weight-streaming part of the bound shrinks with the weights' bytes.
      const double reduced_bound =
          flops / (floor_ms * 1e-3 * static_cast<double>(low_precision_bytes) / 4.0) / 1e9;
      std::printf("| %ld | %.1f | %.1f | %.2f | %.1f | %.2f | %.1f | %.0f %% | %.1f |\n",
                  static_cast<long>(rows), onednn_gflops, packed_gflops, packed_gflops / onednn_gflops,
                  reduced_gflops, reduced_gflops / std::max(onednn_gflops, packed_gflops), bound,
                  100.0 * packed_gflops / bound, reduced_bound);
    }
    std::fflush(stdout);
  }
  return 0;
}
