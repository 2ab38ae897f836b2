#include "latte/models/llama.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "decoder_stack.h"
#include "latte/core/error.h"
#include "latte/io/json_file.h"
#include "latte/io/model_folder.h"
#include "latte/io/safetensors.h"
#include "latte/models/memory_check.h"
#include "latte/models/registry.h"

namespace latte {

namespace {

// What a model_type's checkpoints may be and how they differ from Llama's.
struct LlamaVariant {
  const char* model_type;
  const char* architectures[2];  // with the language-model head, then without
};

constexpr LlamaVariant kVariants[] = {{"llama", {"LlamaForCausalLM", "LlamaModel"}},
                                      {"mistral", {"MistralForCausalLM", "MistralModel"}},
                                      {"qwen2", {"Qwen2ForCausalLM", "Qwen2Model"}}};

// Hugging Face's tensor names for the Llama family, written down once. *ForCausalLM checkpoints
// prefix the decoder with "model."; *Model checkpoints do not.
class LlamaWeightNames {
 public:
  explicit LlamaWeightNames(const WeightStore& store)
      : prefix_(store.contains("model.embed_tokens.weight") ? "model." : "") {}
  explicit LlamaWeightNames(std::string prefix) : prefix_(std::move(prefix)) {}
  std::string token_embeddings() const { return prefix_ + "embed_tokens.weight"; }
  std::string final_norm() const { return prefix_ + "norm.weight"; }
  std::string block(int64_t index, const std::string& leaf) const {
    return prefix_ + "layers." + std::to_string(index) + "." + leaf;
  }
  static std::string lm_head() { return "lm_head.weight"; }

