// The offline-tuning sweep as a table (CSV) and a chart (SVG) a browser shows.
#pragma once

#include <optional>
#include <string>
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

}  // namespace latte
