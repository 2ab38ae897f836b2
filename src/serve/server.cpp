#include "latte/serve/server.h"

#include <httplib.h>
#include <sys/socket.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <csignal>
#include <cstring>
#include <ctime>
#include <deque>
#include <functional>
#include <future>
#include <iomanip>
#include <iostream>
#include <limits>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <regex>
#include <sstream>
#include <thread>

#include "latte/core/error.h"
#include "latte/core/format.h"
#include "latte/core/threads.h"
#include "latte/eval/latency_profile.h"
#include "latte/generate/batch_decoder.h"
#include "latte/generate/language_model.h"
#include "latte/models/bert.h"
#include "latte/models/registry.h"
#include "latte/prune/latency_cache.h"
#include "latte/prune/latency_table.h"
#include "latte/prune/sidecar.h"
#include "latte/serve/objective.h"
#include "latte/tokenizers/chat.h"
#include "latte/tokenizers/tokenizer.h"

namespace latte::serve {

namespace {

using nlohmann::json;
using Clock = std::chrono::steady_clock;

std::atomic<bool> stop_requested{false};

extern "C" void on_stop_signal(int) { stop_requested = true; }

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

std::string dump(const json& value) { return value.dump(-1, ' ', false, json::error_handler_t::replace); }

void send_error(httplib::Response& response, const RequestError& error) {
  response.status = error.status();
  if (error.status() == 503) response.set_header("Retry-After", "1");
  response.set_content(error_body(error.what(), error.type()), "application/json");
}

// ---------------------------------------------------------------------------------------------
// Metrics, rendered in Prometheus' text format.

class Histogram {
 public:
  explicit Histogram(std::vector<double> bounds) : bounds_(std::move(bounds)), counts_(bounds_.size() + 1) {}

  void observe(double value) {
    const size_t bucket =
        static_cast<size_t>(std::lower_bound(bounds_.begin(), bounds_.end(), value) - bounds_.begin());
    ++counts_[bucket];
    sum_ += value;
    ++count_;
  }

  void render(std::ostream& out, const std::string& name, const std::string& labels) const {
    const std::string prefix = labels.empty() ? "" : labels + ",";
    uint64_t cumulative = 0;
    for (size_t i = 0; i < bounds_.size(); ++i) {
      cumulative += counts_[i];
      out << name << "_bucket{" << prefix << "le=\"" << bounds_[i] << "\"} " << cumulative << "\n";
    }
    out << name << "_bucket{" << prefix << "le=\"+Inf\"} " << count_ << "\n";
    const std::string braces = labels.empty() ? "" : "{" + labels + "}";
    out << name << "_sum" << braces << " " << sum_ << "\n"
        << name << "_count" << braces << " " << count_ << "\n";
  }

 private:
  std::vector<double> bounds_;
  std::vector<uint64_t> counts_;  // [bounds + 1]: the last is above every bound
  double sum_ = 0.0;
  uint64_t count_ = 0;
};

// Fine below 25 ms, where a small encoder's answers and objectives lie.
const std::vector<double> kSecondsBounds = {0.001, 0.0025, 0.005, 0.0075, 0.01, 0.015, 0.025, 0.05,
                                            0.1,   0.25,   0.5,   1,      2.5,  5,     10,    30};

class Metrics {
 public:
  void request(const std::string& route, int status, double seconds) {
    std::lock_guard lock(mutex_);
    ++requests_[{route, status}];
    durations_.try_emplace(route, kSecondsBounds).first->second.observe(seconds);
  }
  void input(double speedup) {
    std::lock_guard lock(mutex_);
    speedups_.observe(speedup);
  }
  void generation(int64_t prompt_tokens, int64_t generated_tokens, double ttft_seconds) {
    std::lock_guard lock(mutex_);
    prompt_tokens_ += static_cast<uint64_t>(prompt_tokens);
    generated_tokens_ += static_cast<uint64_t>(generated_tokens);
    ttft_.observe(ttft_seconds);
  }

  std::string render(size_t waiting, size_t busy, int workers, size_t streams) const {
    std::lock_guard lock(mutex_);
    std::ostringstream out;
    out << "# HELP latte_requests_total Requests answered, by route and HTTP status.\n"
        << "# TYPE latte_requests_total counter\n";
    for (const auto& [key, count] : requests_) {
      out << "latte_requests_total{route=\"" << key.first << "\",status=\"" << key.second << "\"} " << count
          << "\n";
    }
    out << "# HELP latte_request_duration_seconds Time from a request's arrival to its last byte.\n"
        << "# TYPE latte_request_duration_seconds histogram\n";
    for (const auto& [route, histogram] : durations_) {
      histogram.render(out, "latte_request_duration_seconds", "route=\"" + route + "\"");
    }
    out << "# HELP latte_queue_depth Requests waiting for a worker.\n# TYPE latte_queue_depth gauge\n"
        << "latte_queue_depth " << waiting << "\n"
        << "# HELP latte_workers_busy Requests being answered (a decoder's worker decodes up to "
           "latte_streams / latte_workers at once).\n# TYPE latte_workers_busy gauge\n"
        << "latte_workers_busy " << busy << "\n"
        << "# HELP latte_workers Model workers.\n# TYPE latte_workers gauge\nlatte_workers " << workers
        << "\n"
        << "# HELP latte_streams Requests the workers answer at once (workers x --max-streams for "
           "decoder-only models).\n# TYPE latte_streams gauge\nlatte_streams "
        << streams << "\n"
        << "# HELP latte_speedup Predicted speedup of each input's elimination schedule (1: dense).\n"
        << "# TYPE latte_speedup histogram\n";
    speedups_.render(out, "latte_speedup", "");
    out << "# HELP latte_prompt_tokens_total Prompt tokens of generation requests.\n"
        << "# TYPE latte_prompt_tokens_total counter\nlatte_prompt_tokens_total " << prompt_tokens_ << "\n"
        << "# HELP latte_generated_tokens_total Tokens generated.\n"
        << "# TYPE latte_generated_tokens_total counter\nlatte_generated_tokens_total " << generated_tokens_
        << "\n"
        << "# HELP latte_time_to_first_token_seconds Prefill and first token of each generation.\n"
        << "# TYPE latte_time_to_first_token_seconds histogram\n";
    ttft_.render(out, "latte_time_to_first_token_seconds", "");
    return out.str();
  }

 private:
  mutable std::mutex mutex_;
  std::map<std::pair<std::string, int>, uint64_t> requests_;
  std::map<std::string, Histogram> durations_;
  Histogram speedups_{{1, 1.25, 1.5, 2, 2.5, 3, 4, 6, 8}};
  Histogram ttft_{kSecondsBounds};
  uint64_t prompt_tokens_ = 0;
  uint64_t generated_tokens_ = 0;
};

// ---------------------------------------------------------------------------------------------
// Admission: a fixed set of workers (model copies) and a bounded line of requests waiting for one,
// served first come, first served.

class Slots {
 public:
  // A request that may run in the pass of the request ahead of it (an encoder's inputs are packed
  // into one batch): take_followers hands it to that request's worker.
  struct Joinable {
    int64_t rows = 0;
    bool joined = false;  // under the mutex
  };
  // What acquire returns to a request that has joined another's pass (it holds no worker).
  static constexpr size_t kJoined = static_cast<size_t>(-1);

  // `slots` in all, `streams` of them on each worker (a decoder-only model's worker decodes that
  // many generations together). `admit_every`: ask the admission of every request, also one that
  // finds a free slot (under continuous batching a free slot still has a line ahead of it).
  Slots(size_t slots, size_t streams, size_t max_queue, bool admit_every)
      : max_queue_(max_queue),
        streams_(streams),
        admit_every_(admit_every),
        busy_until_(slots),
        busy_flags_(slots),
        busy_on_worker_(slots / streams) {
    for (size_t i = slots; i > 0; --i) free_.push_back(i - 1);
  }

  // Asked, when a request would have to wait, with the predicted time left on each worker (ms)
  // and the line ahead of it; throws RequestError 503 to refuse it.
  using Admission =
      std::function<void(const std::vector<double>& busy_ms, const std::vector<WaitingRequest>& line)>;

  // A free worker, waiting in line while none is; RequestError 503 when max_queue requests
  // already wait or `admit` refuses.
  // A `joinable` request may instead be taken into a pass ahead of it: kJoined.
  size_t acquire(Clock::time_point arrival, double fastest_pass_ms, int64_t decode_steps,
                 const Admission& admit, Joinable* joinable = nullptr) {
    std::unique_lock lock(mutex_);
    if (free_.empty() || !line_.empty() || admit_every_) {
      if (line_.size() >= max_queue_) {
        throw RequestError(503, "server_overloaded",
                           "the server is at capacity (" + std::to_string(line_.size()) +
                               " requests waiting for a worker); retry later");
      }
      if (admit) admit(busy_ms(Clock::now(), std::nullopt), line(Clock::now()));
    }
    const uint64_t ticket = next_ticket_++;
    line_.push_back({ticket, arrival, fastest_pass_ms, decode_steps, joinable});
    freed_.wait(lock, [&] {
      return (joinable != nullptr && joinable->joined) || (!free_.empty() && line_.front().ticket == ticket);
    });
    if (joinable != nullptr && joinable->joined) return kJoined;  // take_followers removed it
    line_.pop_front();
    // The free slot on the worker with the fewest streams.
    size_t chosen = free_.size() - 1;
    for (size_t i = 0; i < free_.size(); ++i) {
      if (busy_on_worker_[free_[i] / streams_] < busy_on_worker_[free_[chosen] / streams_]) chosen = i;
    }
    const size_t worker = free_[chosen];
    free_.erase(free_.begin() + static_cast<std::ptrdiff_t>(chosen));
    busy_flags_[worker] = true;
    busy_until_[worker] = Clock::now();
    ++busy_on_worker_[worker / streams_];
    ++busy_;
    // The next in line may take another free worker.
    if (!free_.empty() && !line_.empty()) freed_.notify_all();
    return worker;
  }

