#include "latte/io/safetensors.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <cerrno>
#include <cstring>
#include <limits>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>

#include "latte/core/error.h"
#include "latte/io/atomic_file.h"
#include "latte/io/json_file.h"
#include "latte/io/read_file.h"

namespace latte {

namespace {

// Drops the pages of `bytes` (inside a read-only private file mapping) from the process once
// their values are copied out: the weights then exist once, in the layout the kernels read,
// instead of also as the file's pages. A later read faults them in again from the page cache,
// so rounding out to whole pages (touching a neighbour's) costs time, never values.
void release_pages(std::span<const unsigned char> bytes) {
  if (bytes.empty()) return;
  static const auto page = static_cast<uintptr_t>(::sysconf(_SC_PAGESIZE));
  const uintptr_t begin = reinterpret_cast<uintptr_t>(bytes.data()) & ~(page - 1);
  const uintptr_t end = reinterpret_cast<uintptr_t>(bytes.data()) + bytes.size();
  ::madvise(reinterpret_cast<void*>(begin), end - begin, MADV_DONTNEED);  // advice: failure is harmless
}

}  // namespace

// The format is little-endian and tensors are copied byte for byte.
static_assert(std::endian::native == std::endian::little, "latte io assumes a little-endian host");

namespace {

// Dtypes the format defines that latte deliberately does not load (its models are float).
bool is_other_safetensors_dtype(std::string_view name) {
  static const std::set<std::string_view> kNames = {
      "BOOL", "U8",      "U16",     "I16", "U32",     "I32",     "U64",     "I64",
      "F64",  "F8_E4M3", "F8_E5M2", "C64", "F8_E8M0", "F6_E2M3", "F6_E3M2", "F4"};
  return kNames.count(name) > 0;
}

// A JSON integer >= 0 (nlohmann stores "-0" as signed, so both integer kinds are checked).
std::optional<uint64_t> as_unsigned(const nlohmann::json& value) {
  if (value.is_number_unsigned()) return value.get<uint64_t>();
  if (value.is_number_integer() && value.get<int64_t>() >= 0)
    return static_cast<uint64_t>(value.get<int64_t>());
  return std::nullopt;
}

class HeaderParser {
 public:
  explicit HeaderParser(std::string file) : file_(std::move(file)) {}

  [[noreturn]] void fail(const std::string& message) const { throw FormatError(file_ + ": " + message); }
  [[noreturn]] void fail_tensor(const std::string& name, const std::string& message) const {
    fail("tensor '" + name + "': " + message);
  }

  std::map<std::string, std::string> parse_metadata(const nlohmann::json& value) const {
    std::map<std::string, std::string> metadata;
    if (value.is_null()) return metadata;
    if (!value.is_object())
      fail("__metadata__ must be an object of strings, got " + std::string(value.type_name()));
    for (const auto& [key, text] : value.items()) {
      if (!text.is_string()) {
        fail("__metadata__ value '" + key + "' must be a string, got " + std::string(text.type_name()));
      }
      metadata.emplace(key, text.get<std::string>());
    }
    return metadata;
  }

  TensorEntry parse_entry(const std::string& name, const nlohmann::json& value, uint64_t data_bytes) const {
    if (!value.is_object())
      fail_tensor(name, "entry must be an object, got " + std::string(value.type_name()));
    TensorEntry entry;
    entry.name = name;
    entry.file = file_;

    const auto dtype_field = value.find("dtype");
    if (dtype_field == value.end()) fail_tensor(name, "missing 'dtype'");
    if (!dtype_field->is_string()) {
      fail_tensor(name, "'dtype' must be a string, got " + std::string(dtype_field->type_name()));
    }
    const std::string dtype_text = dtype_field->get<std::string>();
    const std::optional<DType> dtype = parse_dtype(dtype_text);
    if (!dtype) {
      const char* kind = is_other_safetensors_dtype(dtype_text) ? "unsupported" : "unknown";
      fail(std::string(kind) + " dtype " + dtype_text + " for tensor " + name +
           " (latte loads F32, F16, BF16)");
    }
    entry.dtype = *dtype;

    const auto shape_field = value.find("shape");
    if (shape_field == value.end()) fail_tensor(name, "missing 'shape'");
    if (!shape_field->is_array()) {
      fail_tensor(name, "'shape' must be an array, got " + std::string(shape_field->type_name()));
    }
    // numel and byte size are accumulated in uint64 with explicit overflow checks: a crafted
    // shape must not wrap around to a small size that passes the offset checks.
    uint64_t byte_count = dtype_size(entry.dtype);
    for (const nlohmann::json& extent : *shape_field) {
      if (extent.is_number_integer() && !extent.is_number_unsigned() && extent.get<int64_t>() < 0) {
        fail_tensor(name,
                    "negative extent " + json_preview(extent) + " in shape " + json_preview(*shape_field));
      }
      const std::optional<uint64_t> size = as_unsigned(extent);
      if (!size)
        fail_tensor(name, "shape entries must be non-negative integers, got " + json_preview(extent));
      if (*size > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()) ||
          __builtin_mul_overflow(byte_count, *size, &byte_count)) {
        fail_tensor(name, "shape " + json_preview(*shape_field) + " is too large (byte size overflows)");
      }
      entry.shape.push_back(static_cast<int64_t>(*size));
    }

