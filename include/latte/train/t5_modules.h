// The trainer's T5 in libtorch (T5ForConditionalGeneration). It mirrors the engine's
// latte::T5Model (src/models/t5.cpp) layer for layer: pre-norm blocks with T5's RMS norm (f32),
// bias-free projections, attention unscaled (T5 folds 1/sqrt(d_kv) into its initialisation),
// relative position bias from each stack's block 0, relu or gated-gelu FFN, a head tied to the
// shared embedding (the decoder output scaled by d_model^-0.5 first) or untied. ACC elimination
// runs in the encoder only, between each layer's self-attention and the rest, with the
// engine's bidirectional score and keep decision (the final </s> protected); kept rows keep
// their original positions for the relative bias, and the decoder cross-attends to the rows
// that leave the last encoder layer.
//
// Batches are padded and masked (the engine runs one sequence at a time). Parameters carry the
// Hugging Face names (hf_weights()), so checkpoints move both ways; tests/test_train_t5.cpp
// holds the two together on the same checkpoints.
#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "latte/models/t5.h"
#include "latte/prune/plan.h"
#include "latte/train/torch_ops.h"

namespace latte::train {

// Token sequences padded to the longest: ids [batch, longest] int64 (pad past each length).
struct PaddedIds {
  torch::Tensor ids;
  std::vector<int64_t> lengths;
};
// InputError for an empty batch or an empty sequence.
PaddedIds pad_sequences(const std::vector<std::vector<int32_t>>& sequences, int64_t pad_id);

struct T5EncoderOutput {
  // The rows that leave the last encoder layer, after the final norm, in original order and
  // padded: sequence b's rows are hidden[b, 0:kept[b].back()).
  torch::Tensor hidden;                    // [batch, rows, d_model]
  torch::Tensor mask;                      // [batch, rows] bool
  torch::Tensor positions;                 // [batch, rows] int64: each row's source position
  std::vector<std::vector<int64_t>> kept;  // kept[b][l]: rows of b leaving encoder layer l
};

// T5LayerNorm: x / sqrt(mean(x^2) + eps) * weight, computed in float32; no mean, no bias.
class T5NormImpl : public torch::nn::Module {
 public:
  T5NormImpl(int64_t width, double eps);
  torch::Tensor forward(const torch::Tensor& x);
  torch::Tensor weight;

 private:
  double eps_;
};
TORCH_MODULE(T5Norm);

// Multi-head attention without biases or scaling. forward() returns the heads' context before
// the output projection `o` (elimination happens there); score() the ACC scores.
class T5AttentionImpl : public torch::nn::Module {
 public:
  T5AttentionImpl(const T5Config& config, double dropout_rate);
  struct Result {
    torch::Tensor context;  // [batch, queries, n_heads * d_kv]
    torch::Tensor scores;   // [batch, keys] ACC scores (detached), or undefined
  };
  // queries [batch, q, d_model], memory [batch, k, d_model]; bias (additive, broadcast to
  // [batch, heads, q, k]) may be undefined; `sees` (bool, broadcast likewise) is false where a
  // query may not attend. With query_mask [batch, q] the ACC scores of the keys are computed
  // over the valid queries: c(j) = (1/H) sum_h sum_i P[h, i, j].
  Result forward(const torch::Tensor& queries, const torch::Tensor& memory, const torch::Tensor& bias,
                 const torch::Tensor& sees, const torch::Tensor& query_mask = {});
  void append_hf_weights(const std::string& prefix, NamedWeights& weights);

  torch::nn::Linear q{nullptr}, k{nullptr}, v{nullptr}, o{nullptr};
  torch::nn::Dropout dropout{nullptr};

 private:
  int64_t n_heads_, d_kv_;
};
TORCH_MODULE(T5Attention);

// DenseReluDense / DenseGatedActDense: wo(dropout(act(wi_0 x) * wi_1 x)), or wo(dropout(act(wi x))).
class T5FeedForwardImpl : public torch::nn::Module {
 public:
  T5FeedForwardImpl(const T5Config& config, double dropout_rate);
  torch::Tensor forward(const torch::Tensor& x);
  void append_hf_weights(const std::string& prefix, NamedWeights& weights);

  torch::nn::Linear wi{nullptr};    // wi, or wi_0 (the activated gate) when gated
  torch::nn::Linear wi_1{nullptr};  // gated only
  torch::nn::Linear wo{nullptr};
  torch::nn::Dropout dropout{nullptr};

