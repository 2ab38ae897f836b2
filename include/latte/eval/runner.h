// Evaluation of a BERT classifier or regressor at several target speedups: the labelled data
// and its gold labels, one planner per target, batched predictions and their task metrics, and
// the latency of every target paired with adjacent dense runs (latte/eval/timing.h).
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <ostream>
#include <set>
#include <string>
#include <vector>

#include "latte/data/examples.h"
#include "latte/data/records.h"
#include "latte/eval/latency_profile.h"
#include "latte/eval/plot.h"
#include "latte/eval/timing.h"
#include "latte/models/bert.h"
#include "latte/prune/plan.h"
#include "latte/prune/sidecar.h"
#include "latte/tokenizers/tokenizer.h"

namespace latte {

// The examples of a data file and the model's encodings of them (truncated to its positions).
// Every target runs over all of them, so the encodings are kept; the texts are not (examples
// keep only their label, score and origin).
struct EvalData {
  std::vector<data::LabeledExample> examples;
  std::vector<BertInput> inputs;
  Truncation truncation;  // the limit applied and how many inputs it cut
};
// Reads `path` as `records` say (latte/data/records.h), or as the GLUE TSV of `task` when it is
// not empty (a regression task for a regression model, a classification task otherwise:
// InputError naming both, the model by `model_name`), stopping after max_examples (0: all).
// InputError when there are none. Inputs are cut to truncation.max_length tokens (0: the model's
// positions), or refused. A classifier's integer labels are read through its id2label
// (data::map_integer_labels), with a notice line on `notices` (may be null) naming the mapping.
EvalData load_eval_data(const std::filesystem::path& path, const std::string& task, int64_t max_examples,
                        const BertConfig& config, const Tokenizer& tokenizer, const std::string& model_name,
                        Truncation truncation = {}, const data::RecordOptions& records = {},
                        std::ostream* notices = nullptr);

// The class id of a label string: the model's own name, the same name in another case, or
// the index k of a model whose labels are the default LABEL_k.
std::optional<int64_t> resolve_label(const std::string& label, const std::vector<std::string>& id2label);

// Gold class ids; InputError for an unlabelled example, or listing the labels the model does
// not know.
std::vector<int64_t> gold_classes(const std::vector<data::LabeledExample>& examples,
                                  const BertConfig& config);
// Gold regression scores; InputError names the first example without one.
std::vector<double> gold_scores(const std::vector<data::LabeledExample>& examples);

// A target of an evaluation: a speedup S (1: the dense model, no knob), or a latency budget per
// input in ms (the planner keeps the most word-vectors whose predicted time fits it).
struct EvalTarget {
  double speedup = 1.0;
  std::optional<double> latency_ms;  // when set, the target is this budget, not `speedup`

  bool dense() const { return !latency_ms && speedup <= 1.0; }
  Knobs knobs(std::optional<PruneMode> mode) const;
};

// The planner of one target in `mode` (none: the planner's default); notices go to `notes`,
// which must outlive the planner.
std::unique_ptr<Planner> planner_for(const BertModel& model, const EvalTarget& target,
                                     std::optional<PruneMode> mode, const Sidecar& sidecar,
                                     const LatencyModel& latency, std::ostream& notes);

// Called with (done, total) as work advances.
using EvalProgress = std::function<void(size_t done, size_t total)>;

// The planners' one-line notices, each written to `out` once however many targets repeat it.
class NoticeLines {
 public:
  explicit NoticeLines(std::ostream* out) : out_(out) {}
  // Writes the lines of `text` not written before.
  void print_new(const std::string& text);

