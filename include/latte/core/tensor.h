// A float32 tensor: a shape plus a pointer to contiguous row-major data.
// It either owns its (64-byte aligned) storage or views memory owned elsewhere
// (an Arena, a memory-mapped file converted on load, another tensor).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace latte {

class Tensor {
 public:
  Tensor() = default;
  // Owning tensor, zero-initialised.
  explicit Tensor(std::vector<int64_t> shape);
  // Non-owning view of `data`, which must outlive the tensor.
  static Tensor view(float* data, std::vector<int64_t> shape);

  float* data() { return data_; }
  const float* data() const { return data_; }
  const std::vector<int64_t>& shape() const { return shape_; }
  int rank() const { return static_cast<int>(shape_.size()); }
  int64_t dim(int axis) const;
  int64_t numel() const;
  bool empty() const { return data_ == nullptr; }
  // "[2, 768]"
  std::string shape_str() const;
  // Same data, new shape with the same number of elements.
  Tensor reshaped(std::vector<int64_t> shape) const;

 private:
  std::vector<int64_t> shape_;
  std::shared_ptr<float> storage_;
  float* data_ = nullptr;
};

std::string shape_to_string(const std::vector<int64_t>& shape);
// [rows, cols] -> a new [cols, rows] tensor (a Conv1D [in, out] weight into Linear's [out, in]).
Tensor transposed(const Tensor& matrix);
int64_t shape_numel(const std::vector<int64_t>& shape);

}  // namespace latte
