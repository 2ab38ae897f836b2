#include "latte/io/atomic_file.h"

#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <vector>

#include "latte/core/error.h"

namespace latte {

namespace {

std::filesystem::path folder_of(const std::filesystem::path& path) {
  const std::filesystem::path parent = path.parent_path();
  return parent.empty() ? std::filesystem::path(".") : parent;
}

}  // namespace

AtomicFileWriter::AtomicFileWriter(std::filesystem::path path) : path_(std::move(path)) {
  // mkostemp opens O_CREAT|O_EXCL: a name that exists, symlink or not, is never reused.
  std::string hidden_name(1, '.');  // appended piecewise: "." + string trips GCC 12's -Wrestrict
  hidden_name += path_.filename().string();
  hidden_name += ".XXXXXX";
  const std::string pattern = (folder_of(path_) / hidden_name).string();
  std::vector<char> name(pattern.begin(), pattern.end());
  name.push_back('\0');
  descriptor_ = ::mkostemp(name.data(), O_CLOEXEC);
  if (descriptor_ < 0) {
    throw Error("cannot write " + path_.string() + ": cannot create a temporary file in " +
                folder_of(path_).string() + ": " + std::strerror(errno));
  }
  temporary_path_ = name.data();
  // mkostemp creates 0600; checkpoints and configs are meant to be shared like any output file.
  if (::fchmod(descriptor_, 0644) != 0) fail("fchmod failed");
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
  // The rename itself is only durable once the folder's entry is on disk.
  const int folder = ::open(folder_of(path_).c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (folder < 0) {
    throw Error("cannot write " + path_.string() + ": cannot open its folder: " + std::strerror(errno));
  }
  // Some file systems cannot fsync a folder (EINVAL); the file itself is already safe there.
  const bool synced = ::fsync(folder) == 0 || errno == EINVAL;
  const int error_number = errno;
  ::close(folder);
  if (!synced) {
    throw Error("cannot write " + path_.string() +
                ": fsync of its folder failed: " + std::strerror(error_number));
  }
}

void write_file_atomic(const std::filesystem::path& path, std::string_view contents) {
  AtomicFileWriter writer(path);
  writer.write(contents);
  writer.commit();
}

}  // namespace latte
