// core/rotary.h, RMSNorm, SiLU and layers/feed_forward.h against naive loops in double.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "latte/core/arena.h"
#include "latte/core/error.h"
#include "latte/core/linear.h"
#include "latte/core/memory.h"
#include "latte/core/ops.h"
#include "latte/core/rotary.h"
#include "latte/layers/feed_forward.h"
#include "test_support.h"

namespace latte {
namespace {

// Blocks of a huge page or more start on a huge page (the kernel's size, read as the test reads
// it), smaller ones on the alignment asked; all are writable to their end and freed with free().
TEST(AllocateAligned, LargeBlocksOnHugePagesSmallOnTheirAlignment) {
  std::ifstream size_file("/sys/kernel/mm/transparent_hugepage/hpage_pmd_size");
  std::ifstream enabled_file("/sys/kernel/mm/transparent_hugepage/enabled");
  std::string enabled;
  std::getline(enabled_file, enabled);
  size_t expected = 0;
  if (size_file >> expected && enabled.find("[never]") != std::string::npos) expected = 0;
  EXPECT_EQ(huge_page_bytes(), expected) << enabled;
  const size_t page = huge_page_bytes();
  for (const size_t bytes : {size_t{0}, size_t{1}, size_t{100}, size_t{4096}, page ? page - 1 : 1, page,
                             page ? 3 * page + 5 : 12345}) {
    for (const size_t alignment : {size_t{16}, size_t{64}}) {
      auto* data = static_cast<unsigned char*>(allocate_aligned(bytes, alignment));
      ASSERT_NE(data, nullptr) << bytes;
      const size_t boundary = page != 0 && bytes >= page ? page : alignment;
      EXPECT_EQ(reinterpret_cast<uintptr_t>(data) % boundary, 0u) << bytes << " bytes";
      if (bytes > 1) {
        data[0] = 1;
        data[bytes - 1] = 2;
        EXPECT_EQ(data[0] + data[bytes - 1], 3);
      }
      std::free(data);
    }
  }
}

using test_support::reference_activation;
using test_support::uniform;

Tensor tensor_of(const std::vector<float>& values, std::vector<int64_t> shape) {
  Tensor tensor(std::move(shape));
  std::copy(values.begin(), values.end(), tensor.data());
  return tensor;
}

bool close(double got, double expected, double tolerance = 1e-5) {
  return std::abs(got - expected) <= tolerance * std::max(1.0, std::abs(expected));
}

// Rotates each pair by position * theta^(-2i / rotary_dim), written from the definition.
std::vector<double> naive_rotary(const std::vector<float>& x, int64_t rows, int64_t stride, int64_t n_heads,
                                 int64_t head_dim, const std::vector<int64_t>& positions,
                                 const RotarySpec& spec) {
  std::vector<double> out(x.begin(), x.end());
  const int64_t half = spec.rotary_dim / 2;
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t h = 0; h < n_heads; ++h) {
      for (int64_t i = 0; i < half; ++i) {
        const double angle =
            static_cast<double>(positions[static_cast<size_t>(r)]) *
            std::pow(spec.theta, -2.0 * static_cast<double>(i) / static_cast<double>(spec.rotary_dim));
        const int64_t base = r * stride + h * head_dim;
        const int64_t a = base + (spec.interleaved ? 2 * i : i);
        const int64_t b = base + (spec.interleaved ? 2 * i + 1 : i + half);
        out[a] = x[a] * std::cos(angle) - x[b] * std::sin(angle);
        out[b] = x[b] * std::cos(angle) + x[a] * std::sin(angle);
      }
    }
  }
  return out;
}

