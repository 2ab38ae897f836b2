// The trainer's Llama in libtorch. It mirrors the engine's latte::LlamaModel (src/models/llama.cpp)
// layer for layer: pre-norm blocks with RMSNorm, q/k/v/o projections (biases as the config says),
// grouped-query attention, rotary positions at each row's original position (Hugging Face's
// rotate_half, llama3 rope_scaling as the engine computes it), a SwiGLU feed-forward, the head tied
// to the token embedding or its own; and ACC elimination in the prompt as causal_lm_modules.h
// describes (the score averaged over every query head). tests/test_train_llama.cpp holds the two
// together on the same checkpoint.
#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <string>

#include "latte/models/llama.h"
#include "latte/train/causal_lm_modules.h"

namespace latte::train {

// Hugging Face's LlamaRMSNorm: x / sqrt(mean(x^2) + eps) * weight, in f32.
class RmsNormImpl : public torch::nn::Module {
 public:
  RmsNormImpl(int64_t width, double eps);
  torch::Tensor forward(const torch::Tensor& x);  // [..., width] -> [..., width]

  torch::Tensor weight;  // [width]

 private:
  double eps_;
};
TORCH_MODULE(RmsNorm);

class LlamaBlockImpl : public CausalBlockImpl {
 public:
  // inverse_frequencies [head_dim / 2] double: the rotary angle of pair i is position * entry i.
  LlamaBlockImpl(const LlamaConfig& config, torch::Tensor inverse_frequencies);
  CausalAttention attend(const DecoderRows& rows, bool with_scores) override;
  torch::Tensor finish(const torch::Tensor& hidden, const torch::Tensor& context) override;
  void append_hf_weights(const std::string& prefix, NamedWeights& weights);

  RmsNorm attention_norm{nullptr};              // input_layernorm
  torch::nn::Linear query{nullptr};             // self_attn.q_proj
  torch::nn::Linear key{nullptr};               // self_attn.k_proj
  torch::nn::Linear value{nullptr};             // self_attn.v_proj
  torch::nn::Linear attention_output{nullptr};  // self_attn.o_proj
  RmsNorm ffn_norm{nullptr};                    // post_attention_layernorm
  torch::nn::Linear gate{nullptr};              // mlp.gate_proj
  torch::nn::Linear up{nullptr};                // mlp.up_proj
  torch::nn::Linear down{nullptr};              // mlp.down_proj

 private:
  int64_t n_heads_;
  int64_t n_kv_heads_;
  int64_t head_dim_;
  torch::Tensor inverse_frequencies_;
};
TORCH_MODULE(LlamaBlock);

// Hugging Face's LlamaForCausalLM.
class LlamaLMImpl : public CausalLMImpl {
 public:
  explicit LlamaLMImpl(const LlamaConfig& config);
  torch::Tensor logits(const torch::Tensor& rows) override;
  // Names and shapes exactly as llama_weight_specs(config), biases after their weights when the
  // config has them.
  NamedWeights hf_weights() override;
  nlohmann::json config_json() const override { return config_.to_json(); }
  ModelShape shape() const override { return llama_shape(config_); }
  const LlamaConfig& config() const { return config_; }

  torch::nn::Embedding token_embeddings{nullptr};  // model.embed_tokens, the head when tied
  torch::nn::ModuleList blocks{nullptr};
  RmsNorm final_norm{nullptr};         // model.norm
  torch::nn::Linear lm_head{nullptr};  // untied only

 protected:
  torch::Tensor embed(const torch::Tensor& ids, const torch::Tensor& positions) override;
  int64_t n_layers() const override { return config_.num_hidden_layers; }
  CausalBlockImpl& block(int64_t index) override;
  torch::Tensor normalize(const torch::Tensor& hidden) override { return final_norm(hidden); }
  int64_t max_positions() const override { return config_.max_position_embeddings; }
  std::string max_positions_field() const override { return "max_position_embeddings"; }
  torch::Device device() const override { return token_embeddings->weight.device(); }

 private:
  LlamaConfig config_;
};
TORCH_MODULE(LlamaLM);

// Hugging Face's initialisation: N(0, 0.02) matrices and embeddings, zero biases, unit norms.
void init_llama_weights(LlamaLMImpl& model);

}  // namespace latte::train
