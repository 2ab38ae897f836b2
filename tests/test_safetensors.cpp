#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <bit>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <limits>
#include <random>
#include <sstream>
#include <string>

#include "latte/core/error.h"
#include "latte/core/tensor.h"
#include "latte/io/dtype.h"
#include "latte/io/json_file.h"
#include "latte/io/safetensors.h"
#include "test_support.h"

namespace latte {
namespace {

namespace fs = std::filesystem;
using test_support::TempDir;

void write_bytes(const fs::path& path, const std::string& bytes) {
  std::ofstream stream(path, std::ios::binary);
  stream.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  ASSERT_TRUE(stream.good()) << path;
}

std::string read_bytes(const fs::path& path) {
  std::ifstream stream(path, std::ios::binary);
  std::ostringstream contents;
  contents << stream.rdbuf();
  return contents.str();
}

std::string u64_le(uint64_t value) {
  std::string bytes(8, '\0');
  for (int i = 0; i < 8; ++i) bytes[static_cast<size_t>(i)] = static_cast<char>((value >> (8 * i)) & 0xff);
  return bytes;
}

// A file laid out as the spec says: u64 LE header length, header, data.
std::string safetensors_bytes(const std::string& header, const std::string& data) {
  return u64_le(header.size()) + header + data;
}

std::string f32_bytes(std::initializer_list<float> values) {
  std::string bytes;
  for (float value : values) {
    const uint32_t bits = std::bit_cast<uint32_t>(value);
    for (int i = 0; i < 4; ++i) bytes.push_back(static_cast<char>((bits >> (8 * i)) & 0xff));
  }
  return bytes;
}

std::string u16_bytes(std::initializer_list<uint16_t> values) {
  std::string bytes;
  for (uint16_t bits : values) {
    bytes.push_back(static_cast<char>(bits & 0xff));
    bytes.push_back(static_cast<char>(bits >> 8));
  }
  return bytes;
}

// Runs `action`, which must throw FormatError, and returns its message.
std::string format_error_of(const std::function<void()>& action) {
  try {
    action();
  } catch (const FormatError& error) {
    return error.what();
  } catch (const std::exception& error) {
    ADD_FAILURE() << "expected FormatError, got another exception: " << error.what();
    return "";
  }
  ADD_FAILURE() << "expected FormatError, nothing was thrown";
  return "";
}

// Writes a one-tensor file named bad.safetensors with the given header and data and returns
// the FormatError message of opening it.
std::string open_error(const TempDir& dir, const std::string& header, const std::string& data) {
  const fs::path path = dir / "bad.safetensors";
  write_bytes(path, safetensors_bytes(header, data));
  return format_error_of([&] { SafetensorsFile::open(path); });
}

Tensor make_tensor(std::vector<int64_t> shape, std::initializer_list<float> values) {
  Tensor tensor(std::move(shape));
  EXPECT_EQ(static_cast<size_t>(tensor.numel()), values.size());
  std::copy(values.begin(), values.end(), tensor.data());
  return tensor;
}

Tensor random_tensor(std::vector<int64_t> shape, uint32_t seed) {
  Tensor tensor(std::move(shape));
  std::mt19937 generator(seed);
  std::normal_distribution<float> normal(0.0f, 3.0f);
  for (int64_t i = 0; i < tensor.numel(); ++i) tensor.data()[i] = normal(generator);
  return tensor;
}

// ---- dtype conversions: known bit patterns ----

TEST(SafetensorsDType, NamesAndSizes) {
  EXPECT_EQ(dtype_name(DType::F32), "F32");
  EXPECT_EQ(dtype_name(DType::F16), "F16");
  EXPECT_EQ(dtype_name(DType::BF16), "BF16");
  EXPECT_EQ(parse_dtype("BF16"), DType::BF16);
  EXPECT_EQ(parse_dtype("I64"), std::nullopt);
  EXPECT_EQ(dtype_size(DType::F32), 4u);
  EXPECT_EQ(dtype_size(DType::F16), 2u);
}

TEST(SafetensorsDType, FloatToHalfKnownBits) {
  EXPECT_EQ(float_to_half(0.0f), 0x0000);
  EXPECT_EQ(float_to_half(-0.0f), 0x8000);
  EXPECT_EQ(float_to_half(1.0f), 0x3c00);
  EXPECT_EQ(float_to_half(-2.0f), 0xc000);
  EXPECT_EQ(float_to_half(0.1f), 0x2e66);
  EXPECT_EQ(float_to_half(65504.0f), 0x7bff);  // largest finite half
  EXPECT_EQ(float_to_half(65519.0f), 0x7bff);  // below the midpoint to 2^16
  EXPECT_EQ(float_to_half(65520.0f), 0x7c00);  // the midpoint rounds (to even) to infinity
  EXPECT_EQ(float_to_half(1e10f), 0x7c00);
  EXPECT_EQ(float_to_half(-1e10f), 0xfc00);
  EXPECT_EQ(float_to_half(std::numeric_limits<float>::infinity()), 0x7c00);
  EXPECT_EQ(float_to_half(-std::numeric_limits<float>::infinity()), 0xfc00);
  // Ties to even: 1 + 2^-11 is halfway between 1 and 1 + 2^-10.
  EXPECT_EQ(float_to_half(1.0f + std::ldexp(1.0f, -11)), 0x3c00);
  EXPECT_EQ(float_to_half(1.0f + 3 * std::ldexp(1.0f, -11)), 0x3c02);
  EXPECT_EQ(float_to_half(1.0f + std::ldexp(1.0f, -11) + std::ldexp(1.0f, -20)), 0x3c01);
  // Subnormals: units of 2^-24.
  EXPECT_EQ(float_to_half(std::ldexp(1.0f, -14)), 0x0400);  // smallest normal
  EXPECT_EQ(float_to_half(std::ldexp(1023.0f, -24)), 0x03ff);
  EXPECT_EQ(float_to_half(std::ldexp(1.0f, -24)), 0x0001);
  EXPECT_EQ(float_to_half(std::ldexp(1.0f, -25)), 0x0000);  // tie, rounds to even zero
  EXPECT_EQ(float_to_half(std::ldexp(3.0f, -26)), 0x0001);  // 0.75 units
  EXPECT_EQ(float_to_half(std::ldexp(3.0f, -25)), 0x0002);  // 1.5 units, tie to even 2
  EXPECT_EQ(float_to_half(std::ldexp(5.0f, -25)), 0x0002);  // 2.5 units, tie to even 2
  EXPECT_EQ(float_to_half(-std::ldexp(1.0f, -24)), 0x8001);
  EXPECT_EQ(float_to_half(std::ldexp(1.0f, -30)), 0x0000);
  EXPECT_EQ(float_to_half(std::ldexp(2047.0f, -25)), 0x0400);  // rounds up into the normal range
  EXPECT_EQ(float_to_half(std::numeric_limits<float>::denorm_min()), 0x0000);
  // NaN stays NaN, even one whose payload is only in bits that half drops.
  const uint16_t quiet = float_to_half(std::numeric_limits<float>::quiet_NaN());
  EXPECT_EQ(quiet & 0x7c00, 0x7c00);
  EXPECT_NE(quiet & 0x03ff, 0);
  const uint16_t low_payload = float_to_half(std::bit_cast<float>(0x7f800001u));
  EXPECT_EQ(low_payload & 0x7c00, 0x7c00);
  EXPECT_NE(low_payload & 0x03ff, 0);
  EXPECT_EQ(float_to_half(std::bit_cast<float>(0xffc00000u)) & 0x8000, 0x8000);
}

TEST(SafetensorsDType, HalfToFloatKnownBits) {
  EXPECT_EQ(half_to_float(0x3c00), 1.0f);
  EXPECT_EQ(half_to_float(0xc000), -2.0f);
  EXPECT_EQ(half_to_float(0x3555), 0.333251953125f);
  EXPECT_EQ(half_to_float(0x7bff), 65504.0f);
  EXPECT_EQ(half_to_float(0x0400), std::ldexp(1.0f, -14));
  EXPECT_EQ(half_to_float(0x0001), std::ldexp(1.0f, -24));
  EXPECT_EQ(half_to_float(0x03ff), std::ldexp(1023.0f, -24));
  EXPECT_EQ(half_to_float(0x8001), -std::ldexp(1.0f, -24));
  EXPECT_EQ(half_to_float(0x0200), std::ldexp(1.0f, -15));
  EXPECT_EQ(half_to_float(0x7c00), std::numeric_limits<float>::infinity());
  EXPECT_EQ(half_to_float(0xfc00), -std::numeric_limits<float>::infinity());
  EXPECT_TRUE(std::isnan(half_to_float(0x7e00)));
  EXPECT_TRUE(std::isnan(half_to_float(0x7c01)));
  EXPECT_EQ(half_to_float(0x0000), 0.0f);
  EXPECT_TRUE(std::signbit(half_to_float(0x8000)));
}

TEST(SafetensorsDType, EveryFiniteHalfRoundTrips) {
  for (uint32_t bits = 0; bits <= 0xffff; ++bits) {
    const uint16_t half = static_cast<uint16_t>(bits);
    const float value = half_to_float(half);
    if (std::isnan(value)) {
      EXPECT_TRUE(std::isnan(half_to_float(float_to_half(value)))) << std::hex << bits;
    } else {
      EXPECT_EQ(float_to_half(value), half) << std::hex << bits;
    }
  }
}

TEST(SafetensorsDType, BFloat16KnownBits) {
  EXPECT_EQ(float_to_bfloat16(1.0f), 0x3f80);
  EXPECT_EQ(float_to_bfloat16(-2.0f), 0xc000);
  EXPECT_EQ(float_to_bfloat16(0.0f), 0x0000);
  EXPECT_EQ(float_to_bfloat16(-0.0f), 0x8000);
  EXPECT_EQ(float_to_bfloat16(std::numeric_limits<float>::infinity()), 0x7f80);
  EXPECT_EQ(float_to_bfloat16(-std::numeric_limits<float>::infinity()), 0xff80);
  // Ties to even: 1 + 2^-8 is halfway between 1 and 1 + 2^-7.
  EXPECT_EQ(float_to_bfloat16(1.0f + std::ldexp(1.0f, -8)), 0x3f80);
  EXPECT_EQ(float_to_bfloat16(1.0f + 3 * std::ldexp(1.0f, -8)), 0x3f82);
  EXPECT_EQ(float_to_bfloat16(1.0f + std::ldexp(1.0f, -8) + std::ldexp(1.0f, -20)), 0x3f81);
  EXPECT_EQ(float_to_bfloat16(std::numeric_limits<float>::max()), 0x7f80);  // rounds up to infinity
  EXPECT_EQ(float_to_bfloat16(std::bit_cast<float>(0x7f7f7fffu)), 0x7f7f);
  // Subnormal floats keep their top bits, with the same rounding.
  EXPECT_EQ(float_to_bfloat16(std::bit_cast<float>(0x00018000u)), 0x0002);
  EXPECT_EQ(float_to_bfloat16(std::bit_cast<float>(0x00008000u)), 0x0000);
  EXPECT_EQ(float_to_bfloat16(std::bit_cast<float>(0x00010000u)), 0x0001);
  // NaN stays NaN, including a payload only in the low 16 bits.
  const uint16_t low_payload = float_to_bfloat16(std::bit_cast<float>(0x7f800001u));
  EXPECT_EQ(low_payload & 0x7f80, 0x7f80);
  EXPECT_NE(low_payload & 0x007f, 0);
  EXPECT_EQ(float_to_bfloat16(std::bit_cast<float>(0xffffffffu)) & 0x8000, 0x8000);

  EXPECT_EQ(bfloat16_to_float(0x3f80), 1.0f);
  EXPECT_EQ(bfloat16_to_float(0x4049), 3.140625f);
  EXPECT_EQ(bfloat16_to_float(0x0001), std::bit_cast<float>(0x00010000u));
  EXPECT_EQ(bfloat16_to_float(0xff80), -std::numeric_limits<float>::infinity());
  EXPECT_TRUE(std::isnan(bfloat16_to_float(0x7fc0)));
}

// ---- round trips through write_safetensors and SafetensorsFile ----

TEST(SafetensorsRoundTrip, F32IsExact) {
  TempDir dir;
  const Tensor matrix = random_tensor({3, 5}, 1);
  const Tensor special = make_tensor({4}, {std::numeric_limits<float>::infinity(), -0.0f,
                                           std::numeric_limits<float>::denorm_min(), 3.4e38f});
  const Tensor scalar = make_tensor({}, {42.5f});
  write_safetensors(dir / "model.safetensors", {{"matrix", matrix}, {"special", special}, {"scalar", scalar}},
                    DType::F32, {{"format", "pt"}});
  EXPECT_FALSE(fs::exists(dir / "model.safetensors.tmp"));

  const SafetensorsFile file = SafetensorsFile::open(dir / "model.safetensors");
  ASSERT_EQ(file.entries().size(), 3u);
  EXPECT_EQ(file.entries()[0].name, "matrix");  // sorted by name
  EXPECT_EQ(file.metadata().at("format"), "pt");
  EXPECT_EQ(file.find("nope"), nullptr);
  for (const auto& [name, original] : std::vector<std::pair<std::string, Tensor>>{
           {"matrix", matrix}, {"special", special}, {"scalar", scalar}}) {
    const TensorEntry* entry = file.find(name);
    ASSERT_NE(entry, nullptr) << name;
    EXPECT_EQ(entry->dtype, DType::F32);
    EXPECT_EQ(entry->shape, original.shape());
    EXPECT_EQ(entry->file, (dir / "model.safetensors").string());
    const Tensor loaded = file.read_f32(*entry);
    ASSERT_EQ(loaded.shape(), original.shape());
    EXPECT_EQ(
        std::memcmp(loaded.data(), original.data(), sizeof(float) * static_cast<size_t>(original.numel())), 0)
        << name;
  }
}

TEST(SafetensorsRoundTrip, F16WithinPrecision) {
  TempDir dir;
  const Tensor original = random_tensor({7, 9}, 2);
  write_safetensors(dir / "half.safetensors", {{"weight", original}}, DType::F16);
  const SafetensorsFile file = SafetensorsFile::open(dir / "half.safetensors");
  EXPECT_TRUE(file.metadata().empty());
  const TensorEntry& entry = *file.find("weight");
  EXPECT_EQ(entry.dtype, DType::F16);
  EXPECT_EQ(entry.end - entry.begin, 7u * 9u * 2u);
  const Tensor loaded = file.read_f32(entry);
  for (int64_t i = 0; i < original.numel(); ++i) {
    const float value = original.data()[i];
    EXPECT_EQ(loaded.data()[i], half_to_float(float_to_half(value)));
    EXPECT_LE(std::fabs(loaded.data()[i] - value),
              std::fabs(value) * std::ldexp(1.0f, -11) + std::ldexp(1.0f, -25));
  }
}

TEST(SafetensorsRoundTrip, BF16WithinPrecision) {
  TempDir dir;
  const Tensor original = random_tensor({64}, 3);
  write_safetensors(dir / "bf16.safetensors", {{"weight", original}}, DType::BF16);
  const SafetensorsFile file = SafetensorsFile::open(dir / "bf16.safetensors");
  const TensorEntry& entry = *file.find("weight");
  EXPECT_EQ(entry.dtype, DType::BF16);
  const Tensor loaded = file.read_f32(entry);
  for (int64_t i = 0; i < original.numel(); ++i) {
    const float value = original.data()[i];
    EXPECT_EQ(loaded.data()[i], bfloat16_to_float(float_to_bfloat16(value)));
    EXPECT_LE(std::fabs(loaded.data()[i] - value), std::fabs(value) * std::ldexp(1.0f, -8));
  }
}

TEST(SafetensorsRoundTrip, EmptyTensorsAndEmptyFile) {
  TempDir dir;
  write_safetensors(dir / "empty.safetensors", {{"none", Tensor({0, 4})}, {"one", make_tensor({1}, {2.0f})}},
                    DType::F16);
  const SafetensorsFile file = SafetensorsFile::open(dir / "empty.safetensors");
  const Tensor none = file.read_f32(*file.find("none"));
  EXPECT_EQ(none.shape(), (std::vector<int64_t>{0, 4}));
  EXPECT_EQ(none.numel(), 0);
  EXPECT_EQ(file.read_f32(*file.find("one")).data()[0], 2.0f);

  write_safetensors(dir / "nothing.safetensors", {}, DType::F32);
  EXPECT_TRUE(SafetensorsFile::open(dir / "nothing.safetensors").entries().empty());
}

TEST(SafetensorsRoundTrip, OverwritesAndMoves) {
  TempDir dir;
  write_safetensors(dir / "m.safetensors", {{"a", make_tensor({1}, {1.0f})}}, DType::F32);
  write_safetensors(dir / "m.safetensors", {{"b", make_tensor({1}, {2.0f})}}, DType::F32);
  SafetensorsFile file = SafetensorsFile::open(dir / "m.safetensors");
  EXPECT_EQ(file.find("a"), nullptr);
  SafetensorsFile moved = std::move(file);
  EXPECT_EQ(moved.read_f32(*moved.find("b")).data()[0], 2.0f);
  file = std::move(moved);  // move-assign back into the emptied object
  EXPECT_EQ(file.read_f32(*file.find("b")).data()[0], 2.0f);
}

// A file replaced by rename leaves an open reader on the file it opened; one truncated or
// rewritten in place is an error naming it before the next tensor is copied, never a crash.
TEST(SafetensorsRoundTrip, AFileChangedWhileReadIsAnErrorAndAReplacedOneIsNot) {
  TempDir dir;
  const fs::path path = dir / "m.safetensors";
  const Tensor matrix = random_tensor({64, 64}, 2);
  write_safetensors(path, {{"a", matrix}, {"b", matrix}}, DType::F32);
  {
    const SafetensorsFile file = SafetensorsFile::open(path);
    write_safetensors(path, {{"c", make_tensor({1}, {5.0f})}}, DType::F32);  // a new file renamed over it
    const Tensor b = file.read_f32(*file.find("b"));
    EXPECT_EQ(std::memcmp(b.data(), matrix.data(), sizeof(float) * 64 * 64), 0);
  }
  write_safetensors(path, {{"a", matrix}, {"b", matrix}}, DType::F32);
  {
    const SafetensorsFile file = SafetensorsFile::open(path);
    ASSERT_EQ(::truncate(path.c_str(), 100), 0);
    const std::string error = test_support::error_of([&] { file.read_f32(*file.find("b")); });
    EXPECT_CONTAINS(error, path.string() + " changed while it was read (");
    EXPECT_CONTAINS(error, " bytes when opened, 100 now");
  }
  write_safetensors(path, {{"a", matrix}, {"b", matrix}}, DType::F32);
  {
    const SafetensorsFile file = SafetensorsFile::open(path);
    // Same size, bytes rewritten in place: the modification time tells.
    const std::string bytes = read_bytes(path);
    struct timespec later[2] = {{0, UTIME_OMIT}, {0, 0}};
    ASSERT_EQ(::clock_gettime(CLOCK_REALTIME, &later[1]), 0);
    later[1].tv_sec += 10;
    {
      std::fstream in_place(path, std::ios::in | std::ios::out | std::ios::binary);
      in_place.seekp(static_cast<std::streamoff>(bytes.size() - 4));
      in_place.write("\x7f\xc0\x00\x00", 4);
    }
    ASSERT_EQ(::utimensat(AT_FDCWD, path.c_str(), later, 0), 0);
    EXPECT_CONTAINS(test_support::error_of([&] { file.read_f32(*file.find("b")); }), ", modified since)");
  }
}

TEST(SafetensorsWrite, RejectsBadTensorLists) {
  TempDir dir;
  const fs::path path = dir / "w.safetensors";
  const Tensor one = make_tensor({1}, {1.0f});
  EXPECT_THROW(write_safetensors(path, {{"x", one}, {"x", one}}, DType::F32), InputError);
  EXPECT_THROW(write_safetensors(path, {{"__metadata__", one}}, DType::F32), InputError);
  EXPECT_THROW(write_safetensors(path, {{"", one}}, DType::F32), InputError);
  EXPECT_THROW(write_safetensors(path, {{"x", Tensor()}}, DType::F32), InputError);
  EXPECT_THROW(write_safetensors(dir / "no_such_dir" / "w.safetensors", {{"x", one}}, DType::F32), Error);
  EXPECT_FALSE(fs::exists(path));
  EXPECT_FALSE(fs::exists(dir / "no_such_dir"));
}

TEST(SafetensorsWrite, RejectsReadingAForeignEntry) {
  TempDir dir;
  write_safetensors(dir / "m.safetensors", {{"a", make_tensor({1}, {1.0f})}}, DType::F32);
  const SafetensorsFile file = SafetensorsFile::open(dir / "m.safetensors");
  TensorEntry forged = *file.find("a");
  forged.shape = {1000};
  forged.end = 4000;
  EXPECT_THROW(file.read_f32(forged), InputError);
}

// ---- interop: bytes written exactly as the spec (and the Python library) lay them out ----

TEST(SafetensorsInterop, WritesTheReferenceLayout) {
  TempDir dir;
  write_safetensors(dir / "ref.safetensors",
                    {{"b", make_tensor({2}, {1.0f, 2.0f})}, {"a", make_tensor({2, 1}, {0.5f, 3.0f})}},
                    DType::F32, {{"format", "pt"}});
  // 141 bytes of JSON padded with 3 spaces to 144, so the data section is 8-byte aligned.
  const std::string header =
      R"({"__metadata__":{"format":"pt"},"a":{"dtype":"F32","shape":[2,1],"data_offsets":[0,8]},)"
      R"("b":{"dtype":"F32","shape":[2],"data_offsets":[8,16]}}   )";
  ASSERT_EQ(header.size(), 144u);
  EXPECT_EQ(read_bytes(dir / "ref.safetensors"),
            safetensors_bytes(header, f32_bytes({0.5f, 3.0f, 1.0f, 2.0f})));
}

TEST(SafetensorsInterop, ReadsAHandBuiltMixedDtypeFile) {
  TempDir dir;
  // What safetensors.torch.save_file writes for {"a": f32 [0.5, 3], "b": f16 [[1, -2]]}: F32 data
  // first (the library orders by dtype, then name), padded header.
  const std::string header =
      R"({"__metadata__":{"format":"pt"},"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
      R"("b":{"dtype":"F16","shape":[1,2],"data_offsets":[8,12]}}   )";
  const std::string data = f32_bytes({0.5f, 3.0f}) + u16_bytes({0x3c00, 0xc000});
  write_bytes(dir / "model.safetensors", safetensors_bytes(header, data));

  const SafetensorsFile file = SafetensorsFile::open(dir / "model.safetensors");
  const Tensor a = file.read_f32(*file.find("a"));
  EXPECT_EQ(a.shape(), (std::vector<int64_t>{2}));
  EXPECT_EQ(a.data()[0], 0.5f);
  EXPECT_EQ(a.data()[1], 3.0f);
  const Tensor b = file.read_f32(*file.find("b"));
  EXPECT_EQ(b.shape(), (std::vector<int64_t>{1, 2}));
  EXPECT_EQ(b.data()[0], 1.0f);
  EXPECT_EQ(b.data()[1], -2.0f);

  const WeightStore store = WeightStore::open(dir.path());
  EXPECT_EQ(store.dtype_summary(), "F32+F16");
  EXPECT_EQ(store.parameter_count(), 4);
}

TEST(SafetensorsInterop, AcceptsUnpaddedHeaderAndUnalignedData) {
  TempDir dir;
  // Other writers may skip the padding; data then starts at an odd offset.
  const std::string header = R"({"x":{"dtype":"BF16","shape":[2],"data_offsets":[0,4]}})";
  write_bytes(dir / "odd.safetensors", safetensors_bytes(header, u16_bytes({0x3f80, 0x4049})));
  const SafetensorsFile file = SafetensorsFile::open(dir / "odd.safetensors");
  const Tensor x = file.read_f32(*file.find("x"));
  EXPECT_EQ(x.data()[0], 1.0f);
  EXPECT_EQ(x.data()[1], 3.140625f);
}

// ---- malformed files: one test per check, each naming the file and the tensor ----

const std::string kGoodData = f32_bytes({1.0f, 2.0f});

TEST(SafetensorsMalformed, FileShorterThanEightBytes) {
  TempDir dir;
  write_bytes(dir / "bad.safetensors", "\x05\x00\x00");
  const std::string message = format_error_of([&] { SafetensorsFile::open(dir / "bad.safetensors"); });
  EXPECT_CONTAINS(message, "bad.safetensors");
  EXPECT_CONTAINS(message, "shorter than");
  write_bytes(dir / "bad.safetensors", "");
  EXPECT_CONTAINS(format_error_of([&] { SafetensorsFile::open(dir / "bad.safetensors"); }),
                  "bad.safetensors");
}

TEST(SafetensorsMalformed, MissingFileAndDirectory) {
  TempDir dir;
  EXPECT_CONTAINS(format_error_of([&] { SafetensorsFile::open(dir / "absent.safetensors"); }),
                  "absent.safetensors");
  fs::create_directory(dir / "folder.safetensors");
  EXPECT_CONTAINS(format_error_of([&] { SafetensorsFile::open(dir / "folder.safetensors"); }),
                  "folder.safetensors");
}

TEST(SafetensorsMalformed, HeaderLengthBeyondFile) {
  TempDir dir;
  const fs::path path = dir / "bad.safetensors";
  write_bytes(path, u64_le(64) + R"({"w":{}})");
  const std::string message = format_error_of([&] { SafetensorsFile::open(path); });
  EXPECT_CONTAINS(message, "bad.safetensors");
  EXPECT_CONTAINS(message, "beyond the end of the file");
}

TEST(SafetensorsMalformed, HeaderLengthAbsurd) {
  TempDir dir;
  const fs::path path = dir / "bad.safetensors";
  for (uint64_t length : {uint64_t{200'000'000}, ~uint64_t{0}, ~uint64_t{0} - 7}) {
    write_bytes(path, u64_le(length) + "{}");
    const std::string message = format_error_of([&] { SafetensorsFile::open(path); });
    EXPECT_CONTAINS(message, "bad.safetensors");
    EXPECT_CONTAINS(message, "exceeds the limit");
  }
}

TEST(SafetensorsMalformed, HeaderNotJson) {
  TempDir dir;
  const std::string message = open_error(dir, R"({"w": {"dtype": "F32", )", kGoodData);
  EXPECT_CONTAINS(message, "bad.safetensors");
  EXPECT_CONTAINS(message, "header: not valid JSON: parse error at line 1");
  EXPECT_CONTAINS(open_error(dir, "{\"w\xff\":1}", ""), "not valid JSON");  // invalid UTF-8
  EXPECT_CONTAINS(open_error(dir, "", ""), "not valid JSON");
  // Found by fuzz_safetensors: 1e400 is nlohmann's out_of_range, which escaped uncaught.
  EXPECT_CONTAINS(
      open_error(dir, R"({"w": {"dtype": "F32", "shape": [1e400], "data_offsets": [0, 4]}})", kGoodData),
      "header: not valid JSON: number overflow");
}

TEST(SafetensorsMalformed, HeaderNotObject) {
  TempDir dir;
  const std::string message = open_error(dir, "[1, 2]", kGoodData);
  EXPECT_CONTAINS(message, "bad.safetensors");
  EXPECT_CONTAINS(message, "must be a JSON object");
}

TEST(SafetensorsMalformed, EntryNotObject) {
  TempDir dir;
  const std::string message = open_error(dir, R"({"w": [0, 8]})", kGoodData);
  EXPECT_CONTAINS(message, "bad.safetensors");
  EXPECT_CONTAINS(message, "'w'");
}

TEST(SafetensorsMalformed, EntryMissingDtype) {
  TempDir dir;
  const std::string message = open_error(dir, R"({"w": {"shape": [2], "data_offsets": [0, 8]}})", kGoodData);
  EXPECT_CONTAINS(message, "bad.safetensors");
  EXPECT_CONTAINS(message, "'w'");
  EXPECT_CONTAINS(message, "missing 'dtype'");
}

TEST(SafetensorsMalformed, EntryMissingShape) {
  TempDir dir;
  const std::string message =
      open_error(dir, R"({"w": {"dtype": "F32", "data_offsets": [0, 8]}})", kGoodData);
  EXPECT_CONTAINS(message, "bad.safetensors");
  EXPECT_CONTAINS(message, "'w'");
  EXPECT_CONTAINS(message, "missing 'shape'");
}

TEST(SafetensorsMalformed, EntryMissingDataOffsets) {
  TempDir dir;
  const std::string message = open_error(dir, R"({"w": {"dtype": "F32", "shape": [2]}})", kGoodData);
  EXPECT_CONTAINS(message, "bad.safetensors");
  EXPECT_CONTAINS(message, "'w'");
  EXPECT_CONTAINS(message, "missing 'data_offsets'");
}

TEST(SafetensorsMalformed, EntryFieldsOfWrongJsonType) {
  TempDir dir;
  const std::vector<std::string> headers = {
      R"({"w": {"dtype": 32, "shape": [2], "data_offsets": [0, 8]}})",
      R"({"w": {"dtype": "F32", "shape": 2, "data_offsets": [0, 8]}})",
      R"({"w": {"dtype": "F32", "shape": [2.0], "data_offsets": [0, 8]}})",
      R"({"w": {"dtype": "F32", "shape": ["2"], "data_offsets": [0, 8]}})",
      R"({"w": {"dtype": "F32", "shape": [2], "data_offsets": {"begin": 0}}})",
      R"({"w": {"dtype": "F32", "shape": [2], "data_offsets": [0]}})",
      R"({"w": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8, 16]}})",
      R"({"w": {"dtype": "F32", "shape": [2], "data_offsets": [-8, 8]}})",
      R"({"w": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8.5]}})",
  };
  for (const std::string& header : headers) {
    const std::string message = open_error(dir, header, kGoodData);
    EXPECT_CONTAINS(message, "bad.safetensors");
    EXPECT_CONTAINS(message, "'w'");
  }
}

TEST(SafetensorsMalformed, MetadataOfWrongType) {
  TempDir dir;
  const std::string entry = R"("w": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]})";
  EXPECT_CONTAINS(open_error(dir, R"({"__metadata__": [1], )" + entry + "}", kGoodData), "__metadata__");
  const std::string message = open_error(dir, R"({"__metadata__": {"step": 5}, )" + entry + "}", kGoodData);
  EXPECT_CONTAINS(message, "bad.safetensors");
  EXPECT_CONTAINS(message, "'step'");
}

TEST(SafetensorsMalformed, UnknownDtype) {
  TempDir dir;
  const std::string message =
      open_error(dir, R"({"w": {"dtype": "Q7", "shape": [2], "data_offsets": [0, 8]}})", kGoodData);
  EXPECT_CONTAINS(message, "bad.safetensors");
  EXPECT_CONTAINS(message, "unknown dtype Q7 for tensor w");
}

TEST(SafetensorsMalformed, UnsupportedDtype) {
  TempDir dir;
  for (const std::string dtype : {"I64", "I32", "BOOL", "F64", "U8", "F8_E4M3"}) {
    const std::string message = open_error(
        dir, R"({"w": {"dtype": ")" + dtype + R"(", "shape": [1], "data_offsets": [0, 8]}})", kGoodData);
    EXPECT_CONTAINS(message, "bad.safetensors");
    EXPECT_CONTAINS(message, "unsupported dtype " + dtype + " for tensor w");
  }
}

TEST(SafetensorsMalformed, NegativeShape) {
  TempDir dir;
  const std::string message =
      open_error(dir, R"({"w": {"dtype": "F32", "shape": [-2, -1], "data_offsets": [0, 8]}})", kGoodData);
  EXPECT_CONTAINS(message, "bad.safetensors");
  EXPECT_CONTAINS(message, "'w'");
  EXPECT_CONTAINS(message, "negative extent");
}

TEST(SafetensorsMalformed, ByteSizeDoesNotMatchShape) {
  TempDir dir;
  const std::string message =
      open_error(dir, R"({"w": {"dtype": "F32", "shape": [3], "data_offsets": [0, 8]}})", kGoodData);
  EXPECT_CONTAINS(message, "bad.safetensors");
  EXPECT_CONTAINS(message, "'w'");
  EXPECT_CONTAINS(message, "needs 12");
  // The same bytes read as F16 would need 6.
  EXPECT_CONTAINS(
      open_error(dir, R"({"w": {"dtype": "F16", "shape": [3], "data_offsets": [0, 8]}})", kGoodData),
      "needs 6");
}

TEST(SafetensorsMalformed, BeginAfterEnd) {
  TempDir dir;
  const std::string message =
      open_error(dir, R"({"w": {"dtype": "F32", "shape": [0], "data_offsets": [8, 0]}})", kGoodData);
  EXPECT_CONTAINS(message, "bad.safetensors");
  EXPECT_CONTAINS(message, "'w'");
  EXPECT_CONTAINS(message, "is after end");
}

TEST(SafetensorsMalformed, EndBeyondDataSection) {
  TempDir dir;
  const std::string message =
      open_error(dir, R"({"w": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]}})", kGoodData);
  EXPECT_CONTAINS(message, "bad.safetensors");
  EXPECT_CONTAINS(message, "'w'");
  EXPECT_CONTAINS(message, "beyond the data section");
  // Offsets near 2^64 must not wrap around.
  EXPECT_CONTAINS(
      open_error(dir, R"({"w": {"dtype": "F32", "shape": [1], "data_offsets": [18446744073709551612, 0]}})",
                 kGoodData),
      "'w'");
}

TEST(SafetensorsMalformed, OverlappingTensors) {
  TempDir dir;
  const std::string header = R"({"first": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},)"
                             R"( "second": {"dtype": "F32", "shape": [2], "data_offsets": [4, 12]},)"
                             R"( "empty": {"dtype": "F32", "shape": [0], "data_offsets": [4, 4]}})";
  const std::string message = open_error(dir, header, f32_bytes({1, 2, 3}));
  EXPECT_CONTAINS(message, "bad.safetensors");
  EXPECT_CONTAINS(message, "'first'");
  EXPECT_CONTAINS(message, "'second'");
  EXPECT_CONTAINS(message, "overlap");
}

TEST(SafetensorsMalformed, EmptyTensorInsideAnotherIsNotAnOverlap) {
  TempDir dir;
  const std::string header = R"({"full": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},)"
                             R"( "empty": {"dtype": "F32", "shape": [3, 0], "data_offsets": [4, 4]}})";
  write_bytes(dir / "ok.safetensors", safetensors_bytes(header, kGoodData));
  const SafetensorsFile file = SafetensorsFile::open(dir / "ok.safetensors");
  EXPECT_EQ(file.read_f32(*file.find("empty")).numel(), 0);
}

TEST(SafetensorsMalformed, ShapeProductOverflows) {
  TempDir dir;
  // 2^32 * 2^32 * 4 bytes wraps to 0 in 64-bit arithmetic, which would match offsets [0, 0].
  const std::string message =
      open_error(dir, R"({"w": {"dtype": "F32", "shape": [4294967296, 4294967296], "data_offsets": [0, 0]}})",
                 kGoodData);
  EXPECT_CONTAINS(message, "bad.safetensors");
  EXPECT_CONTAINS(message, "'w'");
  EXPECT_CONTAINS(message, "too large");
  EXPECT_CONTAINS(
      open_error(dir, R"({"w": {"dtype": "F16", "shape": [18446744073709551615], "data_offsets": [0, 0]}})",
                 kGoodData),
      "too large");
}

// ---- WeightStore: single file and sharded folders ----

// Writes model-0000N-of-0000M.safetensors shards and their index, as transformers does.
void write_sharded_model(const fs::path& dir,
                         const std::vector<std::vector<std::pair<std::string, Tensor>>>& shards,
                         DType dtype) {
  nlohmann::json weight_map = nlohmann::json::object();
  for (size_t i = 0; i < shards.size(); ++i) {
    const std::string file =
        "model-0000" + std::to_string(i + 1) + "-of-0000" + std::to_string(shards.size()) + ".safetensors";
    write_safetensors(dir / file, shards[i], dtype, {{"format", "pt"}});
    for (const auto& [name, tensor] : shards[i]) weight_map[name] = file;
  }
  write_json_file_atomic(dir / "model.safetensors.index.json",
                         {{"metadata", {{"total_size", 0}}}, {"weight_map", weight_map}});
}

TEST(WeightStore, SingleFile) {
  TempDir dir;
  write_safetensors(
      dir / "model.safetensors",
      {{"embeddings.weight", random_tensor({10, 4}, 4)}, {"bias", make_tensor({4}, {1, 2, 3, 4})}},
      DType::BF16);
  const WeightStore store = WeightStore::open(dir.path());
  EXPECT_TRUE(store.contains("bias"));
  EXPECT_FALSE(store.contains("bia"));
  EXPECT_EQ(store.names(), (std::vector<std::string>{"bias", "embeddings.weight"}));
  EXPECT_EQ(store.entry("bias").dtype, DType::BF16);
  EXPECT_EQ(store.dtype_summary(), "BF16");
  EXPECT_EQ(store.parameter_count(), 44);
  const Tensor bias = store.load("bias", {4});
  EXPECT_EQ(bias.data()[3], 4.0f);
}

// load_bf16 gives each dtype's values as bf16 bits without a float copy: BF16 as stored,
// F32 and F16 rounded as float_to_bfloat16 rounds; non-finite values are FormatErrors.
TEST(WeightStore, LoadBf16GivesBitsOfEveryFloatDtype) {
  const Tensor values = random_tensor({5, 3}, 8);
  for (const DType dtype : {DType::F32, DType::F16, DType::BF16}) {
    SCOPED_TRACE(dtype_name(dtype));
    TempDir dir;
    write_safetensors(dir / "model.safetensors", {{"w", values}}, dtype);
    const WeightStore store = WeightStore::open(dir.path());
    const Tensor as_f32 = store.load("w", {5, 3});
    const std::vector<uint16_t> bits = store.load_bf16("w", {5, 3});
    ASSERT_EQ(bits.size(), 15u);
    for (size_t i = 0; i < bits.size(); ++i) EXPECT_EQ(bits[i], float_to_bfloat16(as_f32.data()[i])) << i;
    EXPECT_CONTAINS(format_error_of([&] {
                      store.load_bf16("w", {3, 5});
                    }),
                    "has shape [5, 3], expected [3, 5]");
  }
  TempDir dir;
  write_safetensors(dir / "model.safetensors",
                    {{"nan", make_tensor({2}, {1.0f, std::numeric_limits<float>::quiet_NaN()})},
                     {"huge", make_tensor({2}, {1.0f, std::numeric_limits<float>::max()})}},
                    DType::F32);
  const WeightStore store = WeightStore::open(dir.path());
  EXPECT_CONTAINS(format_error_of([&] { store.load_bf16("nan", {2}); }), "holds NaN or infinity (element 1)");
  // Finite in f32, infinite in bf16: refused, saying why.
  EXPECT_NO_THROW(store.load("huge", {2}));
  EXPECT_CONTAINS(format_error_of([&] { store.load_bf16("huge", {2}); }),
                  "holds NaN or infinity (element 1) once rounded to bf16");
  EXPECT_CONTAINS(format_error_of([&] { store.load_half_bits("huge", {2}); }),
                  "is F32, expected F16 or BF16");
}

// load_half_bits copies F16 and BF16 tensors as stored and checks them finite in place.
TEST(WeightStore, LoadHalfBitsCopiesSixteenBitTensorsAsStored) {
  const Tensor values = random_tensor({4, 3}, 9);
  for (const DType dtype : {DType::F16, DType::BF16}) {
    SCOPED_TRACE(dtype_name(dtype));
    TempDir dir;
    write_safetensors(
        dir / "model.safetensors",
        {{"w", values}, {"bad", make_tensor({2}, {1.0f, std::numeric_limits<float>::infinity()})}}, dtype);
    const WeightStore store = WeightStore::open(dir.path());
    const std::vector<uint16_t> bits = store.load_half_bits("w", {4, 3});
    ASSERT_EQ(bits.size(), 12u);
    for (size_t i = 0; i < bits.size(); ++i) {
      EXPECT_EQ(bits[i],
                dtype == DType::F16 ? float_to_half(values.data()[i]) : float_to_bfloat16(values.data()[i]));
    }
    EXPECT_CONTAINS(format_error_of([&] { store.load_half_bits("bad", {2}); }),
                    "holds NaN or infinity (element 1)");
  }
}

TEST(WeightStore, ShardedRoundTrip) {
  TempDir dir;
  const Tensor a = random_tensor({6, 3}, 5);
  const Tensor b = random_tensor({3}, 6);
  const Tensor c = random_tensor({2, 2, 2}, 7);
  write_sharded_model(dir.path(), {{{"layer.0.a", a}, {"layer.0.b", b}}, {{"layer.1.c", c}}}, DType::F32);
  const WeightStore store = WeightStore::open(dir.path());
  EXPECT_EQ(store.names(), (std::vector<std::string>{"layer.0.a", "layer.0.b", "layer.1.c"}));
  EXPECT_EQ(store.parameter_count(), 18 + 3 + 8);
  EXPECT_EQ(store.dtype_summary(), "F32");
  EXPECT_CONTAINS(store.entry("layer.1.c").file, "model-00002-of-00002.safetensors");
  for (const auto& [name, original] :
       std::vector<std::pair<std::string, Tensor>>{{"layer.0.a", a}, {"layer.0.b", b}, {"layer.1.c", c}}) {
    const Tensor loaded = store.load(name, original.shape());
    EXPECT_EQ(
        std::memcmp(loaded.data(), original.data(), sizeof(float) * static_cast<size_t>(original.numel())), 0)
        << name;
  }
}

TEST(WeightStore, MixedDtypeSummary) {
  TempDir dir;
  write_safetensors(dir / "model-1.safetensors", {{"a", make_tensor({1}, {1})}}, DType::F16);
  write_safetensors(dir / "model-2.safetensors", {{"b", make_tensor({1}, {1})}}, DType::F32);
  write_json_file_atomic(dir / "model.safetensors.index.json",
                         {{"weight_map", {{"a", "model-1.safetensors"}, {"b", "model-2.safetensors"}}}});
  EXPECT_EQ(WeightStore::open(dir.path()).dtype_summary(), "F32+F16");
}

TEST(WeightStore, ShardNameTooLongForTheFileSystemIsAFormatError) {
  // Found by fuzz_safetensors: std::filesystem::exists threw "File name too long".
  TempDir dir;
  const std::string shard = std::string(5000, 'b') + ".safetensors";
  write_json_file_atomic(dir / "model.safetensors.index.json", {{"weight_map", {{"a", shard}}}});
  const std::string message = format_error_of([&] { WeightStore::open(dir.path()); });
  EXPECT_CONTAINS(message, "model.safetensors.index.json: shard \"bbbb");
  EXPECT_CONTAINS(message, "(for tensor 'a') does not exist in");
  EXPECT_LT(message.size(), 1000u);  // the name is quoted briefly
}

TEST(WeightStore, NoWeights) {
  TempDir dir;
  const std::string message = format_error_of([&] { WeightStore::open(dir.path()); });
  EXPECT_CONTAINS(message, "no model.safetensors or model.safetensors.index.json in " + dir.path().string());
  EXPECT_CONTAINS(format_error_of([&] { WeightStore::open(dir / "absent"); }), "absent");
}

TEST(WeightStore, MissingTensorAndWrongShape) {
  TempDir dir;
  write_safetensors(dir / "model.safetensors", {{"w", Tensor({2, 3})}}, DType::F32);
  const WeightStore store = WeightStore::open(dir.path());
  EXPECT_CONTAINS(format_error_of([&] { store.entry("v"); }), "missing tensor v in " + dir.path().string());
  EXPECT_CONTAINS(format_error_of([&] { store.load("v", {1}); }), "missing tensor v in ");
  const std::string message = format_error_of([&] { store.load("w", {3, 2}); });
  EXPECT_CONTAINS(
      message, "tensor w in " + (dir / "model.safetensors").string() + " has shape [2, 3], expected [3, 2]");
}

TEST(WeightStore, InvalidSingleFileNamesIt) {
  TempDir dir;
  write_bytes(dir / "model.safetensors", safetensors_bytes(R"({"w": {"dtype": "I64"}})", ""));
  const std::string message = format_error_of([&] { WeightStore::open(dir.path()); });
  EXPECT_CONTAINS(message, "model.safetensors");
  EXPECT_CONTAINS(message, "unsupported dtype I64 for tensor w");
}

TEST(WeightStore, IndexNotJsonOrWithoutWeightMap) {
  TempDir dir;
  write_bytes(dir / "model.safetensors.index.json", "{\"weight_map\": ");
  EXPECT_CONTAINS(format_error_of([&] { WeightStore::open(dir.path()); }), "not valid JSON");
  write_bytes(dir / "model.safetensors.index.json", R"({"metadata": {}})");
  EXPECT_CONTAINS(format_error_of([&] { WeightStore::open(dir.path()); }), "field 'weight_map' is missing");
  write_bytes(dir / "model.safetensors.index.json", R"({"weight_map": {"w": 3}})");
  EXPECT_CONTAINS(format_error_of([&] { WeightStore::open(dir.path()); }), "'w'");
  write_bytes(dir / "model.safetensors.index.json", R"({"weight_map": {"w": "../outside.safetensors"}})");
  EXPECT_CONTAINS(format_error_of([&] { WeightStore::open(dir.path()); }), "not inside the model folder");
}

TEST(WeightStore, ShardFileMissing) {
  TempDir dir;
  write_bytes(dir / "model.safetensors.index.json",
              R"({"weight_map": {"w": "model-00001-of-00002.safetensors"}})");
  const std::string message = format_error_of([&] { WeightStore::open(dir.path()); });
  EXPECT_CONTAINS(message, "model-00001-of-00002.safetensors");
  EXPECT_CONTAINS(message, "'w'");
  EXPECT_CONTAINS(message, "does not exist");
}

TEST(WeightStore, ShardInvalid) {
  TempDir dir;
  write_bytes(dir / "shard.safetensors", "short");
  write_bytes(dir / "model.safetensors.index.json", R"({"weight_map": {"w": "shard.safetensors"}})");
  EXPECT_CONTAINS(format_error_of([&] { WeightStore::open(dir.path()); }), "shard.safetensors");
}

TEST(WeightStore, TensorListedButAbsentFromShard) {
  TempDir dir;
  write_safetensors(dir / "shard.safetensors", {{"a", make_tensor({1}, {1})}}, DType::F32);
  write_bytes(dir / "model.safetensors.index.json",
              R"({"weight_map": {"a": "shard.safetensors", "ghost": "shard.safetensors"}})");
  const std::string message = format_error_of([&] { WeightStore::open(dir.path()); });
  EXPECT_CONTAINS(message, "'ghost'");
  EXPECT_CONTAINS(message, "missing from its shard");
  EXPECT_CONTAINS(message, "shard.safetensors");
}

TEST(WeightStore, TensorInTwoShards) {
  TempDir dir;
  write_safetensors(dir / "one.safetensors", {{"a", make_tensor({1}, {1})}, {"dup", make_tensor({1}, {2})}},
                    DType::F32);
  write_safetensors(dir / "two.safetensors", {{"b", make_tensor({1}, {3})}, {"dup", make_tensor({1}, {4})}},
                    DType::F32);
  write_bytes(
      dir / "model.safetensors.index.json",
      R"({"weight_map": {"a": "one.safetensors", "b": "two.safetensors", "dup": "two.safetensors"}})");
  const std::string message = format_error_of([&] { WeightStore::open(dir.path()); });
  EXPECT_CONTAINS(message, "'dup'");
  EXPECT_CONTAINS(message, "two shards");
  EXPECT_CONTAINS(message, "one.safetensors");
  EXPECT_CONTAINS(message, "two.safetensors");
}

TEST(WeightStore, ShardTensorNotInIndex) {
  TempDir dir;
  write_safetensors(dir / "shard.safetensors",
                    {{"a", make_tensor({1}, {1})}, {"extra", make_tensor({1}, {1})}}, DType::F32);
  write_bytes(dir / "model.safetensors.index.json", R"({"weight_map": {"a": "shard.safetensors"}})");
  const std::string message = format_error_of([&] { WeightStore::open(dir.path()); });
  EXPECT_CONTAINS(message, "'extra'");
  EXPECT_CONTAINS(message, "not listed");
}

TEST(WeightStore, SingleFileWinsOverIndex) {
  TempDir dir;
  write_safetensors(dir / "model.safetensors", {{"w", make_tensor({1}, {7})}}, DType::F32);
  write_bytes(dir / "model.safetensors.index.json", "not json");
  EXPECT_EQ(WeightStore::open(dir.path()).load("w", {1}).data()[0], 7.0f);
}

}  // namespace
}  // namespace latte
