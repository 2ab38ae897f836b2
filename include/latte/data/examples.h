// Labelled examples for evaluation and training: the record every data and input file is read
// into (latte/data/records.h reads them).
#pragma once

#include <optional>
#include <string>

namespace latte::data {

struct LabeledExample {
  std::string text;
  std::optional<std::string> text_pair;
  std::optional<std::string> label;  // class name as written ("spam", "entailment", "1"); absent: unlabelled
  std::optional<double> score;       // regression target (STS-B); also set for a numeric label
  std::string origin;                // "FILE:LINE" (or "argument N"), for error messages
};

// Parses a whole string as a finite number ("3.8", " 4 ", "1e-2"); nullopt otherwise.
std::optional<double> parse_number(const std::string& text);

}  // namespace latte::data
