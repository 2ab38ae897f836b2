// Fully connected layer: y[rows, out] = act(x[rows, in] W^T + b) (+ y), computed in fp32,
// int8 (dynamic quantization) or bf16; x and y are fp32 in every precision.
// In fp32, two kernels, picked by the row count of each call:
// - few rows: latte's PackedGemm (packed_gemm.h), where oneDNN 2.6's matmul is
//   slow (docs/benchmarks.md, "Small rows");
// - more rows: oneDNN's matmul with the weights in Hugging Face's [out, in]
//   layout (oneDNN's blocked "any" layout measured up to 2x slower for the FFN
//   shapes on AVX2). Its primitive takes the row count at run time, so one
//   primitive serves every number of kept word-vectors.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "latte/core/tensor.h"

namespace latte {

enum class Activation { kNone, kGeluErf, kGeluTanh, kRelu, kTanh, kSilu };

// A Hugging Face config's activation name (hidden_act, activation_function): gelu (erf),
// gelu_new / gelu_pytorch_tanh / gelu_fast (tanh approximation), relu. FormatError naming
// `where` ("config.json: field 'hidden_act'") for anything else.
Activation activation_from_name(const std::string& name, const std::string& where);

// Which kernel a Linear runs. kAuto: PackedGemm at every row count on CPUs with
// AVX2+FMA, oneDNN's matmul elsewhere. PackedGemm beat oneDNN 2.6 at 1-128 rows
// (1.2-2.3x on a full BERT-base pass) and, measured again, at 256-1024 rows too
// (1.09-1.25x on BERT-base and GPT-2 passes, AVX-512 and AVX2 paths alike;
// docs/benchmarks.md, "Packed GEMM at every row count"), so a Linear keeps one
// copy of its weights, in the kernel's layout. In bf16, kOneDnn keeps oneDNN's matmul at
// every row count and the others run latte's few-row kernel on oneDNN's copy of the weights
// at 1-4 rows (decode steps) where the CPU allows. The environment variable
// LATTE_GEMM=onednn|packed|auto overrides kAuto, to compare both in one session.
enum class GemmPath { kAuto, kOneDnn, kPacked };

// What a Linear computes in. kInt8: weights quantized per output channel, each row of x
// quantized on the fly (symmetric, see int8_activation_levels), oneDNN's int8 matmul, the
// product dequantized in fp32 before bias and activation. kBf16: weights and x rounded to
// bf16, products summed in fp32.
enum class Precision { kF32, kInt8, kBf16 };

const char* precision_name(Precision precision);  // "f32", "int8", "bf16"
// InputError "dtype must be f32, int8 or bf16, got 'X'".
Precision precision_from_name(const std::string& name);
// Empty when this CPU computes `precision` natively; else why not, in one line (then a
// Linear asked for it computes in f32). bf16 needs avx512_bf16 or AMX as oneDNN sees them,
// so ONEDNN_MAX_CPU_ISA=AVX2 makes it unavailable too.
std::string precision_unavailable_reason(Precision precision);

// The largest level |x| is quantized to in int8: 127 where oneDNN runs AVX-512 VNNI (or
// AMX); 63 elsewhere, where its int8 kernels add pairs of u8 x s8 products in 16 bits, which
// saturate unless activations keep 7 bits (PyTorch's reduce_range does the same). Each row's
// scale is max|x_row| / int8_activation_levels().
int int8_activation_levels();

// Per-output-channel symmetric int8 weights: W[o, i] ~= scales[o] * values[o * in + i].
struct Int8Weight {
  int64_t out_features = 0, in_features = 0;
  std::vector<int8_t> values;  // [out, in], row-major, in [-127, 127]
  std::vector<float> scales;   // [out], > 0 (an all-zero row gets scale 1)
};

// bf16 weights as a checkpoint stores them (bfloat16 bits), so that a bf16 folder loads
// without a float copy of each weight.
struct Bf16Weight {
  int64_t out_features = 0, in_features = 0;
  std::vector<uint16_t> values;  // [out, in], row-major
};

// Rounds to nearest with scale = max|W[o, :]| / 127. weight: [out, in]. InputError on a
// weight that is not 2-D or holds a non-finite value.
Int8Weight quantize_int8(const Tensor& weight);
// The same from bf16 values, each widened to f32 exactly: equal to quantize_int8 of the
// widened matrix, without making it. InputError when the sizes do not match.
Int8Weight quantize_int8(const Bf16Weight& weight);

class Linear {
 public:
  Linear() = default;
  // weight: [out, in] (Hugging Face layout); bias: [out] or empty.
  // accumulate: add the result to what y holds (a fused residual connection).
  // precision: kBf16 on a CPU without bf16 compute gives an fp32 Linear (precision() says
  // which it got); path applies to fp32 and bf16 (see GemmPath). With kInt8 the fp32 weights are not kept.
  Linear(const Tensor& weight, const Tensor& bias, Activation activation, bool accumulate = false,
         GemmPath path = GemmPath::kAuto, Precision precision = Precision::kF32);
  // int8 from weights already quantized (a stored quantized model). InputError when the
  // values or scales do not match the sizes, a value is -128, or a scale is not finite and > 0.
  Linear(Int8Weight weight, const Tensor& bias, Activation activation, bool accumulate = false);
  // From bf16 values (a bf16 checkpoint): kBf16 keeps them as given (no float copy), kInt8
  // quantizes them, kF32 (or kBf16 on a CPU without bf16 compute) widens them.
  Linear(Bf16Weight weight, const Tensor& bias, Activation activation, bool accumulate, Precision precision,
         GemmPath path = GemmPath::kAuto);

