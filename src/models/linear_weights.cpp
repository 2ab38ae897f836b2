#include "latte/models/linear_weights.h"

#include <algorithm>
#include <cmath>
#include <span>

#include "latte/core/error.h"
#include "latte/io/atomic_file.h"
#include "latte/io/read_file.h"
#include "latte/layers/transformer_block.h"

namespace latte {

namespace {

// [a, b] values -> [b, a].
template <typename Value>
std::vector<Value> transposed_values(const std::vector<Value>& values, int64_t rows, int64_t columns) {
  std::vector<Value> result(values.size());
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t c = 0; c < columns; ++c) result[c * rows + r] = values[r * columns + c];
  }
  return result;
}

std::vector<int64_t> stored_shape(const StoredWeight& weight) {
  return weight.transposed ? std::vector<int64_t>{weight.in, weight.out}
                           : std::vector<int64_t>{weight.out, weight.in};
}

bool stored_as_int8(const WeightStore& store, const std::string& name) {
  return store.contains(name) && store.entry(name).dtype == DType::I8;
}

// A stored int8 weight: its values in [out, in] and its checked scales.
Int8Weight read_int8_weight(const WeightStore& store, const StoredWeight& weight) {
  const std::string scales_name = scale_name(weight.name);
  if (!store.contains(scales_name)) {
    throw FormatError("tensor " + weight.name + " in " + store.entry(weight.name).file + " is I8 but " +
                      scales_name + " (its F32 scales, one per output channel) is missing");
  }
  Int8Weight result;
  result.out_features = weight.out;
  result.in_features = weight.in;
  result.values = store.load_i8(weight.name, stored_shape(weight));
  if (weight.transposed) result.values = transposed_values(result.values, weight.in, weight.out);
  const Tensor scales = store.load(scales_name, {weight.out});  // also checks finite
  for (int64_t o = 0; o < weight.out; ++o) {
    if (!(scales.data()[o] > 0.0f)) {
      throw FormatError("tensor " + scales_name + " in " + store.entry(scales_name).file + " has scale " +
                        std::to_string(scales.data()[o]) + " at " + std::to_string(o) +
                        "; scales must be > 0");
    }
  }
  for (const int8_t value : result.values) {
    if (value == -128) {
      throw FormatError("tensor " + weight.name + " in " + store.entry(weight.name).file +
                        " holds -128; int8 weights are symmetric, in [-127, 127]");
    }
  }
  result.scales.assign(scales.data(), scales.data() + weight.out);
  return result;
}

// A float weight as bf16 bits in [out, in], never widened to f32.
Bf16Weight load_bf16_weight(const WeightStore& store, const StoredWeight& weight) {
  Bf16Weight result;
  result.out_features = weight.out;
  result.in_features = weight.in;
  result.values = store.load_bf16(weight.name, stored_shape(weight));
  if (weight.transposed) result.values = transposed_values(result.values, weight.in, weight.out);
  return result;
}

}  // namespace

std::string scale_name(const std::string& weight_name) { return weight_name + "_scale"; }

Int8Weight load_int8_weight(const WeightStore& store, const StoredWeight& weight) {
  if (stored_as_int8(store, weight.name)) return read_int8_weight(store, weight);
  // A BF16 weight is quantized from its bits (the same result, without a float copy).
  if (store.entry(weight.name).dtype == DType::BF16) return quantize_int8(load_bf16_weight(store, weight));
  return quantize_int8(load_float_weight(store, weight));
}

Tensor load_float_weight(const WeightStore& store, const StoredWeight& weight) {
  if (!stored_as_int8(store, weight.name)) {
    const Tensor stored = store.load(weight.name, stored_shape(weight));
    return weight.transposed ? transposed(stored) : stored;
  }
  const Int8Weight quantized = read_int8_weight(store, weight);
  Tensor result({weight.out, weight.in});
  for (int64_t o = 0; o < weight.out; ++o) {
    for (int64_t i = 0; i < weight.in; ++i) {
      result.data()[o * weight.in + i] =
          quantized.scales[o] * static_cast<float>(quantized.values[o * weight.in + i]);
    }
  }
  return result;
}

Int8Weight concatenate_rows(const std::vector<Int8Weight>& parts) {
  if (parts.empty()) throw InputError("concatenate_rows: no parts");
  Int8Weight result;
  result.in_features = parts.front().in_features;
  for (const Int8Weight& part : parts) {
    if (part.in_features != result.in_features) {
      throw InputError("concatenate_rows: parts have " + std::to_string(part.in_features) + " and " +
                       std::to_string(result.in_features) + " columns");
    }
    result.out_features += part.out_features;
    result.values.insert(result.values.end(), part.values.begin(), part.values.end());
    result.scales.insert(result.scales.end(), part.scales.begin(), part.scales.end());
  }
  return result;
}

