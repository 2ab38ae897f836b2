#include "latte/train/gpt2_modules.h"

#include <cmath>
#include <limits>

#include "latte/core/error.h"

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

Gpt2BlockImpl::Attention Gpt2BlockImpl::attend(const Gpt2Rows& rows, bool with_scores) {
  const int64_t batch = rows.hidden.size(0), count = rows.hidden.size(1), width = rows.hidden.size(2);
  const std::vector<torch::Tensor> parts = qkv(attention_norm(rows.hidden)).split(width, -1);
  // [batch, rows, width] -> [batch, heads, rows, head_dim]
  const auto split_heads = [&](const torch::Tensor& x) {
    return x.reshape({batch, count, n_heads_, head_dim_}).transpose(1, 2);
  };
  const torch::Tensor q = split_heads(parts[0]), k = split_heads(parts[1]), v = split_heads(parts[2]);
  torch::Tensor logits = torch::matmul(q, k.transpose(-1, -2)) / std::sqrt(static_cast<double>(head_dim_));
  // Query i sees the valid keys at original positions <= its own: within the prompt the
  // prefill's mask, for the continuation the kept prompt rows of this layer and the earlier
  // continuation rows. Padding queries see row 0 (their output is never read).
  const torch::Tensor sees =
      rows.valid.unsqueeze(1) & (rows.positions.unsqueeze(1) <= rows.positions.unsqueeze(2));
  logits = logits.masked_fill(sees.logical_not().unsqueeze(1), -std::numeric_limits<float>::infinity());
  const torch::Tensor probabilities = torch::softmax(logits, -1);  // [batch, heads, query, key]
  Attention result;
  result.context =
      torch::matmul(attention_dropout(probabilities), v).transpose(1, 2).reshape({batch, count, width});
  if (with_scores) {
    // c(j) = (1/H) sum_h sum_{valid prompt queries i that see j} P[h, i, j] / (how many see j):
    // the engine's causal ACC score of a prefill over the prompt rows.
    torch::NoGradGuard no_grad;
    const int64_t prompt = rows.prompt_rows;
    const torch::Tensor query_valid = rows.valid.slice(1, 0, prompt).unsqueeze(2);  // [batch, query, 1]
    const torch::Tensor seen = (sees.slice(1, 0, prompt).slice(2, 0, prompt) & query_valid);
    const torch::Tensor column_sums =
        (probabilities.slice(2, 0, prompt).slice(3, 0, prompt) * query_valid.unsqueeze(1)).sum(2);
    const torch::Tensor seen_by = seen.sum(1).clamp_min(1).to(probabilities.dtype()).unsqueeze(1);
    result.scores = (column_sums / seen_by).mean(1);
  }
  return result;
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

Gpt2Output Gpt2LMImpl::forward(const torch::Tensor& ids, int64_t prompt_length, const Planner* planner) {
  const int64_t batch = ids.size(0), length = ids.size(1);
  if (length > config_.n_positions) {
    throw InputError("a window has " + std::to_string(length) + " tokens; the model takes at most " +
                     std::to_string(config_.n_positions) + " (n_positions)");
  }
  if (prompt_length < 1 || prompt_length > length) {
    throw InputError("prompt length " + std::to_string(prompt_length) + " is outside 1.." +
                     std::to_string(length));
  }
  const torch::Device device = token_embeddings->weight.device();
  const torch::TensorOptions long_options = torch::TensorOptions().dtype(torch::kLong).device(device);
  const torch::Tensor positions = torch::arange(length, long_options);
  Gpt2Output output;
  Gpt2Rows& rows = output.rows;
  rows.hidden =
      embedding_dropout(token_embeddings(ids.to(device)) + position_embeddings(positions).unsqueeze(0));
  rows.positions = positions.unsqueeze(0).expand({batch, length}).contiguous();
  rows.valid = torch::ones({batch, length}, torch::TensorOptions().dtype(torch::kBool).device(device));
  rows.prompt_lengths.assign(static_cast<size_t>(batch), prompt_length);
  rows.prompt_rows = prompt_length;
  const int64_t continuation = length - prompt_length;
  output.kept.resize(static_cast<size_t>(batch));

  const bool pruning = planner != nullptr && !planner->dense();
  const std::vector<const SequencePlan*> plans(static_cast<size_t>(batch),
                                               pruning ? &planner->plan(prompt_length) : nullptr);
  for (int64_t index = 0; index < config_.n_layer; ++index) {
    Gpt2BlockImpl& block = *blocks[static_cast<size_t>(index)]->as<Gpt2BlockImpl>();
    Gpt2BlockImpl::Attention attention = block.attend(rows, pruning);
    if (pruning) {
      const std::vector<int64_t> lengths_in = rows.prompt_lengths;
      const torch::Tensor prompt_index = kept_row_index(attention.scores, rows.prompt_lengths, plans, index,
                                                        planner->min_keep(), ProtectedRows::kFirstAndLast);
      if (rows.prompt_lengths != lengths_in || prompt_index.size(1) != rows.prompt_rows) {
        // Selection is not differentiated; gradients flow through the kept rows. The
        // continuation rows all stay.
        const torch::Tensor continuation_index =
            torch::arange(rows.prompt_rows, rows.prompt_rows + continuation, long_options)
                .unsqueeze(0)
                .expand({batch, continuation});
        const torch::Tensor kept_index = torch::cat({prompt_index, continuation_index}, 1);
        rows.hidden = gather_rows(rows.hidden, kept_index);
        attention.context = gather_rows(attention.context, kept_index);
        rows.positions = rows.positions.gather(1, kept_index);
        rows.prompt_rows = prompt_index.size(1);
        rows.valid = torch::cat({length_mask(rows.prompt_lengths, rows.prompt_rows, device),
                                 torch::ones({batch, continuation}, rows.valid.options())},
                                1);
      }
    }
    for (size_t b = 0; b < rows.prompt_lengths.size(); ++b) output.kept[b].push_back(rows.prompt_lengths[b]);
    // From here on only the kept rows: output projection, residual, FFN.
    rows.hidden = block.finish(rows.hidden, attention.context);
  }
  rows.hidden = final_norm(rows.hidden);
  return output;
}

torch::Tensor Gpt2LMImpl::continuation_rows(const Gpt2Output& output) {
  const Gpt2Rows& rows = output.rows;
  const int64_t batch = rows.hidden.size(0);
  const int64_t continuation = rows.hidden.size(1) - rows.prompt_rows;
  torch::Tensor index = torch::empty({batch, 1 + continuation}, torch::kLong);
  auto accessor = index.accessor<int64_t, 2>();
  for (int64_t b = 0; b < batch; ++b) {
    accessor[b][0] = rows.prompt_lengths[static_cast<size_t>(b)] - 1;  // the protected last prompt row
    for (int64_t i = 0; i < continuation; ++i) accessor[b][1 + i] = rows.prompt_rows + i;
  }
  return gather_rows(rows.hidden, index.to(rows.hidden.device()));
}

std::pair<torch::Tensor, torch::Tensor> Gpt2LMImpl::surviving_rows(const Gpt2Output& output,
                                                                   const torch::Tensor& ids) {
  const Gpt2Rows& rows = output.rows;
  const torch::Tensor valid = rows.valid.to(rows.hidden.device());
  const torch::Tensor next = ids.to(rows.positions.device()).gather(1, rows.positions + 1);
  return {rows.hidden.index({valid}), next.index({rows.valid})};
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
