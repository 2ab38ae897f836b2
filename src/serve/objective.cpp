#include "latte/serve/objective.h"

#include <algorithm>
#include <cmath>
#include <functional>
#include <limits>
#include <queue>

#include "latte/core/error.h"

namespace latte::serve {

namespace {

constexpr double kSmoothing = 0.2;  // weight of each new observation
constexpr int kBisectionSteps = 40;
// Predictions take each correction at its smoothed mean plus this many smoothed deviations: on a
// busy machine the mean alone fills each request's budget to the objective, and noise then misses
// it (a time to first token also sums several prefills and steps, each as noisy).
constexpr double kSpreadMargin = 2.0;
// The answers' own tail (observe_answer): the server aims below its objective by a slack that
// grows by this fraction of the objective with each answer later than the objective and shrinks
// by kMissRate of that with each answer in time, so that about kMissRate of the answers miss
// (stochastic approximation of the 99th percentile); never below kLowestTarget of the objective.
constexpr double kMissRate = 0.01;
constexpr double kSlackStep = 0.02;
constexpr double kLowestTarget = 0.25;

// Workers by the time each is next free, earliest first.
using FreeTimes = std::priority_queue<double, std::vector<double>, std::greater<>>;

// Continuous batching, played forward from now: each worker as its scheduler runs (the prefills
// handed to it, one after another, then one decode step of all its streams, and again; with
// chunked prefill, one piece of the first prefill in line, then a step, and again), the requests
// waiting for a stream slot taking each slot as it frees, first come, first served. A slot freed
// by a step's end is taken by a request whose prefill the scheduler finds only after its next step
// (it has begun that step before the request is handed over). Times in ms from now.
class LineSimulation {
 public:
  struct Stream {
    double prefill_ms;  // corrected; what is left of it
    int64_t decode_steps;
    int tracked;         // index into the requests whose first token is asked for; -1 for others
    int64_t layers = 0;  // left of its prefill (chunked prefill)
  };

  // `piece_ms`, `layers`: ObjectiveOptions' prefill_piece_ms and layers.
  LineSimulation(int64_t slots, std::function<double(int64_t)> step_ms, size_t tracked, double piece_ms,
                 int64_t layers)
      : slots_(slots),
        step_ms_(std::move(step_ms)),
        piece_ms_(piece_ms),
        layers_(layers),
        first_token_(tracked, kNever),
        left_(tracked) {}

  // A worker in the state its scheduler reported; `prefill_scale` corrects predicted prefills.
  void add_worker(const StreamWorker& worker, double prefill_scale) {
    Worker& w = workers_.emplace_back();
    const auto corrected = [&](const LineStream& stream) {
      return Stream{prefill_scale * stream.prefill_ms, stream.decode_steps, -1, stream.layers};
    };
    w.decoding = worker.decoding;
    for (const LineStream& stream : worker.queued) w.queued.push_back(corrected(stream));
    w.taken = static_cast<int64_t>(w.decoding.size() + w.queued.size() + worker.batch.size());
    switch (worker.running) {
      case StreamWorker::Running::kPrefill: {
        w.batch.push_back(corrected(worker.prefill));
        for (const LineStream& stream : worker.batch) w.batch.push_back(corrected(stream));
        ++w.taken;
        start_piece(w, 0.0);
        w.ends_at = std::max(0.0, w.ends_at - worker.running_ms);
        break;
      }
      case StreamWorker::Running::kStep:
        for (const LineStream& stream : worker.batch) w.batch.push_back(corrected(stream));
        w.piece_ran = true;
        w.running = Running::kStep;
        w.ends_at = std::max(0.0, step_ms_(static_cast<int64_t>(w.decoding.size())) - worker.running_ms);
        break;
      case StreamWorker::Running::kNothing:
        begin_round(w, 0.0);
        break;
    }
  }

  // A request already holding a slot on `worker`, handed to it now.
  void hand(size_t worker, Stream stream) {
    Worker& w = workers_[worker];
    w.queued.push_back(stream);
    ++w.taken;
    if (w.running == Running::kNothing) begin_round(w, 0.0);
  }

