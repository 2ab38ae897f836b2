// Which family a Hugging Face folder holds, by config.json's model_type, and loading a model of
// that family behind the interface a command needs.
#pragma once

#include <filesystem>
#include <memory>
#include <string>

#include "latte/models/causal_lm.h"
#include "latte/tokenizers/tokenizer.h"

namespace latte {

enum class ModelFamily { kBert, kGpt2 };

// The family of config.json's model_type (BERT folders written without one count as bert).
// FormatError naming the file for a model_type latte does not run.
ModelFamily model_family(const std::filesystem::path& model_dir);
const char* family_name(ModelFamily family);

// A decoder-only model; InputError when the folder holds an encoder ("... is a bert model;
// generation needs a decoder (gpt2)").
std::unique_ptr<CausalLm> load_causal_lm(const std::filesystem::path& model_dir);

// The longest input the model in `model_dir` takes (BERT's max_position_embeddings, GPT-2's
// n_positions), checking that `tokenizer` belongs to it; the weights are not read. A BERT
// config is read and validated whole, as loading it would; of GPT-2's (model_type "gpt2") only
// n_positions and vocab_size are needed.
int64_t max_input_tokens(const std::filesystem::path& model_dir, const Tokenizer& tokenizer);

}  // namespace latte
