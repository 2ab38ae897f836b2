// Command-line helpers the benchmarks share.
#pragma once

#include <cstdint>
#include <cstdlib>
#include <vector>

namespace latte::bench {

// "1,2,4" -> {1, 2, 4}; stops at the first entry that is not a number.
inline std::vector<int64_t> parse_rows(const char* text) {
  std::vector<int64_t> rows;
  for (const char* p = text; *p != '\0';) {
    char* end = nullptr;
    rows.push_back(std::strtoll(p, &end, 10));
    if (end == p) {
      rows.pop_back();
      break;
    }
    p = *end == ',' ? end + 1 : end;
  }
  return rows;
}

}  // namespace latte::bench