  void release(size_t worker) {
    {
      std::lock_guard lock(mutex_);
      free_.push_back(worker);
      busy_flags_[worker] = false;
      --busy_on_worker_[worker / streams_];
      --busy_;
    }
    freed_.notify_all();
  }

  // For a worker that has just taken a request of `rows` word-vectors: the joinable requests at
  // the front of the line that fit with it in `max_rows` (first come, first served: the first that
  // does not fit ends the batch), removed from the line.
  std::vector<Joinable*> take_followers(int64_t rows, int64_t max_rows) {
    std::vector<Joinable*> followers;
    {
      std::lock_guard lock(mutex_);
      while (!line_.empty() && line_.front().joinable != nullptr &&
             rows + line_.front().joinable->rows <= max_rows) {
        Joinable* follower = line_.front().joinable;
        follower->joined = true;
        rows += follower->rows;
        followers.push_back(follower);
        line_.pop_front();
      }
    }
    if (!followers.empty()) freed_.notify_all();
    return followers;
  }

  // When `worker`'s request is predicted to end.
  void expect(size_t worker, Clock::time_point until) {
    std::lock_guard lock(mutex_);
    busy_until_[worker] = until;
  }

  // For the request `worker` has just taken: the predicted time left on every other worker (ms)
  // and the line behind it.
  void state(size_t worker, std::vector<double>& busy, std::vector<WaitingRequest>& behind) const {
    std::lock_guard lock(mutex_);
    const Clock::time_point now = Clock::now();
    busy = busy_ms(now, worker);
    behind = line(now);
  }

  size_t size() const { return busy_flags_.size(); }
  size_t waiting() const {
    std::lock_guard lock(mutex_);
    return line_.size();
  }
  size_t busy() const {
    std::lock_guard lock(mutex_);
    return busy_;
  }

 private:
  struct Waiter {
    uint64_t ticket;
    Clock::time_point arrival;
    double fastest_pass_ms;
    int64_t decode_steps;
    Joinable* joinable;
  };

  // Callers hold mutex_.
  std::vector<double> busy_ms(Clock::time_point now, std::optional<size_t> except) const {
    std::vector<double> left;
    for (size_t worker = 0; worker < busy_flags_.size(); ++worker) {
      if (except && worker == *except) continue;
      const double ms = std::chrono::duration<double, std::milli>(busy_until_[worker] - now).count();
      left.push_back(busy_flags_[worker] ? std::max(ms, 0.0) : 0.0);
    }
    return left;
  }
  std::vector<WaitingRequest> line(Clock::time_point now) const {
    std::vector<WaitingRequest> waiting;
    for (const Waiter& waiter : line_) {
      waiting.push_back({std::chrono::duration<double, std::milli>(now - waiter.arrival).count(),
                         waiter.fastest_pass_ms, waiter.decode_steps});
    }
    return waiting;
  }

  size_t max_queue_;
  size_t streams_;
  bool admit_every_;
  mutable std::mutex mutex_;
  std::condition_variable freed_;
  std::vector<size_t> free_;
  std::deque<Waiter> line_;
  uint64_t next_ticket_ = 0;
  std::vector<Clock::time_point> busy_until_;  // [workers]
  std::vector<bool> busy_flags_;               // [workers]
  std::vector<size_t> busy_on_worker_;         // [workers / streams]: slots taken on each model copy
  size_t busy_ = 0;
};

// A worker held for one request; released when the lease ends (a stream's lease ends with the
// stream, also when the client goes away).
class Lease {
 public:
  Lease(Slots& slots, Clock::time_point arrival, double fastest_pass_ms, int64_t decode_steps,
        const Slots::Admission& admit, Slots::Joinable* joinable = nullptr)
      : slots_(&slots),
        worker_(slots.acquire(arrival, fastest_pass_ms, decode_steps, admit, joinable)),
        arrival_(arrival),
        taken_(Clock::now()) {}
  ~Lease() {
    if (!joined()) slots_->release(worker_);
  }
  Lease(const Lease&) = delete;
  Lease& operator=(const Lease&) = delete;
  // True when the request joined the pass of a request ahead of it (and holds no worker).
  bool joined() const { return worker_ == Slots::kJoined; }
  size_t worker() const { return worker_; }
  Clock::time_point arrival() const { return arrival_; }
  Clock::time_point taken() const { return taken_; }

 private:
  Slots* slots_;
  size_t worker_;
  Clock::time_point arrival_;
  Clock::time_point taken_;
};

// ---------------------------------------------------------------------------------------------
// Planners by knob: each request's knob maps to a planner (plans cached per input length), shared
// by every worker (Planner::plan is thread-safe).

class Planners {
 public:
  // `max_speedup`: the fastest schedule is the one planned for that speedup (none: beyond reach).
  Planners(ModelShape shape, std::optional<Calibration> calibration, LatencyModel latency,
           std::optional<double> max_speedup)
      : shape_(shape), calibration_(std::move(calibration)), latency_(std::move(latency)) {
    dense_ = std::make_unique<const Planner>(Knobs{}, shape_, std::nullopt, latency_, nullptr);
    Knobs fastest;
    fastest.speedup = max_speedup.value_or(kBeyondReach);
    try {
      fastest_ = std::make_unique<const Planner>(
          fastest, shape_, usable_calibration(fastest, calibration_, shape_.layers), latency_, nullptr);
    } catch (const Error&) {
      fastest_.reset();  // a stale latte.json: no speedup is planned (requests asking get its error)
    }
  }

  // The planner of a request's knob. `chosen` marks a knob the server chose (its unreachable
  // targets are not announced: the server caps them itself).
  std::shared_ptr<const Planner> get(const LatteKnob& knob, bool chosen = false) {
    Knobs knobs;
    knobs.speedup = knob.speedup;
    knobs.latency_ms = knob.latency_ms;
    std::ostringstream key;
    key << std::setprecision(17) << (chosen ? "c" : "")
        << (knob.speedup      ? "s"
            : knob.latency_ms ? "l"
                              : "d")
        << knob.speedup.value_or(knob.latency_ms.value_or(0));
    std::lock_guard lock(mutex_);
    if (auto found = planners_.find(key.str()); found != planners_.end()) return found->second;
    try {
      knobs.validate(shape_.layers);
      auto planner = std::make_shared<const Planner>(knobs, shape_,
                                                     usable_calibration(knobs, calibration_, shape_.layers),
                                                     latency_, chosen ? nullptr : &std::cerr);
      // Knobs are free-form numbers: a bounded cache (requests in flight keep theirs).
      if (planners_.size() >= kMostPlanners) planners_.clear();
      planners_.emplace(key.str(), planner);
      return planner;
    } catch (const Error& error) {
      throw bad_request(std::string("'latte': ") + error.what());
    }
  }

  // The dense pass and the fastest schedule the server may choose for n0 word-vectors.
  const SequencePlan& dense(int64_t n0) const { return dense_->plan(n0); }
  const SequencePlan& fastest(int64_t n0) const { return fastest_->plan(n0); }
  bool reach_known() const { return fastest_ != nullptr; }

 private:
  static constexpr size_t kMostPlanners = 256;
  static constexpr double kBeyondReach = 1e6;
  ModelShape shape_;
  std::optional<Calibration> calibration_;
  LatencyModel latency_;
  std::unique_ptr<const Planner> dense_;
  std::unique_ptr<const Planner> fastest_;
  std::mutex mutex_;
  std::map<std::string, std::shared_ptr<const Planner>> planners_;
};

// What elimination did for one input: the response's "latte" object.
json latte_report(const LatteKnob& knob, const SequencePlan& plan, double measured_ms,
                  const std::vector<int64_t>& kept) {
  json report;
  if (knob.latency_ms) {
    report["latency_ms"] = *knob.latency_ms;
  } else {
    report["speedup"] = knob.speedup.value_or(1.0);
  }
  report["predicted_speedup"] = plan.predicted_speedup.value_or(1.0);
  if (plan.predicted_ms) report["predicted_ms"] = *plan.predicted_ms;
  report["measured_ms"] = measured_ms;
  report["kept"] = kept;
  return report;
}

// ---------------------------------------------------------------------------------------------
// The served model and its routes.

// Text the client has been sent so far, held back where a stop sequence may be starting.
class StopScanner {
 public:
  explicit StopScanner(const std::vector<std::string>& stops) : stops_(stops) {}

