// latte eval: task metrics and measured latency of one checkpoint at several speedups.
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <functional>
#include <iostream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <utility>

#include "common.h"
#include "latte/core/error.h"
#include "latte/data/examples.h"
#include "latte/data/glue.h"
#include "latte/eval/metrics.h"
#include "latte/eval/perplexity.h"
#include "latte/eval/plot.h"
#include "latte/eval/runner.h"
#include "latte/eval/timing.h"
#include "latte/io/atomic_file.h"
#include "latte/models/bert.h"
#include "latte/models/registry.h"
#include "latte/tokenizers/bert_tokenizer.h"
#include "latte/tokenizers/tokenizer.h"

namespace latte::cli {

namespace {

struct EvalOptions {
  std::string model;
  std::string data;
  std::string speedups = "1,2,3";
  std::string task;
  std::string mode;
  bool json = false;
  int batch_size = 16;
  int64_t max_examples = 0;
  int latency_samples = 64;
  int64_t prompt_length = 256;
  int64_t continuation_length = 32;
  bool no_profile = false;
  std::optional<int> threads;
};

class Progress {
 public:
  Progress() : enabled_(::isatty(STDERR_FILENO) == 1) {}
  void update(std::optional<double> speedup, size_t done, size_t total, const char* stage) {
    if (!enabled_) return;
    if (speedup) {
      std::fprintf(stderr, "\reval: speedup %.2f: %s %zu/%zu   ", *speedup, stage, done, total);
    } else {
      std::fprintf(stderr, "\reval: %s %zu/%zu   ", stage, done, total);
    }
    std::fflush(stderr);
  }
  void done() {
    if (enabled_) std::fprintf(stderr, "\r%60s\r", "");
  }

