// The trainer's checkpoints in the Hugging Face layout the engine reads:
// config.json, model.safetensors and the tokenizer files. A classifier saved
// here loads in latte::BertModel (and in Hugging Face's BertForSequenceClassification);
// a pretraining checkpoint is a BertForMaskedLM, which only the trainer reads.
#pragma once

#include <filesystem>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "latte/io/dtype.h"
#include "latte/models/bert.h"
#include "latte/tokenizers/bert_tokenizer.h"
#include "latte/train/bert_modules.h"

namespace latte::train {

// config.json of `model_dir`, validated like the engine does; also accepts
// architectures ["BertForMaskedLM"] (the result keeps that name).
BertConfig read_bert_config(const std::filesystem::path& model_dir);

// Copies the tensors of `model_dir` into `weights`, checking every shape. A name
// may be stored with or without the "bert." prefix, with gamma/beta for
// LayerNorm weight/bias; a GPT-2 name with or without "transformer.". Names for which `may_be_absent` is true
// (a pooler or a head the checkpoint does not have) keep their values when missing; they are returned. Any
// other missing tensor is a FormatError naming it and the folder.
std::vector<std::string> load_hf_weights(const std::filesystem::path& model_dir, const NamedWeights& weights,
                                         const std::function<bool(const std::string&)>& may_be_absent);

// Writes config.json, model.safetensors (in `dtype`) and, when given, the
// tokenizer files into `dir`. Each file is replaced atomically and the weights
// last, so an interrupted save leaves the previous checkpoint readable.
void save_checkpoint(const std::filesystem::path& dir, const BertConfig& config, const NamedWeights& weights,
                     DType dtype, const BertTokenizer* tokenizer);

// config.json (with torch_dtype set to `dtype`), then model.safetensors: what save_checkpoint
// writes after the tokenizer, for any family. Each file is replaced atomically.
void save_model_files(const std::filesystem::path& dir, nlohmann::json config_json,
                      const NamedWeights& weights, DType dtype);

}  // namespace latte::train