  // x: [rows, in] contiguous, y: [rows, out] contiguous; rows may be 0.
  void operator()(const float* x, int64_t rows, float* y) const;

  int64_t in_features() const { return in_features_; }
  int64_t out_features() const { return out_features_; }
  Activation activation() const { return activation_; }
  bool accumulates() const { return accumulate_; }
  // What it computes in: f32 after a fallback from bf16.
  Precision precision() const { return precision_; }
  // The quantized weights when precision() is kInt8, else nullptr.
  const Int8Weight* int8_weight() const;
  // Row `row` of the weights as this Linear holds them, widened to f32 (f32: exactly as given;
  // bf16: rounded to bf16), and true; false in int8. row in [0, out_features). A tied head
  // serves its model's token embedding this way, so the table is held once.
  bool weight_row(int64_t row, float* out) const;

 private:
  struct Impl;
  std::shared_ptr<const Impl> impl_;
  int64_t in_features_ = 0;
  int64_t out_features_ = 0;
  Activation activation_ = Activation::kNone;
  bool accumulate_ = false;
  Precision precision_ = Precision::kF32;
};

// C[m, n] = alpha * A[m, k] B[k, n] (+ beta C) on row-major data with leading
// dimensions; B may be transposed. Single call into oneDNN's sgemm.
void sgemm(bool transpose_b, int64_t m, int64_t n, int64_t k, float alpha, const float* a, int64_t lda,
           const float* b, int64_t ldb, float beta, float* c, int64_t ldc);

// GFLOP/s that the faster of Linear (as configured) and oneDNN's sgemm reaches
// on a [m, k] x [k, n] product with the current thread count: the GEMM ceiling
// dense inference is compared with.
double measure_gemm_gflops(int64_t m, int64_t k, int64_t n, int repeats);

// GFLOP/s of the four GEMMs of one encoder layer ([rows, hidden] by QKV [hidden, 3 * hidden],
// output [hidden, hidden], FFN up [hidden, ffn] and down [ffn, hidden]), each measured as
// above and weighted by its FLOPs: the ceiling for a dense forward pass at this row count.
double measure_layer_gemm_gflops(int64_t rows, int64_t hidden, int64_t ffn, int repeats);

}  // namespace latte
