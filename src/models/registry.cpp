#include "latte/models/registry.h"

#include <vector>

#include "latte/core/error.h"
#include "latte/io/json_file.h"
#include "latte/models/memory_check.h"

namespace latte {

namespace {

// One entry per family: adding a family is its file in src/models and a line here.
const std::vector<ModelFamily>& family_table() {
  static const std::vector<ModelFamily> table = {bert_family(),    gpt2_family(),  llama_family(),
                                                 mistral_family(), qwen2_family(), t5_family(),
                                                 mt5_family()};
  return table;
}

std::string supported_types() {
  std::string names;
  for (const ModelFamily& family : family_table())
    names += (names.empty() ? "" : ", ") + std::string(family.model_type);
  return names;
}

std::string types_of_kind(ModelKind kind) {
  std::string names;
  for (const ModelFamily& family : family_table()) {
    if (family.kind == kind) names += (names.empty() ? "" : ", ") + std::string(family.model_type);
  }
  return names.empty() ? "none yet" : names;
}

InputError wrong_kind(const std::filesystem::path& model_dir, const ModelFamily& family, ModelKind wanted) {
  const char* article = wanted == ModelKind::kCausalLm ? "a " : "an ";
  return InputError(model_dir.string() + " holds a " + family.model_type + " model (" +
                    kind_name(family.kind) + "); this needs " + article + kind_name(wanted) + " model (" +
                    types_of_kind(wanted) + ")");
}

}  // namespace

const char* kind_name(ModelKind kind) {
  switch (kind) {
    case ModelKind::kEncoder:
      return "encoder";
    case ModelKind::kCausalLm:
      return "decoder-only";
    case ModelKind::kSeq2SeqLm:
      return "encoder-decoder";
  }
  return "unknown";
}

std::span<const ModelFamily> model_families() { return family_table(); }

const ModelFamily& model_family(const std::filesystem::path& model_dir) {
  const std::filesystem::path config_path = model_dir / "config.json";
  const nlohmann::json config = read_json_file(config_path);
  if (!config.is_object()) throw FormatError(config_path.string() + ": expected a JSON object");
  const std::string model_type = json_optional_string(config, "model_type", config_path.string(), "bert");
  for (const ModelFamily& family : family_table()) {
    if (model_type == family.model_type) return family;
  }
  throw FormatError(config_path.string() + ": unknown architecture: model_type '" + model_type +
                    "' (supported: " + supported_types() + ")");
}

Precision stored_precision(const std::filesystem::path& model_dir) {
  const WeightStore store = WeightStore::open(model_dir);
  for (const std::string& name : store.names()) {
    if (store.entry(name).dtype == DType::I8) return Precision::kInt8;
  }
  return Precision::kF32;
}

void quantize_model_folder(const std::filesystem::path& model_dir, const std::filesystem::path& out_dir) {
  const ModelFamily& family = model_family(model_dir);
  const WeightStore store = WeightStore::open(model_dir);
  write_quantized_folder(model_dir, out_dir, store, family.linear_weights(store, model_dir / "config.json"));
}

std::unique_ptr<CausalLm> load_causal_lm(const std::filesystem::path& model_dir, Precision precision) {
  const ModelFamily& family = model_family(model_dir);
  if (family.kind != ModelKind::kCausalLm) throw wrong_kind(model_dir, family, ModelKind::kCausalLm);
  std::unique_ptr<CausalLm> model = family.load_causal_lm(model_dir, precision);
  return_free_memory();
  return model;
}

std::unique_ptr<Seq2SeqLm> load_seq2seq_lm(const std::filesystem::path& model_dir, Precision precision) {
  const ModelFamily& family = model_family(model_dir);
  if (family.kind != ModelKind::kSeq2SeqLm) throw wrong_kind(model_dir, family, ModelKind::kSeq2SeqLm);
  std::unique_ptr<Seq2SeqLm> model = family.load_seq2seq_lm(model_dir, precision);
  return_free_memory();
  return model;
}

WeightCheck check_folder_weights(const WeightStore& store, const std::vector<WeightSpec>& weights) {
  WeightCheck check;
  for (const std::string& name : store.names()) {
    store.check_finite(name);
    ++check.tensors;
  }
  for (const WeightSpec& weight : weights) {
    if (!store.contains(weight.name)) continue;  // where a family takes alternatives, loading decides
    const TensorEntry& entry = store.entry(weight.name);
    if (entry.shape != weight.shape) {
      throw FormatError("tensor " + weight.name + " in " + entry.file + " has shape " +
                        shape_to_string(entry.shape) + ", expected " + shape_to_string(weight.shape) +
                        " (from config.json)");
    }
    ++check.shapes_checked;
  }
  return check;
}

int64_t max_input_tokens(const std::filesystem::path& model_dir, const Tokenizer& tokenizer) {
  return model_family(model_dir).max_input_tokens(model_dir, tokenizer);
}

}  // namespace latte
