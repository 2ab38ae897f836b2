#include "latte/core/linear.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <dnnl.hpp>
#include <optional>
#include <unordered_map>
#include <vector>

#include "latte/core/error.h"
#include "latte/core/packed_gemm.h"
#include "low_precision_gemm.h"
#include "onednn_context.h"

namespace latte {

dnnl::engine& onednn_engine() {
  static dnnl::engine engine(dnnl::engine::kind::cpu, 0);
  return engine;
}

dnnl::stream& onednn_stream() {
  thread_local dnnl::stream stream(onednn_engine());
  return stream;
}

namespace {

using dnnl::memory;

dnnl::algorithm eltwise_algorithm(Activation activation) {
  switch (activation) {
    case Activation::kGeluErf:
      return dnnl::algorithm::eltwise_gelu_erf;
    case Activation::kGeluTanh:
      return dnnl::algorithm::eltwise_gelu_tanh;
    case Activation::kRelu:
      return dnnl::algorithm::eltwise_relu;
    case Activation::kTanh:
      return dnnl::algorithm::eltwise_tanh;
    case Activation::kSilu:
      return dnnl::algorithm::eltwise_swish;
    case Activation::kNone:
      break;
  }
  return dnnl::algorithm::undef;
}

GemmPath resolve_path(GemmPath requested) {
  if (requested != GemmPath::kAuto) return requested;
  static const GemmPath from_environment = [] {
    const char* value = std::getenv("LATTE_GEMM");
    const std::string name = value == nullptr ? "" : value;
    if (name.empty() || name == "auto") return GemmPath::kAuto;
    if (name == "onednn") return GemmPath::kOneDnn;
    if (name == "packed") return GemmPath::kPacked;
    throw InputError("LATTE_GEMM must be onednn, packed or auto, got '" + name + "'");
  }();
  return from_environment;
}

void check_bias(const Tensor& bias, int64_t out_features) {
  if (!bias.empty() && (bias.rank() != 1 || bias.dim(0) != out_features)) {
    throw InputError("linear bias has shape " + bias.shape_str() + ", expected [" +
                     std::to_string(out_features) + "]");
  }
}

}  // namespace

const char* precision_name(Precision precision) {
  switch (precision) {
    case Precision::kInt8:
      return "int8";
    case Precision::kBf16:
      return "bf16";
    case Precision::kF32:
      break;
  }
  return "f32";
}

Precision precision_from_name(const std::string& name) {
  for (const Precision precision : {Precision::kF32, Precision::kInt8, Precision::kBf16}) {
    if (name == precision_name(precision)) return precision;
  }
  throw InputError("dtype must be f32, int8 or bf16, got '" + name + "'");
}

namespace {

// Whether oneDNN runs `isa` here: the CPU's ISA capped by ONEDNN_MAX_CPU_ISA. cpu_isa values
// are bit sets, each including those of the ISAs below it.
bool onednn_runs(dnnl::cpu_isa isa) {
  const auto effective = static_cast<unsigned>(dnnl::get_effective_cpu_isa());
  return (effective & static_cast<unsigned>(isa)) == static_cast<unsigned>(isa);
}

}  // namespace

int int8_activation_levels() {
  static const int levels = onednn_runs(dnnl::cpu_isa::avx512_core_vnni) ? 127 : 63;
  return levels;
}

std::string precision_unavailable_reason(Precision precision) {
  if (precision != Precision::kBf16) return "";
  // AMX's bits include avx512_core_bf16's.
  if (onednn_runs(dnnl::cpu_isa::avx512_core_bf16)) return "";
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512bf16")) {
    return "bf16 needs oneDNN's avx512_core_bf16 ISA, which ONEDNN_MAX_CPU_ISA caps off on this CPU";
  }
  return "bf16 needs avx512_bf16 or AMX; this CPU has neither";
}

