// EmbeddingTable keeps a token embedding in its dtype on disk and widens rows on lookup.
#include <gtest/gtest.h>

#include <vector>

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

}  // namespace
}  // namespace latte
