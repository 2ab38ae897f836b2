// Labelled examples for evaluation and training, the JSONL files that hold them, and the inputs
// of a command (text lines or JSONL, or texts given directly).
#pragma once

#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "latte/io/read_file.h"

namespace latte::data {

struct LabeledExample {
  std::string text;
  std::optional<std::string> text_pair;
  std::optional<std::string> label;  // class name as written ("spam", "entailment", "1"); absent: unlabelled
  std::optional<double> score;       // regression target (STS-B); also set for a numeric JSON label
  std::string origin;                // "FILE:LINE" (or "argument N"), for error messages
};

// JSONL, one object per line: {"text": str, "text_pair"?: str|null, "label"?: str|number|null}.
// A numeric label sets both score and label (integral values written without a decimal
// point: 1 -> "1"); a string label that parses as a number ("3.8") also sets score.
// Blank lines are skipped; other fields are ignored. InputError names FILE:LINE for bad
// JSON, a missing or non-string text, or a label of another type.
std::vector<LabeledExample> read_labeled_jsonl(const std::filesystem::path& path);
// The same examples one at a time, in file order, until on_example returns false: the rest of the
// file is not read.
void for_each_labeled_jsonl(const std::filesystem::path& path,
                            const std::function<bool(LabeledExample&&)>& on_example);

// One JSONL line of that format; `origin` ("FILE:LINE") prefixes every error.
LabeledExample parse_labeled_json_line(const std::string& line, const std::string& origin);

// Parses a whole string as a finite number ("3.8", " 4 ", "1e-2"); nullopt otherwise.
std::optional<double> parse_number(const std::string& text);

// Texts to tokenize, classify or continue, one at a time: from FILE ('-' = stdin) or given
// directly. A file is JSONL when its first non-blank line starts with '{' (the format above),
// else one text per line; lines end at \n, \r\n or a lone \r, and blank lines are skipped. Only
// what next() is asked for is read, so a caller holds one batch of a file at a time, whatever
// its size. Errors name the file and line.
class InputReader {
 public:
  static InputReader from_file(const std::string& path);
  static InputReader from_inputs(std::vector<LabeledExample> inputs);

  // False when there are no more inputs.
  bool next(LabeledExample& input);

 private:
  InputReader() = default;

  std::optional<LineReader> lines_;  // absent for inputs given directly
  std::vector<LabeledExample> given_;
  size_t next_given_ = 0;
  std::optional<bool> jsonl_;
};

}  // namespace latte::data
