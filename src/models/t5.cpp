#include "latte/models/t5.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "decoder_stack.h"
#include "latte/core/compact.h"
#include "latte/core/error.h"
#include "latte/io/json_file.h"
#include "latte/io/model_folder.h"
#include "latte/io/safetensors.h"
#include "latte/models/memory_check.h"
#include "latte/models/registry.h"
#include "latte/prune/keep.h"

namespace latte {

namespace {

const char* const kSupportedArchitectures[] = {"T5ForConditionalGeneration", "MT5ForConditionalGeneration"};

// Hugging Face's T5 tensor names, written down once. The encoder's layer.1 and the decoder's
// layer.2 are the FFN; the decoder's layer.1 is the cross-attention.
struct T5Names {
  static std::string layer(const char* stack, int64_t block, int64_t sublayer, const std::string& leaf) {
    return std::string(stack) + ".block." + std::to_string(block) + ".layer." + std::to_string(sublayer) +
           "." + leaf;
  }
  static std::string relative_bias(const char* stack) {
    return layer(stack, 0, 0, "SelfAttention.relative_attention_bias.weight");
  }
  static int64_t ffn_sublayer(const char* stack) { return std::string(stack) == "decoder" ? 2 : 1; }
};

constexpr const char* kEncoder = "encoder";
constexpr const char* kDecoder = "decoder";

// The linear weights of one block, by role ([out, in] on disk).
struct T5BlockLinears {
  StoredWeight q, k, v, o;
  std::optional<StoredWeight> cross_q, cross_k, cross_v, cross_o;  // decoder only
  StoredWeight wi, wi_1, wo;  // plain: wi; gated: wi is wi_0 (the activated gate), wi_1 the up
};

T5BlockLinears block_linears(const T5Config& config, const char* stack, int64_t block) {
  const int64_t d = config.d_model, inner = config.inner(), f = config.d_ff;
  const auto weight = [&](int64_t sublayer, const std::string& leaf, int64_t out, int64_t in) {
    return StoredWeight{T5Names::layer(stack, block, sublayer, leaf + ".weight"), out, in, false};
  };
  T5BlockLinears linears{.q = weight(0, "SelfAttention.q", inner, d),
                         .k = weight(0, "SelfAttention.k", inner, d),
                         .v = weight(0, "SelfAttention.v", inner, d),
                         .o = weight(0, "SelfAttention.o", d, inner)};
  if (std::string(stack) == kDecoder) {
    linears.cross_q = weight(1, "EncDecAttention.q", inner, d);
    linears.cross_k = weight(1, "EncDecAttention.k", inner, d);
    linears.cross_v = weight(1, "EncDecAttention.v", inner, d);
    linears.cross_o = weight(1, "EncDecAttention.o", d, inner);
  }
  const int64_t ffn = T5Names::ffn_sublayer(stack);
  linears.wi = weight(ffn, config.gated() ? "DenseReluDense.wi_0" : "DenseReluDense.wi", f, d);
  if (config.gated()) linears.wi_1 = weight(ffn, "DenseReluDense.wi_1", f, d);
  linears.wo = weight(ffn, "DenseReluDense.wo", d, f);
  return linears;
}

StoredWeight lm_head_linear(const T5Config& config) {
  return {"lm_head.weight", config.vocab_size, config.d_model};
}

T5Config config_from_json(const nlohmann::json& json, const std::string& label) {
  if (!json.is_object()) throw FormatError(label + ": expected a JSON object");
  T5Config config;
  config.model_type = json_require_string(json, "model_type", label);
  if (config.model_type != "t5" && config.model_type != "mt5") {
    throw FormatError(label + ": model_type is '" + config.model_type + "', expected 't5' or 'mt5'");
  }
  if (json.contains("architectures") && json["architectures"].is_array() && !json["architectures"].empty() &&
      json["architectures"][0] == "T5EncoderModel") {
    throw FormatError(label +
                      ": architecture 'T5EncoderModel' has no decoder; latte runs encoder-decoder T5 "
                      "(T5ForConditionalGeneration) only");
  }
  json_architecture(json, label, kSupportedArchitectures);
  const auto bounded = [&](const char* key, int64_t limit, std::optional<int64_t> fallback = std::nullopt) {
    const int64_t value = fallback ? json_optional_positive_int(json, key, label, *fallback)
                                   : json_require_positive_int(json, key, label);
    return json_at_most(value, key, label, limit);
  };
  config.vocab_size = bounded("vocab_size", T5Config::kMaxVocabSize);
  config.d_model = bounded("d_model", T5Config::kMaxWidth);
  config.num_heads = bounded("num_heads", T5Config::kMaxWidth);
  config.d_kv = bounded("d_kv", T5Config::kMaxWidth / config.num_heads);
  config.d_ff = bounded("d_ff", 4 * T5Config::kMaxWidth);
  config.num_layers = bounded("num_layers", T5Config::kMaxLayers);
  config.num_decoder_layers = bounded("num_decoder_layers", T5Config::kMaxLayers, config.num_layers);
  // 0 buckets would leave the bias table empty; json_require_positive_int names the field.
  config.relative_attention_num_buckets =
      bounded("relative_attention_num_buckets", T5Config::kMaxBuckets, int64_t{32});
  if (config.relative_attention_num_buckets < 4) {
    throw FormatError(label + ": field 'relative_attention_num_buckets' is " +
                      std::to_string(config.relative_attention_num_buckets) +
                      "; T5's encoder needs at least 4 (2 per direction, half of them exact)");
  }
  config.relative_attention_max_distance =
      bounded("relative_attention_max_distance", T5Config::kMaxTokens, int64_t{128});
  // Distances past the exact buckets fall in log-spaced ones up to max_distance: at or below the
  // decoder's exact range (num_buckets / 2) that logarithm is 0 or negative and the bucket leaves
  // the table.
  if (config.relative_attention_max_distance <= config.relative_attention_num_buckets / 2) {
    throw FormatError(label + ": field 'relative_attention_max_distance' is " +
                      std::to_string(config.relative_attention_max_distance) + "; with " +
                      std::to_string(config.relative_attention_num_buckets) + " buckets it must exceed " +
                      std::to_string(config.relative_attention_num_buckets / 2) + " (the exact buckets)");
  }
  config.layer_norm_epsilon =
      static_cast<float>(json_optional_double(json, "layer_norm_epsilon", label, 1e-6));
  if (!(config.layer_norm_epsilon > 0.0f)) {
    throw FormatError(label + ": field 'layer_norm_epsilon' must be positive");
  }
  config.feed_forward_proj = json_optional_string(json, "feed_forward_proj", label, "relu");
  try {
    config.activation();
  } catch (const FormatError& error) {
    throw FormatError(label + ": " + error.what());
  }
  config.tie_word_embeddings = json_optional_bool(json, "tie_word_embeddings", label, true);
  const auto token_id = [&](const char* key, int32_t fallback) {
    if (!json.contains(key) || json[key].is_null()) return fallback;
    const int64_t id = json_require_int(json, key, label);
    if (id < 0 || id >= config.vocab_size) {
      throw FormatError(label + ": field '" + key + "' is " + std::to_string(id) +
                        ", outside the vocabulary of " + std::to_string(config.vocab_size));
    }
    return static_cast<int32_t>(id);
  };
  config.pad_token_id = token_id("pad_token_id", 0);
  config.decoder_start_token_id = token_id("decoder_start_token_id", config.pad_token_id);
  if (json.contains("eos_token_id") && !json["eos_token_id"].is_null())
    config.eos_token_id = token_id("eos_token_id", 0);
  config.max_tokens = bounded("n_positions", T5Config::kMaxTokens, T5Config::kDefaultMaxTokens);
  return config;
}

}  // namespace

Activation T5Config::activation() const {
  // As modeling_t5.py: "gated-gelu" is the tanh GELU (T5 v1.1, Flan-T5), plain "gelu" the erf one.
  if (feed_forward_proj == "relu" || feed_forward_proj == "gated-relu") return Activation::kRelu;
  if (feed_forward_proj == "gated-gelu") return Activation::kGeluTanh;
  if (feed_forward_proj == "gelu") return Activation::kGeluErf;
  throw FormatError("field 'feed_forward_proj' is '" + feed_forward_proj +
                    "'; latte runs relu, gated-gelu, gated-relu and gelu");
}

T5Config T5Config::from_file(const std::filesystem::path& config_json) {
  return from_json(read_json_file(config_json), config_json.string());
}

T5Config T5Config::from_json(const nlohmann::json& json, const std::string& file_label) {
  try {
    return config_from_json(json, file_label);
  } catch (const nlohmann::json::exception& error) {
    throw FormatError(file_label + ": " + json_error_text(error));
  }
}

nlohmann::json T5Config::to_json() const {
  nlohmann::json json = {{"architectures", {"T5ForConditionalGeneration"}},
                         {"model_type", model_type},
                         {"vocab_size", vocab_size},
                         {"d_model", d_model},
                         {"d_kv", d_kv},
                         {"d_ff", d_ff},
                         {"num_layers", num_layers},
                         {"num_decoder_layers", num_decoder_layers},
                         {"num_heads", num_heads},
                         {"relative_attention_num_buckets", relative_attention_num_buckets},
                         {"relative_attention_max_distance", relative_attention_max_distance},
                         {"layer_norm_epsilon", layer_norm_epsilon},
                         {"feed_forward_proj", feed_forward_proj},
                         {"is_gated_act", gated()},
                         {"dense_act_fn", feed_forward_proj.ends_with("gelu") ? "gelu_new" : "relu"},
                         {"tie_word_embeddings", tie_word_embeddings},
                         {"decoder_start_token_id", decoder_start_token_id},
                         {"pad_token_id", pad_token_id},
                         {"n_positions", max_tokens},
                         {"initializer_factor", 1.0},
                         {"dropout_rate", 0.1},
                         {"is_encoder_decoder", true},
                         {"use_cache", true},
                         {"torch_dtype", "float32"}};
  if (eos_token_id) json["eos_token_id"] = *eos_token_id;
  return json;
}

std::vector<WeightSpec> t5_weight_specs(const T5Config& config) {
  const auto d = static_cast<double>(config.d_model);
  const auto inv_sqrt = [](double x) { return static_cast<float>(1.0 / std::sqrt(x)); };
  const auto matrix = [](const StoredWeight& weight, float init_std) {
    return WeightSpec{weight.name, {weight.out, weight.in}, init_std};  // [out, in] on disk
  };
  std::vector<WeightSpec> specs = {{"shared.weight", {config.vocab_size, config.d_model}, 1.0f}};
  for (const char* stack : {kEncoder, kDecoder}) {
    const bool decoder = stack == kDecoder;
    const int64_t blocks = decoder ? config.num_decoder_layers : config.num_layers;
    const std::vector<int64_t> norm = {config.d_model};
    for (int64_t block = 0; block < blocks; ++block) {
      const T5BlockLinears l = block_linears(config, stack, block);
      const auto attention_specs = [&](const StoredWeight& q, const StoredWeight& k, const StoredWeight& v,
                                       const StoredWeight& o) {
        specs.push_back(matrix(q, inv_sqrt(d * static_cast<double>(config.d_kv))));
        specs.push_back(matrix(k, inv_sqrt(d)));
        specs.push_back(matrix(v, inv_sqrt(d)));
        specs.push_back(matrix(o, inv_sqrt(static_cast<double>(config.inner()))));
      };
      attention_specs(l.q, l.k, l.v, l.o);
      if (block == 0) {
        specs.push_back({T5Names::relative_bias(stack),
                         {config.relative_attention_num_buckets, config.num_heads},
                         inv_sqrt(d)});
      }
      specs.push_back({T5Names::layer(stack, block, 0, "layer_norm.weight"), norm});
      if (decoder) {
        attention_specs(*l.cross_q, *l.cross_k, *l.cross_v, *l.cross_o);
        specs.push_back({T5Names::layer(stack, block, 1, "layer_norm.weight"), norm});
      }
      specs.push_back(matrix(l.wi, inv_sqrt(d)));
      if (config.gated()) specs.push_back(matrix(l.wi_1, inv_sqrt(d)));
      specs.push_back(matrix(l.wo, inv_sqrt(static_cast<double>(config.d_ff))));
      specs.push_back(
          {T5Names::layer(stack, block, T5Names::ffn_sublayer(stack), "layer_norm.weight"), norm});
    }
    specs.push_back({std::string(stack) + ".final_layer_norm.weight", norm});
  }
  if (!config.tie_word_embeddings) specs.push_back(matrix(lm_head_linear(config), 1.0f));
  return specs;
}

T5Config t5_preset(const std::string& preset, int64_t vocab_size, std::optional<int64_t> layers) {
  if (layers && (*layers < 1 || *layers > 48)) {
    throw InputError("a T5 preset takes 1..48 layers, got " + std::to_string(*layers));
  }
  struct Shape {
    const char* name;
    int64_t layers, d_model, d_ff, heads, d_kv;
  };
  static constexpr Shape kPresets[] = {
      {"tiny", 2, 64, 128, 4, 16}, {"small", 8, 512, 1024, 6, 64}, {"base", 12, 768, 2048, 12, 64}};
  for (const Shape& shape : kPresets) {
    if (preset != shape.name) continue;
    T5Config config;
    config.vocab_size = vocab_size;
    config.d_model = shape.d_model;
    config.d_kv = shape.d_kv;
    config.d_ff = shape.d_ff;
    config.num_layers = layers.value_or(shape.layers);
    config.num_decoder_layers = config.num_layers;
    config.num_heads = shape.heads;
    config.feed_forward_proj = "gated-gelu";
    config.tie_word_embeddings = false;
    config.decoder_start_token_id = 0;  // <pad>, as T5Tokenizer's
    config.pad_token_id = 0;
    config.eos_token_id = 1;  // </s>
    return config;
  }
  throw InputError("unknown T5 preset '" + preset + "' (choose tiny, small or base)");
}

std::vector<StoredWeight> t5_linear_weights(const WeightStore& store, const T5Config& config) {
  std::vector<StoredWeight> weights;
  for (const char* stack : {kEncoder, kDecoder}) {
    const int64_t blocks = stack == kEncoder ? config.num_layers : config.num_decoder_layers;
    for (int64_t block = 0; block < blocks; ++block) {
      const T5BlockLinears l = block_linears(config, stack, block);
      weights.insert(weights.end(), {l.q, l.k, l.v, l.o});
      if (l.cross_q) weights.insert(weights.end(), {*l.cross_q, *l.cross_k, *l.cross_v, *l.cross_o});
      weights.push_back(l.wi);
      if (config.gated()) weights.push_back(l.wi_1);
      weights.push_back(l.wo);
    }
  }
  // A tied head is the shared embedding, which stays float.
  if (!config.tie_word_embeddings && store.contains("lm_head.weight"))
    weights.push_back(lm_head_linear(config));
  return weights;
}

T5RelativeBias::T5RelativeBias(Tensor table, bool bidirectional, int64_t max_distance, int64_t max_tokens)
    : table_(std::move(table)),
      bidirectional_(bidirectional),
      num_buckets_(table_.shape().at(0)),
      n_heads_(table_.shape().at(1)),
      max_distance_(max_distance) {
  // Past max_distance the logarithmic buckets of a direction end in its last one; with
  // max_distance at or below the exact buckets they would not (bucket's logarithm turns <= 0).
  const int64_t max_exact = (bidirectional ? num_buckets_ / 2 : num_buckets_) / 2;
  saturated_ = max_distance > max_exact;
  reach_ = std::min(saturated_ ? max_distance + 1 : max_tokens, kMaxTabulated / (2 * n_heads_));
  saturated_ = saturated_ && reach_ == max_distance + 1;
  const int64_t row_length = 2 * reach_ + 1;
  by_distance_.resize(static_cast<size_t>(n_heads_ * row_length));
  for (int64_t r = -reach_; r <= reach_; ++r) {
    const float* biases = table_.data() + bucket(r, bidirectional_, num_buckets_, max_distance_) * n_heads_;
    for (int64_t head = 0; head < n_heads_; ++head)
      by_distance_[static_cast<size_t>(head * row_length + r + reach_)] = biases[head];
  }
}

int64_t T5RelativeBias::bucket(int64_t relative_position, bool bidirectional, int64_t num_buckets,
                               int64_t max_distance) {
  int64_t offset = 0;
  int64_t distance = 0;
  if (bidirectional) {
    num_buckets /= 2;
    offset = relative_position > 0 ? num_buckets : 0;
    distance = relative_position < 0 ? -relative_position : relative_position;
  } else {
    distance = std::max<int64_t>(-relative_position, 0);
  }
  const int64_t max_exact = num_buckets / 2;
  if (distance < max_exact) return offset + distance;
  // float32 throughout, as torch computes it, so bucket edges round the same way.
  const float scaled =
      std::log(static_cast<float>(distance) / static_cast<float>(max_exact)) /
      static_cast<float>(std::log(static_cast<double>(max_distance) / static_cast<double>(max_exact))) *
      static_cast<float>(num_buckets - max_exact);
  return offset + std::min(max_exact + static_cast<int64_t>(scaled), num_buckets - 1);
}

void T5RelativeBias::add(int64_t head, int64_t query_position, std::span<const int64_t> key_positions,
                         float* logits) const {
  if (key_positions.empty()) return;
  const auto n_keys = static_cast<int64_t>(key_positions.size());
  const int64_t* positions = key_positions.data();
  const float* row = by_distance_.data() + head * (2 * reach_ + 1) + reach_;  // row[r] for |r| <= reach
  const int64_t front = positions[0];
  int64_t gaps = 0;  // nonzero when some key is not at front + j (an OR, so the loop vectorises)
  for (int64_t j = 0; j < n_keys; ++j) gaps |= positions[j] ^ (front + j);
  const int64_t first = front - query_position;  // key j's relative position is first + j
  if (!saturated_ && (gaps != 0 || first < -reach_ || first + n_keys - 1 > reach_)) {
    // Buckets that do not end in a constant: keys past the table take theirs one by one.
    for (int64_t j = 0; j < n_keys; ++j) {
      const int64_t relative = positions[j] - query_position;
      logits[j] +=
          relative >= -reach_ && relative <= reach_
              ? row[relative]
              : table_
                    .data()[bucket(relative, bidirectional_, num_buckets_, max_distance_) * n_heads_ + head];
    }
  } else if (gaps != 0) {
    for (int64_t j = 0; j < n_keys; ++j)
      logits[j] += row[std::clamp(positions[j] - query_position, -reach_, reach_)];
  } else {
    // Keys before -reach, a slice of the row, keys past +reach.
    const int64_t below = std::clamp(-reach_ - first, int64_t{0}, n_keys);
    const int64_t inside = std::clamp(reach_ + 1 - first, below, n_keys);
    int64_t j = 0;
    for (; j < below; ++j) logits[j] += row[-reach_];
    for (; j < inside; ++j) logits[j] += row[first + j];
    for (; j < n_keys; ++j) logits[j] += row[reach_];
  }
}

T5Model T5Model::load(const std::filesystem::path& model_dir, Precision precision) {
  require_model_folder(model_dir);
  T5Model model;
  model.config_ = T5Config::from_file(model_dir / "config.json");
  const T5Config& config = model.config_;
  const WeightStore store = WeightStore::open(model_dir);
  require_memory_for(store, precision);
  const int64_t d = config.d_model;

  model.shared_ = store.load("shared.weight", {config.vocab_size, d});
  // Older checkpoints also store each stack's embedding: the same tensor as shared.weight.
  for (const char* alias : {"encoder.embed_tokens.weight", "decoder.embed_tokens.weight"}) {
    if (!store.contains(alias)) continue;
    const Tensor copy = store.load(alias, {config.vocab_size, d});
    if (std::memcmp(copy.data(), model.shared_.data(), sizeof(float) * static_cast<size_t>(copy.numel())) !=
        0) {
      throw FormatError(store.directory().string() + ": tensor " + alias +
                        " differs from shared.weight; latte runs T5 with one shared embedding");
    }
  }
  const auto norm = [&](const std::string& name) {
    return RMSNorm(store.load(name, {d}), config.layer_norm_epsilon);
  };
  const auto linear = [&](std::vector<StoredWeight> parts, Activation activation, bool accumulate) {
    return load_linear(store, parts, Tensor(), activation, accumulate, precision);
  };
  const int64_t max_tokens = config.max_tokens;
  const AttentionSpec attention{.n_heads = config.num_heads,
                                .n_kv_heads = config.num_heads,
                                .head_dim = config.d_kv,
                                .scale = 1.0f,  // T5 folds the 1/sqrt(d_kv) into its initialisation
                                .causal = false};
  for (const char* stack : {kEncoder, kDecoder}) {
    const bool decoder = stack == kDecoder;
    TransformerBlockSpec spec{.placement = NormPlacement::kPre, .attention = attention};
    spec.attention.causal = decoder;
    spec.position_bias = std::make_shared<T5RelativeBias>(
        store.load(T5Names::relative_bias(stack), {config.relative_attention_num_buckets, config.num_heads}),
        !decoder, config.relative_attention_max_distance, max_tokens);
    const int64_t blocks = decoder ? config.num_decoder_layers : config.num_layers;
    for (int64_t block = 0; block < blocks; ++block) {
      const T5BlockLinears l = block_linears(config, stack, block);
      SelfAttentionWeights self{.qkv = linear({l.q, l.k, l.v}, Activation::kNone, false),
                                .output = linear({l.o}, Activation::kNone, true),
                                .norm = norm(T5Names::layer(stack, block, 0, "layer_norm.weight"))};
      const int64_t ffn_sublayer = T5Names::ffn_sublayer(stack);
      FeedForward ffn = config.gated() ? FeedForward(linear({l.wi}, config.activation(), false),
                                                     linear({l.wi_1}, Activation::kNone, false),
                                                     linear({l.wo}, Activation::kNone, true))
                                       : FeedForward(linear({l.wi}, config.activation(), false),
                                                     linear({l.wo}, Activation::kNone, true));
      FeedForwardWeights ffn_weights{
          .ffn = std::move(ffn),
          .norm = norm(T5Names::layer(stack, block, ffn_sublayer, "layer_norm.weight"))};
      std::optional<CrossAttentionWeights> cross;
      if (decoder) {
        cross = CrossAttentionWeights{.query = linear({*l.cross_q}, Activation::kNone, false),
                                      .key_value = linear({*l.cross_k, *l.cross_v}, Activation::kNone, false),
                                      .output = linear({*l.cross_o}, Activation::kNone, true),
                                      .norm = norm(T5Names::layer(stack, block, 1, "layer_norm.weight"))};
      }
      (decoder ? model.decoder_ : model.encoder_)
          .emplace_back(spec, std::move(self), std::move(ffn_weights), std::move(cross));
    }
  }
  model.encoder_norm_ = norm("encoder.final_layer_norm.weight");
  model.decoder_norm_ = norm("decoder.final_layer_norm.weight");
  if (config.tie_word_embeddings) {
    // Tied: the shared embedding is the head (the decoder output is scaled by d_model^-0.5 first).
    if (store.contains("lm_head.weight")) store.load("lm_head.weight", {config.vocab_size, d});
    model.lm_head_ = Linear(model.shared_, Tensor(), Activation::kNone, false, GemmPath::kAuto, precision);
  } else {
    model.lm_head_ = linear({lm_head_linear(config)}, Activation::kNone, false);
  }
  require_all_tensors_used(
      store, [](const std::string&) { return false; },
      std::to_string(config.num_layers) + "+" + std::to_string(config.num_decoder_layers) + " layers, T5");
  model.precision_ = model.lm_head_.precision();
  return model;
}

ModelShape t5_encoder_shape(const T5Config& config) {
  return {.layers = config.num_layers,
          .hidden = config.d_model,
          .ffn = config.d_ff,
          .causal = false,
          .heads = config.num_heads,
          .kv_heads = config.num_heads,
          .gated_ffn = config.gated(),
          .vocab = 0,
          .head_dim = config.d_kv,
          .relative_bias = true,
          .memory_layers = config.num_decoder_layers};
}

ModelShape T5Model::encoder_shape() const { return t5_encoder_shape(config_); }

ModelDescription t5_description(const T5Config& config) {
  return {.family = config.model_type,
          .layers = config.num_layers,
          .hidden = config.d_model,
          .heads = config.num_heads,
          .kv_heads = config.num_heads,
          .ffn = config.d_ff,
          .max_positions = config.max_tokens,
          .activation = config.feed_forward_proj};
}

ModelDescription T5Model::description() const {
  ModelDescription description = t5_description(config_);
  description.compute_dtype = precision_name(precision_);
  return description;
}

void T5Model::check_ids(std::span<const int32_t> ids, const char* what) const {
  if (ids.empty()) throw InputError(std::string("no ") + what + " tokens to run");
  for (size_t i = 0; i < ids.size(); ++i) {
    if (ids[i] < 0 || ids[i] >= config_.vocab_size) {
      throw InputError(std::string(what) + " token id " + std::to_string(ids[i]) + " at position " +
                       std::to_string(i) + " is outside the vocabulary of " +
                       std::to_string(config_.vocab_size));
    }
  }
}

void T5Model::embed(std::span<const int32_t> ids, float* states) const {
  const int64_t d = config_.d_model;
  for (size_t row = 0; row < ids.size(); ++row)
    std::memcpy(states + static_cast<int64_t>(row) * d, shared_.data() + ids[row] * d, sizeof(float) * d);
}

// The encoder's layers, then each decoder layer's cross-attention memory projected from the
// final-normed rows (one run_layer each). Resumable: what goes from layer to layer lives in the
// run's own arena and the model's is scratch, reset at each layer; otherwise it lives in the
// model's arena (reset once, here), which nothing else may use until finish() (encode()).
class T5EncodeRun final : public EncodeRun {
 public:
  T5EncodeRun(T5Model& model, std::span<const int32_t> source, const EncoderOptions& options, bool resumable)
      : model_(model), options_(options), rows_arena_(resumable ? &own_ : &model.arena_) {
    const T5Config& config = model_.config_;
    model_.check_ids(source, "source");
    const auto n_tokens = static_cast<int64_t>(source.size());
    if (n_tokens > config.max_tokens) {
      throw InputError("the source has " + std::to_string(n_tokens) + " tokens; the model takes at most " +
                       std::to_string(config.max_tokens));
    }
    const bool pruning = options_.planner != nullptr && !options_.planner->dense();
    plan_ = pruning ? &options_.planner->plan(n_tokens) : nullptr;
    const bool scoring = pruning || options_.on_scores;
    const int64_t d = config.d_model;
    PhaseTimes* times = options_.phase_times;
    if (times) *times = PhaseTimes{};
    PhaseClock clock(times != nullptr);

    model_.arena_.reset();
    rows_ = n_tokens;
    states_ = rows_arena_->allocate(static_cast<size_t>(rows_ * d));
    context_ = rows_arena_->allocate(static_cast<size_t>(rows_ * config.inner()));
    scores_ = scoring ? rows_arena_->allocate(static_cast<size_t>(rows_)) : nullptr;
    positions_.resize(static_cast<size_t>(rows_));
    for (int64_t row = 0; row < rows_; ++row) positions_[static_cast<size_t>(row)] = row;
    model_.embed(source, states_);
    if (times) times->embeddings = clock.lap();
    state_.source_tokens = n_tokens;
  }