  // Adds `piece`; returns what may be sent now. stopped() once a stop sequence appeared: the text
  // ends before it (OpenAI's answers leave the stop sequence out).
  std::string push(const std::string& piece) {
    text_ += piece;
    size_t end = text_.size();
    for (const std::string& stop : stops_) {
      if (stop.empty()) continue;
      const size_t found = text_.find(stop, sent_ > stop.size() ? sent_ - stop.size() : 0);
      if (found != std::string::npos && found < end) {
        end = found;
        stopped_ = true;
      }
    }
    if (!stopped_) {
      // Hold back the longest tail that begins a stop sequence.
      for (const std::string& stop : stops_) {
        for (size_t length = std::min(stop.size() - (stop.empty() ? 0 : 1), text_.size()); length > 0;
             --length) {
          if (text_.compare(text_.size() - length, length, stop, 0, length) == 0) {
            end = std::min(end, text_.size() - length);
            break;
          }
        }
      }
    }
    end = std::max(end, sent_);
    std::string ready = text_.substr(sent_, end - sent_);
    sent_ = end;
    if (stopped_) text_.resize(end);
    return ready;
  }
  // What is still held back, at the end of a run that did not stop.
  std::string finish() {
    std::string rest = stopped_ ? std::string() : text_.substr(sent_);
    sent_ = text_.size();
    return rest;
  }
  bool stopped() const { return stopped_; }
  const std::string& text() const { return text_; }

 private:
  const std::vector<std::string>& stops_;
  std::string text_;
  size_t sent_ = 0;
  bool stopped_ = false;
};

// ---------------------------------------------------------------------------------------------
// Every pass of a worker's model runs on one thread of its own. libgomp keeps an OpenMP team for
// each thread that ever started a parallel region, and once the threads it manages outnumber the
// CPUs, a waiting team thread spins only ~1000 times before it sleeps on a futex: then every
// parallel region (a GEMM, ~100 of them in a GPT-2 decode step) pays a wake-up. Passes run on
// the request threads made a team per request thread (24 and more), which cost GPT-2 on 2 threads
// 2 ms of a 10 ms decode step (measured with perf: futex waits and wakes). So a worker's passes,
// its warm-up included, all run here, and the server's set-up runs on a thread that ends (its
// team with it) before requests are taken.
class ComputeThread {
 public:
  explicit ComputeThread(int threads) : thread_([this, threads] { loop(threads); }) {}
  ~ComputeThread() {
    {
      std::lock_guard lock(mutex_);
      stopping_ = true;
    }
    wake_.notify_all();
    thread_.join();
  }
  ComputeThread(const ComputeThread&) = delete;
  ComputeThread& operator=(const ComputeThread&) = delete;

  // Runs `task` on this thread and returns when it is done; rethrows what it threw.
  void run(const std::function<void()>& task) {
    std::packaged_task<void()> job(task);
    std::future<void> done = job.get_future();
    {
      std::lock_guard lock(mutex_);
      tasks_.push_back(std::move(job));
    }
    wake_.notify_all();
    done.get();
  }

 private:
  void loop(int threads) {
    set_num_threads(threads);
    for (;;) {
      std::packaged_task<void()> job;
      {
        std::unique_lock lock(mutex_);
        wake_.wait(lock, [&] { return stopping_ || !tasks_.empty(); });
        if (tasks_.empty()) return;
        job = std::move(tasks_.front());
        tasks_.pop_front();
      }
      job();
    }
  }

  std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<std::packaged_task<void()>> tasks_;  // under mutex_
  bool stopping_ = false;                         // under mutex_
  std::thread thread_;                            // last: starts once the rest is built
};

// ---------------------------------------------------------------------------------------------
// Continuous batching: each worker's model copy (decoder-only or encoder-decoder) is run by one
// scheduler thread that decodes the worker's streams together (BatchDecoder: one pass over the
// weights per step for all of them, each with its own pruned KV cache or encoder memory). A stream
// joins between steps (its prefill and first token) and leaves when it ends; tokens go back to the
// request's thread as they are made. Under --max-stall-ms a prefill joining streams that decode
// runs in pieces of a few layers, one piece between two steps (chunked prefill), so that it holds
// each of their tokens up for one piece.

// One generation handed to a scheduler. The scheduler thread calls its request's on_token (set by the
// request's thread) and finishes it; the request's thread waits on it.
struct Stream {
  std::vector<int32_t> prompt;
  BatchRequest request;     // its on_token runs on the scheduler thread
  double prefill_ms = 0.0;  // predicted (for the latency objective)
  int64_t tokens = 0;       // made so far (the scheduler thread's)
  int64_t layers = 1;       // the model's
  int64_t layers_left = 1;  // of its prefill (the scheduler thread's once submitted)
  std::mutex mutex;
  std::condition_variable changed;
  std::string ready;  // text made and not yet taken (under mutex)
  bool finished = false;
  int64_t peak = 0;  // most streams of a step it took part in (the scheduler thread's until finished)
  GenerationResult result;
  std::exception_ptr error;
  std::atomic<bool> client_gone{false};

  // As the latency objective sees it before (the rest of) its prefill.
  LineStream in_line() const {
    return {prefill_ms * static_cast<double>(layers_left) / static_cast<double>(layers),
            request.generation.max_new_tokens - 1, layers_left};
  }

  void finish(GenerationResult done, std::exception_ptr failure) {
    {
      std::lock_guard lock(mutex);
      result = std::move(done);
      error = std::move(failure);
      finished = true;
    }
    changed.notify_all();
  }
};

class Scheduler {
 public:
  // `objective` (may be null) is told how long each decode step took. `piece_ms`: run a prefill
  // that joins decoding streams in pieces of about that long (--max-stall-ms; none: whole).
  // Returns once the scheduler thread has warmed the model up (see ComputeThread).
  Scheduler(const LanguageModel& model, int threads, LatencyObjective* objective,
            std::optional<double> piece_ms)
      : decoder_(model.causal() ? BatchDecoder(*model.causal()) : BatchDecoder(*model.seq2seq())),
        threads_(threads),
        objective_(objective),
        piece_ms_(piece_ms),
        thread_([this, &model] { loop(model); }) {
    try {
      warmed_.get_future().get();
    } catch (...) {
      thread_.join();  // the loop has returned
      throw;
    }
  }
  ~Scheduler() {
    {
      std::lock_guard lock(mutex_);
      stopping_ = true;
    }
    wake_.notify_all();
    thread_.join();
  }
  Scheduler(const Scheduler&) = delete;
  Scheduler& operator=(const Scheduler&) = delete;

  void submit(std::shared_ptr<Stream> stream) {
    {
      std::lock_guard lock(mutex_);
      pending_.push_back(std::move(stream));
    }
    wake_.notify_all();
  }

  // What it runs now and has in line, for the latency objective.
  StreamWorker line() const {
    std::lock_guard lock(mutex_);
    StreamWorker worker = now_;
    worker.running_ms = std::chrono::duration<double, std::milli>(Clock::now() - since_).count();
    for (const std::shared_ptr<Stream>& stream : pending_) worker.queued.push_back(stream->in_line());
    return worker;
  }

 private:
  // Says what the scheduler thread begins now: the prefill (or its next piece) of `prefills`'
  // first, the rest of `prefills` run after it, or a step (the prefills still to run after it), or
  // nothing.
  void begin(StreamWorker::Running running, const std::deque<std::shared_ptr<Stream>>& prefills) {
    StreamWorker now;
    now.running = running;
    for (size_t i = 0; i < prefills.size(); ++i) {
      if (running == StreamWorker::Running::kPrefill && i == 0) {
        now.prefill = prefills[0]->in_line();
      } else {
        now.batch.push_back(prefills[i]->in_line());
      }
    }
    for (const auto& [id, stream] : running_) {
      if (stream->layers_left > 0) continue;  // a prefill in `prefills`
      now.decoding.push_back(stream->request.generation.max_new_tokens - stream->tokens);
    }
    std::lock_guard lock(mutex_);
    now_ = std::move(now);
    since_ = Clock::now();
  }

  // Hands `stream` to the decoder: its whole prefill now, or (chunked) in line for pieces.
  void take(const std::shared_ptr<Stream>& stream) {
    try {
      if (piece_ms_) {
        running_.emplace(decoder_.join(stream->prompt, std::move(stream->request)), stream);
        prefills_.push_back(stream);
      } else {
        const int64_t id = decoder_.add(stream->prompt, std::move(stream->request));
        stream->layers_left = 0;
        running_.emplace(id, stream);
      }
    } catch (...) {
      stream->finish({}, std::current_exception());
    }
  }

  // Chunked: the next piece of the first prefill in line (all of it when no stream decodes).
  void prefill_piece() {
    const std::shared_ptr<Stream> first = prefills_.front();
    begin(StreamWorker::Running::kPrefill, prefills_);
    const bool alone = decoder_.active() == 0;
    decoder_.prefill(alone ? std::numeric_limits<double>::infinity() : *piece_ms_ / 1e3);
    if (static_cast<size_t>(decoder_.joining()) < prefills_.size()) {
      first->layers_left = 0;  // its last layer ran (or it failed)
      prefills_.pop_front();
    } else {
      first->layers_left = first->layers - decoder_.prefill_layers_done();
    }
  }

