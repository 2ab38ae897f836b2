#include "latte/models/embedding_table.h"

#include <cstring>

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

void EmbeddingTable::row(int64_t id, float* out) const {
  const auto width = static_cast<size_t>(width_);
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
  return dtype_ == DType::F32 ? sizeof(float) * static_cast<size_t>(f32_.numel())
                              : sizeof(uint16_t) * half_.size();
}

}  // namespace latte