 private:
  std::ostream* out_;
  std::set<std::string> seen_;
};

// The latency of every planner over the first `samples` inputs, one at a time (batch 1), each
// paired with adjacent dense runs of the same input. `notices` (may be null) gets a line when
// the machine is busier than its cores.
PairedTiming time_targets(BertModel& model, const std::vector<BertInput>& inputs,
                          const std::vector<Planner*>& planners, int samples, const EvalProgress& progress,
                          std::ostream* notices);

// What a model predicts for every input under one planner: the argmax class (classification)
// or the score (regression), in input order.
struct Predictions {
  std::vector<int64_t> classes;
  std::vector<double> scores;
};
// Sees each batch's inputs and output, and how many inputs are done.
using BatchObserver =
    std::function<void(const std::vector<BertInput>& batch, const BertOutput& output, size_t done)>;
// Runs `inputs` in batches of `batch_size` under `planner` (null: dense).
Predictions predict(BertModel& model, const std::vector<BertInput>& inputs, Planner* planner,
                    size_t batch_size, const BatchObserver& on_batch);

// What one target gave.
struct SpeedupResult {
  double speedup = 1.0;                   // the target speedup (1 for dense and for a latency budget)
  std::optional<double> latency_ms;       // the target's latency budget, when it had one
  Predictions predictions;                // per input, in input order
  std::map<std::string, double> metrics;  // accuracy, macro_f1, mcc or pearson, spearman
  double median_ms = 0.0;
  Spread measured_speedup{1.0, 1.0, 1.0};  // paired dense / pruned ratios
  double predicted_speedup = 1.0;          // mean over the examples of the planner's prediction
  double kept_fraction = 1.0;              // mean over examples and layers of kept / n0
};

// Quality, kept fraction and predicted speedup of `planner` (the target `speedup`) over all
// inputs in batches of `batch_size`, against gold `classes` (classification) or `scores`
// (regression). Timing is left to time_targets().
SpeedupResult evaluate(BertModel& model, const std::vector<BertInput>& inputs,
                       const std::vector<int64_t>& classes, const std::vector<double>& scores, double speedup,
                       Planner& planner, size_t batch_size, const EvalProgress& progress);

// The latency model of the planners, asked for once the targets are known: `needs_latency` when
// a target above 1 needs a measured one (a profile of this machine), else whatever is at hand.
using LatencySource = std::function<LatencyModel(bool needs_latency)>;

// Called as work advances: the target (none while timing every target against dense), what is
// being done ("examples", "latency, paired with dense") and how far.
using TargetProgress =
    std::function<void(std::optional<double> speedup, size_t done, size_t total, const char* stage)>;

// How evaluate_speedups() and sweep_speedups() run their targets.
struct SpeedupRunOptions {
  std::optional<PruneMode> mode;  // none: the planner's default
  size_t batch_size = 16;         // inputs per forward pass for the metrics
  int latency_samples = 64;       // inputs timed one at a time, each target paired with dense runs
  TargetProgress progress;        // may be empty
  // Planner notices (each once) and the busy-machine notice of the timing; may be null.
  std::ostream* notices = nullptr;
  // Gets the timed runs against the measured latency table that planned them (not called with
  // the FLOPs prior), so that the table can keep itself true (recheck_latency_table).
  std::function<void(const LatencyCheck&)> latency_check;
};

// What evaluate_speedups() measured.
struct SpeedupEvaluation {
  std::vector<SpeedupResult> results;  // one per target, in the order given
  size_t timed = 0;                    // inputs timed
  std::optional<double> peak_load;     // highest 1-minute load average seen while timing
};

// Every target over all `inputs`: its metrics against gold `classes` (classification) or
// `scores` (regression), kept fraction and predicted speedup, then its latency paired with
// adjacent dense runs (a dense target is the dense runs themselves). The calibration in
// `sidecar` is checked against the targets before `latency` is asked for (a profile must not
// come before a calibration error).
SpeedupEvaluation evaluate_targets(BertModel& model, const std::vector<BertInput>& inputs,
                                   const std::vector<int64_t>& classes, const std::vector<double>& scores,
                                   const std::vector<EvalTarget>& targets, const Sidecar& sidecar,
                                   const LatencySource& latency, const SpeedupRunOptions& options);
// evaluate_targets() of target speedups (S = 1: dense).
SpeedupEvaluation evaluate_speedups(BertModel& model, const std::vector<BertInput>& inputs,
                                    const std::vector<int64_t>& classes, const std::vector<double>& scores,
                                    const std::vector<double>& speedups, const Sidecar& sidecar,
                                    const LatencySource& latency, const SpeedupRunOptions& options);

// The offline-tuning sweep: one row per target of `speedups` with 1 (dense) added when missing,
// in ascending order. Predicted speedup and time and the kept fraction are means over the timed
// inputs; the quality (accuracy, or Pearson for a regression model) is over all inputs, and only
// when gold `classes` or `scores` are given (not empty).
std::vector<SweepRow> sweep_speedups(BertModel& model, const std::vector<BertInput>& inputs,
                                     const std::vector<int64_t>& classes, const std::vector<double>& scores,
                                     std::vector<double> speedups, const Sidecar& sidecar,
                                     const LatencySource& latency, const SpeedupRunOptions& options);

}  // namespace latte