  // Runs until each tracked request has its first token, the `waiting` ones (tracked by their
  // index) taking slots in order. Returns when each request's first token comes, from now.
  std::vector<double> run(const std::vector<Stream>& waiting) {
    waiting_ = &waiting;
    // Free slots now: the worker with the fewest streams first (as the server hands them out).
    for (;;) {
      Worker* freest = nullptr;
      for (Worker& w : workers_) {
        if (w.taken < slots_ && (freest == nullptr || w.taken < freest->taken)) freest = &w;
      }
      if (freest == nullptr || !hand_next(*freest, 0.0, /*late=*/false)) break;
    }
    while (left_ > 0) {
      Worker* next = nullptr;
      for (Worker& w : workers_) {
        if (w.running != Running::kNothing && (next == nullptr || w.ends_at < next->ends_at)) next = &w;
      }
      if (next == nullptr) break;
      end_running(*next);
    }
    return first_token_;
  }

 private:
  enum class Running { kNothing, kPrefill, kStep };
  struct Worker {
    Running running = Running::kNothing;
    double ends_at = 0.0;
    std::vector<Stream> batch;  // the prefills of this round (chunked: in line); `next` is the next to run
    size_t next = 0;
    double piece = 0.0;          // of the prefill running now
    bool piece_ran = false;      // chunked: a piece has run since the last step
    std::vector<Stream> queued;  // found at the next round
    std::vector<Stream> late;    // found at the round after the next
    std::vector<int64_t> decoding;
    int64_t taken = 0;
  };
  static constexpr double kNever = std::numeric_limits<double>::infinity();

  // Hands the next waiting request to `w` when it has a free slot.
  bool hand_next(Worker& w, double now, bool late) {
    if (next_waiting_ >= waiting_->size() || w.taken >= slots_) return false;
    (late ? w.late : w.queued).push_back((*waiting_)[next_waiting_++]);
    ++w.taken;
    if (w.running == Running::kNothing) begin_round(w, now);
    return true;
  }

  // The top of the scheduler's loop: it takes what was handed to it (waiting for some when it
  // has nothing to run).
  void begin_round(Worker& w, double now) {
    w.batch.erase(w.batch.begin(), w.batch.begin() + static_cast<std::ptrdiff_t>(w.next));
    w.batch.insert(w.batch.end(), w.queued.begin(), w.queued.end());
    w.next = 0;
    w.piece_ran = false;
    w.queued = std::move(w.late);
    w.late.clear();
    if (w.batch.empty() && w.decoding.empty()) {
      w.batch = std::move(w.queued);
      w.queued.clear();
    }
    start_next(w, now);
  }

  bool chunked() const { return std::isfinite(piece_ms_); }

  // The next prefill's whole (or, chunked with streams decoding, its next piece: whole layers
  // within piece_ms_, at least one, as BatchDecoder::prefill runs them).
  void start_piece(Worker& w, double now) {
    Stream& stream = w.batch[w.next];
    w.piece = stream.prefill_ms;
    if (chunked() && !w.decoding.empty()) {
      const int64_t layers = stream.layers > 0 ? stream.layers : layers_;
      const double layer_ms = stream.prefill_ms / static_cast<double>(std::max<int64_t>(layers, 1));
      const double fitting = layer_ms > 0.0 ? std::floor(piece_ms_ / layer_ms + 1e-9) : 1.0;
      const int64_t run = std::clamp<int64_t>(static_cast<int64_t>(std::min(fitting, 1e9)), 1, layers);
      w.piece = layer_ms * static_cast<double>(run);
      stream.layers = layers - run;
    }
    w.piece_ran = chunked();
    w.running = Running::kPrefill;
    w.ends_at = now + w.piece;
  }

