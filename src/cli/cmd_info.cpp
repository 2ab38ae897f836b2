// latte info: what a model folder holds, after full validation of the checkpoint.
#include <iostream>
#include <nlohmann/json.hpp>

#include "common.h"
#include "latte/core/error.h"
#include "latte/models/bert.h"
#include "latte/models/gpt2.h"
#include "latte/models/registry.h"
#include "latte/tokenizers/bert_tokenizer.h"
#include "latte/tokenizers/tokenizer.h"

namespace latte::cli {

namespace {

// A GPT-2 folder: the decoder's sizes; the tokenizer when the folder has one.
void describe_gpt2(const std::filesystem::path& folder, bool as_json) {
  const Gpt2Model model = Gpt2Model::load(folder);
  const Gpt2Config& config = model.config();
  std::unique_ptr<Tokenizer> tokenizer;
  try {
    tokenizer = load_tokenizer(folder);
  } catch (const FormatError&) {
    // No tokenizer files: the model still runs on token ids.
    if (std::filesystem::exists(folder / "vocab.json") || std::filesystem::exists(folder / "tokenizer.json"))
      throw;
  }
  if (tokenizer) check_tokenizer_fits(*tokenizer, config.vocab_size, folder / "config.json");
  nlohmann::json info = {
      {"model", folder.string()},
      {"architecture", config.architecture},
      {"family", "gpt2"},
      {"task", "causal-lm"},
      {"layers", config.n_layer},
      {"hidden_size", config.n_embd},
      {"heads", config.n_head},
      {"intermediate_size", config.n_inner},
      {"vocab_size", config.vocab_size},
      {"max_position_embeddings", config.n_positions},
      {"hidden_act", config.activation_function},
      {"parameters", model.parameter_count()},
      {"dtype_on_disk", model.dtype_on_disk()},
      {"tokenizer", tokenizer
                        ? nlohmann::json{{"vocab_size", tokenizer->vocab_size()}, {"kind", tokenizer->kind()}}
                        : nlohmann::json(nullptr)},
  };
  if (as_json) {
    std::cout << info.dump() << "\n";
    return;
  }
  std::cout << "model:         " << folder.string() << "\n"
            << "architecture:  " << config.architecture << " (causal language model)\n"
            << "layers:        " << config.n_layer << "\n"
            << "hidden size:   " << config.n_embd << " (" << config.n_head << " heads of "
            << config.head_dim() << ")\n"
            << "ffn size:      " << config.n_inner << " (" << config.activation_function << ")\n"
            << "vocabulary:    " << config.vocab_size << " ("
            << (tokenizer ? "tokenizer " + std::to_string(tokenizer->vocab_size()) + ", " +
                                std::string(tokenizer->kind())
                          : std::string("no tokenizer files: token ids only"))
            << ")\n"
            << "max length:    " << config.n_positions << "\n"
            << "parameters:    " << model.parameter_count() << "\n"
            << "dtype on disk: " << model.dtype_on_disk() << "\n";
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
      describe_gpt2(folder, *as_json);
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
