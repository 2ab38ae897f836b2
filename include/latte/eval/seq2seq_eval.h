// `latte eval` of an encoder-decoder (T5 / Flan-T5) on instruction data (data/instruct.h): every
// example's answer generated greedily at each target speedup (elimination in the encoder), scored
// by exact match after normalisation, and accuracy / macro-F1 for classification tasks, per task
// and prompting style, with paired intervals over examples and the measured encoder and
// end-to-end speedups beside them. The targets run in turn on each example, so drift in the
// machine's speed falls on all of them alike.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "latte/data/instruct.h"
#include "latte/eval/bootstrap.h"
#include "latte/models/seq2seq_lm.h"
#include "latte/prune/plan.h"
#include "latte/tokenizers/tokenizer.h"

namespace latte {

// SQuAD-style answer normalisation without the article rule (answers here are labels and single
// words): ASCII letters lowercased, ASCII punctuation dropped, whitespace runs made one space,
// the ends trimmed. "Belles  lettres." -> "belles lettres".
std::string normalize_answer(std::string_view text);

struct Seq2SeqEvalTarget {
  double speedup = 1.0;
  const Planner* planner = nullptr;  // null: dense
  // The baseline a user would try first: no elimination, the source cut to this many tokens (its
  // first ones and the final </s>) for a source of n tokens. Unset: the whole source.
  std::function<int64_t(int64_t n)> truncated_length;
  std::string arm = "eliminate";  // "dense", "eliminate" or "truncate", for reports
};

// One example at one target.
struct Seq2SeqPrediction {
  std::string text;  // the generated answer, decoded
  bool exact = false;
  double encoder_seconds = 0.0;
  double total_seconds = 0.0;  // the encoder, the first decoder step and every later one
  double kept_fraction = 1.0;  // word-vectors leaving each encoder layer / source tokens, mean
  double predicted_speedup = 1.0;
};

struct Seq2SeqEvalOptions {
  // Tokens generated at most; 0: the longest target's tokens + 2, within the model's limit.
  int64_t max_new_tokens = 0;
  // Called after each example with (examples done, examples).
  std::function<void(size_t done, size_t total)> on_progress;
};

struct Seq2SeqRuns {
  std::vector<std::vector<Seq2SeqPrediction>> predictions;  // [target][example]
  int64_t truncated_sources = 0;  // sources cut to the model's limit (first tokens and </s> kept)
  int64_t max_new_tokens = 0;
};

// Generates every example's answer at every target. InputError for an empty source.
Seq2SeqRuns run_seq2seq_targets(Seq2SeqLm& model, const Tokenizer& tokenizer,
                                const std::vector<data::InstructExample>& examples,
                                const std::vector<Seq2SeqEvalTarget>& targets,
                                const Seq2SeqEvalOptions& options);

// The scores of one group of examples (a task in a style, or all of them) at one target.
struct Seq2SeqGroupScore {
  std::string task;   // "all" for every task
  std::string style;  // "all" for every style
  size_t examples = 0;
  PairedEstimate exact_match;              // share of exact answers (= accuracy for classification)
  std::optional<PairedEstimate> macro_f1;  // classification tasks: over the task's classes, an
                                           // answer outside them counted as a class of its own
  std::optional<PairedEstimate> change;    // exact match minus the first target's, paired
  double encoder_ms = 0.0;                 // mean per example
  double total_ms = 0.0;
  double encoder_speedup = 1.0;  // the first target's encoder time over this one's, summed
  double total_speedup = 1.0;
  double kept_fraction = 1.0;      // mean
  double predicted_speedup = 1.0;  // of the encoder, mean
};

// Scores per target ([target][group]): each task in each style, in the order they first appear,
// then "all"/"all". Changes and speedups are against targets[0] (the dense run when the first
// speedup is 1).
std::vector<std::vector<Seq2SeqGroupScore>> score_seq2seq_runs(
    const std::vector<data::InstructExample>& examples, const Seq2SeqRuns& runs, int resamples = 1000);

}  // namespace latte
