// Holding a latency objective under load (`latte serve --slo-ms`). When a worker takes a request,
// the server asks how long that request's pass may take so that it, and the requests waiting
// behind it, still finish within the objective; it then eliminates just enough word-vectors to
// fit (the smallest speedup the latency table predicts meets the budget). When even the fastest
// schedule cannot fit a newly arrived request, it is refused (503) rather than queued.
//
// Times are in the latency table's predicted milliseconds; what the server measures of its own
// passes corrects them (`pass_scale`: measured over predicted) and adds what a worker spends
// beyond the pass (`extra_ms`: tokenizing, the answer, a generation's decode steps).
#pragma once

#include <cstddef>
#include <mutex>
#include <vector>

namespace latte::serve {

struct ObjectiveOptions {
  double objective_ms = 0.0;  // from a request's arrival to its answer (or first token)
  int workers = 1;
  // True when the objective ends with the pass (time to first token: decode steps follow it),
  // false when it ends with the worker's whole hold (an encoder's answer).
  bool ends_with_pass = false;
};

// A request in line for a worker.
struct WaitingRequest {
  double waited_ms = 0.0;        // since its arrival
  double fastest_pass_ms = 0.0;  // predicted pass at its fastest schedule
};

class LatencyObjective {
 public:
  // InputError when the objective is not a positive finite number of milliseconds or workers < 1.
  explicit LatencyObjective(ObjectiveOptions options);

  // The longest predicted pass (ms) the request a worker takes now may run: it has waited
  // `waited_ms` and runs at best in `fastest_pass_ms`; `busy_ms` is the predicted time left on
  // each other worker (0 for an idle one) and `behind` the line after it, first in line first.
  // A budget below `fastest_pass_ms` means the objective cannot be met: run the fastest schedule.
  double pass_budget_ms(double waited_ms, double fastest_pass_ms, const std::vector<double>& busy_ms,
                        const std::vector<WaitingRequest>& behind) const;

  // Whether a request just arrived, whose fastest pass is `fastest_pass_ms`, can still meet the
  // objective behind `line` (each at its fastest) with `busy_ms` left on each worker (one entry
  // per worker, 0 when idle).
  bool admits(double fastest_pass_ms, const std::vector<double>& busy_ms,
              const std::vector<WaitingRequest>& line) const;

  // What a worker spends on a request whose pass is predicted at `pass_ms`, and the part of it
  // the objective counts.
  double hold_ms(double pass_ms) const;
  double objective_part_ms(double pass_ms) const;

  // One request done: its pass predicted and measured, and how long it held the worker.
  void observe(double predicted_pass_ms, double measured_pass_ms, double held_ms);

  double objective_ms() const { return options_.objective_ms; }
  double pass_scale() const;
  double extra_ms() const;

 private:
  struct Correction {
    double scale = 1.0;
    double extra_ms = 0.0;
  };
  Correction correction() const;
  // Whether every request in `behind` meets the objective when each runs a pass of
  // max(budget, its fastest) after the request dispatched now, with `correction` applied.
  bool line_meets(double budget_ms, double waited_ms, const std::vector<double>& busy_ms,
                  const std::vector<WaitingRequest>& behind, const Correction& correction) const;

  ObjectiveOptions options_;
  mutable std::mutex mutex_;
  Correction correction_;
  bool observed_ = false;
};

}  // namespace latte::serve