    const auto offsets_field = value.find("data_offsets");
    if (offsets_field == value.end()) fail_tensor(name, "missing 'data_offsets'");
    const bool offsets_valid = offsets_field->is_array() && offsets_field->size() == 2 &&
                               as_unsigned((*offsets_field)[0]) && as_unsigned((*offsets_field)[1]);
    if (!offsets_valid) {
      fail_tensor(name,
                  "'data_offsets' must be two non-negative integers, got " + json_preview(*offsets_field));
    }
    entry.begin = *as_unsigned((*offsets_field)[0]);
    entry.end = *as_unsigned((*offsets_field)[1]);
    if (entry.begin > entry.end) {
      fail_tensor(name, "data_offsets begin " + std::to_string(entry.begin) + " is after end " +
                            std::to_string(entry.end));
    }
    if (entry.end > data_bytes) {
      fail_tensor(name, "data_offsets end " + std::to_string(entry.end) + " is beyond the data section (" +
                            std::to_string(data_bytes) + " bytes)");
    }
    if (entry.end - entry.begin != byte_count) {
      fail_tensor(name, "data_offsets [" + std::to_string(entry.begin) + ", " + std::to_string(entry.end) +
                            "] hold " + std::to_string(entry.end - entry.begin) + " bytes but " + dtype_text +
                            " shape " + shape_to_string(entry.shape) + " needs " +
                            std::to_string(byte_count));
    }
    return entry;
  }

  // Tensors must not share bytes; empty tensors own no bytes, so they cannot overlap anything.
  void check_no_overlap(const std::vector<TensorEntry>& entries) const {
    std::vector<const TensorEntry*> by_offset;
    for (const TensorEntry& entry : entries) {
      if (entry.end > entry.begin) by_offset.push_back(&entry);
    }
    std::sort(by_offset.begin(), by_offset.end(),
              [](const TensorEntry* a, const TensorEntry* b) { return a->begin < b->begin; });
    for (size_t i = 1; i < by_offset.size(); ++i) {
      const TensorEntry& previous = *by_offset[i - 1];
      const TensorEntry& current = *by_offset[i];
      if (current.begin < previous.end) {
        fail("tensors '" + previous.name + "' and '" + current.name + "' overlap (bytes [" +
             std::to_string(previous.begin) + ", " + std::to_string(previous.end) + ") and [" +
             std::to_string(current.begin) + ", " + std::to_string(current.end) + "))");
      }
    }
  }

 private:
  std::string file_;
};

}  // namespace

