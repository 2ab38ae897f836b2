#include "latte/eval/runner.h"

#include <algorithm>
#include <set>
#include <utility>

#include "latte/core/error.h"
#include "latte/eval/metrics.h"

namespace latte {

namespace {

std::string lower(std::string text) {
  for (char& c : text) c = (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
  return text;
}

std::string join(const std::vector<std::string>& items) {
  std::string joined;
  for (const std::string& item : items) joined += (joined.empty() ? "" : ", ") + item;
  return joined;
}

}  // namespace

std::optional<int64_t> resolve_label(const std::string& label, const std::vector<std::string>& id2label) {
  for (size_t k = 0; k < id2label.size(); ++k) {
    if (id2label[k] == label) return static_cast<int64_t>(k);
  }
  for (size_t k = 0; k < id2label.size(); ++k) {
    if (lower(id2label[k]) == lower(label)) return static_cast<int64_t>(k);
  }
  for (size_t k = 0; k < id2label.size(); ++k) {
    if (id2label[k] == "LABEL_" + std::to_string(k) && label == std::to_string(k))
      return static_cast<int64_t>(k);
  }
  return std::nullopt;
}

std::vector<int64_t> gold_classes(const std::vector<data::LabeledExample>& examples,
                                  const BertConfig& config) {
  std::vector<int64_t> gold;
  std::vector<std::string> unknown;
  std::set<std::string> reported;
  for (const data::LabeledExample& example : examples) {
    if (!example.label) throw InputError(example.origin + ": example has no label; eval needs labelled data");
    const std::optional<int64_t> id = resolve_label(*example.label, config.id2label);
    if (!id) {
      if (reported.insert(*example.label).second && unknown.size() < 8) {
        unknown.push_back("'" + *example.label + "' (first at " + example.origin + ")");
      }
      continue;
    }
    gold.push_back(*id);
  }
  if (!unknown.empty()) {
    throw InputError("labels not among the model's labels [" + join(config.id2label) + "]: " + join(unknown));
  }
  return gold;
}

std::vector<double> gold_scores(const std::vector<data::LabeledExample>& examples) {
  std::vector<double> gold;
  for (const data::LabeledExample& example : examples) {
    if (!example.score) {
      throw InputError(example.origin + ": example has no numeric label; a regression model needs scores");
    }
    gold.push_back(*example.score);
  }
  return gold;
}

std::unique_ptr<Planner> planner_for(const BertModel& model, double speedup, std::optional<PruneMode> mode,
                                     const Sidecar& sidecar, const LatencyModel& latency,
                                     std::ostream& notes) {
  Knobs knobs;
  if (speedup > 1.0) knobs.speedup = speedup;
  knobs.mode = mode;
  knobs.validate(model.shape().layers);
  return std::make_unique<Planner>(knobs, model.shape(), sidecar.calibration, latency, &notes);
}

PairedTiming time_targets(BertModel& model, const std::vector<BertInput>& inputs,
                          const std::vector<Planner*>& planners, int samples, const EvalProgress& progress,
                          std::ostream* notices) {
  const size_t timed = std::min(inputs.size(), static_cast<size_t>(samples));
  std::vector<std::vector<BertInput>> singles;
  for (size_t i = 0; i < timed; ++i) singles.push_back({inputs[i]});
  std::vector<TimedVariant> variants;
  for (Planner* planner : planners) variants.push_back(TimedVariant{ForwardOptions{.planner = planner}});
  PairedTimingOptions options;
  options.notices = notices;
  options.progress = progress;
  return time_paired(model, singles, variants, options);
}

Predictions predict(BertModel& model, const std::vector<BertInput>& inputs, Planner* planner,
                    size_t batch_size, const BatchObserver& on_batch) {
  const BertConfig& config = model.config();
  Predictions predictions;
  for (size_t start = 0; start < inputs.size(); start += batch_size) {
    const size_t end = std::min(inputs.size(), start + batch_size);
    const std::vector<BertInput> batch(inputs.begin() + static_cast<std::ptrdiff_t>(start),
                                       inputs.begin() + static_cast<std::ptrdiff_t>(end));
    const BertOutput output = model.forward(batch, ForwardOptions{.planner = planner});
    for (size_t b = 0; b < batch.size(); ++b) {
      const float* logits = output.logits.data() + static_cast<int64_t>(b) * config.num_labels;
      if (config.is_regression()) {
        predictions.scores.push_back(logits[0]);
      } else {
        predictions.classes.push_back(std::max_element(logits, logits + config.num_labels) - logits);
      }
    }
    on_batch(batch, output, end);
  }
  return predictions;
}

SpeedupResult evaluate(BertModel& model, const std::vector<BertInput>& inputs,
                       const std::vector<int64_t>& classes, const std::vector<double>& scores, double speedup,
                       Planner& planner, size_t batch_size, const EvalProgress& progress) {
  const BertConfig& config = model.config();
  SpeedupResult result;
  result.speedup = speedup;
  double kept_sum = 0.0, predicted_sum = 0.0;
  const Predictions predictions = predict(
      model, inputs, &planner, batch_size,
      [&](const std::vector<BertInput>& batch, const BertOutput& output, size_t done) {
        for (size_t b = 0; b < batch.size(); ++b) {
          const auto n0 = static_cast<int64_t>(batch[b].input_ids.size());
          const std::vector<int64_t>& kept = output.kept[b];
          double kept_rows = 0.0;
          for (const int64_t rows : kept) kept_rows += static_cast<double>(rows);
          kept_sum +=
              kept.empty() ? 1.0 : kept_rows / (static_cast<double>(kept.size()) * static_cast<double>(n0));
          predicted_sum += planner.plan(n0).predicted_speedup.value_or(1.0);
        }
        progress(done, inputs.size());
      });
  const auto count = static_cast<double>(inputs.size());
  result.kept_fraction = kept_sum / count;
  result.predicted_speedup = predicted_sum / count;
  if (config.is_regression()) {
    result.metrics["pearson"] = eval::pearson(predictions.scores, scores);
    result.metrics["spearman"] = eval::spearman(predictions.scores, scores);
  } else {
    result.metrics["accuracy"] = eval::accuracy(predictions.classes, classes);
    result.metrics["macro_f1"] = eval::macro_f1(predictions.classes, classes, config.num_labels);
    result.metrics["mcc"] = eval::matthews_corrcoef(predictions.classes, classes, config.num_labels);
  }
  return result;
}

}  // namespace latte
