#include "latte/core/tensor.h"

#include <cstdlib>
#include <cstring>
#include <new>

#include "latte/core/error.h"
#include "latte/core/memory.h"

namespace latte {

int64_t shape_numel(const std::vector<int64_t>& shape) {
  int64_t count = 1;
  for (int64_t extent : shape) count *= extent;
  return count;
}

std::string shape_to_string(const std::vector<int64_t>& shape) {
  std::string text = "[";
  for (size_t i = 0; i < shape.size(); ++i) {
    if (i) text += ", ";
    text += std::to_string(shape[i]);
  }
  return text + "]";
}

Tensor::Tensor(std::vector<int64_t> shape) : shape_(std::move(shape)) {
  for (int64_t extent : shape_) {
    if (extent < 0) throw InputError("tensor shape " + shape_to_string(shape_) + " has a negative extent");
  }
  const size_t bytes = static_cast<size_t>(shape_numel(shape_)) * sizeof(float);
  const size_t rounded = (bytes + 63) / 64 * 64;  // whole 64-byte vectors, zeroed to the end
  void* memory = allocate_aligned(rounded == 0 ? 64 : rounded, 64);
  if (memory == nullptr) throw std::bad_alloc();
  std::memset(memory, 0, rounded == 0 ? 64 : rounded);
  storage_ = std::shared_ptr<float>(static_cast<float*>(memory), [](float* p) { std::free(p); });
  data_ = storage_.get();
}

Tensor Tensor::view(float* data, std::vector<int64_t> shape) {
  Tensor tensor;
  tensor.shape_ = std::move(shape);
  tensor.data_ = data;
  return tensor;
}

int64_t Tensor::dim(int axis) const {
  if (axis < 0) axis += rank();
  if (axis < 0 || axis >= rank()) {
    throw InputError("axis " + std::to_string(axis) + " out of range for tensor of shape " + shape_str());
  }
  return shape_[static_cast<size_t>(axis)];
}

int64_t Tensor::numel() const { return shape_numel(shape_); }

std::string Tensor::shape_str() const { return shape_to_string(shape_); }

Tensor Tensor::reshaped(std::vector<int64_t> shape) const {
  if (shape_numel(shape) != numel()) {
    throw InputError("cannot reshape " + shape_str() + " to " + shape_to_string(shape));
  }
  Tensor result = *this;
  result.shape_ = std::move(shape);
  return result;
}

Tensor transposed(const Tensor& matrix) {
  if (matrix.rank() != 2) throw InputError("cannot transpose a tensor of shape " + matrix.shape_str());
  const int64_t rows = matrix.dim(0);
  const int64_t cols = matrix.dim(1);
  Tensor result({cols, rows});
  const float* source = matrix.data();
  float* target = result.data();
  for (int64_t row = 0; row < rows; ++row) {
    for (int64_t col = 0; col < cols; ++col) target[col * rows + row] = source[row * cols + col];
  }
  return result;
}

}  // namespace latte
