// Training data: plain text for masked-LM pretraining and JSONL for
// classification and regression. Every malformed line is an InputError that
// names FILE:LINE.
#pragma once

#include <cstdint>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <optional>
#include <ostream>
#include <random>
#include <string>
#include <vector>

#include "latte/data/records.h"
#include "latte/models/bert.h"
#include "latte/tokenizers/bert_tokenizer.h"
#include "latte/tokenizers/bpe_tokenizer.h"
#include "latte/tokenizers/sentencepiece_tokenizer.h"

namespace latte::train {

// One labelled example: {"text": ..., "text_pair": ... (optional), "label": string or number}.
struct LabelledText {
  std::string text;
  std::optional<std::string> text_pair;
  nlohmann::json label;
  std::string origin;  // "FILE:LINE"
};
// The examples of `path`, read as `records` say (latte/data/records.h: JSONL, CSV, TSV). A label
// that reads as a number is a number (a regression target, or a class written as one). With the
// `id2label` of a classifier to fine-tune, integer labels are read through it first
// (data::map_integer_labels), with the notice line on `log` (may be null). A missing or empty
// file, a bad record, a number beyond +-1e30 are InputErrors naming the file (and line); an
// example without a label is a FieldError of "label field".
std::vector<LabelledText> read_labelled_examples(const std::filesystem::path& path,
                                                 const data::RecordOptions& records = {},
                                                 const std::vector<std::string>& id2label = {},
                                                 std::ostream* log = nullptr);

// The label space of a task, taken from the training data: regression when the
// labels are numbers and at least one is not an integer, else classification
// over the distinct labels (sorted; numbers numerically).
struct LabelSet {
  bool regression = false;
  std::vector<std::string> names;  // classification: id -> label name

  static LabelSet infer(const std::vector<LabelledText>& examples);
  // Keeps the order of an existing head when it has exactly these labels.
  static LabelSet from_names(std::vector<std::string> names) { return {false, std::move(names)}; }
  int64_t num_labels() const { return regression ? 1 : static_cast<int64_t>(names.size()); }
  // Class index, or the regression target; InputError naming `origin` for a
  // label outside the set (e.g. a dev label never seen in training).
  float target(const nlohmann::json& label, const std::string& origin) const;
};
// A label as the name config.json's id2label uses: strings as is, numbers printed.
std::string label_name(const nlohmann::json& label);

// Tokenized examples with their targets.
struct EncodedExample {
  BertInput input;
  float target = 0.0f;
};
std::vector<EncodedExample> encode_examples(const std::vector<LabelledText>& examples, const LabelSet& labels,
                                            const BertTokenizer& tokenizer, int max_length);

// Word-piece ids (no specials) of each non-blank line of a text file.
// Invalid UTF-8 is an InputError naming FILE:LINE; a file without text too.
std::vector<std::vector<int32_t>> read_text_lines(const std::filesystem::path& path,
                                                  const BertTokenizer& tokenizer);

// The same with GPT-2's byte-level BPE (no specials added; "<|endoftext|>" in the text is
// the special token, as in the engine).
std::vector<std::vector<int32_t>> read_text_lines(const std::filesystem::path& path,
                                                  const ByteLevelBpeTokenizer& tokenizer);

// The same with T5's SentencePiece (no </s> added).
std::vector<std::vector<int32_t>> read_text_lines(const std::filesystem::path& path,
                                                  const SentencePieceTokenizer& tokenizer);

// Causal-LM windows: the lines joined into one token stream, each followed by `separator`
// (<|endoftext|>), cut into consecutive windows of `length` tokens; a line longer than a window
// simply continues into the next. The tail shorter than a window is dropped. InputError naming
// `source` when the stream holds no whole window.
std::vector<std::vector<int32_t>> causal_lm_windows(const std::vector<std::vector<int32_t>>& lines,
                                                    int32_t separator, int64_t length,
                                                    const std::string& source);

// Packs lines back to back into sequences [CLS] pieces... [SEP] of at most
// seq_len tokens (a line may continue into the next sequence), so no batch
// pays for padding.
std::vector<BertInput> pack_sequences(const std::vector<std::vector<int32_t>>& lines, int64_t seq_len,
                                      int32_t cls_id, int32_t sep_id);

// BERT's masking: `probability` of the non-special tokens become targets; of
// those 80 % turn into [MASK], 10 % into a random token, 10 % stay.
struct MaskedBatch {
  std::vector<BertInput> inputs;        // corrupted copies
  std::vector<int64_t> flat_positions;  // b * padded_length + position of each target
  std::vector<int64_t> targets;         // original ids
};
MaskedBatch mask_tokens(const std::vector<BertInput>& sequences, const BertTokenizer& tokenizer,
                        double probability, std::mt19937_64& generator);

// Batches of example indices for one epoch: shuffled, then grouped by length
// within windows of 50 batches so little padding is computed.
std::vector<std::vector<size_t>> epoch_batches(const std::vector<int64_t>& lengths, int64_t batch_size,
                                               std::mt19937_64& generator);

}  // namespace latte::train
