#include "latte/core/threads.h"

#include <omp.h>

#include <cstdlib>
#include <string>
#include <thread>

#include "latte/core/error.h"

namespace latte {

int max_num_threads() {
  const unsigned cores = std::thread::hardware_concurrency();
  return 4 * (cores == 0 ? 1 : static_cast<int>(cores));
}

int resolve_num_threads(std::optional<int> requested) {
  const int limit = max_num_threads();
  const std::string range = "between 1 and " + std::to_string(limit) + " (4 per hardware thread)";
  if (requested) {
    if (*requested < 1 || *requested > limit) {
      throw InputError("thread count must be " + range + ", got " + std::to_string(*requested));
    }
    return *requested;
  }
  if (const char* env = std::getenv("LATTE_NUM_THREADS"); env != nullptr && *env != '\0') {
    char* end = nullptr;
    const long value = std::strtol(env, &end, 10);
    if (*end != '\0' || value < 1 || value > limit) {
      throw InputError("LATTE_NUM_THREADS must be an integer " + range + ", got '" + env + "'");
    }
    return static_cast<int>(value);
  }
  return limit / 4;
}

void set_num_threads(int count) { omp_set_num_threads(count); }

int num_threads() { return omp_get_max_threads(); }

namespace {

// Whether a parallel region would have more than one thread to give work to.
bool several_threads() { return omp_get_max_threads() > 1 && !omp_in_parallel(); }

}  // namespace

void parallel_ranges(int64_t count, const std::function<void(int64_t, int64_t)>& body, bool worthwhile) {
  if (count <= 0) return;
  if (!worthwhile || count == 1 || !several_threads()) {
    body(0, count);
    return;
  }
#pragma omp parallel
  {
    const int64_t threads = omp_get_num_threads();
    const int64_t thread = omp_get_thread_num();
    const int64_t begin = count * thread / threads;
    const int64_t end = count * (thread + 1) / threads;
    if (begin < end) body(begin, end);
  }
}

void parallel_tasks(int64_t count, const std::function<void(int64_t, int)>& task) {
  if (count <= 0) return;
  if (count == 1 || !several_threads()) {
    for (int64_t i = 0; i < count; ++i) task(i, 0);
    return;
  }
#pragma omp parallel for schedule(dynamic, 1)
  for (int64_t i = 0; i < count; ++i) task(i, omp_get_thread_num());
}

}  // namespace latte
