// One-line training progress on stderr: step, loss, throughput and ETA, shown by the shared
// progress line (latte/core/progress.h): redrawn in place on a terminal, a plain line every few
// seconds otherwise.
#pragma once

#include <chrono>
#include <cstdint>
#include <ostream>
#include <string>

#include "latte/core/progress.h"

namespace latte::train {

class ProgressBar {
 public:
  // `interactive`: redraw one line with \r (a terminal); else print plain lines, rarely.
  ProgressBar(std::string label, int64_t first_step, int64_t total_steps, std::ostream& out, bool interactive,
              ProgressLine::Clock clock = {});
  // After each step: its loss and how many examples it consumed.
  void step(int64_t step, double loss, int64_t examples);
  // A line of its own (evaluation results), not overwritten by the bar.
  void message(const std::string& line);
  void finish();

  double smoothed_loss() const { return smoothed_loss_; }
  double examples_per_second() const;

 private:
  std::string line(int64_t step) const;

  std::string label_;
  int64_t first_step_;
  int64_t total_steps_;
  ProgressLine out_;
  int64_t examples_ = 0;
  int64_t last_step_ = 0;
  double smoothed_loss_ = 0.0;
  int64_t losses_seen_ = 0;
  std::chrono::steady_clock::time_point start_;
};

// "1h02m", "4m05s", "12s"
std::string format_duration(double seconds);

}  // namespace latte::train
