#include "latte/eval/runner.h"

#include <algorithm>
#include <set>
#include <sstream>
#include <utility>

#include "latte/core/error.h"
#include "latte/data/glue.h"
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

EvalData load_eval_data(const std::filesystem::path& path, const std::string& task, int64_t max_examples,
                        const BertConfig& config, const Tokenizer& tokenizer, const std::string& model_name,
                        Truncation truncation, const data::RecordOptions& records, std::ostream* notices) {
  EvalData loaded;
  loaded.truncation = truncation;
  if (loaded.truncation.max_length == 0) loaded.truncation.max_length = config.max_position_embeddings;
  const auto keep = [&](data::LabeledExample&& example) {
    Encoding encoding =
        encode_input(tokenizer, example.text, example.text_pair, loaded.truncation, example.origin);
    example.text.clear();
    example.text_pair.reset();
    loaded.inputs.push_back(BertInput{std::move(encoding.ids), std::move(encoding.type_ids)});
    loaded.examples.push_back(std::move(example));
    return max_examples <= 0 || static_cast<int64_t>(loaded.examples.size()) < max_examples;
  };
  if (!task.empty()) {
    const data::GlueTask glue_task = data::parse_glue_task(task);
    if (data::glue_task_is_regression(glue_task) != config.is_regression()) {
      throw InputError(std::string("task ") + data::glue_task_name(glue_task) + " is " +
                       (config.is_regression() ? "classification" : "regression") + " but model " +
                       model_name + " is " + (config.is_regression() ? "a regression" : "a classification") +
                       " model");
    }
    data::for_each_glue_example(path, glue_task, keep);
  } else {
    data::for_each_record(path, records, keep);
  }
  if (loaded.examples.empty()) throw InputError("no examples in " + path.string());
  if (!config.is_regression()) {
    const std::optional<std::string> mapping = data::map_integer_labels(loaded.examples, config.id2label);
    if (mapping && notices) *notices << "latte: notice: " << *mapping << "\n";
  }
  return loaded;
}

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

Knobs EvalTarget::knobs(std::optional<PruneMode> mode) const {
  Knobs knobs;
  if (latency_ms) {
    knobs.latency_ms = latency_ms;
  } else if (speedup > 1.0) {
    knobs.speedup = speedup;
  }
  knobs.mode = mode;
  return knobs;
}

std::unique_ptr<Planner> planner_for(const BertModel& model, const EvalTarget& target,
                                     std::optional<PruneMode> mode, const Sidecar& sidecar,
                                     const LatencyModel& latency, std::ostream& notes) {
  const Knobs knobs = target.knobs(mode);
  knobs.validate(model.shape().layers);
  return std::make_unique<Planner>(knobs, model.shape(), sidecar.calibration, latency, &notes);
}

void NoticeLines::print_new(const std::string& text) {
  if (out_ == nullptr) return;
  std::istringstream lines(text);
  std::string line;
  while (std::getline(lines, line)) {
    if (!line.empty() && seen_.insert(line).second) *out_ << line << "\n";
  }
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
  result.predictions = predictions;
  return result;
}

namespace {

// time_targets() with its progress reported as a stage of `options`.
PairedTiming time_pruned_targets(BertModel& model, const std::vector<BertInput>& inputs,
                                 const std::vector<Planner*>& pruned, const SpeedupRunOptions& options) {
  return time_targets(
      model, inputs, pruned, options.latency_samples,
      [&](size_t done, size_t total) {
        if (options.progress) options.progress(std::nullopt, done, total, "latency, paired with dense");
      },
      options.notices);
}

// The timed runs of `timing` against the measured table of `latency`, to options.latency_check.
void report_latency_check(const BertModel& model, const std::vector<BertInput>& inputs,
                          const PairedTiming& timing, const std::vector<Planner*>& pruned,
                          const LatencyModel& latency, const SpeedupRunOptions& options) {
  if (!options.latency_check || !latency.measured()) return;
  std::vector<int64_t> rows;
  const size_t timed = std::min(inputs.size(), static_cast<size_t>(options.latency_samples));
  for (size_t i = 0; i < timed; ++i) rows.push_back(static_cast<int64_t>(inputs[i].input_ids.size()));
  options.latency_check(check_timing(timing, rows, std::vector<const Planner*>(pruned.begin(), pruned.end()),
                                     latency, model.shape()));
}

// The latency model for `targets`, after checking the calibration they need.
LatencyModel latency_for_targets(const BertModel& model, const std::vector<EvalTarget>& targets,
                                 const Sidecar& sidecar, const LatencySource& latency) {
  bool needs_latency = false;
  for (const EvalTarget& target : targets) {
    usable_calibration(target.knobs(std::nullopt), sidecar.calibration, model.shape().layers);
    needs_latency = needs_latency || !target.dense();
  }
  return latency(needs_latency);
}

std::vector<EvalTarget> speedup_targets(const std::vector<double>& speedups) {
  std::vector<EvalTarget> targets;
  for (const double speedup : speedups) targets.push_back(EvalTarget{.speedup = speedup});
  return targets;
}

}  // namespace

