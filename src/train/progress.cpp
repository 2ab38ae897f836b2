#include "latte/train/progress.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

namespace latte::train {

std::string format_duration(double seconds) {
  if (!std::isfinite(seconds) || seconds < 0) return "?";
  const int64_t total = static_cast<int64_t>(std::llround(seconds));
  char text[32];
  if (total >= 3600) {
    std::snprintf(text, sizeof(text), "%lldh%02lldm", static_cast<long long>(total / 3600),
                  static_cast<long long>(total % 3600 / 60));
  } else if (total >= 60) {
    std::snprintf(text, sizeof(text), "%lldm%02llds", static_cast<long long>(total / 60),
                  static_cast<long long>(total % 60));
  } else {
    std::snprintf(text, sizeof(text), "%llds", static_cast<long long>(total));
  }
  return text;
}

ProgressBar::ProgressBar(std::string label, int64_t first_step, int64_t total_steps, std::ostream& out,
                         bool interactive)
    : label_(std::move(label)),
      first_step_(first_step),
      total_steps_(total_steps),
      out_(out),
      interactive_(interactive),
      last_step_(first_step),
      start_(std::chrono::steady_clock::now()),
      last_draw_(start_) {}

double ProgressBar::examples_per_second() const {
  const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  return elapsed > 0 ? static_cast<double>(examples_) / elapsed : 0.0;
}

void ProgressBar::step(int64_t step, double loss, int64_t examples) {
  examples_ += examples;
  last_step_ = step;
  // Exponential average over about the last 50 steps; a plain mean before that.
  ++losses_seen_;
  const double weight = std::max(1.0 / static_cast<double>(losses_seen_), 0.02);
  smoothed_loss_ += weight * (loss - smoothed_loss_);
  draw(step);
}

std::string ProgressBar::line(int64_t step) const {
  const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  const double done = static_cast<double>(step - first_step_);
  const double eta = done > 0 ? elapsed / done * static_cast<double>(total_steps_ - step) : -1.0;
  char text[160];
  std::snprintf(text, sizeof(text), "%s step %lld/%lld  loss %.4f  %.1f ex/s  elapsed %s  ETA %s",
                label_.c_str(), static_cast<long long>(step), static_cast<long long>(total_steps_),
                smoothed_loss_, examples_per_second(), format_duration(elapsed).c_str(),
                format_duration(eta).c_str());
  return text;
}

void ProgressBar::draw(int64_t step) {
  const auto now = std::chrono::steady_clock::now();
  if (interactive_) {
    if (step != total_steps_ && now - last_draw_ < std::chrono::milliseconds(200)) return;
    out_ << "\r" << line(step) << "\x1b[K" << std::flush;
    drawn_ = true;
  } else {
    // About every 5 % of the run, and the last step.
    const int64_t every = std::max<int64_t>(1, (total_steps_ - first_step_) / 20);
    if (step != total_steps_ && (step - first_step_) % every != 0) return;
    if (step == last_printed_) return;
    out_ << line(step) << "\n" << std::flush;
    last_printed_ = step;
  }
  last_draw_ = now;
}

void ProgressBar::message(const std::string& text) {
  if (interactive_ && drawn_) out_ << "\r\x1b[K";
  out_ << text << "\n";
  if (interactive_ && drawn_) out_ << line(last_step_) << std::flush;
}

void ProgressBar::finish() {
  if (interactive_ && drawn_) {
    out_ << "\r" << line(last_step_) << "\x1b[K\n" << std::flush;
  } else if (!interactive_ && last_printed_ != last_step_ && last_step_ > first_step_) {
    out_ << line(last_step_) << "\n" << std::flush;
  }
  drawn_ = false;
}

}  // namespace latte::train
