#include "common.h"

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>

#include "latte/core/error.h"
#include "latte/core/progress.h"
#include "latte/core/threads.h"
#include "latte/eval/latency_profile.h"
#include "latte/io/model_folder.h"
#include "latte/models/registry.h"
#include "latte/prune/folder_planner.h"
#include "latte/prune/sidecar.h"

namespace latte::cli {

void add_threads_option(CLI::App& command, std::optional<int>& threads) {
  const int limit = max_num_threads();
  command
      .add_option("--threads", threads,
                  "Threads, 1.." + std::to_string(limit) + " (default: LATTE_NUM_THREADS or all cores)")
      ->check(CLI::Range(1, limit));
}

void setup_threads(std::optional<int> threads) { set_num_threads(resolve_num_threads(threads)); }

std::vector<std::filesystem::path> default_model_candidates() {
  if (const char* env = std::getenv("LATTE_DEFAULT_MODEL"); env != nullptr && *env != '\0') return {env};
  std::vector<std::filesystem::path> candidates;
  std::error_code error;
  const std::filesystem::path exe = std::filesystem::read_symlink("/proc/self/exe", error);
  if (!error) {
    // An installed binary (PREFIX/bin/latte), then one built in the source tree (SOURCE/build/latte).
    candidates.push_back((exe.parent_path() / LATTE_INSTALLED_MODEL_FROM_BINDIR).lexically_normal());
    candidates.push_back(exe.parent_path().parent_path() / "models" / "default");
  }
  // A binary built out of tree still finds the checkout it was built from.
  candidates.push_back(LATTE_SOURCE_MODEL_DIR);
  return candidates;
}

std::filesystem::path model_folder(const std::string& path) {
  if (path.empty()) {
    const std::vector<std::filesystem::path> candidates = default_model_candidates();
    if (const auto found = first_model_folder(candidates)) return *found;
    std::string searched;
    for (const std::filesystem::path& candidate : candidates) {
      searched += (searched.empty() ? "" : ", ") + candidate.string();
    }
    throw InputError("no --model given and no bundled default model (looked in " + searched +
                     "); pass --model DIR or set LATTE_DEFAULT_MODEL");
  }
  require_model_folder(path);
  return path;
}

void add_truncation_options(CLI::App& command, TruncationOptions& options) {
  command.add_option("--max-length", options.max_length,
                     "Tokens per input, specials included: longer inputs are cut (default: the model's "
                     "positions)");
  command.add_flag("--truncate,!--no-truncate", options.truncate,
                   "Cut inputs longer than --max-length (the default, with one notice per run), or with "
                   "--no-truncate refuse them with an error");
}

Truncation truncation_from(const TruncationOptions& options, int64_t positions, int64_t min_length) {
  Truncation truncation;
  truncation.refuse = !options.truncate;
  truncation.max_length = positions;
  if (options.max_length) {
    if (*options.max_length < min_length || *options.max_length > positions) {
      throw InputError("--max-length must be between " + std::to_string(min_length) + " and " +
                       std::to_string(positions) + " (the model's positions), got " +
                       std::to_string(*options.max_length));
    }
    truncation.max_length = *options.max_length;
  }
  return truncation;
}

void print_truncation_notice(const Truncation& truncation, int64_t positions) {
  if (truncation.truncated == 0) return;
  const char* verb = truncation.truncated == 1 ? "was" : "were";
  std::cerr << "latte: notice: " << truncation.truncated << " of " << truncation.inputs
            << (truncation.inputs == 1 ? " input " : " inputs ") << verb << " longer than "
            << truncation.max_length << " tokens and " << verb << " truncated to " << truncation.max_length
            << " (--max-length N up to " << positions << ", or --no-truncate to refuse)\n";
}

void add_prune_options(CLI::App& command, PruneOptions& options) {
  command.add_option("--keep", options.keep, "Word-vectors leaving each layer, e.g. 96,64,32,...")
      ->group("Elimination");
  command.add_option("--coverage", options.coverage, "ACC coverage tau in (0, 1]")->group("Elimination");
  command.add_option("--speedup", options.speedup, "Target speedup S >= 1 (1 = dense)")->group("Elimination");
  command.add_option("--latency-ms", options.latency_ms, "Latency budget per input")->group("Elimination");
  command.add_option("--mode", options.mode, "static (calibrated keep fractions) or dynamic (tau per input)")
      ->check(CLI::IsMember({"static", "dynamic"}))
      ->group("Elimination");
  command.add_option("--min-keep", options.min_keep, "Fewest word-vectors a layer keeps")
      ->check(CLI::Range(int64_t{1}, int64_t{1} << 30))
      ->group("Elimination");
  add_no_profile_option(command, options.no_profile);
  command.get_option("--no-profile")->group("Elimination");
}

void add_dtype_option(CLI::App& command, std::string& dtype) {
  command
      .add_option("--dtype", dtype,
                  "What the products compute in: f32, int8 (weights per output channel, activations "
                  "per row) or bf16 (CPUs with avx512_bf16); default: int8 for a folder written by "
                  "latte quantize, else f32")
      ->check(CLI::IsMember({"f32", "int8", "bf16"}));
}

void add_record_options(CLI::App& command, RecordFlags& flags) {
  command
      .add_option(
          "--format", flags.format,
          "How to read the file: jsonl, csv, tsv (each with a header row) or text (one per line); "
          "default: by extension (.jsonl/.json, .csv, .tsv, .txt), else JSONL when it starts with '{'")
      ->check(CLI::IsMember({"jsonl", "csv", "tsv", "text"}));
  command.add_option("--text-field", flags.text_field,
                     "JSONL key or CSV/TSV column of the text (default: text, sentence or sentence1)");
  command.add_option("--text-pair-field", flags.text_pair_field,
                     "JSONL key or CSV/TSV column of the second text of a pair (default: text_pair or "
                     "sentence2, if present)");
  command.add_option("--label-field", flags.label_field,
                     "JSONL key or CSV/TSV column of the label (default: label, if present); integer "
                     "labels are read through the model's id2label");
}

data::RecordOptions record_options(const RecordFlags& flags) {
  data::RecordOptions options;
  if (!flags.format.empty()) options.format = data::parse_record_format(flags.format);
  options.fields = {flags.text_field, flags.text_pair_field, flags.label_field};
  return options;
}

Precision requested_precision(const std::string& dtype, const std::filesystem::path& folder) {
  if (dtype.empty()) return stored_precision(folder);
  const Precision precision = precision_from_name(dtype);
  const std::string reason = precision_unavailable_reason(precision);
  if (!reason.empty())
    std::cerr << "latte: notice: --dtype " << dtype << ": " << reason << "; computing in f32\n";
  return precision;
}

void add_no_profile_option(CLI::App& command, bool& no_profile) {
  command.add_flag("--no-profile", no_profile,
                   "Predict latency from FLOPs: no profile of this machine, no cached table "
                   "(also LATTE_NO_PROFILE=1)");
}

bool profiling_off(bool no_profile) { return no_profile || profiling_disabled_by_environment(); }

namespace {

// The per-machine cache, notices and progress on stderr.
LatencySourceOptions stderr_latency_source(bool allow_profile) {
  LatencySourceOptions source;
  source.cache_dir = default_latency_cache_dir();
  source.allow_profile = allow_profile;
  source.notices = &std::cerr;
  source.progress = &std::cerr;
  return source;
}

LatencyModel measured_latency(const LatencyKey& key, const std::string& layer_kind,
                              const std::function<ProfileSubject()>& subject, bool needs_latency,
                              bool no_profile) {
  if (profiling_off(no_profile)) {
    if (needs_latency) {
      std::cerr
          << "latte: notice: --no-profile (or LATTE_NO_PROFILE): latency predicted from FLOPs, not measured "
             "on this machine; measured speedups may fall short of the target\n";
    }
    return LatencyModel{};
  }
  return machine_latency_model(key, layer_kind, subject, stderr_latency_source(needs_latency));
}

LatencyChecker checker(LatencyKey key, std::string layer_kind, std::function<ProfileSubject()> subject,
                       bool no_profile) {
  if (profiling_off(no_profile)) return {};
  return [key = std::move(key), layer_kind = std::move(layer_kind),
          subject = std::move(subject)](const LatencyCheck& check) {
    recheck_latency_table(key, layer_kind, subject, check, stderr_latency_source(true));
  };
}

}  // namespace

LatencyModel latency_for(const BertConfig& config, Precision precision, bool needs_latency, bool no_profile,
                         const ModelLoader& model) {
  return measured_latency(
      latency_key(config, precision), kEncoderLayer, [&] { return profile_subject(model()); }, needs_latency,
      no_profile);
}

LatencyModel decoder_latency_for(CausalLm& model, bool needs_latency, bool no_profile) {
  return measured_latency(
      latency_key(model.description()), kDecoderPrefillLayer, [&] { return profile_subject(model); },
      needs_latency, no_profile);
}

LatencyModel seq2seq_latency_for(Seq2SeqLm& model, bool needs_latency, bool no_profile) {
  return measured_latency(
      latency_key(model), kEncoderLayer, [&] { return profile_subject(model); }, needs_latency, no_profile);
}

LatencyChecker latency_checker(const BertConfig& config, Precision precision, bool no_profile,
                               ModelLoader model) {
  return checker(
      latency_key(config, precision), kEncoderLayer,
      [model = std::move(model)] { return profile_subject(model()); }, no_profile);
}

LatencyChecker decoder_latency_checker(CausalLm& model, bool no_profile) {
  return checker(
      latency_key(model.description()), kDecoderPrefillLayer, [&model] { return profile_subject(model); },
      no_profile);
}

LatencyChecker seq2seq_latency_checker(Seq2SeqLm& model, bool no_profile) {
  return checker(
      latency_key(model), kEncoderLayer, [&model] { return profile_subject(model); }, no_profile);
}

InputError in_flag_terms(const FieldError& error) {
  static const std::map<std::string, std::string> kFlags = {
      {"keep list", "--keep"},
      {"coverage", "--coverage"},
      {"speedup", "--speedup"},
      {"latency budget", "--latency-ms"},
      {"max_drop", "--max-drop"},
      {"min_keep", "--min-keep"},
      {"layers", "--layers"},
      {"max_length", "--max-length"},
      {"prompt_length + continuation_length", "--prompt-len + --continuation-len"},
      {"text field", "--text-field"},
      {"text_pair field", "--text-pair-field"},
      {"label field", "--label-field"}};
  if (error.field() == "knobs")
    return InputError("give only one of --keep, --coverage, --speedup, --latency-ms");
  const auto flag = kFlags.find(error.field());
  if (flag == kFlags.end()) return InputError(error.what());
  return InputError(flag->second + " " + error.problem());
}

std::optional<PruneMode> parse_prune_mode(const std::string& mode) {
  if (mode.empty()) return std::nullopt;
  return mode == "static" ? PruneMode::kStatic : PruneMode::kDynamic;
}

Knobs knobs_from(const PruneOptions& options, int64_t layers) {
  Knobs knobs;
  if (!options.keep.empty()) knobs.keep = parse_keep_list(options.keep);
  knobs.coverage = options.coverage;
  knobs.speedup = options.speedup;
  knobs.latency_ms = options.latency_ms;
  knobs.mode = parse_prune_mode(options.mode);
  knobs.min_keep = options.min_keep;
  try {
    knobs.validate(layers);
  } catch (const FieldError& error) {
    throw in_flag_terms(error);
  }
  return knobs;
}

std::unique_ptr<Planner> make_planner(const PruneOptions& options, const ModelShape& shape,
                                      const std::filesystem::path& folder,
                                      const std::function<LatencyModel(bool needs_latency)>& latency) {
  return folder_planner(knobs_from(options, shape.layers), shape, folder, latency, &std::cerr);
}

std::unique_ptr<Planner> make_planner(const PruneOptions& options, const BertConfig& config,
                                      const std::filesystem::path& folder, const ModelLoader& model) {
  const ModelShape shape{config.num_layers, config.hidden_size, config.intermediate_size};
  return make_planner(options, shape, folder, [&](bool needs_latency) {
    return latency_for(config, options.precision, needs_latency, options.no_profile, model);
  });
}

void use_default_knob(PruneOptions& options, const std::filesystem::path& folder) {
  if (!options.keep.empty() || options.coverage || options.speedup || options.latency_ms) return;
  const std::optional<DefaultKnob> knob = Sidecar::read_default_knob(folder);
  if (!knob) return;
  options.speedup = knob->speedup;
  std::ostringstream speedup;
  speedup << knob->speedup;
  std::cerr << "latte: notice: using latte.json's default speedup " << speedup.str();
  if (!knob->chosen_by.empty()) std::cerr << " (" << knob->chosen_by << ")";
  std::cerr << "; --speedup 1 for dense\n";
}

Progress::Progress(const char* command) : command_(command), line_(std::cerr) {}

void Progress::update(std::optional<double> speedup, size_t done, size_t total, const char* stage) {
  std::string text = std::string(command_) + ": ";
  if (speedup) text += "speedup " + fixed(*speedup, 2) + ": ";
  line_.update(text + stage + " " + std::to_string(done) + "/" + std::to_string(total));
}

void Progress::done() { line_.clear(); }

TargetProgress target_progress(Progress& progress) {
  return [&progress](std::optional<double> speedup, size_t done, size_t total, const char* stage) {
    progress.update(speedup, done, total, stage);
  };
}

LatencySource encoder_latency(BertModel& model, bool no_profile) {
  return [&model, no_profile](bool needs_latency) {
    return latency_for(model.config(), model.precision(), needs_latency, no_profile,
                       [&]() -> BertModel& { return model; });
  };
}

std::string fixed(double value, int decimals) {
  char buffer[64];
  std::snprintf(buffer, sizeof(buffer), "%.*f", decimals, value);
  return buffer;
}

std::vector<double> parse_speedups(const std::string& text) {
  std::vector<double> speedups = parse_number_list(text, "--speedups");
  for (const double speedup : speedups) {
    if (!(speedup >= 1.0)) throw InputError("--speedups: " + fixed(speedup, 3) + " is below 1 (1 = dense)");
  }
  return speedups;
}

EvalData load_labelled_data(const std::string& path, const std::string& task, int64_t max_examples,
                            const BertConfig& config, const Tokenizer& tokenizer,
                            const std::filesystem::path& folder, const TruncationOptions& truncation,
                            const RecordFlags& records) {
  const int64_t positions = config.max_position_embeddings;
  const EvalData loaded = reading_records([&] {
    return load_eval_data(path, task, max_examples, config, tokenizer, folder.string(),
                          truncation_from(truncation, positions), record_options(records), &std::cerr);
  });
  print_truncation_notice(loaded.truncation, positions);
  return loaded;
}

void add_target_run_options(CLI::App& command, std::string& mode, int& batch_size, int64_t& max_examples,
                            int& latency_samples) {
  command.add_option("--mode", mode, "static (calibrated keep fractions) or dynamic (tau per input)")
      ->check(CLI::IsMember({"static", "dynamic"}));
  command.add_option("--batch-size", batch_size, "Inputs per forward pass for the metrics")
      ->check(CLI::Range(1, 4096))
      ->capture_default_str();
  command.add_option("--max", max_examples, "Use only the first N examples (0 = all)")
      ->check(CLI::Range(int64_t{0}, int64_t{1} << 40));
  command
      .add_option("--latency-samples", latency_samples,
                  "Inputs timed one at a time, each speedup paired with adjacent dense runs")
      ->check(CLI::Range(1, 1 << 20))
      ->capture_default_str();
}

}  // namespace latte::cli