  void loop(const LanguageModel& model) {
    set_num_threads(threads_);
    try {
      model.warm_up(nullptr);
      warmed_.set_value();
    } catch (...) {
      warmed_.set_exception(std::current_exception());
      return;
    }
    for (;;) {
      std::vector<std::shared_ptr<Stream>> joining;
      {
        std::unique_lock lock(mutex_);
        if (pending_.empty() && running_.empty()) now_ = StreamWorker{};
        wake_.wait(lock, [&] { return stopping_ || !pending_.empty() || !running_.empty(); });
        if (stopping_ && pending_.empty() && running_.empty()) return;
        joining.swap(pending_);
      }
      if (piece_ms_) {
        for (const std::shared_ptr<Stream>& stream : joining) take(stream);
        if (!prefills_.empty()) prefill_piece();
      } else {
        // Every prefill handed over, one after another, before the next step.
        std::deque<std::shared_ptr<Stream>> line(joining.begin(), joining.end());
        while (!line.empty()) {
          begin(StreamWorker::Running::kPrefill, line);
          take(line.front());
          line.pop_front();
        }
      }
      const int64_t together = decoder_.active();
      for (auto& [id, stream] : running_) {
        if (stream->layers_left == 0) stream->peak = std::max(stream->peak, together);
      }
      begin(StreamWorker::Running::kStep, prefills_);
      const Clock::time_point step_start = Clock::now();
      std::vector<FinishedSequence> finished = decoder_.step();
      if (objective_ != nullptr && together > 0) {
        objective_->observe_step(together, seconds_since(step_start) * 1e3);
      }
      for (FinishedSequence& done : finished) {
        const auto found = running_.find(done.id);
        if (found == running_.end()) continue;
        std::exception_ptr failure;
        if (done.result.stop_reason == "error") failure = std::make_exception_ptr(Error(done.error));
        found->second->finish(std::move(done.result), failure);
        running_.erase(found);
      }
    }
  }

  BatchDecoder decoder_;
  int threads_;
  LatencyObjective* objective_;
  std::optional<double> piece_ms_;
  mutable std::mutex mutex_;
  std::condition_variable wake_;
  std::vector<std::shared_ptr<Stream>> pending_;        // under mutex_
  bool stopping_ = false;                               // under mutex_
  StreamWorker now_;                                    // under mutex_: what begin() said (no queued)
  Clock::time_point since_;                             // under mutex_: when
  std::map<int64_t, std::shared_ptr<Stream>> running_;  // the scheduler thread's own: prefills and decoding
  std::deque<std::shared_ptr<Stream>> prefills_;        // chunked: prefills in line, the running one first
  std::promise<void> warmed_;
  std::thread thread_;  // last: starts once the rest is built
};

class Service {
 public:
  explicit Service(const ServeOptions& options) : options_(options) {
    const std::filesystem::path& folder = options.model_dir;
    kind_ = model_family(folder).kind;
    ModelShape shape;
    LatencyKey key;
    std::string layer_kind = kEncoderLayer;
    if (kind_ == ModelKind::kEncoder) {
      for (int i = 0; i < options.workers; ++i)
        encoders_.push_back(BertModel::load(folder, options.precision));
      const BertConfig& config = encoders_[0].config();
      if (!config.has_classifier()) {
        throw InputError("model " + folder.string() + " is a " + config.architecture +
                         " without a classification head; serve needs BertForSequenceClassification");
      }
      tokenizer_ = std::make_unique<BertTokenizer>(load_bert_tokenizer(folder, config));
      shape = encoders_[0].shape();
      key = latency_key(config, encoders_[0].precision());
    } else {
      for (int i = 0; i < options.workers; ++i)
        generators_.push_back(LanguageModel::load(folder, options.precision));
      const LanguageModel& model = generators_[0];
      tokenizer_ = load_tokenizer(folder);
      check_tokenizer_fits(*tokenizer_, model.vocab_size(), folder / "config.json");
      shape = model.shape();
      if (model.causal()) {
        key = latency_key(model.causal()->description());
        layer_kind = kDecoderPrefillLayer;
      } else {
        key = latency_key(*model.seq2seq());
      }
      try {
        chat_.emplace(ChatTemplate::from_dir(folder));
        chat_stop_ids_ = chat_->stop_ids(*tokenizer_);
      } catch (const Error& error) {
        chat_unavailable_ = error.what();
        chat_.reset();
      }
    }
    LatencyModel latency;
    if (options.profile) {
      LatencySourceOptions source;
      source.cache_dir = default_latency_cache_dir();
      source.notices = &std::cerr;
      source.progress = &std::cerr;
      latency = machine_latency_model(
          key, layer_kind, [&] { return load_profile_subject(folder, options.precision).subject; }, source);
    }
    planners_ =
        std::make_unique<Planners>(shape, Sidecar::read(folder, &std::cerr).calibration, std::move(latency),
                                   options.objective_ms ? options.max_speedup : std::nullopt);
    if (!generators_.empty()) streams_ = options.max_streams;
    if (options.max_stall_ms && streams_ < 2) {
      throw InputError(
          "--max-stall-ms bounds how long a joining generation holds up the others under continuous "
          "batching: it needs a generation model and --max-streams of 2 or more");
    }
    slots_.emplace(static_cast<size_t>(options.workers * streams_), static_cast<size_t>(streams_),
                   options.max_queue, options.objective_ms && streams_ > 1);
    if (options.objective_ms) {
      if (!planners_->reach_known()) {
        throw InputError("--slo-ms: " + (folder / "latte.json").string() +
                         " holds a calibration for another layer count; calibrate the model again");
      }
      objective_.emplace(ObjectiveOptions{
          .objective_ms = *options.objective_ms,
          .workers = options.workers,
          .ends_with_pass = kind_ != ModelKind::kEncoder,
          .streams = streams_,
          .prefill_piece_ms = options.max_stall_ms.value_or(std::numeric_limits<double>::infinity()),
          .layers = prefill_layers()});
    }
    // Each worker's first pass pays the one-time costs (kernels, workspaces) before any request,
    // on the thread that runs its passes from then on (see ComputeThread).
    if (streams_ > 1) {
      for (const LanguageModel& model : generators_)
        schedulers_.push_back(std::make_unique<Scheduler>(
            model, options.threads, objective_ ? &*objective_ : nullptr, options.max_stall_ms));
    } else {
      for (int i = 0; i < options.workers; ++i) {
        compute_.push_back(std::make_unique<ComputeThread>(options.threads));
        compute_.back()->run([&] {
          if (kind_ == ModelKind::kEncoder) {
            encoders_[static_cast<size_t>(i)].forward({BertInput{{0, 0}, {}}});
          } else {
            generators_[static_cast<size_t>(i)].warm_up(nullptr);
          }
        });
      }
    }
  }

  ModelKind kind() const { return kind_; }
  Metrics& metrics() { return metrics_; }
  const Slots& slots() const { return *slots_; }
  const ServeOptions& options() const { return options_; }

  // RequestError 400 for a knob no planner takes.
  void check_knob(const LatteKnob& knob) { planners_->get(knob); }

  // A worker (a stream slot on one, under continuous batching) for a request of inputs of
  // `lengths` word-vectors that arrived at `arrival` (a generation: then `decode_steps` steps).
  // Under a latency objective, a request that would have to wait, and that even the fastest
  // schedule cannot answer in time behind the line, is refused (503 with Retry-After) instead of
  // queued; under continuous batching every request is asked (a free slot has a line too).
  std::shared_ptr<Lease> take_worker(Clock::time_point arrival, const std::vector<int64_t>& lengths,
                                     Slots::Joinable* joinable = nullptr, int64_t decode_steps = 0) {
    if (!objective_) return std::make_shared<Lease>(*slots_, arrival, 0.0, decode_steps, nullptr, joinable);
    const double fastest =
        pass_ms(lengths, [&](int64_t n) -> const SequencePlan& { return planners_->fastest(n); });
    return std::make_shared<Lease>(
        *slots_, arrival, fastest, decode_steps,
        [&](const std::vector<double>& busy, const std::vector<WaitingRequest>& line) {
          const bool in_time = batching() ? objective_->admits(fastest, decode_steps, stream_lines(), line)
                                          : objective_->admits(fastest, busy, line);
          if (!in_time) {
            throw RequestError(503, "server_overloaded",
                               "the server cannot answer within its latency objective of " +
                                   format_number(objective_->objective_ms()) +
                                   " ms even at its fastest schedule (" + std::to_string(line.size()) +
                                   " requests waiting); retry later");
          }
        },
        joinable);
  }

  // The knob a request runs at and its planner: the request's own knob; else, under a latency
  // objective, the smallest speedup whose predicted pass fits the budget the line leaves it (dense
  // when the dense pass fits, the fastest schedule when nothing does); else the server's default.
  // `fixed_ms`: what the other inputs packed into the same pass (at their own knobs) are predicted
  // to take; the budget is the pass's less that.
  struct Choice {
    LatteKnob knob;
    std::shared_ptr<const Planner> planner;
    std::optional<double> budget_ms;  // the pass budget the objective left (knobs it chose)
    // Continuous batching: the predicted time from the choice until its prefill begins.
    std::optional<double> wait_ms;
  };
  Choice choose(const LatteKnob& requested, const std::vector<int64_t>& lengths, const Lease& lease,
                double fixed_ms = 0.0, int64_t decode_steps = 0) {
    Choice choice;
    if (requested.any() || !objective_) {
      choice.knob = requested;
      if (!requested.any()) choice.knob.speedup = options_.default_speedup;
      choice.planner = planners_->get(choice.knob);
      return choice;
    }
    const double dense =
        pass_ms(lengths, [&](int64_t n) -> const SequencePlan& { return planners_->dense(n); });
    const double fastest =
        pass_ms(lengths, [&](int64_t n) -> const SequencePlan& { return planners_->fastest(n); });
    std::vector<double> busy;
    std::vector<WaitingRequest> behind;
    slots_->state(lease.worker(), busy, behind);
    const double waited = std::chrono::duration<double, std::milli>(Clock::now() - lease.arrival()).count();
    double budget = 0.0;
    if (batching()) {
      const std::vector<StreamWorker> lines = stream_lines();
      const size_t worker = lease.worker() / static_cast<size_t>(streams_);
      budget = objective_->pass_budget_ms(waited, fastest, decode_steps, lines, worker, behind);
      choice.wait_ms = objective_->line_ms(lines, worker);
    } else {
      budget = objective_->pass_budget_ms(waited, fastest + fixed_ms, busy, behind) - fixed_ms;
    }
    choice.budget_ms = budget;
    if (budget < dense) {
      // Speedups in steps of 1/20 (a bounded set of planners), up to just past the reachable one
      // (whose planner runs the fastest schedule), or up to --max-speedup.
      const auto step_up = [](double speedup) {
        return std::ceil(speedup * kSpeedupSteps - 1e-9) / kSpeedupSteps;
      };
      const double reachable = std::min(step_up(dense / fastest), options_.max_speedup.value_or(kNoCap));
      choice.knob.speedup = budget > 0.0 ? std::min(step_up(dense / budget), reachable) : reachable;
      if (*choice.knob.speedup <= 1.0) choice.knob.speedup.reset();
    }
    choice.planner = planners_->get(choice.knob, /*chosen=*/true);
    return choice;
  }

