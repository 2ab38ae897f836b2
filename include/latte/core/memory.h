// Aligned blocks, the large ones on transparent huge pages. Weights and activations are streamed
// in full by every pass: on 4 KiB pages each 4 KiB of them costs a TLB miss, and each fresh block a
// page fault per 4 KiB (a quarter of a training step here; docs/benchmarks.md, docs/training.md).
#pragma once

#include <cstddef>

namespace latte {

// The kernel's transparent huge page size in bytes, 0 where they are off ("never") or absent.
size_t huge_page_bytes();

// `bytes` (0 gives a valid, freeable block) aligned to `alignment` (a power of two, at least
// sizeof(void*)); a block of a huge page or more starts on a huge page and is advised
// MADV_HUGEPAGE. Freed with std::free. nullptr when out of memory.
void* allocate_aligned(size_t bytes, size_t alignment);

}  // namespace latte
