// The latte executable's global operator new: blocks of a huge page or more (weights, packed
// panels, caches: std::vector storage) on transparent huge pages, the rest from malloc as before.
// Every block is freed with free(), so the default aligned forms of new and delete still pair.
// Measured (docs/benchmarks.md "Huge pages"): GPT-2 124M's decode step 8-9 % faster, the
// Llama-3.2-1B shape's dense prefill 8 %, a sixth to a third of the page faults. Only the
// executable replaces them: a program linking liblatte keeps its own, and so does a sanitizer
// build (AddressSanitizer's operator new pairs news with deletes).
#if !defined(__SANITIZE_ADDRESS__)
#include <cstdlib>
#include <new>

#include "latte/core/memory.h"

namespace {

void* allocate(std::size_t bytes) noexcept {
  const std::size_t page = latte::huge_page_bytes();
  if (page != 0 && bytes >= page) return latte::allocate_aligned(bytes, __STDCPP_DEFAULT_NEW_ALIGNMENT__);
  return std::malloc(bytes == 0 ? 1 : bytes);
}

void* allocate_or_throw(std::size_t bytes) {
  for (;;) {
    if (void* data = allocate(bytes)) return data;
    std::new_handler handler = std::get_new_handler();
    if (handler == nullptr) throw std::bad_alloc();
    handler();
  }
}

}  // namespace

void* operator new(std::size_t bytes) { return allocate_or_throw(bytes); }
void* operator new[](std::size_t bytes) { return allocate_or_throw(bytes); }
void* operator new(std::size_t bytes, const std::nothrow_t&) noexcept { return allocate(bytes); }
void* operator new[](std::size_t bytes, const std::nothrow_t&) noexcept { return allocate(bytes); }
void operator delete(void* data) noexcept { std::free(data); }
void operator delete[](void* data) noexcept { std::free(data); }
void operator delete(void* data, std::size_t) noexcept { std::free(data); }
void operator delete[](void* data, std::size_t) noexcept { std::free(data); }
void operator delete(void* data, const std::nothrow_t&) noexcept { std::free(data); }
void operator delete[](void* data, const std::nothrow_t&) noexcept { std::free(data); }

#endif  // !defined(__SANITIZE_ADDRESS__)
