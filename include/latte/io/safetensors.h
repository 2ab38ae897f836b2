// Safetensors checkpoints: one memory-mapped file (SafetensorsFile), a Hugging Face model
// folder of one or more such files (WeightStore), and a writer. Every header is validated in
// full when a file is opened, so later reads never go out of bounds; errors are FormatErrors
// naming the file and, where there is one, the tensor.
//
// Format (https://github.com/huggingface/safetensors): u64 little-endian header length N,
// N bytes of JSON header {"__metadata__": {str: str}, NAME: {"dtype", "shape",
// "data_offsets": [begin, end]}, ...}, then the data section; offsets are relative to it.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "latte/core/tensor.h"
#include "latte/io/dtype.h"

namespace latte {

// Header entry of one tensor. `begin`/`end` are byte offsets in the data section.
struct TensorEntry {
  std::string name;
  DType dtype = DType::F32;
  std::vector<int64_t> shape;
  uint64_t begin = 0, end = 0;
  std::string file;  // path of the file that holds it, for error messages
};

// Largest header accepted, as in the reference implementation: a bigger one is corruption.
inline constexpr uint64_t kMaxSafetensorsHeaderBytes = 100'000'000;

// One .safetensors file, memory-mapped read only for its lifetime. Movable, not copyable.
// A file replaced by a rename (how latte and Hugging Face write) does not touch a running
// reader: it keeps the file it opened. A file truncated or rewritten in place while it is read
// is caught before each tensor is copied (its size and modification time checked against the
// open's: FormatError "... changed while it was read"); the latte command line also turns the
// SIGBUS of a truncation that races a copy into a one-line error (main.cpp). Values are
// checked finite as they are copied, whatever the file holds by then.
class SafetensorsFile {
 public:
  // Maps and validates the whole header; throws FormatError naming the file (and tensor).
  static SafetensorsFile open(const std::filesystem::path& path);

  SafetensorsFile(SafetensorsFile&& other) noexcept;
  SafetensorsFile& operator=(SafetensorsFile&& other) noexcept;
  SafetensorsFile(const SafetensorsFile&) = delete;
  SafetensorsFile& operator=(const SafetensorsFile&) = delete;
  ~SafetensorsFile();

  const std::filesystem::path& path() const { return path_; }
  // Sorted by name.
  const std::vector<TensorEntry>& entries() const { return entries_; }
  // nullptr when absent.
  const TensorEntry* find(std::string_view name) const;
  // The header's "__metadata__" (empty when absent).
  const std::map<std::string, std::string>& metadata() const { return metadata_; }
  // Copies the tensor into a new owning F32 tensor, converting F16/BF16. Throws InputError for
  // an entry whose bytes are not inside this file's data section, FormatError for an I8 one.
  Tensor read_f32(const TensorEntry& entry) const;
  // The values of an I8 tensor; FormatError for any other dtype.
  std::vector<int8_t> read_i8(const TensorEntry& entry) const;
  // The tensor as bfloat16 bits: BF16 copied as stored, F32 and F16 rounded to nearest even
  // (no f32 copy of the tensor is made). Errors as read_f32.
  std::vector<uint16_t> read_bf16(const TensorEntry& entry) const;
  // An F16 or BF16 tensor's 16-bit values as stored; FormatError for another dtype.
  std::vector<uint16_t> read_half_bits(const TensorEntry& entry) const;
  // The index of the tensor's first NaN or infinity, if any, read in place a few MB at a time
  // (each chunk's pages released after): nothing is copied. I8 tensors are always finite.
  std::optional<uint64_t> first_non_finite(const TensorEntry& entry) const;

 private:
  SafetensorsFile() = default;
  // The entry's bytes; InputError unless they match its shape and lie inside the data section.
  std::span<const unsigned char> bytes_of(const TensorEntry& entry) const;
  void release() noexcept;
  // FormatError when the file's size or modification time differ from the open's.
  void check_unchanged() const;

  std::filesystem::path path_;
  int descriptor_ = -1;  // kept open to see a rewrite in place
  uint64_t opened_size_ = 0;
  int64_t opened_mtime_ns_ = 0;
  const unsigned char* mapping_ = nullptr;  // the whole file
  uint64_t mapping_bytes_ = 0;
  const unsigned char* data_ = nullptr;  // start of the data section, inside mapping_
  uint64_t data_bytes_ = 0;
  std::vector<TensorEntry> entries_;
  std::map<std::string, size_t, std::less<>> index_;  // name -> position in entries_
  std::map<std::string, std::string> metadata_;
};

// The weights of a Hugging Face model folder: model.safetensors, or (when that is absent)
// model.safetensors.index.json with its shards. All files stay mapped; tensors load on demand.
class WeightStore {
 public:
  // Validates every file; a tensor the index lists but its shard lacks, a tensor in two shards
  // and a shard tensor the index does not list are FormatErrors.
  static WeightStore open(const std::filesystem::path& model_dir);

