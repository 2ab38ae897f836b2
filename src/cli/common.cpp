#include "common.h"

#include <cstdlib>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>

#include "latte/core/error.h"
#include "latte/core/threads.h"
#include "latte/eval/latency_profile.h"
#include "latte/io/model_folder.h"
#include "latte/models/registry.h"
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
    for (const std::filesystem::path& candidate : candidates) {
      if (std::filesystem::is_regular_file(candidate / "config.json")) return candidate;
    }
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

namespace {

LatencyModel measured_latency(const LatencyKey& key, const std::string& layer_kind,
                              const std::function<ProfileSubject()>& subject, bool needs_latency,
                              bool no_profile) {
  const char* env = std::getenv("LATTE_NO_PROFILE");
  if (no_profile || (env != nullptr && *env != '\0' && std::string(env) != "0")) {
    if (needs_latency) {
      std::cerr
          << "latte: notice: --no-profile (or LATTE_NO_PROFILE): latency predicted from FLOPs, not measured "
             "on this machine; measured speedups may fall short of the target\n";
    }
    return LatencyModel{};
  }
  LatencySourceOptions source;
  source.cache_dir = default_latency_cache_dir();
  source.allow_profile = needs_latency;
  source.notices = &std::cerr;
  source.progress = &std::cerr;
  return machine_latency_model(key, layer_kind, subject, source);
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

InputError in_flag_terms(const FieldError& error) {
  static const std::map<std::string, std::string> kFlags = {
      {"keep list", "--keep"},
      {"coverage", "--coverage"},
      {"speedup", "--speedup"},
      {"latency budget", "--latency-ms"},
      {"min_keep", "--min-keep"},
      {"layers", "--layers"},
      {"max_length", "--max-length"},
      {"prompt_length + continuation_length", "--prompt-len + --continuation-len"}};
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
  const Knobs knobs = knobs_from(options, shape.layers);
  if (!knobs.any()) return std::make_unique<Planner>(knobs, shape, std::nullopt, LatencyModel{}, &std::cerr);
  // Calibration problems first: they must not wait for a profile.
  std::optional<Calibration> calibration =
      usable_calibration(knobs, Sidecar::read(folder, &std::cerr).calibration, shape.layers);
  const bool needs_latency = (knobs.speedup && *knobs.speedup > 1.0) || knobs.latency_ms;
  return std::make_unique<Planner>(knobs, shape, std::move(calibration), latency(needs_latency), &std::cerr);
}

std::unique_ptr<Planner> make_planner(const PruneOptions& options, const BertConfig& config,
                                      const std::filesystem::path& folder, const ModelLoader& model) {
  const ModelShape shape{config.num_layers, config.hidden_size, config.intermediate_size};
  return make_planner(options, shape, folder, [&](bool needs_latency) {
    return latency_for(config, options.precision, needs_latency, options.no_profile, model);
  });
}

}  // namespace latte::cli