  int64_t layers() const override { return model_.config_.num_layers + model_.config_.num_decoder_layers; }
  int64_t layers_done() const override { return step_; }

  void run_layer() override {
    if (step_ >= layers()) throw InputError("the encoder has run every layer already");
    if (rows_arena_ != &model_.arena_) model_.arena_.reset();
    if (step_ < model_.config_.num_layers) {
      encoder_layer(step_);
    } else {
      project(step_ - model_.config_.num_layers);
    }
    ++step_;
  }

  Seq2SeqState finish() override {
    if (!done()) {
      throw InputError("the encoder has run " + std::to_string(step_) + " of " + std::to_string(layers()) +
                       " layers; it cannot finish yet");
    }
    if (finished_) throw InputError("the encoding has finished already");
    finished_ = true;
    state_.memory_positions = positions_;
    state_.self = KvCache(model_.config_.num_decoder_layers, model_.config_.inner(), model_.config_.d_kv);
    return std::move(state_);
  }

  // After the encoder's layers: its final-normed rows [kept rows, d_model], as long as the run.
  const float* hidden() {
    if (step_ < model_.config_.num_layers) throw InputError("the encoder's layers have not all run");
    normalize();
    return states_;
  }
  int64_t rows() const { return rows_; }

 private:
  void encoder_layer(int64_t index) {
    const T5Config& config = model_.config_;
    PhaseTimes* times = options_.phase_times;
    PhaseClock clock(times != nullptr);
    const TransformerBlock& block = model_.encoder_[static_cast<size_t>(index)];
    const BlockSequence sequence{.positions = positions_, .key_scores = scores_};
    block.attend(states_, rows_, std::span<const BlockSequence>(&sequence, 1), context_, model_.arena_);
    const std::span<const float> row_scores =
        scores_ ? std::span<const float>(scores_, static_cast<size_t>(rows_)) : std::span<const float>();
    if (options_.on_scores) options_.on_scores(index, row_scores);
    if (plan_ != nullptr) {
      // The final </s>: without it the decoder loses the end-of-input marker it was trained on.
      const int64_t protected_rows[] = {rows_ - 1};
      const std::vector<int64_t> kept =
          decide_kept_rows(*plan_, index, row_scores, options_.planner->min_keep(), protected_rows);
      if (static_cast<int64_t>(kept.size()) < rows_) {
        compact_rows(states_, config.d_model, kept);
        compact_rows(context_, config.inner(), kept);
        compact_values(positions_, kept);
        rows_ = static_cast<int64_t>(kept.size());
      }
    }
    state_.encoder_kept.push_back(rows_);
    if (times) times->layer_in.push_back(clock.lap());
    block.finish(states_, context_, rows_, {}, model_.arena_);
    if (times) times->layer_kept.push_back(clock.lap());
  }

