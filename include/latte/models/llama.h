// Llama-style decoders (LlamaForCausalLM; MistralForCausalLM and Qwen2ForCausalLM where they
// differ only in config fields) from a Hugging Face folder: RMSNorm, rotary positions, grouped-query
// attention and a SwiGLU feed-forward on the shared transformer block, with ACC elimination in the
// prefill and a per-layer KV cache holding only the rows each layer's attention saw (keys stored
// after rotation, at their original positions).
#pragma once

#include <cstdint>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "latte/core/arena.h"
#include "latte/core/linear.h"
#include "latte/core/ops.h"
#include "latte/layers/transformer_block.h"
#include "latte/models/causal_lm.h"
#include "latte/models/embedding_table.h"
#include "latte/models/linear_weights.h"
#include "latte/models/weight_spec.h"

namespace latte {

// config.json's rope_scaling of type "llama3".
struct Llama3RopeScaling {
  double factor = 8.0;
  double low_freq_factor = 1.0;
  double high_freq_factor = 4.0;
  int64_t original_max_position_embeddings = 8192;
};

struct LlamaConfig {
  std::string model_type;    // "llama", "mistral" or "qwen2"
  std::string architecture;  // e.g. "LlamaForCausalLM"
  int64_t vocab_size = 0;
  int64_t hidden_size = 0;
  int64_t intermediate_size = 0;
  int64_t num_hidden_layers = 0;
  int64_t num_attention_heads = 0;
  int64_t num_key_value_heads = 0;
  int64_t head_dim = 0;  // hidden_size / num_attention_heads unless config.json gives it
  // The longest sequence latte runs: max_position_embeddings, or Mistral's sliding_window when
  // smaller (within the window, sliding-window attention is full attention).
  int64_t max_position_embeddings = 0;
  float rms_norm_eps = 1e-6f;
  double rope_theta = 10000.0;
  std::optional<Llama3RopeScaling> rope_scaling;
  bool tie_word_embeddings = false;
  bool qkv_bias = false;     // attention_bias (Llama), always on (Qwen2)
  bool output_bias = false;  // attention_bias (Llama); o_proj has none in Qwen2
  bool mlp_bias = false;
  std::optional<int32_t> bos_token_id;
  std::vector<int32_t> eos_token_ids;  // generation stops at any of them

  // Reads and validates config.json; FormatError names the file and field.
  static LlamaConfig from_file(const std::filesystem::path& config_json);
  static LlamaConfig from_json(const nlohmann::json& json, const std::string& file_label);
  // config.json as transformers writes it for LlamaForCausalLM (from_json reads it back).
  nlohmann::json to_json() const;

  static constexpr int64_t kMaxVocabSize = int64_t{1} << 24;
  static constexpr int64_t kMaxHidden = 65536;
  static constexpr int64_t kMaxLayers = 1024;
  static constexpr int64_t kMaxPositions = int64_t{1} << 20;
};

// Every tensor of a *ForCausalLM checkpoint of this config ("model." prefix; lm_head unless tied).
std::vector<WeightSpec> llama_weight_specs(const LlamaConfig& config);
// The model's sizes as a latency table keys them (compute_dtype unset).
ModelDescription llama_description(const LlamaConfig& config);
// The model's sizes as the cost model takes them.
ModelShape llama_shape(const LlamaConfig& config);

// The architectures of `latte init --family llama`: tiny (2 layers, hidden 128, 4 heads over 2
// key/value heads), small (6 layers, hidden 384), and 1b, Llama-3.2-1B's shape (16 layers, hidden
// 2048, 32 heads over 8, FFN 8192, tied, rope theta 500000 with llama3 scaling, 131072 positions),
// and 8b, Llama-3.1-8B's (32 layers, hidden 4096, 32 heads over 8, FFN 14336, its own head,
// llama3 scaling factor 8).
LlamaConfig llama_preset(const std::string& preset, int64_t vocab_size,
                         std::optional<int64_t> layers = std::nullopt);

// Every linear weight of the checkpoint (per block q, k, v, o, gate, up, down; the head when not
// tied): what `latte quantize` writes in int8. `prefix`: "model." for *ForCausalLM checkpoints.
std::vector<StoredWeight> llama_linear_weights(const LlamaConfig& config, bool has_lm_head,
                                               const std::string& prefix);

struct DecoderStack;  // the passes every decoder-only family shares (src/models/decoder_stack.h)

class LlamaModel : public CausalLm {
 public:
  // Loads config.json and the safetensors weights (F32, F16 or BF16; sharded with an index),
  // checking every tensor's presence and shape against the config; a tensor the config does not
  // describe is an error naming it. `precision` as for Gpt2Model::load.
  static LlamaModel load(const std::filesystem::path& model_dir, Precision precision = Precision::kF32);

  const LlamaConfig& config() const { return config_; }
  int64_t parameter_count() const { return parameter_count_; }
  const std::string& dtype_on_disk() const { return dtype_on_disk_; }

  Precision precision() const override { return precision_; }
  int64_t num_layers() const override { return config_.num_hidden_layers; }
  int64_t vocab_size() const override { return config_.vocab_size; }
  int64_t max_positions() const override { return config_.max_position_embeddings; }
  std::vector<int32_t> eos_token_ids() const override { return config_.eos_token_ids; }
  ModelShape shape() const override;
  ModelDescription description() const override;
  KvCache new_cache() const override;
  DecoderOutput forward(std::span<const int32_t> ids, KvCache& cache, const DecoderOptions& options) override;
  std::unique_ptr<PrefillRun> start_prefill(std::span<const int32_t> ids, KvCache& cache,
                                            const DecoderOptions& options) override;
  std::vector<DecoderOutput> decode(std::span<const int32_t> next_ids, std::span<KvCache* const> caches,
                                    const DecoderOptions& options) override;

 private:
  // The blocks, norm, head and embedding as the shared decoder passes run them.
  DecoderStack stack() const;

  LlamaConfig config_;
  EmbeddingTable token_embeddings_;       // [vocab, hidden], in its dtype on disk
  std::vector<TransformerBlock> blocks_;  // pre-norm, RMSNorm, rotary, GQA, SwiGLU
  Norm final_norm_;                       // RMSNorm
  Linear lm_head_;                        // [hidden] -> [vocab], no bias; the token embedding when tied
  Arena arena_;
  int64_t parameter_count_ = 0;
  std::string dtype_on_disk_;
  Precision precision_ = Precision::kF32;
};

}  // namespace latte
