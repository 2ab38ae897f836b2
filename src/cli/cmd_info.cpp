// latte info: what a model folder holds, after full validation of the checkpoint.
#include <iostream>
#include <nlohmann/json.hpp>

#include "common.h"
#include "latte/core/error.h"
#include "latte/io/json_file.h"
#include "latte/io/safetensors.h"
#include "latte/models/bert.h"
#include "latte/models/registry.h"
#include "latte/tokenizers/bert_tokenizer.h"
#include "latte/tokenizers/tokenizer.h"

namespace latte::cli {

namespace {

// A decoder-only folder (GPT-2, Llama, ...): the decoder's sizes; the tokenizer when the folder has one.
void describe_decoder(const std::filesystem::path& folder, bool as_json) {
  const std::unique_ptr<CausalLm> model = load_causal_lm(folder);
  const ModelDescription description = model->description();
  const ModelShape shape = model->shape();
  const int64_t head_dim = shape.head_dim > 0 ? shape.head_dim : description.hidden / description.heads;
  const WeightStore store = WeightStore::open(folder);
  const nlohmann::json config = read_json_file(folder / "config.json");
  const std::string architecture = config.contains("architectures") && config["architectures"].is_array() &&
                                           !config["architectures"].empty() &&
                                           config["architectures"][0].is_string()
                                       ? config["architectures"][0].get<std::string>()
                                       : description.family;
  std::unique_ptr<Tokenizer> tokenizer;
  try {
    tokenizer = load_tokenizer(folder);
  } catch (const FormatError&) {
    // No tokenizer files: the model still runs on token ids.
    if (std::filesystem::exists(folder / "vocab.json") || std::filesystem::exists(folder / "tokenizer.json"))
      throw;
  }
  if (tokenizer) check_tokenizer_fits(*tokenizer, model->vocab_size(), folder / "config.json");
  nlohmann::json info = {
      {"model", folder.string()},
      {"architecture", architecture},
      {"family", description.family},
      {"task", "causal-lm"},
      {"layers", description.layers},
      {"hidden_size", description.hidden},
      {"heads", description.heads},
      {"kv_heads", description.kv_heads},
      {"head_dim", head_dim},
      {"intermediate_size", description.ffn},
      {"vocab_size", model->vocab_size()},
      {"max_position_embeddings", description.max_positions},
      {"hidden_act", description.activation},
      {"parameters", store.parameter_count()},
      {"dtype_on_disk", store.dtype_summary()},
      {"tokenizer", tokenizer
                        ? nlohmann::json{{"vocab_size", tokenizer->vocab_size()}, {"kind", tokenizer->kind()}}
                        : nlohmann::json(nullptr)},
  };
  if (as_json) {
    std::cout << info.dump() << "\n";
    return;
  }
  std::cout << "model:         " << folder.string() << "\n"
            << "architecture:  " << architecture << " (causal language model)\n"
            << "layers:        " << description.layers << "\n"
            << "hidden size:   " << description.hidden << " (" << description.heads << " heads of "
            << head_dim
            << (description.kv_heads != description.heads
                    ? ", " + std::to_string(description.kv_heads) + " key/value heads"
                    : std::string())
            << ")\n"
            << "ffn size:      " << description.ffn << " (" << description.activation << ")\n"
            << "vocabulary:    " << model->vocab_size() << " ("
            << (tokenizer
                    ? std::to_string(tokenizer->vocab_size()) + " tokens, " + std::string(tokenizer->kind())
                    : std::string("no tokenizer files: token ids only"))
            << ")\n"
            << "max length:    " << description.max_positions << "\n"
            << "parameters:    " << store.parameter_count() << "\n"
            << "dtype on disk: " << store.dtype_summary() << "\n";
}

}  // namespace

void add_info_command(CLI::App& app) {
  auto* command = app.add_subcommand("info", "Describe a model folder: architecture, sizes, labels, dtype");
  auto model_path = std::make_shared<std::string>();
  auto as_json = std::make_shared<bool>(false);
  command->add_option("--model", *model_path, kModelHelp);
  command->add_flag("--json", *as_json, "Print one JSON object");
  command->callback([=] {
    const auto folder = model_folder(*model_path);
    if (model_family(folder).kind == ModelKind::kCausalLm) {
      describe_decoder(folder, *as_json);
      return;
    }
    const BertModel model = BertModel::load(folder);
    const BertConfig& config = model.config();
    const BertTokenizer tokenizer = load_bert_tokenizer(folder, config);
    nlohmann::json info = {
        {"model", folder.string()},
        {"architecture", config.architecture},
        {"family", "bert"},
        {"layers", config.num_layers},
        {"hidden_size", config.hidden_size},
        {"heads", config.num_heads},
        {"intermediate_size", config.intermediate_size},
        {"vocab_size", config.vocab_size},
        {"max_position_embeddings", config.max_position_embeddings},
        {"hidden_act", config.hidden_act},
        {"parameters", model.parameter_count()},
        {"dtype_on_disk", model.dtype_on_disk()},
        {"tokenizer", {{"vocab_size", tokenizer.vocab_size()}, {"lower_case", tokenizer.lower_case()}}},
    };
    if (config.has_classifier()) {
      info["task"] = config.is_regression() ? "regression" : "classification";
      info["labels"] = config.id2label;
    } else {
      info["task"] = "encoder";
    }
    if (*as_json) {
      std::cout << info.dump() << "\n";
      return;
    }
    std::cout << "model:         " << folder.string() << "\n"
              << "architecture:  " << config.architecture << " (" << info["task"].get<std::string>() << ")\n"
              << "layers:        " << config.num_layers << "\n"
              << "hidden size:   " << config.hidden_size << " (" << config.num_heads << " heads of "
              << config.head_dim() << ")\n"
              << "ffn size:      " << config.intermediate_size << " (" << config.hidden_act << ")\n"
              << "vocabulary:    " << config.vocab_size << " (tokenizer " << tokenizer.vocab_size()
              << (tokenizer.lower_case() ? ", lower-cased" : ", cased") << ")\n"
              << "max length:    " << config.max_position_embeddings << "\n"
              << "parameters:    " << model.parameter_count() << "\n"
              << "dtype on disk: " << model.dtype_on_disk() << "\n";
    if (config.has_classifier()) {
      std::cout << "labels:        ";
      for (size_t i = 0; i < config.id2label.size(); ++i) std::cout << (i ? ", " : "") << config.id2label[i];
      std::cout << "\n";
    }
  });
}

}  // namespace latte::cli
