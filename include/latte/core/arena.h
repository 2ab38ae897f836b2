// Workspace for one forward pass: bump allocation from 64-byte aligned blocks.
// After the first pass at a given size the arena holds one block large enough
// for the whole pass, so later passes allocate nothing.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "latte/core/tensor.h"

namespace latte {

class Arena {
 public:
  Arena() = default;
  Arena(const Arena&) = delete;
  Arena& operator=(const Arena&) = delete;
  Arena(Arena&&) = default;
  Arena& operator=(Arena&&) = default;

  // A tensor of `shape` whose memory lives until reset(); contents undefined.
  Tensor tensor(std::vector<int64_t> shape);
  float* allocate(size_t count);
  // Frees all allocations at once; merges blocks so the next pass fits in one.
  void reset();
  size_t capacity_bytes() const;
  size_t block_count() const { return blocks_.size(); }

 private:
  struct Block {
    std::unique_ptr<float, void (*)(float*)> memory{nullptr, nullptr};
    size_t capacity = 0;  // in floats
    size_t used = 0;
  };
  std::vector<Block> blocks_;
  size_t peak_floats_ = 0;
  size_t live_floats_ = 0;
  static Block make_block(size_t floats);
};

}  // namespace latte
