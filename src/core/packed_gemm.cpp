#include "latte/core/packed_gemm.h"

#include <algorithm>
#include <cstdlib>
#include <string>

#include "gemm_small_kernels.h"
#include "latte/core/error.h"
#include "latte/core/threads.h"

namespace latte {

const char* gemm_isa_name(GemmIsa isa) { return isa == GemmIsa::kAvx512 ? "avx512" : "avx2"; }

std::optional<GemmIsa> best_gemm_isa() {
  static const std::optional<GemmIsa> best = []() -> std::optional<GemmIsa> {
    __builtin_cpu_init();
    const bool avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    const bool avx512 = avx2 && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl");
    const char* cap = std::getenv("LATTE_GEMM_ISA");
    const std::string requested = cap == nullptr ? "" : cap;
    if (!requested.empty() && requested != "avx2" && requested != "avx512") {
      throw InputError("LATTE_GEMM_ISA must be avx2 or avx512, got '" + requested + "'");
    }
    if (avx512 && requested != "avx2") return GemmIsa::kAvx512;
    if (avx2) return GemmIsa::kAvx2;
    return std::nullopt;
  }();
  return best;
}

bool attention_head(GemmIsa isa, const AttentionHeadArgs& args) {
  return isa == GemmIsa::kAvx512 ? gemm_kernels::attention_head_avx512(args)
                                 : gemm_kernels::attention_head_avx2(args);
}

void softmax_row(GemmIsa isa, float* row, int64_t valid, int64_t width, float* column_sums) {
  if (isa == GemmIsa::kAvx512) return gemm_kernels::softmax_row_avx512(row, valid, width, column_sums);
  gemm_kernels::softmax_row_avx2(row, valid, width, column_sums);
}

PackedGemm::PackedGemm(const float* weight, int64_t out_features, int64_t in_features, const float* bias,
                       Activation activation, bool accumulate, GemmIsa isa)
    : isa_(isa),
      out_features_(out_features),
      in_features_(in_features),
      panel_width_(isa == GemmIsa::kAvx512 ? gemm_kernels::kPanelWidthAvx512 : gemm_kernels::kPanelWidthAvx2),
      activation_(activation),
      accumulate_(accumulate) {
  const std::optional<GemmIsa> best = best_gemm_isa();
  if (!best || (isa == GemmIsa::kAvx512 && *best != GemmIsa::kAvx512)) {
    throw Error(std::string("PackedGemm: this CPU cannot run the ") + gemm_isa_name(isa) + " kernel");
  }
  const int64_t panels = (out_features + panel_width_ - 1) / panel_width_;
  panels_.assign(static_cast<size_t>(panels * in_features * panel_width_), 0.0f);
  for (int64_t o = 0; o < out_features; ++o) {
    float* column = panels_.data() + (o / panel_width_) * in_features * panel_width_ + o % panel_width_;
    const float* row = weight + o * in_features;
    for (int64_t k = 0; k < in_features; ++k) column[k * panel_width_] = row[k];
  }
  if (bias != nullptr) {
    bias_.assign(static_cast<size_t>(panels * panel_width_), 0.0f);
    std::copy(bias, bias + out_features, bias_.begin());
  }
}

void PackedGemm::weight_row(int64_t row, float* out) const {
  const float* column =
      panels_.data() + (row / panel_width_) * in_features_ * panel_width_ + row % panel_width_;
  for (int64_t k = 0; k < in_features_; ++k) out[k] = column[k * panel_width_];
}

void PackedGemm::operator()(const float* x, int64_t rows, float* y) const {
  if (rows == 0 || out_features_ == 0) return;
  gemm_kernels::SmallGemmArgs args;
  args.x = x;
  args.rows = rows;
  args.in_features = in_features_;
  args.panels = panels_.data();
  args.bias = bias_.empty() ? nullptr : bias_.data();
  args.out_features = out_features_;
  args.activation = activation_;
  args.accumulate = accumulate_;
  args.y = y;
  const auto kernel =
      isa_ == GemmIsa::kAvx512 ? gemm_kernels::small_gemm_avx512 : gemm_kernels::small_gemm_avx2;
  const int64_t panels = (out_features_ + panel_width_ - 1) / panel_width_;
  // Contiguous panel ranges per thread: each thread streams its own share of
  // the weights once. Tiny products stay on one thread (a parallel region
  // costs a few microseconds).
  const bool parallel = panels > 1 && rows * in_features_ * out_features_ >= (int64_t{1} << 16);
  parallel_ranges(
      panels, [&](int64_t begin, int64_t end) { kernel(args, begin, end); }, parallel);
}

}  // namespace latte
