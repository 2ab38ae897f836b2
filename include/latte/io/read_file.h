// Reading the files latte is given (model files, vocabularies, data and input files) without
// trusting them: only regular files are opened, JSON nesting is bounded, and text lines end at
// \n, \r\n or a lone \r.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

namespace latte {

// Who supplied the bytes decides the exception type: a model, tokenizer or sidecar file that is
// wrong is a FormatError; a data or input file the user names is an InputError.
enum class FileSource { kModel, kUser };

// A read-only descriptor of a regular file or of standard input. Move-only.
class ReadableFile {
 public:
  // Refuses anything but a regular file before reading a byte: open() itself blocks on a FIFO
  // until a writer appears, and a device such as /dev/zero never ends. Errors name the path:
  // "cannot read PATH: not a regular file (a FIFO)" (kModel) or "cannot open DESCRIPTION PATH: ..."
  // (kUser; DESCRIPTION such as "input file", may be empty).
  static ReadableFile open(const std::filesystem::path& path, FileSource source = FileSource::kModel,
                           const std::string& description = "");
  // Standard input: a pipe, a terminal or a redirected file; named "<stdin>" in errors.
  static ReadableFile standard_input();

  ReadableFile(ReadableFile&& other) noexcept;
  ReadableFile& operator=(ReadableFile&& other) noexcept;
  ReadableFile(const ReadableFile&) = delete;
  ReadableFile& operator=(const ReadableFile&) = delete;
  ~ReadableFile();

  int descriptor() const { return descriptor_; }
  const std::string& name() const { return name_; }
  // Size of the regular file when opened (0 for standard input).
  uint64_t size() const { return size_; }
  // Up to `count` bytes into `buffer`; 0 at the end. Read errors throw, naming the file.
  size_t read(char* buffer, size_t count);
  // Everything from the current position to the end.
  std::string read_all();
  // Throws the error type of this file's source (FormatError or InputError).
  [[noreturn]] void fail(const std::string& message) const;

 private:
  ReadableFile() = default;

  int descriptor_ = -1;
  bool owned_ = false;  // standard input is not closed
  std::string name_;
  uint64_t size_ = 0;
  FileSource source_ = FileSource::kModel;
};

// The bytes of the regular file PATH (errors as ReadableFile::open).
std::string read_file_bytes(const std::filesystem::path& path, FileSource source = FileSource::kModel,
                            const std::string& description = "");

// Longest line LineReader accepts: far beyond any text a model reads, small enough that one
// line of a hostile file cannot take the memory a streamed file otherwise never needs.
inline constexpr size_t kMaxLineBytes = size_t{64} << 20;

// Lines of a text file, each ended by \n, \r\n or a lone \r (classic Mac files would otherwise
// read as one line), without the ending. Reads through a fixed buffer, so memory is the longest
// line, not the file.
class LineReader {
 public:
  explicit LineReader(ReadableFile file, size_t max_line_bytes = kMaxLineBytes);
  // False at the end of the file. A line longer than max_line_bytes is an error naming FILE:LINE.
  bool next(std::string& line);
  // 1-based number of the line `next` returned last.
  size_t line_number() const { return line_number_; }
  const std::string& name() const { return file_.name(); }

 private:
  bool fill();

  ReadableFile file_;
  size_t max_line_bytes_;
  std::string buffer_;
  size_t position_ = 0, end_ = 0;
  size_t line_number_ = 0;
  bool pending_cr_ = false;  // the last line ended with \r: a \n right after it belongs to it
  bool at_end_ = false;
};

// Deepest arrays and objects may nest in any JSON latte reads. Real files nest a handful of
// levels; bounding it keeps hostile input away from anything recursive (dump, destruction,
// error messages).
inline constexpr size_t kMaxJsonDepth = 64;

// Parses `text` as JSON. Errors start with `label` (a file name, or "FILE:LINE"):
// "LABEL: not valid JSON: <parser message>" or "LABEL: JSON nested deeper than 64 levels".
nlohmann::json parse_json_bounded(std::string_view text, const std::string& label,
                                  FileSource source = FileSource::kModel);

// A short, single-line rendering of a JSON value for error messages: strings and numbers as
// written, truncated to about 40 characters; containers by their type name.
std::string json_preview(const nlohmann::json& value);

}  // namespace latte