  // The layers a generation's prefill runs, one piece at least each under --max-stall-ms: a
  // decoder-only model's, or an encoder-decoder's encoder layers and memory projections
  // (Seq2SeqLm::start_encode). 1 for an encoder.
  int64_t prefill_layers() const {
    if (generators_.empty()) return 1;
    const LanguageModel& model = generators_[0];
    return model.causal() ? model.causal()->num_layers()
                          : model.seq2seq()->num_encoder_layers() + model.seq2seq()->num_decoder_layers();
  }

  // Whether generations are batched (a scheduler per worker).
  bool batching() const { return !schedulers_.empty(); }

  // /metrics' lines for the latency objective (none without one): the objective and what it aims
  // at now, the objective less the slack its late answers added.
  std::string objective_metrics() const {
    if (!objective_) return "";
    std::ostringstream out;
    out << "# HELP latte_objective_seconds The latency objective (--slo-ms).\n"
        << "# TYPE latte_objective_seconds gauge\nlatte_objective_seconds "
        << objective_->objective_ms() / 1e3
        << "\n# HELP latte_objective_target_seconds What the objective aims at now: the objective less the "
           "slack its late answers added (about 1 % of answers may miss).\n"
        << "# TYPE latte_objective_target_seconds gauge\nlatte_objective_target_seconds "
        << (objective_->objective_ms() - objective_->slack_ms()) / 1e3 << "\n";
    return out.str();
  }

  // What each worker's scheduler runs now and has in line.
  std::vector<StreamWorker> stream_lines() const {
    std::vector<StreamWorker> lines;
    for (const std::unique_ptr<Scheduler>& scheduler : schedulers_) lines.push_back(scheduler->line());
    return lines;
  }

  // Before a pass: when the worker is predicted free again. After it: what it measured.
  void expect(const Lease& lease, double predicted_pass_ms) {
    if (!objective_ || batching()) return;
    const auto hold = std::chrono::duration<double, std::milli>(objective_->hold_ms(predicted_pass_ms));
    slots_->expect(lease.worker(), Clock::now() + std::chrono::duration_cast<Clock::duration>(hold));
  }
  // An encoder's answer whose knob the objective chose, `total_ms` from arrival to last byte (a
  // generation's time to first token is observed where its first token is made).
  void observe_answer(double total_ms) {
    if (objective_) objective_->observe_answer(total_ms);
  }
  void observe(const Lease& lease, double predicted_pass_ms, double measured_pass_ms) {
    if (!objective_) return;
    if (batching()) {
      objective_->observe_prefill(predicted_pass_ms, measured_pass_ms);  // the steps are measured apart
      return;
    }
    objective_->observe(predicted_pass_ms, measured_pass_ms,
                        std::chrono::duration<double, std::milli>(Clock::now() - lease.taken()).count());
  }

  // The predicted pass over inputs of `lengths` word-vectors (dense where a plan has no prediction).
  double pass_ms(const std::vector<int64_t>& lengths,
                 const std::function<const SequencePlan&(int64_t)>& plan_of) const {
    double total = 0.0;
    for (const int64_t n : lengths) {
      const SequencePlan& plan = plan_of(n);
      total += plan.predicted_ms ? *plan.predicted_ms : planners_->dense(n).predicted_ms.value_or(0.0);
    }
    return total;
  }

  json report(const Choice& choice, const SequencePlan& plan, double measured_ms,
              const std::vector<int64_t>& kept) const {
    json answer = latte_report(choice.knob, plan, measured_ms, kept);
    if (choice.budget_ms) {
      answer["objective_ms"] = objective_->objective_ms();
      answer["target_ms"] = objective_->objective_ms() - objective_->slack_ms();
      answer["budget_ms"] = *choice.budget_ms;
    }
    if (choice.wait_ms) answer["predicted_wait_ms"] = *choice.wait_ms;
    return answer;
  }

  // An encoder request in line: its inputs, and what its pass answers.
  struct EncoderJob : Slots::Joinable {
    std::vector<BertInput> inputs;
    std::vector<int64_t> lengths;
    LatteKnob knob;
    std::vector<std::vector<float>> scores;
    std::vector<json> reports;
    std::promise<void> done;  // set by the worker that runs the pass (or its error)
  };

  // Each text's logits and "latte" report; the texts are encoded before a worker is taken. The
  // requests waiting when a worker frees run in its pass with the one it takes (max_batch_tokens).
  void predict(const std::vector<TextInput>& texts, const LatteKnob& requested, bool truncate,
               Clock::time_point arrival, std::vector<std::vector<float>>& scores,
               std::vector<json>& reports) {
    const BertConfig& config = encoders_[0].config();
    Truncation truncation{.max_length = config.max_position_embeddings, .refuse = !truncate};
    EncoderJob job;
    job.knob = requested;
    for (size_t i = 0; i < texts.size(); ++i) {
      try {
        Encoding encoding =
            encode_input(*tokenizer_, texts[i].text, texts[i].pair, truncation, "input " + std::to_string(i));
        job.lengths.push_back(static_cast<int64_t>(encoding.ids.size()));
        job.rows += job.lengths.back();
        job.inputs.push_back(BertInput{std::move(encoding.ids), std::move(encoding.type_ids)});
      } catch (const InputError& error) {
        throw bad_request(std::string(error.what()) + "; send \"truncate\": true to cut longer inputs");
      }
    }
    if (requested.any()) check_knob(requested);  // a bad knob is refused before the line
    std::future<void> done = job.done.get_future();
    {
      const bool packing = options_.max_batch_tokens > 0;
      const std::shared_ptr<Lease> lease = take_worker(arrival, job.lengths, packing ? &job : nullptr);
      if (!lease->joined()) {
        std::vector<EncoderJob*> jobs = {&job};
        if (packing) {
          for (Slots::Joinable* follower : slots_->take_followers(job.rows, options_.max_batch_tokens))
            jobs.push_back(static_cast<EncoderJob*>(follower));
        }
        try {
          run_pass(jobs, *lease);
          for (EncoderJob* each : jobs) each->done.set_value();
        } catch (...) {
          if (jobs.size() == 1) {
            job.done.set_exception(std::current_exception());
          } else {
            // The pass failed (an input whose activations overflow): each request runs alone, so
            // that the error is only its own.
            for (EncoderJob* each : jobs) {
              try {
                run_pass({each}, *lease);
                each->done.set_value();
              } catch (...) {
                each->done.set_exception(std::current_exception());
              }
            }
          }
        }
      }
    }
    done.get();  // the pass's error, when it failed
    scores = std::move(job.scores);
    reports = std::move(job.reports);
  }

