#include "latte/core/cpu.h"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <fstream>
#include <iterator>
#include <memory>
#include <sstream>
#include <string>

#include "latte/core/error.h"

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

double measure_memory_bandwidth(size_t buffer_bytes, int repeats) {
  if (buffer_bytes < (size_t{1} << 20)) {
    throw InputError("memory bandwidth needs a buffer of at least 1 MiB, got " +
                     std::to_string(buffer_bytes) + " bytes");
  }
  if (repeats < 1)
    throw InputError("memory bandwidth needs at least 1 repeat, got " + std::to_string(repeats));
  const auto count = static_cast<int64_t>(buffer_bytes / sizeof(float));
  const std::unique_ptr<float[]> buffer(new float[static_cast<size_t>(count)]);
  float* data = buffer.get();
  // Each thread touches the pages it reads later: first touch places them near it.
#pragma omp parallel for schedule(static)
  for (int64_t i = 0; i < count; ++i) data[i] = static_cast<float>(i & 7);
  double best = 0.0;
  float sink = 0.0f;
  for (int pass = 0; pass <= repeats; ++pass) {  // pass 0 warms up
    const auto start = std::chrono::steady_clock::now();
    float total = 0.0f;
#pragma omp parallel for simd schedule(static) reduction(+ : total)
    for (int64_t i = 0; i < count; ++i) total += data[i];
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    sink += total;
    if (pass > 0 && seconds > 0.0)
      best = std::max(best, static_cast<double>(count) * sizeof(float) / seconds);
  }
  // The sums are used, so the reads cannot be optimised away.
  volatile float keep = sink;
  (void)keep;
  return best;
}

std::optional<ResidentMemory> resident_memory(const std::filesystem::path& status) {
  std::ifstream file(status);
  std::string line;
  std::optional<uint64_t> current, peak;
  while (std::getline(file, line)) {
    std::istringstream fields(line);
    std::string key, unit;
    uint64_t kilobytes = 0;
    if (!(fields >> key >> kilobytes >> unit) || unit != "kB") continue;
    if (key == "VmRSS:") current = kilobytes * 1024;
    if (key == "VmHWM:") peak = kilobytes * 1024;
  }
  if (!current || !peak) return std::nullopt;
  return ResidentMemory{*current, *peak};
}

bool reset_peak_resident_memory() {
  std::ofstream clear_refs("/proc/self/clear_refs");
  clear_refs << "5";
  clear_refs.flush();
  return static_cast<bool>(clear_refs);
}

}  // namespace latte
