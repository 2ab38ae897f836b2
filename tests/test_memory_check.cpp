// A model larger than the memory left is refused before anything is allocated, with one line
// naming what it needs and what there is.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <string>

#include "latte/core/error.h"
#include "latte/models/memory_check.h"
#include "test_support.h"

namespace latte {
namespace {

namespace fs = std::filesystem;
using test_support::run_latte;
using test_support::TempDir;

// Sets an environment variable for one scope.
class ScopedEnvironment {
 public:
  ScopedEnvironment(const char* name, const std::string& value) : name_(name) {
    if (const char* saved = std::getenv(name)) saved_ = saved;
    ::setenv(name, value.c_str(), 1);
  }
  ~ScopedEnvironment() {
    if (saved_) {
      ::setenv(name_, saved_->c_str(), 1);
    } else {
      ::unsetenv(name_);
    }
  }

 private:
  const char* name_;
  std::optional<std::string> saved_;
};

// A random tiny Llama in bf16: 1 layer, hidden 128, vocabulary of the small Llama 3 tokenizer.
fs::path tiny_llama(const TempDir& work) {
  const fs::path out = work.path() / "model";
  const auto init =
      run_latte(work.path(), "init --family llama --preset tiny --layers 1 --dtype bf16 --tokenizer " +
                                 (fs::path(LATTE_TEST_DATA_DIR) / "llama3_tokenizer" / "small").string() +
                                 " --out " + out.string());
  EXPECT_EQ(init.exit_code, 0) << init.err;
  return out;
}

TEST(MemoryCheck, WeightBytesFollowTheComputeDtype) {
  TempDir work("memory_bytes");
  const WeightStore store = WeightStore::open(tiny_llama(work));
  uint64_t matrices = 0, vectors = 0;
  for (const std::string& name : store.names()) {
    const TensorEntry& entry = store.entry(name);
    uint64_t values = 1;
    for (const int64_t dim : entry.shape) values *= static_cast<uint64_t>(dim);
    (entry.shape.size() >= 2 ? matrices : vectors) += values;
  }
  ASSERT_GT(matrices, 0u);
  ASSERT_GT(vectors, 0u);
  EXPECT_EQ(weight_bytes_in_memory(store, Precision::kInt8), matrices + 4 * vectors);
  // bf16 on disk: 2 bytes a matrix value in bf16 and (the 16-bit embedding kept) as a lower bound in f32.
  if (precision_unavailable_reason(Precision::kBf16).empty()) {
    EXPECT_EQ(weight_bytes_in_memory(store, Precision::kBf16), 2 * matrices + 4 * vectors);
  }
  EXPECT_EQ(weight_bytes_in_memory(store, Precision::kF32), 2 * matrices + 4 * vectors);
}

TEST(MemoryCheck, AvailableMemoryIsReadOrStoodInFor) {
  {
    ScopedEnvironment forced("LATTE_MEMORY_AVAILABLE", "12345");
    EXPECT_EQ(available_memory(), std::optional<uint64_t>(12345));
  }
  {
    ScopedEnvironment forced("LATTE_MEMORY_AVAILABLE", "12 GB");
    EXPECT_CONTAINS(test_support::error_of([] { available_memory(); }),
                    "LATTE_MEMORY_AVAILABLE must be a whole number of bytes, got '12 GB'");
  }
  const std::optional<uint64_t> real = available_memory();
  ASSERT_TRUE(real.has_value()) << "this Linux has /proc/meminfo";
  EXPECT_GT(*real, 0u);
}

TEST(MemoryCheck, AModelLargerThanMemoryIsRefusedBeforeLoading) {
  TempDir work("memory_refused");
  const fs::path model = tiny_llama(work);
  const WeightStore store = WeightStore::open(model);
  const uint64_t int8 = weight_bytes_in_memory(store, Precision::kInt8);
  const uint64_t f32 = weight_bytes_in_memory(store, Precision::kF32);
  ASSERT_LT(int8, f32);
  // Room for int8 only: f32 is refused, naming both sizes and the way out.
  const std::string room = "LATTE_MEMORY_AVAILABLE=" + std::to_string(int8 + 1);
  const auto refused = run_latte(
      work.path(), "generate --model " + model.string() + " --dtype f32 --max-new-tokens 2 --prompt-ids 1,2",
      "", room);
  test_support::expect_one_line_error(refused, " in f32 but ");
  EXPECT_CONTAINS(refused.err, "of memory is available; --dtype int8 needs");
  EXPECT_CONTAINS(refused.err, model.string() + ": the weights need ");
  const auto fits = run_latte(
      work.path(), "generate --model " + model.string() + " --dtype int8 --max-new-tokens 2 --prompt-ids 1,2",
      "", room);
  EXPECT_EQ(fits.exit_code, 0) << fits.err;
  // No room at all: nothing fits, and nothing is suggested.
  const auto none =
      run_latte(work.path(), "generate --model " + model.string() + " --max-new-tokens 2 --prompt-ids 1,2",
                "", "LATTE_MEMORY_AVAILABLE=1000");
  test_support::expect_one_line_error(none, "of memory is available");
  EXPECT_EQ(none.err.find("--dtype int8"), std::string::npos) << none.err;
  // info builds no model: it reads the tensors in place and needs no room for them.
  const auto info =
      run_latte(work.path(), "info --model " + model.string(), "", "LATTE_MEMORY_AVAILABLE=1000");
  EXPECT_EQ(info.exit_code, 0) << info.err;
}

}  // namespace
}  // namespace latte
