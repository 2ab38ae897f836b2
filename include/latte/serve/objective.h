// Holding a latency objective under load (`latte serve --slo-ms`). When a worker takes a request,
// the server asks how long that request's pass may take so that it, and the requests waiting
// behind it, still finish within the objective; it then eliminates just enough word-vectors to
// fit (the smallest speedup the latency table predicts meets the budget). When even the fastest
// schedule cannot fit a newly arrived request, it is refused (503) rather than queued.
//
// Times are in the latency table's predicted milliseconds; what the server measures of its own
// passes corrects them (`pass_scale`: measured over predicted) and adds what a worker spends
// beyond the pass (`extra_ms`: tokenizing, the answer, a generation's decode steps), each with a
// margin for how much the measurements vary.
//
// Under continuous batching (a decoder-only model's worker decodes several streams together) a
// worker is one line: its scheduler runs the prefills handed to it one after another, then one
// decode step of all its streams, then the prefills handed to it meanwhile, and so on. A request's
// time to first token is its wait for a stream slot, the prefills and steps ahead of it on its
// worker, and its own prefill; the decode steps are measured (`step_ms`), the prefills predicted
// by the table and corrected by measured over predicted (`prefill_scale`), each with a margin for
// how much the measurements vary.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <limits>
#include <mutex>
#include <optional>
#include <vector>

namespace latte::serve {

struct ObjectiveOptions {
  double objective_ms = 0.0;  // from a request's arrival to its answer (or first token)
  int workers = 1;
  // True when the objective ends with the pass (time to first token: decode steps follow it),
  // false when it ends with the worker's whole hold (an encoder's answer).
  bool ends_with_pass = false;
  // Stream slots per worker; above 1, each worker decodes that many generations together
  // (continuous batching) and the objective ends with the first token.
  int streams = 1;
  // Continuous batching with chunked prefill (--max-stall-ms): a prefill that joins decoding
  // streams runs in pieces of whole layers, each within this many ms (at least one layer), one
  // piece between two steps. Infinity: every prefill runs whole. `layers`: the model's.
  double prefill_piece_ms = std::numeric_limits<double>::infinity();
  int64_t layers = 1;
};

// A request in line for a worker.
struct WaitingRequest {
  double waited_ms = 0.0;        // since its arrival
  double fastest_pass_ms = 0.0;  // predicted pass at its fastest schedule
  int64_t decode_steps = 0;      // decode steps after its first token (continuous batching)
};

// A generation handed to a continuous-batching worker whose prefill has not finished.
struct LineStream {
  double prefill_ms = 0.0;   // predicted prefill at its schedule (what is left of it)
  int64_t decode_steps = 0;  // decode steps after its first token
  int64_t layers = 0;        // layers of its prefill left to run (chunked prefill; 0: all of them)
};

// What a continuous-batching worker runs now and has in line, as its scheduler last said.
struct StreamWorker {
  enum class Running { kNothing, kPrefill, kStep };
  Running running = Running::kNothing;
  double running_ms = 0.0;  // since what it runs now began
  // The generation whose prefill (or a piece of it: chunked prefill) runs now (Running::kPrefill),
  // as it was when that began.
  LineStream prefill;
  // Prefills it runs after the current one, in order: before its next step, or (chunked prefill)
  // a piece at a time between steps.
  std::vector<LineStream> batch;
  std::vector<LineStream> queued;  // handed to it and not yet taken: they run after its next step
  // Decode steps left of each stream already decoding, the step running now counted.
  std::vector<int64_t> decoding;
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

  // Continuous batching (streams > 1). The longest predicted prefill a request that has just
  // taken a stream slot on `workers[worker]` may run, to be handed to it behind its line: it has
  // waited `waited_ms`, runs at best in `fastest_pass_ms` and then decodes `decode_steps` steps;
  // `behind` waits for a slot. A budget below `fastest_pass_ms`: run the fastest schedule.
  double pass_budget_ms(double waited_ms, double fastest_pass_ms, int64_t decode_steps,
                        const std::vector<StreamWorker>& workers, size_t worker,
                        const std::vector<WaitingRequest>& behind) const;

