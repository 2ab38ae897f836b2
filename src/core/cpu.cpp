#include "latte/core/cpu.h"

#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <iterator>
#include <sstream>

namespace latte {

namespace {

// Flags (as /proc/cpuinfo spells them) that select different GEMM and attention kernels.
const char* const kTimingFlags[] = {"avx",         "avx2",     "fma",      "f16c",        "avx512f",
                                    "avx512bw",    "avx512vl", "avx512dq", "avx512_vnni", "avx512_bf16",
                                    "avx512_fp16", "avx_vnni", "amx_tile", "amx_bf16",    "amx_int8"};

std::string trim(const std::string& text) {
  const size_t first = text.find_first_not_of(" \t");
  if (first == std::string::npos) return "";
  const size_t last = text.find_last_not_of(" \t\r");
  return text.substr(first, last - first + 1);
}

}  // namespace

CpuInfo read_cpu_info(const std::filesystem::path& cpuinfo) {
  CpuInfo info{"unknown", {}};
  std::ifstream file(cpuinfo);
  std::string line;
  bool have_model = false, have_flags = false;
  while ((!have_model || !have_flags) && std::getline(file, line)) {
    const size_t colon = line.find(':');
    if (colon == std::string::npos) continue;
    const std::string key = trim(line.substr(0, colon));
    const std::string value = trim(line.substr(colon + 1));
    if (key == "model name" && !have_model) {
      info.model = value.empty() ? "unknown" : value;
      have_model = true;
    } else if (key == "flags" && !have_flags) {
      std::istringstream words(value);
      std::vector<std::string> flags{std::istream_iterator<std::string>(words), {}};
      for (const char* wanted : kTimingFlags) {
        if (std::find(flags.begin(), flags.end(), wanted) != flags.end()) info.isa.emplace_back(wanted);
      }
      have_flags = true;
    }
  }
  return info;
}

int online_cores() {
  const long cores = ::sysconf(_SC_NPROCESSORS_ONLN);
  return cores > 0 ? static_cast<int>(cores) : 1;
}

std::optional<double> load_average(const std::filesystem::path& loadavg) {
  std::ifstream file(loadavg);
  double one_minute = 0.0;
  if (!(file >> one_minute)) return std::nullopt;
  return one_minute;
}

}  // namespace latte
