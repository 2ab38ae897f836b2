// latte quantize: a model folder with its linear weights in int8, for --dtype int8 without
// quantizing at every load and with a quarter of the weight bytes on disk.
#include <iostream>

#include "common.h"
#include "latte/core/error.h"
#include "latte/io/safetensors.h"
#include "latte/models/registry.h"

namespace latte::cli {

void add_quantize_command(CLI::App& app) {
  auto* command = app.add_subcommand(
      "quantize", "Write a copy of the model with its linear weights in int8 (per output channel)");
  struct Options {
    std::string model;
    std::string out;
  };
  auto options = std::make_shared<Options>();
  command->add_option("--model", options->model, kModelHelp);
  command->add_option("--out", options->out, "Folder to write (config, tokenizer and latte.json copied)")
      ->required();
  command->callback([options] {
    const auto folder = model_folder(options->model);
    const std::filesystem::path out = options->out;
    quantize_model_folder(folder, out);
    const WeightStore before = WeightStore::open(folder);
    const WeightStore after = WeightStore::open(out);
    const auto bytes = [](const std::filesystem::path& file) { return std::filesystem::file_size(file); };
    std::cout << "wrote " << (out / "model.safetensors").string() << " (" << after.dtype_summary() << ", "
              << bytes(out / "model.safetensors") / 1000000.0 << " MB; " << before.dtype_summary()
              << " before); run it with any command, e.g. latte classify --model " << out.string() << "\n";
  });
}

}  // namespace latte::cli
