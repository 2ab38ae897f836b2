// Latency tables cached per machine, outside any model folder: a model copied to another
// machine never silently uses a foreign table. One JSON file per key under
// $XDG_CACHE_HOME/latte/latency (fallback ~/.cache/latte/latency), named by the key's hash and
// holding the full key, which is compared on every read.
#pragma once

#include <cstdint>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "latte/core/cpu.h"
#include "latte/prune/latency_table.h"

namespace latte {

// Bumped whenever what a table means or how it is measured changes.
inline constexpr int kLatencyFormatVersion = 2;

// Everything a measured latency depends on.
struct LatencyKey {
  CpuInfo cpu;
  int threads = 0;
  std::string family;  // "bert"
  int64_t layers = 0, hidden = 0, heads = 0, ffn = 0, max_positions = 0;
  std::string activation;
  // What an encoder's shape adds (T5's): the head width when num_heads x head_dim is not the
  // hidden size, the relative position bias, a gated FFN, and the decoder layers whose memory
  // its pass projects. Written into the key only when set, so the keys of other models are
  // those they always were.
  int64_t head_dim = 0;
  bool relative_bias = false;
  bool gated_ffn = false;
  int64_t memory_layers = 0;
  std::string compute_dtype;  // what the kernels run in ("f32"), not the dtype on disk
  std::string latte_version;
  int format_version = kLatencyFormatVersion;

  nlohmann::json to_json() const;
  // 16 hex digits (FNV-1a 64 of the key's canonical JSON): stable across runs and builds.
  std::string hash() const;
};

// $XDG_CACHE_HOME/latte/latency, else $HOME/.cache/latte/latency; nullopt without either.
std::optional<std::filesystem::path> default_latency_cache_dir();

class LatencyCache {
 public:
  explicit LatencyCache(std::filesystem::path folder) : folder_(std::move(folder)) {}
  const std::filesystem::path& folder() const { return folder_; }
  std::filesystem::path path_for(const LatencyKey& key) const;

  // The cached table for `key`; nullopt when there is none, or (with a one-line notice) when the
  // file is unreadable, corrupt, truncated, from another version or for another key.
  std::optional<LatencyTable> load(const LatencyKey& key, std::ostream* notices) const;
  // Atomic (unique temporary file + rename, last writer wins). False, with a one-line notice,
  // when the folder cannot be created or written: the caller keeps the table in memory.
  bool store(const LatencyKey& key, const LatencyTable& table, std::ostream* notices) const;

 private:
  std::filesystem::path folder_;
};

}  // namespace latte