namespace {

// bfloat16 bits -> float (exact: the high half of a float's bits).
float widen_bf16(uint16_t bits) {
  const uint32_t wide = static_cast<uint32_t>(bits) << 16;
  float value;
  std::memcpy(&value, &wide, sizeof value);
  return value;
}

// Per-row symmetric quantization of an [out, in] matrix read through value(index) -> float.
template <typename ValueAt>
Int8Weight quantize_rows(int64_t out_features, int64_t in_features, ValueAt value) {
  Int8Weight quantized;
  quantized.out_features = out_features;
  quantized.in_features = in_features;
  quantized.values.resize(static_cast<size_t>(out_features * in_features));
  quantized.scales.resize(static_cast<size_t>(out_features));
  for (int64_t o = 0; o < out_features; ++o) {
    const int64_t first = o * in_features;
    float largest = 0.0f;
    for (int64_t i = 0; i < in_features; ++i) {
      const float v = value(first + i);
      if (!std::isfinite(v)) {
        throw InputError("int8 weight [" + std::to_string(o) + ", " + std::to_string(i) + "] is not finite");
      }
      largest = std::max(largest, std::fabs(v));
    }
    const float scale = largest > 0.0f ? largest / 127.0f : 1.0f;
    quantized.scales[static_cast<size_t>(o)] = scale;
    for (int64_t i = 0; i < in_features; ++i) {
      const float level = std::clamp(std::nearbyint(value(first + i) / scale), -127.0f, 127.0f);
      quantized.values[static_cast<size_t>(first + i)] = static_cast<int8_t>(level);
    }
  }
  return quantized;
}

void check_bf16_sizes(const Bf16Weight& weight) {
  if (weight.out_features < 0 || weight.in_features < 0 ||
      weight.values.size() != static_cast<size_t>(weight.out_features * weight.in_features)) {
    throw InputError("bf16 weight has " + std::to_string(weight.values.size()) + " values, expected [" +
                     std::to_string(weight.out_features) + ", " + std::to_string(weight.in_features) + "]");
  }
}

Tensor widened(const Bf16Weight& weight) {
  Tensor result({weight.out_features, weight.in_features});
  for (size_t i = 0; i < weight.values.size(); ++i) result.data()[i] = widen_bf16(weight.values[i]);
  return result;
}

}  // namespace

Int8Weight quantize_int8(const Tensor& weight) {
  if (weight.rank() != 2) throw InputError("int8 weight must be 2-D, got " + weight.shape_str());
  const float* values = weight.data();
  return quantize_rows(weight.dim(0), weight.dim(1), [values](int64_t i) { return values[i]; });
}

Int8Weight quantize_int8(const Bf16Weight& weight) {
  check_bf16_sizes(weight);
  const uint16_t* values = weight.values.data();
  return quantize_rows(weight.out_features, weight.in_features,
                       [values](int64_t i) { return widen_bf16(values[i]); });
}

struct Linear::Impl {
  std::optional<LowPrecisionGemm> low_precision;  // int8 and bf16; the rest is fp32's
  dnnl::matmul primitive;
  memory weights;
  memory bias;
  bool has_bias = false;
  std::optional<PackedGemm> packed;  // when set, it runs every call; oneDNN's members are unused
};

Linear::Linear(Int8Weight weight, const Tensor& bias, Activation activation, bool accumulate) {
  std::string shape = "[";
  shape.append(std::to_string(weight.out_features)).append(", ").append(std::to_string(weight.in_features)) +=
      "]";
  if (weight.out_features < 0 || weight.in_features < 0)
    throw InputError("int8 weight has negative size " + shape);
  if (weight.values.size() != static_cast<size_t>(weight.out_features * weight.in_features)) {
    throw InputError("int8 weight has " + std::to_string(weight.values.size()) + " values, expected " +
                     shape);
  }
  if (weight.scales.size() != static_cast<size_t>(weight.out_features)) {
    throw InputError("int8 weight has " + std::to_string(weight.scales.size()) +
                     " scales, expected one per output (" + std::to_string(weight.out_features) + ")");
  }
  for (size_t o = 0; o < weight.scales.size(); ++o) {
    if (!std::isfinite(weight.scales[o]) || weight.scales[o] <= 0.0f) {
      throw InputError("int8 weight scale " + std::to_string(o) + " is " + std::to_string(weight.scales[o]) +
                       ", expected finite and > 0");
    }
  }
  if (std::find(weight.values.begin(), weight.values.end(), int8_t{-128}) != weight.values.end()) {
    throw InputError("int8 weight holds -128; values must lie in [-127, 127]");
  }
  check_bias(bias, weight.out_features);
  out_features_ = weight.out_features;
  in_features_ = weight.in_features;
  activation_ = activation;
  accumulate_ = accumulate;
  precision_ = Precision::kInt8;
  auto impl = std::make_shared<Impl>();
  impl->low_precision.emplace(std::move(weight), bias.empty() ? nullptr : bias.data(), activation,
                              accumulate);
  impl_ = std::move(impl);
}

