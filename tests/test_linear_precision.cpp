// Linear in int8 and bf16 against a double-precision reference on the same fp32 inputs.
//
// int8 tolerance, per output, from the quantization steps: with
// sx = max|x_row| / int8_activation_levels() (127 with VNNI, 63 without) and sw = max|W_o| / 127, each
// product x_k w_k is computed as (x_k + ex)(w_k + ew) with |ex| <= sx/2 and |ew| <= sw/2, so the sum errs by
// at most
//   sum_k (|x_k| sw/2 + |w_k| sx/2 + sx sw/4),
// times the activation's largest slope (GELU's is 1.13, the others' <= 1.1), plus fp32
// slack of 1e-5 of sum_k |x_k w_k| + |b| + |y| (accumulation order, vector erf/exp).
// bf16 tolerance: x and W each rounded to 8 significant bits (relative error <= 2^-8 each),
// so a product errs by <= (2^-7 + 2^-16) of |x_k w_k|: the bound is that fraction of
// sum_k |x_k w_k| plus the same slack, times the slope.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <limits>
#include <string>
#include <thread>
#include <vector>

#include "latte/core/error.h"
#include "latte/core/linear.h"
#include "latte/core/tensor.h"
#include "test_support.h"

namespace latte {

namespace {

using test_support::error_of;
using test_support::reference_activation;
using test_support::uniform;

constexpr double kLargestSlope = 1.13;
const Activation kActivations[] = {Activation::kNone, Activation::kGeluErf, Activation::kGeluTanh,
                                   Activation::kRelu, Activation::kTanh,    Activation::kSilu};

Tensor tensor_of(const std::vector<float>& values, std::vector<int64_t> shape) {
  Tensor tensor(std::move(shape));
  std::copy(values.begin(), values.end(), tensor.data());
  return tensor;
}

double largest_magnitude(const float* values, int64_t count) {
  double largest = 0.0;
  for (int64_t i = 0; i < count; ++i) largest = std::max(largest, std::fabs(static_cast<double>(values[i])));
  return largest;
}

struct Case {
  int64_t out_features, in_features;
  std::vector<int64_t> row_counts;
  std::vector<Activation> activations;
};

// Runs one Linear per (activation, bias, accumulate) over every row count of `test_case`
// (the same object, so row buckets are made and reused in turn) and holds each output to its
// own bound; rows past the count must stay untouched.
void check_against_reference(const Case& test_case, Precision precision, const std::vector<float>& x) {
  const int64_t n = test_case.out_features, k = test_case.in_features;
  const int64_t max_rows = *std::max_element(test_case.row_counts.begin(), test_case.row_counts.end());
  ASSERT_GE(static_cast<int64_t>(x.size()), max_rows * k);
  const std::vector<float> weight = uniform(n * k, 1.0f / std::sqrt(static_cast<float>(k)), 11);
  const std::vector<float> bias_values = uniform(n, 0.5f, 12);
  const std::vector<float> residual = uniform((max_rows + 2) * n, 1.0f, 13);
  const float kSentinel = 12345.0f;

  // x W^T and sum |x w| in double, and each row's and column's quantization step.
  std::vector<double> product(static_cast<size_t>(max_rows * n)), magnitude(product.size()),
      int8_bound(product.size());
  for (int64_t r = 0; r < max_rows; ++r) {
    const double sx = largest_magnitude(x.data() + r * k, k) / int8_activation_levels();
    for (int64_t o = 0; o < n; ++o) {
      const double sw = largest_magnitude(weight.data() + o * k, k) / 127.0;
      double sum = 0.0, absolute = 0.0, bound = 0.0;
      for (int64_t i = 0; i < k; ++i) {
        const double xi = x[r * k + i], wi = weight[o * k + i];
        sum += xi * wi;
        absolute += std::fabs(xi * wi);
        bound += std::fabs(xi) * sw / 2 + std::fabs(wi) * sx / 2 + sx * sw / 4;
      }
      product[r * n + o] = sum;
      magnitude[r * n + o] = absolute;
      int8_bound[r * n + o] = bound;
    }
  }

  const Tensor weight_tensor = tensor_of(weight, {n, k});
  for (const Activation activation : test_case.activations) {
    for (const bool with_bias : {true, false}) {
      for (const bool accumulate : {false, true}) {
        const Tensor bias = with_bias ? tensor_of(bias_values, {n}) : Tensor();
        const Linear linear(weight_tensor, bias, activation, accumulate, GemmPath::kAuto, precision);
        ASSERT_EQ(linear.precision(), precision);
        for (const int64_t rows : test_case.row_counts) {
          std::vector<float> y(residual.begin(), residual.begin() + (max_rows + 2) * n);
          std::fill(y.begin() + rows * n, y.end(), kSentinel);
          linear(x.data(), rows, y.data());
          for (int64_t r = 0; r < rows; ++r) {
            for (int64_t o = 0; o < n; ++o) {
              const size_t i = static_cast<size_t>(r * n + o);
              const double b = with_bias ? bias_values[o] : 0.0;
              const double previous = accumulate ? residual[i] : 0.0;
              const double expected = reference_activation(product[i] + b, activation) + previous;
              const double slack = 1e-5 * (magnitude[i] + std::fabs(b) + std::fabs(previous)) + 1e-6;
              const double step =
                  precision == Precision::kInt8 ? int8_bound[i] : magnitude[i] * (0x1p-7 + 0x1p-16);
              const double tolerance = kLargestSlope * (step + slack);
              ASSERT_NEAR(y[i], expected, tolerance)
                  << precision_name(precision) << " [" << n << ", " << k << "] rows " << rows << " row " << r
                  << " column " << o << " activation " << static_cast<int>(activation) << " bias "
                  << with_bias << " accumulate " << accumulate;
            }
          }
          for (size_t i = static_cast<size_t>(rows * n); i < y.size(); ++i) {
            ASSERT_EQ(y[i], kSentinel) << "rows " << rows << ": wrote past the last row at " << i;
          }
        }
      }
    }
  }
}

const std::vector<int64_t> kAllRowCounts = {0, 1, 2, 7, 16, 17, 64, 130};

std::vector<Case> small_cases() {
  const std::vector<Activation> all(std::begin(kActivations), std::end(kActivations));
  return {{3, 5, kAllRowCounts, all}, {19, 37, kAllRowCounts, all}, {48, 64, kAllRowCounts, all}};
}

// BERT-base's shapes, fewer combinations: the reference costs rows x 2.4 M multiply-adds.
std::vector<Case> bert_cases() {
  return {{768, 768, {1, 17, 130}, {Activation::kNone}},
          {3072, 768, {16, 130}, {Activation::kGeluErf}},
          {768, 3072, {7, 64}, {Activation::kNone}}};
}

std::vector<float> inputs_for(const Case& test_case) {
  const int64_t rows = *std::max_element(test_case.row_counts.begin(), test_case.row_counts.end());
  return uniform(rows * test_case.in_features, 1.0f, 14);
}

std::string skip_reason_bf16() {
  const std::string reason = precision_unavailable_reason(Precision::kBf16);
  return reason.empty() ? "" : "bf16 unavailable: " + reason;
}

TEST(LinearInt8, SmallShapesMatchReferenceWithinQuantizationBound) {
  for (const Case& test_case : small_cases())
    check_against_reference(test_case, Precision::kInt8, inputs_for(test_case));
}

TEST(LinearInt8, BertShapesMatchReferenceWithinQuantizationBound) {
  for (const Case& test_case : bert_cases())
    check_against_reference(test_case, Precision::kInt8, inputs_for(test_case));
}

// Rows 10^6 apart in magnitude: with one scale for the whole tensor the small rows would
// quantize to zeros and miss their own bound by orders of magnitude.
TEST(LinearInt8, EachRowIsQuantizedWithItsOwnScale) {
  const Case test_case{64, 96, {1, 2, 7, 17}, {Activation::kNone, Activation::kGeluErf}};
  std::vector<float> x = inputs_for(test_case);
  for (int64_t r = 0; r < 17; ++r) {
    const float scale = r % 2 == 0 ? 1000.0f : 0.001f;
    for (int64_t i = 0; i < test_case.in_features; ++i)
      x[static_cast<size_t>(r * test_case.in_features + i)] *= scale;
  }
  check_against_reference(test_case, Precision::kInt8, x);
}

TEST(LinearInt8, NonFiniteInputRowGivesNanOnlyInThatRow) {
  const int64_t n = 8, k = 16;
  const Linear linear(tensor_of(uniform(n * k, 0.25f, 1), {n, k}), Tensor(), Activation::kNone, false,
                      GemmPath::kAuto, Precision::kInt8);
  std::vector<float> x = uniform(3 * k, 1.0f, 2), y(static_cast<size_t>(3 * n));
  x[static_cast<size_t>(k + 3)] = std::numeric_limits<float>::infinity();
  linear(x.data(), 3, y.data());
  for (int64_t o = 0; o < n; ++o) {
    EXPECT_TRUE(std::isfinite(y[o])) << o;
    EXPECT_TRUE(std::isnan(y[n + o])) << o;
    EXPECT_TRUE(std::isfinite(y[2 * n + o])) << o;
  }
}

TEST(LinearInt8, FromQuantizedWeightsEqualsQuantizingOnLoad) {
  const int64_t n = 37, k = 53, rows = 19;
  const Tensor weight = tensor_of(uniform(n * k, 0.3f, 3), {n, k});
  const Tensor bias = tensor_of(uniform(n, 0.5f, 4), {n});
  const std::vector<float> x = uniform(rows * k, 1.0f, 5);
  const Linear on_load(weight, bias, Activation::kGeluErf, true, GemmPath::kAuto, Precision::kInt8);
  ASSERT_NE(on_load.int8_weight(), nullptr);
  const Linear stored(quantize_int8(weight), bias, Activation::kGeluErf, true);
  EXPECT_EQ(stored.precision(), Precision::kInt8);
  // int8_weight() unpacks the values from oneDNN's layout: exactly what was quantized.
  const Int8Weight expected = quantize_int8(weight);
  EXPECT_EQ(on_load.int8_weight()->values, expected.values);
  EXPECT_EQ(on_load.int8_weight()->scales, expected.scales);
  EXPECT_EQ(stored.int8_weight()->values, expected.values);
  EXPECT_EQ(stored.int8_weight()->out_features, n);
  EXPECT_EQ(stored.int8_weight()->in_features, k);
  std::vector<float> first = uniform(rows * n, 1.0f, 6), second = first;
  on_load(x.data(), rows, first.data());
  stored(x.data(), rows, second.data());
  EXPECT_EQ(first, second);
}

// One Linear shared by threads that call it at once with different row counts (each making
// and reusing row buckets, each with its own scratch) gives what one thread alone gives.
TEST(LinearInt8, ConcurrentCallsMatchSerialOnes) {
  const int64_t n = 40, k = 72;
  const std::vector<int64_t> row_counts = {1, 3, 9, 17, 33, 70};
  const int64_t max_rows = 70;
  const std::vector<float> x = uniform(max_rows * k, 1.0f, 20);
  for (const Precision precision : {Precision::kInt8, Precision::kBf16}) {
    const Linear linear(tensor_of(uniform(n * k, 0.2f, 21), {n, k}), tensor_of(uniform(n, 0.5f, 22), {n}),
                        Activation::kGeluErf, false, GemmPath::kAuto, precision);
    std::vector<std::vector<float>> serial;
    for (const int64_t rows : row_counts) {
      serial.emplace_back(static_cast<size_t>(rows * n));
      linear(x.data(), rows, serial.back().data());
    }
    const Linear fresh(tensor_of(uniform(n * k, 0.2f, 21), {n, k}), tensor_of(uniform(n, 0.5f, 22), {n}),
                       Activation::kGeluErf, false, GemmPath::kAuto, precision);
    std::vector<int> mismatches(row_counts.size(), 0);
    std::vector<std::thread> threads;
    for (size_t t = 0; t < row_counts.size(); ++t) {
      threads.emplace_back([&, t] {
        std::vector<float> y(static_cast<size_t>(row_counts[t] * n));
        for (int repeat = 0; repeat < 20; ++repeat) {
          fresh(x.data(), row_counts[t], y.data());
          mismatches[t] += y != serial[t];
        }
      });
    }
    for (std::thread& thread : threads) thread.join();
    for (size_t t = 0; t < row_counts.size(); ++t) {
      EXPECT_EQ(mismatches[t], 0) << precision_name(precision) << " rows " << row_counts[t];
    }
  }
}

TEST(LinearInt8, Fp32LinearHasNoQuantizedWeights) {
  const Linear linear(tensor_of(uniform(6, 1.0f, 1), {2, 3}), Tensor(), Activation::kNone);
  EXPECT_EQ(linear.precision(), Precision::kF32);
  EXPECT_EQ(linear.int8_weight(), nullptr);
}

TEST(LinearInt8, BadQuantizedWeightsAreRejected) {
  const Int8Weight good = quantize_int8(tensor_of(uniform(12, 1.0f, 1), {3, 4}));
  EXPECT_EQ(error_of([&] { Linear(good, Tensor(), Activation::kNone); }), "(no error)");
  Int8Weight weight = good;
  weight.values.pop_back();
  EXPECT_EQ(error_of([&] { Linear(weight, Tensor(), Activation::kNone); }),
            "int8 weight has 11 values, expected [3, 4]");
  weight = good;
  weight.scales.push_back(1.0f);
  EXPECT_EQ(error_of([&] { Linear(weight, Tensor(), Activation::kNone); }),
            "int8 weight has 4 scales, expected one per output (3)");
  for (const float bad :
       {0.0f, -1.0f, std::numeric_limits<float>::quiet_NaN(), std::numeric_limits<float>::infinity()}) {
    weight = good;
    weight.scales[1] = bad;
    EXPECT_NE(error_of([&] { Linear(weight, Tensor(), Activation::kNone); }).find("int8 weight scale 1 is"),
              std::string::npos)
        << bad;
  }
  weight = good;
  weight.values[5] = -128;
  EXPECT_EQ(error_of([&] { Linear(weight, Tensor(), Activation::kNone); }),
            "int8 weight holds -128; values must lie in [-127, 127]");
  weight = good;
  weight.out_features = -3;
  EXPECT_EQ(error_of([&] { Linear(weight, Tensor(), Activation::kNone); }),
            "int8 weight has negative size [-3, 4]");
  EXPECT_EQ(error_of([&] { Linear(good, Tensor({4}), Activation::kNone); }),
            "linear bias has shape [4], expected [3]");
}

TEST(QuantizeInt8, RoundTripWithinHalfAStepPerElement) {
  const int64_t n = 9, k = 33;
  std::vector<float> values = uniform(n * k, 2.0f, 7);
  for (int64_t i = 0; i < k; ++i) values[static_cast<size_t>(4 * k + i)] = 0.0f;    // an all-zero row
  for (int64_t i = 0; i < k; ++i) values[static_cast<size_t>(6 * k + i)] *= 1e-6f;  // a tiny one
  const Int8Weight quantized = quantize_int8(tensor_of(values, {n, k}));
  ASSERT_EQ(quantized.out_features, n);
  ASSERT_EQ(quantized.in_features, k);
  ASSERT_EQ(quantized.values.size(), static_cast<size_t>(n * k));
  ASSERT_EQ(quantized.scales.size(), static_cast<size_t>(n));
  for (int64_t o = 0; o < n; ++o) {
    const double scale = quantized.scales[o];
    const double largest = largest_magnitude(values.data() + o * k, k);
    if (o == 4) {
      EXPECT_EQ(scale, 1.0);
    } else {
      EXPECT_NEAR(scale, largest / 127.0, 1e-6 * scale);
    }
    int peak = 0;
    for (int64_t i = 0; i < k; ++i) {
      const int8_t value = quantized.values[static_cast<size_t>(o * k + i)];
      EXPECT_GE(value, -127);
      peak = std::max(peak, std::abs(static_cast<int>(value)));
      EXPECT_LE(std::fabs(scale * value - values[static_cast<size_t>(o * k + i)]), scale * (0.5 + 1e-5))
          << "row " << o << " column " << i;
    }
    EXPECT_EQ(peak, o == 4 ? 0 : 127) << "row " << o;
  }
}

TEST(QuantizeInt8, NonFiniteOrBadShapeIsInputError) {
  std::vector<float> values = uniform(6, 1.0f, 8);
  values[4] = std::numeric_limits<float>::quiet_NaN();
  EXPECT_EQ(error_of([&] { quantize_int8(tensor_of(values, {2, 3})); }), "int8 weight [1, 1] is not finite");
  values[4] = -std::numeric_limits<float>::infinity();
  EXPECT_EQ(error_of([&] { quantize_int8(tensor_of(values, {2, 3})); }), "int8 weight [1, 1] is not finite");
  EXPECT_EQ(error_of([&] { quantize_int8(tensor_of(values, {6})); }), "int8 weight must be 2-D, got [6]");
}

TEST(LinearBf16, SmallShapesMatchReferenceWithinRoundingBound) {
  if (const std::string reason = skip_reason_bf16(); !reason.empty()) GTEST_SKIP() << reason;
  for (const Case& test_case : small_cases())
    check_against_reference(test_case, Precision::kBf16, inputs_for(test_case));
}

TEST(LinearBf16, BertShapesMatchReferenceWithinRoundingBound) {
  if (const std::string reason = skip_reason_bf16(); !reason.empty()) GTEST_SKIP() << reason;
  for (const Case& test_case : bert_cases())
    check_against_reference(test_case, Precision::kBf16, inputs_for(test_case));
}

// Where bf16 cannot run, a bf16 Linear computes fp32 and says so.
TEST(LinearBf16, FallsBackToF32WhereUnavailable) {
  const int64_t n = 5, k = 7, rows = 3;
  const Tensor weight = tensor_of(uniform(n * k, 1.0f, 9), {n, k});
  const Linear bf16(weight, Tensor(), Activation::kNone, false, GemmPath::kOneDnn, Precision::kBf16);
  EXPECT_EQ(bf16.int8_weight(), nullptr);
  if (precision_unavailable_reason(Precision::kBf16).empty()) {
    EXPECT_EQ(bf16.precision(), Precision::kBf16);
    return;
  }
  EXPECT_EQ(bf16.precision(), Precision::kF32);
  const Linear f32(weight, Tensor(), Activation::kNone, false, GemmPath::kOneDnn);
  const std::vector<float> x = uniform(rows * k, 1.0f, 10);
  std::vector<float> from_bf16(rows * n), from_f32(rows * n);
  bf16(x.data(), rows, from_bf16.data());
  f32(x.data(), rows, from_f32.data());
  EXPECT_EQ(from_bf16, from_f32);
}

// A bf16 checkpoint's weights given as bits (no float copy) compute exactly what the same
// values given as floats do, in every precision; int8 quantizes them to the same levels.
TEST(LinearBf16, FromBf16BitsEqualsFromTheirFloats) {
  const int64_t n = 37, k = 70, rows = 5;
  const std::vector<float> drawn = uniform(n * k, 1.0f, 21);
  Bf16Weight bits{n, k, std::vector<uint16_t>(drawn.size())};
  Tensor widened({n, k});
  for (size_t i = 0; i < drawn.size(); ++i) {
    uint32_t wide;
    std::memcpy(&wide, &drawn[i], sizeof wide);
    bits.values[i] = static_cast<uint16_t>(wide >> 16);  // truncation: any bf16 value will do
    wide = static_cast<uint32_t>(bits.values[i]) << 16;
    std::memcpy(widened.data() + i, &wide, sizeof wide);
  }
  const Tensor bias = tensor_of(uniform(n, 0.5f, 22), {n});
  const std::vector<float> x = uniform(rows * k, 1.0f, 23);
  for (const Precision precision : {Precision::kF32, Precision::kBf16, Precision::kInt8}) {
    SCOPED_TRACE(precision_name(precision));
    const Linear from_bits(bits, bias, Activation::kGeluTanh, false, precision);
    const Linear from_floats(widened, bias, Activation::kGeluTanh, false, GemmPath::kAuto, precision);
    EXPECT_EQ(from_bits.precision(), from_floats.precision());
    std::vector<float> a(rows * n), b(rows * n);
    from_bits(x.data(), rows, a.data());
    from_floats(x.data(), rows, b.data());
    EXPECT_EQ(a, b);
    if (precision == Precision::kBf16 && from_bits.precision() == Precision::kBf16) {
      std::vector<float> row(k);
      ASSERT_TRUE(from_bits.weight_row(n - 1, row.data()));
      EXPECT_EQ(row, std::vector<float>(widened.data() + (n - 1) * k, widened.data() + n * k));
    }
  }
  const Int8Weight q_bits = quantize_int8(bits), q_floats = quantize_int8(widened);
  EXPECT_EQ(q_bits.values, q_floats.values);
  EXPECT_EQ(q_bits.scales, q_floats.scales);
  Bf16Weight wrong = bits;
  wrong.values.pop_back();
  EXPECT_THROW(Linear(wrong, Tensor(), Activation::kNone, false, Precision::kBf16), InputError);
  EXPECT_THROW(quantize_int8(wrong), InputError);
}

// ONEDNN_MAX_CPU_ISA is read once, when oneDNN first runs, so the capped case runs in a child
// process of this test binary with the variable set (also checking int8's 7-bit activations).
TEST(LinearBf16, UnavailableWhenOneDnnIsCappedAtAvx2) {
  if (std::getenv("LATTE_TEST_EXPECT_CAPPED") != nullptr) {
    EXPECT_FALSE(precision_unavailable_reason(Precision::kBf16).empty());
    const Linear linear(tensor_of(uniform(6, 1.0f, 1), {2, 3}), Tensor(), Activation::kNone, false,
                        GemmPath::kAuto, Precision::kBf16);
    EXPECT_EQ(linear.precision(), Precision::kF32);
    return;
  }
  const std::string self = std::filesystem::read_symlink("/proc/self/exe").string();
  const std::string command = "ONEDNN_MAX_CPU_ISA=AVX2 LATTE_TEST_EXPECT_CAPPED=1 '" + self +
                              "' "
                              "--gtest_filter=LinearBf16.UnavailableWhenOneDnnIsCappedAtAvx2:LinearInt8."
                              "ActivationLevelsFollowOneDnnIsa "
                              "> /dev/null 2>&1";
  EXPECT_EQ(std::system(command.c_str()), 0) << command;
}

TEST(LinearInt8, ActivationLevelsFollowOneDnnIsa) {
  const int levels = int8_activation_levels();
  EXPECT_TRUE(levels == 127 || levels == 63) << levels;
  if (std::getenv("LATTE_TEST_EXPECT_CAPPED") != nullptr) {
    EXPECT_EQ(levels, 63);
  }
}

TEST(Precision, NamesRoundTripAndUnknownNamesAreInputErrors) {
  for (const Precision precision : {Precision::kF32, Precision::kInt8, Precision::kBf16}) {
    EXPECT_EQ(precision_from_name(precision_name(precision)), precision);
  }
  EXPECT_EQ(std::string(precision_name(Precision::kInt8)), "int8");
  EXPECT_EQ(error_of([] { precision_from_name("fp16"); }), "dtype must be f32, int8 or bf16, got 'fp16'");
  EXPECT_EQ(error_of([] { precision_from_name("INT8"); }), "dtype must be f32, int8 or bf16, got 'INT8'");
  EXPECT_EQ(error_of([] { precision_from_name(""); }), "dtype must be f32, int8 or bf16, got ''");
  EXPECT_EQ(precision_unavailable_reason(Precision::kF32), "");
  EXPECT_EQ(precision_unavailable_reason(Precision::kInt8), "");
}

}  // namespace

}  // namespace latte
