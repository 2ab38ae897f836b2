// latte compare: two language-model evaluations on the same windows, e.g. a GPT-2 trained with
// elimination against the same recipe trained dense (the zero-shot arm): how much more one
// model's perplexity rises at each speedup than the other's, with a paired-bootstrap interval.
#include <cstdio>
#include <iostream>
#include <nlohmann/json.hpp>

#include "common.h"
#include "latte/eval/lm_compare.h"

namespace latte::cli {

void add_compare_command(CLI::App& app) {
  auto* command = app.add_subcommand(
      "compare",
      "Two `latte eval --task lm --json` runs on the same windows: each one's perplexity change against "
      "its own S = 1, and how much more the second's rises, with 95% intervals (paired bootstrap over "
      "windows)");
  struct Options {
    std::string base;
    std::string other;
    int resamples = 2000;
    bool json = false;
  };
  auto options = std::make_shared<Options>();
  command->add_option("base", options->base, "JSON lines of the reference run (e.g. the zero-shot arm)")
      ->required();
  command->add_option("other", options->other, "JSON lines of the run compared with it")->required();
  command->add_option("--resamples", options->resamples, "Bootstrap resamples")
      ->check(CLI::Range(100, 20000))
      ->capture_default_str();
  command->add_flag("--json", options->json, "One JSON object per speedup");
  command->callback([options] {
    const LmRun base = read_lm_run(options->base);
    const LmRun other = read_lm_run(options->other);
    const LmComparison comparison = compare_lm_runs(base, other, options->resamples);
    if (!comparison.fingerprints_match) {
      std::cerr << "latte: notice: a run does not record which windows it scored (windows_fingerprint); only "
                   "their number ("
                << comparison.windows << ") was checked\n";
    }
    if (!options->json) {
      std::printf(
          "base %s, other %s: %zu windows; changes against each run's own S = 1, 95%% intervals from a "
          "paired bootstrap over windows (%d resamples)\n",
          base.name.c_str(), other.name.c_str(), comparison.windows, options->resamples);
      std::printf("%8s %10s %10s  %-26s %-26s %s\n", "speedup", "base_ppl", "other_ppl", "base change",
                  "other change", "other - base, points");
    }
    const auto interval = [](const PairedEstimate& estimate, const char* unit) {
      char buffer[96];
      std::snprintf(buffer, sizeof buffer, "%+.2f%s [%+.2f, %+.2f]", estimate.value, unit, estimate.low,
                    estimate.high);
      return std::string(buffer);
    };
    for (const LmComparisonRow& row : comparison.rows) {
      if (options->json) {
        const nlohmann::json line = {
            {"speedup", row.speedup},
            {"windows", comparison.windows},
            {"base_perplexity", row.base_perplexity},
            {"other_perplexity", row.other_perplexity},
            {"base_change_pct", row.base_change.value},
            {"base_change_ci95_pct", {row.base_change.low, row.base_change.high}},
            {"other_change_pct", row.other_change.value},
            {"other_change_ci95_pct", {row.other_change.low, row.other_change.high}},
            {"difference_points", row.difference.value},
            {"difference_ci95_points", {row.difference.low, row.difference.high}},
        };
        std::cout << line.dump() << "\n";
      } else {
        std::printf("%8.2f %10.3f %10.3f  %-26s %-26s %s\n", row.speedup, row.base_perplexity,
                    row.other_perplexity, interval(row.base_change, "%").c_str(),
                    interval(row.other_change, "%").c_str(), interval(row.difference, "").c_str());
      }
    }
  });
}

}  // namespace latte::cli
