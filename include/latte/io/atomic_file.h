// Every file latte writes goes through here, so that readers see either the old file or the
// complete new one, never a prefix (a crash mid-save must not leave a truncated checkpoint),
// and so that a symlink planted in the destination folder is never followed.
#pragma once

#include <cstddef>
#include <filesystem>
#include <string>
#include <string_view>

namespace latte {

// Writes to a fresh temporary file `.NAME.XXXXXX` beside PATH, created with O_EXCL (so neither
// a planted symlink nor another writer's temporary is ever opened); commit() fsyncs it, renames
// it over PATH (replacing a symlink at PATH itself, not its target) and fsyncs the folder.
// Destroying an uncommitted writer removes the temporary. Failures throw latte::Error naming
// PATH. The new file has mode 0644.
class AtomicFileWriter {
 public:
  explicit AtomicFileWriter(std::filesystem::path path);
  AtomicFileWriter(const AtomicFileWriter&) = delete;
  AtomicFileWriter& operator=(const AtomicFileWriter&) = delete;
  ~AtomicFileWriter();

  void write(const void* bytes, size_t count);
  void write(std::string_view text) { write(text.data(), text.size()); }
  void commit();

 private:
  [[noreturn]] void fail(const std::string& what);

  std::filesystem::path path_;
  std::filesystem::path temporary_path_;
  int descriptor_ = -1;
  bool committed_ = false;
};

// The whole file in one call, through AtomicFileWriter.
void write_file_atomic(const std::filesystem::path& path, std::string_view contents);

}  // namespace latte