SafetensorsFile SafetensorsFile::open(const std::filesystem::path& path) {
  const std::string file = path.string();
  const HeaderParser parser(file);

  const ReadableFile readable = ReadableFile::open(path);
  const int descriptor = readable.descriptor();
  const uint64_t file_bytes = readable.size();
  if (file_bytes < 8) {
    parser.fail("file is " + std::to_string(file_bytes) + " bytes, shorter than the 8-byte header length");
  }

  SafetensorsFile result;
  result.path_ = path;
  result.descriptor_ = ::fcntl(descriptor, F_DUPFD_CLOEXEC, 0);
  if (result.descriptor_ < 0) throw FormatError("cannot open " + file + ": " + std::strerror(errno));
  struct stat status {};
  if (::fstat(result.descriptor_, &status) != 0)
    throw FormatError("cannot stat " + file + ": " + std::strerror(errno));
  result.opened_size_ = static_cast<uint64_t>(status.st_size);
  result.opened_mtime_ns_ =
      static_cast<int64_t>(status.st_mtim.tv_sec) * 1'000'000'000 + status.st_mtim.tv_nsec;
  void* mapping = ::mmap(nullptr, file_bytes, PROT_READ, MAP_PRIVATE, descriptor, 0);
  if (mapping == MAP_FAILED) throw FormatError("cannot map " + file + ": " + std::strerror(errno));
  result.mapping_ = static_cast<const unsigned char*>(mapping);
  result.mapping_bytes_ = file_bytes;

  uint64_t header_bytes = 0;
  std::memcpy(&header_bytes, result.mapping_, sizeof(header_bytes));
  if (header_bytes > kMaxSafetensorsHeaderBytes) {
    parser.fail("header length " + std::to_string(header_bytes) + " exceeds the limit of " +
                std::to_string(kMaxSafetensorsHeaderBytes) + " bytes");
  }
  if (header_bytes > file_bytes - 8) {
    parser.fail("header length " + std::to_string(header_bytes) + " is beyond the end of the file (" +
                std::to_string(file_bytes) + " bytes)");
  }
  result.data_ = result.mapping_ + 8 + header_bytes;
  result.data_bytes_ = file_bytes - 8 - header_bytes;

  const char* header_begin = reinterpret_cast<const char*>(result.mapping_ + 8);
  const nlohmann::json header =
      parse_json_bounded(std::string_view(header_begin, header_bytes), file + ": header");
  release_pages(std::span(result.mapping_, 8 + header_bytes));  // parsed: not needed again
  if (!header.is_object())
    parser.fail("header must be a JSON object, got " + std::string(header.type_name()));

  // nlohmann::json objects iterate in key order, so entries_ comes out sorted by name.
  for (const auto& [name, value] : header.items()) {
    if (name == "__metadata__") {
      result.metadata_ = parser.parse_metadata(value);
      continue;
    }
    result.index_.emplace(name, result.entries_.size());
    result.entries_.push_back(parser.parse_entry(name, value, result.data_bytes_));
  }
  parser.check_no_overlap(result.entries_);
  return result;
}

SafetensorsFile::SafetensorsFile(SafetensorsFile&& other) noexcept { *this = std::move(other); }

SafetensorsFile& SafetensorsFile::operator=(SafetensorsFile&& other) noexcept {
  if (this == &other) return *this;
  release();
  path_ = std::move(other.path_);
  descriptor_ = std::exchange(other.descriptor_, -1);
  opened_size_ = other.opened_size_;
  opened_mtime_ns_ = other.opened_mtime_ns_;
  mapping_ = std::exchange(other.mapping_, nullptr);
  mapping_bytes_ = std::exchange(other.mapping_bytes_, 0);
  data_ = std::exchange(other.data_, nullptr);
  data_bytes_ = std::exchange(other.data_bytes_, 0);
  entries_ = std::move(other.entries_);
  index_ = std::move(other.index_);
  metadata_ = std::move(other.metadata_);
  return *this;
}

SafetensorsFile::~SafetensorsFile() { release(); }

void SafetensorsFile::release() noexcept {
  if (mapping_ != nullptr) ::munmap(const_cast<unsigned char*>(mapping_), mapping_bytes_);
  if (descriptor_ >= 0) ::close(descriptor_);
  descriptor_ = -1;
  mapping_ = nullptr;
  mapping_bytes_ = 0;
  data_ = nullptr;
  data_bytes_ = 0;
}

const TensorEntry* SafetensorsFile::find(std::string_view name) const {
  const auto found = index_.find(name);
  return found == index_.end() ? nullptr : &entries_[found->second];
}

void SafetensorsFile::check_unchanged() const {
  if (descriptor_ < 0) return;
  struct stat status {};
  if (::fstat(descriptor_, &status) != 0)
    throw FormatError("cannot stat " + path_.string() + ": " + std::strerror(errno));
  const int64_t mtime_ns =
      static_cast<int64_t>(status.st_mtim.tv_sec) * 1'000'000'000 + status.st_mtim.tv_nsec;
  if (static_cast<uint64_t>(status.st_size) != opened_size_ || mtime_ns != opened_mtime_ns_) {
    throw FormatError(path_.string() + " changed while it was read (" + std::to_string(opened_size_) +
                      " bytes when opened, " + std::to_string(status.st_size) + " now" +
                      (mtime_ns != opened_mtime_ns_ ? ", modified since" : "") +
                      "): load the model again once it is written");
  }
}