TEST(Rotary, BothPairLayoutsMatchNaiveWithPartialRotaryDim) {
  const int64_t rows = 5, n_heads = 3, head_dim = 16, stride = n_heads * head_dim + 2;
  const std::vector<int64_t> positions = {0, 1, 7, 4095, 123457};  // gapped, and far out
  for (bool interleaved : {false, true}) {
    for (int64_t rotary_dim : {head_dim, int64_t{8}}) {
      SCOPED_TRACE(std::string(interleaved ? "interleaved" : "rotate_half") + " rotary_dim " +
                   std::to_string(rotary_dim));
      const RotarySpec spec{.rotary_dim = rotary_dim, .theta = 10000.0, .interleaved = interleaved};
      const std::vector<float> original = uniform(rows * stride, 1.0f, 9);
      std::vector<float> x = original;
      apply_rotary(x.data(), rows, stride, n_heads, head_dim, positions, spec);
      const std::vector<double> expected =
          naive_rotary(original, rows, stride, n_heads, head_dim, positions, spec);
      for (size_t i = 0; i < x.size(); ++i)
        ASSERT_TRUE(close(x[i], expected[i])) << i << ": " << x[i] << " vs " << expected[i];
      // Dimensions past rotary_dim and the padding between rows are untouched.
      EXPECT_EQ(x[head_dim - 1], rotary_dim < head_dim ? original[head_dim - 1] : x[head_dim - 1]);
      EXPECT_EQ(x[stride - 1], original[stride - 1]);
    }
  }
}

TEST(Rotary, RejectsOddOrOversizedRotaryDimAndMissingPositions) {
  std::vector<float> x(32, 1.0f);
  const std::vector<int64_t> positions = {0, 1};
  EXPECT_THROW(apply_rotary(x.data(), 2, 16, 2, 8, positions, RotarySpec{.rotary_dim = 7}), InputError);
  EXPECT_THROW(apply_rotary(x.data(), 2, 16, 2, 8, positions, RotarySpec{.rotary_dim = 10}), InputError);
  EXPECT_THROW(apply_rotary(x.data(), 3, 16, 2, 8, positions, RotarySpec{.rotary_dim = 8}), InputError);
}

TEST(RMSNorm, MatchesNaive) {
  const int64_t rows = 4, width = 37;
  const std::vector<float> original = uniform(rows * width, 3.0f, 4);
  const std::vector<float> gamma = uniform(width, 1.0f, 5);
  std::vector<float> x = original;
  const RMSNorm norm(tensor_of(gamma, {width}), 1e-6f);
  norm(x.data(), rows);
  for (int64_t r = 0; r < rows; ++r) {
    double squares = 0.0;
    for (int64_t i = 0; i < width; ++i)
      squares += static_cast<double>(original[r * width + i]) * original[r * width + i];
    const double rms = std::sqrt(squares / width + 1e-6);
    for (int64_t i = 0; i < width; ++i)
      EXPECT_TRUE(close(x[r * width + i], original[r * width + i] / rms * gamma[i])) << r << ", " << i;
  }
}

TEST(ElementWise, SiluAndMultiply) {
  std::vector<float> x = {-20.0f, -1.0f, 0.0f, 0.5f, 30.0f};
  const std::vector<float> original = x;
  silu_inplace(x.data(), static_cast<int64_t>(x.size()));
  for (size_t i = 0; i < x.size(); ++i)
    EXPECT_TRUE(close(x[i], original[i] / (1.0 + std::exp(-double{original[i]}))));
  std::vector<float> y = {1.0f, 2.0f, 3.0f};
  const std::vector<float> factor = {2.0f, -1.0f, 0.5f};
  multiply_inplace(y.data(), factor.data(), 3);
  EXPECT_EQ(y, (std::vector<float>{2.0f, -2.0f, 1.5f}));
}

// [rows, out] = x [rows, in] W^T + b, in double.
std::vector<double> naive_linear(const std::vector<double>& x, int64_t rows, const std::vector<float>& weight,
                                 const std::vector<float>& bias, int64_t out, int64_t in) {
  std::vector<double> y(static_cast<size_t>(rows * out));
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t o = 0; o < out; ++o) {
      double sum = bias[o];
      for (int64_t i = 0; i < in; ++i) sum += x[r * in + i] * weight[o * in + i];
      y[r * out + o] = sum;
    }
  }
  return y;
}

