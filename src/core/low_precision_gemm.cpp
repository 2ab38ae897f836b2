#include "low_precision_gemm.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <optional>

#include "gemm_small_kernels.h"
#include "latte/core/packed_gemm.h"
#include "latte/core/threads.h"
#include "onednn_context.h"

namespace latte {

namespace {

using dnnl::memory;

// Round to nearest even, as oneDNN's own f32 -> bf16 conversion; NaN stays NaN.
uint16_t to_bf16(float value) {
  uint32_t bits;
  std::memcpy(&bits, &value, sizeof bits);
  if ((bits & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((bits >> 16) | 0x40u);
  bits += 0x7fffu + ((bits >> 16) & 1u);
  return static_cast<uint16_t>(bits >> 16);
}

// Parallel regions cost a few microseconds: only for conversions and epilogues this large.
constexpr int64_t kParallelElements = int64_t{1} << 15;

// Each row of x [rows, in] to integers in [-levels, levels] with its own scale
// max|x_row| / levels, stored plus `zero_point` as bytes (s8 for a zero point of 0, u8 for
// 64). A zero row gets scale 0 and zeros; a row holding NaN or infinity gets a NaN scale, so
// its outputs are NaN as in fp32. Rows [rows, bucket_rows) hold zeros.
void quantize_rows(const float* x, int64_t rows, int64_t bucket_rows, int64_t in_features, int levels,
                   int zero_point, uint8_t* quantized, float* row_scales) {
  parallel_ranges(
      rows,
      [&](int64_t begin, int64_t end) {
        for (int64_t r = begin; r < end; ++r) {
          const float* row = x + r * in_features;
          float largest = 0.0f;
          bool finite = true;
          for (int64_t k = 0; k < in_features; ++k) {
            largest = std::max(largest, std::fabs(row[k]));
            finite &= std::isfinite(row[k]);
          }
          const float inverse = largest > 0.0f && finite ? static_cast<float>(levels) / largest : 0.0f;
          row_scales[r] =
              finite ? largest / static_cast<float>(levels) : std::numeric_limits<float>::quiet_NaN();
          uint8_t* out = quantized + r * in_features;
          // The conversion to uint8_t wraps modulo 256: a negative level becomes its s8 bit pattern.
          for (int64_t k = 0; k < in_features; ++k)
            out[k] = static_cast<uint8_t>(static_cast<int>(std::nearbyint(row[k] * inverse)) + zero_point);
        }
      },
      rows * in_features >= kParallelElements);
  std::fill(quantized + rows * in_features, quantized + bucket_rows * in_features,
            static_cast<uint8_t>(zero_point));
}

void round_rows_to_bf16(const float* x, int64_t rows, int64_t bucket_rows, int64_t in_features,
                        uint16_t* rounded) {
  const int64_t count = rows * in_features;
  parallel_ranges(
      count,
      [&](int64_t begin, int64_t end) {
        for (int64_t i = begin; i < end; ++i) rounded[i] = to_bf16(x[i]);
      },
      count >= kParallelElements);
  std::fill(rounded + count, rounded + bucket_rows * in_features, uint16_t{0});
}

float activate_scalar(float value, Activation activation) {
  switch (activation) {
    case Activation::kGeluErf:
      return 0.5f * value * (1.0f + std::erf(value * 0.70710678118654752f));
    case Activation::kGeluTanh:
      return 0.5f * value *
             (1.0f + std::tanh(0.79788456080286536f * (value + 0.044715f * value * value * value)));
    case Activation::kRelu:
      return std::max(value, 0.0f);
    case Activation::kTanh:
      return std::tanh(value);
    case Activation::kSilu:
      return value / (1.0f + std::exp(-value));
    case Activation::kNone:
      break;
  }
  return value;
}

// For CPUs without AVX2 (oneDNN still runs int8 there, slowly).
void epilogue_scalar(const gemm_kernels::EpilogueArgs& args, int64_t row_begin, int64_t row_end) {
  const int64_t stride = args.row_stride == 0 ? args.out_features : args.row_stride;
  for (int64_t r = row_begin; r < row_end; ++r) {
    for (int64_t c = 0; c < args.out_features; ++c) {
      const int64_t i = r * stride + c;
      float value = args.product[i];
      if (args.row_scales != nullptr) value *= args.row_scales[r];
      if (args.column_scales != nullptr) value *= args.column_scales[c];
      if (args.bias != nullptr) value += args.bias[c];
      value = activate_scalar(value, args.activation);
      args.y[i] = args.accumulate ? args.y[i] + value : value;
    }
  }
}

void run_epilogue(const gemm_kernels::EpilogueArgs& args, int64_t rows) {
  const std::optional<GemmIsa> isa = best_gemm_isa();
  const auto kernel = !isa                       ? epilogue_scalar
                      : *isa == GemmIsa::kAvx512 ? gemm_kernels::epilogue_avx512
                                                 : gemm_kernels::epilogue_avx2;
  parallel_ranges(
      rows, [&](int64_t begin, int64_t end) { kernel(args, begin, end); },
      rows * args.out_features >= kParallelElements);
}

// Per-thread scratch, grown to the largest call seen; a Linear is shared across threads.
struct Scratch {
  std::vector<uint8_t> quantized;  // [bucket rows, in] s8 or u8
  std::vector<uint16_t> rounded;   // [bucket rows, in] bf16
  std::vector<float> row_scales;   // [rows]
  std::vector<float> product;      // [bucket rows, out]
  std::vector<uint8_t> onednn;     // oneDNN's scratchpad, 64 bytes of room to align it
};

Scratch& thread_scratch() {
  thread_local Scratch scratch;
  return scratch;
}

template <typename T>
T* grown(std::vector<T>& buffer, int64_t count) {
  if (buffer.size() < static_cast<size_t>(count)) buffer.resize(static_cast<size_t>(count));
  return buffer.data();
}

// Up to this many rows a bf16 call runs the few-row kernel where it can (measured against
// oneDNN in docs/benchmarks.md, "bf16 decode": on two threads it wins whole decode steps at one
// row and loses the FFN's calls at 2-4 rows, so batched decoding stays on oneDNN).
constexpr int64_t kFewRowLimit = 1;

}  // namespace

int64_t LowPrecisionGemm::row_bucket(int64_t rows) {
  // Exact up to 8 rows, where padding measured up to 1.7x slower (the weights' streaming
  // time is shared by fewer rows). Above, multiples of 8 below 1024 rows, of 16 below 2048 and
  // so on: at most 1/64 of the rows are padding, and each doubling of the rows adds 64 buckets
  // (each bucket is a primitive of ~40 KB per shape). oneDNN's brgemm at an odd row count ran
  // up to 1.2x slower than at the next multiple of 8 (1763 rows of the 1B's FFN: 92 against
  // 77 ms), and coarse buckets pad the row counts elimination leaves by up to 20 % (531 rows ran
  // as 640 under steps of 128 above 512 rows, the scheme before: pruned prefills measured 4-5 %
  // slower than the latency table, profiled at row counts that need no padding, predicts).
  if (rows <= 8) return rows;
  int64_t step = 8;
  while (step * 128 <= rows) step *= 2;
  return (rows + step - 1) / step * step;
}

LowPrecisionGemm::LowPrecisionGemm(Int8Weight weight, const float* bias, Activation activation,
                                   bool accumulate)
    : precision_(Precision::kInt8),
      out_features_(weight.out_features),
      in_features_(weight.in_features),
      activation_(activation),
      accumulate_(accumulate),
      // Without VNNI the activations keep 7 bits, as u8 around 64 (int8_activation_levels).
      zero_point_(int8_activation_levels() == 127 ? 0 : 64),
      int8_(std::move(weight)) {
  if (bias != nullptr) bias_.assign(bias, bias + out_features_);
  // Hugging Face's [out, in] is the transposed ("ba") layout of the [in, out] matrix.
  const memory::desc plain_md({in_features_, out_features_}, memory::data_type::s8,
                              memory::dims{1, in_features_});
  prepare_weights(memory(plain_md, onednn_engine(), int8_.values.data()));
  // Only oneDNN's copy stays: int8_weight() unpacks the values again if they are asked for.
  std::vector<int8_t>().swap(int8_.values);
}

namespace {

std::vector<uint16_t> rounded_to_bf16(const float* values, int64_t count) {
  std::vector<uint16_t> rounded(static_cast<size_t>(count));
  for (size_t i = 0; i < rounded.size(); ++i) rounded[i] = to_bf16(values[i]);
  return rounded;
}

}  // namespace

LowPrecisionGemm::LowPrecisionGemm(const float* weight, int64_t out_features, int64_t in_features,
                                   const float* bias, Activation activation, bool accumulate, GemmPath path)
    : LowPrecisionGemm(rounded_to_bf16(weight, out_features * in_features), out_features, in_features, bias,
                       activation, accumulate, path) {}

LowPrecisionGemm::LowPrecisionGemm(std::vector<uint16_t> weight, int64_t out_features, int64_t in_features,
                                   const float* bias, Activation activation, bool accumulate, GemmPath path)
    : precision_(Precision::kBf16),
      out_features_(out_features),
      in_features_(in_features),
      activation_(activation),
      accumulate_(accumulate) {
  if (bias != nullptr) bias_.assign(bias, bias + out_features_);
  prepare_weights(memory(plain_weights_desc(), onednn_engine(), weight.data()));
  if (path != GemmPath::kOneDnn) enable_few_row_kernel();
}

// The kernel reads oneDNN's BA16a64b2a-style layout of [in, out] in place: 64-column blocks
// one after another, each holding all of K as consecutive groups of K pairs, a group being
// [pairs][64 columns][2]. So pair p of block b sits at (b * pairs + p) * 128. Padded K and
// columns are zero (oneDNN's reorder zero-fills a blocked layout's padding), and x is
// zero-padded to match. Any other layout stays on oneDNN.
void LowPrecisionGemm::enable_few_row_kernel() {
  const std::optional<GemmIsa> isa = best_gemm_isa();
  if (!isa || *isa != GemmIsa::kAvx512 || !__builtin_cpu_supports("avx512bf16")) return;
  const dnnl_memory_desc_t& md = weights_.get_desc().data;
  if (md.format_kind != dnnl_blocked || md.ndims != 2 || md.offset0 != 0 || md.extra.flags != 0) return;
  const dnnl_blocking_desc_t& blocking = md.format_desc.blocking;
  const int64_t columns = gemm_kernels::kBf16GemvBlockColumns;
  if (blocking.inner_nblks != 3 || blocking.inner_idxs[0] != 0 || blocking.inner_idxs[1] != 1 ||
      blocking.inner_idxs[2] != 0 || blocking.inner_blks[1] != columns || blocking.inner_blks[2] != 2)
    return;
  const int64_t group_pairs = blocking.inner_blks[0];
  const int64_t padded_in = md.padded_dims[0];
  if (padded_in % (2 * group_pairs) != 0 || blocking.strides[0] != group_pairs * columns * 2 ||
      blocking.strides[1] != padded_in * columns || md.padded_dims[1] % columns != 0)
    return;
  few_row_pairs_ = padded_in / 2;
  few_row_limit_ = kFewRowLimit;
}

memory::data_type LowPrecisionGemm::source_type() const {
  if (precision_ == Precision::kBf16) return memory::data_type::bf16;
  return zero_point_ == 0 ? memory::data_type::s8 : memory::data_type::u8;
}

memory::desc LowPrecisionGemm::plain_weights_desc() const {
  const memory::data_type type =
      precision_ == Precision::kInt8 ? memory::data_type::s8 : memory::data_type::bf16;
  return memory::desc({in_features_, out_features_}, type, memory::dims{1, in_features_});
}

dnnl::matmul::primitive_desc LowPrecisionGemm::make_primitive_desc(int64_t bucket_rows,
                                                                   const memory::desc& weights_md) const {
  const memory::desc src_md({bucket_rows, in_features_}, source_type(), memory::dims{in_features_, 1});
  const memory::desc dst_md({bucket_rows, out_features_}, memory::data_type::f32,
                            memory::dims{out_features_, 1});
  dnnl::primitive_attr attributes;
  if (zero_point_ != 0) attributes.set_zero_points(DNNL_ARG_SRC, 0, {zero_point_});
  // The caller's scratchpad (thread_scratch): with oneDNN's own, each primitive kept one, and an
  // int8 BERT-base serving lengths 1..420 grew by 306 MB (its weights are 182 MB).
  attributes.set_scratchpad_mode(dnnl::scratchpad_mode::user);
  return dnnl::matmul::primitive_desc(dnnl::matmul::desc(src_md, weights_md, dst_md), attributes,
                                      onednn_engine());
}

namespace {

// The part of oneDNN's offset of a logical element of a blocked layout that one dimension's
// index contributes: its inner blocks (innermost last) and then its outer stride, as
// memory_desc_wrapper::off_l computes them. An element's offset is offset0 plus the sum over
// dimensions, so a row's offsets need only one table per dimension.
int64_t blocked_offset_part(const dnnl_memory_desc_t& md, int dim, int64_t index) {
  const dnnl_blocking_desc_t& blocking = md.format_desc.blocking;
  int64_t offset = 0, inner_stride = 1;
  for (int block = blocking.inner_nblks - 1; block >= 0; --block) {
    const int64_t size = blocking.inner_blks[block];
    if (blocking.inner_idxs[block] == dim) {
      offset += index % size * inner_stride;
      index /= size;
    }
    inner_stride *= size;
  }
  return offset + index * blocking.strides[dim];
}

}  // namespace

bool LowPrecisionGemm::bf16_row(int64_t row, float* out) const {
  if (precision_ != Precision::kBf16) return false;
  const dnnl_memory_desc_t& md = weights_.get_desc().data;
  if (md.format_kind != dnnl_blocked || md.ndims != 2) return false;
  // Dimension 0 of the [in, out] matrix: the same offsets for every row, computed once (the
  // divisions per element made a 256-token GPT-2 prefill's embedding lookups cost ~10 ms).
  std::call_once(in_offsets_once_, [&] {
    in_offsets_.resize(static_cast<size_t>(in_features_));
    for (int64_t i = 0; i < in_features_; ++i)
      in_offsets_[static_cast<size_t>(i)] = blocked_offset_part(md, 0, i);
  });
  const auto* values =
      static_cast<const uint16_t*>(weights_.get_data_handle()) + md.offset0 + blocked_offset_part(md, 1, row);
  for (int64_t i = 0; i < in_features_; ++i) {
    const uint32_t bits = static_cast<uint32_t>(values[in_offsets_[static_cast<size_t>(i)]]) << 16;
    std::memcpy(out + i, &bits, sizeof(float));
  }
  return true;
}

const Int8Weight* LowPrecisionGemm::int8_weight() const {
  if (precision_ != Precision::kInt8) return nullptr;
  std::call_once(unpacked_, [this] {
    int8_.values.resize(static_cast<size_t>(out_features_ * in_features_));
    memory packed = weights_;
    memory plain(plain_weights_desc(), onednn_engine(), int8_.values.data());
    dnnl::stream stream(onednn_engine());
    dnnl::reorder(packed, plain).execute(stream, packed, plain);
    stream.wait();
  });
  return &int8_;
}

// The weights go once into the layout oneDNN prefers for a mid-sized bucket; every bucket's
// primitive then takes that layout as given.
void LowPrecisionGemm::prepare_weights(memory plain) {
  const int64_t rows = row_bucket(64);
  const memory::desc weights_any({in_features_, out_features_}, plain.get_desc().data_type(),
                                 memory::format_tag::any);
  const dnnl::matmul::primitive_desc description = make_primitive_desc(rows, weights_any);
  weights_ = memory(description.weights_desc(), onednn_engine());
  dnnl::stream stream(onednn_engine());
  dnnl::reorder(plain, weights_).execute(stream, plain, weights_);
  stream.wait();
  primitives_.emplace(rows, Primitive{dnnl::matmul(description), description.scratchpad_desc()});
}

LowPrecisionGemm::Primitive LowPrecisionGemm::primitive(int64_t bucket_rows) const {
  const std::lock_guard<std::mutex> lock(mutex_);
  auto found = primitives_.find(bucket_rows);
  if (found != primitives_.end()) return found->second;
  const dnnl::matmul::primitive_desc description = make_primitive_desc(bucket_rows, weights_.get_desc());
  return primitives_.emplace(bucket_rows, Primitive{dnnl::matmul(description), description.scratchpad_desc()})
      .first->second;
}

void LowPrecisionGemm::run_few_rows(const float* x, int64_t rows, float* y) const {
  Scratch& scratch = thread_scratch();
  const int64_t padded_in = few_row_pairs_ * 2;
  uint16_t* rounded = grown(scratch.rounded, rows * padded_in);
  for (int64_t r = 0; r < rows; ++r)
    round_rows_to_bf16(x + r * in_features_, 1, 1, in_features_, rounded + r * padded_in);
  for (int64_t r = 0; r < rows; ++r)
    std::fill(rounded + r * padded_in + in_features_, rounded + (r + 1) * padded_in, uint16_t{0});
  float* product = grown(scratch.product, rows * out_features_);

  gemm_kernels::Bf16GemvArgs args;
  args.x_pairs = reinterpret_cast<const uint32_t*>(rounded);
  args.rows = rows;
  args.pairs = few_row_pairs_;
  args.weights = static_cast<const uint16_t*>(weights_.get_data_handle());
  args.out_features = out_features_;
  args.product = product;
  const int64_t block_columns = gemm_kernels::kBf16GemvBlockColumns;
  const int64_t blocks = (out_features_ + block_columns - 1) / block_columns;
  // Contiguous block ranges per thread, each finished by the thread that computed it while
  // its product is in cache; a small product stays on one thread.
  const bool parallel = blocks > 1 && rows * in_features_ * out_features_ >= (int64_t{1} << 16);
  parallel_ranges(
      blocks,
      [&](int64_t begin, int64_t end) {
        gemm_kernels::bf16_gemv_avx512(args, begin, end);
        const int64_t column = begin * block_columns;
        gemm_kernels::EpilogueArgs epilogue;
        epilogue.product = product + column;
        epilogue.bias = bias_.empty() ? nullptr : bias_.data() + column;
        epilogue.out_features = std::min(end * block_columns, out_features_) - column;
        epilogue.activation = activation_;
        epilogue.accumulate = accumulate_;
        epilogue.y = y + column;
        epilogue.row_stride = out_features_;
        gemm_kernels::epilogue_avx512(epilogue, 0, rows);
      },
      parallel);
}

void LowPrecisionGemm::operator()(const float* x, int64_t rows, float* y) const {
  if (rows == 0 || out_features_ == 0) return;
  if (rows <= few_row_limit_) return run_few_rows(x, rows, y);
  const int64_t bucket_rows = row_bucket(rows);
  Scratch& scratch = thread_scratch();
  void* source = nullptr;
  const float* row_scales = nullptr;
  if (precision_ == Precision::kInt8) {
    uint8_t* quantized = grown(scratch.quantized, bucket_rows * in_features_);
    float* scales = grown(scratch.row_scales, rows);
    quantize_rows(x, rows, bucket_rows, in_features_, int8_activation_levels(), zero_point_, quantized,
                  scales);
    source = quantized;
    row_scales = scales;
  } else {
    uint16_t* rounded = grown(scratch.rounded, bucket_rows * in_features_);
    round_rows_to_bf16(x, rows, bucket_rows, in_features_, rounded);
    source = rounded;
  }
  float* product = grown(scratch.product, bucket_rows * out_features_);

  const dnnl::engine& engine = onednn_engine();
  const memory src(memory::desc({bucket_rows, in_features_}, source_type(), memory::dims{in_features_, 1}),
                   engine, source);
  const memory dst(
      memory::desc({bucket_rows, out_features_}, memory::data_type::f32, memory::dims{out_features_, 1}),
      engine, product);
  const Primitive matmul = primitive(bucket_rows);
  const size_t scratchpad_bytes = matmul.scratchpad.get_size();
  uint8_t* scratchpad = grown(scratch.onednn, static_cast<int64_t>(scratchpad_bytes) + 64);
  scratchpad += (64 - reinterpret_cast<uintptr_t>(scratchpad) % 64) % 64;
  const memory scratchpad_memory(matmul.scratchpad, engine, scratchpad);
  dnnl::stream& stream = onednn_stream();
  matmul.matmul.execute(stream, {{DNNL_ARG_SRC, src},
                                 {DNNL_ARG_WEIGHTS, weights_},
                                 {DNNL_ARG_DST, dst},
                                 {DNNL_ARG_SCRATCHPAD, scratchpad_memory}});
  stream.wait();

  gemm_kernels::EpilogueArgs epilogue;
  epilogue.product = product;
  epilogue.row_scales = row_scales;
  epilogue.column_scales = precision_ == Precision::kInt8 ? int8_.scales.data() : nullptr;
  epilogue.bias = bias_.empty() ? nullptr : bias_.data();
  epilogue.out_features = out_features_;
  epilogue.activation = activation_;
  epilogue.accumulate = accumulate_;
  epilogue.y = y;
  run_epilogue(epilogue, rows);
}

}  // namespace latte
