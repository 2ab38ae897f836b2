// An exclusive advisory lock (flock) held for a scope: read-modify-write of a shared file
// (latte.json, a per-machine cache) under it never loses another process's update.
#pragma once

#include <filesystem>

namespace latte {

// Opens (creating, mode 0644) the lock file PATH with O_NOFOLLOW, so a symlink planted there
// is refused rather than followed, and blocks until the exclusive lock is held. The lock file
// stays in place afterwards: deleting it would let two processes lock different files. Only
// processes that take the same FileLock are serialised. Failures throw latte::Error naming PATH.
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
