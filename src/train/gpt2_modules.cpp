#include "latte/train/gpt2_modules.h"

#include <cmath>

namespace latte::train {

namespace {

// GPT-2's dropout (resid_pdrop, embd_pdrop, attn_pdrop), what to_json() writes.
constexpr double kDropout = 0.1;

torch::nn::LayerNorm layer_norm(const Gpt2Config& config) {
  return torch::nn::LayerNorm(
      torch::nn::LayerNormOptions({config.n_embd}).eps(static_cast<double>(config.layer_norm_epsilon)));
}

}  // namespace

Conv1DImpl::Conv1DImpl(int64_t in, int64_t out) {
  weight = register_parameter("weight", torch::empty({in, out}));
  bias = register_parameter("bias", torch::zeros({out}));
}

torch::Tensor Conv1DImpl::forward(const torch::Tensor& x) {
  std::vector<int64_t> shape(x.sizes().begin(), x.sizes().end());
  shape.back() = weight.size(1);
  return torch::addmm(bias, x.reshape({-1, weight.size(0)}), weight).view(shape);
}

void Conv1DImpl::append_hf_weights(const std::string& name, NamedWeights& weights) {
  weights.emplace_back(name + ".weight", weight);
  weights.emplace_back(name + ".bias", bias);
}

Gpt2BlockImpl::Gpt2BlockImpl(const Gpt2Config& config)
    : n_heads_(config.n_head), head_dim_(config.head_dim()), activation_(config.activation_function) {
  const int64_t width = config.n_embd;
  attention_norm = register_module("attention_norm", layer_norm(config));
  qkv = register_module("qkv", Conv1D(width, 3 * width));
  attention_output = register_module("attention_output", Conv1D(width, width));
  ffn_norm = register_module("ffn_norm", layer_norm(config));
  ffn_in = register_module("ffn_in", Conv1D(width, config.n_inner));
  ffn_out = register_module("ffn_out", Conv1D(config.n_inner, width));
  attention_dropout = register_module("attention_dropout", torch::nn::Dropout(kDropout));
  residual_dropout = register_module("residual_dropout", torch::nn::Dropout(kDropout));
}

CausalAttention Gpt2BlockImpl::attend(const DecoderRows& rows, bool with_scores) {
  const int64_t batch = rows.hidden.size(0), count = rows.hidden.size(1), width = rows.hidden.size(2);
  const std::vector<torch::Tensor> parts = qkv(attention_norm(rows.hidden)).split(width, -1);
  // [batch, rows, width] -> [batch, heads, rows, head_dim]
  const auto split_heads = [&](const torch::Tensor& x) {
    return x.reshape({batch, count, n_heads_, head_dim_}).transpose(1, 2);
  };
  return causal_attention(split_heads(parts[0]), split_heads(parts[1]), split_heads(parts[2]), rows,
                          with_scores, attention_dropout.get());
}

torch::Tensor Gpt2BlockImpl::finish(const torch::Tensor& hidden, const torch::Tensor& context) {
  const torch::Tensor attended = hidden + residual_dropout(attention_output(context));
  return attended + residual_dropout(ffn_out(activate(ffn_in(ffn_norm(attended)), activation_)));
}

void Gpt2BlockImpl::append_hf_weights(const std::string& prefix, NamedWeights& weights) {
  append_norm(prefix + "ln_1", attention_norm, weights);
  qkv->append_hf_weights(prefix + "attn.c_attn", weights);
  attention_output->append_hf_weights(prefix + "attn.c_proj", weights);
  append_norm(prefix + "ln_2", ffn_norm, weights);
  ffn_in->append_hf_weights(prefix + "mlp.c_fc", weights);
  ffn_out->append_hf_weights(prefix + "mlp.c_proj", weights);
}

Gpt2LMImpl::Gpt2LMImpl(const Gpt2Config& config) : config_(config) {
  config_.architecture = "GPT2LMHeadModel";
  token_embeddings =
      register_module("token_embeddings", torch::nn::Embedding(config.vocab_size, config.n_embd));
  position_embeddings =
      register_module("position_embeddings", torch::nn::Embedding(config.n_positions, config.n_embd));
  embedding_dropout = register_module("embedding_dropout", torch::nn::Dropout(kDropout));
  blocks = register_module("blocks", torch::nn::ModuleList());
  for (int64_t index = 0; index < config.n_layer; ++index) blocks->push_back(Gpt2Block(config));
  final_norm = register_module("final_norm", layer_norm(config));
  init_gpt2_weights(*this);
}

torch::Tensor Gpt2LMImpl::embed(const torch::Tensor& ids, const torch::Tensor& positions) {
  return embedding_dropout(token_embeddings(ids) + position_embeddings(positions).unsqueeze(0));
}

CausalBlockImpl& Gpt2LMImpl::block(int64_t index) {
  return *blocks[static_cast<size_t>(index)]->as<Gpt2BlockImpl>();
}

ModelShape Gpt2LMImpl::shape() const {
  return ModelShape{config_.n_layer, config_.n_embd, config_.n_inner, true};
}

torch::Tensor Gpt2LMImpl::logits(const torch::Tensor& rows) {
  return torch::nn::functional::linear(rows, token_embeddings->weight);
}

NamedWeights Gpt2LMImpl::hf_weights() {
  const std::string prefix = "transformer.";
  NamedWeights weights = {{prefix + "wte.weight", token_embeddings->weight},
                          {prefix + "wpe.weight", position_embeddings->weight}};
  for (int64_t index = 0; index < config_.n_layer; ++index) {
    blocks[static_cast<size_t>(index)]->as<Gpt2BlockImpl>()->append_hf_weights(
        prefix + "h." + std::to_string(index) + ".", weights);
  }
  append_norm(prefix + "ln_f", final_norm, weights);
  return weights;
}

void init_gpt2_weights(Gpt2LMImpl& model) {
  torch::NoGradGuard no_grad;
  const double residual_std = 0.02 / std::sqrt(2.0 * static_cast<double>(model.config().n_layer));
  model.token_embeddings->weight.normal_(0.0, 0.02);
  model.position_embeddings->weight.normal_(0.0, 0.02);
  for (const std::shared_ptr<torch::nn::Module>& child : model.blocks->children()) {
    auto& block = *child->as<Gpt2BlockImpl>();
    for (Conv1D* conv : {&block.qkv, &block.ffn_in}) (*conv)->weight.normal_(0.0, 0.02);
    for (Conv1D* conv : {&block.attention_output, &block.ffn_out}) (*conv)->weight.normal_(0.0, residual_std);
    for (Conv1D* conv : {&block.qkv, &block.attention_output, &block.ffn_in, &block.ffn_out})
      (*conv)->bias.zero_();
  }
  // LayerNorms start at their defaults: unit scale, zero shift.
}

}  // namespace latte::train