  void start_next(Worker& w, double now) {
    if (w.next < w.batch.size() && !(w.piece_ran && !w.decoding.empty())) {
      start_piece(w, now);
    } else if (!w.decoding.empty()) {
      w.running = Running::kStep;
      // Steps where no stream ends and nothing waits to join run alike: one move for them all.
      int64_t steps = 1;
      if (w.queued.empty() && w.late.empty() && w.next >= w.batch.size()) {
        steps = *std::min_element(w.decoding.begin(), w.decoding.end());
        for (int64_t& left : w.decoding) left -= steps - 1;
      }
      w.ends_at = now + static_cast<double>(steps) * step_ms_(static_cast<int64_t>(w.decoding.size()));
    } else if (!w.queued.empty() || w.next < w.batch.size()) {
      begin_round(w, now);
    } else {
      w.running = Running::kNothing;
    }
  }

  void end_running(Worker& w) {
    const double now = w.ends_at;
    if (w.running == Running::kPrefill) {
      Stream& running = w.batch[w.next];
      running.prefill_ms -= w.piece;
      if (running.prefill_ms > 1e-9 && running.layers > 0) {  // more pieces: a step first
        start_next(w, now);
        return;
      }
      const Stream& done = w.batch[w.next++];
      if (done.tracked >= 0) {
        first_token_[static_cast<size_t>(done.tracked)] = now;
        --left_;
      }
      if (done.decode_steps > 0) {
        w.decoding.push_back(done.decode_steps);
      } else {
        --w.taken;
        while (hand_next(w, now, /*late=*/false)) {
        }
      }
      start_next(w, now);
      return;
    }
    for (int64_t& left : w.decoding) --left;
    const auto ended = std::erase_if(w.decoding, [](int64_t left) { return left <= 0; });
    w.taken -= static_cast<int64_t>(ended);
    while (hand_next(w, now, /*late=*/true)) {
    }
    begin_round(w, now);
  }

