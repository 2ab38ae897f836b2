// latte eval: task metrics and measured latency of one checkpoint at several speedups.
#include <algorithm>
#include <cstdio>
#include <iostream>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>
#include <string>

#include "common.h"
#include "latte/core/error.h"
#include "latte/core/progress.h"
#include "latte/eval/encoder_bench.h"
#include "latte/eval/lm_eval.h"
#include "latte/eval/plot.h"
#include "latte/eval/runner.h"
#include "latte/eval/seq2seq_eval.h"
#include "latte/io/atomic_file.h"
#include "latte/models/bert.h"
#include "latte/models/registry.h"
#include "latte/prune/sidecar.h"
#include "latte/tokenizers/bert_tokenizer.h"
#include "latte/tokenizers/tokenizer.h"

namespace latte::cli {

namespace {

struct EvalOptions {
  std::string model;
  std::string data;
  std::string speedups = "1,2,3";
  std::optional<double> latency_ms;  // a latency budget target instead of the speedups
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
  std::string dtype;  // empty: as the folder stores it
  RecordFlags records;
  TruncationOptions truncation;
  bool truncation_baseline = false;  // encoder-decoders: the prompt-truncation arm
  std::string predictions;           // encoder-decoders: every answer, as JSONL
};

// --task lm: perplexity and next-token accuracy of continuations after (pruned) prompts, and the
// prefill's measured speedup, per target.
void evaluate_language_model(const EvalOptions& options, const std::vector<double>& speedups,
                             const std::filesystem::path& folder) {
  std::unique_ptr<CausalLm> model = load_causal_lm(folder, requested_precision(options.dtype, folder));
  const std::unique_ptr<Tokenizer> tokenizer = load_tokenizer(folder);
  check_tokenizer_fits(*tokenizer, model->vocab_size(), folder / "config.json");
  std::vector<LmWindow> windows;
  try {
    windows =
        read_lm_windows(options.data, *model, *tokenizer, options.prompt_length, options.continuation_length,
                        options.max_examples, record_options(options.records));
  } catch (const FieldError& error) {
    throw in_flag_terms(error);
  }
  LmEvalOptions eval_options;
  eval_options.mode = parse_prune_mode(options.mode);
  eval_options.latency_samples = options.latency_samples;
  eval_options.truncation_baseline = options.truncation_baseline;
  eval_options.notices = &std::cerr;
  eval_options.latency_check = decoder_latency_checker(*model, options.no_profile);
  const LmEvaluation evaluation = evaluate_lm_speedups(
      *model, windows, speedups, Sidecar::read(folder, &std::cerr),
      [&](bool needs) { return decoder_latency_for(*model, needs, options.no_profile); }, eval_options);

  if (!options.json) {
    std::printf("%zu windows of %lld prompt + %lld continuation tokens; prefill timed on %zu prompts\n",
                windows.size(), static_cast<long long>(options.prompt_length),
                static_cast<long long>(options.continuation_length), evaluation.timed);
    std::printf("%8s %11s %9s %9s %10s %9s %10s %6s %9s  %s\n", "speedup", "perplexity", "nll", "next_acc",
                "ttft_ms", "measured", "predicted", "kept", "kv_MB", "ppl vs S=1 [95% CI over windows]");
  }
  // The S = 1 target, if asked for: each other target's perplexity change is paired with it.
  const auto dense = std::find_if(evaluation.targets.begin(), evaluation.targets.end(),
                                  [](const LmTargetResult& target) { return target.speedup == 1.0; });
  char fingerprint[17];
  std::snprintf(fingerprint, sizeof fingerprint, "%016llx",
                static_cast<unsigned long long>(windows_fingerprint(windows)));
  for (const LmTargetResult& target : evaluation.targets) {
    const LmScore& score = target.score;
    const VariantTiming& time = target.timing;
    const double predicted = target.predicted_speedup;
    std::optional<PairedEstimate> change;
    if (dense != evaluation.targets.end())
      change = perplexity_change(dense->score.window_nll, score.window_nll);
    if (options.json) {
      nlohmann::json line = {{"speedup", target.speedup},
                             {"arm", target.arm},
                             {"prompt_tokens", target.prompt_tokens},
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
                             {"kept_fraction", score.kept_fraction},
                             {"kv_cache_bytes", score.kv_cache_bytes},
                             {"window_nll", score.window_nll},
                             {"windows_fingerprint", fingerprint}};
      if (change) {
        line["perplexity_change_pct"] = change->value;
        line["perplexity_change_ci95_pct"] = {change->low, change->high};
      }
      std::cout << line.dump() << "\n";
    } else {
      std::string change_text = "-";
      if (change) {
        char buffer[64];
        std::snprintf(buffer, sizeof buffer, "%+.2f%% [%+.2f, %+.2f]", change->value, change->low,
                      change->high);
        change_text = buffer;
      }
      std::printf("%8.2f %11.3f %9.4f %9.4f %10.2f %8.2fx %9.2fx %6.3f %9.2f  %s\n", target.speedup,
                  score.perplexity, score.mean_nll, score.next_token_accuracy, time.ms.median,
                  time.speedup.median, predicted, score.kept_fraction, score.kv_cache_bytes / 1e6,
                  change_text.c_str());
      if (target.arm == "truncate")
        std::printf("         ^ truncate: the prompt's last %lld tokens, dense\n",
                    static_cast<long long>(target.prompt_tokens));
    }
  }
}

// An encoder-decoder on instruction data (`latte data instruct`): exact match, accuracy and
// macro-F1 per task and prompting style, and the encoder and end-to-end speedups measured beside
// them, every target paired with the first.
void evaluate_seq2seq(const EvalOptions& options, const std::vector<double>& speedups,
                      const std::filesystem::path& folder) {
  const std::unique_ptr<Seq2SeqLm> model =
      load_seq2seq_lm(folder, requested_precision(options.dtype, folder));
  const std::unique_ptr<Tokenizer> tokenizer = load_tokenizer(folder);
  check_tokenizer_fits(*tokenizer, model->vocab_size(), folder / "config.json");
  const std::vector<data::InstructExample> examples =
      data::read_instruct_examples(options.data, options.max_examples);
  Knobs base;
  base.mode = parse_prune_mode(options.mode);
  std::ostringstream notes;
  // Speedup 1 is the dense model (no scores computed); the others eliminate.
  std::vector<double> pruned;
  for (const double speedup : speedups) {
    if (speedup > 1.0) pruned.push_back(speedup);
  }
  std::vector<std::unique_ptr<Planner>> planners;
  if (!pruned.empty()) {
    planners = target_planners(
        model->encoder_shape(), base, pruned, Sidecar::read(folder, &std::cerr),
        [&](bool needs) { return seq2seq_latency_for(*model, needs, options.no_profile); }, notes);
  }
  NoticeLines(&std::cerr).print_new(notes.str());
  std::vector<Seq2SeqEvalTarget> targets;
  size_t next_planner = 0;
  for (const double speedup : speedups) {
    if (speedup > 1.0) {
      targets.push_back({speedup, planners[next_planner++].get(), {}, "eliminate"});
    } else {
      targets.push_back({speedup, nullptr, {}, "dense"});
    }
  }
  if (options.truncation_baseline) {
    // The same targets reached by cutting the source instead: the longest prefix whose dense
    // encoder the latency model predicts to take 1/S of the whole source's.
    const ModelShape shape = model->encoder_shape();
    const LatencyModel latency = seq2seq_latency_for(*model, true, options.no_profile);
    for (const double speedup : speedups) {
      if (speedup <= 1.0) continue;
      const auto length = [latency, shape, speedup](int64_t n) {
        return truncation_length(latency, shape, n, speedup);
      };
      targets.push_back({speedup, nullptr, length, "truncate"});
    }
  }

  Progress progress;
  Seq2SeqEvalOptions run;
  run.on_progress = [&](size_t done, size_t total) {
    progress.update(std::nullopt, done, total, "generate");
  };
  const Seq2SeqRuns runs = run_seq2seq_targets(*model, *tokenizer, examples, targets, run);
  progress.done();
  if (runs.truncated_sources > 0) {
    std::cerr << "latte: notice: " << runs.truncated_sources << " of " << examples.size()
              << " sources were longer than the model's " << model->max_source_tokens()
              << " tokens: their first tokens and the final </s> were kept\n";
  }
  if (!options.predictions.empty()) {
    std::string lines;
    for (size_t t = 0; t < targets.size(); ++t) {
      for (size_t i = 0; i < examples.size(); ++i) {
        const Seq2SeqPrediction& prediction = runs.predictions[t][i];
        nlohmann::ordered_json line;
        line["id"] = examples[i].id;
        line["task"] = examples[i].task;
        line["style"] = examples[i].style;
        line["speedup"] = targets[t].speedup;
        line["arm"] = targets[t].arm;
        line["answer"] = prediction.text;
        line["target"] = examples[i].target;
        line["exact"] = prediction.exact;
        line["encoder_ms"] = prediction.encoder_seconds * 1e3;
        line["total_ms"] = prediction.total_seconds * 1e3;
        line["kept_fraction"] = prediction.kept_fraction;
        lines += line.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
      }
    }
    write_file_atomic(options.predictions, lines);
  }
  const auto scores = score_seq2seq_runs(examples, runs);
  const auto interval = [](const PairedEstimate& estimate) {
    return nlohmann::ordered_json::array({estimate.low, estimate.high});
  };
  if (!options.json) {
    std::cout << "model " << folder.string() << ", data " << options.data << ": " << examples.size()
              << " examples, greedy answers of up to " << runs.max_new_tokens
              << " tokens; every target run in turn on each example; changes and speedups against speedup "
              << fixed(speedups.front(), 2) << ", 95% intervals over examples\n";
    if (options.truncation_baseline) {
      std::cout
          << "arm truncate: no elimination, each source cut to the tokens whose dense encoder is predicted "
             "to take 1/S of the whole source's\n";
    }
    std::printf("%7s %-9s %-6s %-8s %5s %22s %22s %24s %9s %9s %7s %7s %7s %6s\n", "speedup", "arm", "task",
                "style", "n", "exact [95% CI]", "macro_f1 [95% CI]", "change [95% CI]", "enc_ms", "total_ms",
                "pred_x", "enc_x", "total_x", "kept");
  }
  for (size_t t = 0; t < scores.size(); ++t) {
    for (const Seq2SeqGroupScore& score : scores[t]) {
      if (options.json) {
        nlohmann::ordered_json line;
        line["speedup"] = targets[t].speedup;
        line["arm"] = targets[t].arm;
        line["task"] = score.task;
        line["style"] = score.style;
        line["examples"] = score.examples;
        line["max_new_tokens"] = runs.max_new_tokens;
        line["exact_match"] = score.exact_match.value;
        line["exact_match_ci95"] = interval(score.exact_match);
        if (score.macro_f1) {
          line["accuracy"] = score.exact_match.value;
          line["macro_f1"] = score.macro_f1->value;
          line["macro_f1_ci95"] = interval(*score.macro_f1);
        }
        if (score.change) {
          line["exact_match_change"] = score.change->value;
          line["exact_match_change_ci95"] = interval(*score.change);
        }
        line["encoder_ms"] = score.encoder_ms;
        line["total_ms"] = score.total_ms;
        line["predicted_speedup"] = score.predicted_speedup;
        line["measured_encoder_speedup"] = score.encoder_speedup;
        line["measured_speedup"] = score.total_speedup;
        line["kept_fraction"] = score.kept_fraction;
        std::cout << line.dump() << "\n";
        continue;
      }
      const auto with_interval = [](const PairedEstimate& estimate, bool sign) {
        char buffer[64];
        std::snprintf(buffer, sizeof buffer, sign ? "%+.3f [%+.3f, %+.3f]" : "%.3f [%.3f, %.3f]",
                      estimate.value, estimate.low, estimate.high);
        return std::string(buffer);
      };
      std::printf("%7s %-9s %-6s %-8s %5zu %22s %22s %24s %9s %9s %7s %7s %7s %6s\n",
                  fixed(targets[t].speedup, 2).c_str(), targets[t].arm.c_str(), score.task.c_str(),
                  score.style.c_str(), score.examples, with_interval(score.exact_match, false).c_str(),
                  score.macro_f1 ? with_interval(*score.macro_f1, false).c_str() : "-",
                  score.change ? with_interval(*score.change, true).c_str() : "-",
                  fixed(score.encoder_ms, 2).c_str(), fixed(score.total_ms, 2).c_str(),
                  (fixed(score.predicted_speedup, 2) + "x").c_str(),
                  (fixed(score.encoder_speedup, 2) + "x").c_str(),
                  (fixed(score.total_speedup, 2) + "x").c_str(), fixed(score.kept_fraction, 3).c_str());
    }
  }
  std::fflush(stdout);
}

}  // namespace

void add_eval_command(CLI::App& app) {
  auto* command = app.add_subcommand(
      "eval", "Accuracy / macro-F1 / MCC (or Pearson / Spearman) and measured latency at several speedups");
  auto options = std::make_shared<EvalOptions>();
  command->add_option("--model", options->model, kModelHelp);
  command
      ->add_option("--data,--input", options->data,
                   "Labelled data: JSONL {\"text\", \"text_pair\"?, \"label\"}, CSV or TSV with a header row "
                   "(see --format and --*-field), or a GLUE TSV with --task")
      ->required();
  add_record_options(*command, options->records);
  command->add_option("--speedups", options->speedups, "Comma-separated target speedups, 1 = dense")
      ->capture_default_str();
  command->add_option(
      "--latency-ms", options->latency_ms,
      "Evaluate dense and the plan for this latency budget per input (ms) instead of --speedups");
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
  add_target_run_options(*command, options->mode, options->batch_size, options->max_examples,
                         options->latency_samples);
  add_no_profile_option(*command, options->no_profile);
  add_threads_option(*command, options->threads);
  add_dtype_option(*command, options->dtype);
  add_truncation_options(*command, options->truncation);
  command->add_flag(
      "--truncation-baseline", options->truncation_baseline,
      "Encoder-decoders and --task lm: also run each speedup by cutting the source (the prompt, to "
      "its last tokens) to the length that takes as long, without elimination (the baseline a user "
      "would try first)");
  command->add_option("--predictions", options->predictions,
                      "Encoder-decoders: write every generated answer to this JSONL file");
  command->add_flag(
      "--json", options->json,
      "One JSON object per speedup: {\"speedup\", \"accuracy\", \"macro_f1\", \"mcc\" (or \"pearson\", "
      "\"spearman\"), \"median_ms\", \"predicted_speedup\", \"measured_speedup\", ...}");
  command->callback([options, command] {
    setup_threads(options->threads);
    const std::vector<double> speedups = parse_speedups(options->speedups);
    if (options->latency_ms && command->count("--speedups") > 0)
      throw InputError("give --speedups or --latency-ms, not both");
    if (options->latency_ms && options->task == "lm")
      throw InputError("eval --task lm takes --speedups; --latency-ms is for classifiers");
    const auto folder = model_folder(options->model);
    const bool seq2seq = model_family(folder).kind == ModelKind::kSeq2SeqLm;
    if (!seq2seq && !options->predictions.empty()) {
      throw InputError("--predictions applies to encoder-decoders (T5); " + folder.string() +
                       " holds another kind of model");
    }
    if (!seq2seq && options->truncation_baseline && options->task != "lm") {
      throw InputError("--truncation-baseline applies to encoder-decoders (T5) and --task lm; " +
                       folder.string() + " holds another kind of model");
    }
    if (options->task == "lm") {
      if (options->truncation.max_length) {
        throw InputError(
            "--max-length does not apply to --task lm: it scores windows of --prompt-len + "
            "--continuation-len tokens");
      }
      evaluate_language_model(*options, speedups, folder);
      return;
    }
    if (seq2seq) {
      if (!options->task.empty() || options->latency_ms || options->truncation.max_length) {
        throw InputError(
            "an encoder-decoder is evaluated on instruction data (latte data instruct): --task, --latency-ms "
            "and --max-length do not apply");
      }
      evaluate_seq2seq(*options, speedups, folder);
      return;
    }
    if (model_family(folder).kind == ModelKind::kCausalLm) {
      throw InputError(folder.string() + " holds a gpt2 model: evaluate it with --task lm");
    }
    BertModel model = BertModel::load(folder, requested_precision(options->dtype, folder));
    const BertConfig& config = model.config();
    if (!config.has_classifier()) {
      throw InputError("model " + folder.string() + " is a " + config.architecture +
                       " without a classification head; eval needs BertForSequenceClassification");
    }
    const BertTokenizer tokenizer = load_bert_tokenizer(folder, config);
    const EvalData loaded = load_labelled_data(options->data, options->task, options->max_examples, config,
                                               tokenizer, folder, options->truncation, options->records);
    const std::vector<data::LabeledExample>& examples = loaded.examples;
    std::vector<int64_t> classes;
    std::vector<double> scores;
    if (config.is_regression()) {
      scores = gold_scores(examples);
    } else {
      classes = gold_classes(examples, config);
    }

    Progress progress;
    SpeedupRunOptions run;
    run.mode = parse_prune_mode(options->mode);
    run.batch_size = static_cast<size_t>(options->batch_size);
    run.latency_samples = options->latency_samples;
    run.progress = target_progress(progress);
    run.notices = &std::cerr;
    std::vector<EvalTarget> targets;
    if (options->latency_ms) {
      PruneOptions budget;
      budget.latency_ms = options->latency_ms;
      knobs_from(budget, config.num_layers);  // a bad budget fails here, naming --latency-ms
      targets = {EvalTarget{}, EvalTarget{.latency_ms = options->latency_ms}};
    } else {
      for (const double speedup : speedups) targets.push_back(EvalTarget{.speedup = speedup});
    }
    run.latency_check = latency_checker(model.config(), model.precision(), options->no_profile,
                                        [&]() -> BertModel& { return model; });
    const SpeedupEvaluation evaluation =
        evaluate_targets(model, loaded.inputs, classes, scores, targets, Sidecar::read(folder, &std::cerr),
                         encoder_latency(model, options->no_profile), run);
    progress.done();
    const std::vector<SpeedupResult>& results = evaluation.results;

    const std::vector<std::string> metric_names =
        config.is_regression() ? std::vector<std::string>{"pearson", "spearman"}
                               : std::vector<std::string>{"accuracy", "macro_f1", "mcc"};
    if (options->json) {
      for (const SpeedupResult& result : results) {
        nlohmann::ordered_json line;  // keys in the documented order, speedup first
        line["speedup"] =
            result.latency_ms ? nlohmann::ordered_json() : nlohmann::ordered_json(result.speedup);
        if (result.latency_ms) line["latency_ms"] = *result.latency_ms;
        for (const std::string& name : metric_names) line[name] = result.metrics.at(name);
        line["median_ms"] = result.median_ms;
        line["predicted_speedup"] = result.predicted_speedup;
        line["measured_speedup"] = result.measured_speedup.median;
        line["measured_speedup_p10"] = result.measured_speedup.p10;
        line["measured_speedup_p90"] = result.measured_speedup.p90;
        line["kept_fraction"] = result.kept_fraction;
        line["examples"] = examples.size();
        if (evaluation.peak_load) line["load_average"] = *evaluation.peak_load;
        std::cout << line.dump() << "\n";
      }
      return;
    }
    std::cout << "model " << folder.string() << ", data " << options->data << ": " << examples.size()
              << " examples, latency over " << evaluation.timed
              << " at batch 1, each speedup paired with adjacent dense runs (median ratio, p10-p90)";
    if (evaluation.peak_load) std::cout << "; load average up to " << fixed(*evaluation.peak_load, 2);
    std::cout << "\n";
    std::printf("%8s", "speedup");
    for (const std::string& name : metric_names) std::printf("%10s", name.c_str());
    std::printf("%11s%11s%10s%12s%8s\n", "median_ms", "predicted", "measured", "p10-p90", "kept");
    for (const SpeedupResult& result : results) {
      std::printf("%8s", result.latency_ms ? ("<=" + fixed(*result.latency_ms, 2) + "ms").c_str()
                                           : fixed(result.speedup, 2).c_str());
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
    std::string dtype;  // empty: as the folder stores it
    RecordFlags records;
    TruncationOptions truncation;
  };
  auto options = std::make_shared<Options>();
  command->add_option("--model", options->model, kModelHelp);
  command
      ->add_option("--data,--input", options->input,
                   "JSONL {\"text\", \"text_pair\"?, \"label\"?}, CSV or TSV with a header row (see --format "
                   "and --*-field), or a GLUE TSV with --task")
      ->required();
  add_record_options(*command, options->records);
  command->add_option("--speedups", options->speedups, "Target speedups")->capture_default_str();
  command->add_option("--task", options->task, "Read --data as the GLUE TSV of this task");
  command->add_option("--mode", options->mode, "static or dynamic")
      ->check(CLI::IsMember({"static", "dynamic"}));
  command->add_option("--out", options->out, "Writes OUT.csv and OUT.svg")->capture_default_str();
  command->add_option("--max", options->max_examples, "Use only the first N inputs (0 = all)")
      ->check(CLI::Range(int64_t{0}, int64_t{1} << 40));
  command
      ->add_option("--latency-samples", options->latency_samples,
                   "Inputs timed one at a time, each target paired with adjacent dense runs")
      ->check(CLI::Range(1, 1 << 20))
      ->capture_default_str();
  add_no_profile_option(*command, options->no_profile);
  add_threads_option(*command, options->threads);
  add_dtype_option(*command, options->dtype);
  add_truncation_options(*command, options->truncation);
  command->add_flag("--json", options->json, "One JSON object per speedup");
  command->callback([options] {
    setup_threads(options->threads);
    const std::vector<double> speedups = parse_speedups(options->speedups);
    const auto folder = model_folder(options->model);
    BertModel model = BertModel::load(folder, requested_precision(options->dtype, folder));
    const BertConfig& config = model.config();
    if (!config.has_classifier()) {
      throw InputError("model " + folder.string() + " has no classification head; sweep needs one");
    }
    const BertTokenizer tokenizer = load_bert_tokenizer(folder, config);
    const EvalData loaded = load_labelled_data(options->input, options->task, options->max_examples, config,
                                               tokenizer, folder, options->truncation, options->records);
    const bool labelled =
        std::all_of(loaded.examples.begin(), loaded.examples.end(), [&](const auto& example) {
          return config.is_regression() ? example.score.has_value() : example.label.has_value();
        });
    std::vector<int64_t> classes;
    std::vector<double> scores;
    if (labelled && config.is_regression()) scores = gold_scores(loaded.examples);
    if (labelled && !config.is_regression()) classes = gold_classes(loaded.examples, config);
    const std::string quality_name = config.is_regression() ? "pearson" : "accuracy";

    Progress progress;
    SpeedupRunOptions run;
    run.mode = parse_prune_mode(options->mode);
    run.latency_samples = options->latency_samples;
    run.progress = target_progress(progress);
    run.notices = &std::cerr;
    run.latency_check = latency_checker(model.config(), model.precision(), options->no_profile,
                                        [&]() -> BertModel& { return model; });
    const std::vector<SweepRow> rows =
        sweep_speedups(model, loaded.inputs, classes, scores, speedups, Sidecar::read(folder, &std::cerr),
                       encoder_latency(model, options->no_profile), run);
    progress.done();

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
