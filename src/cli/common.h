// Pieces shared by the latte subcommands: input files, thread setup, output.
#pragma once

#include <CLI/CLI.hpp>
#include <filesystem>
#include <functional>
#include <iostream>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "latte/core/error.h"
#include "latte/core/progress.h"
#include "latte/data/examples.h"
#include "latte/data/records.h"
#include "latte/eval/runner.h"
#include "latte/models/bert.h"
#include "latte/models/causal_lm.h"
#include "latte/models/seq2seq_lm.h"
#include "latte/prune/plan.h"
#include "latte/tokenizers/bert_tokenizer.h"
#include "latte/tokenizers/tokenizer.h"

namespace latte::cli {

// --threads N, checked against max_num_threads() when parsed.
void add_threads_option(CLI::App& command, std::optional<int>& threads);
// Applies --threads / LATTE_NUM_THREADS.
void setup_threads(std::optional<int> threads);

inline constexpr const char* kModelHelp =
    "Hugging Face model folder (default: LATTE_DEFAULT_MODEL, else the bundled model; see below)";

// Where the bundled default model is looked for, in order: $LATTE_DEFAULT_MODEL alone when set;
// else PREFIX/share/latte/models/default beside an installed binary, models/default beside the
// build folder of a binary built in the source tree, and the source checkout it was built from.
std::vector<std::filesystem::path> default_model_candidates();

// The folder of --model, checked to exist; without --model the first default model candidate
// that holds a config.json.
std::filesystem::path model_folder(const std::string& path);

// --dtype f32|int8|bf16: what the model's products compute in (core/linear.h, Precision).
void add_dtype_option(CLI::App& command, std::string& dtype);
// The Precision of a --dtype value; without one, the folder's (int8 for a `latte quantize`
// folder, else f32). A notice on stderr when this CPU cannot compute in it (the model then
// computes in f32).
Precision requested_precision(const std::string& dtype, const std::filesystem::path& folder);

// --max-length N and --truncate / --no-truncate of the commands that cut over-long inputs.
struct TruncationOptions {
  std::optional<int64_t> max_length;
  bool truncate = true;
};
void add_truncation_options(CLI::App& command, TruncationOptions& options);
// The library's Truncation for a model of `positions` tokens: --max-length checked to lie in
// [min_length, positions] (errors name the flag), else the positions.
Truncation truncation_from(const TruncationOptions& options, int64_t positions, int64_t min_length = 2);
// The run's one notice on stderr when inputs were cut; nothing when none were.
void print_truncation_notice(const Truncation& truncation, int64_t positions);

// The elimination knobs every inference command accepts.
struct PruneOptions {
  std::string keep;
  std::optional<double> coverage;
  std::optional<double> speedup;
  std::optional<double> latency_ms;
  std::string mode;
  int64_t min_keep = 1;
  bool no_profile = false;
  Precision precision = Precision::kF32;  // of the model: which latency table applies
};
void add_prune_options(CLI::App& command, PruneOptions& options);
// --no-profile, or LATTE_NO_PROFILE set (not "0"): predict latency from FLOPs, measure nothing.
bool profiling_off(bool no_profile);
// --no-profile, for commands with their own target lists (eval, sweep, bench --speedups).
void add_no_profile_option(CLI::App& command, bool& no_profile);

// Loads the model on first use: `latte plan` needs it only to profile.
using ModelLoader = std::function<BertModel&()>;

// The latency the planners predict with. With `needs_latency` (a target speedup or budget):
// the cached table of this machine, else a profile of the model now, cached. Otherwise the
// cached table when there is one, else the FLOPs prior. --no-profile or LATTE_NO_PROFILE=1:
// always the FLOPs prior (with a notice when a target needs latency). Notices and progress go
// to stderr.
LatencyModel latency_for(const BertConfig& config, Precision precision, bool needs_latency, bool no_profile,
                         const ModelLoader& model);

// The same for a decoder's prefill (time to first token).
LatencyModel decoder_latency_for(CausalLm& model, bool needs_latency, bool no_profile);
// The same for an encoder-decoder's encoder (with the decoder's memory it projects).
LatencyModel seq2seq_latency_for(Seq2SeqLm& model, bool needs_latency, bool no_profile);

// What a timed run does with its runs against the table latency_for() read: past tolerance, a
// notice on stderr and a fresh profile cached for the next run (recheck_latency_table). Empty
// with --no-profile / LATTE_NO_PROFILE.
using LatencyChecker = std::function<void(const LatencyCheck&)>;
LatencyChecker latency_checker(const BertConfig& config, Precision precision, bool no_profile,
                               ModelLoader model);
LatencyChecker decoder_latency_checker(CausalLm& model, bool no_profile);
LatencyChecker seq2seq_latency_checker(Seq2SeqLm& model, bool no_profile);

// The error of a library setting reworded with the flag that sets it ("speedup must be ..." ->
// "--speedup must be ..."); settings without a flag keep the library's wording.
InputError in_flag_terms(const FieldError& error);

// How a command reads its data or input files: --format, --text-field, --text-pair-field,
// --label-field (latte/data/records.h).
struct RecordFlags {
  std::string format;  // empty: by extension, else by content
  std::string text_field;
  std::string text_pair_field;
  std::string label_field;
};
void add_record_options(CLI::App& command, RecordFlags& flags);
data::RecordOptions record_options(const RecordFlags& flags);

// `read()`, which reads records of a data or input file, with a field the file lacks named by
// the flag that chooses it ("--text-field is needed: data.csv:1 has no column ...").
template <typename Read>
auto reading_records(Read&& read) -> decltype(read()) {
  try {
    return read();
  } catch (const FieldError& error) {
    throw in_flag_terms(error);
  }
}

// --mode: "static", "dynamic", or empty (none: the planner's default).
std::optional<PruneMode> parse_prune_mode(const std::string& mode);

// The knobs of the flags, validated for a model of `layers` layers; errors name the flags.
Knobs knobs_from(const PruneOptions& options, int64_t layers);

// Validated planner for a model of `shape` in `folder`; reads latte.json only when a knob is
// given. `latency` is asked for the latency model once the knobs are known (with whether a
// target needs a measured one).
std::unique_ptr<Planner> make_planner(const PruneOptions& options, const ModelShape& shape,
                                      const std::filesystem::path& folder,
                                      const std::function<LatencyModel(bool needs_latency)>& latency);

// Validated planner for the BERT model in `folder`; reads latte.json only when a knob is given, so a
// stale or broken latte.json never blocks dense inference. Notices go to stderr.
std::unique_ptr<Planner> make_planner(const PruneOptions& options, const BertConfig& config,
                                      const std::filesystem::path& folder, const ModelLoader& model);

// Without a knob in `options`, the speedup of latte.json's default knob (`latte tune --save`),
// with a one-line notice on stderr; an explicit knob (--speedup 1 included) wins.
void use_default_knob(PruneOptions& options, const std::filesystem::path& folder);

// The progress of eval's, sweep's and tune's targets on stderr: redrawn on a terminal, a plain
// line every few seconds in a log (core/progress.h).
class Progress {
 public:
  explicit Progress(const char* command = "eval");
  void update(std::optional<double> speedup, size_t done, size_t total, const char* stage);
  void done();