TEST(FeedForward, PlainAndGatedMatchNaiveAndAccumulate) {
  const int64_t rows = 6, hidden = 24, intermediate = 40;
  const std::vector<float> x = uniform(rows * hidden, 1.0f, 1);
  const std::vector<float> residual = uniform(rows * hidden, 1.0f, 2);
  const std::vector<float> w_gate = uniform(intermediate * hidden, 0.3f, 3),
                           b_gate = uniform(intermediate, 0.1f, 4);
  const std::vector<float> w_up = uniform(intermediate * hidden, 0.3f, 5),
                           b_up = uniform(intermediate, 0.1f, 6);
  const std::vector<float> w_down = uniform(hidden * intermediate, 0.3f, 7),
                           b_down = uniform(hidden, 0.1f, 8);
  const Tensor gate_weight = tensor_of(w_gate, {intermediate, hidden}),
               gate_bias = tensor_of(b_gate, {intermediate});
  const Tensor up_weight = tensor_of(w_up, {intermediate, hidden}), up_bias = tensor_of(b_up, {intermediate});
  const Tensor down_weight = tensor_of(w_down, {hidden, intermediate}),
               down_bias = tensor_of(b_down, {hidden});
  const std::vector<double> x_double(x.begin(), x.end());

  for (bool gated : {false, true}) {
    SCOPED_TRACE(gated ? "gated" : "plain");
    const Activation activation = gated ? Activation::kSilu : Activation::kGeluErf;
    const Linear gate(gate_weight, gate_bias, activation);
    const Linear down(down_weight, down_bias, Activation::kNone, true);
    const FeedForward block = gated ? FeedForward(gate, Linear(up_weight, up_bias, Activation::kNone), down)
                                    : FeedForward(gate, down);
    EXPECT_EQ(block.gated(), gated);
    EXPECT_EQ(block.hidden(), hidden);
    EXPECT_EQ(block.intermediate(), intermediate);
    std::vector<float> stream = residual;
    Arena arena;
    block(x.data(), rows, stream.data(), arena);

    std::vector<double> inner = naive_linear(x_double, rows, w_gate, b_gate, intermediate, hidden);
    for (double& value : inner) value = reference_activation(value, activation);
    if (gated) {
      const std::vector<double> up = naive_linear(x_double, rows, w_up, b_up, intermediate, hidden);
      for (size_t i = 0; i < inner.size(); ++i) inner[i] *= up[i];
    }
    const std::vector<double> out = naive_linear(inner, rows, w_down, b_down, hidden, intermediate);
    for (size_t i = 0; i < stream.size(); ++i)
      ASSERT_TRUE(close(stream[i], residual[i] + out[i], 1e-4))
          << i << ": " << stream[i] << " vs " << residual[i] + out[i];
  }
}

TEST(FeedForward, MismatchedShapesAndANonAccumulatingOutputAreRejected) {
  const Tensor in_weight({8, 4}), out_weight({4, 8}), wrong({4, 6});
  const Linear in(in_weight, Tensor(), Activation::kGeluErf);
  try {
    FeedForward(in, Linear(wrong, Tensor(), Activation::kNone, true));
    ADD_FAILURE() << "no error";
  } catch (const InputError& error) {
    EXPECT_NE(std::string(error.what()).find("in has shape [8, 4] but out has shape [4, 6]"),
              std::string::npos)
        << error.what();
  }
  EXPECT_THROW(FeedForward(in, Linear(out_weight, Tensor(), Activation::kNone, false)), InputError);
  EXPECT_THROW(FeedForward(in, Linear(wrong, Tensor(), Activation::kNone),
                           Linear(out_weight, Tensor(), Activation::kNone, true)),
               InputError);
}

}  // namespace
}  // namespace latte
