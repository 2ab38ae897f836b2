// Measured speedups that hold on a busy machine. Every variant's run is paired with the dense
// runs of the same input right before and after it (D V1 D V2 D ... D), and its speedup is the
// median over inputs and rounds of dense / variant for those adjacent runs: a burst of
// contention hits a pair, not the whole comparison. Every input runs untimed under every
// variant first, so each row count the timed runs meet is warm.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <ostream>
#include <vector>

#include "latte/models/bert.h"

namespace latte {

struct Spread {
  double median = 0.0, p10 = 0.0, p90 = 0.0;
};
// Quantiles of `values` (linear between order statistics); zeros when empty.
Spread spread(std::vector<double> values);

// One timed configuration: the options of its forward passes (planner, scoring).
struct TimedVariant {
  ForwardOptions forward;
};

// The time of a span that encloses a pass's timed part (PassResult::outer_milliseconds), paired
// like the pass's own.
struct OuterTiming {
  std::vector<double> milliseconds;  // one per timed run
  std::vector<double> ratios;        // variants: paired dense / variant
  Spread ms, speedup;
};

struct VariantTiming {
  std::vector<double> milliseconds;        // every timed run
  std::vector<double> ratios;              // paired dense / variant, one per timed run
  Spread ms;                               // of milliseconds
  Spread speedup;                          // of ratios
  OuterTiming outer;                       // when the pass reports an outer span
  std::vector<std::vector<int64_t>> kept;  // per input: word-vectors leaving each layer, sequence 0
};

struct PairedTiming {
  std::vector<double> dense_milliseconds;
  std::vector<size_t> dense_inputs;  // the input of each dense run
  Spread dense_ms;
  OuterTiming dense_outer;  // when the pass reports an outer span
  std::vector<VariantTiming> variants;
  std::optional<double> peak_load;  // highest 1-minute load average seen while timing
  int cores = 1;
};

struct PairedTimingOptions {
  int rounds = 1;   // passes over the inputs
  int warm_up = 1;  // untimed runs of every input under dense and every variant first
  // Called after each input of each round with (done, total).
  std::function<void(size_t, size_t)> progress;
  // Gets a one-line notice when the load average exceeds the core count while timing.
  std::ostream* notices = nullptr;
};

// What one pass reports: the word-vectors leaving each layer (of sequence 0), and its own time
// when only part of the pass is the thing measured (a decode step after an untimed setup);
// otherwise the whole pass is timed.
// A pass may also report a span that encloses its timed part and ends later (an encoder inside the
// time to a first token): taken from the same runs, its times are never below the part's.
struct PassResult {
  std::vector<int64_t> kept;
  std::optional<double> milliseconds;
  std::optional<double> outer_milliseconds;
};
// One pass of input `input` (an index) under configuration `variant` (-1: the dense model). Any
// model family times through this.
using TimedPass = std::function<PassResult(size_t input, int variant)>;

// Times `n_variants` configurations against the dense one on `n_inputs` inputs.
PairedTiming time_paired(size_t n_inputs, size_t n_variants, const TimedPass& pass,
                         const PairedTimingOptions& options);

// Times `variants` against the dense model on each batch of `inputs` (usually one sequence each).
PairedTiming time_paired(BertModel& model, const std::vector<std::vector<BertInput>>& inputs,
                         const std::vector<TimedVariant>& variants, const PairedTimingOptions& options);

}  // namespace latte
