#include "latte/core/compact.h"

#include <cstring>

namespace latte {

void compact_rows(float* data, int64_t row_width, std::span<const int64_t> kept) {
  for (size_t target = 0; target < kept.size(); ++target) {
    const int64_t source = kept[target];
    if (source == static_cast<int64_t>(target)) continue;
    std::memcpy(data + static_cast<int64_t>(target) * row_width, data + source * row_width,
                sizeof(float) * static_cast<size_t>(row_width));
  }
}

}  // namespace latte