Linear::Linear(const Tensor& weight, const Tensor& bias, Activation activation, bool accumulate,
               GemmPath path, Precision precision) {
  if (weight.rank() != 2) throw InputError("linear weight must be 2-D, got " + weight.shape_str());
  if (precision == Precision::kInt8) {
    *this = Linear(quantize_int8(weight), bias, activation, accumulate);
    return;
  }
  out_features_ = weight.dim(0);
  in_features_ = weight.dim(1);
  activation_ = activation;
  accumulate_ = accumulate;
  check_bias(bias, out_features_);
  auto impl = std::make_shared<Impl>();
  if (precision == Precision::kBf16 && precision_unavailable_reason(Precision::kBf16).empty()) {
    precision_ = Precision::kBf16;
    impl->low_precision.emplace(weight.data(), out_features_, in_features_,
                                bias.empty() ? nullptr : bias.data(), activation, accumulate,
                                resolve_path(path));
    impl_ = std::move(impl);
    return;
  }
  const GemmPath resolved = resolve_path(path);
  const std::optional<GemmIsa> isa = best_gemm_isa();
  if (resolved != GemmPath::kOneDnn && isa) {
    // PackedGemm serves every row count; only its copy of the weights is kept.
    impl->packed.emplace(weight.data(), out_features_, in_features_, bias.empty() ? nullptr : bias.data(),
                         activation, accumulate, *isa);
    impl_ = std::move(impl);
    return;
  }
  dnnl::engine& engine = onednn_engine();
  const memory::dims runtime_rows_src = {DNNL_RUNTIME_DIM_VAL, in_features_};
  const memory::dims runtime_rows_dst = {DNNL_RUNTIME_DIM_VAL, out_features_};
  const memory::desc src_md(runtime_rows_src, memory::data_type::f32, memory::dims{in_features_, 1});
  const memory::desc dst_md(runtime_rows_dst, memory::data_type::f32, memory::dims{out_features_, 1});
  const memory::desc weights_any({in_features_, out_features_}, memory::data_type::f32,
                                 memory::format_tag::any);
  // Hugging Face stores [out, in]; as a [in, out] matrix that is the transposed ("ba") layout.
  const memory::desc weights_plain({in_features_, out_features_}, memory::data_type::f32,
                                   memory::dims{1, in_features_});
  const memory::desc bias_md({1, out_features_}, memory::data_type::f32, memory::dims{out_features_, 1});

  dnnl::post_ops post_ops;
  if (activation != Activation::kNone)
    // alpha is swish's sigmoid slope (x * sigmoid(alpha x)): 1 makes it SiLU; the others ignore it.
    post_ops.append_eltwise(1.0f, eltwise_algorithm(activation),
                            activation == Activation::kSilu ? 1.0f : 0.0f, 0.0f);
  if (accumulate) post_ops.append_sum(1.0f);
  dnnl::primitive_attr attributes;
  attributes.set_post_ops(post_ops);

  impl->has_bias = !bias.empty();
  const dnnl::matmul::desc description = impl->has_bias
                                             ? dnnl::matmul::desc(src_md, weights_plain, bias_md, dst_md)
                                             : dnnl::matmul::desc(src_md, weights_plain, dst_md);
  const dnnl::matmul::primitive_desc primitive_desc(description, attributes, engine);
  impl->primitive = dnnl::matmul(primitive_desc);

  dnnl::stream stream(engine);
  memory plain(weights_plain, engine, const_cast<float*>(weight.data()));
  impl->weights = memory(primitive_desc.weights_desc(), engine);
  dnnl::reorder(plain, impl->weights).execute(stream, plain, impl->weights);
  if (impl->has_bias) {
    impl->bias = memory(bias_md, engine);
    std::copy(bias.data(), bias.data() + out_features_, static_cast<float*>(impl->bias.get_data_handle()));
  }
  stream.wait();
  impl_ = std::move(impl);
}

Linear::Linear(Bf16Weight weight, const Tensor& bias, Activation activation, bool accumulate,
               Precision precision, GemmPath path) {
  check_bf16_sizes(weight);
  if (precision == Precision::kInt8) {
    *this = Linear(quantize_int8(weight), bias, activation, accumulate);
    return;
  }
  if (precision != Precision::kBf16 || !precision_unavailable_reason(Precision::kBf16).empty()) {
    *this = Linear(widened(weight), bias, activation, accumulate, path, Precision::kF32);
    return;
  }
  check_bias(bias, weight.out_features);
  out_features_ = weight.out_features;
  in_features_ = weight.in_features;
  activation_ = activation;
  accumulate_ = accumulate;
  precision_ = Precision::kBf16;
  auto impl = std::make_shared<Impl>();
  impl->low_precision.emplace(std::move(weight.values), out_features_, in_features_,
                              bias.empty() ? nullptr : bias.data(), activation, accumulate,
                              resolve_path(path));
  impl_ = std::move(impl);
}

const Int8Weight* Linear::int8_weight() const {
  return impl_ && impl_->low_precision ? impl_->low_precision->int8_weight() : nullptr;
}

