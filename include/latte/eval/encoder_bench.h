// Latency of an encoder on synthetic inputs of exactly `seq` tokens: dense and every variant (a
// planner, or dense with ACC scoring on) paired with adjacent dense runs (timing.h), next to the
// GEMM ceiling of the model's layer shapes measured in the same run.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <ostream>
#include <vector>

#include "latte/eval/runner.h"
#include "latte/eval/timing.h"
#include "latte/models/bert.h"
#include "latte/prune/plan.h"
#include "latte/prune/sidecar.h"

namespace latte {

struct EncoderBenchOptions {
  int64_t seq = 128;  // tokens per input, specials included
  int64_t batch = 1;  // inputs per forward pass
  int rounds = 10;
  int warm_up = 2;
  uint64_t seed = 1234;  // of the synthetic inputs' word ids
  std::ostream* notices = nullptr;
};

struct EncoderBenchResult {
  PairedTiming timing;               // dense, and one entry per variant
  double gemm_ceiling_gflops = 0.0;  // oneDNN GEMMs of the layer's shapes at seq * batch rows
};

// InputError when seq exceeds the model's positions.
EncoderBenchResult bench_encoder(BertModel& model, const std::vector<TimedVariant>& variants,
                                 const EncoderBenchOptions& options);

// The planners of a benchmark: one per target speedup, each with the `base` knobs and its target
// as the speedup, or one for `base` alone when there are no targets. The calibration in
// `sidecar` is checked for every target before `latency` is asked for (a profile must not come
// before a calibration error); `latency` needs a measured table when a target is above 1 or the
// knobs ask for a speedup or a latency budget. Notices go to `notes`, which must outlive them.
std::vector<std::unique_ptr<Planner>> target_planners(const ModelShape& shape, const Knobs& base,
                                                      const std::vector<double>& targets,
                                                      const Sidecar& sidecar, const LatencySource& latency,
                                                      std::ostream& notes);

}  // namespace latte
