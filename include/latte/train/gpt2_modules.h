// The trainer's GPT-2 in libtorch. It mirrors the engine's latte::Gpt2Model (src/models/gpt2.cpp)
// layer for layer: pre-norm blocks, fused QKV (Hugging Face's Conv1D, [in, out] weights), causal
// attention over original positions, the configured activation, a head tied to the token
// embedding; and ACC elimination in the prompt as causal_lm_modules.h describes.
// tests/test_train_gpt2.cpp holds the two together on the same checkpoint.
#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "latte/models/gpt2.h"
#include "latte/train/causal_lm_modules.h"

namespace latte::train {

// Hugging Face's Conv1D: y = x W + b with W stored [in, out].
class Conv1DImpl : public torch::nn::Module {
 public:
  Conv1DImpl(int64_t in, int64_t out);
  torch::Tensor forward(const torch::Tensor& x);  // [..., in] -> [..., out]
  void append_hf_weights(const std::string& name, NamedWeights& weights);

  torch::Tensor weight;  // [in, out]
  torch::Tensor bias;    // [out]
};
TORCH_MODULE(Conv1D);

// One block, split where elimination happens (CausalBlockImpl).
class Gpt2BlockImpl : public CausalBlockImpl {
 public:
  explicit Gpt2BlockImpl(const Gpt2Config& config);
  CausalAttention attend(const DecoderRows& rows, bool with_scores) override;
  torch::Tensor finish(const torch::Tensor& hidden, const torch::Tensor& context) override;
  void append_hf_weights(const std::string& prefix, NamedWeights& weights);

  torch::nn::LayerNorm attention_norm{nullptr};  // ln_1
  Conv1D qkv{nullptr};                           // attn.c_attn
  Conv1D attention_output{nullptr};              // attn.c_proj
  torch::nn::LayerNorm ffn_norm{nullptr};        // ln_2
  Conv1D ffn_in{nullptr};                        // mlp.c_fc
  Conv1D ffn_out{nullptr};                       // mlp.c_proj
  torch::nn::Dropout attention_dropout{nullptr};
  torch::nn::Dropout residual_dropout{nullptr};

 private:
  int64_t n_heads_;
  int64_t head_dim_;
  std::string activation_;
};
TORCH_MODULE(Gpt2Block);

// Hugging Face's GPT2LMHeadModel.
class Gpt2LMImpl : public CausalLMImpl {
 public:
  explicit Gpt2LMImpl(const Gpt2Config& config);
  // Vocabulary logits of rows [..., n_embd] through the tied head.
  torch::Tensor logits(const torch::Tensor& rows) override;
  // Names and shapes exactly as gpt2_weight_specs(config) (GPT2LMHeadModel: "transformer.").
  NamedWeights hf_weights() override;
  nlohmann::json config_json() const override { return config_.to_json(); }
  ModelShape shape() const override;
  const Gpt2Config& config() const { return config_; }

  torch::nn::Embedding token_embeddings{nullptr};     // wte, also the head
  torch::nn::Embedding position_embeddings{nullptr};  // wpe
  torch::nn::Dropout embedding_dropout{nullptr};
  torch::nn::ModuleList blocks{nullptr};
  torch::nn::LayerNorm final_norm{nullptr};  // ln_f

 protected:
  torch::Tensor embed(const torch::Tensor& ids, const torch::Tensor& positions) override;
  int64_t n_layers() const override { return config_.n_layer; }
  CausalBlockImpl& block(int64_t index) override;
  torch::Tensor normalize(const torch::Tensor& hidden) override { return final_norm(hidden); }
  int64_t max_positions() const override { return config_.n_positions; }
  std::string max_positions_field() const override { return "n_positions"; }
  torch::Device device() const override { return token_embeddings->weight.device(); }

 private:
  Gpt2Config config_;
};
TORCH_MODULE(Gpt2LM);

// Hugging Face's initialisation: N(0, 0.02) matrices and embeddings, the residual projections
// (attn.c_proj, mlp.c_proj) N(0, 0.02 / sqrt(2 n_layer)), zero biases, unit layer norms.
void init_gpt2_weights(Gpt2LMImpl& model);

}  // namespace latte::train
