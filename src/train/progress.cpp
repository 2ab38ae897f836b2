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
                         bool interactive, ProgressLine::Clock clock)
    : label_(std::move(label)),
      first_step_(first_step),
      total_steps_(total_steps),
      out_(out, interactive, kPlainProgressSeconds, std::move(clock)),
      last_step_(first_step),
      start_(std::chrono::steady_clock::now()) {}

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
  out_.update(line(step));
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

void ProgressBar::message(const std::string& text) { out_.message(text); }

void ProgressBar::finish() {
  if (last_step_ > first_step_) out_.finish(line(last_step_));
}

}  // namespace latte::train
