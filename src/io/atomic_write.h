// Private to src/io: writes a file so that readers see either the old file or the complete new
// one, never a prefix (a crash mid-save must not leave a truncated checkpoint or config).
#pragma once

#include <cstddef>
#include <filesystem>
#include <string>

namespace latte::io_detail {

// Writes to PATH.tmp; commit() flushes it to disk and renames it over PATH. Destroying an
// uncommitted writer removes PATH.tmp. Failures throw latte::Error naming the path.
class AtomicFileWriter {
 public:
  explicit AtomicFileWriter(std::filesystem::path path);
  AtomicFileWriter(const AtomicFileWriter&) = delete;
  AtomicFileWriter& operator=(const AtomicFileWriter&) = delete;
  ~AtomicFileWriter();

  void write(const void* bytes, size_t count);
  void write(const std::string& text) { write(text.data(), text.size()); }
  void commit();

 private:
  [[noreturn]] void fail(const std::string& what);

  std::filesystem::path path_;
  std::filesystem::path temporary_path_;
  int descriptor_ = -1;
  bool committed_ = false;
};

}  // namespace latte::io_detail
