#include "atomic_write.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "latte/core/error.h"

namespace latte::io_detail {

AtomicFileWriter::AtomicFileWriter(std::filesystem::path path)
    : path_(std::move(path)), temporary_path_(path_.string() + ".tmp") {
  descriptor_ = ::open(temporary_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (descriptor_ < 0) {
    throw Error("cannot write " + path_.string() + ": cannot create " + temporary_path_.string() + ": " +
                std::strerror(errno));
  }
}

AtomicFileWriter::~AtomicFileWriter() {
  if (descriptor_ >= 0) ::close(descriptor_);
  if (!committed_) ::unlink(temporary_path_.c_str());
}

void AtomicFileWriter::fail(const std::string& what) {
  const int error_number = errno;
  if (descriptor_ >= 0) ::close(descriptor_);
  descriptor_ = -1;
  ::unlink(temporary_path_.c_str());
  committed_ = true;  // nothing left for the destructor to clean up
  throw Error("cannot write " + path_.string() + ": " + what + ": " + std::strerror(error_number));
}

void AtomicFileWriter::write(const void* bytes, size_t count) {
  const char* cursor = static_cast<const char*>(bytes);
  while (count > 0) {
    const ssize_t written = ::write(descriptor_, cursor, count);
    if (written < 0) {
      if (errno == EINTR) continue;
      fail("write failed");
    }
    cursor += written;
    count -= static_cast<size_t>(written);
  }
}

void AtomicFileWriter::commit() {
  // fsync before rename: otherwise a crash can leave the new name pointing at unwritten blocks.
  if (::fsync(descriptor_) != 0) fail("fsync failed");
  const int descriptor = descriptor_;
  descriptor_ = -1;
  if (::close(descriptor) != 0) fail("close failed");
  if (std::rename(temporary_path_.c_str(), path_.c_str()) != 0) fail("rename failed");
  committed_ = true;
}

}  // namespace latte::io_detail
