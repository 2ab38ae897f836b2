// The element types latte reads from and writes to safetensors files, and the
// bit-exact conversions between them and float32 (loading always yields F32).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace latte {

// On-disk dtypes latte supports: float weights, and I8 for the weights of linear layers in a
// quantized folder (`latte quantize`: int8 values beside per-output-channel F32 scales). Other
// integer dtypes and F64 are rejected.
enum class DType { F32, F16, BF16, I8 };

// Safetensors spelling: "F32", "F16", "BF16", "I8".
std::string dtype_name(DType dtype);
// Inverse of dtype_name; nullopt for any other name (including the format's integer dtypes).
std::optional<DType> parse_dtype(std::string_view name);
// Bytes per element: 4, 2 or 1.
uint64_t dtype_size(DType dtype);

// IEEE binary16 and bfloat16 <-> float32. Narrowing rounds to nearest, ties to even, overflows
// to infinity, keeps subnormals, and keeps NaN a (quiet) NaN of the same sign.
float half_to_float(uint16_t bits);
float bfloat16_to_float(uint16_t bits);
uint16_t float_to_half(float value);
uint16_t float_to_bfloat16(float value);

}  // namespace latte
