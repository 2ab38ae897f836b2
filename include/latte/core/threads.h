// Thread count for every parallel kernel (OpenMP, shared with oneDNN).
#pragma once

#include <optional>

namespace latte {

// Picks the count: explicit value, else LATTE_NUM_THREADS, else all cores.
// Throws InputError for a value < 1 or a malformed environment variable.
int resolve_num_threads(std::optional<int> requested);
// Applies the count to OpenMP (and therefore oneDNN).
void set_num_threads(int count);
int num_threads();

}  // namespace latte
