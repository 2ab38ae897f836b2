// The offline-tuning sweep as a table (CSV) and a chart (SVG) a browser shows, and results of
// several runs (a trained arm and the zero-shot arm) as lines on one chart.
#pragma once

#include <filesystem>
#include <nlohmann/json_fwd.hpp>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace latte {

struct SweepRow {
  double requested_speedup = 1.0;
  double predicted_speedup = 1.0;
  double measured_speedup = 1.0;  // median of paired dense / pruned ratios
  double measured_speedup_p10 = 1.0;
  double measured_speedup_p90 = 1.0;
  double predicted_ms = 0.0;
  double measured_ms = 0.0;
  double kept_fraction = 1.0;
  std::optional<double> quality;  // accuracy (or Pearson) when the data has labels
};

// Header + one line per row.
std::string sweep_csv(const std::vector<SweepRow>& rows, const std::string& quality_name);

// Requested speedup on x; measured and predicted speedup (and y = x) on the
// left axis; quality on the right axis when present.
std::string sweep_svg(const std::vector<SweepRow>& rows, const std::string& title,
                      const std::string& quality_name);

// One line of a chart: (x, y) points, e.g. one training arm's quality against its measured
// speedup.
struct PlotSeries {
  std::string label;
  std::vector<std::pair<double, double>> points;
  std::string y_field;  // the field y was read from
};

// The y field of a chart of result lines when none is asked for: the first of perplexity (a
// language model's lines), accuracy (a classifier's), pearson (a regressor's) that `row` has;
// InputError naming `where` and the fields present when it has none of them.
std::string default_plot_y(const nlohmann::json& row, const std::string& where);

// The points of a JSONL file of results (`latte eval --json`, `latte sweep`'s rows): each line
// one JSON object, x and y read from its fields `x_field` and `y_field` (empty: default_plot_y of
// the first line). InputError naming FILE:LINE for a line that is not a JSON object or lacks
// either field as a finite number (listing the fields the line has), and naming the file when it
// holds no line. Nesting is bounded as for every JSON latte reads.
PlotSeries read_plot_series(const std::filesystem::path& path, const std::string& label,
                            const std::string& x_field, const std::string& y_field);

// Every series as a line with points on one chart: x on the bottom axis, y on the left, both
// ranges from the data with a margin, a legend of the labels. InputError when no series has a
// point.
std::string series_svg(const std::vector<PlotSeries>& series, const std::string& title,
                       const std::string& x_label, const std::string& y_label);

}  // namespace latte
