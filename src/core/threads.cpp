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

}  // namespace latte
