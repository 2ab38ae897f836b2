// Shared by the libFuzzer harnesses: the parsers that take paths get the fuzzer's bytes through
// files in one scratch folder per process (mkdtemp: unpredictable, never shared).
#pragma once

#include <stdlib.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

namespace latte::fuzz {

class ScratchDir {
 public:
  ScratchDir() {
    const char* tmp = std::getenv("TMPDIR");
    std::string pattern = std::string(tmp != nullptr && *tmp != '\0' ? tmp : "/tmp") + "/latte-fuzz-XXXXXX";
    std::vector<char> name(pattern.begin(), pattern.end());
    name.push_back('\0');
    if (::mkdtemp(name.data()) == nullptr) {
      std::perror("latte fuzz: mkdtemp");
      std::abort();
    }
    path_ = name.data();
  }
  ~ScratchDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  const std::filesystem::path& path() const { return path_; }

  // Replaces the folder's files by `files` (name, bytes): no file of an earlier input remains.
  void reset(const std::vector<std::pair<std::string, std::string_view>>& files) const {
    for (const auto& entry : std::filesystem::directory_iterator(path_))
      std::filesystem::remove(entry.path());
    for (const auto& [name, bytes] : files) {
      // Plain writes, not AtomicFileWriter: its fsync would cost more than the parse under test.
      std::ofstream file(path_ / name, std::ios::binary | std::ios::trunc);
      file.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    }
  }

 private:
  std::filesystem::path path_;
};

// One scratch folder per process, removed at exit.
inline const ScratchDir& scratch() {
  static const ScratchDir dir;
  return dir;
}

// Splits the input at its first NUL byte: (before, after); after is empty when there is none.
inline std::pair<std::string_view, std::string_view> split_at_nul(std::string_view bytes) {
  const size_t at = bytes.find('\0');
  if (at == std::string_view::npos) return {bytes, {}};
  return {bytes.substr(0, at), bytes.substr(at + 1)};
}

inline std::string_view as_view(const uint8_t* data, size_t size) {
  return {reinterpret_cast<const char*>(data), size};
}

}  // namespace latte::fuzz
