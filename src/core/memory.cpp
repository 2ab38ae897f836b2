#include "latte/core/memory.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>

namespace latte {

namespace {

// Up to `capacity - 1` bytes of a small file, NUL-terminated; false when it cannot be read. Plain
// system calls: this runs inside operator new (src/cli/huge_page_new.cpp), which must not allocate.
bool read_small_file(const char* path, char* text, size_t capacity) {
  const int descriptor = ::open(path, O_RDONLY | O_CLOEXEC);
  if (descriptor < 0) return false;
  const ssize_t count = ::read(descriptor, text, capacity - 1);
  ::close(descriptor);
  if (count <= 0) return false;
  text[count] = '\0';
  return true;
}

size_t read_huge_page_bytes() {
  char text[128];
  if (!read_small_file("/sys/kernel/mm/transparent_hugepage/enabled", text, sizeof text)) return 0;
  if (std::strstr(text, "[never]") != nullptr || std::strchr(text, '[') == nullptr) return 0;
  if (!read_small_file("/sys/kernel/mm/transparent_hugepage/hpage_pmd_size", text, sizeof text)) return 0;
  char* end = nullptr;
  const unsigned long long size = std::strtoull(text, &end, 10);
  if (end == text || size < 4096 || (size & (size - 1)) != 0) return 0;
  return static_cast<size_t>(size);
}

constexpr size_t kSmallPage = 4096;

size_t round_up(size_t bytes, size_t multiple) { return (bytes + multiple - 1) / multiple * multiple; }

}  // namespace

size_t huge_page_bytes() {
  static const size_t bytes = read_huge_page_bytes();
  return bytes;
}

void* allocate_aligned(size_t bytes, size_t alignment) {
  const size_t page = huge_page_bytes();
  if (page != 0 && bytes >= page) {
    // Not rounded up to whole huge pages: the tail's pages stay small (or share a huge page with
    // the next large block), where a 2.4 MB matrix rounded to 4 MB would hold two huge pages.
    void* data = nullptr;
    if (::posix_memalign(&data, page, bytes) != 0) return nullptr;
    ::madvise(data, round_up(bytes, kSmallPage), MADV_HUGEPAGE);  // advice: a refusal keeps small pages
    return data;
  }
  const size_t rounded = round_up(bytes == 0 ? 1 : bytes, alignment);
  if (rounded < bytes) return nullptr;
  return std::aligned_alloc(alignment, rounded);
}

}  // namespace latte