std::span<const unsigned char> SafetensorsFile::bytes_of(const TensorEntry& entry) const {
  // Entries from open() are already valid; this guards hand-made or foreign entries.
  uint64_t byte_count = dtype_size(entry.dtype);
  for (int64_t extent : entry.shape) {
    if (extent < 0 || __builtin_mul_overflow(byte_count, static_cast<uint64_t>(extent), &byte_count)) {
      throw InputError("tensor '" + entry.name + "' has invalid shape " + shape_to_string(entry.shape));
    }
  }
  if (entry.begin > entry.end || entry.end > data_bytes_ || entry.end - entry.begin != byte_count) {
    throw InputError("tensor '" + entry.name + "' bytes [" + std::to_string(entry.begin) + ", " +
                     std::to_string(entry.end) + ") do not match its shape or lie outside " + path_.string());
  }
  check_unchanged();
  return {data_ + entry.begin, static_cast<size_t>(byte_count)};
}

Tensor SafetensorsFile::read_f32(const TensorEntry& entry) const {
  const std::span<const unsigned char> bytes = bytes_of(entry);
  if (entry.dtype == DType::I8) {
    // Unscaled integers read as floats would be a silently wrong weight.
    throw FormatError("tensor " + entry.name + " in " + path_.string() +
                      " is I8: only the weight of a linear layer may be int8, read with its scales");
  }
  Tensor tensor(entry.shape);
  const unsigned char* source = bytes.data();
  float* target = tensor.data();
  const int64_t count = tensor.numel();
  switch (entry.dtype) {
    case DType::F32:
      if (count > 0) std::memcpy(target, source, bytes.size());
      break;
    case DType::F16:
      for (int64_t i = 0; i < count; ++i) {
        uint16_t bits;
        std::memcpy(&bits, source + 2 * i, sizeof(bits));
        target[i] = half_to_float(bits);
      }
      break;
    case DType::BF16:
      for (int64_t i = 0; i < count; ++i) {
        uint16_t bits;
        std::memcpy(&bits, source + 2 * i, sizeof(bits));
        target[i] = bfloat16_to_float(bits);
      }
      break;
    case DType::I8:
      break;
  }
  release_pages(bytes);
  return tensor;
}

std::vector<uint16_t> SafetensorsFile::read_bf16(const TensorEntry& entry) const {
  const std::span<const unsigned char> bytes = bytes_of(entry);
  if (entry.dtype == DType::I8) {
    throw FormatError("tensor " + entry.name + " in " + path_.string() +
                      " is I8: only the weight of a linear layer may be int8, read with its scales");
  }
  const size_t count = bytes.size() / dtype_size(entry.dtype);
  std::vector<uint16_t> values(count);
  const unsigned char* source = bytes.data();
  switch (entry.dtype) {
    case DType::BF16:
      if (count > 0) std::memcpy(values.data(), source, bytes.size());
      break;
    case DType::F16:
      for (size_t i = 0; i < count; ++i) {
        uint16_t bits;
        std::memcpy(&bits, source + 2 * i, sizeof(bits));
        values[i] = float_to_bfloat16(half_to_float(bits));
      }
      break;
    case DType::F32:
      for (size_t i = 0; i < count; ++i) {
        float value;
        std::memcpy(&value, source + 4 * i, sizeof(value));
        values[i] = float_to_bfloat16(value);
      }
      break;
    case DType::I8:
      break;
  }
  release_pages(bytes);
  return values;
}

std::vector<uint16_t> SafetensorsFile::read_half_bits(const TensorEntry& entry) const {
  if (entry.dtype != DType::F16 && entry.dtype != DType::BF16) {
    throw FormatError("tensor " + entry.name + " in " + path_.string() + " is " + dtype_name(entry.dtype) +
                      ", expected F16 or BF16");
  }
  const std::span<const unsigned char> bytes = bytes_of(entry);
  std::vector<uint16_t> values(bytes.size() / 2);
  if (!bytes.empty()) std::memcpy(values.data(), bytes.data(), bytes.size());
  release_pages(bytes);
  return values;
}

