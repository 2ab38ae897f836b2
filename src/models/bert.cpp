#include "latte/models/bert.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "latte/core/error.h"
#include "latte/io/json_file.h"
#include "latte/io/model_folder.h"
#include "latte/io/safetensors.h"
#include "latte/models/linear_weights.h"
#include "latte/models/memory_check.h"
#include "latte/models/registry.h"
#include "latte/prune/keep.h"

namespace latte {

namespace {

const char* const kSupportedArchitectures[] = {"BertForSequenceClassification", "BertModel"};

// Hugging Face weight names of BERT, written down once. A checkpoint may carry
// the "bert." prefix (task models) or not (BertModel), and old ones name layer
// norm parameters gamma/beta instead of weight/bias.
class BertWeightNames {
 public:
  explicit BertWeightNames(const WeightStore& store) : store_(store) {
    prefix_ = store.contains("bert.embeddings.word_embeddings.weight") ? "bert." : "";
  }
  std::string embeddings(const std::string& leaf) const { return prefix_ + "embeddings." + leaf; }
  std::string layer(int64_t index, const std::string& leaf) const {
    return prefix_ + "encoder.layer." + std::to_string(index) + "." + leaf;
  }
  std::string pooler() const { return prefix_ + "pooler.dense"; }
  const std::string& prefix() const { return prefix_; }
  // "X.LayerNorm" -> the scale/shift names this checkpoint uses.
  std::pair<std::string, std::string> layer_norm(const std::string& base) const {
    if (!store_.contains(base + ".weight") && store_.contains(base + ".gamma")) {
      return {base + ".gamma", base + ".beta"};
    }
    return {base + ".weight", base + ".bias"};
  }

