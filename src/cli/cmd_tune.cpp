// latte tune: the speedup a quality or latency budget allows, measured on labelled data, and
// optionally stored in latte.json as the model's default knob.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <iostream>
#include <optional>
#include <string>

#include "common.h"
#include "latte/core/error.h"
#include "latte/core/format.h"
#include "latte/core/threads.h"
#include "latte/eval/runner.h"
#include "latte/eval/tune.h"
#include "latte/models/bert.h"
#include "latte/models/registry.h"
#include "latte/prune/sidecar.h"
#include "latte/tokenizers/bert_tokenizer.h"

namespace latte::cli {

namespace {

struct TuneOptions {
  std::string model;
  std::string data;
  std::string task;
  std::optional<double> max_drop;
  std::optional<double> latency_ms;
  std::string speedups = "1,1.5,2,2.5,3,3.5,4,4.5,5,5.5,6";
  std::string metric = "accuracy";
  std::string mode;
  bool save = false;
  int batch_size = 16;
  int64_t max_examples = 0;
  int latency_samples = 64;
  bool no_profile = false;
  std::optional<int> threads;
  std::string dtype;  // empty: as the folder stores it
  RecordFlags records;
  TruncationOptions truncation;
};

// `value` with its sign always shown; a value that rounds to 0 is "+0.00", never "-0.00".
std::string signed_fixed(double value, int decimals) {
  const std::string text = fixed(value, decimals);
  if (text.find_first_not_of("-0.") == std::string::npos) return "+" + fixed(0.0, decimals);
  return text[0] == '-' ? text : "+" + text;
}

// The change against dense in points, "-0.17 points [-0.52, +0.17]": the loss with its sign flipped.
std::string change_text(const TuneCandidate& candidate) {
  return signed_fixed(-candidate.loss.value, 2) + " points [" + signed_fixed(-candidate.loss.high, 2) + ", " +
         signed_fixed(-candidate.loss.low, 2) + "]";
}

// `text` with control characters as '?': latte.json's knob texts are one printable line.
std::string one_line(std::string text) {
  for (char& c : text) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = '?';
  }
  return text;
}

// The budget of the flags, checked before anything is loaded.
TuneBudget budget_from(const TuneOptions& options) {
  if (options.max_drop.has_value() == options.latency_ms.has_value())
    throw InputError("give exactly one budget: --max-drop POINTS or --latency-ms MS");
  TuneBudget budget{.max_loss = options.max_drop, .latency_ms = options.latency_ms};
  try {
    budget.validate();
  } catch (const FieldError& error) {
    throw in_flag_terms(error);
  }
  return budget;
}

// What the budget asks for and how it is applied, for the output and latte.json.
std::string rule_text(const TuneOptions& options) {
  if (options.max_drop) {
    return "the highest speedup whose " + options.metric +
           " drop vs dense, at the upper end of its 95% interval, is at most " +
           format_number(*options.max_drop) + (*options.max_drop == 1.0 ? " point" : " points");
  }
  return "the most accurate (" + options.metric + ") speedup whose measured median latency is at most " +
         format_number(*options.latency_ms) + " ms (ties: the higher speedup)";
}

}  // namespace

