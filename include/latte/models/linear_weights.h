// The weights of linear layers as a model folder stores them, and the Linear built from them in
// the precision asked for. A folder stores a weight as floats (F32, F16, BF16), or, once
// `latte quantize` has written it, as I8 values beside an F32 scale per output channel:
//   NAME        I8  [out, in] (GPT-2's Conv1D: [in, out], its layout on disk)
//   NAME_scale  F32 [out]     W[o, i] = scale[o] * value[o, i]
// Either loads at any precision: floats are quantized at load for int8, int8 weights are
// widened (exactly, value x scale) for f32 and bf16.
#pragma once

#include <cstdint>
#include <filesystem>
#include <ostream>
#include <string>
#include <vector>

#include "latte/core/linear.h"
#include "latte/core/tensor.h"
#include "latte/io/safetensors.h"

namespace latte {

// "X.weight" -> "X.weight_scale".
std::string scale_name(const std::string& weight_name);

// One stored weight: `name` holds [out, in], or [in, out] when `transposed` (Conv1D).
struct StoredWeight {
  std::string name;
  int64_t out = 0, in = 0;
  bool transposed = false;
};

// The weight per output channel in int8: read from I8 values and their scales (FormatError
// naming the tensor for a missing scale, a wrong shape, or a scale that is not finite and > 0),
// or quantized from floats (quantize_int8).
Int8Weight load_int8_weight(const WeightStore& store, const StoredWeight& weight);
// The weight as floats [out, in]: read (and transposed), or widened from I8 values and scales.
Tensor load_float_weight(const WeightStore& store, const StoredWeight& weight);

// Rows of several int8 weights stacked, as concatenate_rows does for floats: per-output-channel
// scales make the stack of separately quantized parts equal the quantized stack.
Int8Weight concatenate_rows(const std::vector<Int8Weight>& parts);

// A Linear over `parts` stacked by output rows (BERT's query, key and value as one product),
// computing in `precision`.
Linear load_linear(const WeightStore& store, const std::vector<StoredWeight>& parts, const Tensor& bias,
                   Activation activation, bool accumulate, Precision precision);

// Writes `source`'s model folder to `destination` with the given linear weights in int8 (I8 +
// scales) and every other tensor as it was (same dtype). The other files of the folder
// (config.json, tokenizer files, latte.json) are copied. Every write is atomic; `destination`
// must not be `source`. Weights already in int8 are copied unchanged, so quantizing a quantized
// folder gives the same file.
void write_quantized_folder(const std::filesystem::path& source, const std::filesystem::path& destination,
                            const WeightStore& store, const std::vector<StoredWeight>& linear_weights);

}  // namespace latte
