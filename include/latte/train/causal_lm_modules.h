// What the trainer's decoder-only families share (GPT-2 in gpt2_modules.h, Llama in
// llama_modules.h): the rows of a batch of windows, causal attention with the engine's ACC score,
// and the forward pass with elimination in the prompt, between each layer's attention and the rest,
// with the engine's keep decision (first and last prompt rows protected).
//
// A training window is a prompt (pruned) followed by a continuation (dense). The continuation
// rows attend to the prompt rows that entered each layer and to the earlier continuation rows:
// exactly what the engine's decode steps see through its KV cache after a pruned prefill.
#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <vector>

#include "latte/prune/cost_model.h"
#include "latte/prune/plan.h"
#include "latte/train/torch_ops.h"

namespace latte::train {

// Rows of a batch of windows inside the model: the surviving prompt rows of each window, padded
// to the longest, then the continuation rows (every window has the same number).
struct DecoderRows {
  torch::Tensor hidden;                 // [batch, prompt rows + continuation rows, hidden]
  torch::Tensor positions;              // [batch, rows] int64 original positions (padding: 0)
  torch::Tensor valid;                  // [batch, rows] bool
  std::vector<int64_t> prompt_lengths;  // surviving prompt rows of each window
  int64_t prompt_rows = 0;              // padded prompt rows in `hidden`
};

struct CausalLMOutput {
  DecoderRows rows;                        // after the final norm
  std::vector<std::vector<int64_t>> kept;  // kept[b][l]: prompt rows of window b leaving layer l
};

// A layer's attention output and, when asked, the causal ACC scores of its prompt rows.
struct CausalAttention {
  torch::Tensor context;  // [batch, rows, heads * head_dim]
  torch::Tensor scores;   // [batch, prompt rows], or undefined
};

// Causal attention of `rows` over themselves: query i sees the valid keys at original positions
// <= its own. q, k, v [batch, heads, rows, head_dim] (grouped key/value heads already repeated to
// one per query head). The scores are the engine's: c(j) = (1/H) sum_h sum_{valid prompt queries
// i that see j} P[h, i, j] / (how many see j). `dropout` (may be null) acts on the probabilities.
CausalAttention causal_attention(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v,
                                 const DecoderRows& rows, bool with_scores, torch::nn::DropoutImpl* dropout);

// One block, split where elimination happens: attend() on every row entering the layer,
// finish() (output projection, residual, FFN) on the rows that stay.
class CausalBlockImpl : public torch::nn::Module {
 public:
  virtual CausalAttention attend(const DecoderRows& rows, bool with_scores) = 0;
  // hidden and context [batch, rows, hidden] -> the block's output [batch, rows, hidden].
  virtual torch::Tensor finish(const torch::Tensor& hidden, const torch::Tensor& context) = 0;
};

// A decoder-only language model as `latte train clm` trains it.
class CausalLMImpl : public torch::nn::Module {
 public:
  // ids [batch, length] int64: the first prompt_length tokens of every window are its prompt,
  // eliminated as planner->plan(prompt_length) says (null or dense: nothing), the rest its
  // continuation. InputError when prompt_length is outside [1, length] or length exceeds the
  // model's positions.
  CausalLMOutput forward(const torch::Tensor& ids, int64_t prompt_length, const Planner* planner = nullptr);
  // The rows that predict the continuation's tokens: each window's last prompt row, then its
  // continuation rows -> [batch, 1 + continuation rows, hidden].
  static torch::Tensor continuation_rows(const CausalLMOutput& output);
  // Every surviving row (kept prompt rows and continuation rows, padding left out) and the token
  // each predicts: ids[b, position + 1] of its original position -> {[rows, hidden], [rows]}.
  // ids is [batch, length] with length above every row's position.
  static std::pair<torch::Tensor, torch::Tensor> surviving_rows(const CausalLMOutput& output,
                                                                const torch::Tensor& ids);

  // Vocabulary logits of rows [..., hidden].
  virtual torch::Tensor logits(const torch::Tensor& rows) = 0;
  // Names and shapes exactly as the engine's weight specs of the family.
  virtual NamedWeights hf_weights() = 0;
  // config.json as the engine reads it.
  virtual nlohmann::json config_json() const = 0;
  // Sizes as the planner's cost model takes them.
  virtual ModelShape shape() const = 0;

 protected:
  // ids [batch, length] on the model's device -> [batch, length, hidden] entering the first block.
  virtual torch::Tensor embed(const torch::Tensor& ids, const torch::Tensor& positions) = 0;
  virtual int64_t n_layers() const = 0;
  virtual CausalBlockImpl& block(int64_t index) = 0;
  // The final norm of rows [batch, rows, hidden].
  virtual torch::Tensor normalize(const torch::Tensor& hidden) = 0;
  virtual int64_t max_positions() const = 0;
  virtual std::string max_positions_field() const = 0;  // "n_positions"
  virtual torch::Device device() const = 0;
};

}  // namespace latte::train
