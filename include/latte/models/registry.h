// Which family a Hugging Face folder holds, by config.json's model_type: one table with an entry
// per family (each family's file defines its entry), and loading a model of that family behind
// the interface a command needs. Front ends branch on a family's kind (encoder, decoder-only,
// encoder-decoder), never on its name; adding a family is its file plus one line in the table.
#pragma once

#include <filesystem>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "latte/models/causal_lm.h"
#include "latte/models/linear_weights.h"
#include "latte/models/seq2seq_lm.h"
#include "latte/models/weight_spec.h"
#include "latte/tokenizers/tokenizer.h"

namespace latte {

// The interface a family's models run behind.
enum class ModelKind {
  kEncoder,    // classification / regression heads (BertModel)
  kCausalLm,   // decoder-only language models (CausalLm)
  kSeq2SeqLm,  // encoder-decoder generation (Seq2SeqLm)
};
const char* kind_name(ModelKind kind);  // "encoder", "decoder", "encoder-decoder"

// What a folder's config.json says of its model, without reading the weights (latte info).
struct FolderSummary {
  ModelDescription description;  // compute_dtype unset
  int64_t head_dim = 0, vocab_size = 0;
  // The tensors a model of this config reads, with their shapes as stored, where the family
  // lists them (empty otherwise): info checks the shape of each one the folder holds.
  std::vector<WeightSpec> weights;
  int64_t decoder_layers = 0;  // encoder-decoder families
};

struct ModelFamily {
  const char* model_type;  // config.json's "model_type" ("bert", "gpt2")
  ModelKind kind;
  // The linear weights `latte quantize` stores in int8, read from the folder's config.json.
  std::vector<StoredWeight> (*linear_weights)(const WeightStore& store,
                                              const std::filesystem::path& config_json);
  // The longest input a model of the folder takes, checking that `tokenizer` belongs to it; the
  // weights are not read.
  int64_t (*max_input_tokens)(const std::filesystem::path& model_dir, const Tokenizer& tokenizer);
  // Set for kCausalLm families.
  std::unique_ptr<CausalLm> (*load_causal_lm)(const std::filesystem::path& model_dir, Precision precision);
  // Set for kSeq2SeqLm families.
  std::unique_ptr<Seq2SeqLm> (*load_seq2seq_lm)(const std::filesystem::path& model_dir, Precision precision);
  // The folder's model from its config.json alone.
  FolderSummary (*summarize)(const std::filesystem::path& model_dir) = nullptr;
};

// Every family latte runs, in the order errors list them.
std::span<const ModelFamily> model_families();

// The family of config.json's model_type (BERT folders written without one count as bert).
// FormatError naming the file and the supported types for a model_type latte does not run.
const ModelFamily& model_family(const std::filesystem::path& model_dir);

// kInt8 when the folder's weights hold I8 tensors (written by quantize_model_folder), else kF32:
// the precision a model is loaded in when none is asked for.
Precision stored_precision(const std::filesystem::path& model_dir);

// Writes the model of `model_dir` to `out_dir` with every linear weight in int8 (per output
// channel; models/linear_weights.h has the layout), the rest as it was, and the folder's other
// files copied. InputError when `out_dir` is `model_dir`; FormatError for a broken model.
void quantize_model_folder(const std::filesystem::path& model_dir, const std::filesystem::path& out_dir);

// A decoder-only model; InputError naming the folder's kind otherwise ("... holds a bert model
// (an encoder); this needs a decoder-only model (gpt2)"). `precision` as for Gpt2Model::load.
std::unique_ptr<CausalLm> load_causal_lm(const std::filesystem::path& model_dir,
                                         Precision precision = Precision::kF32);

// An encoder-decoder model; InputError naming the folder's kind otherwise.
std::unique_ptr<Seq2SeqLm> load_seq2seq_lm(const std::filesystem::path& model_dir,
                                           Precision precision = Precision::kF32);

// How check_folder_weights found a folder's tensors.
struct WeightCheck {
  int64_t tensors = 0;         // every tensor of every file, each read in place: all finite
  int64_t shapes_checked = 0;  // those the family lists (FolderSummary::weights), shapes as listed
};

// Streams over every tensor of `store` (WeightStore::check_finite: nothing materialised) and
// checks the shape of each of `weights` the store holds (an I8 weight has its float's shape).
// FormatError naming the first bad tensor.
WeightCheck check_folder_weights(const WeightStore& store, const std::vector<WeightSpec>& weights);

// The longest input the model in `model_dir` takes (ModelFamily::max_input_tokens).
int64_t max_input_tokens(const std::filesystem::path& model_dir, const Tokenizer& tokenizer);

// Each family's entry, defined beside its model (bert.cpp, gpt2.cpp, llama.cpp, t5.cpp).
const ModelFamily& bert_family();
const ModelFamily& gpt2_family();
const ModelFamily& llama_family();  // llama.cpp: with mistral_family and qwen2_family
const ModelFamily& mistral_family();
const ModelFamily& qwen2_family();
const ModelFamily& t5_family();  // t5.cpp: with mt5_family
const ModelFamily& mt5_family();

}  // namespace latte