  // One packed pass over the inputs of `jobs` on `lease`'s worker: each request at its own knob,
  // those without one at the knob chosen for them together.
  void run_pass(const std::vector<EncoderJob*>& jobs, const Lease& lease) {
    std::vector<Choice> choices(jobs.size());
    std::vector<int64_t> chosen_lengths;
    double fixed_ms = 0.0;
    for (size_t j = 0; j < jobs.size(); ++j) {
      if (!jobs[j]->knob.any()) {
        chosen_lengths.insert(chosen_lengths.end(), jobs[j]->lengths.begin(), jobs[j]->lengths.end());
        continue;
      }
      choices[j] = choose(jobs[j]->knob, jobs[j]->lengths, lease);
      const Planner& planner = *choices[j].planner;
      fixed_ms +=
          pass_ms(jobs[j]->lengths, [&](int64_t n) -> const SequencePlan& { return planner.plan(n); });
    }
    if (!chosen_lengths.empty()) {
      const Choice shared = choose({}, chosen_lengths, lease, fixed_ms);
      for (size_t j = 0; j < jobs.size(); ++j) {
        if (!jobs[j]->knob.any()) choices[j] = shared;
      }
    }
    // The inputs in order, packed into passes of at most max_batch_tokens word-vectors (an input
    // longer than that runs alone).
    struct Sequence {
      size_t job;
      const BertInput* input;
      const Planner* planner;
      double predicted_ms;
    };
    std::vector<Sequence> sequences;
    double predicted_total = 0.0;
    for (size_t j = 0; j < jobs.size(); ++j) {
      jobs[j]->scores.clear();
      jobs[j]->reports.clear();
      const Planner& planner = *choices[j].planner;
      for (const BertInput& input : jobs[j]->inputs) {
        const auto length = static_cast<int64_t>(input.input_ids.size());
        const double ms =
            pass_ms({length}, [&](int64_t n) -> const SequencePlan& { return planner.plan(n); });
        sequences.push_back({j, &input, &planner, ms});
        predicted_total += ms;
      }
    }
    expect(lease, predicted_total);
    const int64_t labels = encoders_[0].config().num_labels;
    double measured_total = 0.0;
    for (size_t first = 0; first < sequences.size();) {
      std::vector<BertInput> batch;
      ForwardOptions forward;
      double predicted = 0.0;
      int64_t rows = 0;
      size_t end = first;
      for (; end < sequences.size(); ++end) {
        const auto length = static_cast<int64_t>(sequences[end].input->input_ids.size());
        if (end > first && rows + length > options_.max_batch_tokens) break;
        rows += length;
        batch.push_back(*sequences[end].input);
        forward.planners.push_back(sequences[end].planner);
        predicted += sequences[end].predicted_ms;
      }
      const Clock::time_point start = Clock::now();
      BertOutput output;
      compute_[lease.worker()]->run([&] { output = encoders_[lease.worker()].forward(batch, forward); });
      const double measured_ms = seconds_since(start) * 1e3;
      measured_total += measured_ms;
      for (size_t i = first; i < end; ++i) {
        EncoderJob& job = *jobs[sequences[i].job];
        const int64_t row = static_cast<int64_t>(i - first);
        const float* logits = output.logits.data() + row * labels;
        job.scores.emplace_back(logits, logits + labels);
        const SequencePlan& plan =
            sequences[i].planner->plan(static_cast<int64_t>(batch[row].input_ids.size()));
        metrics_.input(plan.predicted_speedup.value_or(1.0));
        json answer = report(choices[sequences[i].job], plan, measured_ms, output.kept[row]);
        // measured_ms is the whole pass's: say what else it carried.
        answer["pass_inputs"] = end - first;
        answer["pass_predicted_ms"] = predicted;
        job.reports.push_back(std::move(answer));
      }
      first = end;
    }
    observe(lease, predicted_total, measured_total);
  }

  const BertConfig& encoder_config() const { return encoders_[0].config(); }

  // A generation on a worker's scheduler: `accept` runs on the scheduler thread for each token
  // (the text it completes, and whether to go on); this thread sends that text with on_text as it
  // comes, and marks the stream's client gone when on_text fails (the stream then ends at its next
  // token). Without on_text (an answer sent whole) this thread sleeps until the stream ends: woken
  // for each token it would take a core from the step's threads on every step. Returns once the
  // scheduler has finished the stream; rethrows its error.
  GenerationResult run_stream(Scheduler& scheduler, const std::vector<int32_t>& prompt,
                              const GenerationOptions& generation, double predicted_prefill_ms,
                              const std::function<bool(int32_t, std::string&)>& accept,
                              const std::function<bool(const std::string&)>& on_text, bool& client_gone,
                              int64_t& peak) {
    auto stream = std::make_shared<Stream>();
    stream->prompt = prompt;
    stream->request.generation = generation;
    stream->prefill_ms = predicted_prefill_ms;
    stream->layers = stream->layers_left = prefill_layers();
    Stream* raw = stream.get();  // the scheduler holds the stream while its callback may run
    const bool sends = static_cast<bool>(on_text);
    stream->request.on_token = [raw, &accept, sends](int32_t id) {
      ++raw->tokens;
      if (raw->client_gone) return false;
      std::string ready;
      const bool more = accept(id, ready);
      if (sends && !ready.empty()) {
        {
          std::lock_guard lock(raw->mutex);
          raw->ready += ready;
        }
        raw->changed.notify_all();
      }
      return more;
    };
    scheduler.submit(stream);
    std::unique_lock lock(stream->mutex);
    for (;;) {
      stream->changed.wait(lock, [&] { return stream->finished || !stream->ready.empty(); });
      if (!stream->ready.empty()) {
        std::string text;
        text.swap(stream->ready);
        lock.unlock();
        if (!client_gone && !on_text(text)) {
          client_gone = true;
          stream->client_gone = true;
        }
        lock.lock();
        continue;
      }
      if (stream->finished) break;
    }
    if (stream->error) std::rethrow_exception(stream->error);
    peak = stream->peak;
    return std::move(stream->result);
  }

  // One completion: on_text (empty for an answer sent whole) receives the text as it may be sent
  // (stop sequences held back); returning false (the client went away) ends the run.
  struct Completion {
    std::string text;
    std::string finish_reason;  // "stop" or "length"
    int64_t prompt_tokens = 0;
    int64_t completion_tokens = 0;
    json latte;
  };

  // Tokens of the request's prompt, checked against the model's limits; the max_tokens it runs with.
  std::vector<int32_t> prompt_ids(const CompletionRequest& request, int64_t& max_tokens) const {
    if (request.chat && !chat_) {
      throw bad_request("this model has no chat template latte applies (" + chat_unavailable_ +
                        "); use /v1/completions");
    }
    const LanguageModel& model = generators_[0];
    std::vector<int32_t> ids = request.prompt_ids;
    if (!ids.empty()) {
      for (size_t i = 0; i < ids.size(); ++i) {
        if (ids[i] >= model.vocab_size()) {
          throw bad_request("'prompt[" + std::to_string(i) + "]': token id " + std::to_string(ids[i]) +
                            " is outside the model's vocabulary of " + std::to_string(model.vocab_size()));
        }
      }
    } else {
      try {
        ids = request.chat ? chat_->encode(*tokenizer_, request.system, request.user)
                           : encode_input(*tokenizer_, request.prompt, std::nullopt, 0, "prompt").ids;
      } catch (const InputError& error) {
        throw bad_request(error.what());
      }
    }
    if (ids.empty()) throw bad_request("'prompt' is empty (no tokens)");
    const auto prompt_tokens = static_cast<int64_t>(ids.size());
    if (request.max_tokens) {
      max_tokens = *request.max_tokens;
    } else {
      // Without max_tokens: the server's default for completions, else as many as fit.
      const int64_t fit = model.causal() ? model.causal()->max_positions() - prompt_tokens
                                         : model.seq2seq()->max_target_tokens();
      max_tokens = std::min(request.chat ? options_.limits.max_new_tokens : options_.default_max_tokens, fit);
      max_tokens = std::max<int64_t>(max_tokens, 1);
    }
    try {
      const int64_t longest = model.longest_prompt(max_tokens, "max_tokens");
      if (prompt_tokens > longest) {
        throw bad_request("the prompt has " + std::to_string(prompt_tokens) + " tokens; " +
                          model.too_long(max_tokens) + " (" + model.limit(max_tokens, "max_tokens") + ")");
      }
    } catch (const InputError& error) {
      throw bad_request(error.what());
    }
    return ids;
  }

  Completion complete(const CompletionRequest& request, const std::vector<int32_t>& prompt,
                      int64_t max_tokens, const Lease& lease,
                      const std::function<bool(const std::string&)>& on_text) {
    const std::vector<int64_t> lengths = {static_cast<int64_t>(prompt.size())};
    const Choice choice = choose(request.knob, lengths, lease, 0.0, max_tokens - 1);
    const std::shared_ptr<const Planner>& planner = choice.planner;
    const double predicted =
        pass_ms(lengths, [&](int64_t n) -> const SequencePlan& { return planner->plan(n); });
    expect(lease, predicted);
    GenerationOptions generation;
    generation.max_new_tokens = max_tokens;
    generation.planner = planner.get();
    generation.sampling.sample = !request.greedy();
    generation.sampling.temperature = request.greedy() ? 1.0 : request.temperature;
    generation.sampling.top_p = request.top_p;
    generation.sampling.seed = request.seed.value_or(0);
    const size_t worker = lease.worker() / static_cast<size_t>(streams_);
    TokenTextStream stream(*tokenizer_);
    StopScanner scanner(request.stop);
    Completion completion;
    bool end_of_turn = false;
    bool client_gone = false;
    // Each new token: the text it completes, or false when the run ends (a stop sequence, the
    // chat's end of turn). SIGTERM does not end a run: requests in flight are drained.
    std::optional<Clock::time_point> first_token;
    const auto accept = [&](int32_t id, std::string& ready) {
      if (!first_token) first_token = Clock::now();
      ++completion.completion_tokens;
      if (std::find(chat_stop_ids_.begin(), chat_stop_ids_.end(), id) != chat_stop_ids_.end() &&
          request.chat) {
        end_of_turn = true;
        return false;
      }
      ready = scanner.push(stream.push(id));
      return !scanner.stopped();
    };
    GenerationResult result;
    int64_t peak = 1;
    if (!schedulers_.empty()) {
      result =
          run_stream(*schedulers_[worker], prompt, generation, predicted, accept, on_text, client_gone, peak);
    } else {
      const auto on_token = [&](int32_t id) {
        std::string ready;
        const bool more = accept(id, ready);
        if (on_text && !ready.empty() && !on_text(ready)) {
          client_gone = true;
          return false;
        }
        return more;
      };
      compute_[worker]->run([&] { result = generators_[worker].generate(prompt, generation, on_token); });
    }
    if (!client_gone && !scanner.stopped()) {
      const std::string rest = scanner.push(stream.finish()) + scanner.finish();
      if (on_text && !rest.empty()) on_text(rest);
    }
    completion.text = scanner.text();
    completion.finish_reason =
        result.stop_reason == "length" && !scanner.stopped() && !end_of_turn ? "length" : "stop";
    completion.prompt_tokens = static_cast<int64_t>(prompt.size());
    const SequencePlan& plan = planner->plan(completion.prompt_tokens);
    completion.latte = report(choice, plan, result.ttft_seconds * 1e3, result.kept);
    observe(lease, predicted, result.ttft_seconds * 1e3);
    if (choice.budget_ms && first_token) {
      objective_->observe_answer(
          std::chrono::duration<double, std::milli>(*first_token - lease.arrival()).count());
    }
    completion.latte["decode_ms_per_token"] = result.decode_seconds_per_token() * 1e3;
    // --max-stall-ms: the pieces its prefill ran in, between the other streams' steps.
    if (options_.max_stall_ms) completion.latte["prefill_pieces"] = result.prefill_pieces;
    // Most generations decoded together in one of its steps (continuous batching; 1: alone).
    completion.latte["streams"] = std::max<int64_t>(peak, 1);
    metrics_.input(plan.predicted_speedup.value_or(1.0));
    metrics_.generation(completion.prompt_tokens, completion.completion_tokens, result.ttft_seconds);
    return completion;
  }

