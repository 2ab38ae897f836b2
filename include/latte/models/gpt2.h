// GPT-2 (GPT2LMHeadModel, GPT2Model) from a Hugging Face folder, with ACC elimination in the
// prefill and a per-layer KV cache holding only the rows each layer's attention saw.
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

struct Gpt2Config {
  std::string architecture;  // "GPT2LMHeadModel" or "GPT2Model"
  int64_t vocab_size = 0;
  int64_t n_positions = 0;
  int64_t n_embd = 0;
  int64_t n_layer = 0;
  int64_t n_head = 0;
  int64_t n_inner = 0;  // 4 n_embd when config.json says null
  std::string activation_function = "gelu_new";
  float layer_norm_epsilon = 1e-5f;
  std::optional<int32_t> bos_token_id;
  std::optional<int32_t> eos_token_id;

  int64_t head_dim() const { return n_embd / n_head; }

  // Reads and validates config.json; FormatError names the file and field. The limits are far
  // above any real GPT-2, so a crafted config never reaches the size arithmetic.
  static Gpt2Config from_file(const std::filesystem::path& config_json);
  static Gpt2Config from_json(const nlohmann::json& json, const std::string& file_label);
  nlohmann::json to_json() const;
  static constexpr int64_t kMaxVocabSize = int64_t{1} << 24;
  static constexpr int64_t kMaxEmbd = 65536;
  static constexpr int64_t kMaxLayers = 1024;
  static constexpr int64_t kMaxPositions = int64_t{1} << 20;
};

// Every tensor of a GPT2LMHeadModel checkpoint of this config (the head tied, so absent).
std::vector<WeightSpec> gpt2_weight_specs(const Gpt2Config& config);
// The model's sizes as a latency table keys them (compute_dtype unset).
ModelDescription gpt2_description(const Gpt2Config& config);

// The architectures of `latte init --family gpt2`: tiny (2 layers, 128 wide), small (6 layers,
// 384 wide) and base (GPT-2 124M: 12 layers, 768 wide, 1024 positions).
Gpt2Config gpt2_preset(const std::string& preset, int64_t vocab_size,
                       std::optional<int64_t> layers = std::nullopt);

// Every linear weight of the checkpoint in `store` (the blocks' Conv1D weights, and the head
// when it is not tied): what `latte quantize` writes in int8.
std::vector<StoredWeight> gpt2_linear_weights(const WeightStore& store, const Gpt2Config& config);

struct DecoderStack;  // the passes every decoder-only family shares (src/models/decoder_stack.h)

class Gpt2Model : public CausalLm {
 public:
  // Loads config.json and the safetensors weights, checking every tensor's presence, shape and
  // values against the config. Conv1D weights ([in, out] on disk) are transposed here, once.
  // The language-model head is tied to the token embedding; a separate lm_head.weight must
  // have its shape. A tensor the config does not describe is an error naming it.
  // `precision` as for BertModel::load; the head computes in it too.
  static Gpt2Model load(const std::filesystem::path& model_dir, Precision precision = Precision::kF32);

  const Gpt2Config& config() const { return config_; }
  int64_t parameter_count() const { return parameter_count_; }
  const std::string& dtype_on_disk() const { return dtype_on_disk_; }
  Precision precision() const override { return precision_; }

  int64_t num_layers() const override { return config_.n_layer; }
  int64_t vocab_size() const override { return config_.vocab_size; }
  int64_t max_positions() const override { return config_.n_positions; }
  std::vector<int32_t> eos_token_ids() const override {
    return config_.eos_token_id ? std::vector<int32_t>{*config_.eos_token_id} : std::vector<int32_t>{};
  }
  ModelShape shape() const override {
    return {config_.n_layer, config_.n_embd, config_.n_inner, true,
            config_.n_head,  config_.n_head, false,           config_.vocab_size};
  }
  ModelDescription description() const override {
    ModelDescription description = gpt2_description(config_);
    description.compute_dtype = precision_name(precision_);
    return description;
  }
  // Head-major: a decode step reads each head's cached rows front to back.
  KvCache new_cache() const override { return KvCache(config_.n_layer, config_.n_embd, config_.head_dim()); }
  DecoderOutput forward(std::span<const int32_t> ids, KvCache& cache, const DecoderOptions& options) override;
  std::unique_ptr<PrefillRun> start_prefill(std::span<const int32_t> ids, KvCache& cache,
                                            const DecoderOptions& options) override;
  std::vector<DecoderOutput> decode(std::span<const int32_t> next_ids, std::span<KvCache* const> caches,
                                    const DecoderOptions& options) override;

 private:
  // The blocks, norm, head and embedding as the shared decoder passes run them.
  DecoderStack stack() const;

  Gpt2Config config_;
  EmbeddingTable token_embeddings_;       // wte [vocab, d], in its dtype on disk
  Tensor position_embeddings_;            // wpe [n_positions, d]
  std::vector<TransformerBlock> blocks_;  // pre-norm, LayerNorm, plain FFN, causal over the cache
  Norm final_norm_;                       // LayerNorm
  Linear lm_head_;                        // [d] -> [vocab], no bias
  Arena arena_;
  int64_t parameter_count_ = 0;
  std::string dtype_on_disk_;
  Precision precision_ = Precision::kF32;
};

}  // namespace latte
