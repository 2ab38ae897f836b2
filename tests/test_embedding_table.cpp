// EmbeddingTable keeps a token embedding in its dtype on disk and widens rows on lookup.
#include <gtest/gtest.h>

#include <optional>
#include <random>
#include <utility>
#include <vector>

#include "latte/core/error.h"
#include "latte/core/packed_gemm.h"
#include "latte/models/embedding_table.h"

namespace latte {
namespace {

// A [3, 4] table whose values are exact in `dtype` (they came from it, as WeightStore::load
// widens them).
Tensor table_from(DType dtype) {
  Tensor table({3, 4});
  const float values[] = {1.0f, -0.5f, 3.140625f, 65504.0f, 1e-3f, -2.0f,
                          0.0f, 7.5f,  0.1f,      -0.1f,    1e-5f, 100.0f};
  for (int i = 0; i < 12; ++i) {
    table.data()[i] = dtype == DType::BF16  ? bfloat16_to_float(float_to_bfloat16(values[i]))
                      : dtype == DType::F16 ? half_to_float(float_to_half(values[i]))
                                            : values[i];
  }
  return table;
}

TEST(EmbeddingTable, RowsAreTheStoredValuesInEveryDtype) {
  for (const DType dtype : {DType::F32, DType::F16, DType::BF16}) {
    const Tensor table = table_from(dtype);
    const EmbeddingTable embedding(table_from(dtype), dtype);
    EXPECT_EQ(embedding.rows(), 3);
    EXPECT_EQ(embedding.width(), 4);
    EXPECT_EQ(embedding.bytes(), 12u * (dtype == DType::F32 ? 4u : 2u)) << dtype_name(dtype);
    for (int64_t id = 0; id < 3; ++id) {
      std::vector<float> row(4);
      embedding.row(id, row.data());
      for (int64_t i = 0; i < 4; ++i) EXPECT_EQ(row[i], table.data()[id * 4 + i]) << dtype_name(dtype);
    }
  }
}

TEST(EmbeddingTable, AnInt8FolderTableStaysF32) {
  // `latte quantize` leaves embeddings in F32; an I8 table never reaches here, but stays exact.
  const EmbeddingTable embedding(table_from(DType::F32), DType::I8);
  EXPECT_EQ(embedding.bytes(), 48u);
}

// A tied f32 head holds the table once: rows read back from its kernel layout are the values
// it was built from, on latte's packed kernel (each ISA's panel width) and on oneDNN's matmul.
TEST(EmbeddingTable, TiedToAnF32HeadReadsItsRowsExactly) {
  // 37 x 13: more rows than one panel and not a multiple of any panel width.
  Tensor table({37, 13});
  std::mt19937 generator(3);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  for (int64_t i = 0; i < table.numel(); ++i) table.data()[i] = normal(generator);
  for (const GemmPath path : {GemmPath::kPacked, GemmPath::kOneDnn}) {
    const Linear head(table, Tensor(), Activation::kNone, false, path, Precision::kF32);
    const EmbeddingTable embedding = EmbeddingTable::tied_to(head);
    EXPECT_EQ(embedding.rows(), 37);
    EXPECT_EQ(embedding.width(), 13);
    EXPECT_EQ(embedding.bytes(), 0u);
    for (int64_t id = 0; id < 37; ++id) {
      std::vector<float> row(13);
      embedding.row(id, row.data());
      for (int64_t i = 0; i < 13; ++i) ASSERT_EQ(row[i], table.data()[id * 13 + i]) << id;
    }
  }
  const std::optional<GemmIsa> best = best_gemm_isa();
  if (!best) GTEST_SKIP() << "no AVX2 + FMA: latte's packed kernel does not run here";
  for (const GemmIsa isa : {GemmIsa::kAvx2, GemmIsa::kAvx512}) {
    if (isa == GemmIsa::kAvx512 && *best != GemmIsa::kAvx512) continue;
    const PackedGemm packed(table.data(), 37, 13, nullptr, Activation::kNone, false, isa);
    for (int64_t id = 0; id < 37; ++id) {
      std::vector<float> row(13);
      packed.weight_row(id, row.data());
      for (int64_t i = 0; i < 13; ++i) ASSERT_EQ(row[i], table.data()[id * 13 + i]) << gemm_isa_name(isa);
    }
  }
}

// A bf16 head of a table stored in bf16 holds its values exactly: rows are read from oneDNN's
// blocked layout in place. Shapes that are not multiples of oneDNN's blocks, and GPT-2's.
TEST(EmbeddingTable, TiedToABf16HeadOfABf16TableReadsItsRowsExactly) {
  if (!precision_unavailable_reason(Precision::kBf16).empty()) GTEST_SKIP() << "no bf16 compute on this CPU";
  for (const auto& [rows, width] : {std::pair<int64_t, int64_t>{37, 13}, {1000, 96}, {50, 768}}) {
    Tensor table({rows, width});
    std::mt19937 generator(5);
    std::normal_distribution<float> normal(0.0f, 1.0f);
    for (int64_t i = 0; i < table.numel(); ++i)
      table.data()[i] = bfloat16_to_float(float_to_bfloat16(normal(generator)));
    const Linear head(table, Tensor(), Activation::kNone, false, GemmPath::kAuto, Precision::kBf16);
    ASSERT_EQ(head.precision(), Precision::kBf16);
    const EmbeddingTable embedding = EmbeddingTable::tied_to(head, DType::BF16);
    EXPECT_EQ(embedding.bytes(), 0u);
    std::vector<float> row(static_cast<size_t>(width));
    for (int64_t id = 0; id < rows; ++id) {
      embedding.row(id, row.data());
      for (int64_t i = 0; i < width; ++i)
        ASSERT_EQ(row[i], table.data()[id * width + i]) << rows << " " << id;
    }
    // A table stored in f32 is not what a bf16 head holds.
    EXPECT_THROW(EmbeddingTable::tied_to(head, DType::F32), Error);
  }
}

TEST(EmbeddingTable, RoundedHeadsAreNotTiedTo) {
  Tensor table({4, 8});
  for (int64_t i = 0; i < table.numel(); ++i) table.data()[i] = 0.25f * static_cast<float>(i % 7) - 0.5f;
  const Linear head(table, Tensor(), Activation::kNone, false, GemmPath::kAuto, Precision::kInt8);
  std::vector<float> row(8);
  EXPECT_FALSE(head.weight_row(0, row.data()));
  EXPECT_THROW(EmbeddingTable::tied_to(head), Error);
}

}  // namespace
}  // namespace latte