void add_tune_command(CLI::App& app) {
  auto* command = app.add_subcommand(
      "tune", "The fastest speedup within a quality budget, or the most accurate within a latency budget");
  auto options = std::make_shared<TuneOptions>();
  command->add_option("--model", options->model, kModelHelp);
  command
      ->add_option("--data,--input", options->data,
                   "Labelled data: JSONL {\"text\", \"text_pair\"?, \"label\"}, CSV or TSV with a header row "
                   "(see --format and --*-field), or a GLUE TSV with --task")
      ->required();
  add_record_options(*command, options->records);
  add_truncation_options(*command, options->truncation);
  command->add_option("--task", options->task, "Read --data as the GLUE TSV of this task");
  command->add_option("--max-drop", options->max_drop,
                      "Quality budget: the largest drop of --metric vs dense, in points (x100), that the 95% "
                      "interval's upper end may reach");
  command->add_option("--latency-ms", options->latency_ms,
                      "Latency budget: the largest measured median latency per input (batch 1), in ms");
  command->add_option("--speedups", options->speedups, "Comma-separated target speedups (1 is always added)")
      ->capture_default_str();
  command->add_option("--metric", options->metric, "What quality means: accuracy, macro_f1 or mcc")
      ->capture_default_str();
  command->add_flag(
      "--save", options->save,
      "Store the choice in latte.json as the model's default speedup (classify and generate use "
      "it when no knob is given)");
  add_target_run_options(*command, options->mode, options->batch_size, options->max_examples,
                         options->latency_samples);
  add_no_profile_option(*command, options->no_profile);
  add_threads_option(*command, options->threads);
  add_dtype_option(*command, options->dtype);
  command->callback([options] {
    const TuneBudget budget = budget_from(*options);
    const std::vector<std::string>& metrics = tune_metrics();
    if (std::find(metrics.begin(), metrics.end(), options->metric) == metrics.end())
      throw InputError("--metric " + options->metric + ": expected accuracy, macro_f1 or mcc");
    std::vector<double> speedups = parse_speedups(options->speedups);
    if (std::find(speedups.begin(), speedups.end(), 1.0) == speedups.end()) speedups.push_back(1.0);
    std::sort(speedups.begin(), speedups.end());
    speedups.erase(std::unique(speedups.begin(), speedups.end()), speedups.end());
    setup_threads(options->threads);

    const auto folder = model_folder(options->model);
    if (model_family(folder).kind != ModelKind::kEncoder) {
      throw InputError(folder.string() +
                       " is not a BERT classifier: tune supports classifiers for now (a decoder's perplexity "
                       "budget is not there yet; compare speedups with latte eval --task lm)");
    }
    BertModel model = BertModel::load(folder, requested_precision(options->dtype, folder));
    const BertConfig& config = model.config();
    if (!config.has_classifier() || config.is_regression()) {
      throw InputError("model " + folder.string() +
                       " is not a classifier: tune chooses by accuracy, macro_f1 or mcc, which need "
                       "BertForSequenceClassification with labels");
    }
    const BertTokenizer tokenizer = load_bert_tokenizer(folder, config);
    const EvalData loaded = load_labelled_data(options->data, options->task, options->max_examples, config,
                                               tokenizer, folder, options->truncation, options->records);
    const std::vector<int64_t> classes = gold_classes(loaded.examples, config);

    Progress progress("tune");
    SpeedupRunOptions run;
    run.mode = parse_prune_mode(options->mode);
    run.batch_size = static_cast<size_t>(options->batch_size);
    run.latency_samples = options->latency_samples;
    run.progress = target_progress(progress);
    run.notices = &std::cerr;
    const SpeedupEvaluation evaluation =
        evaluate_speedups(model, loaded.inputs, classes, {}, speedups, Sidecar::read(folder, &std::cerr),
                          encoder_latency(model, options->no_profile), run);
    progress.done();
    const std::vector<TuneCandidate> candidates =
        tune_candidates(evaluation, options->metric, classes, config.num_labels);
    const std::optional<size_t> chosen = choose_speedup(candidates, budget);

    std::cout << "model " << folder.string() << ", data " << options->data << ": " << loaded.examples.size()
              << " examples, latency over " << evaluation.timed << " at batch 1 on " << num_threads()
              << " threads, each speedup paired with adjacent dense runs";
    if (evaluation.peak_load) std::cout << "; load average up to " << fixed(*evaluation.peak_load, 2);
    std::cout << "\n"
              << options->metric << " change vs dense in points, 95% interval of a paired bootstrap "
              << "over the examples (2000 draws, the same for every speedup)\n";
    std::printf("%8s%10s%32s%11s%10s%14s%8s%6s\n", "speedup", options->metric.c_str(),
                "change [95% interval]", "median_ms", "measured", "p10-p90", "kept", "fits");
    for (size_t i = 0; i < candidates.size(); ++i) {
      const TuneCandidate& candidate = candidates[i];
      const SpeedupResult& result = evaluation.results[i];
      const bool fits = budget.max_loss ? candidate.loss.high <= *budget.max_loss
                                        : candidate.median_ms <= *budget.latency_ms;
      std::printf(
          "%8s%10s%32s%11s%10s%14s%8s%6s\n", fixed(candidate.speedup, 2).c_str(),
          fixed(candidate.quality, 4).c_str(), change_text(candidate).c_str(),
          fixed(candidate.median_ms, 3).c_str(), (fixed(candidate.measured_speedup, 2) + "x").c_str(),
          (fixed(result.measured_speedup.p10, 2) + "-" + fixed(result.measured_speedup.p90, 2)).c_str(),
          fixed(result.kept_fraction, 3).c_str(), fits ? "yes" : "no");
    }
    std::cout << "rule: " << rule_text(*options) << "\n";
    std::cout.flush();
    if (!chosen) {
      const auto fastest = std::min_element(
          candidates.begin(), candidates.end(),
          [](const TuneCandidate& a, const TuneCandidate& b) { return a.median_ms < b.median_ms; });
      throw InputError("no speedup fits the budget: the fastest, speedup " + format_number(fastest->speedup) +
                       ", took a median " + fixed(fastest->median_ms, 3) + " ms > --latency-ms " +
                       format_number(*options->latency_ms) + "; raise the budget or add higher --speedups");
    }
    const TuneCandidate& pick = candidates[*chosen];
    const std::string measured = options->metric + " " + fixed(pick.quality, 4) + ", " + change_text(pick) +
                                 ", median " + fixed(pick.median_ms, 3) + " ms, " +
                                 fixed(pick.measured_speedup, 2) + "x measured";
    std::cout << "recommended: speedup " << format_number(pick.speedup) << " (" << measured << ")\n";
    std::cout.flush();
    if (!options->save) return;
    DefaultKnob knob;
    knob.speedup = pick.speedup;
    knob.chosen_by = "latte tune " +
                     (options->max_drop
                          ? "--max-drop " + format_number(*options->max_drop) + " --metric " + options->metric
                          : "--latency-ms " + format_number(*options->latency_ms)) +
                     " --data " + one_line(options->data);
    knob.measured = measured + " on " + std::to_string(loaded.examples.size()) + " examples, " +
                    std::to_string(num_threads()) + " threads";
    Sidecar::update(folder, [&](Sidecar& sidecar) { sidecar.default_knob = knob; });
    std::cerr << "latte: saved default speedup " << format_number(knob.speedup) << " in "
              << (folder / "latte.json").string() << "\n";
  });
}

}  // namespace latte::cli