 private:
  const char* command_;
  ProgressLine line_;
};

// The progress of the runner's stages on `progress`.
TargetProgress target_progress(Progress& progress);

// The latency source of the BERT `model`'s planners.
LatencySource encoder_latency(BertModel& model, bool no_profile);

// `value` with `decimals` digits after the point.
std::string fixed(double value, int decimals);

// --speedups: targets of 1 (dense) or more.
std::vector<double> parse_speedups(const std::string& text);

// The labelled data of eval, sweep and tune: `path` read as the record flags say (or as the GLUE
// TSV of `task`), cut as the truncation flags say with the run's one notice; errors name the flags.
EvalData load_labelled_data(const std::string& path, const std::string& task, int64_t max_examples,
                            const BertConfig& config, const Tokenizer& tokenizer,
                            const std::filesystem::path& folder, const TruncationOptions& truncation,
                            const RecordFlags& records);

// --mode, --batch-size, --max and --latency-samples of a run that evaluates and times targets on
// labelled data (eval, tune).
void add_target_run_options(CLI::App& command, std::string& mode, int& batch_size, int64_t& max_examples,
                            int& latency_samples);

// The planners' one-line notices, each printed to stderr once however many targets repeat it.
class Notices : public NoticeLines {
 public:
  Notices() : NoticeLines(&std::cerr) {}
};

// Registers every subcommand on the app.
void add_info_command(CLI::App& app);
void add_tokenize_command(CLI::App& app);
void add_classify_command(CLI::App& app);
void add_init_command(CLI::App& app);
void add_bench_command(CLI::App& app);
void add_calibrate_command(CLI::App& app);
void add_profile_command(CLI::App& app);
void add_plan_command(CLI::App& app);
void add_sweep_command(CLI::App& app);
void add_train_command(CLI::App& app);
void add_data_command(CLI::App& app);
void add_eval_command(CLI::App& app);
void add_generate_command(CLI::App& app);
void add_quantize_command(CLI::App& app);
void add_plot_command(CLI::App& app);
void add_compare_command(CLI::App& app);
void add_tune_command(CLI::App& app);
void add_serve_command(CLI::App& app);

}  // namespace latte::cli
