#include "latte/prune/latency_cache.h"

#include <cstdio>
#include <cstdlib>

#include "latte/core/error.h"
#include "latte/io/json_file.h"

namespace latte {

namespace {

constexpr const char* kFormatName = "latte-latency-table";

}  // namespace

nlohmann::json LatencyKey::to_json() const {
  nlohmann::json json = {{"cpu_model", cpu.model},
                         {"isa", cpu.isa},
                         {"threads", threads},
                         {"family", family},
                         {"layers", layers},
                         {"hidden", hidden},
                         {"heads", heads},
                         {"ffn", ffn},
                         {"max_positions", max_positions},
                         {"activation", activation},
                         {"compute_dtype", compute_dtype},
                         {"latte_version", latte_version},
                         {"format_version", format_version}};
  if (head_dim != 0) json["head_dim"] = head_dim;
  if (relative_bias) json["relative_bias"] = true;
  if (gated_ffn) json["gated_ffn"] = true;
  if (memory_layers != 0) json["memory_layers"] = memory_layers;
  return json;
}

std::string LatencyKey::hash() const {
  // nlohmann's object keys are sorted, so dump() is canonical.
  const std::string text = to_json().dump();
  uint64_t hash = 14695981039346656037ull;
  for (const unsigned char byte : text) {
    hash ^= byte;
    hash *= 1099511628211ull;
  }
  char hex[17];
  std::snprintf(hex, sizeof(hex), "%016llx", static_cast<unsigned long long>(hash));
  return hex;
}

std::optional<std::filesystem::path> default_latency_cache_dir() {
  // XDG: a relative XDG_CACHE_HOME is invalid and must be ignored.
  if (const char* xdg = std::getenv("XDG_CACHE_HOME"); xdg != nullptr && xdg[0] == '/') {
    return std::filesystem::path(xdg) / "latte" / "latency";
  }
  if (const char* home = std::getenv("HOME"); home != nullptr && home[0] != '\0') {
    return std::filesystem::path(home) / ".cache" / "latte" / "latency";
  }
  return std::nullopt;
}

std::filesystem::path LatencyCache::path_for(const LatencyKey& key) const {
  return folder_ / (key.hash() + ".json");
}

std::optional<LatencyTable> LatencyCache::load(const LatencyKey& key, std::ostream* notices) const {
  const std::filesystem::path path = path_for(key);
  std::error_code error;
  if (!std::filesystem::exists(std::filesystem::symlink_status(path, error))) return std::nullopt;
  const std::string label = path.string();
  try {
    const nlohmann::json json = read_json_file(path);
    if (!json.is_object() || json.value("format", "") != kFormatName) {
      throw FormatError(label + ": not a latte latency table");
    }
    if (!json.contains("format_version") || json["format_version"] != kLatencyFormatVersion) {
      throw FormatError(label + ": written by another latte version (format " +
                        (json.contains("format_version") ? json["format_version"].dump() : "unknown") +
                        ", this one reads " + std::to_string(kLatencyFormatVersion) + ")");
    }
    if (!json.contains("key") || json["key"] != key.to_json()) {
      throw FormatError(label + ": measured for another machine, thread count or model shape");
    }
    if (!json.contains("table")) throw FormatError(label + ": field 'table' is missing");
    return LatencyTable::from_json(json["table"], label);
  } catch (const std::exception& failure) {  // latte and nlohmann errors alike: never trust the file
    if (notices) {
      *notices << "latte: notice: ignoring the cached latency table (" << failure.what()
               << "); profiling again\n";
    }
  }
  return std::nullopt;
}

bool LatencyCache::store(const LatencyKey& key, const LatencyTable& table, std::ostream* notices) const {
  const std::filesystem::path path = path_for(key);
  try {
    std::error_code error;
    std::filesystem::create_directories(folder_, error);
    if (error) throw Error("cannot create " + folder_.string() + ": " + error.message());
    const nlohmann::json json = {{"format", kFormatName},
                                 {"format_version", kLatencyFormatVersion},
                                 {"key", key.to_json()},
                                 {"table", table.to_json()}};
    write_json_file_atomic(path, json);
    return true;
  } catch (const std::exception& failure) {
    if (notices) {
      *notices << "latte: notice: cannot cache the latency table (" << failure.what()
               << "); using it for this run only\n";
    }
  }
  return false;
}

}  // namespace latte
