// Instruction data for encoder-decoders (T5 / Flan-T5), rendered from the datasets of
// `latte data fetch` in several prompting styles, so that accuracy and latency can be read per
// style. Tasks:
//   spam   spam/*.jsonl: is the e-mail spam or ham (2 classes)
//   genre  brown-genre/*.jsonl: which of the 15 Brown genres a passage is from
//   fill   lm/*.txt: restore the word blanked out of a sentence (generation: any word)
// Styles:
//   zero     the instruction and the input, no answer options
//   options  the instruction, the answer options, the input
//   fewshot  the instruction, then k solved examples from train, then the input (long prompts,
//            where elimination saves the most)
// Every line of DIR/instruct/{train,dev,test}.jsonl is
//   {"id", "task", "style", "source", "target", "options"?: [...], "classes"?: [...]}
// where "classes" (classification tasks) lists every answer the task has, and "options" the
// answers a prompt listed. Dev and test examples appear once per style; a train example once,
// in one style (round robin), so the mixture covers every style without tripling its size.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <ostream>
#include <string>
#include <string_view>
#include <vector>

#include "latte/data/split.h"

namespace latte::data {

inline constexpr const char* kInstructTasks[] = {"spam", "genre", "fill"};
inline constexpr const char* kInstructStyles[] = {"zero", "options", "fewshot"};

struct InstructExample {
  std::string id;  // the source record's id, "@" and the style: "spam-2/00123@fewshot"
  std::string task;
  std::string style;
  std::string source;
  std::string target;
  std::vector<std::string> options;  // the answers the prompt lists (style "options")
  std::vector<std::string> classes;  // every answer of a classification task; empty for fill

  bool operator==(const InstructExample&) const = default;
};

struct InstructOptions {
  uint64_t seed = 42;
  int shots = 3;                  // solved examples in a fewshot prompt
  int64_t max_train = 4000;       // per task
  int64_t max_eval = 200;         // per task, for dev and for test (before styles)
  size_t max_input_words = 120;   // an input is cut to this many words
  size_t max_example_words = 40;  // a fewshot example's input is cut to this many
  size_t fill_min_words = 6;      // fill takes sentences of this many words ...
  size_t fill_max_words = 30;     // ... to this many
};

// A label as an answer: underscores become spaces ("belles_lettres" -> "belles lettres").
std::string answer_text(std::string_view label);

// The first `max_words` whitespace-separated words of `text`, joined by single spaces.
std::string first_words(std::string_view text, size_t max_words);

// The examples of every task and style for `split`, read from `data_dir` (the folder `latte data
// fetch` wrote). Fewshot examples always come from train. Deterministic in options.seed.
// FormatError names a missing or malformed file.
std::vector<InstructExample> build_instruct_examples(const std::filesystem::path& data_dir, Split split,
                                                     const InstructOptions& options);

// [task][style] -> examples written, per split.
using InstructCounts = std::map<std::string, std::map<std::string, std::map<std::string, int64_t>>>;

// Writes out_dir/{train,dev,test}.jsonl (each atomically) and out_dir/README.md; returns the
// counts [split][task][style]. Progress lines go to `progress` when not null.
InstructCounts write_instruct_datasets(const std::filesystem::path& data_dir,
                                       const std::filesystem::path& out_dir, const InstructOptions& options,
                                       std::ostream* progress = nullptr);

// One line of such a file; `origin` ("FILE:LINE") prefixes every error. Needs "source" and
// "target" strings; "task" and "style" default to "all" and "-" for files written by hand.
InstructExample parse_instruct_line(std::string_view line, const std::string& origin);

// Every example of a file written as above (or by hand with at least source and target).
std::vector<InstructExample> read_instruct_examples(const std::filesystem::path& path,
                                                    int64_t max_examples = 0);

}  // namespace latte::data
