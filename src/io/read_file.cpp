#include "latte/io/read_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>

#include "latte/core/error.h"
#include "latte/io/json_file.h"

namespace latte {

namespace {

[[noreturn]] void throw_error(FileSource source, const std::string& message) {
  if (source == FileSource::kUser) throw InputError(message);
  throw FormatError(message);
}

// "cannot read PATH" for a model's file, "cannot open DESCRIPTION PATH" for a user's.
std::string cannot_open(const std::filesystem::path& path, FileSource source,
                        const std::string& description) {
  if (source == FileSource::kModel) return "cannot read " + path.string();
  return "cannot open " + (description.empty() ? "" : description + " ") + path.string();
}

const char* file_kind(mode_t mode) {
  if (S_ISDIR(mode)) return "a directory";
  if (S_ISFIFO(mode)) return "a FIFO";
  if (S_ISSOCK(mode)) return "a socket";
  if (S_ISCHR(mode)) return "a character device";
  if (S_ISBLK(mode)) return "a block device";
  return "not a plain file";
}

// Appends a rendering of `value` to `out` until it holds about `budget` characters.
void append_preview(const nlohmann::json& value, std::string& out, size_t budget) {
  if (out.size() >= budget) return;
  if (value.is_array() || value.is_object()) {
    out += value.is_array() ? '[' : '{';
    bool first = true;
    for (const auto& [key, item] : value.items()) {
      if (out.size() >= budget) {
        out += "...";
        break;
      }
      if (!first) out += ',';
      first = false;
      if (value.is_object()) out += nlohmann::json(key).dump() + ':';
      append_preview(item, out, budget);
    }
    out += value.is_array() ? ']' : '}';
    return;
  }
  // Long strings are cut before dumping; replace keeps invalid UTF-8 from throwing.
  nlohmann::json shown = value;
  if (value.is_string() && value.get_ref<const std::string&>().size() > budget) {
    shown = value.get_ref<const std::string&>().substr(0, budget);
  }
  std::string text = shown.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  if (text.size() > budget) text = text.substr(0, budget) + "...";
  out += text;
}

}  // namespace

ReadableFile ReadableFile::open(const std::filesystem::path& path, FileSource source,
                                const std::string& description) {
  // O_NONBLOCK: opening a FIFO with no writer must not block; it is cleared once the file is known
  // to be regular (where it changes nothing anyway).
  const int descriptor = ::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  if (descriptor < 0)
    throw_error(source, cannot_open(path, source, description) + ": " + std::strerror(errno));
  ReadableFile file;
  file.descriptor_ = descriptor;
  file.owned_ = true;
  file.name_ = path.string();
  file.source_ = source;
  struct stat status {};
  if (::fstat(descriptor, &status) != 0) {
    throw_error(source, cannot_open(path, source, description) + ": " + std::strerror(errno));
  }
  if (!S_ISREG(status.st_mode)) {
    throw_error(source, cannot_open(path, source, description) + ": not a regular file (" +
                            file_kind(status.st_mode) + ")");
  }
  const int flags = ::fcntl(descriptor, F_GETFL);
  if (flags >= 0) ::fcntl(descriptor, F_SETFL, flags & ~O_NONBLOCK);
  file.size_ = static_cast<uint64_t>(status.st_size);
  return file;
}

ReadableFile ReadableFile::standard_input() {
  ReadableFile file;
  file.descriptor_ = STDIN_FILENO;
  file.owned_ = false;
  file.name_ = "<stdin>";
  file.source_ = FileSource::kUser;
  return file;
}

ReadableFile::ReadableFile(ReadableFile&& other) noexcept { *this = std::move(other); }

ReadableFile& ReadableFile::operator=(ReadableFile&& other) noexcept {
  if (this == &other) return *this;
  if (owned_ && descriptor_ >= 0) ::close(descriptor_);
  descriptor_ = std::exchange(other.descriptor_, -1);
  owned_ = std::exchange(other.owned_, false);
  name_ = std::move(other.name_);
  size_ = other.size_;
  source_ = other.source_;
  return *this;
}

ReadableFile::~ReadableFile() {
  if (owned_ && descriptor_ >= 0) ::close(descriptor_);
}

size_t ReadableFile::read(char* buffer, size_t count) {
  while (true) {
    const ssize_t got = ::read(descriptor_, buffer, count);
    if (got >= 0) return static_cast<size_t>(got);
    if (errno == EINTR) continue;
    fail("error reading " + name_ + ": " + std::strerror(errno));
  }
}

std::string ReadableFile::read_all() {
  std::string bytes;
  bytes.reserve(static_cast<size_t>(size_));
  char chunk[1 << 16];
  for (size_t got; (got = read(chunk, sizeof(chunk))) > 0;) bytes.append(chunk, got);
  return bytes;
}

std::string read_file_bytes(const std::filesystem::path& path, FileSource source,
                            const std::string& description) {
  return ReadableFile::open(path, source, description).read_all();
}

void ReadableFile::fail(const std::string& message) const { throw_error(source_, message); }

LineReader::LineReader(ReadableFile file, size_t max_line_bytes)
    : file_(std::move(file)), max_line_bytes_(max_line_bytes), buffer_(size_t{1} << 16, '\0') {}

bool LineReader::fill() {
  if (at_end_) return false;
  end_ = file_.read(buffer_.data(), buffer_.size());
  position_ = 0;
  at_end_ = end_ == 0;
  return !at_end_;
}

bool LineReader::next(std::string& line) {
  line.clear();
  bool any = false;  // a last line without an ending still counts
  while (true) {
    if (position_ == end_ && !fill()) {
      if (!any) return false;
      break;
    }
    if (pending_cr_) {
      pending_cr_ = false;
      if (buffer_[position_] == '\n') ++position_;
      continue;
    }
    const char* begin = buffer_.data() + position_;
    const size_t available = end_ - position_;
    size_t length = 0;
    while (length < available && begin[length] != '\n' && begin[length] != '\r') ++length;
    if (line.size() + length > max_line_bytes_) {
      file_.fail(file_.name() + ":" + std::to_string(line_number_ + 1) + ": line longer than " +
                 std::to_string(max_line_bytes_) + " bytes");
    }
    line.append(begin, length);
    any = true;
    position_ += length;
    if (length < available) {
      pending_cr_ = buffer_[position_] == '\r';
      ++position_;
      break;
    }
  }
  ++line_number_;
  return true;
}

nlohmann::json parse_json_bounded(std::string_view text, const std::string& label, FileSource source) {
  // nlohmann parses iteratively, but the values it builds are later dumped, copied and
  // compared recursively, so depth is checked before parsing: one pass that skips strings.
  size_t depth = 0;
  bool in_string = false;
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (in_string) {
      if (c == '\\') {
        ++i;
      } else if (c == '"') {
        in_string = false;
      }
    } else if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      if (++depth > kMaxJsonDepth) {
        throw_error(source, label + ": JSON nested deeper than " + std::to_string(kMaxJsonDepth) + " levels");
      }
    } else if ((c == ']' || c == '}') && depth > 0) {
      --depth;
    }
  }
  try {
    return nlohmann::json::parse(text.begin(), text.end());
  } catch (const nlohmann::json::exception& error) {
    throw_error(source, label + ": not valid JSON: " + json_error_text(error));
  }
}

std::string json_preview(const nlohmann::json& value) {
  constexpr size_t kBudget = 40;
  std::string out;
  append_preview(value, out, kBudget);
  // Nested containers still close their brackets past the budget.
  if (out.size() > kBudget + 3) out = out.substr(0, kBudget) + "...";
  return out;
}

}  // namespace latte