 private:
  const ServeOptions& options_;
  ModelKind kind_ = ModelKind::kEncoder;
  std::vector<BertModel> encoders_;
  std::vector<LanguageModel> generators_;
  std::unique_ptr<Tokenizer> tokenizer_;
  std::optional<ChatTemplate> chat_;
  std::string chat_unavailable_;
  std::vector<int32_t> chat_stop_ids_;
  std::unique_ptr<Planners> planners_;
  std::optional<LatencyObjective> objective_;
  static constexpr double kSpeedupSteps = 20.0;  // chosen speedups are multiples of 1/20
  static constexpr double kNoCap = std::numeric_limits<double>::infinity();
  Metrics metrics_;
  // Decoder-only models: a scheduler per worker, each running max_streams streams together.
  int streams_ = 1;
  std::vector<std::unique_ptr<Scheduler>> schedulers_;
  std::vector<std::unique_ptr<ComputeThread>> compute_;  // one per worker without a scheduler
  std::optional<Slots> slots_;                           // workers x streams
};

// ---------------------------------------------------------------------------------------------
// Routes.

// Each input's {label, score} list, best first (text-embeddings-inference's /predict answer).
json prediction(const BertConfig& config, const std::vector<float>& logits, bool raw_scores,
                const json& report) {
  json entries = json::array();
  if (config.is_regression()) {
    entries.push_back({{"label", config.id2label.empty() ? "LABEL_0" : config.id2label[0]},
                       {"score", logits[0]},
                       {"latte", report}});
    return entries;
  }
  const std::vector<float> scores = raw_scores ? logits : label_probabilities(logits);
  std::vector<size_t> order(scores.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return scores[a] > scores[b]; });
  for (const size_t label : order) {
    entries.push_back({{"label", config.id2label[label]}, {"score", scores[label]}, {"latte", report}});
  }
  return entries;
}

std::string completion_id(bool chat) {
  static std::atomic<uint64_t> next{1};
  return std::string(chat ? "chatcmpl-latte-" : "cmpl-latte-") + std::to_string(next++);
}

// One chunk of a streamed completion.
json chunk(const CompletionRequest& request, const std::string& id, int64_t created, const std::string& model,
           const std::string& text, const json& finish_reason, bool first) {
  json choice = {{"index", 0}, {"finish_reason", finish_reason}, {"logprobs", nullptr}};
  if (request.chat) {
    json delta = json::object();
    if (first) delta["role"] = "assistant";
    if (!text.empty() || finish_reason.is_null()) delta["content"] = text;
    choice["delta"] = delta;
  } else {
    choice["text"] = text;
  }
  return {{"id", id},
          {"object", request.chat ? "chat.completion.chunk" : "text_completion"},
          {"created", created},
          {"model", model},
          {"choices", json::array({choice})}};
}

json usage(const Service::Completion& completion) {
  return {{"prompt_tokens", completion.prompt_tokens},
          {"completion_tokens", completion.completion_tokens},
          {"total_tokens", completion.prompt_tokens + completion.completion_tokens}};
}

// Which route a path is, for metrics and 405s; "other" for anything else.
std::string route_of(const std::string& path) {
  static const std::regex infer(R"(/v2/models/[^/]+/infer)");
  for (const char* route :
       {"/predict", "/v1/completions", "/v1/chat/completions", "/v1/models", "/health", "/metrics"}) {
    if (path == route) return route;
  }
  if (std::regex_match(path, infer)) return "/v2/models/{name}/infer";
  return "other";
}

// The method a route of a server of `kind` answers; null for a route it does not have.
const char* allowed_methods(const std::string& route, ModelKind kind) {
  const bool encoder = kind == ModelKind::kEncoder;
  if (route == "/predict" || route == "/v2/models/{name}/infer") return encoder ? "POST" : nullptr;
  if (route == "/v1/completions" || route == "/v1/chat/completions") return encoder ? nullptr : "POST";
  if (route == "other") return nullptr;
  return "GET";
}

thread_local Clock::time_point request_start;
// Whether the request this thread answers is an encoder's whose knob the latency objective chose
// (its time to the last byte then tells the objective how its answers fare).
thread_local bool objective_answer = false;

// Adds to each input's report `server_ms`: from the request's arrival (its headers and body read)
// to its answer being ready to send, as the server sees it.
void answered(std::vector<json>& reports) {
  const double server_ms = seconds_since(request_start) * 1e3;
  for (json& report : reports) report["server_ms"] = server_ms;
}

void add_routes(httplib::Server& server, Service& service) {
  const ServeOptions& options = service.options();
  const auto guarded = [](httplib::Response& response, const std::function<void()>& body) {
    try {
      body();
    } catch (const RequestError& error) {
      send_error(response, error);
    } catch (const InputError& error) {
      send_error(response, bad_request(error.what()));
    } catch (const std::exception& error) {
      send_error(response, RequestError(500, "server_error", error.what()));
    }
  };

  server.Get("/health", [&](const httplib::Request&, httplib::Response& response) {
    response.set_content(R"({"status":"ok"})", "application/json");
  });
  server.Get("/metrics", [&](const httplib::Request&, httplib::Response& response) {
    response.set_content(service.metrics().render(service.slots().waiting(), service.slots().busy(),
                                                  options.workers, service.slots().size()) +
                             service.objective_metrics(),
                         "text/plain; version=0.0.4");
  });
  server.Get("/v1/models", [&](const httplib::Request&, httplib::Response& response) {
    const json models = {{"object", "list"},
                         {"data", json::array({{{"id", options.model_name},
                                                {"object", "model"},
                                                {"created", 0},
                                                {"owned_by", "latte"},
                                                {"latte", {{"kind", kind_name(service.kind())}}}}})}};
    response.set_content(dump(models), "application/json");
  });

  if (service.kind() == ModelKind::kEncoder) {
    server.Post("/predict", [&, guarded](const httplib::Request& request, httplib::Response& response) {
      guarded(response, [&] {
        const PredictRequest parsed = parse_predict_request(request.body, options.limits);
        std::vector<std::vector<float>> scores;
        std::vector<json> reports;
        objective_answer = !parsed.knob.any();
        service.predict(parsed.inputs, parsed.knob, parsed.truncate, request_start, scores, reports);
        answered(reports);
        json answer = json::array();
        for (size_t i = 0; i < scores.size(); ++i) {
          answer.push_back(prediction(service.encoder_config(), scores[i], parsed.raw_scores, reports[i]));
        }
        response.set_content(dump(parsed.single ? answer[0] : answer), "application/json");
      });
    });
    server.Post(R"(/v2/models/([^/]+)/infer)", [&, guarded](const httplib::Request& request,
                                                            httplib::Response& response) {
      guarded(response, [&] {
        if (request.matches[1] != options.model_name) {
          throw RequestError(404, "not_found_error",
                             "no model named '" + std::string(request.matches[1]) + "' (this server has '" +
                                 options.model_name + "')");
        }
        const InferRequest parsed = parse_infer_request(request.body, options.limits);
        std::vector<std::vector<float>> scores;
        std::vector<json> reports;
        std::vector<TextInput> texts;
        for (const std::string& text : parsed.texts) texts.push_back({text, std::nullopt});
        objective_answer = !parsed.knob.any();
        service.predict(texts, parsed.knob, false, request_start, scores, reports);
        answered(reports);
        const BertConfig& config = service.encoder_config();
        json labels = json::array(), best = json::array(), probabilities = json::array();
        for (const std::vector<float>& logits : scores) {
          if (config.is_regression()) {
            labels.push_back(config.id2label.empty() ? "LABEL_0" : config.id2label[0]);
            best.push_back(logits[0]);
            probabilities.push_back(logits[0]);
            continue;
          }
          const std::vector<float> p = label_probabilities(logits);
          const size_t top = static_cast<size_t>(std::max_element(p.begin(), p.end()) - p.begin());
          labels.push_back(config.id2label[top]);
          best.push_back(p[top]);
          for (const float value : p) probabilities.push_back(value);
        }
        const auto count = static_cast<int64_t>(scores.size());
        const int64_t width = config.is_regression() ? 1 : config.num_labels;
        const json answer = {
            {"model_name", options.model_name},
            {"id", parsed.id},
            {"outputs",
             json::array({{{"name", "label"}, {"shape", {count}}, {"datatype", "BYTES"}, {"data", labels}},
                          {{"name", "score"}, {"shape", {count}}, {"datatype", "FP32"}, {"data", best}},
                          {{"name", config.is_regression() ? "value" : "probabilities"},
                           {"shape", {count, width}},
                           {"datatype", "FP32"},
                           {"data", probabilities}}})},
            {"parameters", {{"latte", reports}}}};
        response.set_content(dump(answer), "application/json");
      });
    });
    return;
  }

  for (const bool chat : {false, true}) {
    server.Post(chat ? "/v1/chat/completions" : "/v1/completions", [&, chat, guarded](
                                                                       const httplib::Request& request,
                                                                       httplib::Response& response) {
      guarded(response, [&] {
        auto parsed =
            std::make_shared<CompletionRequest>(parse_completion_request(request.body, chat, options.limits));
        int64_t max_tokens = 0;
        auto prompt = std::make_shared<std::vector<int32_t>>(service.prompt_ids(*parsed, max_tokens));
        const std::string id = completion_id(chat);
        const auto created = static_cast<int64_t>(std::time(nullptr));
        const std::string& model = options.model_name;
        if (parsed->knob.any()) service.check_knob(parsed->knob);  // a bad knob is refused before the line
        auto lease = service.take_worker(request_start, {static_cast<int64_t>(prompt->size())}, nullptr,
                                         max_tokens - 1);
        if (!parsed->stream) {
          const Service::Completion completion =
              service.complete(*parsed, *prompt, max_tokens, *lease, nullptr);
          json choice = {{"index", 0}, {"finish_reason", completion.finish_reason}, {"logprobs", nullptr}};
          if (chat) {
            choice["message"] = {{"role", "assistant"}, {"content", completion.text}};
          } else {
            choice["text"] = completion.text;
          }
          const json answer = {{"id", id},
                               {"object", chat ? "chat.completion" : "text_completion"},
                               {"created", created},
                               {"model", model},
                               {"choices", json::array({choice})},
                               {"usage", usage(completion)},
                               {"latte", completion.latte}};
          response.set_content(dump(answer), "application/json");
          return;
        }
        response.set_header("Cache-Control", "no-cache");
        response.set_chunked_content_provider(
            "text/event-stream", [&service, parsed, prompt, lease, max_tokens, id, created, model](
                                     size_t, httplib::DataSink& sink) {
              const auto send = [&](const json& event) {
                const std::string line = "data: " + dump(event) + "\n\n";
                return sink.write(line.data(), line.size());
              };
              bool first = true;
              const Service::Completion completion =
                  service.complete(*parsed, *prompt, max_tokens, *lease, [&](const std::string& text) {
                    const bool sent = send(chunk(*parsed, id, created, model, text, nullptr, first));
                    first = false;
                    return sent;
                  });
              json last = chunk(*parsed, id, created, model, "", completion.finish_reason, first);
              last["latte"] = completion.latte;
              if (!send(last)) return false;
              if (parsed->include_usage) {
                json usage_chunk = chunk(*parsed, id, created, model, "", nullptr, false);
                usage_chunk["choices"] = json::array();
                usage_chunk["usage"] = usage(completion);
                usage_chunk["latte"] = completion.latte;
                if (!send(usage_chunk)) return false;
              }
              const std::string done = "data: [DONE]\n\n";
              if (!sink.write(done.data(), done.size())) return false;
              sink.done();
              return true;
            });
      });
    });
  }
}

}  // namespace

