#include "latte/core/arena.h"

#include <algorithm>
#include <cstdlib>
#include <new>

#include "latte/core/memory.h"

namespace latte {

namespace {
constexpr size_t kAlignFloats = 16;  // 64 bytes
constexpr size_t kMinBlockFloats = size_t{1} << 16;
size_t round_up(size_t count) { return (count + kAlignFloats - 1) / kAlignFloats * kAlignFloats; }
}  // namespace

Arena::Block Arena::make_block(size_t floats) {
  Block block;
  void* memory = allocate_aligned(floats * sizeof(float), 64);
  if (memory == nullptr) throw std::bad_alloc();
  block.memory =
      std::unique_ptr<float, void (*)(float*)>(static_cast<float*>(memory), [](float* p) { std::free(p); });
  block.capacity = floats;
  return block;
}

float* Arena::allocate(size_t count) {
  const size_t floats = round_up(std::max<size_t>(count, 1));
  if (blocks_.empty()) {
    blocks_.push_back(make_block(std::max(floats, kMinBlockFloats)));
    current_ = 0;
  }
  // Blocks after the current one are empty (rewind emptied them): the next that fits is used,
  // one too small is replaced. Appending instead would add a block per layer whenever a scope
  // rewinds into a block ahead of a small allocation (a decoder's FFN scratch after its norm).
  while (blocks_[current_].capacity - blocks_[current_].used < floats) {
    const size_t next = current_ + 1;
    if (next == blocks_.size()) {
      blocks_.push_back(make_block(std::max(floats, kMinBlockFloats)));
    } else if (blocks_[next].capacity < floats) {
      blocks_[next] = make_block(std::max(floats, kMinBlockFloats));
    }
    current_ = next;
  }
  Block& block = blocks_[current_];
  float* result = block.memory.get() + block.used;
  block.used += floats;
  live_floats_ += floats;
  peak_floats_ = std::max(peak_floats_, live_floats_);
  return result;
}

Tensor Arena::tensor(std::vector<int64_t> shape) {
  float* data = allocate(static_cast<size_t>(shape_numel(shape)));
  return Tensor::view(data, std::move(shape));
}

void Arena::reset() {
  if (blocks_.size() > 1) {
    blocks_.clear();
    blocks_.push_back(make_block(peak_floats_));
  }
  for (Block& block : blocks_) block.used = 0;
  current_ = 0;
  live_floats_ = 0;
}

Arena::Mark Arena::mark() const {
  if (blocks_.empty()) return {0, 0, live_floats_};
  return {current_ + 1, blocks_[current_].used, live_floats_};
}

void Arena::rewind(const Mark& mark) {
  // Blocks after the mark's stay allocated, empty: the rest of the pass reuses them, and
  // reset() merges them into one.
  for (size_t index = mark.blocks; index < blocks_.size(); ++index) blocks_[index].used = 0;
  if (mark.blocks > 0) blocks_[mark.blocks - 1].used = mark.used;
  current_ = mark.blocks > 0 ? mark.blocks - 1 : 0;
  live_floats_ = mark.live;
}

size_t Arena::capacity_bytes() const {
  size_t total = 0;
  for (const Block& block : blocks_) total += block.capacity * sizeof(float);
  return total;
}

}  // namespace latte
