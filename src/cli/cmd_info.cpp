// latte info: what a model folder holds, from its config, with every tensor checked in place.
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

// Every tensor read in place (finite) and the listed ones' shapes checked: nothing is loaded.
nlohmann::json checked_json(const WeightCheck& check) {
  return {{"tensors", check.tensors}, {"shapes_checked", check.shapes_checked}, {"finite", true}};
}

std::string checked_line(const WeightCheck& check) {
  return std::to_string(check.tensors) + " tensors read in place, all finite; " +
         std::to_string(check.shapes_checked) + " shapes as config.json gives them";
}

// A generating folder (GPT-2, Llama, T5, ...): the sizes its config gives, the tensors checked
// in place, the tokenizer when the folder has one. The model is not built: info needs no more
// memory than a few MB, whatever the model's size.
void describe_generator(const std::filesystem::path& folder, const ModelFamily& family, bool as_json) {
  const FolderSummary summary = family.summarize(folder);
  const ModelDescription& description = summary.description;
  const int64_t head_dim = summary.head_dim > 0 ? summary.head_dim : description.hidden / description.heads;
  const WeightStore store = WeightStore::open(folder);
  const WeightCheck check = check_folder_weights(store, summary.weights);
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
    for (const char* file : {"vocab.json", "tokenizer.json", "spiece.model"})
      if (std::filesystem::exists(folder / file)) throw;
  }
  if (tokenizer) check_tokenizer_fits(*tokenizer, summary.vocab_size, folder / "config.json");
  const bool seq2seq = family.kind == ModelKind::kSeq2SeqLm;
  nlohmann::json info = {
      {"model", folder.string()},
      {"architecture", architecture},
      {"family", description.family},
      {"task", seq2seq ? "seq2seq-lm" : "causal-lm"},
      {"layers", description.layers},
      {"hidden_size", description.hidden},
      {"heads", description.heads},
      {"kv_heads", description.kv_heads},
      {"head_dim", head_dim},
      {"intermediate_size", description.ffn},
      {"vocab_size", summary.vocab_size},
      {"max_position_embeddings", description.max_positions},
      {"hidden_act", description.activation},
      {"parameters", store.parameter_count()},
      {"dtype_on_disk", store.dtype_summary()},
      {"checked", checked_json(check)},
      {"tokenizer", tokenizer
                        ? nlohmann::json{{"vocab_size", tokenizer->vocab_size()}, {"kind", tokenizer->kind()}}
                        : nlohmann::json(nullptr)},
  };
  if (seq2seq) info["decoder_layers"] = summary.decoder_layers;
  if (as_json) {
    std::cout << info.dump() << "\n";
    return;
  }
  std::cout << "model:         " << folder.string() << "\n"
            << "architecture:  " << architecture
            << (seq2seq ? " (encoder-decoder language model)\n" : " (causal language model)\n")
            << "layers:        " << description.layers
            << (seq2seq ? " encoder, " + std::to_string(summary.decoder_layers) + " decoder" : std::string())
            << "\n"
            << "hidden size:   " << description.hidden << " (" << description.heads << " heads of "
            << head_dim
            << (description.kv_heads != description.heads
                    ? ", " + std::to_string(description.kv_heads) + " key/value heads"
                    : std::string())
            << ")\n"
            << "ffn size:      " << description.ffn << " (" << description.activation << ")\n"
            << "vocabulary:    " << summary.vocab_size << " ("
            << (tokenizer
                    ? std::to_string(tokenizer->vocab_size()) + " tokens, " + std::string(tokenizer->kind())
                    : std::string("no tokenizer files: token ids only"))
            << ")\n"
            << "max length:    " << description.max_positions << "\n"
            << "parameters:    " << store.parameter_count() << "\n"
            << "dtype on disk: " << store.dtype_summary() << "\n"
            << "checked:       " << checked_line(check) << "\n";
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
    const ModelFamily& family = model_family(folder);
    if (family.kind != ModelKind::kEncoder) {
      describe_generator(folder, family, *as_json);
      return;
    }
    const BertConfig config = BertConfig::from_file(folder / "config.json");
    const BertTokenizer tokenizer = load_bert_tokenizer(folder, config);
    const WeightStore store = WeightStore::open(folder);
    const WeightCheck check = check_folder_weights(store, bert_weight_specs(config));
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
        {"parameters", store.parameter_count()},
        {"dtype_on_disk", store.dtype_summary()},
        {"checked", checked_json(check)},
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
              << "parameters:    " << store.parameter_count() << "\n"
              << "dtype on disk: " << store.dtype_summary() << "\n"
              << "checked:       " << checked_line(check) << "\n";
    if (config.has_classifier()) {
      std::cout << "labels:        ";
      for (size_t i = 0; i < config.id2label.size(); ++i) std::cout << (i ? ", " : "") << config.id2label[i];
      std::cout << "\n";
    }
  });
}

}  // namespace latte::cli
