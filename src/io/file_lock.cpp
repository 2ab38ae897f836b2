#include "latte/io/file_lock.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "latte/core/error.h"

namespace latte {

FileLock::FileLock(const std::filesystem::path& path) {
  descriptor_ = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (descriptor_ < 0) throw Error("cannot open " + path.string() + " to lock it: " + std::strerror(errno));
  while (::flock(descriptor_, LOCK_EX) != 0) {
    if (errno == EINTR) continue;
    const int error_number = errno;
    ::close(descriptor_);
    throw Error("cannot lock " + path.string() + ": " + std::strerror(error_number));
  }
}

FileLock::~FileLock() {
  // Closing the descriptor releases the flock.
  if (descriptor_ >= 0) ::close(descriptor_);
}

}  // namespace latte
