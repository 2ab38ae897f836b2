#include "latte/models/gpt2.h"

#include <algorithm>

#include "decoder_stack.h"
#include "latte/core/error.h"
#include "latte/io/json_file.h"
#include "latte/io/model_folder.h"
#include "latte/io/safetensors.h"
#include "latte/models/linear_weights.h"
#include "latte/models/memory_check.h"
#include "latte/models/registry.h"

namespace latte {

namespace {

const char* const kSupportedArchitectures[] = {"GPT2LMHeadModel", "GPT2Model"};

// Hugging Face's GPT-2 tensor names, written down once. GPT2LMHeadModel checkpoints prefix
// the transformer with "transformer."; GPT2Model checkpoints do not.
class Gpt2WeightNames {
 public:
  explicit Gpt2WeightNames(const WeightStore& store)
      : prefix_(store.contains("transformer.wte.weight") ? "transformer." : "") {}
  std::string token_embeddings() const { return prefix_ + "wte.weight"; }
  std::string position_embeddings() const { return prefix_ + "wpe.weight"; }
  std::string final_norm() const { return prefix_ + "ln_f"; }
  std::string block(int64_t index, const std::string& leaf) const {
    return prefix_ + "h." + std::to_string(index) + "." + leaf;
  }
  static std::string lm_head() { return "lm_head.weight"; }
  // Buffers older transformers versions saved beside the weights: the causal mask of each block.
  bool is_known_buffer(const std::string& name) const {
    return name.starts_with(prefix_ + "h.") &&
           (name.ends_with(".attn.bias") || name.ends_with(".attn.masked_bias"));
  }

