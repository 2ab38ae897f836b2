// From the user's knob (a keep list, coverage, speedup or latency budget; static or
// dynamic) to what each layer keeps for an input of n0 word-vectors. This is
// offline tuning: any target, on any fine-tuned checkpoint, at inference time.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <mutex>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "latte/prune/cost_model.h"

namespace latte {

enum class PruneMode { kStatic, kDynamic };

// Exactly one of keep / coverage / speedup / latency_ms, or none (dense).
struct Knobs {
  std::optional<std::vector<int64_t>> keep;  // word-vectors leaving each layer
  std::optional<double> coverage;            // tau in (0, 1]
  std::optional<double> speedup;             // S >= 1
  std::optional<double> latency_ms;          // budget per input
  std::optional<PruneMode> mode;             // default: static when calibrated, else dynamic
  int64_t min_keep = 1;                      // k_min

  bool any() const { return keep || coverage || speedup || latency_ms; }
  // FieldError naming the knob ("speedup", "coverage", "latency budget", "min_keep", "keep
  // list") for S < 1, tau outside (0, 1], a bad budget, keep lists of the wrong length or with
  // non-positive or increasing counts; InputError for two knobs at once.
  void validate(int64_t layers) const;
};

// Parses "--keep 64,32,16" style lists; InputError names the bad element.
std::vector<int64_t> parse_keep_list(const std::string& text);
// "1,2,3" -> {1, 2, 3}; InputError "FLAG: 'x' is not an integer (expected e.g. EXAMPLE)".
std::vector<int64_t> parse_integer_list(const std::string& text, const std::string& flag,
                                        const std::string& example);
std::vector<double> parse_number_list(const std::string& text, const std::string& flag);

// What calibration measured (latte.json): for each tau of a grid, the mean
// fraction of the input's word-vectors that leaves each layer in dynamic mode.
struct Calibration {
  std::vector<double> taus;                         // descending, taus[0] == 1
  std::vector<std::vector<double>> keep_fractions;  // [tau][layer], r_l(tau)
  std::vector<double> curve_points;                 // fractions of n_l where the ACC curve is sampled
  std::vector<std::vector<double>> acc_curves;      // [layer][point], mean C_l
  int64_t samples = 0;
  // r_l(tau), interpolated linearly between grid points.
  std::vector<double> fractions_at(double tau) const;
  double min_tau() const { return taus.back(); }
};

// What one input of n0 word-vectors does in every layer.
struct SequencePlan {
  bool dense = true;
  bool dynamic = false;
  double coverage = 1.0;        // dynamic: tau applied per layer
  std::vector<int64_t> counts;  // static: word-vectors leaving each layer
  std::optional<double> predicted_speedup;
  std::optional<double> predicted_ms;
  std::vector<int64_t> expected_counts;  // the schedule the prediction is for
};

// The calibration `knobs` may use for a model of `layers` layers: none when it was made for
// another layer count and the knobs do not need it (none, dense, an explicit keep list), so a
// stale latte.json never blocks dense inference; FormatError naming latte.json when they do.
std::optional<Calibration> usable_calibration(const Knobs& knobs, std::optional<Calibration> calibration,
                                              int64_t layers);

class Planner {
 public:
  // `notices` receives one-line notices (fallbacks, unreachable targets); may be null.
  // The calibration passes through usable_calibration().
  Planner(Knobs knobs, ModelShape shape, std::optional<Calibration> calibration, LatencyModel latency,
          std::ostream* notices);

  // Thread-safe; plans are cached per input length.
  const SequencePlan& plan(int64_t n0) const;
  bool dense() const { return !knobs_.any(); }
  bool has_target() const { return knobs_.speedup || knobs_.latency_ms; }
  PruneMode mode() const { return mode_; }
  int64_t min_keep() const { return knobs_.min_keep; }
  const ModelShape& shape() const { return shape_; }
  const LatencyModel& latency_model() const { return latency_; }

  // Keep counts for n0 when layer l keeps fraction r_l of the input.
  std::vector<int64_t> schedule_from_fractions(int64_t n0, const std::vector<double>& fractions) const;

 private:
  SequencePlan make_plan(int64_t n0) const;
  // r_l for a knob value t in (0, 1]: calibrated curves, or the geometric prior r_l = t^l.
  std::vector<double> fractions(double t) const;
  double lowest_t() const;
  void finish_prediction(int64_t n0, SequencePlan& plan) const;

  Knobs knobs_;
  ModelShape shape_;
  std::optional<Calibration> calibration_;
  LatencyModel latency_;
  PruneMode mode_ = PruneMode::kDynamic;
  std::ostream* notices_ = nullptr;
  mutable std::mutex mutex_;
  mutable std::map<int64_t, SequencePlan> cache_;
  mutable bool warned_unreachable_ = false;
};

}  // namespace latte
