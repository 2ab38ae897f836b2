// An exclusive advisory lock (flock) held for a scope: read-modify-write of a shared file
// (latte.json, a per-machine cache) under it never loses another process's update.
#pragma once

#include <filesystem>

namespace latte {

// Opens the existing file or folder PATH read-only and blocks until the exclusive lock on it is
// held. Locking a model folder itself (its own descriptor) leaves no lock file behind, and no
// file is created or written, so a symlink at PATH cannot redirect a write. Only processes that
// take the same FileLock are serialised. Failures throw latte::Error naming PATH.
class FileLock {
 public:
  explicit FileLock(const std::filesystem::path& path);
  FileLock(const FileLock&) = delete;
  FileLock& operator=(const FileLock&) = delete;
  ~FileLock();

 private:
  int descriptor_ = -1;
};

}  // namespace latte
