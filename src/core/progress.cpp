#include "latte/core/progress.h"

#include <unistd.h>

#include <chrono>
#include <iostream>

namespace latte {

namespace {

constexpr double kRedrawSeconds = 0.2;

double steady_seconds() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

}  // namespace

bool stream_is_terminal(const std::ostream& out) {
  const std::streambuf* buffer = out.rdbuf();
  if (buffer == std::cerr.rdbuf() || buffer == std::clog.rdbuf()) return ::isatty(STDERR_FILENO) == 1;
  if (buffer == std::cout.rdbuf()) return ::isatty(STDOUT_FILENO) == 1;
  return false;
}

ProgressLine::ProgressLine(std::ostream& out, bool interactive, double plain_every_seconds, Clock clock)
    : out_(out),
      interactive_(interactive),
      plain_every_(plain_every_seconds),
      clock_(clock ? std::move(clock) : Clock(steady_seconds)) {}

ProgressLine::ProgressLine(std::ostream& out) : ProgressLine(out, stream_is_terminal(out)) {}

void ProgressLine::update(const std::string& text, bool force) {
  last_text_ = text;
  const double now = clock_();
  const double every = interactive_ ? kRedrawSeconds : plain_every_;
  if (!force && shown_any_ && now - last_shown_ < every) return;
  if (interactive_) {
    out_ << "\r" << text << "\x1b[K" << std::flush;
    drawn_ = true;
  } else {
    if (text == last_printed_) return;
    out_ << text << "\n" << std::flush;
    last_printed_ = text;
  }
  shown_any_ = true;
  last_shown_ = now;
}

void ProgressLine::message(const std::string& line) {
  if (drawn_) out_ << "\r\x1b[K";
  out_ << line << "\n";
  if (drawn_) out_ << last_text_;
  out_ << std::flush;
}

void ProgressLine::finish(const std::string& text) {
  if (interactive_) {
    out_ << "\r" << text << "\x1b[K\n" << std::flush;
  } else if (text != last_printed_) {
    out_ << text << "\n" << std::flush;
  }
  drawn_ = false;
  last_printed_ = text;
}

void ProgressLine::clear() {
  if (drawn_) out_ << "\r\x1b[K" << std::flush;
  drawn_ = false;
}

void ProgressLine::end_line() {
  if (drawn_) out_ << "\n" << std::flush;
  drawn_ = false;
}

}  // namespace latte