std::optional<uint64_t> SafetensorsFile::first_non_finite(const TensorEntry& entry) const {
  const std::span<const unsigned char> bytes = bytes_of(entry);
  if (entry.dtype == DType::I8) return std::nullopt;
  const uint64_t size = dtype_size(entry.dtype);
  constexpr uint64_t kChunkBytes = uint64_t{16} << 20;
  for (uint64_t begin = 0; begin < bytes.size(); begin += kChunkBytes) {
    const std::span<const unsigned char> chunk =
        bytes.subspan(begin, std::min<uint64_t>(kChunkBytes, bytes.size() - begin));
    const uint64_t count = chunk.size() / size;
    for (uint64_t i = 0; i < count; ++i) {
      bool finite = true;
      if (entry.dtype == DType::F32) {
        uint32_t bits;
        std::memcpy(&bits, chunk.data() + 4 * i, sizeof bits);
        finite = (bits & 0x7f800000u) != 0x7f800000u;
      } else {
        uint16_t bits;
        std::memcpy(&bits, chunk.data() + 2 * i, sizeof bits);
        const uint16_t exponent = entry.dtype == DType::F16 ? 0x7c00u : 0x7f80u;
        finite = (bits & exponent) != exponent;
      }
      if (!finite) {
        release_pages(chunk);
        return begin / size + i;
      }
    }
    release_pages(chunk);
  }
  return std::nullopt;
}

std::vector<int8_t> SafetensorsFile::read_i8(const TensorEntry& entry) const {
  if (entry.dtype != DType::I8) {
    throw FormatError("tensor " + entry.name + " in " + path_.string() + " is " + dtype_name(entry.dtype) +
                      ", expected I8");
  }
  const std::span<const unsigned char> bytes = bytes_of(entry);
  std::vector<int8_t> values(bytes.size());
  if (!bytes.empty()) std::memcpy(values.data(), bytes.data(), bytes.size());
  release_pages(bytes);
  return values;
}

void write_safetensors(const std::filesystem::path& path,
                       const std::vector<std::pair<std::string, Tensor>>& tensors, DType dtype,
                       const std::map<std::string, std::string>& metadata) {
  if (dtype == DType::I8) throw InputError("cannot write " + path.string() + ": float tensors cannot be I8");
  std::vector<TensorToWrite> entries;
  entries.reserve(tensors.size());
  for (const auto& [name, tensor] : tensors) {
    if (tensor.empty() && tensor.numel() != 0) {
      throw InputError("cannot write " + path.string() + ": tensor '" + name + "' has no data");
    }
    entries.push_back(TensorToWrite{name, tensor.shape(), dtype, tensor.data(), nullptr});
  }
  write_safetensors(path, entries, metadata);
}

namespace {

// The header, padded so the data section starts 8-byte aligned (as the reference writer does):
// __metadata__ first, then the tensors in data order, as ordered_json keeps them. Checks names,
// shapes and data presence first.
struct HeaderTensor {
  const std::string* name;
  const std::vector<int64_t>* shape;
  DType dtype;
  bool has_data;
};
std::string safetensors_header(const std::filesystem::path& path, const std::vector<HeaderTensor>& tensors,
                               const std::map<std::string, std::string>& metadata) {
  std::set<std::string_view> names;
  for (const HeaderTensor& tensor : tensors) {
    const std::string& name = *tensor.name;
    if (name.empty() || name == "__metadata__") {
      throw InputError("cannot write " + path.string() + ": invalid tensor name '" + name + "'");
    }
    for (int64_t extent : *tensor.shape) {
      if (extent < 0) {
        throw InputError("cannot write " + path.string() + ": tensor '" + name + "' has shape " +
                         shape_to_string(*tensor.shape));
      }
    }
    if (!tensor.has_data && shape_numel(*tensor.shape) != 0) {
      throw InputError("cannot write " + path.string() + ": tensor '" + name + "' has no data");
    }
    if (!names.insert(name).second) {
      throw InputError("cannot write " + path.string() + ": duplicate tensor name '" + name + "'");
    }
  }
  nlohmann::ordered_json header = nlohmann::ordered_json::object();
  if (!metadata.empty()) header["__metadata__"] = metadata;
  uint64_t offset = 0;
  for (const HeaderTensor& tensor : tensors) {
    const uint64_t bytes = static_cast<uint64_t>(shape_numel(*tensor.shape)) * dtype_size(tensor.dtype);
    header[*tensor.name] = {{"dtype", dtype_name(tensor.dtype)},
                            {"shape", *tensor.shape},
                            {"data_offsets", {offset, offset + bytes}}};
    offset += bytes;
  }
  std::string header_text;
  try {
    header_text = header.dump();
  } catch (const nlohmann::json::type_error&) {
    throw InputError("cannot write " + path.string() +
                     ": a tensor name or metadata string is not valid UTF-8");
  }
  header_text.append((8 - header_text.size() % 8) % 8, ' ');
  return header_text;
}

void write_header(AtomicFileWriter& writer, const std::string& header_text) {
  const uint64_t header_bytes = header_text.size();
  writer.write(&header_bytes, sizeof(header_bytes));
  writer.write(header_text);
}

// `count` floats written as `dtype` (F32, F16 or BF16), through `narrowed`.
void write_floats(AtomicFileWriter& writer, const float* values, size_t count, DType dtype,
                  std::vector<uint16_t>& narrowed) {
  if (dtype == DType::F32) {
    writer.write(values, count * sizeof(float));
    return;
  }
  narrowed.resize(count);
  for (size_t i = 0; i < count; ++i) {
    narrowed[i] = dtype == DType::F16 ? float_to_half(values[i]) : float_to_bfloat16(values[i]);
  }
  writer.write(narrowed.data(), count * sizeof(uint16_t));
}

}  // namespace