Linear load_linear(const WeightStore& store, const std::vector<StoredWeight>& parts, const Tensor& bias,
                   Activation activation, bool accumulate, Precision precision) {
  if (precision == Precision::kInt8) {
    std::vector<Int8Weight> weights;
    for (const StoredWeight& part : parts) weights.push_back(load_int8_weight(store, part));
    return Linear(weights.size() == 1 ? std::move(weights.front()) : concatenate_rows(weights), bias,
                  activation, accumulate);
  }
  const bool any_int8 = std::any_of(
      parts.begin(), parts.end(), [&](const StoredWeight& part) { return stored_as_int8(store, part.name); });
  if (precision == Precision::kBf16 && !any_int8) {
    // Rounded to bf16 as stored or as read: only the bf16 values (and oneDNN's copy) are made.
    Bf16Weight weight;
    for (const StoredWeight& part : parts) {
      Bf16Weight loaded = load_bf16_weight(store, part);
      if (parts.size() == 1) {
        weight = std::move(loaded);
        break;
      }
      if (weight.out_features > 0 && loaded.in_features != weight.in_features) {
        throw InputError("load_linear: parts have " + std::to_string(loaded.in_features) + " and " +
                         std::to_string(weight.in_features) + " columns");
      }
      weight.in_features = loaded.in_features;
      weight.out_features += loaded.out_features;
      weight.values.insert(weight.values.end(), loaded.values.begin(), loaded.values.end());
    }
    return Linear(std::move(weight), bias, activation, accumulate, precision);
  }
  std::vector<Tensor> weights;
  for (const StoredWeight& part : parts) weights.push_back(load_float_weight(store, part));
  return Linear(weights.size() == 1 ? weights.front() : concatenate_rows(std::span<const Tensor>(weights)),
                bias, activation, accumulate, GemmPath::kAuto, precision);
}

void write_quantized_folder(const std::filesystem::path& source, const std::filesystem::path& destination,
                            const WeightStore& store, const std::vector<StoredWeight>& linear_weights) {
  namespace fs = std::filesystem;
  std::error_code error;
  if (fs::equivalent(source, destination, error)) {
    throw InputError("the quantized folder must not be the source folder " + source.string());
  }
  // Weights first (the expensive part), so a failure leaves no half-copied folder behind.
  std::vector<std::string> quantized_names;
  std::vector<Int8Weight> quantized;
  std::vector<TensorToWrite> tensors;
  for (const StoredWeight& weight : linear_weights) {
    quantized.push_back(load_int8_weight(store, weight));
    quantized_names.push_back(weight.name);
  }
  std::vector<std::vector<int8_t>> on_disk;  // Conv1D values back in [in, out]
  for (size_t w = 0; w < linear_weights.size(); ++w) {
    const StoredWeight& weight = linear_weights[w];
    on_disk.push_back(weight.transposed ? transposed_values(quantized[w].values, weight.out, weight.in)
                                        : quantized[w].values);
  }
  std::vector<Tensor> floats;
  std::vector<std::string> float_names;
  for (const std::string& name : store.names()) {
    const bool is_linear =
        std::find(quantized_names.begin(), quantized_names.end(), name) != quantized_names.end();
    const bool is_scale =
        std::find_if(quantized_names.begin(), quantized_names.end(),
                     [&](const std::string& w) { return scale_name(w) == name; }) != quantized_names.end();
    if (is_linear || is_scale) continue;
    floats.push_back(store.load(name, store.entry(name).shape));
    float_names.push_back(name);
  }
  for (size_t w = 0; w < linear_weights.size(); ++w) {
    const StoredWeight& weight = linear_weights[w];
    tensors.push_back(
        TensorToWrite{weight.name, stored_shape(weight), DType::I8, nullptr, on_disk[w].data()});
    tensors.push_back(TensorToWrite{
        scale_name(weight.name), {weight.out}, DType::F32, quantized[w].scales.data(), nullptr});
  }
  for (size_t t = 0; t < floats.size(); ++t) {
    tensors.push_back(TensorToWrite{float_names[t], floats[t].shape(), store.entry(float_names[t]).dtype,
                                    floats[t].data(), nullptr});
  }

  // A sharded source becomes one file; a stale index beside it would point at missing shards.
  if (fs::exists(fs::symlink_status(destination / "model.safetensors.index.json"))) {
    throw InputError(destination.string() + " holds model.safetensors.index.json; write to an empty folder");
  }
  fs::create_directories(destination);
  for (const fs::directory_entry& entry : fs::directory_iterator(source)) {
    const std::string name = entry.path().filename().string();
    if (!entry.is_regular_file() || name.ends_with(".safetensors") ||
        name == "model.safetensors.index.json" || name.starts_with(".")) {
      continue;
    }
    write_file_atomic(destination / name, read_file_bytes(entry.path()));
  }
  write_safetensors(
      destination / "model.safetensors", tensors,
      {{"format", "pt"},
       {"latte_quantization", "int8 symmetric per output channel; NAME I8, NAME_scale F32 [out]"}});
}

}  // namespace latte