 private:
  bool enabled_;
};

// The progress of time_targets() on `progress`.
EvalProgress latency_progress(Progress& progress) {
  return [&progress](size_t done, size_t total) {
    progress.update(std::nullopt, done, total, "latency, paired with dense");
  };
}

std::string fixed(double value, int decimals) {
  char buffer[64];
  std::snprintf(buffer, sizeof(buffer), "%.*f", decimals, value);
  return buffer;
}

// The examples of --data (JSONL, or a GLUE TSV with --task) and their encodings. Every speedup
// runs over all of them, so the encodings are kept; the texts are not (examples keep only their
// label, score and origin), and reading stops after --max examples.
struct LoadedData {
  std::vector<data::LabeledExample> examples;
  std::vector<BertInput> inputs;
};

LoadedData load_data(const std::string& path, const std::string& task_name, int64_t max_examples,
                     const BertConfig& config, const BertTokenizer& tokenizer,
                     const std::filesystem::path& folder) {
  LoadedData loaded;
  const auto keep = [&](data::LabeledExample&& example) {
    const TextInput input{std::move(example.text), std::move(example.text_pair), std::nullopt,
                          example.origin};
    Encoding encoding = encode_input(tokenizer, input, config.max_position_embeddings);
    loaded.inputs.push_back(BertInput{std::move(encoding.ids), std::move(encoding.type_ids)});
    loaded.examples.push_back(std::move(example));
    return max_examples <= 0 || static_cast<int64_t>(loaded.examples.size()) < max_examples;
  };
  if (!task_name.empty()) {
    const data::GlueTask task = data::parse_glue_task(task_name);
    if (data::glue_task_is_regression(task) != config.is_regression()) {
      throw InputError(std::string("task ") + data::glue_task_name(task) + " is " +
                       (config.is_regression() ? "classification" : "regression") + " but model " +
                       folder.string() + " is " +
                       (config.is_regression() ? "a regression" : "a classification") + " model");
    }
    data::for_each_glue_example(path, task, keep);
  } else {
    data::for_each_labeled_jsonl(path, keep);
  }
  if (loaded.examples.empty()) throw InputError("no examples in " + path);
  return loaded;
}

}  // namespace

// --task lm: perplexity and next-token accuracy of continuations after (pruned) prompts, and the
// prefill's measured speedup, per target.
void evaluate_language_model(const EvalOptions& options, const std::vector<double>& speedups,
                             const std::filesystem::path& folder) {
  std::unique_ptr<CausalLm> model = load_causal_lm(folder);
  const std::unique_ptr<Tokenizer> tokenizer = load_tokenizer(folder);
  check_tokenizer_fits(*tokenizer, model->vocab_size(), folder / "config.json");
  if (options.prompt_length + options.continuation_length > model->max_positions()) {
    throw InputError("--prompt-len + --continuation-len is " +
                     std::to_string(options.prompt_length + options.continuation_length) +
                     "; the model takes at most " + std::to_string(model->max_positions()) + " tokens");
  }
  // The passages as one token stream, each followed by the end-of-text token when there is one.
  const int64_t window = options.prompt_length + options.continuation_length;
  const int64_t wanted = options.max_examples > 0 ? options.max_examples * window : 0;
  std::vector<int32_t> stream;
  InputReader reader = InputReader::from_file(options.data);
  for (TextInput input;
       (wanted == 0 || static_cast<int64_t>(stream.size()) < wanted) && reader.next(input);) {
    const Encoding encoding = tokenizer->encode(input.text, 0);
    stream.insert(stream.end(), encoding.ids.begin(), encoding.ids.end());
    if (const std::optional<int32_t> eos = model->eos_token_id()) stream.push_back(*eos);
  }
  const std::vector<LmWindow> windows =
      lm_windows(stream, options.prompt_length, options.continuation_length, options.max_examples);

  std::vector<std::unique_ptr<Planner>> planners;
  std::optional<LatencyModel> latency;
  for (const double speedup : speedups) {
    PruneOptions knob;
    knob.speedup = speedup;
    knob.mode = options.mode;
    knob.no_profile = options.no_profile;
    planners.push_back(make_planner(knob, model->shape(), folder, [&](bool needs) {
      if (!latency || (needs && !latency->measured())) {
        latency = decoder_latency_for(*model, needs, options.no_profile);
      }
      return *latency;
    }));
  }
  // Prefill latency, every target paired with adjacent dense runs on the same prompts.
  const size_t timed = std::min(windows.size(), static_cast<size_t>(options.latency_samples));
  std::vector<const Planner*> timed_planners;
  for (const auto& planner : planners) timed_planners.push_back(planner.get());
  PairedTimingOptions timing_options;
  timing_options.notices = &std::cerr;
  const PairedTiming timing = time_paired(
      timed, timed_planners.size(),
      [&](size_t input, int variant) {
        KvCache cache = model->new_cache();
        DecoderOptions prefill;
        prefill.planner = variant < 0 ? nullptr : timed_planners[static_cast<size_t>(variant)];
        return PassResult{model->forward(windows[input].prompt, cache, prefill).kept, std::nullopt};
      },
      timing_options);

  if (!options.json) {
    std::printf("%zu windows of %lld prompt + %lld continuation tokens; prefill timed on %zu prompts\n",
                windows.size(), static_cast<long long>(options.prompt_length),
                static_cast<long long>(options.continuation_length), timed);
    std::printf("%8s %11s %9s %9s %10s %9s %10s %6s\n", "speedup", "perplexity", "nll", "next_acc", "ttft_ms",
                "measured", "predicted", "kept");
  }
  for (size_t s = 0; s < speedups.size(); ++s) {
    const Planner* planner = planners[s].get();
    const LmScore score = score_continuations(*model, windows, planner->dense() ? nullptr : planner);
    const VariantTiming& time = timing.variants[s];
    const double predicted = planner->plan(options.prompt_length).predicted_speedup.value_or(1.0);
    if (options.json) {
      nlohmann::json line = {{"speedup", speedups[s]},
                             {"perplexity", score.perplexity},
                             {"mean_nll", score.mean_nll},
                             {"next_token_accuracy", score.next_token_accuracy},
                             {"tokens", score.tokens},
                             {"windows", windows.size()},
                             {"median_ms", time.ms.median},
                             {"measured_speedup", time.speedup.median},
                             {"measured_speedup_p10", time.speedup.p10},
                             {"measured_speedup_p90", time.speedup.p90},
                             {"predicted_speedup", predicted},
                             {"kept_fraction", score.kept_fraction}};
      std::cout << line.dump() << "\n";
    } else {
      std::printf("%8.2f %11.3f %9.4f %9.4f %10.2f %8.2fx %9.2fx %6.3f\n", speedups[s], score.perplexity,
                  score.mean_nll, score.next_token_accuracy, time.ms.median, time.speedup.median, predicted,
                  score.kept_fraction);
    }
  }
}

void add_eval_command(CLI::App& app) {
  auto* command = app.add_subcommand(
      "eval", "Accuracy / macro-F1 / MCC (or Pearson / Spearman) and measured latency at several speedups");
  auto options = std::make_shared<EvalOptions>();
  command->add_option("--model", options->model, kModelHelp);
  command
      ->add_option("--data", options->data,
                   "Labelled data: JSONL {\"text\", \"text_pair\"?, \"label\"}, or a GLUE TSV with --task")
      ->required();
  command->add_option("--speedups", options->speedups, "Comma-separated target speedups, 1 = dense")
      ->capture_default_str();
  command->add_option(
      "--task", options->task,
      "Read --data as the GLUE TSV of this task: cola, sst-2, mrpc, sts-b, qqp, mnli, qnli, rte, wnli; or "
      "lm: perplexity of a decoder on text (one passage per line)");
  command->add_option("--prompt-len", options->prompt_length, "--task lm: prompt tokens per window (pruned)")
      ->check(CLI::Range(int64_t{1}, int64_t{1} << 20))
      ->capture_default_str();
  command
      ->add_option("--continuation-len", options->continuation_length, "--task lm: tokens scored per window")
      ->check(CLI::Range(int64_t{1}, int64_t{1} << 20))
      ->capture_default_str();
  command
      ->add_option("--mode", options->mode, "static (calibrated keep fractions) or dynamic (tau per input)")
      ->check(CLI::IsMember({"static", "dynamic"}));
  command->add_option("--batch-size", options->batch_size, "Inputs per forward pass for the metrics")
      ->check(CLI::Range(1, 4096))
      ->capture_default_str();
  command->add_option("--max", options->max_examples, "Use only the first N examples (0 = all)")
      ->check(CLI::NonNegativeNumber);
  command
      ->add_option("--latency-samples", options->latency_samples,
                   "Inputs timed one at a time, each speedup paired with adjacent dense runs")
      ->check(CLI::Range(1, 1 << 20))
      ->capture_default_str();
  add_no_profile_option(*command, options->no_profile);
  add_threads_option(*command, options->threads);
  command->add_flag(
      "--json", options->json,
      "One JSON object per speedup: {\"speedup\", \"accuracy\", \"macro_f1\", \"mcc\" (or \"pearson\", "
      "\"spearman\"), \"median_ms\", \"predicted_speedup\", \"measured_speedup\", ...}");
  command->callback([options] {
    setup_threads(options->threads);
    std::vector<double> speedups = parse_number_list(options->speedups, "--speedups");
    for (const double speedup : speedups) {
      if (!(speedup >= 1.0)) throw InputError("--speedups: " + fixed(speedup, 3) + " is below 1 (1 = dense)");
    }
    const auto folder = model_folder(options->model);
    if (options->task == "lm") {
      evaluate_language_model(*options, speedups, folder);
      return;
    }
    if (model_family(folder) == ModelFamily::kGpt2) {
      throw InputError(folder.string() + " holds a gpt2 model: evaluate it with --task lm");
    }
    BertModel model = BertModel::load(folder);
    const BertConfig& config = model.config();
    if (!config.has_classifier()) {
      throw InputError("model " + folder.string() + " is a " + config.architecture +
                       " without a classification head; eval needs BertForSequenceClassification");
    }
    const BertTokenizer tokenizer = load_bert_tokenizer(folder, config);

    const LoadedData loaded =
        load_data(options->data, options->task, options->max_examples, config, tokenizer, folder);
    const std::vector<data::LabeledExample>& examples = loaded.examples;
    const std::vector<BertInput>& inputs = loaded.inputs;
    std::vector<int64_t> classes;
    std::vector<double> scores;
    if (config.is_regression()) {
      scores = gold_scores(examples);
    } else {
      classes = gold_classes(examples, config);
    }

    const Sidecar sidecar = Sidecar::read(folder, &std::cerr);
    const double fastest = *std::max_element(speedups.begin(), speedups.end());
    usable_calibration(Knobs{.speedup = fastest}, sidecar.calibration,
                       config.num_layers);  // before profiling
    const bool needs_latency = fastest > 1.0;
    const LatencyModel latency =
        latency_for(config, needs_latency, options->no_profile, [&]() -> BertModel& { return model; });
    Notices notices;
    Progress progress;
    std::vector<SpeedupResult> results;
    std::vector<std::unique_ptr<Planner>> planners;
    std::vector<Planner*> pruned;  // timed against dense; S = 1 is dense itself
    std::ostringstream notes;      // outlives the planners that write to it
    for (const double speedup : speedups) {
      planners.push_back(
          planner_for(model, speedup, parse_prune_mode(options->mode), sidecar, latency, notes));
      results.push_back(evaluate(
          model, inputs, classes, scores, speedup, *planners.back(), static_cast<size_t>(options->batch_size),
          [&](size_t done, size_t total) { progress.update(speedup, done, total, "examples"); }));
      notices.print_new(notes.str());
      if (speedup > 1.0) pruned.push_back(planners.back().get());
    }
    const PairedTiming timing =
        time_targets(model, inputs, pruned, options->latency_samples, latency_progress(progress), &std::cerr);
    notices.print_new(notes.str());
    const double dense_ms = timing.dense_ms.median;
    for (size_t s = 0, p = 0; s < results.size(); ++s) {
      if (results[s].speedup > 1.0) {
        results[s].median_ms = timing.variants[p].ms.median;
        results[s].measured_speedup = timing.variants[p].speedup;
        ++p;
      } else {
        results[s].median_ms = dense_ms;
      }
    }
    progress.done();

    const std::vector<std::string> metric_names =
        config.is_regression() ? std::vector<std::string>{"pearson", "spearman"}
                               : std::vector<std::string>{"accuracy", "macro_f1", "mcc"};
    if (options->json) {
      for (const SpeedupResult& result : results) {
        nlohmann::ordered_json line;  // keys in the documented order, speedup first
        line["speedup"] = result.speedup;
        for (const std::string& name : metric_names) line[name] = result.metrics.at(name);
        line["median_ms"] = result.median_ms;
        line["predicted_speedup"] = result.predicted_speedup;
        line["measured_speedup"] = result.measured_speedup.median;
        line["measured_speedup_p10"] = result.measured_speedup.p10;
        line["measured_speedup_p90"] = result.measured_speedup.p90;
        line["kept_fraction"] = result.kept_fraction;
        line["examples"] = examples.size();
        if (timing.peak_load) line["load_average"] = *timing.peak_load;
        std::cout << line.dump() << "\n";
      }
      return;
    }
    const size_t timed = std::min(examples.size(), static_cast<size_t>(options->latency_samples));
    std::cout << "model " << folder.string() << ", data " << options->data << ": " << examples.size()
              << " examples, latency over " << timed
              << " at batch 1, each speedup paired with adjacent dense runs (median ratio, p10-p90)";
    if (timing.peak_load) std::cout << "; load average up to " << fixed(*timing.peak_load, 2);
    std::cout << "\n";
    std::printf("%8s", "speedup");
    for (const std::string& name : metric_names) std::printf("%10s", name.c_str());
    std::printf("%11s%11s%10s%12s%8s\n", "median_ms", "predicted", "measured", "p10-p90", "kept");
    for (const SpeedupResult& result : results) {
      std::printf("%8s", fixed(result.speedup, 2).c_str());
      for (const std::string& name : metric_names)
        std::printf("%10s", fixed(result.metrics.at(name), 4).c_str());
      std::printf(
          "%11s%11s%10s%12s%8s\n", fixed(result.median_ms, 3).c_str(),
          fixed(result.predicted_speedup, 2).c_str(), fixed(result.measured_speedup.median, 2).c_str(),
          (fixed(result.measured_speedup.p10, 2) + "-" + fixed(result.measured_speedup.p90, 2)).c_str(),
          fixed(result.kept_fraction, 3).c_str());
    }
    std::fflush(stdout);
  });
}

}  // namespace latte::cli

