// latte plot: results of several runs as lines on one SVG chart, e.g. perplexity against the
// measured speedup of a model trained with elimination beside the zero-shot (dense-trained) arm.
#include <iostream>

#include "common.h"
#include "latte/core/error.h"
#include "latte/eval/plot.h"
#include "latte/io/atomic_file.h"

namespace latte::cli {

void add_plot_command(CLI::App& app) {
  auto* command = app.add_subcommand(
      "plot",
      "Chart results of several runs (latte eval --json lines) as lines on one SVG, e.g. two training arms");
  struct Options {
    std::vector<std::string> series;
    std::string x = "measured_speedup";
    std::string y;  // empty: from the first series' results
    std::string x_label;
    std::string y_label;
    std::string title;  // empty: "Y against X"
    std::string out;
  };
  auto options = std::make_shared<Options>();
  command
      ->add_option(
          "--series", options->series,
          "LABEL=FILE: a line on the chart from FILE's JSON lines (latte eval --json); repeat for each run")
      ->required();
  command->add_option("--x", options->x, "Field of each line for the x axis")->capture_default_str();
  command->add_option(
      "--y", options->y,
      "Field of each line for the y axis (accuracy, mcc, perplexity, ...; default: the first of "
      "perplexity, accuracy, pearson that the results have)");
  command->add_option("--x-label", options->x_label, "x axis title (default: the field)");
  command->add_option("--y-label", options->y_label, "y axis title (default: the field)");
  command->add_option("--title", options->title, "Chart title (default: \"Y against X\")");
  command->add_option("--out", options->out, "SVG file to write (atomically)")->required();
  command->callback([options] {
    std::vector<PlotSeries> series;
    std::string y = options->y;
    for (const std::string& spec : options->series) {
      const size_t equals = spec.find('=');
      if (equals == std::string::npos || equals == 0 || equals + 1 == spec.size()) {
        throw InputError("--series wants LABEL=FILE, got '" + spec + "'");
      }
      series.push_back(read_plot_series(spec.substr(equals + 1), spec.substr(0, equals), options->x, y));
      y = series.back().y_field;  // every series on the axis the first chose
    }
    const std::string x_label = options->x_label.empty() ? options->x : options->x_label;
    const std::string y_label = options->y_label.empty() ? y : options->y_label;
    const std::string title = options->title.empty() ? y_label + " against " + x_label : options->title;
    write_file_atomic(options->out, series_svg(series, title, x_label, y_label));
    size_t points = 0;
    for (const PlotSeries& one : series) points += one.points.size();
    std::cerr << "latte: wrote " << options->out << " (" << series.size() << " series, " << points
              << " points)\n";
  });
}

}  // namespace latte::cli
