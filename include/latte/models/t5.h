// T5 / Flan-T5 / mT5 (T5ForConditionalGeneration) from a Hugging Face folder: an encoder with ACC
// elimination (bidirectional scores, the final </s> protected) and a decoder that cross-attends
// to the encoder rows that survive, at their original positions (DESIGN.md section 1, T5).
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "latte/core/arena.h"
#include "latte/core/linear.h"
#include "latte/core/ops.h"
#include "latte/layers/attention.h"
#include "latte/layers/transformer_block.h"
#include "latte/models/linear_weights.h"
#include "latte/models/seq2seq_lm.h"
#include "latte/models/weight_spec.h"

namespace latte {

struct T5Config {
  std::string model_type = "t5";  // "t5" or "mt5" (the same network, another vocabulary)
  int64_t vocab_size = 0;
  int64_t d_model = 0;
  int64_t d_kv = 0;  // per head; num_heads * d_kv need not equal d_model
  int64_t d_ff = 0;
  int64_t num_layers = 0;          // encoder
  int64_t num_decoder_layers = 0;  // num_layers when config.json omits it
  int64_t num_heads = 0;
  int64_t relative_attention_num_buckets = 32;
  int64_t relative_attention_max_distance = 128;
  float layer_norm_epsilon = 1e-6f;
  std::string feed_forward_proj = "relu";  // relu, gelu, gated-relu, gated-gelu
  bool tie_word_embeddings = true;
  int32_t decoder_start_token_id = 0;
  std::optional<int32_t> eos_token_id;
  int32_t pad_token_id = 0;
  // The longest source (and target) latte runs: config.json's n_positions when present, else
  // kDefaultMaxTokens. T5's relative positions set no hard limit, but the models are trained
  // on 512-token inputs and attention cost grows with the square of the length.
  int64_t max_tokens = kDefaultMaxTokens;

  int64_t inner() const { return num_heads * d_kv; }
  bool gated() const { return feed_forward_proj.starts_with("gated-"); }
  Activation activation() const;

  // Reads and validates config.json; FormatError names the file and field.
  static T5Config from_file(const std::filesystem::path& config_json);
  static T5Config from_json(const nlohmann::json& json, const std::string& file_label);
  // config.json as Hugging Face writes a T5ForConditionalGeneration's (n_positions: max_tokens).
  nlohmann::json to_json() const;
  static constexpr int64_t kDefaultMaxTokens = 512;
  static constexpr int64_t kMaxVocabSize = int64_t{1} << 24;
  static constexpr int64_t kMaxWidth = 65536;
  static constexpr int64_t kMaxLayers = 1024;
  // Far above the 32 (T5) and 64 of released models; bounds the bias table a config can ask for.
  static constexpr int64_t kMaxBuckets = 1024;
  static constexpr int64_t kMaxTokens = int64_t{1} << 16;
};

// Every tensor of a T5ForConditionalGeneration checkpoint of this config by Hugging Face's names
// (one shared embedding; lm_head when untied), each with the standard deviation of Hugging Face's
// T5 _init_weights (initializer_factor 1): the embedding and head N(0, 1), queries
// (d_model d_kv)^-1/2, keys, values, FFN inputs and the position bias d_model^-1/2, the attention
// output (num_heads d_kv)^-1/2, the FFN output d_ff^-1/2 (the 1/sqrt(d_kv) of the scores lives
// in the queries' scale).
std::vector<WeightSpec> t5_weight_specs(const T5Config& config);

// The architectures of `latte init --family t5` (gated-gelu, untied head, 32 buckets up to a
// distance of 128, as Flan-T5): tiny (2+2 layers, d_model 64, d_ff 128, 4 heads of 16), small
// (Flan-T5-small: 8+8 layers, d_model 512, d_ff 1024, 6 heads of 64) and base (Flan-T5-base:
// 12+12 layers, d_model 768, d_ff 2048, 12 heads of 64). `layers` sets both stacks.
T5Config t5_preset(const std::string& preset, int64_t vocab_size,
                   std::optional<int64_t> layers = std::nullopt);

// Every linear weight of the checkpoint (attention, cross-attention and FFN matrices, and the
// head when untied): what `latte quantize` writes in int8.
std::vector<StoredWeight> t5_linear_weights(const WeightStore& store, const T5Config& config);

// T5's relative position bias (modeling_t5.py's _relative_position_bucket): the table
// [num_buckets, n_heads] of a stack's block 0, shared by all its blocks, indexed by the bucket
// of key_position - query_position. Positions are the original ones, so rows kept after
// elimination keep their distances.
class T5RelativeBias : public PositionBias {
 public:
  // table: [num_buckets, n_heads]. Each head's bias is tabulated by relative position here: up
  // to max_distance + 1 away, past which T5's buckets no longer change, or, for a config whose
  // buckets do not saturate so (max_distance not above the exact buckets), up to max_tokens.
  T5RelativeBias(Tensor table, bool bidirectional, int64_t max_distance, int64_t max_tokens);
  // Keys at consecutive positions (a dense encoder, a cache with no row eliminated) add a slice
  // of the head's row; gapped ones (rows kept after elimination) gather from it.
  void add(int64_t head, int64_t query_position, std::span<const int64_t> key_positions,
           float* logits) const override;
  // The bucket as Hugging Face computes it, its logarithm in float32 as there.
  static int64_t bucket(int64_t relative_position, bool bidirectional, int64_t num_buckets,
                        int64_t max_distance);

