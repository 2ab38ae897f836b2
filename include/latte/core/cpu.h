// What the machine is, as far as timings go: the CPU model, the ISA extensions the kernels
// use, the core count and how busy the machine is.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace latte {

struct CpuInfo {
  std::string model;             // "AMD EPYC 9R14 96-Core Processor"; "unknown" when not found
  std::vector<std::string> isa;  // the extensions that change kernel speed, in a fixed order
};

// Parses a /proc/cpuinfo-format file (the first processor's "model name" and "flags").
// An unreadable file gives {"unknown", {}}.
CpuInfo read_cpu_info(const std::filesystem::path& cpuinfo = "/proc/cpuinfo");

// Online cores (at least 1).
int online_cores();

// The 1-minute load average of a /proc/loadavg-format file; nullopt when unreadable.
std::optional<double> load_average(const std::filesystem::path& loadavg = "/proc/loadavg");

// Bytes per second that all threads read from memory: a streaming sum over a buffer of
// `buffer_bytes` (far larger than the last-level cache by default, so it measures DRAM), the
// best of `repeats` passes after one that faults the pages in. The ceiling a memory-bound
// decode step is compared with. InputError for a buffer under 1 MiB or repeats below 1.
double measure_memory_bandwidth(size_t buffer_bytes = size_t{512} << 20, int repeats = 5);

// This process's resident memory, from a /proc/self/status-format file: VmRSS now and VmHWM,
// the peak since it started. nullopt when unreadable.
struct ResidentMemory {
  uint64_t current_bytes = 0;
  uint64_t peak_bytes = 0;
};
std::optional<ResidentMemory> resident_memory(const std::filesystem::path& status = "/proc/self/status");
// Starts VmHWM again from VmRSS (Linux 4.0+: "5" to /proc/self/clear_refs), so a later peak
// is one phase's; false when the kernel refuses.
bool reset_peak_resident_memory();

}  // namespace latte
