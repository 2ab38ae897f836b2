#include "latte/models/memory_check.h"

#include <malloc.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>

#include "latte/core/error.h"

namespace latte {

namespace {

Precision effective(Precision precision) {
  return precision_unavailable_reason(precision).empty() ? precision : Precision::kF32;
}

uint64_t value_bytes(const TensorEntry& entry, Precision precision) {
  if (entry.shape.size() < 2) return 4;  // norms, biases, scales: f32
  if (entry.dtype == DType::I8) return precision == Precision::kInt8 ? 1 : 4;
  const bool stored_16 = entry.dtype == DType::F16 || entry.dtype == DType::BF16;
  switch (precision) {
    case Precision::kInt8:
      return 1;
    case Precision::kBf16:
      return 2;
    case Precision::kF32:
      return stored_16 ? 2 : 4;  // lower bound: a 16-bit embedding table stays 16-bit
  }
  return 4;
}

// A whole non-negative decimal, or nullopt ("max" in memory.max, garbage).
std::optional<uint64_t> parse_bytes(const std::string& text) {
  if (text.empty() || text.find_first_not_of("0123456789") != std::string::npos || text.size() > 19)
    return std::nullopt;
  return std::stoull(text);
}

std::optional<uint64_t> read_number_file(const char* path) {
  std::ifstream file(path);
  std::string text;
  if (!(file >> text)) return std::nullopt;
  return parse_bytes(text);
}

std::string gigabytes(uint64_t bytes) {
  const auto value = static_cast<double>(bytes);
  char text[32];
  if (value >= 1e9) {
    std::snprintf(text, sizeof text, "%.1f GB", value / 1e9);
  } else if (value >= 1e6) {
    std::snprintf(text, sizeof text, "%.1f MB", value / 1e6);
  } else {
    std::snprintf(text, sizeof text, "%.0f kB", value / 1e3);
  }
  return text;
}

}  // namespace

uint64_t weight_bytes_in_memory(const WeightStore& store, Precision precision) {
  precision = effective(precision);
  uint64_t bytes = 0;
  for (const std::string& name : store.names()) {
    const TensorEntry& entry = store.entry(name);
    uint64_t values = 1;
    for (const int64_t dim : entry.shape) values *= static_cast<uint64_t>(dim);
    bytes += values * value_bytes(entry, precision);
  }
  return bytes;
}

std::optional<uint64_t> available_memory() {
  if (const char* forced = std::getenv("LATTE_MEMORY_AVAILABLE"); forced != nullptr && *forced != '\0') {
    const std::optional<uint64_t> bytes = parse_bytes(forced);
    if (!bytes) {
      throw InputError(std::string("LATTE_MEMORY_AVAILABLE must be a whole number of bytes, got '") + forced +
                       "'");
    }
    return bytes;
  }
  std::optional<uint64_t> available;
  std::ifstream meminfo("/proc/meminfo");
  std::string line;
  while (std::getline(meminfo, line)) {
    std::istringstream fields(line);
    std::string key, unit;
    uint64_t kilobytes = 0;
    if (fields >> key >> kilobytes >> unit && key == "MemAvailable:" && unit == "kB") {
      available = kilobytes * 1024;
      break;
    }
  }
  const std::optional<uint64_t> limit = read_number_file("/sys/fs/cgroup/memory.max");
  const std::optional<uint64_t> used = read_number_file("/sys/fs/cgroup/memory.current");
  if (limit && used) {
    const uint64_t left = *limit > *used ? *limit - *used : 0;
    available = available ? std::min(*available, left) : left;
  }
  return available;
}

void require_memory_for(const WeightStore& store, Precision precision) {
  const std::optional<uint64_t> available = available_memory();
  if (!available) return;
  const uint64_t needed = weight_bytes_in_memory(store, precision);
  if (needed <= *available) return;
  std::string message = store.directory().string() + ": the weights need " + gigabytes(needed) + " in " +
                        precision_name(effective(precision)) + " but " + gigabytes(*available) +
                        " of memory is available";
  const uint64_t int8 = weight_bytes_in_memory(store, Precision::kInt8);
  if (effective(precision) != Precision::kInt8 && int8 <= *available) {
    message += "; --dtype int8 needs " + gigabytes(int8);
  }
  throw InputError(message);
}

void configure_allocator() {
#ifdef __GLIBC__
  ::mallopt(M_MMAP_THRESHOLD, 64 << 20);
  ::mallopt(M_TRIM_THRESHOLD, 256 << 20);
#endif
}

void return_free_memory() {
#ifdef __GLIBC__
  ::malloc_trim(0);
#endif
}

}  // namespace latte
