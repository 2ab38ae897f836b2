// A token embedding [rows, width] kept in the dtype its checkpoint stores (F32, F16 or BF16):
// rows are widened to f32 when looked up, so a bf16 checkpoint's table costs 2 bytes a value in
// memory, not 4 (Llama-3.2-1B's 128,256 x 2,048 table: 0.53 GB instead of 1.05 GB).
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "latte/core/linear.h"
#include "latte/core/tensor.h"
#include "latte/io/dtype.h"
#include "latte/io/safetensors.h"

namespace latte {

class EmbeddingTable {
 public:
  EmbeddingTable() = default;
  // `table` [rows, width] as WeightStore::load gave it (f32, checked); `stored` is its dtype on
  // disk. F16 and BF16 tables are narrowed back to it, which is exact since every value came
  // from it; F32 (and I8-folder) tables stay f32.
  EmbeddingTable(Tensor table, DType stored);
  // An F16 or BF16 table from its bits as stored (WeightStore::load_bf16, load_half_bits),
  // never widened: [rows, width].
  EmbeddingTable(std::vector<uint16_t> bits, int64_t rows, int64_t width, DType stored = DType::BF16);
  // The table a tied head already holds: rows are read from the head's weights (its kernel
  // layout), so the model keeps the table once. For an f32 head, or a bf16 head of a table
  // stored in bf16 (its rounding then changes nothing); Error otherwise.
  static EmbeddingTable tied_to(Linear head, DType stored = DType::F32);
  // Whether tied_to(head, stored) works: the head's rows are the table's values and readable.
  static bool can_tie(const Linear& head, DType stored);

  int64_t rows() const { return rows_; }
  int64_t width() const { return width_; }
  // out[0, width) = row `id` in f32; id in [0, rows) (the caller checks).
  void row(int64_t id, float* out) const;
  // Bytes the table holds (0 when it reads a tied head's weights).
  size_t bytes() const;

 private:
  int64_t rows_ = 0, width_ = 0;
  DType dtype_ = DType::F32;
  Tensor f32_;                  // when dtype_ is F32
  std::vector<uint16_t> half_;  // when dtype_ is F16 or BF16: [rows * width]
  Linear tied_;                 // when set (rows_ > 0, f32_ empty): the head whose rows are the table
  bool is_tied_ = false;
};

// A decoder's token embedding `name` [rows, width] and, when `tied`, the head made from it.
// Loaded before the layers, so the table's f32 copy never coexists with them; a tied f32 head
// is the table (EmbeddingTable::tied_to), any other keeps the table in its dtype on disk.
struct TokenEmbedding {
  EmbeddingTable table;
  std::optional<Linear> tied_head;
};
TokenEmbedding load_token_embedding(const WeightStore& store, const std::string& name, int64_t rows,
                                    int64_t width, bool tied, Precision precision);

}  // namespace latte
