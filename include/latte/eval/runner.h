// Evaluation of a BERT classifier or regressor at several target speedups: the gold labels of
// labelled examples, one planner per target, batched predictions and their task metrics, and
// the latency of every target paired with adjacent dense runs (latte/eval/timing.h).
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "latte/data/examples.h"
#include "latte/eval/timing.h"
#include "latte/models/bert.h"
#include "latte/prune/plan.h"

namespace latte {

// The class id of a label string: the model's own name, the same name in another case, or
// the index k of a model whose labels are the default LABEL_k.
std::optional<int64_t> resolve_label(const std::string& label, const std::vector<std::string>& id2label);

// Gold class ids; InputError for an unlabelled example, or listing the labels the model does
// not know.
std::vector<int64_t> gold_classes(const std::vector<data::LabeledExample>& examples,
                                  const BertConfig& config);
// Gold regression scores; InputError names the first example without one.
std::vector<double> gold_scores(const std::vector<data::LabeledExample>& examples);

// The planner of one target speedup (S = 1 is the dense model: no knob) in `mode` (none: the
// planner's default); notices go to `notes`, which must outlive the planner.
std::unique_ptr<Planner> planner_for(const BertModel& model, double speedup, std::optional<PruneMode> mode,
                                     const Sidecar& sidecar, const LatencyModel& latency,
                                     std::ostream& notes);

// Called with (done, total) as work advances.
using EvalProgress = std::function<void(size_t done, size_t total)>;

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

// What one target speedup gave.
struct SpeedupResult {
  double speedup = 1.0;
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

}  // namespace latte
