#include "latte/train/bert_modules.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <span>

#include "latte/core/error.h"
#include "latte/train/torch_ops.h"

namespace latte::train {

namespace {

torch::nn::LayerNorm layer_norm(const BertConfig& config) {
  return torch::nn::LayerNorm(
      torch::nn::LayerNormOptions({config.hidden_size}).eps(static_cast<double>(config.layer_norm_eps)));
}

}  // namespace

TokenBatch make_token_batch(const std::vector<BertInput>& inputs, int64_t pad_token_id) {
  if (inputs.empty()) throw InputError("empty batch: nothing to run");
  TokenBatch batch;
  int64_t longest = 0;
  for (const BertInput& input : inputs) {
    if (input.input_ids.empty()) throw InputError("a sequence of the batch has no tokens");
    batch.lengths.push_back(static_cast<int64_t>(input.input_ids.size()));
    longest = std::max(longest, batch.lengths.back());
  }
  const int64_t batch_size = static_cast<int64_t>(inputs.size());
  batch.input_ids = torch::full({batch_size, longest}, pad_token_id, torch::kLong);
  batch.token_type_ids = torch::zeros({batch_size, longest}, torch::kLong);
  auto ids = batch.input_ids.accessor<int64_t, 2>();
  auto types = batch.token_type_ids.accessor<int64_t, 2>();
  for (int64_t b = 0; b < batch_size; ++b) {
    const BertInput& input = inputs[static_cast<size_t>(b)];
    for (size_t i = 0; i < input.input_ids.size(); ++i) {
      ids[b][static_cast<int64_t>(i)] = input.input_ids[i];
      if (!input.token_type_ids.empty()) types[b][static_cast<int64_t>(i)] = input.token_type_ids[i];
    }
  }
  batch.attention_mask = length_mask(batch.lengths, longest, torch::kCPU);
  return batch;
}

BertEmbeddingsImpl::BertEmbeddingsImpl(const BertConfig& config) {
  word = register_module("word", torch::nn::Embedding(config.vocab_size, config.hidden_size));
  position =
      register_module("position", torch::nn::Embedding(config.max_position_embeddings, config.hidden_size));
  token_type =
      register_module("token_type", torch::nn::Embedding(config.type_vocab_size, config.hidden_size));
  norm = register_module("norm", layer_norm(config));
  dropout = register_module("dropout", torch::nn::Dropout(0.1));
}

torch::Tensor BertEmbeddingsImpl::forward(const torch::Tensor& input_ids,
                                          const torch::Tensor& token_type_ids) {
  const int64_t length = input_ids.size(1);
  if (length > position->weight.size(0)) {
    throw InputError("a sequence has " + std::to_string(length) + " tokens; the model takes at most " +
                     std::to_string(position->weight.size(0)));
  }
  const torch::Tensor positions = torch::arange(length, input_ids.options()).unsqueeze(0);
  torch::Tensor hidden = word(input_ids) + position(positions) + token_type(token_type_ids);
  return dropout(norm(hidden));
}

void BertEmbeddingsImpl::append_hf_weights(const std::string& prefix, NamedWeights& weights) {
  weights.emplace_back(prefix + "embeddings.word_embeddings.weight", word->weight);
  weights.emplace_back(prefix + "embeddings.position_embeddings.weight", position->weight);
  weights.emplace_back(prefix + "embeddings.token_type_embeddings.weight", token_type->weight);
  append_norm(prefix + "embeddings.LayerNorm", norm, weights);
}

BertLayerImpl::BertLayerImpl(const BertConfig& config)
    : n_heads_(config.num_heads), head_dim_(config.head_dim()), activation_(config.hidden_act) {
  const int64_t hidden = config.hidden_size;
  query = register_module("query", torch::nn::Linear(hidden, hidden));
  key = register_module("key", torch::nn::Linear(hidden, hidden));
  value = register_module("value", torch::nn::Linear(hidden, hidden));
  attention_output = register_module("attention_output", torch::nn::Linear(hidden, hidden));
  attention_norm = register_module("attention_norm", layer_norm(config));
  intermediate = register_module("intermediate", torch::nn::Linear(hidden, config.intermediate_size));
  output = register_module("output", torch::nn::Linear(config.intermediate_size, hidden));
  output_norm = register_module("output_norm", layer_norm(config));
  dropout = register_module("dropout", torch::nn::Dropout(0.1));
  attention_dropout = register_module("attention_dropout", torch::nn::Dropout(0.1));
}

BertLayerImpl::Attention BertLayerImpl::attend(const torch::Tensor& hidden, const torch::Tensor& mask,
                                               bool with_scores) {
  const int64_t batch = hidden.size(0), rows = hidden.size(1);
  // [batch, rows, hidden] -> [batch, heads, rows, head_dim]
  auto split_heads = [&](const torch::Tensor& x) {
    return x.view({batch, rows, n_heads_, head_dim_}).transpose(1, 2);
  };
  const torch::Tensor q = split_heads(query(hidden));
  const torch::Tensor k = split_heads(key(hidden));
  const torch::Tensor v = split_heads(value(hidden));
  torch::Tensor logits = torch::matmul(q, k.transpose(-1, -2)) / std::sqrt(static_cast<double>(head_dim_));
  // Padding keys get no attention; every query sees at least [CLS].
  logits = logits.masked_fill(mask.logical_not().view({batch, 1, 1, rows}),
                              -std::numeric_limits<float>::infinity());
  const torch::Tensor probabilities = torch::softmax(logits, -1);  // [batch, heads, query, key]
  Attention result;
  result.context =
      torch::matmul(attention_dropout(probabilities), v).transpose(1, 2).reshape({batch, rows, -1});
  if (with_scores) {
    // c(j) = (1/H) sum_h sum_{i valid} P[h, i, j]: the attention row j receives.
    torch::NoGradGuard no_grad;
    const torch::Tensor valid_queries = mask.to(probabilities.dtype()).view({batch, 1, rows, 1});
    result.scores = (probabilities * valid_queries).sum(2).mean(1);
  }
  return result;
}

torch::Tensor BertLayerImpl::finish(const torch::Tensor& hidden, const torch::Tensor& context) {
  const torch::Tensor attended = attention_norm(hidden + dropout(attention_output(context)));
  return output_norm(attended + dropout(output(activate(intermediate(attended), activation_))));
}

void BertLayerImpl::append_hf_weights(const std::string& prefix, NamedWeights& weights) {
  append_linear(prefix + "attention.self.query", query, weights);
  append_linear(prefix + "attention.self.key", key, weights);
  append_linear(prefix + "attention.self.value", value, weights);
  append_linear(prefix + "attention.output.dense", attention_output, weights);
  append_norm(prefix + "attention.output.LayerNorm", attention_norm, weights);
  append_linear(prefix + "intermediate.dense", intermediate, weights);
  append_linear(prefix + "output.dense", output, weights);
  append_norm(prefix + "output.LayerNorm", output_norm, weights);
}

BertEncoderImpl::BertEncoderImpl(const BertConfig& config, bool with_pooler) : config_(config) {
  embeddings = register_module("embeddings", BertEmbeddings(config));
  layers = register_module("layers", torch::nn::ModuleList());
  for (int64_t index = 0; index < config.num_layers; ++index) layers->push_back(BertLayer(config));
  if (with_pooler)
    pooler = register_module("pooler", torch::nn::Linear(config.hidden_size, config.hidden_size));
}

EncoderOutput BertEncoderImpl::forward(const TokenBatch& batch, const Planner* planner) {
  const torch::Device device = embeddings->word->weight.device();
  const torch::Tensor input_ids = batch.input_ids.to(device);
  EncoderOutput result;
  result.hidden = embeddings(input_ids, batch.token_type_ids.to(device));
  result.mask = batch.attention_mask.to(device);
  const int64_t batch_size = input_ids.size(0);
  result.positions =
      torch::arange(input_ids.size(1), input_ids.options()).unsqueeze(0).repeat({batch_size, 1});
  result.kept.resize(static_cast<size_t>(batch_size));
  std::vector<int64_t> lengths = batch.lengths;

  const bool pruning = planner != nullptr && !planner->dense();
  std::vector<const SequencePlan*> plans;
  if (pruning) {
    for (int64_t length : lengths) plans.push_back(&planner->plan(length));
  }
  for (int64_t index = 0; index < config_.num_layers; ++index) {
    BertLayerImpl& layer = *layers[static_cast<size_t>(index)]->as<BertLayerImpl>();
    BertLayerImpl::Attention attention = layer.attend(result.hidden, result.mask, pruning);
    if (pruning) {
      const std::vector<int64_t> lengths_in = lengths;
      const torch::Tensor kept_index =
          kept_row_index(attention.scores, lengths, plans, index, planner->min_keep(), ProtectedRows::kFirst);
      if (lengths != lengths_in || kept_index.size(1) != result.hidden.size(1)) {
        // Selection is not differentiated; gradients flow through the kept rows.
        result.hidden = gather_rows(result.hidden, kept_index);
        attention.context = gather_rows(attention.context, kept_index);
        result.positions = result.positions.gather(1, kept_index);
        result.mask = length_mask(lengths, kept_index.size(1), device);
      }
    }
    for (size_t b = 0; b < lengths.size(); ++b) result.kept[b].push_back(lengths[b]);
    // From here on only the kept rows: output projection, residual, norms, FFN.
    result.hidden = layer.finish(result.hidden, attention.context);
  }
  return result;
}

torch::Tensor BertEncoderImpl::pool(const EncoderOutput& output) {
  if (pooler.is_empty()) throw Error("this encoder was built without a pooler");
  return torch::tanh(pooler(output.hidden.select(1, 0)));
}

void BertEncoderImpl::append_hf_weights(const std::string& prefix, NamedWeights& weights) {
  embeddings->append_hf_weights(prefix, weights);
  for (int64_t index = 0; index < config_.num_layers; ++index) {
    layers[static_cast<size_t>(index)]->as<BertLayerImpl>()->append_hf_weights(
        prefix + "encoder.layer." + std::to_string(index) + ".", weights);
  }
  if (!pooler.is_empty()) append_linear(prefix + "pooler.dense", pooler, weights);
}

BertClassifierImpl::BertClassifierImpl(const BertConfig& config) : config_(config) {
  if (config.num_labels < 1) throw InputError("a classifier needs at least one label");
  config_.architecture = "BertForSequenceClassification";
  bert = register_module("bert", BertEncoder(config_, true));
  dropout = register_module("dropout", torch::nn::Dropout(0.1));
  classifier = register_module("classifier", torch::nn::Linear(config.hidden_size, config.num_labels));
  init_bert_weights(*this, config_);
}

ClassifierOutput BertClassifierImpl::forward(const TokenBatch& batch, const Planner* planner) {
  EncoderOutput encoded = bert(batch, planner);
  ClassifierOutput result;
  result.logits = classifier(dropout(bert->pool(encoded)));
  result.kept = std::move(encoded.kept);
  return result;
}

NamedWeights BertClassifierImpl::hf_weights() {
  NamedWeights weights;
  bert->append_hf_weights("bert.", weights);
  append_linear("classifier", classifier, weights);
  return weights;
}

BertMaskedLMImpl::BertMaskedLMImpl(const BertConfig& config) : config_(config) {
  config_.architecture = "BertForMaskedLM";
  config_.num_labels = 0;
  config_.id2label.clear();
  config_.problem_type.clear();
  bert = register_module("bert", BertEncoder(config_, false));
  transform = register_module("transform", torch::nn::Linear(config.hidden_size, config.hidden_size));
  transform_norm = register_module("transform_norm", layer_norm(config));
  bias = register_parameter("bias", torch::zeros({config.vocab_size}));
  init_bert_weights(*this, config_);
}

torch::Tensor BertMaskedLMImpl::predict(const torch::Tensor& rows) {
  const torch::Tensor transformed = transform_norm(activate(transform(rows), config_.hidden_act));
  return torch::nn::functional::linear(transformed, bert->embeddings->word->weight, bias);
}

NamedWeights BertMaskedLMImpl::hf_weights() {
  NamedWeights weights;
  bert->append_hf_weights("bert.", weights);
  append_linear("cls.predictions.transform.dense", transform, weights);
  append_norm("cls.predictions.transform.LayerNorm", transform_norm, weights);
  weights.emplace_back("cls.predictions.bias", bias);
  return weights;
}

void init_bert_weights(torch::nn::Module& module, const BertConfig& config) {
  torch::NoGradGuard no_grad;
  // Not modules(true): that needs shared_from_this, unavailable in constructors.
  for (const std::shared_ptr<torch::nn::Module>& child : module.modules(/*include_self=*/false)) {
    if (auto* linear = child->as<torch::nn::LinearImpl>()) {
      linear->weight.normal_(0.0, 0.02);
      linear->bias.zero_();
    } else if (auto* embedding = child->as<torch::nn::EmbeddingImpl>()) {
      embedding->weight.normal_(0.0, 0.02);
    } else if (auto* norm = child->as<torch::nn::LayerNormImpl>()) {
      norm->weight.fill_(1.0);
      norm->bias.zero_();
    }
  }
  for (const std::shared_ptr<torch::nn::Module>& child : module.modules(/*include_self=*/false)) {
    if (auto* embeddings = child->as<BertEmbeddingsImpl>()) {
      if (config.pad_token_id >= 0 && config.pad_token_id < config.vocab_size) {
        embeddings->word->weight[config.pad_token_id].zero_();
      }
    }
  }
}

}  // namespace latte::train
