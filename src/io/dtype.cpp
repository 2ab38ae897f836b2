#include "latte/io/dtype.h"

#include <bit>

namespace latte {

std::string dtype_name(DType dtype) {
  switch (dtype) {
    case DType::F32:
      return "F32";
    case DType::F16:
      return "F16";
    case DType::BF16:
      return "BF16";
    case DType::I8:
      return "I8";
  }
  return "?";
}

std::optional<DType> parse_dtype(std::string_view name) {
  if (name == "F32") return DType::F32;
  if (name == "F16") return DType::F16;
  if (name == "BF16") return DType::BF16;
  if (name == "I8") return DType::I8;
  return std::nullopt;
}

uint64_t dtype_size(DType dtype) {
  switch (dtype) {
    case DType::F32:
      return 4;
    case DType::F16:
    case DType::BF16:
      return 2;
    case DType::I8:
      return 1;
  }
  return 4;
}

float half_to_float(uint16_t bits) {
  const uint32_t sign = static_cast<uint32_t>(bits & 0x8000u) << 16;
  const uint32_t exponent = (bits >> 10) & 0x1fu;
  uint32_t mantissa = bits & 0x3ffu;
  if (exponent == 0x1f) return std::bit_cast<float>(sign | 0x7f800000u | (mantissa << 13));
  if (exponent != 0) return std::bit_cast<float>(sign | ((exponent + 112) << 23) | (mantissa << 13));
  if (mantissa == 0) return std::bit_cast<float>(sign);
  // Subnormal half: every one is a normal float, so shift the leading 1 into the implicit bit.
  uint32_t float_exponent = 113;
  while ((mantissa & 0x400u) == 0) {
    mantissa <<= 1;
    --float_exponent;
  }
  return std::bit_cast<float>(sign | (float_exponent << 23) | ((mantissa & 0x3ffu) << 13));
}

float bfloat16_to_float(uint16_t bits) { return std::bit_cast<float>(static_cast<uint32_t>(bits) << 16); }

namespace {

// Drops the low `shift` bits of `value`, rounding to nearest with ties to even.
uint32_t shift_right_round_even(uint32_t value, uint32_t shift) {
  const uint32_t kept = value >> shift;
  const uint32_t remainder = value & ((1u << shift) - 1);
  const uint32_t halfway = 1u << (shift - 1);
  return kept + ((remainder > halfway || (remainder == halfway && (kept & 1u))) ? 1u : 0u);
}

}  // namespace

uint16_t float_to_half(float value) {
  const uint32_t bits = std::bit_cast<uint32_t>(value);
  const uint32_t sign = (bits >> 16) & 0x8000u;
  const uint32_t magnitude = bits & 0x7fffffffu;
  const uint32_t exponent = magnitude >> 23;
  const uint32_t mantissa = magnitude & 0x7fffffu;
  if (exponent == 0xff) {
    // Setting the quiet bit keeps a NaN whose payload sits only in the dropped low bits a NaN.
    if (mantissa != 0) return static_cast<uint16_t>(sign | 0x7e00u | (mantissa >> 13));
    return static_cast<uint16_t>(sign | 0x7c00u);
  }
  if (exponent > 142) return static_cast<uint16_t>(sign | 0x7c00u);  // >= 2^16: beyond the half range
  if (exponent >= 113) {
    // Normal half. A rounding carry out of the mantissa correctly bumps the exponent, up to inf.
    const uint32_t unrounded = ((exponent - 112) << 23) | mantissa;
    return static_cast<uint16_t>(sign | shift_right_round_even(unrounded, 13));
  }
  // Below 2^-14: subnormal half in units of 2^-24, value = (1.mantissa) * 2^(exponent - 127).
  if (exponent < 102) return static_cast<uint16_t>(sign);  // < 2^-25 rounds to zero
  const uint32_t significand = mantissa | 0x800000u;
  return static_cast<uint16_t>(sign | shift_right_round_even(significand, 126 - exponent));
}

uint16_t float_to_bfloat16(float value) {
  const uint32_t bits = std::bit_cast<uint32_t>(value);
  if ((bits & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((bits >> 16) | 0x0040u);  // quiet NaN
  // Top half of the float rounded to nearest even; a carry into the exponent is correct (up to inf).
  return static_cast<uint16_t>(shift_right_round_even(bits, 16));
}

}  // namespace latte
