#include "latte/models/embedding_table.h"

#include <cstring>
#include <vector>

#include "latte/core/error.h"

namespace latte {

EmbeddingTable::EmbeddingTable(Tensor table, DType stored)
    : rows_(table.dim(0)),
      width_(table.dim(1)),
      dtype_(stored == DType::F16 || stored == DType::BF16 ? stored : DType::F32) {
  if (dtype_ == DType::F32) {
    f32_ = std::move(table);
    return;
  }
  const float* values = table.data();
  half_.resize(static_cast<size_t>(table.numel()));
  for (size_t i = 0; i < half_.size(); ++i) {
    half_[i] = dtype_ == DType::BF16 ? float_to_bfloat16(values[i]) : float_to_half(values[i]);
  }
}

EmbeddingTable::EmbeddingTable(std::vector<uint16_t> bits, int64_t rows, int64_t width, DType stored)
    : rows_(rows), width_(width), dtype_(stored), half_(std::move(bits)) {
  if (stored != DType::F16 && stored != DType::BF16) {
    throw InputError(std::string("a table of 16-bit values must be F16 or BF16, got ") + dtype_name(stored));
  }
  if (rows < 0 || width < 0 || half_.size() != static_cast<size_t>(rows * width)) {
    throw InputError("16-bit embedding table has " + std::to_string(half_.size()) + " values, expected [" +
                     std::to_string(rows) + ", " + std::to_string(width) + "]");
  }
}

bool EmbeddingTable::can_tie(const Linear& head, DType stored) {
  const bool exact =
      head.precision() == Precision::kF32 || (head.precision() == Precision::kBf16 && stored == DType::BF16);
  std::vector<float> probe(static_cast<size_t>(head.in_features()));
  return exact && (head.out_features() == 0 || head.weight_row(0, probe.data()));
}

EmbeddingTable EmbeddingTable::tied_to(Linear head, DType stored) {
  if (!can_tie(head, stored)) {
    throw Error(std::string("EmbeddingTable::tied_to: a ") + precision_name(head.precision()) +
                " head does not hold a " + dtype_name(stored) + " table's values");
  }
  EmbeddingTable table;
  table.rows_ = head.out_features();
  table.width_ = head.in_features();
  table.tied_ = std::move(head);
  table.is_tied_ = true;
  return table;
}

void EmbeddingTable::row(int64_t id, float* out) const {
  const auto width = static_cast<size_t>(width_);
  if (is_tied_) {
    tied_.weight_row(id, out);
    return;
  }
  if (dtype_ == DType::F32) {
    std::memcpy(out, f32_.data() + id * width_, sizeof(float) * width);
    return;
  }
  const uint16_t* source = half_.data() + static_cast<size_t>(id) * width;
  if (dtype_ == DType::BF16) {
    for (size_t i = 0; i < width; ++i) out[i] = bfloat16_to_float(source[i]);
  } else {
    for (size_t i = 0; i < width; ++i) out[i] = half_to_float(source[i]);
  }
}

size_t EmbeddingTable::bytes() const {
  if (is_tied_) return 0;
  return dtype_ == DType::F32 ? sizeof(float) * static_cast<size_t>(f32_.numel())
                              : sizeof(uint16_t) * half_.size();
}

TokenEmbedding load_token_embedding(const WeightStore& store, const std::string& name, int64_t rows,
                                    int64_t width, bool tied, Precision precision) {
  TokenEmbedding result;
  const DType stored = store.entry(name).dtype;
  if (stored == DType::BF16 && (!tied || precision != Precision::kF32)) {
    // A bf16 checkpoint's table is read as its bits: no f32 copy (Llama-3.1-8B's is 2.1 GB). A
    // bf16 head is the table; an int8 head is quantized from the same bits, which the table keeps.
    Bf16Weight bits{rows, width, store.load_bf16(name, {rows, width})};
    if (tied && precision == Precision::kInt8) {
      result.tied_head = Linear(quantize_int8(bits), Tensor(), Activation::kNone, false);
    } else if (tied) {
      result.tied_head = Linear(std::move(bits), Tensor(), Activation::kNone, false, precision);
      if (EmbeddingTable::can_tie(*result.tied_head, stored)) {
        result.table = EmbeddingTable::tied_to(*result.tied_head, stored);
        return result;
      }
      bits.values = store.load_bf16(name, {rows, width});  // the head's rows are not readable
    }
    result.table = EmbeddingTable(std::move(bits.values), rows, width);
    return result;
  }
  if (stored == DType::F16 && !tied) {
    result.table = EmbeddingTable(store.load_half_bits(name, {rows, width}), rows, width, DType::F16);
    return result;
  }
  Tensor table = store.load(name, {rows, width});
  if (tied) {
    result.tied_head = Linear(table, Tensor(), Activation::kNone, false, GemmPath::kAuto, precision);
    if (EmbeddingTable::can_tie(*result.tied_head, stored)) {
      result.table = EmbeddingTable::tied_to(*result.tied_head, stored);
      return result;
    }
  }
  result.table = EmbeddingTable(std::move(table), stored);
  return result;
}

}  // namespace latte