  // Whether a request just arrived can still have its first token within the objective behind
  // `line` (waiting for slots, each at its fastest) and what `workers` have in line.
  bool admits(double fastest_pass_ms, int64_t decode_steps, const std::vector<StreamWorker>& workers,
              const std::vector<WaitingRequest>& line) const;

  // The predicted time from now until `workers[worker]` begins a prefill handed to it now.
  double line_ms(const std::vector<StreamWorker>& workers, size_t worker) const;

  // What a worker spends on a request whose pass is predicted at `pass_ms`, and the part of it
  // the objective counts.
  double hold_ms(double pass_ms) const;
  double objective_part_ms(double pass_ms) const;

  // One request done: its pass predicted and measured, and how long it held the worker.
  void observe(double predicted_pass_ms, double measured_pass_ms, double held_ms);
  // Continuous batching: one prefill predicted and measured (what the worker spends beyond it is
  // the decode steps, measured apart), and one decode step of `streams` streams measured.
  void observe_prefill(double predicted_ms, double measured_ms);
  void observe_step(int64_t streams, double measured_ms);
  // One answer the objective chose the knob of, `total_ms` from its arrival to its answer as the
  // server saw it (an encoder's last byte, a generation's first token). What the predictions
  // leave out (the HTTP threads' work on shared cores, the machine's own noise) shows here: the
  // objective counts the answers that miss it and plans and admits against objective -
  // slack_ms(), so that about 1 % miss (its target is the 99th percentile).
  void observe_answer(double total_ms);
  double slack_ms() const;

  double objective_ms() const { return options_.objective_ms; }
  // The corrections of the predictions, each its smoothed measurements' mean plus twice their
  // smoothed mean deviation: measured over predicted pass time, and the time beyond the pass.
  double pass_scale() const;
  double extra_ms() const;
  // Continuous batching's predictions, each its smoothed measurements' mean plus twice their
  // smoothed mean deviation: a decode step of `streams` streams (the nearest count measured, more
  // streams first, where that one is not; 0 before any), and measured over predicted prefill.
  double step_ms(int64_t streams) const;
  double prefill_scale() const;

 private:
  // A smoothed measurement: its mean and mean deviation, each moved a fraction of the way with
  // every observation (the first sets the mean); predicted at the mean plus twice the deviation.
  struct Smoothed {
    double mean = 0.0;
    double spread = 0.0;
    bool observed = false;
    void add(double value);
    double predicted() const;
  };
  struct Correction {
    // Measured over predicted pass time, and the time a worker spends beyond the pass.
    Smoothed scale{.mean = 1.0};
    Smoothed extra;
    // How far below the objective the server aims (observe_answer), and the aim: objective - slack.
    double slack_ms = 0.0;
    double target_ms = 0.0;
    // Continuous batching: measured over predicted prefill, and measured decode steps by streams
    // ([streams + 1]).
    Smoothed prefill{.mean = 1.0};
    std::vector<Smoothed> steps;
    double step(int64_t streams) const;
  };
  Correction correction() const;
  // Each of `requests`' predicted time to first token (from its arrival), handed to a worker
  // first come, first served as stream slots free; see objective.cpp.
  struct Tracked {
    double waited_ms;
    double prefill_ms;
    int64_t decode_steps;
  };
  std::vector<double> first_tokens(const std::vector<StreamWorker>& workers, std::optional<size_t> own_worker,
                                   const std::vector<Tracked>& requests, const Correction& correction) const;
  // The largest budget in [low, high] that `meets`, by bisection (`low` when none does).
  static double largest_meeting(double low, double high, const std::function<bool(double)>& meets);
  // Whether every request in `behind` meets the objective when each runs a pass of
  // max(budget, its fastest) after the request dispatched now, with `correction` applied.
  bool line_meets(double budget_ms, double waited_ms, const std::vector<double>& busy_ms,
                  const std::vector<WaitingRequest>& behind, const Correction& correction) const;

  ObjectiveOptions options_;
  mutable std::mutex mutex_;
  Correction correction_;
};

}  // namespace latte::serve
