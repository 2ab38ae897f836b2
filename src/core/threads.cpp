#include "latte/core/threads.h"

#include <omp.h>

#include <cstdlib>
#include <string>
#include <thread>

#include "latte/core/error.h"

namespace latte {

int resolve_num_threads(std::optional<int> requested) {
  if (requested) {
    if (*requested < 1) throw InputError("--threads must be at least 1, got " + std::to_string(*requested));
    return *requested;
  }
  if (const char* env = std::getenv("LATTE_NUM_THREADS"); env != nullptr && *env != '\0') {
    char* end = nullptr;
    const long value = std::strtol(env, &end, 10);
    if (*end != '\0' || value < 1 || value > 4096) {
      throw InputError(std::string("LATTE_NUM_THREADS must be a positive integer, got '") + env + "'");
    }
    return static_cast<int>(value);
  }
  const unsigned cores = std::thread::hardware_concurrency();
  return cores == 0 ? 1 : static_cast<int>(cores);
}

void set_num_threads(int count) { omp_set_num_threads(count); }

int num_threads() { return omp_get_max_threads(); }

}  // namespace latte