 private:
  std::string activation_;  // activate()'s names: "relu", "gelu" (erf) or "gelu_new" (tanh)
};
TORCH_MODULE(T5FeedForward);

// One block: self-attention, (decoder) cross-attention, FFN, each pre-normed with a residual.
class T5BlockImpl : public torch::nn::Module {
 public:
  T5BlockImpl(const T5Config& config, bool decoder, double dropout_rate);
  // hidden + dropout(o(context)).
  torch::Tensor add_attention(const torch::Tensor& hidden, const torch::Tensor& context,
                              T5Attention& attention);
  // hidden + dropout(ffn(ffn_norm(hidden))).
  torch::Tensor add_ffn(const torch::Tensor& hidden);
  void append_hf_weights(const std::string& prefix, NamedWeights& weights, bool with_bias_table);

  T5Norm self_norm{nullptr};
  T5Attention self_attention{nullptr};
  T5Norm cross_norm{nullptr};            // decoder only
  T5Attention cross_attention{nullptr};  // decoder only
  T5Norm ffn_norm{nullptr};
  T5FeedForward ffn{nullptr};
  torch::nn::Dropout dropout{nullptr};
  torch::nn::Embedding relative_bias{nullptr};  // [buckets, heads]: block 0 only, shared by the stack
};
TORCH_MODULE(T5Block);

class T5ForConditionalGenerationImpl : public torch::nn::Module {
 public:
  // dropout_rate: T5's (what config.json holds; 0.1 when absent).
  T5ForConditionalGenerationImpl(const T5Config& config, double dropout_rate);
  // The encoder. planner null or dense: nothing eliminated; otherwise each sequence follows
  // planner->plan(its length), exactly as T5Model::encode does. InputError for a source longer
  // than the config's max_tokens (n_positions).
  T5EncoderOutput encode(const PaddedIds& source, const Planner* planner = nullptr);
  // The decoder over decoder_ids [batch, length] (decoder_start first; right padding, which
  // causal attention keeps from reaching the real rows): its final-normed rows [batch, length,
  // d_model].
  torch::Tensor decode(const torch::Tensor& decoder_ids, const T5EncoderOutput& memory);
  // Vocabulary logits of decoder rows [..., d_model] (scaled by d_model^-0.5 when the head is tied).
  torch::Tensor logits(const torch::Tensor& rows);
  // Names and shapes as the engine and Hugging Face read them (a tied head stores no lm_head).
  NamedWeights hf_weights();
  const T5Config& config() const { return config_; }
  double dropout_rate() const { return dropout_rate_; }

  torch::nn::Embedding shared{nullptr};
  torch::nn::ModuleList encoder{nullptr};
  torch::nn::ModuleList decoder{nullptr};
  T5Norm encoder_norm{nullptr}, decoder_norm{nullptr};
  torch::nn::Linear lm_head{nullptr};  // untied only
  torch::nn::Dropout dropout{nullptr};

 private:
  // The relative bias [batch or 1, heads, queries, keys] of a stack between original positions
  // (query_positions [batch or 1, q], key_positions [batch or 1, k]).
  torch::Tensor relative_bias(bool decoder, const torch::Tensor& query_positions,
                              const torch::Tensor& key_positions);

  T5Config config_;
  double dropout_rate_;
  // T5RelativeBias::bucket of relative positions -max_tokens..max_tokens, per direction.
  torch::Tensor encoder_buckets_, decoder_buckets_;
};
TORCH_MODULE(T5ForConditionalGeneration);

// Hugging Face's T5 initialisation (factor 1), but an untied head N(0, d_model^-0.5) (the tied
// head's scale; Hugging Face draws N(0, 1)): the shared embedding N(0, 1);
// q N(0, (d_model d_kv)^-0.5), k and v N(0, d_model^-0.5), o N(0, (heads d_kv)^-0.5); the
// relative bias N(0, d_model^-0.5); wi N(0, d_model^-0.5), wo N(0, d_ff^-0.5); norms 1.
void init_t5_weights(T5ForConditionalGenerationImpl& model);

// config.json of a T5 the trainer writes: what T5Config::from_json reads back, with Hugging
// Face's other fields (dropout_rate, is_encoder_decoder, ...).
nlohmann::json t5_config_json(const T5Config& config, double dropout_rate);

// The dropout_rate of a T5 config.json (0.1 when absent). FormatError naming the file when it is
// not a number in [0, 1).
double t5_dropout_rate(const std::filesystem::path& config_json);

// Loads a T5 folder's config and weights into a new model (the tensors named as hf_weights(),
// every shape checked; FormatError naming a missing tensor and the folder).
T5ForConditionalGeneration load_t5(const std::filesystem::path& model_dir);

}  // namespace latte::train