  int64_t slots_;
  std::function<double(int64_t)> step_ms_;
  double piece_ms_;
  int64_t layers_;
  std::vector<Worker> workers_;
  const std::vector<Stream>* waiting_ = nullptr;
  size_t next_waiting_ = 0;
  std::vector<double> first_token_;
  size_t left_;
};

}  // namespace

LatencyObjective::LatencyObjective(ObjectiveOptions options) : options_(options) {
  if (!(options_.objective_ms > 0.0 && std::isfinite(options_.objective_ms))) {
    throw InputError("the latency objective must be a positive number of milliseconds, got " +
                     std::to_string(options_.objective_ms));
  }
  if (options_.workers < 1) throw InputError("the latency objective needs at least one worker");
  if (options_.streams < 1) throw InputError("the latency objective needs at least one stream per worker");
  correction_.steps.assign(static_cast<size_t>(options_.streams) + 1, Smoothed{});
}

LatencyObjective::Correction LatencyObjective::correction() const {
  std::lock_guard lock(mutex_);
  Correction c = correction_;
  c.target_ms = options_.objective_ms - c.slack_ms;
  return c;
}

double LatencyObjective::pass_scale() const { return correction().scale.predicted(); }
double LatencyObjective::extra_ms() const { return correction().extra.predicted(); }

double LatencyObjective::hold_ms(double pass_ms) const {
  const Correction c = correction();
  return c.scale.predicted() * pass_ms + c.extra.predicted();
}

double LatencyObjective::objective_part_ms(double pass_ms) const {
  const Correction c = correction();
  return c.scale.predicted() * pass_ms + (options_.ends_with_pass ? 0.0 : c.extra.predicted());
}

bool LatencyObjective::line_meets(double budget_ms, double waited_ms, const std::vector<double>& busy_ms,
                                  const std::vector<WaitingRequest>& behind, const Correction& c) const {
  const double scale = c.scale.predicted(), extra = c.extra.predicted();
  const double extra_counted = options_.ends_with_pass ? 0.0 : extra;
  if (waited_ms + scale * budget_ms + extra_counted > c.target_ms) return false;
  FreeTimes free(busy_ms.begin(), busy_ms.end());
  free.push(scale * budget_ms + extra);  // the worker taking this request
  for (const WaitingRequest& request : behind) {
    const double pass = std::max(budget_ms, request.fastest_pass_ms);
    const double start = free.top();
    free.pop();
    if (request.waited_ms + start + scale * pass + extra_counted > c.target_ms) return false;
    free.push(start + scale * pass + extra);
  }
  return true;
}

double LatencyObjective::largest_meeting(double low, double high, const std::function<bool(double)>& meets) {
  if (!(high > low) || !meets(low)) return low;
  if (meets(high)) return high;
  for (int step = 0; step < kBisectionSteps && high - low > 1e-6 * high; ++step) {
    const double middle = 0.5 * (low + high);
    (meets(middle) ? low : high) = middle;
  }
  return low;
}

double LatencyObjective::pass_budget_ms(double waited_ms, double fastest_pass_ms,
                                        const std::vector<double>& busy_ms,
                                        const std::vector<WaitingRequest>& behind) const {
  const Correction c = correction();
  const double extra_counted = options_.ends_with_pass ? 0.0 : c.extra.predicted();
  // No pass longer than the objective left for this request alone.
  const double high = (c.target_ms - waited_ms - extra_counted) / c.scale.predicted();
  return largest_meeting(fastest_pass_ms, high,
                         [&](double budget) { return line_meets(budget, waited_ms, busy_ms, behind, c); });
}

std::vector<double> LatencyObjective::first_tokens(const std::vector<StreamWorker>& workers,
                                                   std::optional<size_t> own_worker,
                                                   const std::vector<Tracked>& requests,
                                                   const Correction& c) const {
  LineSimulation simulation(
      options_.streams, [&c](int64_t streams) { return c.step(streams); }, requests.size(),
      options_.prefill_piece_ms, options_.layers);
  const double scale = c.prefill.predicted();
  for (const StreamWorker& worker : workers) simulation.add_worker(worker, scale);
  std::vector<LineSimulation::Stream> waiting;
  for (size_t i = 0; i < requests.size(); ++i) {
    const LineSimulation::Stream stream{scale * requests[i].prefill_ms, requests[i].decode_steps,
                                        static_cast<int>(i)};
    if (i == 0 && own_worker) {
      simulation.hand(*own_worker, stream);
    } else {
      waiting.push_back(stream);
    }
  }
  std::vector<double> first = simulation.run(waiting);
  for (size_t i = 0; i < requests.size(); ++i) first[i] += requests[i].waited_ms;
  return first;
}

double LatencyObjective::pass_budget_ms(double waited_ms, double fastest_pass_ms, int64_t decode_steps,
                                        const std::vector<StreamWorker>& workers, size_t worker,
                                        const std::vector<WaitingRequest>& behind) const {
  if (worker >= workers.size()) throw InputError("no worker " + std::to_string(worker) + " in the line");
  const Correction c = correction();
  const double high = (c.target_ms - waited_ms) / c.prefill.predicted();
  const auto meets = [&](double budget) {
    std::vector<Tracked> requests = {{waited_ms, budget, decode_steps}};
    for (const WaitingRequest& request : behind) {
      requests.push_back(
          {request.waited_ms, std::max(budget, request.fastest_pass_ms), request.decode_steps});
    }
    const std::vector<double> first = first_tokens(workers, worker, requests, c);
    return std::all_of(first.begin(), first.end(), [&](double ms) { return ms <= c.target_ms; });
  };
  return largest_meeting(fastest_pass_ms, high, meets);
}

bool LatencyObjective::admits(double fastest_pass_ms, int64_t decode_steps,
                              const std::vector<StreamWorker>& workers,
                              const std::vector<WaitingRequest>& line) const {
  const Correction c = correction();
  std::vector<Tracked> requests;
  for (const WaitingRequest& request : line) {
    requests.push_back({request.waited_ms, request.fastest_pass_ms, request.decode_steps});
  }
  requests.push_back({0.0, fastest_pass_ms, decode_steps});
  return first_tokens(workers, std::nullopt, requests, c).back() <= c.target_ms;
}

double LatencyObjective::line_ms(const std::vector<StreamWorker>& workers, size_t worker) const {
  if (worker >= workers.size()) throw InputError("no worker " + std::to_string(worker) + " in the line");
  return first_tokens(workers, worker, {{0.0, 0.0, 0}}, correction())[0];
}

bool LatencyObjective::admits(double fastest_pass_ms, const std::vector<double>& busy_ms,
                              const std::vector<WaitingRequest>& line) const {
  const Correction c = correction();
  const double scale = c.scale.predicted(), extra = c.extra.predicted();
  const double extra_counted = options_.ends_with_pass ? 0.0 : extra;
  FreeTimes free(busy_ms.begin(), busy_ms.end());
  for (int worker = static_cast<int>(busy_ms.size()); worker < options_.workers; ++worker) free.push(0.0);
  for (const WaitingRequest& request : line) {
    const double start = free.top();
    free.pop();
    free.push(start + scale * request.fastest_pass_ms + extra);
  }
  return free.top() + scale * fastest_pass_ms + extra_counted <= c.target_ms;
}

void LatencyObjective::Smoothed::add(double value) {
  if (!observed) {
    mean = value;
    observed = true;
    return;
  }
  spread += kSmoothing * (std::abs(value - mean) - spread);
  mean += kSmoothing * (value - mean);
}

double LatencyObjective::Smoothed::predicted() const { return mean + kSpreadMargin * spread; }

double LatencyObjective::Correction::step(int64_t streams) const {
  const auto count = static_cast<int64_t>(steps.size());
  // The nearest count measured, more streams before fewer at the same distance.
  for (int64_t distance = 0; distance < count; ++distance) {
    for (const int64_t nearby : {streams + distance, streams - distance}) {
      if (nearby >= 0 && nearby < count && steps[static_cast<size_t>(nearby)].observed)
        return steps[static_cast<size_t>(nearby)].predicted();
    }
  }
  return 0.0;
}

double LatencyObjective::step_ms(int64_t streams) const { return correction().step(streams); }
double LatencyObjective::prefill_scale() const { return correction().prefill.predicted(); }

void LatencyObjective::observe(double predicted_pass_ms, double measured_pass_ms, double held_ms) {
  if (!(predicted_pass_ms > 0.0) || !(measured_pass_ms >= 0.0) || !std::isfinite(held_ms)) return;
  const double scale = std::clamp(measured_pass_ms / predicted_pass_ms, 0.2, 10.0);
  const double extra = std::max(0.0, held_ms - measured_pass_ms);
  std::lock_guard lock(mutex_);
  correction_.scale.add(scale);
  correction_.extra.add(extra);
  // A generation's time beyond its prefill is its decode steps, which vary with each request's
  // length, not with noise: its mean alone.
  if (options_.ends_with_pass) correction_.extra.spread = 0.0;
}

void LatencyObjective::observe_answer(double total_ms) {
  if (!(total_ms >= 0.0) || !std::isfinite(total_ms)) return;
  const double step = kSlackStep * options_.objective_ms;
  std::lock_guard lock(mutex_);
  const double miss = total_ms > options_.objective_ms ? 1.0 : 0.0;
  correction_.slack_ms = std::clamp(correction_.slack_ms + step * (miss - kMissRate), 0.0,
                                    (1.0 - kLowestTarget) * options_.objective_ms);
}

double LatencyObjective::slack_ms() const {
  std::lock_guard lock(mutex_);
  return correction_.slack_ms;
}

void LatencyObjective::observe_prefill(double predicted_ms, double measured_ms) {
  if (!(predicted_ms > 0.0) || !(measured_ms >= 0.0) || !std::isfinite(measured_ms)) return;
  const double scale = std::clamp(measured_ms / predicted_ms, 0.2, 10.0);
  std::lock_guard lock(mutex_);
  correction_.prefill.add(scale);
}

void LatencyObjective::observe_step(int64_t streams, double measured_ms) {
  if (streams < 1 || streams > options_.streams || !(measured_ms >= 0.0) || !std::isfinite(measured_ms))
    return;
  std::lock_guard lock(mutex_);
  const auto at = static_cast<size_t>(streams);
  correction_.steps[at].add(measured_ms);
}

}  // namespace latte::serve
