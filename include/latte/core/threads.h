// Thread count for every parallel kernel (OpenMP, shared with oneDNN).
#pragma once

#include <optional>

namespace latte {

// The most threads latte accepts: 4 per hardware thread. More only adds contention, and huge
// counts (100,000) crash the OpenMP and oneDNN runtimes instead of failing cleanly.
int max_num_threads();
// Picks the count: explicit value, else LATTE_NUM_THREADS, else all cores. Throws InputError for a
// count outside 1..max_num_threads() or a malformed environment variable.
int resolve_num_threads(std::optional<int> requested);
// Applies the count to OpenMP (and therefore oneDNN).
void set_num_threads(int count);
int num_threads();

}  // namespace latte
