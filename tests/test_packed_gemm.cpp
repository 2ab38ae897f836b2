// PackedGemm (latte's small-row GEMM) against a plain double-precision loop,
// for both ISAs this CPU runs, every activation and the residual accumulate.
//
// Tolerance: |got - reference| <= 1e-5 * sqrt(K) * max(1, |reference|). Inputs
// are uniform in [-1, 1] and weights in [-1, 1] / sqrt(K), so pre-activations
// are O(1); fp32 accumulation over K terms errs by about eps * sqrt(K), and the
// vector exp/erf/tanh by ~1e-7 absolute.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <vector>

#include "latte/core/linear.h"
#include "latte/core/packed_gemm.h"
#include "latte/core/tensor.h"
#include "latte/core/threads.h"
#include "test_support.h"

namespace latte {

namespace {

struct Shape {
  int64_t out_features, in_features;
};

std::vector<GemmIsa> runnable_isas() {
  std::vector<GemmIsa> isas;
  const std::optional<GemmIsa> best = best_gemm_isa();
  if (!best) return isas;
  isas.push_back(GemmIsa::kAvx2);
  if (*best == GemmIsa::kAvx512) isas.push_back(GemmIsa::kAvx512);
  return isas;
}

using test_support::reference_activation;
using test_support::uniform;

// Every activation, bias and accumulate mode of one shape on every ISA, for
// each row count: the rows are a prefix of one input, so the reference is
// computed once. Rows past the count must be left untouched.
void check_shape(const Shape& shape, const std::vector<int64_t>& row_counts,
                 const std::vector<Activation>& activations) {
  const int64_t n = shape.out_features, k = shape.in_features;
  const int64_t max_rows = *std::max_element(row_counts.begin(), row_counts.end());
  const std::vector<float> weight = uniform(n * k, 1.0f / std::sqrt(static_cast<float>(k)), 1);
  const std::vector<float> bias = uniform(n, 0.5f, 2);
  const std::vector<float> x = uniform(max_rows * k, 1.0f, 3);
  const std::vector<float> residual = uniform(max_rows * n, 1.0f, 4);
  std::vector<double> product(static_cast<size_t>(max_rows * n));  // x W^T, no bias
  for (int64_t r = 0; r < max_rows; ++r) {
    for (int64_t o = 0; o < n; ++o) {
      double sum = 0.0;
      for (int64_t i = 0; i < k; ++i) sum += static_cast<double>(x[r * k + i]) * weight[o * k + i];
      product[r * n + o] = sum;
    }
  }
  const double tolerance = 1e-5 * std::sqrt(static_cast<double>(k));
  std::vector<double> activated(product.size());
  for (Activation activation : activations) {
    for (bool with_bias : {true, false}) {
      for (size_t i = 0; i < product.size(); ++i)
        activated[i] = reference_activation(product[i] + (with_bias ? bias[i % n] : 0.0), activation);
      for (GemmIsa isa : runnable_isas()) {
        for (bool accumulate : {false, true}) {
          const PackedGemm gemm(weight.data(), n, k, with_bias ? bias.data() : nullptr, activation,
                                accumulate, isa);
          for (int64_t rows : row_counts) {
            std::vector<float> y = accumulate ? residual : std::vector<float>(max_rows * n, 7.0f);
            gemm(x.data(), rows, y.data());
            int failures = 0;
            for (int64_t i = 0; i < max_rows * n && failures < 3; ++i) {
              const double untouched = accumulate ? residual[i] : 7.0;
              const double expected =
                  i < rows * n ? activated[i] + (accumulate ? residual[i] : 0.0) : untouched;
              if (!(std::abs(y[i] - expected) <= tolerance * std::max(1.0, std::abs(expected)))) {
                ADD_FAILURE() << gemm_isa_name(isa) << " rows " << rows << " out " << n << " in " << k
                              << " activation " << static_cast<int>(activation) << " accumulate "
                              << accumulate << " bias " << with_bias << " at [" << i / n << ", " << i % n
                              << "]: got " << y[i] << ", expected " << expected;
                ++failures;
              }
            }
          }
        }
      }
    }
  }
}

const std::vector<Activation> kEveryActivation = {Activation::kNone,     Activation::kGeluErf,
                                                  Activation::kGeluTanh, Activation::kRelu,
                                                  Activation::kTanh,     Activation::kSilu};

std::vector<int64_t> one_to(int64_t last) {
  std::vector<int64_t> counts;
  for (int64_t rows = 1; rows <= last; ++rows) counts.push_back(rows);
  return counts;
}

}  // namespace

TEST(PackedGemm, EveryRowCountOnSmallShapes) {
  if (runnable_isas().empty()) GTEST_SKIP() << "no AVX2+FMA on this CPU";
  // One thread: thousands of tiny calls, each a parallel region, take minutes
  // on a loaded 2-core machine. BertShapes covers the split over threads.
  const int threads = num_threads();
  set_num_threads(1);
  for (const Shape shape : {Shape{2, 5}, Shape{50, 128}, Shape{97, 37}}) {
    check_shape(shape, one_to(130), kEveryActivation);
  }
  set_num_threads(threads);
}

TEST(PackedGemm, BertShapes) {
  if (runnable_isas().empty()) GTEST_SKIP() << "no AVX2+FMA on this CPU";
  for (const Shape shape : {Shape{2304, 768}, Shape{768, 3072}, Shape{3072, 768}, Shape{2, 768}}) {
    // Full row blocks and remainders of both ISAs; the epilogue is the same code
    // at every shape (EveryRowCountOnSmallShapes covers every activation), and
    // fewer cases keep this test fast in the sanitizer build (-O0).
    check_shape(shape, {1, 17, 130}, {Activation::kNone, Activation::kGeluErf});
  }
}

TEST(PackedGemm, ZeroRowsLeaveOutputAlone) {
  if (runnable_isas().empty()) GTEST_SKIP() << "no AVX2+FMA on this CPU";
  const std::vector<float> weight(6, 1.0f);
  const PackedGemm gemm(weight.data(), 2, 3, nullptr, Activation::kNone, false, *best_gemm_isa());
  float y = 5.0f;
  gemm(nullptr, 0, &y);
  EXPECT_EQ(y, 5.0f);
}

// Linear's two kernels agree, GELU's erf approximation included, so the row
// count at which Linear switches between them cannot change a model's output.
TEST(PackedGemm, LinearPathsAgree) {
  if (runnable_isas().empty()) GTEST_SKIP() << "no AVX2+FMA on this CPU";
  const int64_t n = 3072, k = 768, rows = 20;
  Tensor weight({n, k}), bias({n});
  const std::vector<float> weight_values = uniform(n * k, 0.05f, 5), bias_values = uniform(n, 0.5f, 6);
  std::copy(weight_values.begin(), weight_values.end(), weight.data());
  std::copy(bias_values.begin(), bias_values.end(), bias.data());
  const std::vector<float> x = uniform(rows * k, 1.0f, 7);
  for (Activation activation :
       {Activation::kGeluErf, Activation::kGeluTanh, Activation::kTanh, Activation::kSilu}) {
    std::vector<float> onednn(rows * n, 0.25f), packed(rows * n, 0.25f);
    Linear(weight, bias, activation, true, GemmPath::kOneDnn)(x.data(), rows, onednn.data());
    Linear(weight, bias, activation, true, GemmPath::kPacked)(x.data(), rows, packed.data());
    for (int64_t i = 0; i < rows * n; ++i) {
      ASSERT_NEAR(packed[i], onednn[i],
                  1e-5 * std::sqrt(static_cast<double>(k)) * std::max(1.0f, std::abs(onednn[i])))
          << "activation " << static_cast<int>(activation) << " at " << i;
    }
  }
}

}  // namespace latte

