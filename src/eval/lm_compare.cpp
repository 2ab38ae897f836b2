#include "latte/eval/lm_compare.h"

#include <algorithm>
#include <cmath>
#include <string>

#include "latte/core/error.h"
#include "latte/io/json_file.h"
#include "latte/io/read_file.h"

namespace latte {

namespace {

const LmRunTarget* find_target(const LmRun& run, double speedup) {
  const auto found = std::find_if(run.targets.begin(), run.targets.end(),
                                  [&](const LmRunTarget& target) { return target.speedup == speedup; });
  return found == run.targets.end() ? nullptr : &*found;
}

}  // namespace

LmRun read_lm_run(const std::filesystem::path& path) {
  LineReader lines(ReadableFile::open(path, FileSource::kUser, "results file"));
  LmRun run;
  run.name = lines.name();
  size_t values = 0;
  std::string line;
  while (lines.next(line)) {
    if (line.find_first_not_of(" \t") == std::string::npos) continue;
    const std::string where = lines.name() + ":" + std::to_string(lines.line_number());
    const nlohmann::json row = parse_json_bounded(line, where, FileSource::kUser);
    if (!row.is_object())
      throw InputError(where + ": expected a JSON object (a line of latte eval --task lm --json)");
    // The truncation baseline's lines: not a model's own speedups.
    if (row.contains("arm") && row["arm"] == "truncate") continue;
    if (run.targets.size() == kMaxLmRunTargets) {
      throw InputError(where + ": more than " + std::to_string(kMaxLmRunTargets) +
                       " results; a comparison takes at most " + std::to_string(kMaxLmRunTargets) +
                       " speedups");
    }
    LmRunTarget target;
    target.speedup = json_require_double(row, "speedup", where);
    target.perplexity = json_require_double(row, "perplexity", where);
    const auto nll = row.find("window_nll");
    if (nll == row.end() || !nll->is_array() || nll->empty()) {
      throw InputError(where +
                       ": no per-window NLLs ('window_nll'); it needs a line of latte eval --task lm --json");
    }
    if (nll->size() > kMaxLmRunWindows) {
      throw InputError(where + ": " + std::to_string(nll->size()) + " windows; a comparison takes at most " +
                       std::to_string(kMaxLmRunWindows));
    }
    values += nll->size();
    if (values > kMaxLmRunValues) {
      throw InputError(where + ": more than " + std::to_string(kMaxLmRunValues) +
                       " window NLLs in all; a comparison takes at most that many");
    }
    target.window_nll.reserve(nll->size());
    for (const nlohmann::json& value : *nll) {
      if (!value.is_number() || !std::isfinite(value.get<double>())) {
        throw InputError(where + ": 'window_nll' holds " + json_preview(value) + ", not a finite number");
      }
      target.window_nll.push_back(value.get<double>());
    }
    if (find_target(run, target.speedup) != nullptr) {
      throw InputError(where + ": speedup " + json_preview(row["speedup"]) + " appears twice");
    }
    if (!run.targets.empty() && target.window_nll.size() != run.targets.front().window_nll.size()) {
      throw InputError(where + ": " + std::to_string(target.window_nll.size()) +
                       " windows, where line 1 has " + std::to_string(run.targets.front().window_nll.size()));
    }
    std::optional<std::string> fingerprint;
    if (const auto found = row.find("windows_fingerprint"); found != row.end()) {
      if (!found->is_string()) throw InputError(where + ": 'windows_fingerprint' is not a string");
      fingerprint = found->get<std::string>();
    }
    if (!run.targets.empty() && fingerprint != run.fingerprint) {
      throw InputError(where +
                       ": scored other windows than the lines before it (windows_fingerprint differs)");
    }
    run.fingerprint = fingerprint;
    run.targets.push_back(std::move(target));
  }
  if (run.targets.empty())
    throw InputError(run.name + ": no results (expected lines of latte eval --task lm --json)");
  return run;
}

LmComparison compare_lm_runs(const LmRun& base, const LmRun& other, int resamples) {
  const LmRunTarget* base_dense = find_target(base, 1.0);
  const LmRunTarget* other_dense = find_target(other, 1.0);
  for (const auto& [run, dense] : {std::pair{&base, base_dense}, std::pair{&other, other_dense}}) {
    if (dense == nullptr) {
      throw InputError(run->name +
                       ": no line at speedup 1, which each change is measured against (--speedups 1,...)");
    }
  }
  LmComparison comparison;
  comparison.windows = base_dense->window_nll.size();
  if (other_dense->window_nll.size() != comparison.windows) {
    throw InputError(
        base.name + " scored " + std::to_string(comparison.windows) + " windows and " + other.name + " " +
        std::to_string(other_dense->window_nll.size()) +
        "; a paired comparison needs the same windows (same data, --prompt-len, --continuation-len, --max)");
  }
  if (base.fingerprint && other.fingerprint && *base.fingerprint != *other.fingerprint) {
    throw InputError(base.name + " and " + other.name +
                     " scored different windows (windows_fingerprint differs): same data, --prompt-len, "
                     "--continuation-len, --max and tokenizer are needed");
  }
  comparison.fingerprints_match = base.fingerprint.has_value() && other.fingerprint.has_value();
  for (const LmRunTarget& target : base.targets) {
    const LmRunTarget* paired = find_target(other, target.speedup);
    if (target.speedup == 1.0 || paired == nullptr) continue;
    LmComparisonRow row;
    row.speedup = target.speedup;
    row.base_perplexity = target.perplexity;
    row.other_perplexity = paired->perplexity;
    const PairedChanges changes = perplexity_changes(base_dense->window_nll, target.window_nll,
                                                     other_dense->window_nll, paired->window_nll, resamples);
    row.base_change = changes.base;
    row.other_change = changes.other;
    row.difference = changes.difference;
    comparison.rows.push_back(row);
  }
  if (comparison.rows.empty()) {
    throw InputError(base.name + " and " + other.name + " share no speedup above 1 to compare");
  }
  std::sort(comparison.rows.begin(), comparison.rows.end(),
            [](const LmComparisonRow& a, const LmComparisonRow& b) { return a.speedup < b.speedup; });
  return comparison;
}

}  // namespace latte