SpeedupEvaluation evaluate_targets(BertModel& model, const std::vector<BertInput>& inputs,
                                   const std::vector<int64_t>& classes, const std::vector<double>& scores,
                                   const std::vector<EvalTarget>& targets, const Sidecar& sidecar,
                                   const LatencySource& latency, const SpeedupRunOptions& options) {
  if (targets.empty()) throw FieldError("speedups", "must list at least one target");
  const LatencyModel latency_model = latency_for_targets(model, targets, sidecar, latency);
  NoticeLines notices(options.notices);
  std::ostringstream notes;  // outlives the planners that write to it
  std::vector<std::unique_ptr<Planner>> planners;
  std::vector<Planner*> pruned;  // timed against dense; a dense target is dense itself
  SpeedupEvaluation evaluation;
  for (const EvalTarget& target : targets) {
    planners.push_back(planner_for(model, target, options.mode, sidecar, latency_model, notes));
    evaluation.results.push_back(evaluate(model, inputs, classes, scores, target.speedup, *planners.back(),
                                          options.batch_size, [&](size_t done, size_t total) {
                                            if (options.progress)
                                              options.progress(target.speedup, done, total, "examples");
                                          }));
    evaluation.results.back().latency_ms = target.latency_ms;
    notices.print_new(notes.str());
    if (!target.dense()) pruned.push_back(planners.back().get());
  }
  const PairedTiming timing = time_pruned_targets(model, inputs, pruned, options);
  notices.print_new(notes.str());
  report_latency_check(model, inputs, timing, pruned, latency_model, options);
  for (size_t s = 0, p = 0; s < evaluation.results.size(); ++s) {
    SpeedupResult& result = evaluation.results[s];
    if (!targets[s].dense()) {
      result.median_ms = timing.variants[p].ms.median;
      result.measured_speedup = timing.variants[p].speedup;
      ++p;
    } else {
      result.median_ms = timing.dense_ms.median;
    }
  }
  evaluation.timed = std::min(inputs.size(), static_cast<size_t>(options.latency_samples));
  evaluation.peak_load = timing.peak_load;
  return evaluation;
}

SpeedupEvaluation evaluate_speedups(BertModel& model, const std::vector<BertInput>& inputs,
                                    const std::vector<int64_t>& classes, const std::vector<double>& scores,
                                    const std::vector<double>& speedups, const Sidecar& sidecar,
                                    const LatencySource& latency, const SpeedupRunOptions& options) {
  return evaluate_targets(model, inputs, classes, scores, speedup_targets(speedups), sidecar, latency,
                          options);
}

std::vector<SweepRow> sweep_speedups(BertModel& model, const std::vector<BertInput>& inputs,
                                     const std::vector<int64_t>& classes, const std::vector<double>& scores,
                                     std::vector<double> speedups, const Sidecar& sidecar,
                                     const LatencySource& latency, const SpeedupRunOptions& options) {
  if (std::find(speedups.begin(), speedups.end(), 1.0) == speedups.end())
    speedups.insert(speedups.begin(), 1.0);
  std::sort(speedups.begin(), speedups.end());
  const std::vector<EvalTarget> targets = speedup_targets(speedups);
  const LatencyModel latency_model = latency_for_targets(model, targets, sidecar, latency);
  std::ostringstream notes;
  std::vector<std::unique_ptr<Planner>> planners;
  std::vector<Planner*> pruned;  // speedups[0] == 1 is dense itself
  for (const EvalTarget& target : targets) {
    planners.push_back(planner_for(model, target, options.mode, sidecar, latency_model, notes));
    if (!target.dense()) pruned.push_back(planners.back().get());
  }

  // Latency: the same inputs, one at a time, every target paired with adjacent dense runs.
  const PairedTiming timing = time_pruned_targets(model, inputs, pruned, options);
  report_latency_check(model, inputs, timing, pruned, latency_model, options);
  const size_t timed = std::min(inputs.size(), static_cast<size_t>(options.latency_samples));
  std::vector<SweepRow> rows;
  for (size_t s = 0; s < speedups.size(); ++s) {
    SweepRow row;
    row.requested_speedup = speedups[s];
    row.measured_ms = timing.dense_ms.median;
    if (s > 0) {
      const VariantTiming& result = timing.variants[s - 1];
      row.measured_ms = result.ms.median;
      row.measured_speedup = result.speedup.median;
      row.measured_speedup_p10 = result.speedup.p10;
      row.measured_speedup_p90 = result.speedup.p90;
    }
    row.predicted_speedup = 0.0;
    row.kept_fraction = 0.0;
    for (size_t i = 0; i < timed; ++i) {
      const auto n0 = static_cast<int64_t>(inputs[i].input_ids.size());
      const SequencePlan& plan = planners[s]->plan(n0);
      row.predicted_speedup += plan.predicted_speedup.value_or(1.0) / static_cast<double>(timed);
      row.predicted_ms += plan.predicted_ms.value_or(0.0) / static_cast<double>(timed);
      double kept = 1.0;
      if (s > 0) {
        const std::vector<int64_t>& counts = timing.variants[s - 1].kept[i];
        kept = 0.0;
        for (const int64_t count : counts) kept += static_cast<double>(count);
        kept /= static_cast<double>(counts.size() * static_cast<size_t>(n0));
      }
      row.kept_fraction += kept / static_cast<double>(timed);
    }
    rows.push_back(row);
  }

  // Quality over all inputs, batched.
  const bool regression = model.config().is_regression();
  if (regression ? !scores.empty() : !classes.empty()) {
    for (size_t s = 0; s < speedups.size(); ++s) {
      const Predictions predictions =
          predict(model, inputs, planners[s].get(), options.batch_size,
                  [&](const std::vector<BertInput>&, const BertOutput&, size_t done) {
                    if (options.progress) options.progress(speedups[s], done, inputs.size(), "examples");
                  });
      rows[s].quality = regression ? eval::pearson(predictions.scores, scores)
                                   : eval::accuracy(predictions.classes, classes);
    }
  }
  NoticeLines(options.notices).print_new(notes.str());
  return rows;
}

}  // namespace latte