 private:
  const WeightStore& store_;
  std::string prefix_;
};

// Tensors of a Hugging Face BERT checkpoint that are not BERT's own weights: the pre-training
// heads of BertForPreTraining / BertForMaskedLM (cls.*) and the buffers older transformers
// versions saved. Anything else left over means the config describes a different model.
bool is_known_extra_tensor(const std::string& name, const std::string& prefix) {
  return name.starts_with("cls.") || name == prefix + "embeddings.position_ids" ||
         name == prefix + "embeddings.token_type_ids";
}

// The linear weights of one encoder layer, by role, as the checkpoint names them.
struct BertLayerLinears {
  std::vector<StoredWeight> qkv;  // query, key, value: one product
  StoredWeight attention_output, intermediate, output;
};

BertLayerLinears layer_linears(const BertWeightNames& names, const BertConfig& config, int64_t index) {
  const int64_t hidden = config.hidden_size, ffn = config.intermediate_size;
  const auto weight = [&](const std::string& leaf, int64_t out, int64_t in) {
    return StoredWeight{names.layer(index, leaf) + ".weight", out, in, false};
  };
  return {{weight("attention.self.query", hidden, hidden), weight("attention.self.key", hidden, hidden),
           weight("attention.self.value", hidden, hidden)},
          weight("attention.output.dense", hidden, hidden),
          weight("intermediate.dense", ffn, hidden),
          weight("output.dense", hidden, ffn)};
}

StoredWeight pooler_linear(const BertWeightNames& names, const BertConfig& config) {
  return {names.pooler() + ".weight", config.hidden_size, config.hidden_size, false};
}

StoredWeight classifier_linear(const BertConfig& config) {
  return {"classifier.weight", config.num_labels, config.hidden_size, false};
}

}  // namespace

std::vector<StoredWeight> bert_linear_weights(const WeightStore& store, const BertConfig& config) {
  const BertWeightNames names(store);
  std::vector<StoredWeight> weights;
  for (int64_t index = 0; index < config.num_layers; ++index) {
    BertLayerLinears layer = layer_linears(names, config, index);
    weights.insert(weights.end(), layer.qkv.begin(), layer.qkv.end());
    weights.insert(weights.end(), {layer.attention_output, layer.intermediate, layer.output});
  }
  weights.push_back(pooler_linear(names, config));
  if (config.has_classifier()) weights.push_back(classifier_linear(config));
  return weights;
}

namespace {

BertConfig config_from_json(const nlohmann::json& json, const std::string& label) {
  if (!json.is_object()) throw FormatError(label + ": expected a JSON object");
  BertConfig config;

  const std::string model_type = json_optional_string(json, "model_type", label, "bert");
  if (model_type != "bert") {
    throw FormatError(label + ": unknown architecture: model_type '" + model_type + "' (supported: bert)");
  }
  config.architecture = json_architecture(json, label, kSupportedArchitectures).value_or("BertModel");

  const auto at_most = [&](const char* key, int64_t value, int64_t limit) {
    return json_at_most(value, key, label, limit);
  };
  config.vocab_size =
      at_most("vocab_size", json_require_positive_int(json, "vocab_size", label), BertConfig::kMaxVocabSize);
  config.hidden_size = at_most("hidden_size", json_require_positive_int(json, "hidden_size", label),
                               BertConfig::kMaxHiddenSize);
  config.num_layers =
      at_most("num_hidden_layers", json_require_positive_int(json, "num_hidden_layers", label),
              BertConfig::kMaxLayers);
  config.num_heads = json_require_positive_int(json, "num_attention_heads", label);
  config.intermediate_size =
      at_most("intermediate_size", json_require_positive_int(json, "intermediate_size", label),
              BertConfig::kMaxIntermediateSize);
  config.max_position_embeddings =
      at_most("max_position_embeddings", json_require_positive_int(json, "max_position_embeddings", label),
              BertConfig::kMaxPositions);
  config.type_vocab_size =
      at_most("type_vocab_size", json_optional_positive_int(json, "type_vocab_size", label, 2),
              BertConfig::kMaxTypeVocabSize);
  config.pad_token_id = json_optional_int(json, "pad_token_id", label, 0);
  config.layer_norm_eps = static_cast<float>(json_optional_double(json, "layer_norm_eps", label, 1e-12));
  config.hidden_act = json_optional_string(json, "hidden_act", label, "gelu");
  activation_from_name(config.hidden_act, label + ": field 'hidden_act'");
  const std::string position_type = json_optional_string(json, "position_embedding_type", label, "absolute");
  if (position_type != "absolute") {
    throw FormatError(label + ": field 'position_embedding_type' is '" + position_type +
                      "'; only 'absolute' is supported");
  }
  if (config.hidden_size % config.num_heads != 0) {
    throw FormatError(label + ": hidden_size " + std::to_string(config.hidden_size) +
                      " is not divisible by num_attention_heads " + std::to_string(config.num_heads));
  }
  if (!(config.layer_norm_eps > 0.0f)) throw FormatError(label + ": field 'layer_norm_eps' must be positive");

  if (config.architecture == "BertForSequenceClassification") {
    if (json.contains("id2label")) {
      const auto& id2label = json["id2label"];
      if (!id2label.is_object() || id2label.empty()) {
        throw FormatError(label + ": field 'id2label' must be a non-empty object");
      }
      config.num_labels = at_most("id2label", static_cast<int64_t>(id2label.size()), BertConfig::kMaxLabels);
      config.id2label.resize(static_cast<size_t>(config.num_labels));
      std::vector<bool> seen(config.id2label.size(), false);
      for (const auto& [key, value] : id2label.items()) {
        size_t index = 0;
        try {
          size_t consumed = 0;
          index = std::stoul(key, &consumed);
          if (consumed != key.size()) throw std::invalid_argument(key);
        } catch (const std::exception&) {
          throw FormatError(label + ": id2label key '" + key + "' is not a label index");
        }
        if (index >= seen.size() || seen[index] || !value.is_string()) {
          throw FormatError(label + ": id2label must map 0.." + std::to_string(seen.size() - 1) +
                            " to label names; bad entry '" + key + "'");
        }
        seen[index] = true;
        config.id2label[index] = value.get<std::string>();
      }
      const int64_t declared = json_optional_positive_int(json, "num_labels", label, config.num_labels);
      if (declared != config.num_labels) {
        throw FormatError(label + ": num_labels " + std::to_string(declared) + " disagrees with id2label (" +
                          std::to_string(config.num_labels) + " entries)");
      }
    } else {
      config.num_labels = at_most("num_labels", json_optional_positive_int(json, "num_labels", label, 2),
                                  BertConfig::kMaxLabels);
      for (int64_t i = 0; i < config.num_labels; ++i) config.id2label.push_back("LABEL_" + std::to_string(i));
    }
    config.problem_type = json_optional_string(
        json, "problem_type", label, config.num_labels == 1 ? "regression" : "single_label_classification");
  }
  return config;
}

}  // namespace

BertConfig BertConfig::from_file(const std::filesystem::path& config_json) {
  return from_json(read_json_file(config_json), config_json.string());
}

BertConfig BertConfig::from_json(const nlohmann::json& json, const std::string& file_label) {
  try {
    return config_from_json(json, file_label);
  } catch (const nlohmann::json::exception& error) {
    throw FormatError(file_label + ": " + json_error_text(error));
  }
}

nlohmann::json BertConfig::to_json() const {
  nlohmann::json json = {
      {"architectures", {architecture}},
      {"model_type", "bert"},
      {"vocab_size", vocab_size},
      {"hidden_size", hidden_size},
      {"num_hidden_layers", num_layers},
      {"num_attention_heads", num_heads},
      {"intermediate_size", intermediate_size},
      {"hidden_act", hidden_act},
      {"hidden_dropout_prob", 0.1},
      {"attention_probs_dropout_prob", 0.1},
      {"max_position_embeddings", max_position_embeddings},
      {"type_vocab_size", type_vocab_size},
      {"initializer_range", 0.02},
      {"layer_norm_eps", layer_norm_eps},
      {"pad_token_id", pad_token_id},
      {"position_embedding_type", "absolute"},
      {"torch_dtype", "float32"},
  };
  if (has_classifier()) {
    nlohmann::json id2label_json = nlohmann::json::object();
    nlohmann::json label2id_json = nlohmann::json::object();
    for (size_t i = 0; i < id2label.size(); ++i) {
      id2label_json[std::to_string(i)] = id2label[i];
      label2id_json[id2label[i]] = i;
    }
    json["id2label"] = id2label_json;
    json["label2id"] = label2id_json;
    json["problem_type"] = problem_type;
  }
  return json;
}

std::vector<WeightSpec> bert_weight_specs(const BertConfig& config) {
  const std::string prefix = config.has_classifier() ? "bert." : "";
  const int64_t hidden = config.hidden_size;
  const int64_t ffn = config.intermediate_size;
  std::vector<WeightSpec> specs = {
      {prefix + "embeddings.word_embeddings.weight", {config.vocab_size, hidden}},
      {prefix + "embeddings.position_embeddings.weight", {config.max_position_embeddings, hidden}},
      {prefix + "embeddings.token_type_embeddings.weight", {config.type_vocab_size, hidden}},
      {prefix + "embeddings.LayerNorm.weight", {hidden}},
      {prefix + "embeddings.LayerNorm.bias", {hidden}},
  };
  for (int64_t index = 0; index < config.num_layers; ++index) {
    const std::string layer = prefix + "encoder.layer." + std::to_string(index) + ".";
    for (const char* part : {"query", "key", "value"}) {
      specs.push_back({layer + "attention.self." + part + ".weight", {hidden, hidden}});
      specs.push_back({layer + "attention.self." + part + ".bias", {hidden}});
    }
    specs.push_back({layer + "attention.output.dense.weight", {hidden, hidden}});
    specs.push_back({layer + "attention.output.dense.bias", {hidden}});
    specs.push_back({layer + "attention.output.LayerNorm.weight", {hidden}});
    specs.push_back({layer + "attention.output.LayerNorm.bias", {hidden}});
    specs.push_back({layer + "intermediate.dense.weight", {ffn, hidden}});
    specs.push_back({layer + "intermediate.dense.bias", {ffn}});
    specs.push_back({layer + "output.dense.weight", {hidden, ffn}});
    specs.push_back({layer + "output.dense.bias", {hidden}});
    specs.push_back({layer + "output.LayerNorm.weight", {hidden}});
    specs.push_back({layer + "output.LayerNorm.bias", {hidden}});
  }
  specs.push_back({prefix + "pooler.dense.weight", {hidden, hidden}});
  specs.push_back({prefix + "pooler.dense.bias", {hidden}});
  if (config.has_classifier()) {
    specs.push_back({"classifier.weight", {config.num_labels, hidden}});
    specs.push_back({"classifier.bias", {config.num_labels}});
  }
  return specs;
}

void check_tokenizer_matches(const BertConfig& config, const Tokenizer& tokenizer,
                             const std::filesystem::path& model_dir) {
  check_tokenizer_fits(tokenizer, config.vocab_size, model_dir / "config.json");
}

BertTokenizer load_bert_tokenizer(const std::filesystem::path& model_dir, const BertConfig& config) {
  BertTokenizer tokenizer = BertTokenizer::from_dir(model_dir);
  check_tokenizer_matches(config, tokenizer, model_dir);
  return tokenizer;
}

BertConfig bert_preset(const std::string& preset, int64_t vocab_size, int64_t num_labels,
                       std::optional<int64_t> layers) {
  if (layers && (*layers < 1 || *layers > 48)) {
    throw FieldError("layers", "must be in 1..48, got " + std::to_string(*layers));
  }
  struct Shape {
    const char* name;
    int64_t layers, hidden, heads;
  };
  // FFN = 4 x hidden throughout, as in the BERT family (Turc et al.'s miniatures).
  static constexpr Shape kPresets[] = {
      {"tiny", 2, 128, 2}, {"mini", 4, 256, 4}, {"small", 4, 512, 8}, {"base", 12, 768, 12}};
  for (const Shape& shape : kPresets) {
    if (preset != shape.name) continue;
    BertConfig config;
    config.architecture = num_labels > 0 ? "BertForSequenceClassification" : "BertModel";
    config.vocab_size = vocab_size;
    config.hidden_size = shape.hidden;
    config.num_layers = layers.value_or(shape.layers);
    config.num_heads = shape.heads;
    config.intermediate_size = 4 * shape.hidden;
    config.max_position_embeddings = 512;
    config.num_labels = num_labels;
    for (int64_t i = 0; i < num_labels; ++i) config.id2label.push_back("LABEL_" + std::to_string(i));
    if (num_labels > 0) config.problem_type = num_labels == 1 ? "regression" : "single_label_classification";
    return config;
  }
  throw InputError("unknown preset '" + preset + "' (choose tiny, mini, small or base)");
}

std::vector<float> label_probabilities(std::span<const float> logits) {
  const float maximum = *std::max_element(logits.begin(), logits.end());
  std::vector<float> probabilities(logits.size());
  float total = 0.0f;
  for (size_t i = 0; i < logits.size(); ++i) total += probabilities[i] = std::exp(logits[i] - maximum);
  for (float& p : probabilities) p /= total;
  return probabilities;
}

BertModel BertModel::load(const std::filesystem::path& model_dir, Precision precision) {
  require_model_folder(model_dir);
  BertModel model;
  model.config_ = BertConfig::from_file(model_dir / "config.json");
  const BertConfig& config = model.config_;
  const WeightStore store = WeightStore::open(model_dir);
  require_memory_for(store, precision);
  const BertWeightNames names(store);
  const int64_t hidden = config.hidden_size;

  auto layer_norm = [&](const std::string& base) {
    const auto [scale, shift] = names.layer_norm(base);
    return LayerNorm(store.load(scale, {hidden}), store.load(shift, {hidden}), config.layer_norm_eps);
  };
  // Bias name from the weight's: "X.weight" -> "X.bias".
  auto linear = [&](const StoredWeight& weight, Activation activation, bool accumulate) {
    const std::string base = weight.name.substr(0, weight.name.size() - std::string(".weight").size());
    return load_linear(store, {weight}, store.load(base + ".bias", {weight.out}), activation, accumulate,
                       precision);
  };

  model.word_embeddings_ =
      store.load(names.embeddings("word_embeddings.weight"), {config.vocab_size, hidden});
  model.position_embeddings_ =
      store.load(names.embeddings("position_embeddings.weight"), {config.max_position_embeddings, hidden});
  model.token_type_embeddings_ =
      store.load(names.embeddings("token_type_embeddings.weight"), {config.type_vocab_size, hidden});
  model.embedding_norm_ = layer_norm(names.embeddings("LayerNorm"));

  const Activation activation = activation_from_name(config.hidden_act, "config.json: field 'hidden_act'");
  const TransformerBlockSpec spec{
      .placement = NormPlacement::kPost,
      .attention = scaled_attention(config.num_heads, config.num_heads, config.head_dim(), false)};
  for (int64_t index = 0; index < config.num_layers; ++index) {
    const BertLayerLinears linears = layer_linears(names, config, index);
    // Q, K and V as one [3 hidden, hidden] product: one GEMM instead of three.
    std::vector<Tensor> biases;
    for (const char* part : {"query", "key", "value"}) {
      biases.push_back(
          store.load(names.layer(index, std::string("attention.self.") + part + ".bias"), {hidden}));
    }
    SelfAttentionWeights attention{
        .qkv = load_linear(store, linears.qkv, concatenate_rows(biases), Activation::kNone, false, precision),
        .output = linear(linears.attention_output, Activation::kNone, true),
        .norm = layer_norm(names.layer(index, "attention.output.LayerNorm"))};
    FeedForwardWeights ffn{.ffn = FeedForward(linear(linears.intermediate, activation, false),
                                              linear(linears.output, Activation::kNone, true)),
                           .norm = layer_norm(names.layer(index, "output.LayerNorm"))};
    model.layers_.emplace_back(spec, std::move(attention), std::move(ffn));
  }
  model.pooler_ = linear(pooler_linear(names, config), Activation::kTanh, false);
  if (config.has_classifier())
    model.classifier_ = linear(classifier_linear(config), Activation::kNone, false);
  require_all_tensors_used(
      store, [&](const std::string& name) { return is_known_extra_tensor(name, names.prefix()); },
      std::to_string(config.num_layers) + " layers, " + config.architecture);
  model.parameter_count_ = store.parameter_count();
  model.dtype_on_disk_ = store.dtype_summary();
  model.precision_ = model.pooler_.precision();  // f32 where the CPU cannot run the one asked for
  return_free_memory();
  return model;
}

void BertModel::check_inputs(const std::vector<BertInput>& batch) const {
  if (batch.empty()) throw InputError("empty batch: nothing to run");
  for (size_t b = 0; b < batch.size(); ++b) {
    const BertInput& input = batch[b];
    const std::string where = "input " + std::to_string(b);
    const int64_t length = static_cast<int64_t>(input.input_ids.size());
    if (length == 0) throw InputError(where + " has no tokens");
    if (length > config_.max_position_embeddings) {
      throw InputError(where + " has " + std::to_string(length) + " tokens; the model takes at most " +
                       std::to_string(config_.max_position_embeddings));
    }
    if (!input.token_type_ids.empty() && input.token_type_ids.size() != input.input_ids.size()) {
      throw InputError(where + " has " + std::to_string(input.token_type_ids.size()) +
                       " token type ids for " + std::to_string(length) + " tokens");
    }
    for (int64_t position = 0; position < length; ++position) {
      const int32_t id = input.input_ids[static_cast<size_t>(position)];
      if (id < 0 || id >= config_.vocab_size) {
        throw InputError(where + ": token id " + std::to_string(id) + " at position " +
                         std::to_string(position) + " is outside the vocabulary of " +
                         std::to_string(config_.vocab_size));
      }
      if (!input.token_type_ids.empty()) {
        const int32_t type = input.token_type_ids[static_cast<size_t>(position)];
        if (type < 0 || type >= config_.type_vocab_size) {
          throw InputError(where + ": token type id " + std::to_string(type) + " at position " +
                           std::to_string(position) + " is outside 0.." +
                           std::to_string(config_.type_vocab_size - 1));
        }
      }
    }
  }
}

void BertModel::embed(const std::vector<BertInput>& batch, float* hidden_states) const {
  const int64_t hidden = config_.hidden_size;
  int64_t row = 0;
  for (const BertInput& input : batch) {
    const int64_t length = static_cast<int64_t>(input.input_ids.size());
    for (int64_t position = 0; position < length; ++position, ++row) {
      const size_t p = static_cast<size_t>(position);
      const float* word = word_embeddings_.data() + input.input_ids[p] * hidden;
      const float* where = position_embeddings_.data() + position * hidden;
      const int32_t type = input.token_type_ids.empty() ? 0 : input.token_type_ids[p];
      const float* segment = token_type_embeddings_.data() + type * hidden;
      float* out = hidden_states + row * hidden;
      for (int64_t i = 0; i < hidden; ++i) out[i] = word[i] + where[i] + segment[i];
    }
  }
  embedding_norm_(hidden_states, row);
}

void BertModel::eliminate(int64_t layer, const std::vector<const SequencePlan*>& plans,
                          const std::vector<int64_t>& min_keeps, const float* scores, float* states,
                          float* context, BertOutput& result) const {
  const int64_t hidden = config_.hidden_size;
  const int64_t protected_rows[] = {0};  // [CLS]: the pooler reads it
  std::vector<int64_t> kept_rows;        // indices into all rows of the batch
  std::vector<int64_t> offsets = {0};
  for (size_t b = 0; b < plans.size(); ++b) {
    const int64_t first = result.offsets[b];
    const std::span<const float> sequence_scores(scores + first,
                                                 static_cast<size_t>(result.offsets[b + 1] - first));
    if (plans[b] == nullptr) {
      for (int64_t row = first; row < result.offsets[b + 1]; ++row) kept_rows.push_back(row);
    } else {
      for (int64_t row : decide_kept_rows(*plans[b], layer, sequence_scores, min_keeps[b], protected_rows))
        kept_rows.push_back(first + row);
    }
    offsets.push_back(static_cast<int64_t>(kept_rows.size()));
    result.kept[b].push_back(offsets.back() - offsets[offsets.size() - 2]);
  }
  if (static_cast<int64_t>(kept_rows.size()) != result.offsets.back()) {
    compact_rows(states, hidden, kept_rows);
    compact_rows(context, hidden, kept_rows);
    compact_values(result.positions, kept_rows);
  }
  result.offsets = std::move(offsets);
}

BertOutput BertModel::forward(const std::vector<BertInput>& batch, const ForwardOptions& options) {
  check_inputs(batch);
  PhaseTimes* times = options.phase_times;
  if (times) *times = PhaseTimes{};
  PhaseClock clock(times != nullptr);
  arena_.reset();
  const int64_t hidden = config_.hidden_size;
  BertOutput result;
  result.offsets.assign(1, 0);
  for (const BertInput& input : batch) {
    const int64_t length = static_cast<int64_t>(input.input_ids.size());
    result.offsets.push_back(result.offsets.back() + length);
    for (int64_t position = 0; position < length; ++position) result.positions.push_back(position);
  }
  result.kept.resize(batch.size());
  int64_t rows = result.offsets.back();

  if (!options.planners.empty() && options.planners.size() != batch.size()) {
    throw InputError("forward: " + std::to_string(options.planners.size()) + " planners for a batch of " +
                     std::to_string(batch.size()) + " sequences");
  }
  std::vector<const SequencePlan*> plans(batch.size(), nullptr);
  std::vector<int64_t> min_keeps(batch.size(), 1);
  bool pruning = false;
  for (size_t b = 0; b < batch.size(); ++b) {
    const Planner* planner = options.planners.empty() ? options.planner : options.planners[b];
    if (planner == nullptr || planner->dense()) continue;
    plans[b] = &planner->plan(static_cast<int64_t>(batch[b].input_ids.size()));
    min_keeps[b] = planner->min_keep();
    pruning = true;
  }
  const bool scoring = pruning || options.compute_scores || options.on_scores;

  float* states = arena_.allocate(static_cast<size_t>(rows * hidden));   // residual stream
  float* context = arena_.allocate(static_cast<size_t>(rows * hidden));  // attention output
  float* scores = scoring ? arena_.allocate(static_cast<size_t>(rows)) : nullptr;
  embed(batch, states);
  if (times) times->embeddings = clock.lap();

  std::vector<BlockSequence> sequences(batch.size());
  for (int64_t index = 0; index < config_.num_layers; ++index) {
    const TransformerBlock& layer = layers_[static_cast<size_t>(index)];
    for (size_t b = 0; b < batch.size(); ++b) {
      const int64_t first = result.offsets[b];
      sequences[b] = BlockSequence{
          .positions = std::span<const int64_t>(result.positions.data() + first,
                                                static_cast<size_t>(result.offsets[b + 1] - first)),
          .key_scores = scores ? scores + first : nullptr};
    }
    layer.attend(states, rows, sequences, context, arena_);
    if (options.on_scores) {
      for (size_t b = 0; b + 1 < result.offsets.size(); ++b) {
        options.on_scores(
            index, static_cast<int64_t>(b),
            std::span<const float>(scores + result.offsets[b],
                                   static_cast<size_t>(result.offsets[b + 1] - result.offsets[b])));
      }
    }
    if (pruning) {
      eliminate(index, plans, min_keeps, scores, states, context, result);
      rows = result.offsets.back();
    } else {
      for (size_t b = 0; b < batch.size(); ++b)
        result.kept[b].push_back(result.offsets[b + 1] - result.offsets[b]);
    }
    if (times) times->layer_in.push_back(clock.lap());
    // From here on only the kept rows: output projection, residual, norms, FFN.
    layer.finish(states, context, rows, {}, arena_);
    if (times) times->layer_kept.push_back(clock.lap());
  }

  result.last_hidden_state = Tensor({rows, hidden});
  std::memcpy(result.last_hidden_state.data(), states, sizeof(float) * static_cast<size_t>(rows * hidden));
  const int64_t batch_size = static_cast<int64_t>(batch.size());
  Tensor first_tokens({batch_size, hidden});
  for (int64_t b = 0; b < batch_size; ++b) {
    std::memcpy(first_tokens.data() + b * hidden, states + result.offsets[static_cast<size_t>(b)] * hidden,
                sizeof(float) * static_cast<size_t>(hidden));
  }
  result.pooler_output = Tensor({batch_size, hidden});
  pooler_(first_tokens.data(), batch_size, result.pooler_output.data());
  if (config_.has_classifier()) {
    result.logits = Tensor({batch_size, config_.num_labels});
    classifier_(result.pooler_output.data(), batch_size, result.logits.data());
    // Weights are finite (checked at load), but activations can still overflow: a NaN must never
    // reach a caller as an answer.
    const float* logits = result.logits.data();
    for (int64_t i = 0; i < batch_size * config_.num_labels; ++i) {
      if (!std::isfinite(logits[i])) {
        throw Error("input " + std::to_string(i / config_.num_labels) +
                    ": the model's output is not finite (NaN or infinity)");
      }
    }
  }
  if (times) times->head = clock.lap();
  return result;
}

const ModelFamily& bert_family() {
  static const ModelFamily family{
      .model_type = "bert",
      .kind = ModelKind::kEncoder,
      .linear_weights =
          [](const WeightStore& store, const std::filesystem::path& config_json) {
            return bert_linear_weights(store, BertConfig::from_file(config_json));
          },
      .max_input_tokens =
          [](const std::filesystem::path& model_dir, const Tokenizer& tokenizer) {
            const BertConfig config = BertConfig::from_file(model_dir / "config.json");
            check_tokenizer_matches(config, tokenizer, model_dir);
            return config.max_position_embeddings;
          },
      .load_causal_lm = nullptr,
      .load_seq2seq_lm = nullptr,
  };
  return family;
}

}  // namespace latte
