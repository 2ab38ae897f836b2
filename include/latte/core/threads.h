// Thread count for every parallel kernel (OpenMP, shared with oneDNN).
#pragma once

#include <cstdint>
#include <functional>
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

// Splits [0, count) into contiguous ranges, one per OpenMP thread, and runs body(begin, end) for
// each. Runs body(0, count) on the calling thread instead where there is one thread, one item, or
// `worthwhile` is false (a small product): libgomp makes a system call at the end of every
// parallel region, even a region of one thread, and a pass of a small model opens dozens.
void parallel_ranges(int64_t count, const std::function<void(int64_t begin, int64_t end)>& body,
                     bool worthwhile = true);
// Runs task(i, worker) for each i in [0, count), handed to the OpenMP threads one at a time as each
// frees (tasks of uneven size); on the calling thread, in order, where there is one thread or one
// task. `worker` (below num_threads(); 0 on the calling thread) indexes per-thread scratch.
void parallel_tasks(int64_t count, const std::function<void(int64_t task, int worker)>& task);

}  // namespace latte
