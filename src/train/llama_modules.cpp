#include "latte/train/llama_modules.h"

#include <cmath>
#include <vector>

#include "latte/core/rotary.h"

namespace latte::train {

namespace {

torch::nn::Linear linear(int64_t in, int64_t out, bool bias) {
  return torch::nn::Linear(torch::nn::LinearOptions(in, out).bias(bias));
}

// The engine's rotary frequencies (RotarySpec as LlamaModel::load builds it) -> [head_dim / 2] double.
torch::Tensor inverse_frequencies(const LlamaConfig& config) {
  std::vector<double> frequencies;
  if (config.rope_scaling) {
    const Llama3RopeScaling& scaling = *config.rope_scaling;
    frequencies = llama3_inverse_frequencies(config.head_dim, config.rope_theta, scaling.factor,
                                             scaling.low_freq_factor, scaling.high_freq_factor,
                                             static_cast<double>(scaling.original_max_position_embeddings));
  } else {
    for (int64_t i = 0; i < config.head_dim / 2; ++i) {
      frequencies.push_back(
          std::pow(config.rope_theta, -2.0 * static_cast<double>(i) / static_cast<double>(config.head_dim)));
    }
  }
  return torch::tensor(frequencies, torch::kDouble);
}

// x [batch, rows, heads, head_dim] turned by Hugging Face's rotate_half: pair (i, i + head_dim/2)
// by angle positions[b, r] * inverse_frequencies[i], the angle in double as the engine takes it.
torch::Tensor rotate(const torch::Tensor& x, const torch::Tensor& positions,
                     const torch::Tensor& inverse_frequencies) {
  const torch::Tensor angles =
      positions.to(torch::kDouble).unsqueeze(-1) *
      inverse_frequencies.to(positions.device()).view({1, 1, -1});       // [batch, rows, half]
  const torch::Tensor cosine = angles.cos().to(x.dtype()).unsqueeze(2);  // [batch, rows, 1, half]
  const torch::Tensor sine = angles.sin().to(x.dtype()).unsqueeze(2);
  const std::vector<torch::Tensor> halves = x.chunk(2, -1);
  return torch::cat({halves[0] * cosine - halves[1] * sine, halves[1] * cosine + halves[0] * sine}, -1);
}

}  // namespace

RmsNormImpl::RmsNormImpl(int64_t width, double eps) : eps_(eps) {
  weight = register_parameter("weight", torch::ones({width}));
}

torch::Tensor RmsNormImpl::forward(const torch::Tensor& x) {
  const torch::Tensor values = x.to(torch::kFloat);
  return weight * (values * torch::rsqrt(values.pow(2).mean(-1, true) + eps_));
}

LlamaBlockImpl::LlamaBlockImpl(const LlamaConfig& config, torch::Tensor inverse_frequencies)
    : n_heads_(config.num_attention_heads),
      n_kv_heads_(config.num_key_value_heads),
      head_dim_(config.head_dim),
      inverse_frequencies_(std::move(inverse_frequencies)) {
  const int64_t hidden = config.hidden_size, ffn = config.intermediate_size;
  const int64_t queries = n_heads_ * head_dim_, keys = n_kv_heads_ * head_dim_;
  const double eps = static_cast<double>(config.rms_norm_eps);
  attention_norm = register_module("attention_norm", RmsNorm(hidden, eps));
  query = register_module("query", linear(hidden, queries, config.qkv_bias));
  key = register_module("key", linear(hidden, keys, config.qkv_bias));
  value = register_module("value", linear(hidden, keys, config.qkv_bias));
  attention_output = register_module("attention_output", linear(queries, hidden, config.output_bias));
  ffn_norm = register_module("ffn_norm", RmsNorm(hidden, eps));
  gate = register_module("gate", linear(hidden, ffn, config.mlp_bias));
  up = register_module("up", linear(hidden, ffn, config.mlp_bias));
  down = register_module("down", linear(ffn, hidden, config.mlp_bias));
}

CausalAttention LlamaBlockImpl::attend(const DecoderRows& rows, bool with_scores) {
  const int64_t batch = rows.hidden.size(0), count = rows.hidden.size(1);
  const torch::Tensor normed = attention_norm(rows.hidden);
  // [batch, rows, heads * head_dim] -> [batch, rows, heads, head_dim]
  const auto split = [&](const torch::Tensor& x, int64_t heads) {
    return x.view({batch, count, heads, head_dim_});
  };
  const torch::Tensor q = rotate(split(query(normed), n_heads_), rows.positions, inverse_frequencies_);
  const torch::Tensor k = rotate(split(key(normed), n_kv_heads_), rows.positions, inverse_frequencies_);
  const torch::Tensor v = split(value(normed), n_kv_heads_);
  // Query head h reads key/value head h / group: [batch, rows, kv_heads, d] -> [batch, heads, rows, d].
  const int64_t group = n_heads_ / n_kv_heads_;
  const auto per_query_head = [&](const torch::Tensor& x) {
    return x.transpose(1, 2).repeat_interleave(group, 1);
  };
  return causal_attention(q.transpose(1, 2), per_query_head(k), per_query_head(v), rows, with_scores,
                          nullptr);
}

torch::Tensor LlamaBlockImpl::finish(const torch::Tensor& hidden, const torch::Tensor& context) {
  const torch::Tensor attended = hidden + attention_output(context);
  const torch::Tensor normed = ffn_norm(attended);
  return attended + down(torch::silu(gate(normed)) * up(normed));
}

void LlamaBlockImpl::append_hf_weights(const std::string& prefix, NamedWeights& weights) {
  // llama_weight_specs' order: the two norms, then the seven matrices.
  weights.emplace_back(prefix + "input_layernorm.weight", attention_norm->weight);
  weights.emplace_back(prefix + "post_attention_layernorm.weight", ffn_norm->weight);
  append_linear(prefix + "self_attn.q_proj", query, weights);
  append_linear(prefix + "self_attn.k_proj", key, weights);
  append_linear(prefix + "self_attn.v_proj", value, weights);
  append_linear(prefix + "self_attn.o_proj", attention_output, weights);
  append_linear(prefix + "mlp.gate_proj", gate, weights);
  append_linear(prefix + "mlp.up_proj", up, weights);
  append_linear(prefix + "mlp.down_proj", down, weights);
}

LlamaLMImpl::LlamaLMImpl(const LlamaConfig& config) : config_(config) {
  token_embeddings =
      register_module("token_embeddings", torch::nn::Embedding(config.vocab_size, config.hidden_size));
  blocks = register_module("blocks", torch::nn::ModuleList());
  const torch::Tensor frequencies = inverse_frequencies(config);
  for (int64_t index = 0; index < config.num_hidden_layers; ++index)
    blocks->push_back(LlamaBlock(config, frequencies));
  final_norm =
      register_module("final_norm", RmsNorm(config.hidden_size, static_cast<double>(config.rms_norm_eps)));
  if (!config.tie_word_embeddings)
    lm_head = register_module("lm_head", linear(config.hidden_size, config.vocab_size, false));
  init_llama_weights(*this);
}

torch::Tensor LlamaLMImpl::embed(const torch::Tensor& ids, const torch::Tensor& /*positions*/) {
  return token_embeddings(ids);  // positions enter through the rotary in each layer
}

CausalBlockImpl& LlamaLMImpl::block(int64_t index) {
  return *blocks[static_cast<size_t>(index)]->as<LlamaBlockImpl>();
}

torch::Tensor LlamaLMImpl::logits(const torch::Tensor& rows) {
  return torch::nn::functional::linear(rows, lm_head ? lm_head->weight : token_embeddings->weight);
}

NamedWeights LlamaLMImpl::hf_weights() {
  NamedWeights weights = {{"model.embed_tokens.weight", token_embeddings->weight}};
  for (int64_t index = 0; index < config_.num_hidden_layers; ++index) {
    blocks[static_cast<size_t>(index)]->as<LlamaBlockImpl>()->append_hf_weights(
        "model.layers." + std::to_string(index) + ".", weights);
  }
  weights.emplace_back("model.norm.weight", final_norm->weight);
  if (lm_head) weights.emplace_back("lm_head.weight", lm_head->weight);
  return weights;
}

void init_llama_weights(LlamaLMImpl& model) {
  torch::NoGradGuard no_grad;
  model.token_embeddings->weight.normal_(0.0, 0.02);
  for (const std::shared_ptr<torch::nn::Module>& child : model.blocks->children()) {
    auto& block = *child->as<LlamaBlockImpl>();
    for (torch::nn::Linear* layer : {&block.query, &block.key, &block.value, &block.attention_output,
                                     &block.gate, &block.up, &block.down}) {
      (*layer)->weight.normal_(0.0, 0.02);
      if ((*layer)->bias.defined()) (*layer)->bias.zero_();
    }
  }
  if (model.lm_head) model.lm_head->weight.normal_(0.0, 0.02);
  // RMSNorm weights start at one.
}

}  // namespace latte::train
