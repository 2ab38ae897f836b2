// Workspace for one forward pass: bump allocation from 64-byte aligned blocks.
// After the first pass at a given size the arena holds one block large enough
// for the whole pass, so later passes allocate nothing. A mark and rewind (or an
// ArenaScope) frees the scratch of one step of the pass, e.g. one layer's, so the
// pass needs the memory of its largest step, not of all steps together.
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

  // Where the next allocation goes. rewind(mark) frees everything allocated after `mark` was
  // taken (their memory is reused; tensors and pointers into it must not be used again) and
  // keeps what was allocated before. Marks rewind in reverse order of taking; a mark taken
  // before reset() must not be rewound to after it.
  struct Mark {
    size_t blocks = 0;  // blocks in use when taken (up to the current one)
    size_t used = 0;    // floats used in the current one
    size_t live = 0;
  };
  Mark mark() const;
  void rewind(const Mark& mark);
  size_t capacity_bytes() const;
  size_t block_count() const { return blocks_.size(); }

 private:
  struct Block {
    std::unique_ptr<float, void (*)(float*)> memory{nullptr, nullptr};
    size_t capacity = 0;  // in floats
    size_t used = 0;
  };
  std::vector<Block> blocks_;
  size_t current_ = 0;  // the block allocations go to; those after it are empty
  size_t peak_floats_ = 0;
  size_t live_floats_ = 0;
  static Block make_block(size_t floats);
};

// Frees, when it goes out of scope, everything allocated from `arena` during its life.
class ArenaScope {
 public:
  explicit ArenaScope(Arena& arena) : arena_(arena), mark_(arena.mark()) {}
  ~ArenaScope() { arena_.rewind(mark_); }
  ArenaScope(const ArenaScope&) = delete;
  ArenaScope& operator=(const ArenaScope&) = delete;

 private:
  Arena& arena_;
  Arena::Mark mark_;
};

}  // namespace latte
