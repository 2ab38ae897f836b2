// Two language-model evaluations compared on the same windows: how much more one model's
// perplexity rises under elimination than another's (e.g. a model trained with elimination
// against the zero-shot one), with an interval from a paired bootstrap over the windows.
#pragma once

#include <cstddef>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "latte/eval/perplexity.h"

namespace latte {

// One `latte eval --task lm --json` run read back: per target speedup, its perplexity and each
// window's NLL.
struct LmRunTarget {
  double speedup = 1.0;
  double perplexity = 0.0;
  std::vector<double> window_nll;
};

struct LmRun {
  std::string name;                        // the file, for messages
  std::optional<std::string> fingerprint;  // windows_fingerprint, when the run recorded it
  std::vector<LmRunTarget> targets;        // in file order
};

// The most windows, targets and window NLLs in all a run may hold: far more than any evaluation
// here (lm/test gives a few hundred windows of 544 tokens; a sweep, tens of targets), few enough
// that the bootstraps over them take seconds.
inline constexpr size_t kMaxLmRunWindows = 100000;
inline constexpr size_t kMaxLmRunTargets = 1000;
inline constexpr size_t kMaxLmRunValues = 1000000;

// InputError naming FILE:LINE for a line that is not a JSON object, lacks a finite `speedup` or
// `perplexity`, lacks `window_nll` (a list of at most kMaxLmRunWindows finite numbers, one per
// window), repeats a speedup, is target kMaxLmRunTargets + 1, takes the NLLs past
// kMaxLmRunValues, or disagrees with the file's other lines on the number of windows or the
// windows' fingerprint; naming the file when it holds no line. Nesting is bounded as for every
// JSON latte reads.
// Lines of the truncation baseline ("arm": "truncate") are passed over.
LmRun read_lm_run(const std::filesystem::path& path);

struct LmComparisonRow {
  double speedup = 1.0;
  double base_perplexity = 0.0, other_perplexity = 0.0;
  PairedEstimate base_change;   // percent against the base run's own S = 1
  PairedEstimate other_change;  // percent against the other run's own S = 1
  PairedEstimate difference;    // other_change - base_change, percentage points
};

struct LmComparison {
  size_t windows = 0;
  bool fingerprints_match = false;    // false: a run lacked one, so only the window counts were checked
  std::vector<LmComparisonRow> rows;  // every speedup above 1 that both runs scored, ascending
};

// InputError when either run lacks S = 1, their window counts or fingerprints differ, or they
// share no speedup above 1.
LmComparison compare_lm_runs(const LmRun& base, const LmRun& other, int resamples = 2000);

}  // namespace latte
