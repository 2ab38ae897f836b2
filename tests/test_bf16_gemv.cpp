// LowPrecisionGemm's few-row bf16 kernel (vdpbf16ps on oneDNN's blocked weights, read in place)
// against a double-precision reference on the same bf16-rounded values, and against oneDNN's
// matmul on the same weights.
//
// Both paths multiply bf16(x) by bf16(w) exactly and add in f32, so each output may differ from
// the double sum only by f32 accumulation: bounded here by 1e-5 of sum_k |x_k w_k| (plus the
// bias and residual, and the vector activations' ~1e-7), times the activation's largest slope.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "latte/core/linear.h"
#include "latte/core/packed_gemm.h"
#include "low_precision_gemm.h"
#include "test_support.h"

namespace latte {

namespace {

using test_support::reference_activation;
using test_support::uniform;

constexpr double kLargestSlope = 1.13;

// Round to nearest even, NaN kept: what LowPrecisionGemm does to weights and inputs.
float rounded_to_bf16(float value) {
  uint32_t bits;
  std::memcpy(&bits, &value, sizeof bits);
  if ((bits & 0x7fffffffu) > 0x7f800000u) return value;
  bits += 0x7fffu + ((bits >> 16) & 1u);
  bits &= 0xffff0000u;
  float result;
  std::memcpy(&result, &bits, sizeof result);
  return result;
}

std::string skip_reason() {
  const std::string reason = precision_unavailable_reason(Precision::kBf16);
  return reason.empty() ? "" : "bf16 unavailable: " + reason;
}

// The few-row kernel runs where latte's ISA is AVX-512 and the CPU has avx512bf16; under
// LATTE_GEMM_ISA=avx2 (a ctest variant) every call must go to oneDNN.
bool expect_few_row_kernel() {
  __builtin_cpu_init();
  const std::optional<GemmIsa> isa = best_gemm_isa();
  return isa && *isa == GemmIsa::kAvx512 && __builtin_cpu_supports("avx512bf16");
}

struct Shape {
  int64_t out_features, in_features;
};

// Every row count 1..8 (the kernel serves up to few_row_limit(), oneDNN the rest), with each (activation,
// bias, accumulate), on one object per variant for each path; rows past the count must stay untouched.
void check_shape(const Shape& shape) {
  const int64_t n = shape.out_features, k = shape.in_features;
  const std::vector<int64_t> row_counts = {1, 2, 3, 4, 5, 6, 7, 8};
  const int64_t max_rows = 8;
  const std::vector<float> weight = uniform(n * k, 1.0f / std::sqrt(static_cast<float>(k)), 31);
  const std::vector<float> x = uniform(max_rows * k, 1.0f, 32);
  const std::vector<float> bias = uniform(n, 0.5f, 33);
  const std::vector<float> residual = uniform((max_rows + 1) * n, 1.0f, 34);
  const float kSentinel = 12345.0f;

  std::vector<double> product(static_cast<size_t>(max_rows * n)), magnitude(product.size());
  for (int64_t r = 0; r < max_rows; ++r) {
    for (int64_t o = 0; o < n; ++o) {
      double sum = 0.0, absolute = 0.0;
      for (int64_t i = 0; i < k; ++i) {
        const double term =
            static_cast<double>(rounded_to_bf16(x[r * k + i])) * rounded_to_bf16(weight[o * k + i]);
        sum += term;
        absolute += std::fabs(term);
      }
      product[r * n + o] = sum;
      magnitude[r * n + o] = absolute;
    }
  }

  for (const Activation activation : {Activation::kNone, Activation::kSilu, Activation::kGeluTanh}) {
    for (const bool with_bias : {true, false}) {
      for (const bool accumulate : {false, true}) {
        const float* bias_data = with_bias ? bias.data() : nullptr;
        const LowPrecisionGemm few_row(weight.data(), n, k, bias_data, activation, accumulate,
                                       GemmPath::kAuto);
        const LowPrecisionGemm onednn(weight.data(), n, k, bias_data, activation, accumulate,
                                      GemmPath::kOneDnn);
        if (expect_few_row_kernel()) {
          ASSERT_GE(few_row.few_row_limit(), 1) << "[" << n << ", " << k << "]";
          ASSERT_LT(few_row.few_row_limit(), max_rows);
        } else {
          ASSERT_EQ(few_row.few_row_limit(), 0);
        }
        ASSERT_EQ(onednn.few_row_limit(), 0);
        for (const int64_t rows : row_counts) {
          std::vector<float> from_few_row(residual), from_onednn(residual);
          std::fill(from_few_row.begin() + rows * n, from_few_row.end(), kSentinel);
          std::fill(from_onednn.begin() + rows * n, from_onednn.end(), kSentinel);
          few_row(x.data(), rows, from_few_row.data());
          onednn(x.data(), rows, from_onednn.data());
          for (int64_t i = 0; i < rows * n; ++i) {
            const int64_t o = i % n;
            const double b = with_bias ? bias[o] : 0.0;
            const double previous = accumulate ? residual[i] : 0.0;
            const double expected = reference_activation(product[i] + b, activation) + previous;
            const double tolerance =
                kLargestSlope * (1e-5 * (magnitude[i] + std::fabs(b) + std::fabs(previous)) + 1e-6);
            ASSERT_NEAR(from_few_row[i], expected, tolerance)
                << "few-row [" << n << ", " << k << "] rows " << rows << " element " << i << " activation "
                << static_cast<int>(activation) << " bias " << with_bias << " accumulate " << accumulate;
            ASSERT_NEAR(from_onednn[i], expected, tolerance)
                << "oneDNN [" << n << ", " << k << "] rows " << rows;
          }
          for (size_t i = static_cast<size_t>(rows * n); i < from_few_row.size(); ++i)
            ASSERT_EQ(from_few_row[i], kSentinel) << "rows " << rows << ": wrote past the last row at " << i;
        }
      }
    }
  }
}

}  // namespace

// Sizes below, at and across the kernel's 64-column blocks and 32-value K groups, and odd ones.
TEST(Bf16Gemv, SmallAndOddShapesMatchReferenceAndOneDnn) {
  if (const std::string reason = skip_reason(); !reason.empty()) GTEST_SKIP() << reason;
  for (const Shape shape :
       {Shape{1, 1}, Shape{3, 5}, Shape{29, 37}, Shape{64, 32}, Shape{65, 33}, Shape{64, 64}})
    check_shape(shape);
}

// Large enough to run on every thread (several blocks per thread, the last one partial).
TEST(Bf16Gemv, ThreadedShapesMatchReferenceAndOneDnn) {
  if (const std::string reason = skip_reason(); !reason.empty()) GTEST_SKIP() << reason;
  for (const Shape shape : {Shape{130, 257}, Shape{300, 1030}}) check_shape(shape);
}

// A NaN in one row's input makes that row's outputs NaN and leaves the other rows finite.
TEST(Bf16Gemv, NanInputPropagatesToItsRowOnly) {
  if (const std::string reason = skip_reason(); !reason.empty()) GTEST_SKIP() << reason;
  const int64_t n = 70, k = 45, rows = 3;
  const std::vector<float> weight = uniform(n * k, 0.2f, 41);
  std::vector<float> x = uniform(rows * k, 1.0f, 42);
  x[1 * k + 44] = std::numeric_limits<float>::quiet_NaN();
  const LowPrecisionGemm gemm(weight.data(), n, k, nullptr, Activation::kNone, false, GemmPath::kAuto);
  std::vector<float> y(rows * n);
  gemm(x.data(), rows, y.data());
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t o = 0; o < n; ++o) {
      if (r == 1) {
        EXPECT_TRUE(std::isnan(y[r * n + o])) << "column " << o;
      } else {
        EXPECT_TRUE(std::isfinite(y[r * n + o])) << "row " << r << " column " << o;
      }
    }
  }
}

// oneDNN's products run at a padded row count: exact up to 8 rows, then a multiple of 8 that
// pads by at most 1/64 of the rows (a coarser scheme padded 531 rows to 640), with 64 buckets per
// doubling of the rows. The padding rows never reach the output: the shapes above cover counts
// between buckets.
TEST(LowPrecisionGemm, RowBucketsPadByASixtyFourthAtMost) {
  for (int64_t rows = 1; rows <= 8; ++rows) EXPECT_EQ(LowPrecisionGemm::row_bucket(rows), rows);
  int64_t previous = 8, buckets_from_1024 = 0;
  for (int64_t rows = 9; rows <= 20000; ++rows) {
    const int64_t bucket = LowPrecisionGemm::row_bucket(rows);
    EXPECT_EQ(bucket % 8, 0) << rows;
    EXPECT_GE(bucket, rows);
    EXPECT_LE(bucket - rows, std::max<int64_t>(7, rows / 64)) << rows;
    EXPECT_GE(bucket, previous) << rows;
    if (rows > 1024 && rows <= 2048 && bucket != previous) ++buckets_from_1024;
    previous = bucket;
  }
  EXPECT_EQ(buckets_from_1024, 64);
}

}  // namespace latte
