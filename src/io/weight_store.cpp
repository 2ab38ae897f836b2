#include <algorithm>
#include <cmath>
#include <cstring>
#include <nlohmann/json.hpp>
#include <optional>

#include "latte/core/error.h"
#include "latte/io/json_file.h"
#include "latte/io/read_file.h"
#include "latte/io/safetensors.h"

namespace latte {

namespace {

constexpr const char* kSingleFileName = "model.safetensors";
constexpr const char* kIndexFileName = "model.safetensors.index.json";

// Shard names come from a downloaded file: keep them inside the model folder.
std::filesystem::path shard_path(const std::filesystem::path& model_dir, const std::string& shard,
                                 const std::string& index_label) {
  const std::filesystem::path relative(shard);
  bool escapes = shard.empty() || relative.is_absolute();
  for (const auto& component : relative) escapes = escapes || component == "..";
  if (escapes)
    throw FormatError(index_label + ": shard file name '" + shard + "' is not inside the model folder");
  return model_dir / relative;
}

// Index of the first NaN or infinity in values, if any. The scan ORs a flag over every element
// (no early exit), so it vectorises: a checkpoint costs a fraction of its copy to check.
std::optional<int64_t> first_non_finite(const float* values, int64_t count) {
  constexpr uint32_t kExponent = 0x7f800000u;  // all ones: infinity or NaN
  uint32_t any = 0;
  for (int64_t i = 0; i < count; ++i) {
    uint32_t bits;
    std::memcpy(&bits, values + i, sizeof(bits));
    any |= static_cast<uint32_t>((bits & kExponent) == kExponent);
  }
  if (any == 0) return std::nullopt;
  for (int64_t i = 0; i < count; ++i) {
    if (!std::isfinite(values[i])) return i;
  }
  return std::nullopt;
}

}  // namespace

WeightStore WeightStore::open(const std::filesystem::path& model_dir) {
  WeightStore store;
  store.directory_ = model_dir;
  const std::filesystem::path single = model_dir / kSingleFileName;
  const std::filesystem::path index_path = model_dir / kIndexFileName;

  // Same preference as transformers: a single file wins over an index.
  if (std::filesystem::exists(single)) {
    store.shards_.push_back(SafetensorsFile::open(single));
    const std::vector<TensorEntry>& entries = store.shards_[0].entries();
    for (size_t i = 0; i < entries.size(); ++i) store.locations_.emplace(entries[i].name, Location{0, i});
    return store;
  }
  if (!std::filesystem::exists(index_path)) {
    std::string missing =
        "no " + std::string(kSingleFileName) + " or " + kIndexFileName + " in " + model_dir.string();
    // Hugging Face's other weight formats: say that they are not read rather than just "no file".
    for (const char* other :
         {"pytorch_model.bin", "pytorch_model.bin.index.json", "tf_model.h5", "flax_model.msgpack"}) {
      if (std::filesystem::exists(model_dir / other)) {
        throw FormatError(missing + "; it holds " + other +
                          ", which latte does not read: convert it to model.safetensors (docs/models.md)");
      }
    }
    throw FormatError(missing);
  }

  const std::string index_label = index_path.string();
  const nlohmann::json index = read_json_file(index_path);
  if (!index.is_object()) throw FormatError(index_label + ": expected a JSON object");
  const auto weight_map = index.find("weight_map");
  if (weight_map == index.end()) throw FormatError(index_label + ": field 'weight_map' is missing");
  if (!weight_map->is_object()) {
    throw FormatError(index_label + ": field 'weight_map' must be an object, got " +
                      std::string(weight_map->type_name()));
  }

  // Open each distinct shard once, in name order, remembering which shard the index names for each tensor.
  std::map<std::string, size_t> shard_numbers;
  std::map<std::string, size_t, std::less<>> listed_shard;  // tensor name -> shard number
  for (const auto& [name, shard_value] : weight_map->items()) {
    if (!shard_value.is_string()) {
      throw FormatError(index_label + ": weight_map entry for tensor '" + name +
                        "' must be a file name, got " + json_preview(shard_value));
    }
    const std::string shard = shard_value.get<std::string>();
    if (!shard_numbers.count(shard)) {
      const std::filesystem::path path = shard_path(model_dir, shard, index_label);
      // The error_code form: a name the file system rejects (too long) is a missing shard, not a
      // std::filesystem exception.
      std::error_code error;
      if (!std::filesystem::exists(path, error)) {
        throw FormatError(index_label + ": shard " + json_preview(shard_value) + " (for tensor '" + name +
                          "') does not exist in " + model_dir.string() +
                          (error ? " (" + error.message() + ")" : ""));
      }
      shard_numbers.emplace(shard, store.shards_.size());
      store.shards_.push_back(SafetensorsFile::open(path));
    }
    listed_shard.emplace(name, shard_numbers.at(shard));
  }

  // Every tensor of every shard must be the one the index lists, exactly once.
  for (size_t shard = 0; shard < store.shards_.size(); ++shard) {
    const std::vector<TensorEntry>& entries = store.shards_[shard].entries();
    for (size_t i = 0; i < entries.size(); ++i) {
      const auto [previous, inserted] = store.locations_.emplace(entries[i].name, Location{shard, i});
      if (!inserted) {
        throw FormatError("tensor '" + entries[i].name +
                          "' is in two shards: " + store.shards_[previous->second.shard].path().string() +
                          " and " + store.shards_[shard].path().string());
      }
    }
  }
  for (const auto& [name, location] : store.locations_) {
    const std::string shard_file = store.shards_[location.shard].path().string();
    const auto listed = listed_shard.find(name);
    if (listed == listed_shard.end()) {
      throw FormatError("tensor '" + name + "' in " + shard_file + " is not listed in " + index_label);
    }
    if (listed->second != location.shard) {
      throw FormatError("tensor '" + name + "' is in " + shard_file + " but " + index_label + " maps it to " +
                        store.shards_[listed->second].path().string());
    }
  }
  for (const auto& [name, shard] : listed_shard) {
    if (!store.locations_.count(name)) {
      throw FormatError("tensor '" + name + "' listed in " + index_label + " is missing from its shard " +
                        store.shards_[shard].path().string());
    }
  }
  return store;
}

bool WeightStore::contains(std::string_view name) const { return locations_.find(name) != locations_.end(); }

const TensorEntry& WeightStore::entry(std::string_view name) const {
  const auto found = locations_.find(name);
  if (found == locations_.end()) {
    throw FormatError("missing tensor " + std::string(name) + " in " + directory_.string());
  }
  return shards_[found->second.shard].entries()[found->second.entry];
}

std::vector<std::string> WeightStore::names() const {
  std::vector<std::string> result;
  result.reserve(locations_.size());
  for (const auto& [name, location] : locations_) result.push_back(name);
  return result;
}

const TensorEntry& WeightStore::checked_entry(std::string_view name,
                                              const std::vector<int64_t>& expected_shape) const {
  const TensorEntry& tensor_entry = entry(name);
  if (tensor_entry.shape != expected_shape) {
    throw FormatError("tensor " + tensor_entry.name + " in " + tensor_entry.file + " has shape " +
                      shape_to_string(tensor_entry.shape) + ", expected " + shape_to_string(expected_shape));
  }
  return tensor_entry;
}

std::vector<int8_t> WeightStore::load_i8(std::string_view name,
                                         const std::vector<int64_t>& expected_shape) const {
  const TensorEntry& tensor_entry = checked_entry(name, expected_shape);
  std::vector<int8_t> values = shards_[locations_.find(name)->second.shard].read_i8(tensor_entry);
  loaded_.emplace(name);
  return values;
}

Tensor WeightStore::load(std::string_view name, const std::vector<int64_t>& expected_shape) const {
  const TensorEntry& tensor_entry = checked_entry(name, expected_shape);
  const SafetensorsFile& file = shards_[locations_.find(name)->second.shard];
  Tensor tensor = file.read_f32(tensor_entry);
  const std::optional<int64_t> bad = first_non_finite(tensor.data(), tensor.numel());
  if (bad) {
    throw FormatError("tensor " + tensor_entry.name + " in " + tensor_entry.file +
                      " holds NaN or infinity (element " + std::to_string(*bad) + ")");
  }
  loaded_.emplace(name);
  return tensor;
}

std::vector<uint16_t> WeightStore::load_bf16(std::string_view name,
                                             const std::vector<int64_t>& expected_shape) const {
  const TensorEntry& tensor_entry = checked_entry(name, expected_shape);
  std::vector<uint16_t> values = shards_[locations_.find(name)->second.shard].read_bf16(tensor_entry);
  for (size_t i = 0; i < values.size(); ++i) {
    if ((values[i] & 0x7f80u) == 0x7f80u) {  // exponent all ones: infinity or NaN
      throw FormatError("tensor " + tensor_entry.name + " in " + tensor_entry.file +
                        " holds NaN or infinity (element " + std::to_string(i) + ")" +
                        (tensor_entry.dtype == DType::BF16 ? "" : " once rounded to bf16"));
    }
  }
  loaded_.emplace(name);
  return values;
}

std::vector<uint16_t> WeightStore::load_half_bits(std::string_view name,
                                                  const std::vector<int64_t>& expected_shape) const {
  const TensorEntry& tensor_entry = checked_entry(name, expected_shape);
  if (tensor_entry.dtype != DType::F16 && tensor_entry.dtype != DType::BF16) {
    throw FormatError("tensor " + tensor_entry.name + " in " + tensor_entry.file + " is " +
                      dtype_name(tensor_entry.dtype) + ", expected F16 or BF16");
  }
  check_finite(name);
  std::vector<uint16_t> values = shards_[locations_.find(name)->second.shard].read_half_bits(tensor_entry);
  loaded_.emplace(name);
  return values;
}

void WeightStore::check_finite(std::string_view name) const {
  const TensorEntry& tensor_entry = entry(name);
  const std::optional<uint64_t> bad =
      shards_[locations_.find(name)->second.shard].first_non_finite(tensor_entry);
  if (bad) {
    throw FormatError("tensor " + tensor_entry.name + " in " + tensor_entry.file +
                      " holds NaN or infinity (element " + std::to_string(*bad) + ")");
  }
}

std::vector<std::string> WeightStore::unloaded_names() const {
  std::vector<std::string> result;
  for (const auto& [name, location] : locations_) {
    if (!loaded_.count(name)) result.push_back(name);
  }
  return result;
}

std::string WeightStore::dtype_summary() const {
  bool present[4] = {false, false, false, false};
  for (const auto& [name, location] : locations_) {
    present[static_cast<int>(shards_[location.shard].entries()[location.entry].dtype)] = true;
  }
  std::string summary;
  for (DType dtype : {DType::F32, DType::F16, DType::BF16, DType::I8}) {
    if (!present[static_cast<int>(dtype)]) continue;
    if (!summary.empty()) summary += "+";
    summary += dtype_name(dtype);
  }
  return summary.empty() ? "none" : summary;
}

int64_t WeightStore::parameter_count() const {
  // Cannot overflow: every tensor was validated to fit inside a mapped file.
  // The scales of an int8 weight (NAME_scale beside an I8 NAME) are not parameters of the model.
  int64_t count = 0;
  for (const auto& [name, location] : locations_) {
    if (name.ends_with("_scale")) {
      const auto weight = locations_.find(std::string_view(name).substr(0, name.size() - 6));
      if (weight != locations_.end() &&
          shards_[weight->second.shard].entries()[weight->second.entry].dtype == DType::I8) {
        continue;
      }
    }
    count += shape_numel(shards_[location.shard].entries()[location.entry].shape);
  }
  return count;
}

}  // namespace latte