  // The encoder's final norm, once.
  void normalize() {
    if (normalized_) return;
    PhaseClock clock(options_.phase_times != nullptr);
    model_.encoder_norm_(states_, rows_);
    normalized_ = true;
    if (options_.phase_times) options_.phase_times->head = clock.lap();
  }

  // Decoder layer `index`'s cross-attention keys and values, projected once from the memory rows.
  void project(int64_t index) {
    normalize();
    PhaseClock clock(options_.phase_times != nullptr);
    const T5Config& config = model_.config_;
    const int64_t inner = config.inner();
    if (index == 0) state_.cross = KvCache(config.num_decoder_layers, inner);
    const ArenaScope scope(model_.arena_);  // one layer's projection at a time
    float* key_values = model_.arena_.allocate(static_cast<size_t>(rows_ * 2 * inner));
    model_.decoder_[static_cast<size_t>(index)].project_memory(states_, rows_, key_values);
    state_.cross.layers[static_cast<size_t>(index)].append(key_values, key_values + inner, 2 * inner, rows_,
                                                           positions_);
    if (options_.phase_times) options_.phase_times->memory += clock.lap();
  }

  T5Model& model_;
  EncoderOptions options_;
  Arena own_;                 // resumable: the rows between layers
  Arena* rows_arena_;         // where they live: own_ or the model's
  const SequencePlan* plan_;  // null: nothing eliminated
  int64_t rows_ = 0;
  float* states_ = nullptr;   // [rows, d_model]
  float* context_ = nullptr;  // [rows, inner]
  float* scores_ = nullptr;   // [rows] ACC scores, when scored
  std::vector<int64_t> positions_;
  Seq2SeqState state_;
  int64_t step_ = 0;
  bool normalized_ = false;
  bool finished_ = false;
};

Tensor T5Model::encoder_hidden(std::span<const int32_t> source, const EncoderOptions& options) {
  T5EncodeRun run(*this, source, options, /*resumable=*/false);
  while (run.layers_done() < config_.num_layers) run.run_layer();
  const float* states = run.hidden();
  Tensor hidden({run.rows(), config_.d_model});
  std::memcpy(hidden.data(), states, sizeof(float) * static_cast<size_t>(hidden.numel()));
  return hidden;
}

Seq2SeqState T5Model::encode(std::span<const int32_t> source, const EncoderOptions& options) {
  T5EncodeRun run(*this, source, options, /*resumable=*/false);
  while (!run.done()) run.run_layer();
  return run.finish();
}

std::unique_ptr<EncodeRun> T5Model::start_encode(std::span<const int32_t> source,
                                                 const EncoderOptions& options) {
  return std::make_unique<T5EncodeRun>(*this, source, options, /*resumable=*/true);
}

void T5Model::check_decoder_state(const Seq2SeqState& state, int64_t rows) const {
  if (static_cast<int64_t>(state.cross.layers.size()) != config_.num_decoder_layers ||
      static_cast<int64_t>(state.self.layers.size()) != config_.num_decoder_layers) {
    throw InputError("decoder state has " + std::to_string(state.self.layers.size()) +
                     " layers; the model's decoder has " + std::to_string(config_.num_decoder_layers) +
                     " (encode the source first)");
  }
  const int64_t first_position = next_position(state.self);
  if (first_position + rows > config_.max_tokens) {
    throw InputError("the target would reach " + std::to_string(first_position + rows) +
                     " tokens; the model takes at most " + std::to_string(config_.max_tokens));
  }
}

DecoderOutput T5Model::decode(std::span<const int32_t> ids, Seq2SeqState& state,
                              const DecoderOptions& options) {
  check_decoder_state(state, static_cast<int64_t>(ids.size()));
  check_ids(ids, "decoder");
  Seq2SeqState* const states[] = {&state};
  const int64_t counts[] = {static_cast<int64_t>(ids.size())};
  return run_decoder(ids, states, counts, options);
}

std::vector<DecoderOutput> T5Model::decode_batch(std::span<const int32_t> next_ids,
                                                 std::span<Seq2SeqState* const> states,
                                                 const DecoderOptions& options) {
  // Every check before the first state changes: a bad sequence must not corrupt the others.
  check_decode_step(next_ids, states, options, "state");
  for (Seq2SeqState* state : states) check_decoder_state(*state, 1);
  check_ids(next_ids, "decoder");
  const std::vector<int64_t> counts(states.size(), 1);
  DecoderOutput all = run_decoder(next_ids, states, counts, options);
  const auto vocab = static_cast<size_t>(config_.vocab_size);
  std::vector<DecoderOutput> outputs(states.size());
  for (size_t s = 0; s < outputs.size(); ++s) {
    outputs[s].logits = Tensor({1, config_.vocab_size});
    std::memcpy(outputs[s].logits.data(), all.logits.data() + s * vocab, sizeof(float) * vocab);
    outputs[s].positions = {all.positions[s]};
    outputs[s].kept.assign(static_cast<size_t>(config_.num_decoder_layers), 1);
  }
  return outputs;
}

DecoderOutput T5Model::run_decoder(std::span<const int32_t> ids, std::span<Seq2SeqState* const> states,
                                   std::span<const int64_t> counts, const DecoderOptions& options) {
  const int64_t d = config_.d_model;
  const auto rows = static_cast<int64_t>(ids.size());
  PhaseTimes* times = options.phase_times;
  if (times) *times = PhaseTimes{};
  PhaseClock clock(times != nullptr);

  arena_.reset();
  float* states_rows = arena_.allocate(static_cast<size_t>(rows * d));
  float* context = arena_.allocate(static_cast<size_t>(rows * config_.inner()));
  std::vector<int64_t> positions;  // [rows] each row's position in its own sequence
  for (size_t s = 0; s < states.size(); ++s) {
    const int64_t first_position = next_position(states[s]->self);
    for (int64_t row = 0; row < counts[s]; ++row) positions.push_back(first_position + row);
  }
  embed(ids, states_rows);
  if (times) times->embeddings = clock.lap();

  DecoderOutput output;
  std::vector<CrossMemory> memories(states.size());
  std::vector<BlockSequence> sequences(states.size());
  for (int64_t index = 0; index < config_.num_decoder_layers; ++index) {
    int64_t first_row = 0;
    for (size_t s = 0; s < states.size(); ++s) {
      const LayerCache& cross = states[s]->cross.layers[static_cast<size_t>(index)];
      memories[s] = CrossMemory{.key_values = cross.keys(),
                                .positions = cross.positions(),
                                .values = cross.values(),
                                .stride = cross.row_stride()};
      sequences[s] = BlockSequence{.positions = std::span<const int64_t>(positions).subspan(
                                       static_cast<size_t>(first_row), static_cast<size_t>(counts[s])),
                                   .cache = &states[s]->self.layers[static_cast<size_t>(index)],
                                   .memory = &memories[s]};
      first_row += counts[s];
    }
    const TransformerBlock& block = decoder_[static_cast<size_t>(index)];
    double attention_seconds = 0.0;
    block.attend(states_rows, rows, sequences, context, arena_, times ? &attention_seconds : nullptr);
    if (times) {
      times->layer_attention.push_back(attention_seconds);
      times->layer_in.push_back(clock.lap());
    }
    output.kept.push_back(rows);
    block.finish(states_rows, context, rows, sequences, arena_);
    if (times) times->layer_kept.push_back(clock.lap());
  }

  // The rows whose logits are asked for: every row, or each sequence's last.
  std::vector<int64_t> out_rows;
  int64_t end = 0;
  for (size_t s = 0; s < states.size(); ++s) {
    const int64_t first = end;
    end += counts[s];
    for (int64_t row = options.all_logits ? first : end - 1; row < end; ++row) out_rows.push_back(row);
  }
  const auto rows_out = static_cast<int64_t>(out_rows.size());
  float* normed = arena_.allocate(static_cast<size_t>(rows_out * d));
  for (int64_t r = 0; r < rows_out; ++r) {
    std::memcpy(normed + r * d, states_rows + out_rows[static_cast<size_t>(r)] * d, sizeof(float) * d);
    output.positions.push_back(positions[static_cast<size_t>(out_rows[static_cast<size_t>(r)])]);
  }
  decoder_norm_(normed, rows_out);
  if (config_.tie_word_embeddings) {
    // modeling_t5.py rescales before the tied head: the embedding was trained at unit scale.
    const float scale = 1.0f / std::sqrt(static_cast<float>(d));
    for (int64_t i = 0; i < rows_out * d; ++i) normed[i] *= scale;
  }
  output.logits = Tensor({rows_out, config_.vocab_size});
  lm_head_(normed, rows_out, output.logits.data());
  if (times) times->head = clock.lap();
  require_finite_logits(output);
  return output;
}

namespace {

ModelFamily t5_family_of(const char* model_type) {
  return ModelFamily{
      .model_type = model_type,
      .kind = ModelKind::kSeq2SeqLm,
      .linear_weights =
          [](const WeightStore& store, const std::filesystem::path& config_json) {
            return t5_linear_weights(store, T5Config::from_file(config_json));
          },
      .max_input_tokens =
          [](const std::filesystem::path& model_dir, const Tokenizer& tokenizer) {
            const T5Config config = T5Config::from_file(model_dir / "config.json");
            check_tokenizer_fits(tokenizer, config.vocab_size, model_dir / "config.json");
            return config.max_tokens;
          },
      .load_causal_lm = nullptr,
      .load_seq2seq_lm = [](const std::filesystem::path& model_dir,
                            Precision precision) -> std::unique_ptr<Seq2SeqLm> {
        return std::make_unique<T5Model>(T5Model::load(model_dir, precision));
      },
      .summarize =
          [](const std::filesystem::path& model_dir) {
            const T5Config config = T5Config::from_file(model_dir / "config.json");
            FolderSummary summary{t5_description(config), config.d_kv, config.vocab_size,
                                  t5_weight_specs(config)};
            summary.decoder_layers = config.num_decoder_layers;
            return summary;
          },
  };
}

}  // namespace

const ModelFamily& t5_family() {
  static const ModelFamily family = t5_family_of("t5");
  return family;
}

const ModelFamily& mt5_family() {
  static const ModelFamily family = t5_family_of("mt5");
  return family;
}

}  // namespace latte
