#include "latte/train/checkpoint.h"

#include <cstring>

#include "latte/core/error.h"
#include "latte/io/json_file.h"
#include "latte/io/safetensors.h"

namespace latte::train {

namespace {

bool starts_with(const std::string& text, const std::string& prefix) { return text.rfind(prefix, 0) == 0; }

bool ends_with(const std::string& text, const std::string& suffix) {
  return text.size() >= suffix.size() &&
         text.compare(text.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// Spellings of one Hugging Face tensor name, preferred first.
std::vector<std::string> name_variants(const std::string& name) {
  std::vector<std::string> bases = {name};
  if (starts_with(name, "transformer.")) {
    bases.push_back(name.substr(12));  // GPT-2 checkpoints saved from GPT2Model, or by OpenAI's export
    return bases;
  }
  if (starts_with(name, "bert.")) {
    bases.push_back(name.substr(5));
  } else if (!starts_with(name, "cls.") && !starts_with(name, "classifier.")) {
    bases.push_back("bert." + name);
  }
  if (name == "cls.predictions.bias") bases.push_back("cls.predictions.decoder.bias");
  std::vector<std::string> variants = bases;
  for (const std::string& base : bases) {
    if (base.find("LayerNorm.") == std::string::npos) continue;
    if (ends_with(base, ".weight")) variants.push_back(base.substr(0, base.size() - 7) + ".gamma");
    if (ends_with(base, ".bias")) variants.push_back(base.substr(0, base.size() - 5) + ".beta");
  }
  return variants;
}

}  // namespace

BertConfig read_bert_config(const std::filesystem::path& model_dir) {
  const std::filesystem::path path = model_dir / "config.json";
  if (!std::filesystem::is_directory(model_dir)) {
    throw InputError("model folder " + model_dir.string() + " does not exist or is not a folder");
  }
  nlohmann::json json = read_json_file(path);
  const bool masked_lm = json.is_object() && json.contains("architectures") &&
                         json["architectures"].is_array() && !json["architectures"].empty() &&
                         json["architectures"][0] == "BertForMaskedLM";
  if (!masked_lm) return BertConfig::from_json(json, path.string());
  // The engine's parser knows every field but not this architecture: let it validate a copy
  // that says BertModel, with errors naming the real file.
  json["architectures"] = {"BertModel"};
  BertConfig config = BertConfig::from_json(json, path.string());
  config.architecture = "BertForMaskedLM";
  return config;
}

std::vector<std::string> load_hf_weights(const std::filesystem::path& model_dir, const NamedWeights& weights,
                                         const std::function<bool(const std::string&)>& may_be_absent) {
  const WeightStore store = WeightStore::open(model_dir);
  std::vector<std::string> absent;
  torch::NoGradGuard no_grad;
  for (const auto& [name, parameter] : weights) {
    std::string stored;
    for (const std::string& variant : name_variants(name)) {
      if (store.contains(variant)) {
        stored = variant;
        break;
      }
    }
    if (stored.empty()) {
      if (may_be_absent && may_be_absent(name)) {
        absent.push_back(name);
        continue;
      }
      store.entry(name);  // throws "missing tensor NAME in DIR"
    }
    const std::vector<int64_t> shape(parameter.sizes().begin(), parameter.sizes().end());
    Tensor loaded = store.load(stored, shape);
    parameter.copy_(torch::from_blob(loaded.data(), shape, torch::kFloat));
  }
  return absent;
}

void save_checkpoint(const std::filesystem::path& dir, const BertConfig& config, const NamedWeights& weights,
                     DType dtype, const BertTokenizer* tokenizer) {
  std::filesystem::create_directories(dir);
  if (tokenizer) tokenizer->save(dir, static_cast<int>(config.max_position_embeddings));
  save_model_files(dir, config.to_json(), weights, dtype);
}

void save_model_files(const std::filesystem::path& dir, nlohmann::json config_json,
                      const NamedWeights& weights, DType dtype) {
  std::filesystem::create_directories(dir);
  config_json["torch_dtype"] = dtype == DType::F32 ? "float32" : dtype == DType::F16 ? "float16" : "bfloat16";
  write_json_file_atomic(dir / "config.json", config_json);

  std::vector<std::pair<std::string, Tensor>> tensors;
  for (const auto& [name, parameter] : weights) {
    const torch::Tensor values = parameter.detach().to(torch::kCPU, torch::kFloat).contiguous();
    Tensor copy(std::vector<int64_t>(values.sizes().begin(), values.sizes().end()));
    std::memcpy(copy.data(), values.data_ptr<float>(), sizeof(float) * static_cast<size_t>(values.numel()));
    tensors.emplace_back(name, std::move(copy));
  }
  write_safetensors(dir / "model.safetensors", tensors, dtype, {{"format", "pt"}});
}

}  // namespace latte::train