 private:
  Tensor table_;
  bool bidirectional_;
  int64_t num_buckets_, n_heads_, max_distance_;
  int64_t reach_ = 0;       // relative positions [-reach, reach] are tabulated
  bool saturated_ = false;  // the bias past reach is that at +-reach
  // [n_heads, 2 reach + 1]: head h's bias at relative position r is [h, r + reach].
  std::vector<float> by_distance_;
  // Bounds the tabulated rows for configs with thousands of heads.
  static constexpr int64_t kMaxTabulated = int64_t{1} << 22;
};

// The model's sizes as a latency table keys them: the encoder's (compute_dtype unset).
ModelDescription t5_description(const T5Config& config);
// The encoder's shape, what plans are made over (T5Model::encoder_shape; the trainer's too).
ModelShape t5_encoder_shape(const T5Config& config);

class T5EncodeRun;  // encode() a layer at a time (src/models/t5.cpp)

class T5Model : public Seq2SeqLm {
 public:
  // Loads config.json and the safetensors weights, checking every tensor's shape against the
  // config (the tensor named in the error). `precision` as for Gpt2Model::load.
  static T5Model load(const std::filesystem::path& model_dir, Precision precision = Precision::kF32);

  const T5Config& config() const { return config_; }
  int64_t num_encoder_layers() const override { return config_.num_layers; }
  int64_t num_decoder_layers() const override { return config_.num_decoder_layers; }
  int64_t vocab_size() const override { return config_.vocab_size; }
  int64_t max_source_tokens() const override { return config_.max_tokens; }
  int64_t max_target_tokens() const override { return config_.max_tokens; }
  int32_t decoder_start_token_id() const override { return config_.decoder_start_token_id; }
  std::optional<int32_t> eos_token_id() const override { return config_.eos_token_id; }
  ModelShape encoder_shape() const override;
  Precision precision() const override { return precision_; }
  ModelDescription description() const override;
  Seq2SeqState encode(std::span<const int32_t> source, const EncoderOptions& options) override;
  std::unique_ptr<EncodeRun> start_encode(std::span<const int32_t> source,
                                          const EncoderOptions& options) override;
  DecoderOutput decode(std::span<const int32_t> ids, Seq2SeqState& state,
                       const DecoderOptions& options) override;
  std::vector<DecoderOutput> decode_batch(std::span<const int32_t> next_ids,
                                          std::span<Seq2SeqState* const> states,
                                          const DecoderOptions& options) override;
  // The rows leaving the encoder's final norm [kept rows, d_model] (what encode projects the
  // cross-attention memory from), for tests and encoder-only uses.
  Tensor encoder_hidden(std::span<const int32_t> source, const EncoderOptions& options);

 private:
  friend class T5EncodeRun;
  void check_ids(std::span<const int32_t> ids, const char* what) const;
  // InputError unless `state` went through the encoder and `rows` more decoder tokens fit.
  void check_decoder_state(const Seq2SeqState& state, int64_t rows) const;
  // The decoder over the new rows of several sequences: `counts[s]` rows of `ids` (in order)
  // continue states[s]. Logits of each sequence's last row, or of every row (all_logits, one
  // sequence); `kept` per layer is the rows run.
  DecoderOutput run_decoder(std::span<const int32_t> ids, std::span<Seq2SeqState* const> states,
                            std::span<const int64_t> counts, const DecoderOptions& options);
  // states [rows, d_model] <- the shared embedding of ids.
  void embed(std::span<const int32_t> ids, float* states) const;

  T5Config config_;
  Tensor shared_;  // [vocab, d_model]: the token embedding of both stacks (and the tied head)
  std::vector<TransformerBlock> encoder_;
  std::vector<TransformerBlock> decoder_;
  RMSNorm encoder_norm_, decoder_norm_;
  Linear lm_head_;  // [d_model] -> [vocab]
  Arena arena_;
  Precision precision_ = Precision::kF32;
};

}  // namespace latte