 private:
  std::string prefix_;
};

struct LlamaBlockLinears {
  StoredWeight query, key, value, output, gate, up, down;
};

LlamaBlockLinears block_linears(const LlamaWeightNames& names, const LlamaConfig& config, int64_t index) {
  const int64_t hidden = config.hidden_size;
  const int64_t queries = config.num_attention_heads * config.head_dim;
  const int64_t keys = config.num_key_value_heads * config.head_dim;
  const int64_t ffn = config.intermediate_size;
  const auto weight = [&](const std::string& leaf, int64_t out, int64_t in) {
    return StoredWeight{names.block(index, leaf) + ".weight", out, in, false};
  };
  return {weight("self_attn.q_proj", queries, hidden), weight("self_attn.k_proj", keys, hidden),
          weight("self_attn.v_proj", keys, hidden),    weight("self_attn.o_proj", hidden, queries),
          weight("mlp.gate_proj", ffn, hidden),        weight("mlp.up_proj", ffn, hidden),
          weight("mlp.down_proj", hidden, ffn)};
}

StoredWeight lm_head_linear(const LlamaConfig& config) {
  return {LlamaWeightNames::lm_head(), config.vocab_size, config.hidden_size, false};
}

FormatError field_error(const std::string& label, const std::string& field, const std::string& what) {
  return FormatError(label + ": field '" + field + "' " + what);
}

std::optional<Llama3RopeScaling> rope_scaling_from_json(const nlohmann::json& json,
                                                        const std::string& label) {
  if (!json.contains("rope_scaling") || json["rope_scaling"].is_null()) return std::nullopt;
  const nlohmann::json& scaling = json["rope_scaling"];
  const std::string field_label = label + ": field 'rope_scaling'";
  if (!scaling.is_object()) throw FormatError(field_label + " must be an object or null");
  // Newer configs say rope_type, older ones type.
  const std::string type = scaling.contains("rope_type")
                               ? json_require_string(scaling, "rope_type", field_label)
                               : json_require_string(scaling, "type", field_label);
  if (type == "default") return std::nullopt;
  if (type != "llama3") {
    throw FormatError(field_label + " has type '" + type + "'; latte supports 'llama3' and none");
  }
  Llama3RopeScaling result;
  const auto positive = [&](const char* key) {
    const double value = json_require_double(scaling, key, field_label);
    if (!(value > 0.0) || !std::isfinite(value)) {
      throw FormatError(field_label + ": '" + key + "' must be a positive number");
    }
    return value;
  };
  result.factor = positive("factor");
  result.low_freq_factor = positive("low_freq_factor");
  result.high_freq_factor = positive("high_freq_factor");
  result.original_max_position_embeddings =
      json_require_positive_int(scaling, "original_max_position_embeddings", field_label);
  if (!(result.high_freq_factor > result.low_freq_factor)) {
    throw FormatError(field_label + ": 'high_freq_factor' must be above 'low_freq_factor'");
  }
  return result;
}

std::vector<int32_t> eos_ids_from_json(const nlohmann::json& json, const std::string& label,
                                       int64_t vocab_size) {
  const auto checked = [&](const nlohmann::json& value) {
    if (!value.is_number_integer())
      throw field_error(label, "eos_token_id", "must be an integer or a list of them");
    const auto id = value.get<int64_t>();
    if (id < 0 || id >= vocab_size) {
      throw field_error(
          label, "eos_token_id",
          "holds " + std::to_string(id) + ", outside the vocabulary of " + std::to_string(vocab_size));
    }
    return static_cast<int32_t>(id);
  };
  if (!json.contains("eos_token_id") || json["eos_token_id"].is_null()) return {};
  const nlohmann::json& eos = json["eos_token_id"];
  if (!eos.is_array()) return {checked(eos)};
  if (eos.empty()) throw field_error(label, "eos_token_id", "is an empty list");
  std::vector<int32_t> ids;
  for (const nlohmann::json& value : eos) ids.push_back(checked(value));
  return ids;
}

LlamaConfig config_from_json(const nlohmann::json& json, const std::string& label) {
  if (!json.is_object()) throw FormatError(label + ": expected a JSON object");
  LlamaConfig config;
  config.model_type = json_require_string(json, "model_type", label);
  const LlamaVariant* variant = nullptr;
  for (const LlamaVariant& candidate : kVariants) {
    if (config.model_type == candidate.model_type) variant = &candidate;
  }
  if (variant == nullptr) {
    throw FormatError(label + ": model_type is '" + config.model_type +
                      "', expected llama, mistral or qwen2");
  }
  config.architecture =
      json_architecture(json, label, variant->architectures).value_or(variant->architectures[0]);
  const auto bounded = [&](const char* key, int64_t limit) {
    return json_at_most(json_require_positive_int(json, key, label), key, label, limit);
  };
  config.vocab_size = bounded("vocab_size", LlamaConfig::kMaxVocabSize);
  config.hidden_size = bounded("hidden_size", LlamaConfig::kMaxHidden);
  config.intermediate_size = bounded("intermediate_size", 8 * LlamaConfig::kMaxHidden);
  config.num_hidden_layers = bounded("num_hidden_layers", LlamaConfig::kMaxLayers);
  config.num_attention_heads = bounded("num_attention_heads", config.hidden_size);
  config.num_key_value_heads =
      json_optional_positive_int(json, "num_key_value_heads", label, config.num_attention_heads);
  if (config.num_attention_heads % config.num_key_value_heads != 0) {
    throw FormatError(label + ": num_attention_heads " + std::to_string(config.num_attention_heads) +
                      " is not divisible by num_key_value_heads " +
                      std::to_string(config.num_key_value_heads));
  }
  if (!json.contains("head_dim") || json["head_dim"].is_null()) {
    if (config.hidden_size % config.num_attention_heads != 0) {
      throw FormatError(label + ": hidden_size " + std::to_string(config.hidden_size) +
                        " is not divisible by num_attention_heads " +
                        std::to_string(config.num_attention_heads) + " and no head_dim is given");
    }
    config.head_dim = config.hidden_size / config.num_attention_heads;
  } else {
    config.head_dim = json_require_positive_int(json, "head_dim", label);
  }
  if (config.head_dim % 2 != 0 || config.head_dim > LlamaConfig::kMaxHidden) {
    throw field_error(label, "head_dim",
                      "is " + std::to_string(config.head_dim) + "; rotary needs an even head_dim");
  }
  const std::string activation = json_optional_string(json, "hidden_act", label, "silu");
  if (activation != "silu") {
    throw field_error(label, "hidden_act", "is '" + activation + "'; latte supports silu");
  }
  const double eps = json_optional_double(json, "rms_norm_eps", label, 1e-6);
  if (!(eps > 0.0) || !std::isfinite(eps)) throw field_error(label, "rms_norm_eps", "must be positive");
  config.rms_norm_eps = static_cast<float>(eps);
  config.rope_theta = json_optional_double(json, "rope_theta", label, 10000.0);
  if (!(config.rope_theta > 0.0) || !std::isfinite(config.rope_theta)) {
    throw field_error(label, "rope_theta", "must be positive");
  }
  if (json.contains("partial_rotary_factor") && !json["partial_rotary_factor"].is_null() &&
      json_require_double(json, "partial_rotary_factor", label) != 1.0) {
    throw field_error(label, "partial_rotary_factor", "is not 1; latte rotates whole heads");
  }
  config.rope_scaling = rope_scaling_from_json(json, label);
  config.max_position_embeddings = json_optional_positive_int(json, "max_position_embeddings", label, 2048);
  if (config.max_position_embeddings > LlamaConfig::kMaxPositions) {
    throw field_error(label, "max_position_embeddings",
                      "is " + std::to_string(config.max_position_embeddings) + ", above latte's limit of " +
                          std::to_string(LlamaConfig::kMaxPositions));
  }
  config.tie_word_embeddings = json_optional_bool(json, "tie_word_embeddings", label, false);
  if (config.model_type == "qwen2") {
    if (json_optional_bool(json, "use_sliding_window", label, false)) {
      throw field_error(label, "use_sliding_window", "is true; latte runs Qwen2 with full attention only");
    }
    config.qkv_bias = true;
  } else if (config.model_type == "mistral") {
    // Within the window, sliding-window attention is full attention: cap the sequence there.
    const int64_t window = json_optional_positive_int(json, "sliding_window", label, 0);
    if (window > 0) config.max_position_embeddings = std::min(config.max_position_embeddings, window);
  } else {
    config.qkv_bias = json_optional_bool(json, "attention_bias", label, false);
    config.output_bias = config.qkv_bias;
    config.mlp_bias = json_optional_bool(json, "mlp_bias", label, false);
  }
  if (json.contains("bos_token_id") && !json["bos_token_id"].is_null()) {
    const int64_t id = json_require_int(json, "bos_token_id", label);
    if (id < 0 || id >= config.vocab_size) {
      throw field_error(
          label, "bos_token_id",
          "is " + std::to_string(id) + ", outside the vocabulary of " + std::to_string(config.vocab_size));
    }
    config.bos_token_id = static_cast<int32_t>(id);
  }
  config.eos_token_ids = eos_ids_from_json(json, label, config.vocab_size);
  return config;
}

// X.weight -> X.bias
std::string bias_name(const StoredWeight& weight) {
  return weight.name.substr(0, weight.name.size() - std::string(".weight").size()) + ".bias";
}

// Buffers older transformers versions saved beside the weights: each layer's rotary frequencies.
bool is_known_buffer(const std::string& name) { return name.ends_with(".self_attn.rotary_emb.inv_freq"); }

}  // namespace

LlamaConfig LlamaConfig::from_file(const std::filesystem::path& config_json) {
  return from_json(read_json_file(config_json), config_json.string());
}

LlamaConfig LlamaConfig::from_json(const nlohmann::json& json, const std::string& file_label) {
  try {
    return config_from_json(json, file_label);
  } catch (const nlohmann::json::exception& error) {
    throw FormatError(file_label + ": " + json_error_text(error));
  }
}

nlohmann::json LlamaConfig::to_json() const {
  nlohmann::json json = {
      {"architectures", {architecture}},
      {"model_type", model_type},
      {"vocab_size", vocab_size},
      {"hidden_size", hidden_size},
      {"intermediate_size", intermediate_size},
      {"num_hidden_layers", num_hidden_layers},
      {"num_attention_heads", num_attention_heads},
      {"num_key_value_heads", num_key_value_heads},
      {"head_dim", head_dim},
      {"hidden_act", "silu"},
      {"max_position_embeddings", max_position_embeddings},
      {"rms_norm_eps", rms_norm_eps},
      {"rope_theta", rope_theta},
      {"rope_scaling", nullptr},
      {"tie_word_embeddings", tie_word_embeddings},
      {"attention_bias", qkv_bias},
      {"mlp_bias", mlp_bias},
      {"initializer_range", 0.02},
      {"torch_dtype", "float32"},
  };
  if (rope_scaling) {
    json["rope_scaling"] = {
        {"rope_type", "llama3"},
        {"factor", rope_scaling->factor},
        {"low_freq_factor", rope_scaling->low_freq_factor},
        {"high_freq_factor", rope_scaling->high_freq_factor},
        {"original_max_position_embeddings", rope_scaling->original_max_position_embeddings}};
  }
  if (bos_token_id) json["bos_token_id"] = *bos_token_id;
  if (eos_token_ids.size() == 1) json["eos_token_id"] = eos_token_ids.front();
  if (eos_token_ids.size() > 1) json["eos_token_id"] = eos_token_ids;
  return json;
}

std::vector<WeightSpec> llama_weight_specs(const LlamaConfig& config) {
  const LlamaWeightNames names(std::string("model."));
  std::vector<WeightSpec> specs = {{names.token_embeddings(), {config.vocab_size, config.hidden_size}}};
  for (int64_t index = 0; index < config.num_hidden_layers; ++index) {
    specs.push_back({names.block(index, "input_layernorm.weight"), {config.hidden_size}});
    specs.push_back({names.block(index, "post_attention_layernorm.weight"), {config.hidden_size}});
    const LlamaBlockLinears block = block_linears(names, config, index);
    for (const StoredWeight& weight :
         {block.query, block.key, block.value, block.output, block.gate, block.up, block.down}) {
      specs.push_back({weight.name, {weight.out, weight.in}});
    }
  }
  specs.push_back({names.final_norm(), {config.hidden_size}});
  if (!config.tie_word_embeddings)
    specs.push_back({LlamaWeightNames::lm_head(), {config.vocab_size, config.hidden_size}});
  return specs;
}

LlamaConfig llama_preset(const std::string& preset, int64_t vocab_size, std::optional<int64_t> layers) {
  if (layers && (*layers < 1 || *layers > 128)) {
    throw InputError("a Llama preset takes 1..128 layers, got " + std::to_string(*layers));
  }
  struct Shape {
    const char* name;
    int64_t layers, hidden, heads, kv_heads, ffn, positions;
  };
  static constexpr Shape kPresets[] = {{"tiny", 2, 128, 4, 2, 344, 2048},
                                       {"small", 6, 384, 6, 2, 1024, 2048},
                                       {"1b", 16, 2048, 32, 8, 8192, 131072},
                                       {"8b", 32, 4096, 32, 8, 14336, 131072}};
  for (const Shape& shape : kPresets) {
    if (preset != shape.name) continue;
    LlamaConfig config;
    config.model_type = "llama";
    config.architecture = "LlamaForCausalLM";
    config.vocab_size = vocab_size;
    config.hidden_size = shape.hidden;
    config.intermediate_size = shape.ffn;
    config.num_hidden_layers = layers.value_or(shape.layers);
    config.num_attention_heads = shape.heads;
    config.num_key_value_heads = shape.kv_heads;
    config.head_dim = shape.hidden / shape.heads;
    config.max_position_embeddings = shape.positions;
    config.rms_norm_eps = 1e-5f;
    config.rope_theta = 500000.0;
    // Llama-3.1-8B keeps its own head; the smaller ones tie it to the embedding.
    config.tie_word_embeddings = preset != "8b";
    if (preset == "1b") config.rope_scaling = Llama3RopeScaling{32.0, 1.0, 4.0, 8192};
    if (preset == "8b") config.rope_scaling = Llama3RopeScaling{8.0, 1.0, 4.0, 8192};
    return config;
  }
  throw InputError("unknown Llama preset '" + preset + "' (choose tiny, small, 1b or 8b)");
}

std::vector<StoredWeight> llama_linear_weights(const LlamaConfig& config, bool has_lm_head,
                                               const std::string& prefix) {
  const LlamaWeightNames names(prefix);
  std::vector<StoredWeight> weights;
  for (int64_t index = 0; index < config.num_hidden_layers; ++index) {
    const LlamaBlockLinears block = block_linears(names, config, index);
    weights.insert(weights.end(),
                   {block.query, block.key, block.value, block.output, block.gate, block.up, block.down});
  }
  // A tied head is the token embedding, which stays float; an untied one is a linear weight.
  if (has_lm_head) weights.push_back(lm_head_linear(config));
  return weights;
}

LlamaModel LlamaModel::load(const std::filesystem::path& model_dir, Precision precision) {
  require_model_folder(model_dir);
  LlamaModel model;
  model.config_ = LlamaConfig::from_file(model_dir / "config.json");
  const LlamaConfig& config = model.config_;
  const WeightStore store = WeightStore::open(model_dir);
  require_memory_for(store, precision);
  const LlamaWeightNames names(store);
  const int64_t hidden = config.hidden_size;

  const auto rms_norm = [&](const std::string& name) {
    return RMSNorm(store.load(name, {hidden}), config.rms_norm_eps);
  };
  const auto bias = [&](const StoredWeight& weight, bool present) {
    return present ? store.load(bias_name(weight), {weight.out}) : Tensor();
  };
  const auto linear = [&](const StoredWeight& weight, bool has_bias, Activation activation, bool accumulate) {
    return load_linear(store, {weight}, bias(weight, has_bias), activation, accumulate, precision);
  };

  const bool has_lm_head = store.contains(LlamaWeightNames::lm_head());
  if (!config.tie_word_embeddings && !has_lm_head && config.architecture.ends_with("ForCausalLM")) {
    throw FormatError(model_dir.string() + ": tensor '" + LlamaWeightNames::lm_head() +
                      "' is missing (config.json says tie_word_embeddings is false)");
  }
  if (config.tie_word_embeddings && has_lm_head) {
    // transformers ties the head on load; a saved copy must be the embedding itself.
    const Tensor table = store.load(names.token_embeddings(), {config.vocab_size, hidden});
    const Tensor head = store.load(LlamaWeightNames::lm_head(), {config.vocab_size, hidden});
    if (std::memcmp(head.data(), table.data(), sizeof(float) * static_cast<size_t>(head.numel())) != 0) {
      throw FormatError((model_dir / "config.json").string() +
                        ": tie_word_embeddings is true but lm_head.weight differs from " +
                        names.token_embeddings());
    }
  }
  {
    TokenEmbedding embedding =
        load_token_embedding(store, names.token_embeddings(), config.vocab_size, hidden,
                             config.tie_word_embeddings || !has_lm_head, precision);
    model.token_embeddings_ = std::move(embedding.table);
    if (embedding.tied_head) model.lm_head_ = std::move(*embedding.tied_head);
  }
  RotarySpec rotary{.rotary_dim = config.head_dim, .theta = config.rope_theta};
  if (config.rope_scaling) {
    const Llama3RopeScaling& scaling = *config.rope_scaling;
    rotary.inverse_frequencies = llama3_inverse_frequencies(
        config.head_dim, config.rope_theta, scaling.factor, scaling.low_freq_factor, scaling.high_freq_factor,
        static_cast<double>(scaling.original_max_position_embeddings));
  }
  const TransformerBlockSpec spec{
      .placement = NormPlacement::kPre,
      .attention =
          scaled_attention(config.num_attention_heads, config.num_key_value_heads, config.head_dim, true),
      .rotary = rotary};
  for (int64_t index = 0; index < config.num_hidden_layers; ++index) {
    const LlamaBlockLinears linears = block_linears(names, config, index);
    const Tensor qkv_bias_parts[] = {bias(linears.query, config.qkv_bias), bias(linears.key, config.qkv_bias),
                                     bias(linears.value, config.qkv_bias)};
    const Tensor qkv_bias = config.qkv_bias ? concatenate_rows(qkv_bias_parts) : Tensor();
    SelfAttentionWeights attention{
        .qkv = load_linear(store, {linears.query, linears.key, linears.value}, qkv_bias, Activation::kNone,
                           false, precision),
        .output = linear(linears.output, config.output_bias, Activation::kNone, true),
        .norm = rms_norm(names.block(index, "input_layernorm.weight"))};
    FeedForwardWeights ffn{.ffn = FeedForward(linear(linears.gate, config.mlp_bias, Activation::kSilu, false),
                                              linear(linears.up, config.mlp_bias, Activation::kNone, false),
                                              linear(linears.down, config.mlp_bias, Activation::kNone, true)),
                           .norm = rms_norm(names.block(index, "post_attention_layernorm.weight"))};
    model.blocks_.emplace_back(spec, std::move(attention), std::move(ffn));
  }
  model.final_norm_ = rms_norm(names.final_norm());
  if (has_lm_head && !config.tie_word_embeddings) {
    model.lm_head_ =
        load_linear(store, {lm_head_linear(config)}, Tensor(), Activation::kNone, false, precision);
  }

  require_all_tensors_used(store, is_known_buffer,
                           std::to_string(config.num_hidden_layers) + " layers, " + config.architecture);
  model.parameter_count_ = store.parameter_count();
  model.dtype_on_disk_ = store.dtype_summary();
  model.precision_ = model.lm_head_.precision();  // f32 where the CPU cannot run the one asked for
  return model;
}

ModelShape llama_shape(const LlamaConfig& config) {
  return {.layers = config.num_hidden_layers,
          .hidden = config.hidden_size,
          .ffn = config.intermediate_size,
          .causal = true,
          .heads = config.num_attention_heads,
          .kv_heads = config.num_key_value_heads,
          .gated_ffn = true,
          .vocab = config.vocab_size,
          .head_dim = config.head_dim};
}

ModelShape LlamaModel::shape() const { return llama_shape(config_); }

ModelDescription llama_description(const LlamaConfig& config) {
  return {.family = config.model_type,
          .layers = config.num_hidden_layers,
          .hidden = config.hidden_size,
          .heads = config.num_attention_heads,
          .kv_heads = config.num_key_value_heads,
          .ffn = config.intermediate_size,
          .max_positions = config.max_position_embeddings,
          .activation = "silu"};
}

ModelDescription LlamaModel::description() const {
  ModelDescription description = llama_description(config_);
  description.compute_dtype = precision_name(precision_);
  return description;
}

KvCache LlamaModel::new_cache() const {
  // Head-major: a decode step reads each head's cached rows front to back.
  return KvCache(config_.num_hidden_layers, config_.num_key_value_heads * config_.head_dim, config_.head_dim);
}

DecoderStack LlamaModel::stack() const {
  return {.blocks = blocks_,
          .final_norm = final_norm_,
          .lm_head = lm_head_,
          .vocab_size = config_.vocab_size,
          .max_positions = config_.max_position_embeddings,
          .max_positions_field = "max_position_embeddings",
          .embed = [this](int32_t id, int64_t, float* row) { token_embeddings_.row(id, row); }};
}

DecoderOutput LlamaModel::forward(std::span<const int32_t> ids, KvCache& cache,
                                  const DecoderOptions& options) {
  return decoder_forward(stack(), ids, cache, options, arena_);
}

std::unique_ptr<PrefillRun> LlamaModel::start_prefill(std::span<const int32_t> ids, KvCache& cache,
                                                      const DecoderOptions& options) {
  return std::make_unique<DecoderPrefill>(stack(), ids, cache, options, arena_, /*resumable=*/true);
}

std::vector<DecoderOutput> LlamaModel::decode(std::span<const int32_t> next_ids,
                                              std::span<KvCache* const> caches,
                                              const DecoderOptions& options) {
  return decoder_decode(stack(), next_ids, caches, options, arena_);
}

namespace {

// The family entries differ only in model_type: the variants are told apart by the config.
ModelFamily llama_variant_family(const char* model_type) {
  return ModelFamily{
      .model_type = model_type,
      .kind = ModelKind::kCausalLm,
      .linear_weights =
          [](const WeightStore& store, const std::filesystem::path& config_json) {
            const LlamaConfig config = LlamaConfig::from_file(config_json);
            const std::string prefix = store.contains("model.embed_tokens.weight") ? "model." : "";
            return llama_linear_weights(config, store.contains(LlamaWeightNames::lm_head()), prefix);
          },
      .max_input_tokens =
          [](const std::filesystem::path& model_dir, const Tokenizer& tokenizer) {
            const LlamaConfig config = LlamaConfig::from_file(model_dir / "config.json");
            check_tokenizer_fits(tokenizer, config.vocab_size, model_dir / "config.json");
            return config.max_position_embeddings;
          },
      .load_causal_lm = [](const std::filesystem::path& model_dir,
                           Precision precision) -> std::unique_ptr<CausalLm> {
        return std::make_unique<LlamaModel>(LlamaModel::load(model_dir, precision));
      },
      .load_seq2seq_lm = nullptr,
      .summarize =
          [](const std::filesystem::path& model_dir) {
            const LlamaConfig config = LlamaConfig::from_file(model_dir / "config.json");
            return FolderSummary{llama_description(config), config.head_dim, config.vocab_size,
                                 llama_weight_specs(config)};
          },
  };
}

}  // namespace

const ModelFamily& llama_family() {
  static const ModelFamily family = llama_variant_family("llama");
  return family;
}

const ModelFamily& mistral_family() {
  static const ModelFamily family = llama_variant_family("mistral");
  return family;
}

const ModelFamily& qwen2_family() {
  static const ModelFamily family = llama_variant_family("qwen2");
  return family;
}

}  // namespace latte