bool Linear::weight_row(int64_t row, float* out) const {
  if (!impl_) return false;
  if (impl_->low_precision) return impl_->low_precision->bf16_row(row, out);
  if (impl_->packed) {
    impl_->packed->weight_row(row, out);
    return true;
  }
  // oneDNN's weights were given in the plain [out, in] layout (weights_plain above).
  const float* weights = static_cast<const float*>(impl_->weights.get_data_handle());
  std::copy_n(weights + row * in_features_, in_features_, out);
  return true;
}

void Linear::operator()(const float* x, int64_t rows, float* y) const {
  if (rows == 0) return;
  if (impl_->low_precision) return (*impl_->low_precision)(x, rows, y);
  if (impl_->packed) return (*impl_->packed)(x, rows, y);
  dnnl::engine& engine = onednn_engine();
  const memory::desc src_md({rows, in_features_}, memory::data_type::f32, memory::dims{in_features_, 1});
  const memory::desc dst_md({rows, out_features_}, memory::data_type::f32, memory::dims{out_features_, 1});
  memory src(src_md, engine, const_cast<float*>(x));
  memory dst(dst_md, engine, y);
  dnnl::stream& stream = onednn_stream();
  std::unordered_map<int, memory> arguments = {
      {DNNL_ARG_SRC, src}, {DNNL_ARG_WEIGHTS, impl_->weights}, {DNNL_ARG_DST, dst}};
  if (impl_->has_bias) arguments.emplace(DNNL_ARG_BIAS, impl_->bias);
  impl_->primitive.execute(stream, arguments);
  stream.wait();
}

void sgemm(bool transpose_b, int64_t m, int64_t n, int64_t k, float alpha, const float* a, int64_t lda,
           const float* b, int64_t ldb, float beta, float* c, int64_t ldc) {
  if (m == 0 || n == 0) return;
  const dnnl_status_t status =
      dnnl_sgemm('N', transpose_b ? 'T' : 'N', m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
  if (status != dnnl_success) throw Error("oneDNN sgemm failed with status " + std::to_string(status));
}

double measure_gemm_gflops(int64_t m, int64_t k, int64_t n, int repeats) {
  Tensor weight({n, k});
  Tensor input({m, k});
  Tensor output({m, n});
  for (int64_t i = 0; i < weight.numel(); ++i) weight.data()[i] = 0.001f * static_cast<float>(i % 97);
  for (int64_t i = 0; i < input.numel(); ++i) input.data()[i] = 0.01f * static_cast<float>(i % 89);
  const Linear linear(weight, Tensor(), Activation::kNone);
  auto median_seconds = [&](const auto& run) {
    run();  // warm-up
    std::vector<double> seconds;
    for (int r = 0; r < std::max(repeats, 1); ++r) {
      const auto start = std::chrono::steady_clock::now();
      run();
      seconds.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
    }
    std::sort(seconds.begin(), seconds.end());
    return seconds[seconds.size() / 2];
  };
  // The ceiling is the faster of what Linear runs at this row count and
  // oneDNN's plain sgemm.
  const double packed = median_seconds([&] { linear(input.data(), m, output.data()); });
  const double plain = median_seconds(
      [&] { sgemm(true, m, n, k, 1.0f, input.data(), k, weight.data(), k, 0.0f, output.data(), n); });
  return 2.0 * static_cast<double>(m * k * n) / std::min(packed, plain) / 1e9;
}

double measure_layer_gemm_gflops(int64_t rows, int64_t hidden, int64_t ffn, int repeats) {
  const int64_t shapes[][2] = {{hidden, 3 * hidden}, {hidden, hidden}, {hidden, ffn}, {ffn, hidden}};
  double flops = 0.0, seconds = 0.0;
  for (const auto& shape : shapes) {
    const double shape_flops = 2.0 * static_cast<double>(rows * shape[0] * shape[1]);
    flops += shape_flops;
    seconds += shape_flops / (measure_gemm_gflops(rows, shape[0], shape[1], repeats) * 1e9);
  }
  return flops / seconds / 1e9;
}

Activation activation_from_name(const std::string& name, const std::string& where) {
  if (name == "gelu") return Activation::kGeluErf;
  if (name == "gelu_new" || name == "gelu_pytorch_tanh" || name == "gelu_fast") return Activation::kGeluTanh;
  if (name == "relu") return Activation::kRelu;
  throw FormatError(where + " has unsupported value '" + name +
                    "' (supported: gelu, gelu_new, gelu_pytorch_tanh, gelu_fast, relu)");
}

}  // namespace latte
