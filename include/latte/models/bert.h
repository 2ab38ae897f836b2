// BERT (BertModel, BertForSequenceClassification) from a Hugging Face folder.
// Sequences of a batch are packed row after row, so padding costs nothing.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "latte/core/arena.h"
#include "latte/core/linear.h"
#include "latte/core/ops.h"
#include "latte/core/tensor.h"
#include "latte/layers/transformer_block.h"
#include "latte/models/linear_weights.h"
#include "latte/models/weight_spec.h"
#include "latte/prune/plan.h"
#include "latte/tokenizers/bert_tokenizer.h"

namespace latte {

struct BertConfig {
  std::string architecture;  // "BertForSequenceClassification" or "BertModel"
  int64_t vocab_size = 0;
  int64_t hidden_size = 0;
  int64_t num_layers = 0;
  int64_t num_heads = 0;
  int64_t intermediate_size = 0;
  int64_t max_position_embeddings = 0;
  int64_t type_vocab_size = 2;
  int64_t pad_token_id = 0;
  float layer_norm_eps = 1e-12f;
  std::string hidden_act = "gelu";
  int64_t num_labels = 0;             // 0 without a classification head
  std::vector<std::string> id2label;  // num_labels names
  std::string problem_type;           // "regression" when num_labels == 1

  bool has_classifier() const { return num_labels > 0; }
  bool is_regression() const { return num_labels == 1; }
  int64_t head_dim() const { return hidden_size / num_heads; }

  // Reads and validates config.json; FormatError names the file and field. Sizes must be
  // positive and within the limits below, far above any real BERT: a crafted config must not
  // reach the arithmetic (tensor sizes, a position count truncated to int) with absurd numbers.
  static BertConfig from_file(const std::filesystem::path& config_json);
  static constexpr int64_t kMaxVocabSize = int64_t{1} << 24;
  static constexpr int64_t kMaxHiddenSize = 65536;
  static constexpr int64_t kMaxLayers = 1024;
  static constexpr int64_t kMaxIntermediateSize = 4 * kMaxHiddenSize;
  static constexpr int64_t kMaxPositions = int64_t{1} << 20;
  static constexpr int64_t kMaxTypeVocabSize = 65536;
  static constexpr int64_t kMaxLabels = 65536;
  // The same checks on an already parsed config.json; errors are prefixed with `file_label`.
  static BertConfig from_json(const nlohmann::json& json, const std::string& file_label);
  // The config.json a Hugging Face tool would write for this model.
  nlohmann::json to_json() const;
};

// Name and shape of every tensor a Hugging Face checkpoint of this config holds
// (with the "bert." prefix for task models), in a fixed order.
std::vector<WeightSpec> bert_weight_specs(const BertConfig& config);

// The tokenizer of `model_dir`, checked against its config (check_tokenizer_matches).
BertTokenizer load_bert_tokenizer(const std::filesystem::path& model_dir, const BertConfig& config);

// check_tokenizer_fits against the config's vocab_size.
void check_tokenizer_matches(const BertConfig& config, const Tokenizer& tokenizer,
                             const std::filesystem::path& model_dir);

// The architectures of `latte init --preset`: tiny, mini, small, base.
BertConfig bert_preset(const std::string& preset, int64_t vocab_size, int64_t num_labels,
                       std::optional<int64_t> layers = std::nullopt);

// One input sequence: token ids with specials, and segment ids (empty = all 0).
struct BertInput {
  std::vector<int32_t> input_ids;
  std::vector<int32_t> token_type_ids;
};

// How a forward pass eliminates word-vectors, and what it reports.
struct ForwardOptions {
  const Planner* planner = nullptr;  // null or dense: the dense model
  // A packed batch whose sequences run at different knobs (the server's requests): one planner
  // per sequence of the batch, replacing `planner`; a null or dense entry keeps its sequence dense.
  std::vector<const Planner*> planners;
  bool compute_scores = false;  // ACC scores even when nothing is eliminated
  // Called with each layer's ACC scores of each sequence (rows entering the layer).
  std::function<void(int64_t layer, int64_t sequence, std::span<const float> scores)> on_scores;
  PhaseTimes* phase_times = nullptr;  // when set, filled with this pass's phase times
};

struct BertOutput {
  // [rows, hidden] for the word-vectors that survive the last layer: rows of
  // sequence b are [offsets[b], offsets[b+1]); positions[row] is the row's
  // position in the input.
  Tensor last_hidden_state;
  std::vector<int64_t> offsets;
  std::vector<int64_t> positions;
  // kept[b][l]: word-vectors of sequence b leaving layer l.
  std::vector<std::vector<int64_t>> kept;
  Tensor pooler_output;  // [batch, hidden]
  Tensor logits;         // [batch, num_labels]; empty without a classifier
};

// Every linear weight of the checkpoint in `store` (the layers', the pooler's and the
// classifier's): what `latte quantize` writes in int8.
std::vector<StoredWeight> bert_linear_weights(const WeightStore& store, const BertConfig& config);

// A classifier's probabilities of one row of its logits (a softmax): what classify reports.
std::vector<float> label_probabilities(std::span<const float> logits);

class BertModel {
 public:
  // Loads config.json and the safetensors weights of `model_dir`, checking every
  // tensor's presence, shape and values (finite) against the config before anything runs. A
  // tensor the model does not use is an error too (a checkpoint with more layers than
  // num_hidden_layers says), except those Hugging Face checkpoints carry beside BERT itself:
  // pre-training heads (cls.*) and the position_ids / token_type_ids buffers.
  // `precision`: what the layers' products compute in (core/linear.h); bf16 falls back to f32
  // on a CPU without it, and precision() says which ran.
  static BertModel load(const std::filesystem::path& model_dir, Precision precision = Precision::kF32);

  const BertConfig& config() const { return config_; }
  // Not thread-safe: a model reuses one workspace across calls.
  BertOutput forward(const std::vector<BertInput>& batch, const ForwardOptions& options = {});
  ModelShape shape() const { return {config_.num_layers, config_.hidden_size, config_.intermediate_size}; }

  int64_t parameter_count() const { return parameter_count_; }
  const std::string& dtype_on_disk() const { return dtype_on_disk_; }
  Precision precision() const { return precision_; }

 private:
  void check_inputs(const std::vector<BertInput>& batch) const;
  // Drops the rows the plans eliminate at `layer` from the residual stream and
  // the attention context, in place; updates offsets, positions and kept.
  // A null plan keeps its sequence whole; min_keeps[b] is sequence b's planner's k_min.
  void eliminate(int64_t layer, const std::vector<const SequencePlan*>& plans,
                 const std::vector<int64_t>& min_keeps, const float* scores, float* states, float* context,
                 BertOutput& result) const;
  void embed(const std::vector<BertInput>& batch, float* hidden) const;

  BertConfig config_;
  Tensor word_embeddings_;        // [vocab, hidden]
  Tensor position_embeddings_;    // [max_positions, hidden]
  Tensor token_type_embeddings_;  // [type_vocab, hidden]
  LayerNorm embedding_norm_;
  std::vector<TransformerBlock> layers_;  // post-norm, LayerNorm, plain FFN
  Linear pooler_;                         // tanh fused
  Linear classifier_;
  Arena arena_;
  int64_t parameter_count_ = 0;
  std::string dtype_on_disk_;
  Precision precision_ = Precision::kF32;
};

}  // namespace latte
