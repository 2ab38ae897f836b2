#include "latte/models/registry.h"

#include "latte/core/error.h"
#include "latte/io/json_file.h"
#include "latte/models/bert.h"
#include "latte/models/gpt2.h"

namespace latte {

ModelFamily model_family(const std::filesystem::path& model_dir) {
  const std::filesystem::path config_path = model_dir / "config.json";
  const nlohmann::json config = read_json_file(config_path);
  if (!config.is_object()) throw FormatError(config_path.string() + ": expected a JSON object");
  const std::string model_type = json_optional_string(config, "model_type", config_path.string(), "bert");
  if (model_type == "bert") return ModelFamily::kBert;
  if (model_type == "gpt2") return ModelFamily::kGpt2;
  throw FormatError(config_path.string() + ": unknown architecture: model_type '" + model_type +
                    "' (supported: bert, gpt2)");
}

Precision stored_precision(const std::filesystem::path& model_dir) {
  const WeightStore store = WeightStore::open(model_dir);
  for (const std::string& name : store.names()) {
    if (store.entry(name).dtype == DType::I8) return Precision::kInt8;
  }
  return Precision::kF32;
}

void quantize_model_folder(const std::filesystem::path& model_dir, const std::filesystem::path& out_dir) {
  const WeightStore store = WeightStore::open(model_dir);
  const std::filesystem::path config_path = model_dir / "config.json";
  const std::vector<StoredWeight> weights =
      model_family(model_dir) == ModelFamily::kGpt2
          ? gpt2_linear_weights(store, Gpt2Config::from_file(config_path))
          : bert_linear_weights(store, BertConfig::from_file(config_path));
  write_quantized_folder(model_dir, out_dir, store, weights);
}

const char* family_name(ModelFamily family) {
  switch (family) {
    case ModelFamily::kBert:
      return "bert";
    case ModelFamily::kGpt2:
      return "gpt2";
  }
  return "unknown";
}

std::unique_ptr<CausalLm> load_causal_lm(const std::filesystem::path& model_dir, Precision precision) {
  const ModelFamily family = model_family(model_dir);
  if (family == ModelFamily::kGpt2) return std::make_unique<Gpt2Model>(Gpt2Model::load(model_dir, precision));
  throw InputError(model_dir.string() + " holds a " + family_name(family) +
                   " model (an encoder); this needs a decoder (gpt2)");
}

int64_t max_input_tokens(const std::filesystem::path& model_dir, const Tokenizer& tokenizer) {
  const std::filesystem::path path = model_dir / "config.json";
  const nlohmann::json config = read_json_file(path);
  const std::string label = path.string();
  if (json_optional_string(config, "model_type", label, "bert") != "gpt2") {
    const BertConfig bert = BertConfig::from_file(path);
    check_tokenizer_matches(bert, tokenizer, model_dir);
    return bert.max_position_embeddings;
  }
  check_tokenizer_fits(tokenizer, json_require_positive_int(config, "vocab_size", label), path);
  const int64_t positions = json_require_positive_int(config, "n_positions", label);
  if (positions > BertConfig::kMaxPositions) {
    throw FormatError(label + ": field 'n_positions' is " + std::to_string(positions) +
                      ", above latte's limit of " + std::to_string(BertConfig::kMaxPositions));
  }
  return positions;
}

}  // namespace latte