void write_safetensors(const std::filesystem::path& path, const std::vector<TensorToWrite>& tensors,
                       const std::map<std::string, std::string>& metadata) {
  std::vector<const TensorToWrite*> sorted;
  for (const TensorToWrite& tensor : tensors) sorted.push_back(&tensor);
  std::stable_sort(sorted.begin(), sorted.end(),
                   [](const auto* a, const auto* b) { return a->name < b->name; });
  std::vector<HeaderTensor> header;
  for (const TensorToWrite* tensor : sorted) {
    header.push_back({&tensor->name, &tensor->shape, tensor->dtype,
                      tensor->dtype == DType::I8 ? tensor->int8s != nullptr : tensor->floats != nullptr});
  }
  const std::string header_text = safetensors_header(path, header, metadata);

  AtomicFileWriter writer(path);
  write_header(writer, header_text);
  std::vector<uint16_t> narrowed;
  for (const TensorToWrite* tensor : sorted) {
    const size_t count = static_cast<size_t>(shape_numel(tensor->shape));
    if (tensor->dtype == DType::I8) {
      writer.write(tensor->int8s, count);
    } else {
      write_floats(writer, tensor->floats, count, tensor->dtype, narrowed);
    }
  }
  writer.commit();
}

void write_safetensors_streamed(const std::filesystem::path& path, const std::vector<StreamedTensor>& tensors,
                                const std::map<std::string, std::string>& metadata) {
  std::vector<HeaderTensor> header;
  for (const StreamedTensor& tensor : tensors) {
    if (tensor.dtype == DType::I8) {
      throw InputError("cannot write " + path.string() + ": streamed tensor '" + tensor.name +
                       "' cannot be I8");
    }
    header.push_back({&tensor.name, &tensor.shape, tensor.dtype, static_cast<bool>(tensor.fill)});
  }
  const std::string header_text = safetensors_header(path, header, metadata);

  constexpr int64_t kChunk = int64_t{1} << 20;
  AtomicFileWriter writer(path);
  write_header(writer, header_text);
  std::vector<float> chunk;
  std::vector<uint16_t> narrowed;
  for (const StreamedTensor& tensor : tensors) {
    const int64_t count = shape_numel(tensor.shape);
    for (int64_t begin = 0; begin < count; begin += kChunk) {
      const int64_t size = std::min(kChunk, count - begin);
      chunk.resize(static_cast<size_t>(size));
      tensor.fill(begin, size, chunk.data());
      write_floats(writer, chunk.data(), chunk.size(), tensor.dtype, narrowed);
    }
  }
  writer.commit();
}

void require_all_tensors_used(const WeightStore& store,
                              const std::function<bool(const std::string&)>& is_known_extra,
                              const std::string& model_description) {
  std::vector<std::string> unused;
  for (const std::string& name : store.unloaded_names()) {
    if (!is_known_extra(name)) unused.push_back(name);
  }
  if (unused.empty()) return;
  std::string listed;
  for (size_t i = 0; i < std::min<size_t>(unused.size(), 3); ++i) listed += (i ? ", " : "") + unused[i];
  if (unused.size() > 3) listed += ", ...";
  throw FormatError(
      (store.directory() / "model.safetensors").string() + ": " + std::to_string(unused.size()) +
      " tensors are not part of the model config.json describes (" + model_description + "): " + listed);
}

}  // namespace latte
