#include "latte/eval/plot.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <sstream>

#include "latte/core/error.h"
#include "latte/io/json_file.h"
#include "latte/io/read_file.h"

namespace latte {

namespace {

std::string number(double value, int decimals = 4) {
  char buffer[64];
  std::snprintf(buffer, sizeof(buffer), "%.*f", decimals, value);
  return buffer;
}

std::string escape_xml(const std::string& text) {
  std::string escaped;
  for (char c : text) {
    switch (c) {
      case '<':
        escaped += "&lt;";
        break;
      case '>':
        escaped += "&gt;";
        break;
      case '&':
        escaped += "&amp;";
        break;
      case '"':
        escaped += "&quot;";
        break;
      default:
        escaped += c;
    }
  }
  return escaped;
}

// The <svg> element on a white background, with the title centred at the top.
std::string svg_header(double width, double height, const std::string& title) {
  std::ostringstream svg;
  svg << "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" << width << "\" height=\"" << height
      << "\" font-family=\"sans-serif\" font-size=\"12\">\n"
      << "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n"
      << "<text x=\"" << width / 2 << "\" y=\"24\" text-anchor=\"middle\" font-size=\"15\">"
      << escape_xml(title) << "</text>\n";
  return svg.str();
}

}  // namespace

std::string sweep_csv(const std::vector<SweepRow>& rows, const std::string& quality_name) {
  std::ostringstream csv;
  csv << "requested_speedup,predicted_speedup,measured_speedup,predicted_ms,measured_ms,kept_fraction,"
      << quality_name << ",measured_speedup_p10,measured_speedup_p90\n";
  for (const SweepRow& row : rows) {
    csv << number(row.requested_speedup) << "," << number(row.predicted_speedup) << ","
        << number(row.measured_speedup) << "," << number(row.predicted_ms) << "," << number(row.measured_ms)
        << "," << number(row.kept_fraction) << "," << (row.quality ? number(*row.quality) : "") << ","
        << number(row.measured_speedup_p10) << "," << number(row.measured_speedup_p90) << "\n";
  }
  return csv.str();
}

std::string sweep_svg(const std::vector<SweepRow>& rows, const std::string& title,
                      const std::string& quality_name) {
  constexpr double kWidth = 720, kHeight = 440, kLeft = 70, kRight = 70, kTop = 50, kBottom = 60;
  const double plot_width = kWidth - kLeft - kRight, plot_height = kHeight - kTop - kBottom;
  double x_max = 1.0, y_max = 1.0;
  bool has_quality = false;
  double q_min = 1.0, q_max = 0.0;
  for (const SweepRow& row : rows) {
    x_max = std::max(x_max, row.requested_speedup);
    y_max = std::max({y_max, row.measured_speedup, row.predicted_speedup, row.requested_speedup});
    if (row.quality) {
      has_quality = true;
      q_min = std::min(q_min, *row.quality);
      q_max = std::max(q_max, *row.quality);
    }
  }
  x_max = std::ceil(x_max);
  y_max = std::ceil(y_max);
  if (has_quality) {  // a readable accuracy axis: a span of at least 0.05
    q_min = std::floor((q_min - 0.01) * 20.0) / 20.0;
    q_max = std::min(1.0, std::ceil((q_max + 0.01) * 20.0) / 20.0);
    if (q_max - q_min < 0.05) q_min = q_max - 0.05;
  }
  auto x_of = [&](double speedup) {
    return kLeft + (speedup - 1.0) / std::max(x_max - 1.0, 1.0) * plot_width;
  };
  auto y_of = [&](double speedup) {
    return kTop + plot_height - (speedup - 1.0) / std::max(y_max - 1.0, 1.0) * plot_height;
  };
  auto q_of = [&](double quality) {
    return kTop + plot_height - (quality - q_min) / (q_max - q_min) * plot_height;
  };

  std::ostringstream svg;
  svg << svg_header(kWidth, kHeight, title);
  // Axes and grid.
  svg << "<g stroke=\"#ccc\">\n";
  for (double tick = 1.0; tick <= x_max + 1e-9; tick += 1.0) {
    svg << "<line x1=\"" << number(x_of(tick), 1) << "\" y1=\"" << kTop << "\" x2=\"" << number(x_of(tick), 1)
        << "\" y2=\"" << kTop + plot_height << "\"/>\n";
  }
  for (double tick = 1.0; tick <= y_max + 1e-9; tick += 1.0) {
    svg << "<line x1=\"" << kLeft << "\" y1=\"" << number(y_of(tick), 1) << "\" x2=\"" << kLeft + plot_width
        << "\" y2=\"" << number(y_of(tick), 1) << "\"/>\n";
  }
  svg << "</g>\n<g stroke=\"black\">\n<line x1=\"" << kLeft << "\" y1=\"" << kTop + plot_height << "\" x2=\""
      << kLeft + plot_width << "\" y2=\"" << kTop + plot_height << "\"/>\n<line x1=\"" << kLeft << "\" y1=\""
      << kTop << "\" x2=\"" << kLeft << "\" y2=\"" << kTop + plot_height << "\"/>\n</g>\n";
  for (double tick = 1.0; tick <= x_max + 1e-9; tick += 1.0) {
    svg << "<text x=\"" << number(x_of(tick), 1) << "\" y=\"" << kTop + plot_height + 18
        << "\" text-anchor=\"middle\">" << number(tick, 0) << "x</text>\n";
  }
  for (double tick = 1.0; tick <= y_max + 1e-9; tick += 1.0) {
    svg << "<text x=\"" << kLeft - 8 << "\" y=\"" << number(y_of(tick) + 4, 1) << "\" text-anchor=\"end\">"
        << number(tick, 0) << "x</text>\n";
  }
  svg << "<text x=\"" << kLeft + plot_width / 2 << "\" y=\"" << kHeight - 18
      << "\" text-anchor=\"middle\">requested speedup</text>\n"
      << "<text transform=\"translate(18," << kTop + plot_height / 2
      << ") rotate(-90)\" text-anchor=\"middle\">speedup (measured, predicted)</text>\n";

  auto polyline = [&](auto y_value, const char* colour, const char* dash) {
    svg << "<polyline fill=\"none\" stroke=\"" << colour << "\" stroke-width=\"2\"" << dash << " points=\"";
    for (const SweepRow& row : rows)
      svg << number(x_of(row.requested_speedup), 1) << "," << number(y_value(row), 1) << " ";
    svg << "\"/>\n";
    for (const SweepRow& row : rows) {
      svg << "<circle cx=\"" << number(x_of(row.requested_speedup), 1) << "\" cy=\""
          << number(y_value(row), 1) << "\" r=\"3.5\" fill=\"" << colour << "\"/>\n";
    }
  };
  svg << "<line x1=\"" << x_of(1.0) << "\" y1=\"" << y_of(1.0) << "\" x2=\"" << number(x_of(x_max), 1)
      << "\" y2=\"" << number(y_of(std::min(x_max, y_max)), 1)
      << "\" stroke=\"#999\" stroke-dasharray=\"2,4\"/>\n";
  polyline([&](const SweepRow& row) { return y_of(row.predicted_speedup); }, "#1f77b4",
           " stroke-dasharray=\"6,4\"");
  polyline([&](const SweepRow& row) { return y_of(row.measured_speedup); }, "#1f77b4", "");
  if (has_quality) {
    svg << "<line x1=\"" << kLeft + plot_width << "\" y1=\"" << kTop << "\" x2=\"" << kLeft + plot_width
        << "\" y2=\"" << kTop + plot_height << "\" stroke=\"black\"/>\n";
    for (int step = 0; step <= 5; ++step) {
      const double quality = q_min + (q_max - q_min) * step / 5.0;
      svg << "<text x=\"" << kLeft + plot_width + 8 << "\" y=\"" << number(q_of(quality) + 4, 1) << "\">"
          << number(quality, 3) << "</text>\n";
    }
    svg << "<text transform=\"translate(" << kWidth - 14 << "," << kTop + plot_height / 2
        << ") rotate(90)\" text-anchor=\"middle\">" << escape_xml(quality_name) << "</text>\n";
    std::vector<SweepRow> labelled;
    for (const SweepRow& row : rows) {
      if (row.quality) labelled.push_back(row);
    }
    svg << "<polyline fill=\"none\" stroke=\"#d62728\" stroke-width=\"2\" points=\"";
    for (const SweepRow& row : labelled)
      svg << number(x_of(row.requested_speedup), 1) << "," << number(q_of(*row.quality), 1) << " ";
    svg << "\"/>\n";
    for (const SweepRow& row : labelled) {
      svg << "<circle cx=\"" << number(x_of(row.requested_speedup), 1) << "\" cy=\""
          << number(q_of(*row.quality), 1) << "\" r=\"3.5\" fill=\"#d62728\"/>\n";
    }
  }
  // Legend.
  const double legend_y = kTop + 12;
  svg << "<g font-size=\"11\">\n"
      << "<line x1=\"" << kLeft + 12 << "\" y1=\"" << legend_y << "\" x2=\"" << kLeft + 36 << "\" y2=\""
      << legend_y << "\" stroke=\"#1f77b4\" stroke-width=\"2\"/><text x=\"" << kLeft + 42 << "\" y=\""
      << legend_y + 4 << "\">measured speedup</text>\n"
      << "<line x1=\"" << kLeft + 12 << "\" y1=\"" << legend_y + 16 << "\" x2=\"" << kLeft + 36 << "\" y2=\""
      << legend_y + 16 << "\" stroke=\"#1f77b4\" stroke-width=\"2\" stroke-dasharray=\"6,4\"/><text x=\""
      << kLeft + 42 << "\" y=\"" << legend_y + 20 << "\">predicted speedup</text>\n";
  if (has_quality) {
    svg << "<line x1=\"" << kLeft + 12 << "\" y1=\"" << legend_y + 32 << "\" x2=\"" << kLeft + 36
        << "\" y2=\"" << legend_y + 32 << "\" stroke=\"#d62728\" stroke-width=\"2\"/><text x=\"" << kLeft + 42
        << "\" y=\"" << legend_y + 36 << "\">" << escape_xml(quality_name) << " (right axis)</text>\n";
  }
  svg << "</g>\n</svg>\n";
  return svg.str();
}

namespace {

// "a, b, c": the fields of a result line, for messages.
std::string field_names(const nlohmann::json& row) {
  std::string names;
  for (const auto& item : row.items()) names += (names.empty() ? "" : ", ") + item.key();
  return names.empty() ? "none" : names;
}

// row[field] as a finite number; a missing field names the fields the line has instead.
double result_field(const nlohmann::json& row, const std::string& field, const std::string& where) {
  if (!row.contains(field) || row[field].is_null()) {
    throw InputError(where + ": field '" + field + "' is missing; the line has " + field_names(row));
  }
  return json_require_double(row, field, where);
}

}  // namespace

std::string default_plot_y(const nlohmann::json& row, const std::string& where) {
  for (const char* field : {"perplexity", "accuracy", "pearson"}) {
    if (row.contains(field)) return field;
  }
  throw InputError(where + ": no perplexity, accuracy or pearson field for the y axis; the line has " +
                   field_names(row));
}

PlotSeries read_plot_series(const std::filesystem::path& path, const std::string& label,
                            const std::string& x_field, const std::string& y_field) {
  LineReader lines(ReadableFile::open(path, FileSource::kUser, "results file"));
  PlotSeries series;
  series.label = label;
  std::string line;
  while (lines.next(line)) {
    if (line.find_first_not_of(" \t") == std::string::npos) continue;
    const std::string where = lines.name() + ":" + std::to_string(lines.line_number());
    const nlohmann::json row = parse_json_bounded(line, where, FileSource::kUser);
    if (!row.is_object()) throw InputError(where + ": expected a JSON object (a line of latte eval --json)");
    if (series.y_field.empty()) series.y_field = y_field.empty() ? default_plot_y(row, where) : y_field;
    const double x = result_field(row, x_field, where);
    series.points.emplace_back(x, result_field(row, series.y_field, where));
  }
  if (series.points.empty())
    throw InputError(lines.name() + ": no results (expected lines of latte eval --json)");
  return series;
}

namespace {

// Round limits and a step of 1, 2 or 5 times a power of ten: about five ticks over [low, high].
struct Axis {
  double low = 0.0, high = 1.0, step = 0.2;
};

Axis nice_axis(double low, double high) {
  if (high - low < 1e-12 * std::max(1.0, std::abs(high))) {
    const double pad = std::max(std::abs(high) * 0.05, 1e-6);
    low -= pad;
    high += pad;
  }
  const double raw = (high - low) / 5.0;
  const double power = std::pow(10.0, std::floor(std::log10(raw)));
  const double fraction = raw / power;
  const double step = (fraction <= 1.0 ? 1.0 : fraction <= 2.0 ? 2.0 : fraction <= 5.0 ? 5.0 : 10.0) * power;
  return {std::floor(low / step) * step, std::ceil(high / step) * step, step};
}

int decimals_for(double step) {
  return step >= 1.0 ? 0 : static_cast<int>(std::ceil(-std::log10(step) - 1e-9));
}

}  // namespace

std::string series_svg(const std::vector<PlotSeries>& series, const std::string& title,
                       const std::string& x_label, const std::string& y_label) {
  constexpr double kWidth = 720, kHeight = 440, kLeft = 80, kRight = 30, kTop = 50, kBottom = 60;
  const double plot_width = kWidth - kLeft - kRight, plot_height = kHeight - kTop - kBottom;
  double x_min = INFINITY, x_max = -INFINITY, y_min = INFINITY, y_max = -INFINITY;
  for (const PlotSeries& one : series) {
    for (const auto& [x, y] : one.points) {
      x_min = std::min(x_min, x);
      x_max = std::max(x_max, x);
      y_min = std::min(y_min, y);
      y_max = std::max(y_max, y);
    }
  }
  if (!std::isfinite(x_min)) throw InputError("nothing to plot: no series has a point");
  const Axis x_axis = nice_axis(x_min, x_max), y_axis = nice_axis(y_min, y_max);
  auto x_of = [&](double x) { return kLeft + (x - x_axis.low) / (x_axis.high - x_axis.low) * plot_width; };
  auto y_of = [&](double y) {
    return kTop + plot_height - (y - y_axis.low) / (y_axis.high - y_axis.low) * plot_height;
  };
  static const char* const kColours[] = {"#d62728", "#1f77b4", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b"};

  std::ostringstream svg;
  svg << svg_header(kWidth, kHeight, title) << "<g stroke=\"#ccc\">\n";
  const auto ticks = [](const Axis& axis) {
    std::vector<double> values;
    for (int i = 0; axis.low + i * axis.step <= axis.high + axis.step * 1e-6; ++i)
      values.push_back(axis.low + i * axis.step);
    return values;
  };
  for (const double tick : ticks(x_axis)) {
    svg << "<line x1=\"" << number(x_of(tick), 1) << "\" y1=\"" << kTop << "\" x2=\"" << number(x_of(tick), 1)
        << "\" y2=\"" << kTop + plot_height << "\"/>\n";
  }
  for (const double tick : ticks(y_axis)) {
    svg << "<line x1=\"" << kLeft << "\" y1=\"" << number(y_of(tick), 1) << "\" x2=\"" << kLeft + plot_width
        << "\" y2=\"" << number(y_of(tick), 1) << "\"/>\n";
  }
  svg << "</g>\n<g stroke=\"black\">\n<line x1=\"" << kLeft << "\" y1=\"" << kTop + plot_height << "\" x2=\""
      << kLeft + plot_width << "\" y2=\"" << kTop + plot_height << "\"/>\n<line x1=\"" << kLeft << "\" y1=\""
      << kTop << "\" x2=\"" << kLeft << "\" y2=\"" << kTop + plot_height << "\"/>\n</g>\n";
  for (const double tick : ticks(x_axis)) {
    svg << "<text x=\"" << number(x_of(tick), 1) << "\" y=\"" << kTop + plot_height + 18
        << "\" text-anchor=\"middle\">" << number(tick, decimals_for(x_axis.step)) << "</text>\n";
  }
  for (const double tick : ticks(y_axis)) {
    svg << "<text x=\"" << kLeft - 8 << "\" y=\"" << number(y_of(tick) + 4, 1) << "\" text-anchor=\"end\">"
        << number(tick, decimals_for(y_axis.step)) << "</text>\n";
  }
  svg << "<text x=\"" << kLeft + plot_width / 2 << "\" y=\"" << kHeight - 18 << "\" text-anchor=\"middle\">"
      << escape_xml(x_label) << "</text>\n<text transform=\"translate(18," << kTop + plot_height / 2
      << ") rotate(-90)\" text-anchor=\"middle\">" << escape_xml(y_label) << "</text>\n";
  for (size_t s = 0; s < series.size(); ++s) {
    const char* colour = kColours[s % std::size(kColours)];
    std::vector<std::pair<double, double>> points = series[s].points;
    std::sort(points.begin(), points.end());
    svg << "<polyline fill=\"none\" stroke=\"" << colour << "\" stroke-width=\"2\" points=\"";
    for (const auto& [x, y] : points) svg << number(x_of(x), 1) << "," << number(y_of(y), 1) << " ";
    svg << "\"/>\n";
    for (const auto& [x, y] : points) {
      svg << "<circle cx=\"" << number(x_of(x), 1) << "\" cy=\"" << number(y_of(y), 1)
          << "\" r=\"3.5\" fill=\"" << colour << "\"><title>" << escape_xml(series[s].label) << ": "
          << number(x, 3) << ", " << number(y, 4) << "</title></circle>\n";
    }
    const double legend_y = kTop + 12 + 16.0 * static_cast<double>(s);
    svg << "<line x1=\"" << kLeft + 12 << "\" y1=\"" << legend_y << "\" x2=\"" << kLeft + 36 << "\" y2=\""
        << legend_y << "\" stroke=\"" << colour << "\" stroke-width=\"2\"/><text x=\"" << kLeft + 42
        << "\" y=\"" << legend_y + 4 << "\" font-size=\"11\">" << escape_xml(series[s].label) << "</text>\n";
  }
  svg << "</svg>\n";
  return svg.str();
}

}  // namespace latte
