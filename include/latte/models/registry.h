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

// kInt8 when the folder's weights hold I8 tensors (written by quantize_model_folder), else kF32:
// the precision a model is loaded in when none is asked for.
Precision stored_precision(const std::filesystem::path& model_dir);

// Writes the model of `model_dir` to `out_dir` with every linear weight in int8 (per output
// channel; models/linear_weights.h has the layout), the rest as it was, and the folder's other
// files copied. InputError when `out_dir` is `model_dir`; FormatError for a broken model.
void quantize_model_folder(const std::filesystem::path& model_dir, const std::filesystem::path& out_dir);

// A decoder-only model; InputError when the folder holds an encoder ("... is a bert model;
// generation needs a decoder (gpt2)").
// `precision` as for Gpt2Model::load.
std::unique_ptr<CausalLm> load_causal_lm(const std::filesystem::path& model_dir,
                                         Precision precision = Precision::kF32);

// The longest input the model in `model_dir` takes (BERT's max_position_embeddings, GPT-2's
// n_positions), checking that `tokenizer` belongs to it; the weights are not read. A BERT
// config is read and validated whole, as loading it would; of GPT-2's (model_type "gpt2") only
// n_positions and vocab_size are needed.
int64_t max_input_tokens(const std::filesystem::path& model_dir, const Tokenizer& tokenizer);

}  // namespace latte
