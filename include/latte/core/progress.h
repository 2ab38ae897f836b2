// One progress line on a stream, for every long-running stage (profile, calibrate, eval, train):
// redrawn in place (\r) on a terminal; in a log (stderr redirected) plain lines, rarely, so a
// one-second profile does not leave 100 KB of redraws behind.
#pragma once

#include <functional>
#include <ostream>
#include <string>

namespace latte {

// Seconds between plain progress lines when the stream is not a terminal.
inline constexpr double kPlainProgressSeconds = 5.0;

// Whether `out` writes to a terminal: std::cerr / std::clog or std::cout on a tty; any other
// stream (a file, a string) is not.
bool stream_is_terminal(const std::ostream& out);

class ProgressLine {
 public:
  // Seconds on a monotonic clock; injectable so tests need no real time.
  using Clock = std::function<double()>;

  // `interactive`: redraw one line with \r at most every 0.2 s; otherwise a plain line for the
  // first update and then at most every `plain_every_seconds`.
  ProgressLine(std::ostream& out, bool interactive, double plain_every_seconds = kPlainProgressSeconds,
               Clock clock = {});
  // Terminal when `out` is one (stream_is_terminal).
  explicit ProgressLine(std::ostream& out);
  ~ProgressLine() { end_line(); }
  ProgressLine(const ProgressLine&) = delete;
  ProgressLine& operator=(const ProgressLine&) = delete;

  // The current state; shown when due (`force`: always, e.g. the last step).
  void update(const std::string& text, bool force = false);
  // A line of its own (a result, a notice) that the progress line does not overwrite.
  void message(const std::string& line);
  // The last state, always shown, on a line of its own.
  void finish(const std::string& text);
  // Erases a drawn line (terminal) and prints nothing more: for progress the output replaces.
  void clear();

  bool interactive() const { return interactive_; }

 private:
  void end_line();

  std::ostream& out_;
  bool interactive_;
  double plain_every_;
  Clock clock_;
  bool drawn_ = false;      // a \r line is on screen, unterminated
  bool shown_any_ = false;  // anything printed yet
  double last_shown_ = 0.0;
  std::string last_text_;
  std::string last_printed_;
};

}  // namespace latte
