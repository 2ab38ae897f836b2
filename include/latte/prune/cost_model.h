// Cost of a Transformer forward pass with word-vector elimination (DESIGN.md section 2): FLOPs
// per layer, and the latency the planner bisects on: a table measured on this machine, or the
// FLOPs prior when there is none.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "latte/core/linear.h"
#include "latte/prune/latency_table.h"

namespace latte {

struct LayerFlops {
  double gemm = 0.0;       // QKV, output projection, FFN
  double attention = 0.0;  // scores and probabilities x values
  double total() const { return gemm + attention; }
};

// The sizes the cost model needs.
struct ModelShape {
  int64_t layers = 0;
  int64_t hidden = 0;
  int64_t ffn = 0;
  bool causal = false;     // decoder prefill: each query attends to the keys up to its own position
  int64_t heads = 0;       // query heads; 0: not given, then keys and values are as wide as queries
  int64_t kv_heads = 0;    // key/value heads (grouped-query attention); 0: as many as query heads
  bool gated_ffn = false;  // Llama-style gate, up and down matrices instead of up and down
  int64_t vocab = 0;       // decoders: rows of the language-model head, read every decode step
  int64_t head_dim = 0;    // 0: hidden / heads (Llama-family configs may give another)
  // Encoders of encoder-decoder models (T5): a relative position bias added to every head's
  // scores, and the decoder layers whose cross-attention keys and values are projected from the
  // rows leaving the last layer as part of the encoder's pass (0: none, an encoder-only model).
  bool relative_bias = false;
  int64_t memory_layers = 0;

  // Floats per row of keys (and of values): n_kv_heads * head_dim.
  int64_t kv_width() const;
  int64_t ffn_matrices() const { return gated_ffn ? 3 : 2; }
};

// Layer FLOPs for any shape: with n rows in, k kept, d = hidden, f = ffn, w = kv_width,
// m = ffn_matrices: 2 n d (d + 2 w) (Q, K, V) + 4 n^2 d (2 n^2 d causal) + 2 k d^2 + 2 m k d f.
LayerFlops layer_flops(int64_t rows_in, int64_t rows_kept, const ModelShape& shape);

// One decode step of one layer: a single query row attending to `keys` cached keys (its own
// included): 2 d (d + 2 w) + 4 keys d + 2 d^2 + 2 m d f. The scores and PV read each cached row
// once, whatever the number of query heads sharing it.
LayerFlops decoder_step_flops(int64_t keys, const ModelShape& shape);

// Cross-attention (T5's decoder) of `queries` rows over `encoder_rows` rows of the encoder:
// 2 q d^2 (Q) + 4 q e d (scores, PV) + 2 q d^2 (output), plus 2 e d (2 w) for the key and value
// projections of the encoder rows when `project_encoder_rows` (once per input: decode steps
// after the first reuse them).
LayerFlops cross_attention_flops(int64_t queries, int64_t encoder_rows, const ModelShape& shape,
                                 bool project_encoder_rows);

// Bytes one decode step reads from memory: every weight matrix of the layers and the LM head
// once, in the precision the products run in (4 bytes a value in f32, 2 in bf16, 1 in int8 plus
// one f32 scale per output channel; biases and norms are negligible and left out), and each
// layer's cached keys and values (f32).
struct DecodeStepBytes {
  double weights = 0.0;
  double cache = 0.0;
  double total() const { return weights + cache; }
};
// `keys_per_layer[l]`: the keys layer l's query attends to (its cache plus the new row).
// InputError when the list's length is not the shape's layer count.
DecodeStepBytes decoder_step_bytes(const std::vector<int64_t>& keys_per_layer, const ModelShape& shape,
                                   Precision precision = Precision::kF32);

// Seconds of one decode step by a roofline prior: each part takes the longer of its bytes at
// `bytes_per_second` and its FLOPs at the prior's rates (GEMV and attention alike are
// memory-bound at one query row). Ratios of two caches hold whatever the bandwidth.
double decoder_step_seconds(const std::vector<int64_t>& keys_per_layer, const ModelShape& shape,
                            double bytes_per_second, Precision precision = Precision::kF32);

// The decoder's memory: every one of shape.memory_layers layers projects its cross-attention keys
// and values from the `rows` leaving the encoder, 2 rows d (2 w) each (cross_attention_flops).
double memory_flops(int64_t rows, const ModelShape& shape);

// Total FLOPs of a forward pass of one sequence with the given keep counts (the memory projection
// included when the shape has one).
double forward_flops(int64_t n0, const std::vector<int64_t>& counts, const ModelShape& shape);

// Predicted seconds of a forward pass of one sequence.
class LatencyModel {
 public:
  // The FLOPs prior: 150 GFLOP/s on GEMMs, 75 on attention, no fixed costs. Ratios only
  // roughly hold: GEMM efficiency changes with the row count.
  LatencyModel() = default;
  // Measured on this machine; predicts with the table's layers of `layer_kind` (FormatError when
  // the table has none).
  explicit LatencyModel(LatencyTable table, std::string layer_kind = kEncoderLayer);

  bool measured() const { return table_.has_value(); }
  const char* source() const { return measured() ? "table" : "flops"; }
  const LatencyTable* table() const { return table_ ? &*table_ : nullptr; }

  // A pass that eliminates (ACC scores computed, elimination run): n0 word-vectors in,
  // counts[l] leaving layer l (missing entries keep everything).
  double forward_seconds(int64_t n0, const std::vector<int64_t>& counts, const ModelShape& shape) const;
  // The dense model: no scores, nothing eliminated. Never more than forward_seconds with every
  // row kept, whatever a (noisy) table's dense curve says.
  double dense_seconds(int64_t n0, const ModelShape& shape) const;

 private:
  std::optional<LatencyTable> table_;
  std::string layer_kind_ = kEncoderLayer;
};

}  // namespace latte