 private:
  std::string prefix_;
};

// The Conv1D weights of one block ([in, out] on disk), by role.
struct Gpt2BlockLinears {
  StoredWeight qkv, attention_output, ffn_in, ffn_out;
};

Gpt2BlockLinears block_linears(const Gpt2WeightNames& names, const Gpt2Config& config, int64_t index) {
  const int64_t width = config.n_embd;
  const auto conv1d = [&](const std::string& leaf, int64_t in, int64_t out) {
    return StoredWeight{names.block(index, leaf) + ".weight", out, in, true};
  };
  return {conv1d("attn.c_attn", width, 3 * width), conv1d("attn.c_proj", width, width),
          conv1d("mlp.c_fc", width, config.n_inner), conv1d("mlp.c_proj", config.n_inner, width)};
}

StoredWeight lm_head_linear(const Gpt2Config& config) {
  return {Gpt2WeightNames::lm_head(), config.vocab_size, config.n_embd, false};
}

Gpt2Config config_from_json(const nlohmann::json& json, const std::string& label) {
  if (!json.is_object()) throw FormatError(label + ": expected a JSON object");
  Gpt2Config config;
  const std::string model_type = json_require_string(json, "model_type", label);
  if (model_type != "gpt2") {
    throw FormatError(label + ": model_type is '" + model_type + "', expected 'gpt2'");
  }
  config.architecture = json_architecture(json, label, kSupportedArchitectures).value_or("GPT2LMHeadModel");
  const auto bounded = [&](const char* key, int64_t limit) {
    return json_at_most(json_require_positive_int(json, key, label), key, label, limit);
  };
  config.vocab_size = bounded("vocab_size", Gpt2Config::kMaxVocabSize);
  config.n_positions = bounded("n_positions", Gpt2Config::kMaxPositions);
  config.n_embd = bounded("n_embd", Gpt2Config::kMaxEmbd);
  config.n_layer = bounded("n_layer", Gpt2Config::kMaxLayers);
  config.n_head = bounded("n_head", config.n_embd);
  if (config.n_embd % config.n_head != 0) {
    throw FormatError(label + ": n_embd " + std::to_string(config.n_embd) + " is not divisible by n_head " +
                      std::to_string(config.n_head));
  }
  config.n_inner = json_optional_positive_int(json, "n_inner", label, 4 * config.n_embd);
  if (config.n_inner > 4 * Gpt2Config::kMaxEmbd) {
    throw FormatError(label + ": field 'n_inner' is " + std::to_string(config.n_inner) +
                      ", above latte's limit");
  }
  config.activation_function = json_optional_string(json, "activation_function", label, "gelu_new");
  activation_from_name(config.activation_function, label + ": field 'activation_function'");
  config.layer_norm_epsilon =
      static_cast<float>(json_optional_double(json, "layer_norm_epsilon", label, 1e-5));
  if (!(config.layer_norm_epsilon > 0.0f)) {
    throw FormatError(label + ": field 'layer_norm_epsilon' must be positive");
  }
  for (const char* key : {"scale_attn_by_inverse_layer_idx", "reorder_and_upcast_attn"}) {
    if (json_optional_bool(json, key, label, false)) {
      throw FormatError(label + ": field '" + key + "' is true; latte supports GPT-2 without it");
    }
  }
  if (!json_optional_bool(json, "scale_attn_weights", label, true)) {
    throw FormatError(label +
                      ": field 'scale_attn_weights' is false; latte supports GPT-2 with scaled attention");
  }
  const auto token_id = [&](const char* key) -> std::optional<int32_t> {
    if (!json.contains(key) || json[key].is_null()) return std::nullopt;
    const int64_t id = json_require_int(json, key, label);
    if (id < 0 || id >= config.vocab_size) {
      throw FormatError(label + ": field '" + key + "' is " + std::to_string(id) +
                        ", outside the vocabulary of " + std::to_string(config.vocab_size));
    }
    return static_cast<int32_t>(id);
  };
  config.bos_token_id = token_id("bos_token_id");
  config.eos_token_id = token_id("eos_token_id");
  return config;
}

}  // namespace

int64_t next_position(const KvCache& cache) {
  if (cache.layers.empty() || cache.layers[0].rows() == 0) return 0;
  return cache.layers[0].positions().back() + 1;
}

Gpt2Config Gpt2Config::from_file(const std::filesystem::path& config_json) {
  return from_json(read_json_file(config_json), config_json.string());
}

Gpt2Config Gpt2Config::from_json(const nlohmann::json& json, const std::string& file_label) {
  try {
    return config_from_json(json, file_label);
  } catch (const nlohmann::json::exception& error) {
    throw FormatError(file_label + ": " + json_error_text(error));
  }
}

nlohmann::json Gpt2Config::to_json() const {
  nlohmann::json json = {
      {"architectures", {architecture}},
      {"model_type", "gpt2"},
      {"vocab_size", vocab_size},
      {"n_positions", n_positions},
      {"n_ctx", n_positions},
      {"n_embd", n_embd},
      {"n_layer", n_layer},
      {"n_head", n_head},
      {"n_inner", n_inner},
      {"activation_function", activation_function},
      {"layer_norm_epsilon", layer_norm_epsilon},
      {"resid_pdrop", 0.1},
      {"embd_pdrop", 0.1},
      {"attn_pdrop", 0.1},
      {"initializer_range", 0.02},
      {"scale_attn_weights", true},
      {"tie_word_embeddings", true},
      {"torch_dtype", "float32"},
  };
  if (bos_token_id) json["bos_token_id"] = *bos_token_id;
  if (eos_token_id) json["eos_token_id"] = *eos_token_id;
  return json;
}

std::vector<WeightSpec> gpt2_weight_specs(const Gpt2Config& config) {
  const std::string prefix = config.architecture == "GPT2Model" ? "" : "transformer.";
  const int64_t width = config.n_embd;
  std::vector<WeightSpec> specs = {{prefix + "wte.weight", {config.vocab_size, width}},
                                   {prefix + "wpe.weight", {config.n_positions, width}}};
  for (int64_t index = 0; index < config.n_layer; ++index) {
    const std::string block = prefix + "h." + std::to_string(index) + ".";
    specs.push_back({block + "ln_1.weight", {width}});
    specs.push_back({block + "ln_1.bias", {width}});
    specs.push_back({block + "attn.c_attn.weight", {width, 3 * width}});
    specs.push_back({block + "attn.c_attn.bias", {3 * width}});
    specs.push_back({block + "attn.c_proj.weight", {width, width}});
    specs.push_back({block + "attn.c_proj.bias", {width}});
    specs.push_back({block + "ln_2.weight", {width}});
    specs.push_back({block + "ln_2.bias", {width}});
    specs.push_back({block + "mlp.c_fc.weight", {width, config.n_inner}});
    specs.push_back({block + "mlp.c_fc.bias", {config.n_inner}});
    specs.push_back({block + "mlp.c_proj.weight", {config.n_inner, width}});
    specs.push_back({block + "mlp.c_proj.bias", {width}});
  }
  specs.push_back({prefix + "ln_f.weight", {width}});
  specs.push_back({prefix + "ln_f.bias", {width}});
  return specs;
}

Gpt2Config gpt2_preset(const std::string& preset, int64_t vocab_size, std::optional<int64_t> layers) {
  if (layers && (*layers < 1 || *layers > 48)) {
    throw InputError("a GPT-2 preset takes 1..48 layers, got " + std::to_string(*layers));
  }
  struct Shape {
    const char* name;
    int64_t layers, width, heads, positions;
  };
  static constexpr Shape kPresets[] = {
      {"tiny", 2, 128, 2, 256}, {"small", 6, 384, 6, 512}, {"base", 12, 768, 12, 1024}};
  for (const Shape& shape : kPresets) {
    if (preset != shape.name) continue;
    Gpt2Config config;
    config.architecture = "GPT2LMHeadModel";
    config.vocab_size = vocab_size;
    config.n_positions = shape.positions;
    config.n_embd = shape.width;
    config.n_layer = layers.value_or(shape.layers);
    config.n_head = shape.heads;
    config.n_inner = 4 * shape.width;
    config.bos_token_id = static_cast<int32_t>(vocab_size - 1);  // <|endoftext|> is GPT-2's last token
    config.eos_token_id = config.bos_token_id;
    return config;
  }
  throw InputError("unknown GPT-2 preset '" + preset + "' (choose tiny, small or base)");
}

std::vector<StoredWeight> gpt2_linear_weights(const WeightStore& store, const Gpt2Config& config) {
  const Gpt2WeightNames names(store);
  std::vector<StoredWeight> weights;
  for (int64_t index = 0; index < config.n_layer; ++index) {
    const Gpt2BlockLinears block = block_linears(names, config, index);
    weights.insert(weights.end(), {block.qkv, block.attention_output, block.ffn_in, block.ffn_out});
  }
  // A tied head is the token embedding, which stays float; an untied one is a linear weight.
  if (store.contains(Gpt2WeightNames::lm_head())) weights.push_back(lm_head_linear(config));
  return weights;
}

Gpt2Model Gpt2Model::load(const std::filesystem::path& model_dir, Precision precision) {
  require_model_folder(model_dir);
  Gpt2Model model;
  model.config_ = Gpt2Config::from_file(model_dir / "config.json");
  const Gpt2Config& config = model.config_;
  const WeightStore store = WeightStore::open(model_dir);
  require_memory_for(store, precision);
  const Gpt2WeightNames names(store);
  const int64_t width = config.n_embd;

  const auto layer_norm = [&](const std::string& base) {
    return LayerNorm(store.load(base + ".weight", {width}), store.load(base + ".bias", {width}),
                     config.layer_norm_epsilon);
  };
  // Bias name from the weight's: "X.weight" -> "X.bias". Conv1D's [in, out] is transposed at load.
  const auto linear = [&](const StoredWeight& weight, Activation activation, bool accumulate) {
    const std::string base = weight.name.substr(0, weight.name.size() - std::string(".weight").size());
    return load_linear(store, {weight}, store.load(base + ".bias", {weight.out}), activation, accumulate,
                       precision);
  };

  {
    TokenEmbedding embedding = load_token_embedding(store, names.token_embeddings(), config.vocab_size, width,
                                                    !store.contains(Gpt2WeightNames::lm_head()), precision);
    model.token_embeddings_ = std::move(embedding.table);
    if (embedding.tied_head) model.lm_head_ = std::move(*embedding.tied_head);
  }
  model.position_embeddings_ = store.load(names.position_embeddings(), {config.n_positions, width});
  const Activation activation =
      activation_from_name(config.activation_function, "config.json: field 'activation_function'");
  const TransformerBlockSpec spec{
      .placement = NormPlacement::kPre,
      .attention = scaled_attention(config.n_head, config.n_head, config.head_dim(), true)};
  for (int64_t index = 0; index < config.n_layer; ++index) {
    const Gpt2BlockLinears linears = block_linears(names, config, index);
    SelfAttentionWeights attention{.qkv = linear(linears.qkv, Activation::kNone, false),
                                   .output = linear(linears.attention_output, Activation::kNone, true),
                                   .norm = layer_norm(names.block(index, "ln_1"))};
    FeedForwardWeights ffn{.ffn = FeedForward(linear(linears.ffn_in, activation, false),
                                              linear(linears.ffn_out, Activation::kNone, true)),
                           .norm = layer_norm(names.block(index, "ln_2"))};
    model.blocks_.emplace_back(spec, std::move(attention), std::move(ffn));
  }
  model.final_norm_ = layer_norm(names.final_norm());
  // Tied to the token embedding (built above) unless the checkpoint carries its own head.
  if (store.contains(Gpt2WeightNames::lm_head())) {
    model.lm_head_ =
        load_linear(store, {lm_head_linear(config)}, Tensor(), Activation::kNone, false, precision);
  }

  require_all_tensors_used(
      store, [&](const std::string& name) { return names.is_known_buffer(name); },
      std::to_string(config.n_layer) + " layers, " + config.architecture);
  model.parameter_count_ = store.parameter_count();
  model.dtype_on_disk_ = store.dtype_summary();
  model.precision_ = model.lm_head_.precision();  // f32 where the CPU cannot run the one asked for
  return model;
}

DecoderStack Gpt2Model::stack() const {
  const int64_t width = config_.n_embd;
  return {.blocks = blocks_,
          .final_norm = final_norm_,
          .lm_head = lm_head_,
          .vocab_size = config_.vocab_size,
          .max_positions = config_.n_positions,
          .max_positions_field = "n_positions",
          .embed = [this, width](int32_t id, int64_t position, float* row) {
            token_embeddings_.row(id, row);
            const float* where = position_embeddings_.data() + position * width;
            for (int64_t i = 0; i < width; ++i) row[i] += where[i];
          }};
}

DecoderOutput Gpt2Model::forward(std::span<const int32_t> ids, KvCache& cache,
                                 const DecoderOptions& options) {
  return decoder_forward(stack(), ids, cache, options, arena_);
}

std::unique_ptr<PrefillRun> Gpt2Model::start_prefill(std::span<const int32_t> ids, KvCache& cache,
                                                     const DecoderOptions& options) {
  return std::make_unique<DecoderPrefill>(stack(), ids, cache, options, arena_, /*resumable=*/true);
}

std::vector<DecoderOutput> Gpt2Model::decode(std::span<const int32_t> next_ids,
                                             std::span<KvCache* const> caches,
                                             const DecoderOptions& options) {
  return decoder_decode(stack(), next_ids, caches, options, arena_);
}

ModelDescription gpt2_description(const Gpt2Config& config) {
  return {.family = "gpt2",
          .layers = config.n_layer,
          .hidden = config.n_embd,
          .heads = config.n_head,
          .kv_heads = config.n_head,
          .ffn = config.n_inner,
          .max_positions = config.n_positions,
          .activation = config.activation_function};
}

const ModelFamily& gpt2_family() {
  static const ModelFamily family{
      .model_type = "gpt2",
      .kind = ModelKind::kCausalLm,
      .linear_weights =
          [](const WeightStore& store, const std::filesystem::path& config_json) {
            return gpt2_linear_weights(store, Gpt2Config::from_file(config_json));
          },
      // Only n_positions and vocab_size are read: a tokenizer check must not need the whole config.
      .max_input_tokens =
          [](const std::filesystem::path& model_dir, const Tokenizer& tokenizer) {
            const std::filesystem::path path = model_dir / "config.json";
            const nlohmann::json config = read_json_file(path);
            const std::string label = path.string();
            check_tokenizer_fits(tokenizer, json_require_positive_int(config, "vocab_size", label), path);
            const int64_t positions = json_require_positive_int(config, "n_positions", label);
            if (positions > Gpt2Config::kMaxPositions) {
              throw FormatError(label + ": field 'n_positions' is " + std::to_string(positions) +
                                ", above latte's limit of " + std::to_string(Gpt2Config::kMaxPositions));
            }
            return positions;
          },
      .load_causal_lm = [](const std::filesystem::path& model_dir,
                           Precision precision) -> std::unique_ptr<CausalLm> {
        return std::make_unique<Gpt2Model>(Gpt2Model::load(model_dir, precision));
      },
      .summarize =
          [](const std::filesystem::path& model_dir) {
            const Gpt2Config config = Gpt2Config::from_file(model_dir / "config.json");
            return FolderSummary{gpt2_description(config), config.head_dim(), config.vocab_size,
                                 gpt2_weight_specs(config)};
          },
  };
  return family;
}

}  // namespace latte
