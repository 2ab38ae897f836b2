#include "latte/eval/encoder_bench.h"

#include <algorithm>
#include <random>

#include "latte/core/error.h"
#include "latte/core/linear.h"

namespace latte {

EncoderBenchResult bench_encoder(BertModel& model, const std::vector<TimedVariant>& variants,
                                 const EncoderBenchOptions& options) {
  const BertConfig& config = model.config();
  if (options.seq > config.max_position_embeddings) {
    throw InputError("seq " + std::to_string(options.seq) + " exceeds the model's maximum length of " +
                     std::to_string(config.max_position_embeddings));
  }
  // Synthetic inputs of random word ids.
  std::mt19937 generator(static_cast<std::mt19937::result_type>(options.seed));
  std::uniform_int_distribution<int32_t> word(1, static_cast<int32_t>(config.vocab_size - 1));
  std::vector<BertInput> batch(static_cast<size_t>(options.batch));
  for (BertInput& input : batch) {
    for (int64_t i = 0; i < options.seq; ++i) input.input_ids.push_back(word(generator));
  }
  PairedTimingOptions timing_options;
  timing_options.rounds = options.rounds;
  timing_options.warm_up = options.warm_up;
  timing_options.notices = options.notices;
  EncoderBenchResult result;
  result.timing = time_paired(model, {batch}, variants, timing_options);
  result.gemm_ceiling_gflops = measure_layer_gemm_gflops(
      options.seq * options.batch, config.hidden_size, config.intermediate_size, std::max(5, options.rounds));
  return result;
}

std::vector<std::unique_ptr<Planner>> target_planners(const ModelShape& shape, const Knobs& base,
                                                      const std::vector<double>& targets,
                                                      const Sidecar& sidecar, const LatencySource& latency,
                                                      std::ostream& notes) {
  const bool needs_latency = std::any_of(targets.begin(), targets.end(), [](double s) { return s > 1.0; }) ||
                             (base.speedup && *base.speedup > 1.0) || base.latency_ms;
  for (const double target : targets)
    usable_calibration(Knobs{.speedup = target}, sidecar.calibration, shape.layers);
  usable_calibration(base, sidecar.calibration, shape.layers);
  const LatencyModel latency_model = latency(needs_latency);
  std::vector<std::unique_ptr<Planner>> planners;
  for (const double target : targets) {
    Knobs knobs = base;
    knobs.speedup = target;
    planners.push_back(std::make_unique<Planner>(knobs, shape, sidecar.calibration, latency_model, &notes));
  }
  if (targets.empty()) {
    planners.push_back(std::make_unique<Planner>(base, shape, sidecar.calibration, latency_model, &notes));
  }
  return planners;
}

}  // namespace latte
