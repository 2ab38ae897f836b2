// Charts of several runs (`latte plot`): reading results as JSON lines, the SVG, and the command.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <regex>
#include <string>
#include <vector>

#include "latte/eval/plot.h"
#include "test_support.h"

namespace latte {

namespace {

using test_support::error_of;
using test_support::spit;
using test_support::TempDir;

// Every number of `attribute`="..." in the SVG, in order.
std::vector<double> attribute_values(const std::string& svg, const std::string& attribute) {
  std::vector<double> values;
  const std::regex pattern(" " + attribute + "=\"([-0-9.]+)\"");
  for (auto it = std::sregex_iterator(svg.begin(), svg.end(), pattern); it != std::sregex_iterator(); ++it)
    values.push_back(std::stod((*it)[1].str()));
  return values;
}

}  // namespace

TEST(PlotSeries, ReadsTheTwoFieldsOfEveryLine) {
  TempDir dir("plot");
  spit(dir / "elim.jsonl",
       "{\"speedup\":1,\"measured_speedup\":1.0,\"perplexity\":566.4}\n\n"
       "{\"speedup\":2,\"measured_speedup\":1.97,\"perplexity\":568.2,\"extra\":[1,2]}\r\n"
       "{\"speedup\":3.72,\"measured_speedup\":3.6,\"perplexity\":569}\n");
  const PlotSeries series = read_plot_series(dir / "elim.jsonl", "elim", "measured_speedup", "perplexity");
  EXPECT_EQ(series.label, "elim");
  const std::vector<std::pair<double, double>> expected = {{1.0, 566.4}, {1.97, 568.2}, {3.6, 569.0}};
  EXPECT_EQ(series.points, expected);
}

TEST(PlotSeries, BadResultsNameFileAndLine) {
  TempDir dir("plot");
  const auto error_for = [&](const std::string& contents) {
    spit(dir / "r.jsonl", contents);
    return error_of([&] { read_plot_series(dir / "r.jsonl", "a", "x", "y"); });
  };
  const std::string file = (dir / "r.jsonl").string();
  EXPECT_CONTAINS(error_for("{\"x\":1,\"y\":2}\nspeedup perplexity\n"), file + ":2: not valid JSON");
  EXPECT_CONTAINS(error_for("[1,2]\n"), file + ":1: expected a JSON object");
  EXPECT_CONTAINS(error_for("{\"x\":1}\n"), file + ":1: field 'y' is missing");
  EXPECT_CONTAINS(error_for("{\"x\":\"fast\",\"y\":1}\n"), "field 'x' must be a number, got \"fast\"");
  EXPECT_CONTAINS(error_for("{\"x\":1,\"y\":null}\n"), file + ":1: field 'y' is missing");
  EXPECT_CONTAINS(error_for("{\"x\":1,\"y\":1e999}\n"), file + ":1: not valid JSON");
  EXPECT_CONTAINS(error_for(std::string(100, '[') + std::string(100, ']') + "\n"), "nested deeper than 64");
  EXPECT_CONTAINS(error_for(""), file + ": no results");
  EXPECT_CONTAINS(error_for("\n  \n"), file + ": no results");
  EXPECT_CONTAINS(error_of([&] { read_plot_series(dir / "missing.jsonl", "a", "x", "y"); }), "missing.jsonl");
  ASSERT_EQ(mkfifo((dir / "fifo").c_str(), 0600), 0);
  EXPECT_CONTAINS(error_of([&] { read_plot_series(dir / "fifo", "a", "x", "y"); }), "not a regular file");
}

TEST(SeriesSvg, EveryPointInsideThePlotInOrderWithItsLabel) {
  const std::vector<PlotSeries> series = {
      {"trained with <elimination>", {{3.6, 569.0}, {1.0, 566.4}, {1.97, 568.2}}},
      {"zero-shot", {{1.0, 540.0}, {3.55, 612.5}}},
  };
  const std::string svg = series_svg(series, "perplexity & speed", "TTFT speedup", "perplexity");
  EXPECT_CONTAINS(svg, "trained with &lt;elimination&gt;");
  EXPECT_CONTAINS(svg, "perplexity &amp; speed");
  EXPECT_CONTAINS(svg, ">TTFT speedup</text>");
  const std::vector<double> xs = attribute_values(svg, "cx"), ys = attribute_values(svg, "cy");
  ASSERT_EQ(xs.size(), 5u);
  ASSERT_EQ(ys.size(), 5u);
  for (size_t i = 0; i < xs.size(); ++i) {
    EXPECT_GE(xs[i], 80.0);
    EXPECT_LE(xs[i], 690.0);
    EXPECT_GE(ys[i], 50.0);
    EXPECT_LE(ys[i], 380.0);
  }
  // Sorted by x within a series: the first series' points left to right, perplexity rising (up).
  EXPECT_LT(xs[0], xs[1]);
  EXPECT_LT(xs[1], xs[2]);
  EXPECT_GT(ys[0], ys[1]);
  EXPECT_GT(ys[1], ys[2]);
  // The zero-shot arm's worse perplexity at 3.55x is the highest point of the chart.
  EXPECT_EQ(*std::min_element(ys.begin(), ys.end()), ys[4]);
  // A single point still gets an axis of non-zero span.
  EXPECT_EQ(attribute_values(series_svg({{"one", {{2.0, 5.0}}}}, "t", "x", "y"), "cx").size(), 1u);
  EXPECT_CONTAINS(error_of([] { series_svg({{"empty", {}}}, "t", "x", "y"); }), "nothing to plot");
}

TEST(PlotCli, WritesTheChartAndRejectsBadSeries) {
  TempDir dir("plot_cli");
  spit(dir / "a.jsonl",
       "{\"measured_speedup\":1,\"perplexity\":10}\n{\"measured_speedup\":3,\"perplexity\":11}\n");
  spit(dir / "b.jsonl",
       "{\"measured_speedup\":1,\"perplexity\":10}\n{\"measured_speedup\":3,\"perplexity\":14}\n");
  const std::string series =
      " --series elim=" + (dir / "a.jsonl").string() + " --series dense=" + (dir / "b.jsonl").string();
  const auto ok = test_support::run_latte(dir.path(), "plot" + series + " --out " + (dir / "c.svg").string());
  ASSERT_EQ(ok.exit_code, 0) << ok.err;
  EXPECT_CONTAINS(ok.err, "2 series, 4 points");
  const std::string svg = test_support::slurp(dir / "c.svg");
  EXPECT_CONTAINS(svg, ">elim</text>");
  EXPECT_CONTAINS(svg, ">dense</text>");
  EXPECT_CONTAINS(svg, ">perplexity against measured_speedup</text>");  // the default title

  const auto no_label = test_support::run_latte(
      dir.path(), "plot --series " + (dir / "a.jsonl").string() + " --out " + (dir / "d.svg").string());
  EXPECT_NE(no_label.exit_code, 0);
  EXPECT_CONTAINS(no_label.err, "--series wants LABEL=FILE");
  const auto bad_field = test_support::run_latte(
      dir.path(), "plot" + series + " --y accuracy --out " + (dir / "d.svg").string());
  EXPECT_NE(bad_field.exit_code, 0);
  EXPECT_CONTAINS(bad_field.err,
                  "a.jsonl:1: field 'accuracy' is missing; the line has measured_speedup, perplexity");
  EXPECT_FALSE(std::filesystem::exists(dir / "d.svg"));
}

TEST(PlotCli, TheDefaultYComesFromTheResults) {
  TempDir dir("plot_cli");
  // A classifier's eval lines: no perplexity, so accuracy is the y axis.
  spit(dir / "cls.jsonl",
       "{\"speedup\":1,\"accuracy\":0.9,\"macro_f1\":0.8,\"measured_speedup\":1}\n"
       "{\"speedup\":2,\"accuracy\":0.85,\"macro_f1\":0.8,\"measured_speedup\":1.9}\n");
  const auto ok = test_support::run_latte(
      dir.path(), "plot --series a=" + (dir / "cls.jsonl").string() + " --out " + (dir / "c.svg").string());
  ASSERT_EQ(ok.exit_code, 0) << ok.err;
  EXPECT_CONTAINS(test_support::slurp(dir / "c.svg"), ">accuracy against measured_speedup</text>");
  // Every series on the axis of the first: a second file without that field names what it has.
  spit(dir / "lm.jsonl", "{\"speedup\":1,\"perplexity\":12,\"measured_speedup\":1}\n");
  const auto mixed = test_support::run_latte(dir.path(), "plot --series a=" + (dir / "cls.jsonl").string() +
                                                             " --series b=" + (dir / "lm.jsonl").string() +
                                                             " --out " + (dir / "d.svg").string());
  EXPECT_NE(mixed.exit_code, 0);
  EXPECT_CONTAINS(
      mixed.err,
      "lm.jsonl:1: field 'accuracy' is missing; the line has measured_speedup, perplexity, speedup");
  spit(dir / "odd.jsonl", "{\"measured_speedup\":1,\"f1\":0.5}\n");
  EXPECT_CONTAINS(error_of([&] { read_plot_series(dir / "odd.jsonl", "odd", "measured_speedup", ""); }),
                  "odd.jsonl:1: no perplexity, accuracy or pearson field for the y axis; the line has f1, "
                  "measured_speedup");
  EXPECT_EQ(read_plot_series(dir / "cls.jsonl", "a", "measured_speedup", "").y_field, "accuracy");
  EXPECT_EQ(read_plot_series(dir / "cls.jsonl", "a", "measured_speedup", "macro_f1").y_field, "macro_f1");
}

}  // namespace latte