namespace latte::cli {

void add_sweep_command(CLI::App& app) {
  auto* command = app.add_subcommand(
      "sweep",
      "Offline-tuning sweep: predicted vs measured speedup (and accuracy) per target; CSV + SVG plot");
  struct Options {
    std::string model;
    std::string input;
    std::string speedups = "1,1.5,2,3,4,5";
    std::string task;
    std::string mode;
    std::string out = "latte-sweep";
    int64_t max_examples = 0;
    int latency_samples = 32;
    bool json = false;
    bool no_profile = false;
    std::optional<int> threads;
  };
  auto options = std::make_shared<Options>();
  command->add_option("--model", options->model, kModelHelp);
  command
      ->add_option("--input", options->input,
                   "JSONL {\"text\", \"text_pair\"?, \"label\"?} (or GLUE TSV with --task)")
      ->required();
  command->add_option("--speedups", options->speedups, "Target speedups")->capture_default_str();
  command->add_option("--task", options->task, "Read --input as the GLUE TSV of this task");
  command->add_option("--mode", options->mode, "static or dynamic")
      ->check(CLI::IsMember({"static", "dynamic"}));
  command->add_option("--out", options->out, "Writes OUT.csv and OUT.svg")->capture_default_str();
  command->add_option("--max", options->max_examples, "Use only the first N inputs (0 = all)")
      ->check(CLI::NonNegativeNumber);
  command
      ->add_option("--latency-samples", options->latency_samples,
                   "Inputs timed one at a time, each target paired with adjacent dense runs")
      ->check(CLI::Range(1, 1 << 20))
      ->capture_default_str();
  add_no_profile_option(*command, options->no_profile);
  add_threads_option(*command, options->threads);
  command->add_flag("--json", options->json, "One JSON object per speedup");
  command->callback([options] {
    setup_threads(options->threads);
    std::vector<double> speedups = parse_number_list(options->speedups, "--speedups");
    for (const double speedup : speedups) {
      if (!(speedup >= 1.0)) throw InputError("--speedups: " + fixed(speedup, 3) + " is below 1 (1 = dense)");
    }
    if (std::find(speedups.begin(), speedups.end(), 1.0) == speedups.end())
      speedups.insert(speedups.begin(), 1.0);
    std::sort(speedups.begin(), speedups.end());
    const auto folder = model_folder(options->model);
    BertModel model = BertModel::load(folder);
    const BertConfig& config = model.config();
    if (!config.has_classifier()) {
      throw InputError("model " + folder.string() + " has no classification head; sweep needs one");
    }
    const BertTokenizer tokenizer = load_bert_tokenizer(folder, config);
    const LoadedData loaded =
        load_data(options->input, options->task, options->max_examples, config, tokenizer, folder);
    const bool labelled =
        std::all_of(loaded.examples.begin(), loaded.examples.end(), [&](const auto& example) {
          return config.is_regression() ? example.score.has_value() : example.label.has_value();
        });
    std::vector<int64_t> classes;
    std::vector<double> scores;
    if (labelled && config.is_regression()) scores = gold_scores(loaded.examples);
    if (labelled && !config.is_regression()) classes = gold_classes(loaded.examples, config);
    const std::string quality_name = config.is_regression() ? "pearson" : "accuracy";

    const Sidecar sidecar = Sidecar::read(folder, &std::cerr);
    usable_calibration(Knobs{.speedup = speedups.back()}, sidecar.calibration,
                       config.num_layers);  // before profiling
    const LatencyModel latency = latency_for(config, speedups.back() > 1.0, options->no_profile,
                                             [&]() -> BertModel& { return model; });
    std::ostringstream notes;
    std::vector<std::unique_ptr<Planner>> planners;
    std::vector<Planner*> pruned;  // speedups[0] == 1 is dense itself
    for (const double speedup : speedups) {
      planners.push_back(
          planner_for(model, speedup, parse_prune_mode(options->mode), sidecar, latency, notes));
      if (speedup > 1.0) pruned.push_back(planners.back().get());
    }

    // Latency: the same inputs, one at a time, every target paired with adjacent dense runs.
    Progress progress;
    const PairedTiming timing = time_targets(model, loaded.inputs, pruned, options->latency_samples,
                                             latency_progress(progress), &std::cerr);
    const size_t timed = std::min(loaded.inputs.size(), static_cast<size_t>(options->latency_samples));
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
        const auto n0 = static_cast<int64_t>(loaded.inputs[i].input_ids.size());
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
    if (labelled) {
      for (size_t s = 0; s < speedups.size(); ++s) {
        const Predictions predictions =
            predict(model, loaded.inputs, planners[s].get(), 16,
                    [&](const std::vector<BertInput>&, const BertOutput&, size_t done) {
                      progress.update(speedups[s], done, loaded.inputs.size(), "examples");
                    });
        rows[s].quality = config.is_regression() ? eval::pearson(predictions.scores, scores)
                                                 : eval::accuracy(predictions.classes, classes);
      }
    }
    progress.done();
    Notices notices;
    notices.print_new(notes.str());

    write_file_atomic(options->out + ".csv", sweep_csv(rows, quality_name));
    write_file_atomic(options->out + ".svg",
                      sweep_svg(rows, "latte sweep: " + folder.filename().string(), quality_name));
    for (const SweepRow& row : rows) {
      if (options->json) {
        nlohmann::ordered_json line;
        line["speedup"] = row.requested_speedup;
        line["predicted_speedup"] = row.predicted_speedup;
        line["measured_speedup"] = row.measured_speedup;
        line["measured_speedup_p10"] = row.measured_speedup_p10;
        line["measured_speedup_p90"] = row.measured_speedup_p90;
        line["predicted_ms"] = row.predicted_ms;
        line["measured_ms"] = row.measured_ms;
        line["kept_fraction"] = row.kept_fraction;
        if (row.quality) line[quality_name] = *row.quality;
        std::cout << line.dump() << "\n";
      }
    }
    if (!options->json) {
      std::printf("%8s %10s %9s %12s %12s %12s %6s %9s\n", "speedup", "predicted", "measured", "p10-p90",
                  "predicted_ms", "measured_ms", "kept", quality_name.c_str());
      for (const SweepRow& row : rows) {
        std::printf("%8.2f %9.2fx %8.2fx %12s %12.3f %12.3f %6.3f %9s\n", row.requested_speedup,
                    row.predicted_speedup, row.measured_speedup,
                    (fixed(row.measured_speedup_p10, 2) + "-" + fixed(row.measured_speedup_p90, 2)).c_str(),
                    row.predicted_ms, row.measured_ms, row.kept_fraction,
                    row.quality ? fixed(*row.quality, 4).c_str() : "-");
      }
    }
    std::cerr << "latte: wrote " << options->out << ".csv and " << options->out << ".svg\n";
  });
}

}  // namespace latte::cli
