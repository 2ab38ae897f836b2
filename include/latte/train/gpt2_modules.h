// The trainer's GPT-2 in libtorch. It mirrors the engine's latte::Gpt2Model (src/models/gpt2.cpp)
// layer for layer: pre-norm blocks, fused QKV (Hugging Face's Conv1D, [in, out] weights), causal
// attention over original positions, the configured activation, a head tied to the token
// embedding; and ACC elimination in the prompt, between each layer's attention and the rest,
// with the engine's causal score and keep decision (first and last prompt rows protected).
//
// A training window is a prompt (pruned) followed by a continuation (dense). The continuation
// rows attend to the prompt rows that entered each layer and to the earlier continuation rows:
// exactly what the engine's decode steps see through its KV cache after a pruned prefill.
// tests/test_train_gpt2.cpp holds the two together on the same checkpoint.
#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "latte/models/gpt2.h"
#include "latte/prune/plan.h"
#include "latte/train/torch_ops.h"

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

// Rows of a batch of windows inside the model: the surviving prompt rows of each window, padded
// to the longest, then the continuation rows (every window has the same number).
struct Gpt2Rows {
  torch::Tensor hidden;                 // [batch, prompt rows + continuation rows, n_embd]
  torch::Tensor positions;              // [batch, rows] int64 original positions (padding: 0)
  torch::Tensor valid;                  // [batch, rows] bool
  std::vector<int64_t> prompt_lengths;  // surviving prompt rows of each window
  int64_t prompt_rows = 0;              // padded prompt rows in `hidden`
};

// One block, split where elimination happens: attend() on every row entering the layer,
// finish() (output projection, residual, FFN) on the rows that stay.
class Gpt2BlockImpl : public torch::nn::Module {
 public:
  explicit Gpt2BlockImpl(const Gpt2Config& config);
  struct Attention {
    torch::Tensor context;  // [batch, rows, n_embd]
    torch::Tensor scores;   // [batch, prompt rows] causal ACC scores of the prompt rows, or undefined
  };
  Attention attend(const Gpt2Rows& rows, bool with_scores);
  // hidden and context [batch, rows, n_embd] -> the block's output [batch, rows, n_embd].
  torch::Tensor finish(const torch::Tensor& hidden, const torch::Tensor& context);
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

struct Gpt2Output {
  Gpt2Rows rows;                           // after the final layer norm
  std::vector<std::vector<int64_t>> kept;  // kept[b][l]: prompt rows of window b leaving layer l
};

// Hugging Face's GPT2LMHeadModel.
class Gpt2LMImpl : public torch::nn::Module {
 public:
  explicit Gpt2LMImpl(const Gpt2Config& config);
  // ids [batch, length] int64: the first prompt_length tokens of every window are its prompt,
  // eliminated as planner->plan(prompt_length) says (null or dense: nothing), the rest its
  // continuation. InputError when prompt_length is outside [1, length] or length exceeds
  // n_positions.
  Gpt2Output forward(const torch::Tensor& ids, int64_t prompt_length, const Planner* planner = nullptr);
  // The rows that predict the continuation's tokens: each window's last prompt row, then its
  // continuation rows -> [batch, 1 + continuation rows, n_embd].
  static torch::Tensor continuation_rows(const Gpt2Output& output);
  // Every surviving row (kept prompt rows and continuation rows, padding left out) and the token
  // each predicts: ids[b, position + 1] of its original position -> {[rows, n_embd], [rows]}.
  // ids is [batch, length] with length above every row's position.
  static std::pair<torch::Tensor, torch::Tensor> surviving_rows(const Gpt2Output& output,
                                                                const torch::Tensor& ids);
  // Vocabulary logits of rows [..., n_embd] through the tied head.
  torch::Tensor logits(const torch::Tensor& rows);
  // Names and shapes exactly as gpt2_weight_specs(config) (GPT2LMHeadModel: "transformer.").
  NamedWeights hf_weights();
  const Gpt2Config& config() const { return config_; }

  torch::nn::Embedding token_embeddings{nullptr};     // wte, also the head
  torch::nn::Embedding position_embeddings{nullptr};  // wpe
  torch::nn::Dropout embedding_dropout{nullptr};
  torch::nn::ModuleList blocks{nullptr};
  torch::nn::LayerNorm final_norm{nullptr};  // ln_f

 private:
  Gpt2Config config_;
};
TORCH_MODULE(Gpt2LM);

// Hugging Face's initialisation: N(0, 0.02) matrices and embeddings, the residual projections
// (attn.c_proj, mlp.c_proj) N(0, 0.02 / sqrt(2 n_layer)), zero biases, unit layer norms.
void init_gpt2_weights(Gpt2LMImpl& model);

}  // namespace latte::train