namespace latte {

// With AVX2 or AVX-512, kAuto runs PackedGemm at every row count (it beat oneDNN at 256-1024
// rows too, docs/benchmarks.md): its output is bit-identical to kPacked's, and within fp32
// rounding of a double-precision product, at row counts on both sides of the old 128-row switch.
TEST(PackedGemm, AutoRunsPackedAtEveryRowCount) {
  if (runnable_isas().empty()) GTEST_SKIP() << "no AVX2+FMA on this CPU";
  const int64_t n = 200, k = 96;
  Tensor weight({n, k}), bias({n});
  const std::vector<float> weight_values = uniform(n * k, 0.05f, 11), bias_values = uniform(n, 0.5f, 12);
  std::copy(weight_values.begin(), weight_values.end(), weight.data());
  std::copy(bias_values.begin(), bias_values.end(), bias.data());
  const Linear automatic(weight, bias, Activation::kNone, false, GemmPath::kAuto);
  const Linear packed(weight, bias, Activation::kNone, false, GemmPath::kPacked);
  for (const int64_t rows : {int64_t{7}, int64_t{128}, int64_t{129}, int64_t{600}}) {
    const std::vector<float> x = uniform(rows * k, 1.0f, 13 + static_cast<unsigned>(rows));
    std::vector<float> from_auto(static_cast<size_t>(rows * n)), from_packed(static_cast<size_t>(rows * n));
    automatic(x.data(), rows, from_auto.data());
    packed(x.data(), rows, from_packed.data());
    for (int64_t r = 0; r < rows; ++r) {
      for (int64_t o = 0; o < n; ++o) {
        double expected = bias_values[static_cast<size_t>(o)];
        for (int64_t i = 0; i < k; ++i) {
          expected += static_cast<double>(x[static_cast<size_t>(r * k + i)]) *
                      weight_values[static_cast<size_t>(o * k + i)];
        }
        const size_t at = static_cast<size_t>(r * n + o);
        ASSERT_EQ(from_auto[at], from_packed[at]) << "rows " << rows << " at " << at;
        ASSERT_NEAR(from_auto[at], expected, 1e-5) << "rows " << rows << " at " << at;
      }
    }
  }
}

}  // namespace latte
