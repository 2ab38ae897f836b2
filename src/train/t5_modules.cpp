#include "latte/train/t5_modules.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "latte/core/error.h"
#include "latte/io/json_file.h"
#include "latte/train/checkpoint.h"

namespace latte::train {

namespace {

torch::nn::Linear linear(int64_t in, int64_t out) {
  return torch::nn::Linear(torch::nn::LinearOptions(in, out).bias(false));
}

// activate()'s name of the config's activation.
std::string activation_name(const T5Config& config) {
  switch (config.activation()) {
    case Activation::kGeluTanh:
      return "gelu_new";
    case Activation::kGeluErf:
      return "gelu";
    default:
      return "relu";
  }
}

// T5RelativeBias::bucket of relative positions -max_tokens..max_tokens.
torch::Tensor bucket_table(const T5Config& config, bool bidirectional) {
  const int64_t span = config.max_tokens;
  torch::Tensor table = torch::empty({2 * span + 1}, torch::kLong);
  auto accessor = table.accessor<int64_t, 1>();
  for (int64_t r = -span; r <= span; ++r) {
    accessor[r + span] = T5RelativeBias::bucket(r, bidirectional, config.relative_attention_num_buckets,
                                                config.relative_attention_max_distance);
  }
  return table;
}

std::string stack_prefix(bool decoder, int64_t block) {
  return std::string(decoder ? "decoder" : "encoder") + ".block." + std::to_string(block) + ".";
}

// full [1, heads, L, L] (between positions 0..L-1) -> [batch, heads, rows, rows] between the
// positions [batch, rows]: one lookup of the bucket table per stack, not per layer.
torch::Tensor bias_between(const torch::Tensor& full, const torch::Tensor& positions) {
  const int64_t batch = positions.size(0), rows = positions.size(1), heads = full.size(1);
  const torch::Tensor picked_rows =
      full[0].index_select(1, positions.reshape({-1})).view({heads, batch, rows, -1});
  const torch::Tensor columns = positions.view({1, batch, 1, rows}).expand({heads, batch, rows, rows});
  return picked_rows.gather(3, columns).permute({1, 0, 2, 3});
}

}  // namespace

PaddedIds pad_sequences(const std::vector<std::vector<int32_t>>& sequences, int64_t pad_id) {
  if (sequences.empty()) throw InputError("empty batch: nothing to run");
  PaddedIds padded;
  int64_t longest = 0;
  for (const std::vector<int32_t>& sequence : sequences) {
    if (sequence.empty()) throw InputError("a sequence of the batch has no tokens");
    padded.lengths.push_back(static_cast<int64_t>(sequence.size()));
    longest = std::max(longest, padded.lengths.back());
  }
  padded.ids = torch::full({static_cast<int64_t>(sequences.size()), longest}, pad_id, torch::kLong);
  auto accessor = padded.ids.accessor<int64_t, 2>();
  for (size_t b = 0; b < sequences.size(); ++b) {
    for (size_t i = 0; i < sequences[b].size(); ++i)
      accessor[static_cast<int64_t>(b)][static_cast<int64_t>(i)] = sequences[b][i];
  }
  return padded;
}

T5NormImpl::T5NormImpl(int64_t width, double eps) : eps_(eps) {
  weight = register_parameter("weight", torch::ones({width}));
}

torch::Tensor T5NormImpl::forward(const torch::Tensor& x) {
  const torch::Tensor x32 = x.to(torch::kFloat);
  const torch::Tensor variance = x32.pow(2).mean(-1, /*keepdim=*/true);
  return weight * (x32 * torch::rsqrt(variance + eps_)).to(weight.dtype());
}

T5AttentionImpl::T5AttentionImpl(const T5Config& config, double dropout_rate)
    : n_heads_(config.num_heads), d_kv_(config.d_kv) {
  q = register_module("q", linear(config.d_model, config.inner()));
  k = register_module("k", linear(config.d_model, config.inner()));
  v = register_module("v", linear(config.d_model, config.inner()));
  o = register_module("o", linear(config.inner(), config.d_model));
  this->dropout = register_module("dropout", torch::nn::Dropout(dropout_rate));
}

T5AttentionImpl::Result T5AttentionImpl::forward(const torch::Tensor& queries, const torch::Tensor& memory,
                                                 const torch::Tensor& bias, const torch::Tensor& sees,
                                                 const torch::Tensor& query_mask) {
  const int64_t batch = queries.size(0), n_queries = queries.size(1), n_keys = memory.size(1);
  // [batch, rows, inner] -> [batch, heads, rows, d_kv]
  const auto split_heads = [&](const torch::Tensor& x, int64_t rows) {
    return x.view({batch, rows, n_heads_, d_kv_}).transpose(1, 2);
  };
  const torch::Tensor query = split_heads(q(queries), n_queries);
  const torch::Tensor key = split_heads(k(memory), n_keys);
  const torch::Tensor value = split_heads(v(memory), n_keys);
  torch::Tensor logits = torch::matmul(query, key.transpose(-1, -2));  // unscaled, as T5
  if (bias.defined()) logits = logits + bias;
  logits = logits.masked_fill(sees.logical_not(), -std::numeric_limits<float>::infinity());
  const torch::Tensor probabilities = torch::softmax(logits, -1);  // [batch, heads, query, key]
  Result result;
  result.context =
      torch::matmul(dropout(probabilities), value).transpose(1, 2).reshape({batch, n_queries, -1});
  if (query_mask.defined()) {
    torch::NoGradGuard no_grad;
    const torch::Tensor valid_queries = query_mask.to(probabilities.dtype()).view({batch, 1, n_queries, 1});
    result.scores = (probabilities * valid_queries).sum(2).mean(1);
  }
  return result;
}

void T5AttentionImpl::append_hf_weights(const std::string& prefix, NamedWeights& weights) {
  weights.emplace_back(prefix + "q.weight", q->weight);
  weights.emplace_back(prefix + "k.weight", k->weight);
  weights.emplace_back(prefix + "v.weight", v->weight);
  weights.emplace_back(prefix + "o.weight", o->weight);
}

T5FeedForwardImpl::T5FeedForwardImpl(const T5Config& config, double dropout_rate)
    : activation_(activation_name(config)) {
  wi = register_module("wi", linear(config.d_model, config.d_ff));
  if (config.gated()) wi_1 = register_module("wi_1", linear(config.d_model, config.d_ff));
  wo = register_module("wo", linear(config.d_ff, config.d_model));
  this->dropout = register_module("dropout", torch::nn::Dropout(dropout_rate));
}

torch::Tensor T5FeedForwardImpl::forward(const torch::Tensor& x) {
  torch::Tensor inner = activate(wi(x), activation_);
  if (!wi_1.is_empty()) inner = inner * wi_1(x);
  return wo(dropout(inner));
}

void T5FeedForwardImpl::append_hf_weights(const std::string& prefix, NamedWeights& weights) {
  if (wi_1.is_empty()) {
    weights.emplace_back(prefix + "wi.weight", wi->weight);
  } else {
    weights.emplace_back(prefix + "wi_0.weight", wi->weight);
    weights.emplace_back(prefix + "wi_1.weight", wi_1->weight);
  }
  weights.emplace_back(prefix + "wo.weight", wo->weight);
}

T5BlockImpl::T5BlockImpl(const T5Config& config, bool decoder, double dropout_rate) {
  const double eps = static_cast<double>(config.layer_norm_epsilon);
  self_norm = register_module("self_norm", T5Norm(config.d_model, eps));
  self_attention = register_module("self_attention", T5Attention(config, dropout_rate));
  if (decoder) {
    cross_norm = register_module("cross_norm", T5Norm(config.d_model, eps));
    cross_attention = register_module("cross_attention", T5Attention(config, dropout_rate));
  }
  ffn_norm = register_module("ffn_norm", T5Norm(config.d_model, eps));
  ffn = register_module("ffn", T5FeedForward(config, dropout_rate));
  this->dropout = register_module("dropout", torch::nn::Dropout(dropout_rate));
}

torch::Tensor T5BlockImpl::add_attention(const torch::Tensor& hidden, const torch::Tensor& context,
                                         T5Attention& attention) {
  return hidden + dropout(attention->o(context));
}

torch::Tensor T5BlockImpl::add_ffn(const torch::Tensor& hidden) {
  return hidden + dropout(ffn(ffn_norm(hidden)));
}

void T5BlockImpl::append_hf_weights(const std::string& prefix, NamedWeights& weights, bool with_bias_table) {
  self_attention->append_hf_weights(prefix + "layer.0.SelfAttention.", weights);
  if (with_bias_table) {
    weights.emplace_back(prefix + "layer.0.SelfAttention.relative_attention_bias.weight",
                         relative_bias->weight);
  }
  weights.emplace_back(prefix + "layer.0.layer_norm.weight", self_norm->weight);
  std::string ffn_layer = "layer.1.";
  if (!cross_attention.is_empty()) {
    cross_attention->append_hf_weights(prefix + "layer.1.EncDecAttention.", weights);
    weights.emplace_back(prefix + "layer.1.layer_norm.weight", cross_norm->weight);
    ffn_layer = "layer.2.";
  }
  ffn->append_hf_weights(prefix + ffn_layer + "DenseReluDense.", weights);
  weights.emplace_back(prefix + ffn_layer + "layer_norm.weight", ffn_norm->weight);
}

T5ForConditionalGenerationImpl::T5ForConditionalGenerationImpl(const T5Config& config, double dropout_rate)
    : config_(config), dropout_rate_(dropout_rate) {
  shared = register_module("shared", torch::nn::Embedding(config.vocab_size, config.d_model));
  encoder = register_module("encoder", torch::nn::ModuleList());
  decoder = register_module("decoder", torch::nn::ModuleList());
  for (const bool is_decoder : {false, true}) {
    const int64_t blocks = is_decoder ? config.num_decoder_layers : config.num_layers;
    for (int64_t index = 0; index < blocks; ++index) {
      T5Block block(config, is_decoder, dropout_rate);
      if (index == 0) {
        block->relative_bias = block->register_module(
            "relative_bias", torch::nn::Embedding(config.relative_attention_num_buckets, config.num_heads));
      }
      (is_decoder ? decoder : encoder)->push_back(block);
    }
  }
  const double eps = static_cast<double>(config.layer_norm_epsilon);
  encoder_norm = register_module("encoder_norm", T5Norm(config.d_model, eps));
  decoder_norm = register_module("decoder_norm", T5Norm(config.d_model, eps));
  if (!config.tie_word_embeddings)
    lm_head = register_module("lm_head", linear(config.d_model, config.vocab_size));
  this->dropout = register_module("dropout", torch::nn::Dropout(dropout_rate));
  encoder_buckets_ = register_buffer("encoder_buckets", bucket_table(config, true));
  decoder_buckets_ = register_buffer("decoder_buckets", bucket_table(config, false));
  init_t5_weights(*this);
}

torch::Tensor T5ForConditionalGenerationImpl::relative_bias(bool is_decoder,
                                                            const torch::Tensor& query_positions,
                                                            const torch::Tensor& key_positions) {
  const torch::Tensor& buckets = is_decoder ? decoder_buckets_ : encoder_buckets_;
  T5BlockImpl& first = *(is_decoder ? decoder : encoder)[0]->as<T5BlockImpl>();
  // bucket of key_position - query_position: [batch, q, k]
  const torch::Tensor relative =
      key_positions.unsqueeze(1) - query_positions.unsqueeze(2) + config_.max_tokens;
  const torch::Tensor values = first.relative_bias(buckets.index({relative}));  // [batch, q, k, heads]
  return values.permute({0, 3, 1, 2});
}

T5EncoderOutput T5ForConditionalGenerationImpl::encode(const PaddedIds& source, const Planner* planner) {
  const torch::Device device = shared->weight.device();
  const torch::Tensor ids = source.ids.to(device);
  const int64_t batch = ids.size(0), length = ids.size(1);
  if (length > config_.max_tokens) {
    throw InputError("a source has " + std::to_string(length) + " tokens; the model takes at most " +
                     std::to_string(config_.max_tokens) + " (n_positions)");
  }
  T5EncoderOutput result;
  torch::Tensor hidden = dropout(shared(ids));
  result.mask = length_mask(source.lengths, length, device);
  result.positions = torch::arange(length, ids.options()).unsqueeze(0).repeat({batch, 1});
  result.kept.resize(static_cast<size_t>(batch));
  std::vector<int64_t> lengths = source.lengths;

  const torch::Tensor arange = torch::arange(length, ids.options()).unsqueeze(0);
  const torch::Tensor full_bias = relative_bias(false, arange, arange);  // [1, heads, length, length]
  bool pruned = false;  // some row was dropped: positions are no longer 0..length-1
  const bool pruning = planner != nullptr && !planner->dense();
  std::vector<const SequencePlan*> plans;
  if (pruning) {
    for (int64_t sequence_length : lengths) plans.push_back(&planner->plan(sequence_length));
  }
  for (int64_t index = 0; index < config_.num_layers; ++index) {
    T5BlockImpl& block = *encoder[static_cast<size_t>(index)]->as<T5BlockImpl>();
    // The rows' bias: the full table's rows and columns at their original positions.
    const torch::Tensor bias = pruned ? bias_between(full_bias, result.positions) : full_bias;
    const torch::Tensor sees = result.mask.view({batch, 1, 1, -1});
    const torch::Tensor normed = block.self_norm(hidden);
    T5AttentionImpl::Result attention =
        block.self_attention(normed, normed, bias, sees, pruning ? result.mask : torch::Tensor());
    if (pruning) {
      const std::vector<int64_t> lengths_in = lengths;
      // The final </s>: without it the decoder loses the end-of-input marker it was trained on.
      const torch::Tensor kept_index =
          kept_row_index(attention.scores, lengths, plans, index, planner->min_keep(), ProtectedRows::kLast);
      if (lengths != lengths_in || kept_index.size(1) != hidden.size(1)) {
        // Selection is not differentiated; gradients flow through the kept rows.
        hidden = gather_rows(hidden, kept_index);
        attention.context = gather_rows(attention.context, kept_index);
        result.positions = result.positions.gather(1, kept_index);
        result.mask = length_mask(lengths, kept_index.size(1), device);
        pruned = true;
      }
    }
    for (size_t b = 0; b < lengths.size(); ++b) result.kept[b].push_back(lengths[b]);
    hidden = block.add_ffn(block.add_attention(hidden, attention.context, block.self_attention));
  }
  result.hidden = dropout(encoder_norm(hidden));
  return result;
}

torch::Tensor T5ForConditionalGenerationImpl::decode(const torch::Tensor& decoder_ids,
                                                     const T5EncoderOutput& memory) {
  const torch::Device device = shared->weight.device();
  const torch::Tensor ids = decoder_ids.to(device);
  const int64_t batch = ids.size(0), length = ids.size(1);
  if (length > config_.max_tokens) {
    throw InputError("a target has " + std::to_string(length) + " tokens; the model takes at most " +
                     std::to_string(config_.max_tokens) + " (n_positions)");
  }
  torch::Tensor hidden = dropout(shared(ids));
  const torch::Tensor positions = torch::arange(length, ids.options()).unsqueeze(0);
  const torch::Tensor bias = relative_bias(true, positions, positions);  // [1, heads, length, length]
  const torch::Tensor causal = (positions.unsqueeze(1) <= positions.unsqueeze(2)).unsqueeze(1);
  const torch::Tensor sees_memory = memory.mask.view({batch, 1, 1, -1});
  for (int64_t index = 0; index < config_.num_decoder_layers; ++index) {
    T5BlockImpl& block = *decoder[static_cast<size_t>(index)]->as<T5BlockImpl>();
    const torch::Tensor normed = block.self_norm(hidden);
    hidden = block.add_attention(hidden, block.self_attention(normed, normed, bias, causal).context,
                                 block.self_attention);
    // Cross-attention has no position bias: the kept memory rows are a set.
    const torch::Tensor cross =
        block.cross_attention(block.cross_norm(hidden), memory.hidden, torch::Tensor(), sees_memory).context;
    hidden = block.add_ffn(block.add_attention(hidden, cross, block.cross_attention));
  }
  return dropout(decoder_norm(hidden));
}

torch::Tensor T5ForConditionalGenerationImpl::logits(const torch::Tensor& rows) {
  if (!config_.tie_word_embeddings) return lm_head(rows);
  // modeling_t5.py rescales before the tied head: the embedding was trained at unit scale.
  return torch::nn::functional::linear(rows * std::pow(static_cast<double>(config_.d_model), -0.5),
                                       shared->weight);
}

NamedWeights T5ForConditionalGenerationImpl::hf_weights() {
  NamedWeights weights = {{"shared.weight", shared->weight}};
  for (const bool is_decoder : {false, true}) {
    torch::nn::ModuleList& blocks = is_decoder ? decoder : encoder;
    for (size_t index = 0; index < blocks->size(); ++index) {
      blocks[index]->as<T5BlockImpl>()->append_hf_weights(
          stack_prefix(is_decoder, static_cast<int64_t>(index)), weights, index == 0);
    }
    weights.emplace_back(is_decoder ? "decoder.final_layer_norm.weight" : "encoder.final_layer_norm.weight",
                         (is_decoder ? decoder_norm : encoder_norm)->weight);
  }
  if (!lm_head.is_empty()) weights.emplace_back("lm_head.weight", lm_head->weight);
  return weights;
}

void init_t5_weights(T5ForConditionalGenerationImpl& model) {
  torch::NoGradGuard no_grad;
  const T5Config& config = model.config();
  const double d_model = static_cast<double>(config.d_model);
  const double inner = static_cast<double>(config.inner());
  model.shared->weight.normal_(0.0, 1.0);
  // Hugging Face draws an untied head N(0, 1), which starts T5 at logits of std sqrt(d_model)
  // (a loss near 40 at d_model 128); the scale the tied head has, d_model^-0.5, starts it at 1.
  if (!model.lm_head.is_empty()) model.lm_head->weight.normal_(0.0, std::pow(d_model, -0.5));
  for (torch::nn::ModuleList* blocks : {&model.encoder, &model.decoder}) {
    for (const std::shared_ptr<torch::nn::Module>& child : (*blocks)->children()) {
      auto& block = *child->as<T5BlockImpl>();
      for (T5Attention* attention : {&block.self_attention, &block.cross_attention}) {
        if (attention->is_empty()) continue;
        (*attention)->q->weight.normal_(0.0, std::pow(d_model * static_cast<double>(config.d_kv), -0.5));
        (*attention)->k->weight.normal_(0.0, std::pow(d_model, -0.5));
        (*attention)->v->weight.normal_(0.0, std::pow(d_model, -0.5));
        (*attention)->o->weight.normal_(0.0, std::pow(inner, -0.5));
      }
      if (!block.relative_bias.is_empty()) block.relative_bias->weight.normal_(0.0, std::pow(d_model, -0.5));
      block.ffn->wi->weight.normal_(0.0, std::pow(d_model, -0.5));
      if (!block.ffn->wi_1.is_empty()) block.ffn->wi_1->weight.normal_(0.0, std::pow(d_model, -0.5));
      block.ffn->wo->weight.normal_(0.0, std::pow(static_cast<double>(config.d_ff), -0.5));
    }
  }
  // The norms start at 1 (T5NormImpl's constructor).
}

nlohmann::json t5_config_json(const T5Config& config, double dropout_rate) {
  nlohmann::json json = {{"architectures", {"T5ForConditionalGeneration"}},
                         {"model_type", config.model_type},
                         {"vocab_size", config.vocab_size},
                         {"d_model", config.d_model},
                         {"d_kv", config.d_kv},
                         {"d_ff", config.d_ff},
                         {"num_layers", config.num_layers},
                         {"num_decoder_layers", config.num_decoder_layers},
                         {"num_heads", config.num_heads},
                         {"relative_attention_num_buckets", config.relative_attention_num_buckets},
                         {"relative_attention_max_distance", config.relative_attention_max_distance},
                         {"layer_norm_epsilon", config.layer_norm_epsilon},
                         {"feed_forward_proj", config.feed_forward_proj},
                         {"tie_word_embeddings", config.tie_word_embeddings},
                         {"dropout_rate", dropout_rate},
                         {"initializer_factor", 1.0},
                         {"is_encoder_decoder", true},
                         {"decoder_start_token_id", config.decoder_start_token_id},
                         {"pad_token_id", config.pad_token_id},
                         {"n_positions", config.max_tokens}};
  if (config.eos_token_id) json["eos_token_id"] = *config.eos_token_id;
  return json;
}

double t5_dropout_rate(const std::filesystem::path& config_json) {
  const nlohmann::json json = read_json_file(config_json);
  const double rate = json_optional_double(json, "dropout_rate", config_json.string(), 0.1);
  if (!(rate >= 0.0 && rate < 1.0)) {
    throw FormatError(config_json.string() + ": field 'dropout_rate' must be in [0, 1)");
  }
  return rate;
}

T5ForConditionalGeneration load_t5(const std::filesystem::path& model_dir) {
  if (!std::filesystem::is_directory(model_dir)) {
    throw InputError("model folder " + model_dir.string() + " does not exist or is not a folder");
  }
  const std::filesystem::path config_json = model_dir / "config.json";
  T5ForConditionalGeneration model(T5Config::from_file(config_json), t5_dropout_rate(config_json));
  load_hf_weights(model_dir, model->hf_weights(), nullptr);
  return model;
}

}  // namespace latte::train
