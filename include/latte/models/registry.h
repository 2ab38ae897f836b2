// Which family a Hugging Face folder holds, by config.json's model_type, and loading a model of
// that family behind the interface a command needs.
#pragma once

#include <filesystem>
#include <memory>
#include <string>

#include "latte/models/causal_lm.h"

namespace latte {

enum class ModelFamily { kBert, kGpt2 };

// The family of config.json's model_type (BERT folders written without one count as bert).
// FormatError naming the file for a model_type latte does not run.
ModelFamily model_family(const std::filesystem::path& model_dir);
const char* family_name(ModelFamily family);

// A decoder-only model; InputError when the folder holds an encoder ("... is a bert model;
// generation needs a decoder (gpt2)").
std::unique_ptr<CausalLm> load_causal_lm(const std::filesystem::path& model_dir);

}  // namespace latte
