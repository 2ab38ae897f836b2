// The shared progress line (core/progress.h): redraws on a terminal, rare plain lines in a log,
// on an injected clock (no real time). Also the profile's and calibration's use of it.
#include <gtest/gtest.h>

#include <algorithm>
#include <sstream>

#include "latte/core/progress.h"
#include "latte/core/threads.h"
#include "latte/eval/calibrate.h"
#include "latte/models/bert.h"
#include "test_support.h"

namespace latte {
namespace {

size_t count_of(const std::string& text, char c) {
  return static_cast<size_t>(std::count(text.begin(), text.end(), c));
}

TEST(ProgressLine, PlainLinesAtABoundedRateInALog) {
  std::ostringstream out;
  double now = 0.0;
  ProgressLine line(out, /*interactive=*/false, 5.0, [&] { return now; });
  // 1000 updates over 20 s of fake time: the first, then one per 5 s, then the final line.
  for (int i = 0; i < 1000; ++i) {
    now = i / 50.0;
    line.update("step " + std::to_string(i));
  }
  line.finish("done");
  const std::string text = out.str();
  EXPECT_EQ(count_of(text, '\r'), 0u) << text;
  EXPECT_EQ(text, "step 0\nstep 250\nstep 500\nstep 750\ndone\n");
  // A forced update (a stage's last step) prints even when not due.
  std::ostringstream forced;
  ProgressLine again(forced, false, 5.0, [] { return 1.0; });
  again.update("a");
  again.update("b");
  again.update("c", /*force=*/true);
  EXPECT_EQ(forced.str(), "a\nc\n");
}

TEST(ProgressLine, RedrawsInPlaceOnATerminal) {
  std::ostringstream out;
  double now = 0.0;
  ProgressLine line(out, /*interactive=*/true, 5.0, [&] { return now; });
  line.update("one");
  now = 0.1;
  line.update("two");  // within 0.2 s of the last redraw: skipped
  now = 0.3;
  line.update("three");
  line.message("a result");
  line.finish("done");
  EXPECT_EQ(out.str(), "\rone\x1b[K\rthree\x1b[K\r\x1b[Ka result\nthree\rdone\x1b[K\n");
  std::ostringstream cleared;
  {
    ProgressLine erased(cleared, true, 5.0, [] { return 0.0; });
    erased.update("x");
    erased.clear();
  }
  EXPECT_EQ(cleared.str(), "\rx\x1b[K\r\x1b[K");
}

TEST(ProgressLine, OnlyTheProcessStreamsCanBeTerminals) {
  std::ostringstream text;
  EXPECT_FALSE(stream_is_terminal(text));
}

TEST(ProgressLine, CalibrationWritesPlainLinesToALog) {
  set_num_threads(1);
  BertModel model = BertModel::load(std::filesystem::path(LATTE_TEST_DATA_DIR) / "bert" / "cls3_f32");
  std::vector<BertInput> inputs = {BertInput{{2, 7, 9, 11, 3}, {}}, BertInput{{2, 5, 6, 3}, {}}};
  std::ostringstream log;
  calibrate(model, inputs, default_calibration_taus(), &log);
  const std::string text = log.str();
  EXPECT_EQ(count_of(text, '\r'), 0u) << text;
  EXPECT_EQ(text.find("calibrate: tau 1/"), 0u) << text;
  EXPECT_NE(text.find("calibrate: tau " + std::to_string(default_calibration_taus().size()) + "/"),
            std::string::npos)
      << text;
}

}  // namespace
}  // namespace latte
