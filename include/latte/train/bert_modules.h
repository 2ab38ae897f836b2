// The trainer's BERT in libtorch. It mirrors the engine's latte::BertModel
// (src/models/bert.cpp) layer for layer, including ACC word-vector elimination
// between the attention sublayer and the rest, so a model fine-tuned here sees
// at training time exactly what the engine does at inference.
// tests/test_train_parity.cpp holds the two together on the same checkpoint.
//
// The engine packs sequences without padding; here a batch is padded to its
// longest sequence and masked. Parameters carry the Hugging Face names
// (hf_weights()), so checkpoints move both ways (checkpoint.h).
#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "latte/models/bert.h"
#include "latte/prune/plan.h"
#include "latte/train/torch_ops.h"

namespace latte::train {

// A padded batch of sequences.
struct TokenBatch {
  torch::Tensor input_ids;       // [batch, length] int64, pad_token_id past each sequence
  torch::Tensor token_type_ids;  // [batch, length] int64
  torch::Tensor attention_mask;  // [batch, length] bool, true on real tokens
  std::vector<int64_t> lengths;  // real tokens of each sequence
};
TokenBatch make_token_batch(const std::vector<BertInput>& inputs, int64_t pad_token_id);

struct EncoderOutput {
  // The word-vectors that survive the last layer, in original order, padded:
  // sequence b's rows are hidden[b, 0:kept[b].back()).
  torch::Tensor hidden;                    // [batch, rows, hidden]
  torch::Tensor mask;                      // [batch, rows] bool
  torch::Tensor positions;                 // [batch, rows] int64: each row's position in the input
  std::vector<std::vector<int64_t>> kept;  // kept[b][l]: word-vectors of b leaving layer l
};

class BertEmbeddingsImpl : public torch::nn::Module {
 public:
  explicit BertEmbeddingsImpl(const BertConfig& config);
  // [batch, length] ids -> [batch, length, hidden]
  torch::Tensor forward(const torch::Tensor& input_ids, const torch::Tensor& token_type_ids);
  void append_hf_weights(const std::string& prefix, NamedWeights& weights);

  torch::nn::Embedding word{nullptr};
  torch::nn::Embedding position{nullptr};
  torch::nn::Embedding token_type{nullptr};
  torch::nn::LayerNorm norm{nullptr};
  torch::nn::Dropout dropout{nullptr};
};
TORCH_MODULE(BertEmbeddings);

// One encoder layer, split where elimination happens: attend() runs on all
// n_l rows, finish() (output projection, residual, norms, FFN) on the kept ones.
class BertLayerImpl : public torch::nn::Module {
 public:
  explicit BertLayerImpl(const BertConfig& config);
  struct Attention {
    torch::Tensor context;  // [batch, rows, hidden]
    torch::Tensor scores;   // [batch, rows] ACC scores (detached; padding rows 0), or undefined
  };
  // hidden [batch, rows, hidden], mask [batch, rows].
  Attention attend(const torch::Tensor& hidden, const torch::Tensor& mask, bool with_scores);
  // hidden and context [batch, kept rows, hidden] -> [batch, kept rows, hidden]
  torch::Tensor finish(const torch::Tensor& hidden, const torch::Tensor& context);
  void append_hf_weights(const std::string& prefix, NamedWeights& weights);

  torch::nn::Linear query{nullptr}, key{nullptr}, value{nullptr};
  torch::nn::Linear attention_output{nullptr};
  torch::nn::LayerNorm attention_norm{nullptr};
  torch::nn::Linear intermediate{nullptr};
  torch::nn::Linear output{nullptr};
  torch::nn::LayerNorm output_norm{nullptr};
  torch::nn::Dropout dropout{nullptr};
  torch::nn::Dropout attention_dropout{nullptr};

 private:
  int64_t n_heads_;
  int64_t head_dim_;
  std::string activation_;
};
TORCH_MODULE(BertLayer);

// Embeddings, encoder layers and (optionally) the pooler: Hugging Face's BertModel.
class BertEncoderImpl : public torch::nn::Module {
 public:
  BertEncoderImpl(const BertConfig& config, bool with_pooler);
  // planner null or dense: the dense model. Otherwise each sequence follows
  // planner->plan(its length), exactly as BertModel::eliminate does.
  EncoderOutput forward(const TokenBatch& batch, const Planner* planner = nullptr);
  // tanh(dense(first row)): [batch, hidden]. The first row is always [CLS] (protected).
  torch::Tensor pool(const EncoderOutput& output);
  // In bert_weight_specs order; `prefix` is "bert." for task models.
  void append_hf_weights(const std::string& prefix, NamedWeights& weights);
  const BertConfig& config() const { return config_; }

  BertEmbeddings embeddings{nullptr};
  torch::nn::ModuleList layers{nullptr};
  torch::nn::Linear pooler{nullptr};  // null without a pooler

 private:
  BertConfig config_;
};
TORCH_MODULE(BertEncoder);

struct ClassifierOutput {
  torch::Tensor logits;  // [batch, num_labels]
  std::vector<std::vector<int64_t>> kept;
};

// Hugging Face's BertForSequenceClassification; regression when num_labels == 1.
class BertClassifierImpl : public torch::nn::Module {
 public:
  explicit BertClassifierImpl(const BertConfig& config);
  ClassifierOutput forward(const TokenBatch& batch, const Planner* planner = nullptr);
  // Names and shapes exactly as bert_weight_specs(config).
  NamedWeights hf_weights();
  const BertConfig& config() const { return config_; }

  BertEncoder bert{nullptr};
  torch::nn::Dropout dropout{nullptr};
  torch::nn::Linear classifier{nullptr};

 private:
  BertConfig config_;
};
TORCH_MODULE(BertClassifier);

// Hugging Face's BertForMaskedLM: encoder without pooler, the prediction head's
// transform, and a decoder tied to the word embeddings.
class BertMaskedLMImpl : public torch::nn::Module {
 public:
  explicit BertMaskedLMImpl(const BertConfig& config);
  // Vocabulary logits for the selected rows of the encoder output:
  // rows [n, hidden] -> [n, vocab].
  torch::Tensor predict(const torch::Tensor& rows);
  NamedWeights hf_weights();
  const BertConfig& config() const { return config_; }

  BertEncoder bert{nullptr};
  torch::nn::Linear transform{nullptr};
  torch::nn::LayerNorm transform_norm{nullptr};
  torch::Tensor bias;  // [vocab]

 private:
  BertConfig config_;
};
TORCH_MODULE(BertMaskedLM);

// Hugging Face's initialisation: N(0, 0.02) matrices and embeddings, zero
// biases, unit layer norms, a zero padding embedding.
void init_bert_weights(torch::nn::Module& module, const BertConfig& config);

}  // namespace latte::train