  const std::filesystem::path& directory() const { return directory_; }
  bool contains(std::string_view name) const;
  // FormatError "missing tensor NAME in DIR".
  const TensorEntry& entry(std::string_view name) const;
  // Sorted.
  std::vector<std::string> names() const;
  // Loads as F32 after checking the shape and the values:
  // FormatError "tensor NAME in FILE has shape [a, b], expected [c, d]", or "tensor NAME in FILE
  // holds NaN or infinity (element i)": such a weight only ever produces NaN answers.
  Tensor load(std::string_view name, const std::vector<int64_t>& expected_shape) const;
  // load() as bfloat16 bits (SafetensorsFile::read_bf16), for weights computed in bf16: a BF16
  // checkpoint's tensor is copied once, never widened. The finiteness check applies to the
  // bf16 values (an F32 value beyond bf16's range rounds to infinity and is refused).
  std::vector<uint16_t> load_bf16(std::string_view name, const std::vector<int64_t>& expected_shape) const;
  // An F16 or BF16 tensor's bits exactly as stored, checked as load() checks; FormatError for
  // another dtype.
  std::vector<uint16_t> load_half_bits(std::string_view name,
                                       const std::vector<int64_t>& expected_shape) const;
  // The same for an I8 tensor (a quantized linear weight); FormatError for another dtype.
  std::vector<int8_t> load_i8(std::string_view name, const std::vector<int64_t>& expected_shape) const;
  // FormatError "tensor NAME in FILE holds NaN or infinity (element i)" (as load()), checked in
  // place without materialising the tensor (latte info).
  void check_finite(std::string_view name) const;
  // Sorted names of the tensors load() has not been asked for yet.
  std::vector<std::string> unloaded_names() const;
  // Distinct dtypes in the order F32, F16, BF16, I8 joined by '+': "F16", "F32+I8"; "none" if empty.
  std::string dtype_summary() const;
  // Sum of numel over all tensors but the scales of int8 weights.
  int64_t parameter_count() const;

 private:
  struct Location {
    size_t shard = 0;
    size_t entry = 0;
  };

  // entry(name), checked to have `expected_shape`.
  const TensorEntry& checked_entry(std::string_view name, const std::vector<int64_t>& expected_shape) const;

  std::filesystem::path directory_;
  std::vector<SafetensorsFile> shards_;
  std::map<std::string, Location, std::less<>> locations_;
  // Bookkeeping of which tensors a model used, not part of the store's value: load() stays const.
  mutable std::set<std::string, std::less<>> loaded_;
};

// FormatError when `store` holds tensors the model did not load, other than those
// `is_known_extra` allows (pre-training heads, buffers older transformers versions saved): a
// config describing another model than the checkpoint's. Names the first three:
// "DIR/model.safetensors: N tensors are not part of the model config.json describes
// (<model_description>): a, b, c, ...".
void require_all_tensors_used(const WeightStore& store,
                              const std::function<bool(const std::string&)>& is_known_extra,
                              const std::string& model_description);

// Writes `tensors` converted to `dtype` as a safetensors file, laid out like the Python library
// writes it: header {"__metadata__" first, then tensors sorted by name}, padded with spaces to a
// multiple of 8 bytes, data in the same order. Atomic (AtomicFileWriter): a temporary, then a rename.
// InputError for duplicate, empty or "__metadata__" names and tensors without data; Error when
// the file cannot be written.
void write_safetensors(const std::filesystem::path& path,
                       const std::vector<std::pair<std::string, Tensor>>& tensors, DType dtype,
                       const std::map<std::string, std::string>& metadata = {});

// One tensor for the general writer: float values written as `dtype` (F32, F16 or BF16), or
// int8 values as I8. The pointers must hold numel(shape) values.
struct TensorToWrite {
  std::string name;
  std::vector<int64_t> shape;
  DType dtype = DType::F32;
  const float* floats = nullptr;
  const int8_t* int8s = nullptr;
};
// The same file layout with a dtype per tensor (a quantized folder: I8 weights, F32 scales).
void write_safetensors(const std::filesystem::path& path, const std::vector<TensorToWrite>& tensors,
                       const std::map<std::string, std::string>& metadata = {});

// A float tensor whose values are made as they are written: fill(begin, count, out) puts values
// [begin, begin + count) of the row-major tensor in out[0, count).
struct StreamedTensor {
  std::string name;
  std::vector<int64_t> shape;
  DType dtype = DType::F32;  // F32, F16 or BF16
  std::function<void(int64_t begin, int64_t count, float* out)> fill;
};
// The same file layout with the data in the order given, each tensor filled a chunk (1 Mi
// values) at a time: writing a model takes a chunk's memory, not the model's (a random
// Llama-3.1-8B shape is 16 GB in bf16). Same errors as above.
void write_safetensors_streamed(const std::filesystem::path& path, const std::vector<StreamedTensor>& tensors,
                                const std::map<std::string, std::string>& metadata = {});

}  // namespace latte