void run_server(const ServeOptions& options) {
  // Built on a thread of its own that ends before requests are taken, so that the OpenMP team of
  // the loading, profiling and warm-up done here goes with it (see ComputeThread).
  std::optional<Service> built;
  std::exception_ptr failure;
  std::thread([&] {
    try {
      set_num_threads(options.threads);
      built.emplace(options);
    } catch (...) {
      failure = std::current_exception();
    }
  }).join();
  if (failure) std::rethrow_exception(failure);
  Service& service = *built;

  httplib::Server server;
  // Threads for every worker's request, the line waiting for one, and the cheap routes beside them.
  const size_t threads = service.slots().size() + static_cast<size_t>(options.max_queue) + 4;
  server.new_task_queue = [threads] { return new httplib::ThreadPool(threads); };
  server.set_payload_max_length(options.max_body_bytes);
  server.set_read_timeout(30);
  server.set_write_timeout(30);
  server.set_keep_alive_timeout(2);
  // cpp-httplib closes a keep-alive connection after 5 requests by default, so a busy client
  // reconnects every fifth request (a handshake, a new thread from the pool, and under a burst a
  // full listen backlog): keep connections open for as long as clients use them.
  server.set_keep_alive_max_count(std::numeric_limits<int>::max());
  // Answers go out in several writes (headers, body): without TCP_NODELAY a keep-alive client's
  // delayed ACK holds each answer ~40 ms.
  server.set_tcp_nodelay(true);

  server.set_pre_routing_handler([&](const httplib::Request& request, httplib::Response& response) {
    request_start = Clock::now();
    objective_answer = false;
    if (options.api_key.empty() || request.path == "/health")
      return httplib::Server::HandlerResponse::Unhandled;
    const std::string expected = "Bearer " + options.api_key;
    if (request.get_header_value("Authorization") != expected) {
      send_error(response, RequestError(401, "authentication_error",
                                        "missing or wrong API key: send \"Authorization: Bearer KEY\""));
      return httplib::Server::HandlerResponse::Handled;
    }
    return httplib::Server::HandlerResponse::Unhandled;
  });
  add_routes(server, service);
  server.set_error_handler(
      httplib::Server::HandlerWithResponse([&](const httplib::Request& request, httplib::Response& response) {
        if (!response.body.empty()) return httplib::Server::HandlerResponse::Unhandled;
        const std::string route = route_of(request.path);
        if (response.status == 404 && allowed_methods(route, service.kind()) != nullptr) {
          response.set_header("Allow", allowed_methods(route, service.kind()));
          send_error(response, RequestError(405, "invalid_request_error",
                                            request.method + " " + request.path + ": use " +
                                                allowed_methods(route, service.kind())));
        } else if (response.status == 404) {
          send_error(response,
                     RequestError(404, "not_found_error",
                                  "no route " + request.method + " " + request.path + "; this server's " +
                                      kind_name(service.kind()) + " answers " +
                                      (service.kind() == ModelKind::kEncoder
                                           ? "POST /predict, POST /v2/models/" + options.model_name + "/infer"
                                           : std::string("POST /v1/completions, POST /v1/chat/completions")) +
                                      ", GET /v1/models, /health and /metrics"));
        } else if (response.status == 413) {
          send_error(response, RequestError(413, "invalid_request_error",
                                            "request body above the limit of " +
                                                std::to_string(options.max_body_bytes) + " bytes"));
        } else {
          send_error(response, RequestError(response.status, "invalid_request_error",
                                            "bad request (HTTP " + std::to_string(response.status) + ")"));
        }
        return httplib::Server::HandlerResponse::Handled;
      }));
  server.set_logger([&](const httplib::Request& request, const httplib::Response& response) {
    const double seconds = seconds_since(request_start);
    service.metrics().request(route_of(request.path), response.status, seconds);
    if (objective_answer && response.status == 200) service.observe_answer(seconds * 1e3);
  });

  // cpp-httplib listens with a backlog of 5 (Debian builds it into libcpp-httplib): a burst of
  // new connections beyond it loses SYNs, which clients send again only after a second (512
  // connections at once: the slowest waited 56 s, 112 failed). listen() again on the bound socket
  // sets a deeper backlog; the kernel caps it at net.core.somaxconn.
  constexpr int kListenBacklog = 4096;
  socket_t listening = INVALID_SOCKET;
  server.set_socket_options([&listening](socket_t socket) {
    httplib::default_socket_options(socket);
    listening = socket;
  });
  int port = options.port;
  if (port == 0) {
    port = server.bind_to_any_port(options.host);
    if (port < 0) throw InputError("cannot bind " + options.host + " (any port)");
  } else if (!server.bind_to_port(options.host, port)) {
    throw InputError("cannot bind " + options.host + ":" + std::to_string(port) +
                     " (in use, or not an address of this machine)");
  }

  if (listening != INVALID_SOCKET && ::listen(listening, kListenBacklog) != 0) {
    std::cerr << "latte: warning: could not deepen the listen backlog: " << std::strerror(errno) << std::endl;
  }

  stop_requested = false;
  std::signal(SIGTERM, on_stop_signal);
  std::signal(SIGINT, on_stop_signal);
  std::signal(SIGPIPE, SIG_IGN);
  std::thread watcher([&] {
    while (!stop_requested) std::this_thread::sleep_for(std::chrono::milliseconds(50));
    server.stop();
  });
  std::cout << "latte: serving " << options.model_name << " on http://" << options.host << ":" << port
            << std::endl;
  const bool listened = server.listen_after_bind();
  const bool signalled = stop_requested.exchange(true);
  watcher.join();
  if (!listened && !signalled) throw Error("the server stopped unexpectedly");
  std::cerr << "latte: stopped serving (requests in flight answered)" << std::endl;
}

}  // namespace latte::serve
