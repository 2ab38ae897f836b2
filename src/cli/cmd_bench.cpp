// latte bench: latency of the model on synthetic inputs of exactly N tokens, every
// configuration paired with adjacent dense runs (latte/eval/timing.h), next to the oneDNN
// GEMM ceiling measured in the same run. By the folder's kind: an encoder's pass, a decoder's
// prefill and decode steps, or an encoder-decoder's encoder, first token and decode steps.
#include <algorithm>
#include <cstdio>
#include <iostream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <utility>

#include "common.h"
#include "latte/core/cpu.h"
#include "latte/core/error.h"
#include "latte/core/threads.h"
#include "latte/eval/decoder_bench.h"
#include "latte/eval/encoder_bench.h"
#include "latte/eval/latency_profile.h"
#include "latte/eval/seq2seq_bench.h"
#include "latte/eval/timing.h"
#include "latte/models/bert.h"
#include "latte/models/registry.h"
#include "latte/prune/cost_model.h"
#include "latte/prune/sidecar.h"

namespace latte::cli {

namespace {

// One configuration timed against dense: scoring only, or a planner for a knob.
struct Variant {
  std::string name;
  std::optional<double> speedup;
  std::unique_ptr<Planner> planner;
  bool score = false;
};

struct BenchOptions {
  std::string model;
  int seq = 128;
  int batch = 1;
  std::optional<int> threads;
  int repeats = 10;
  int warmup = 2;
  int decode_tokens = -1;  // decoders: 16, or what the positions left after the prompt allow
  bool json = false;
  bool score = false;
  std::string speedups;
  PruneOptions prune;
  std::string dtype;  // empty: as the folder stores it
};

// Resident memory as the benchmark sees it: the process before the model, after loading it
// (the weights are the difference), the load's peak, and the peak while timing (VmHWM reset
// after the load, so the workspace is the timed passes' own).
class MemoryWatch {
 public:
  // Starts the peak afresh: what ran before (a bandwidth measurement) is not the model's.
  MemoryWatch() : start_((reset_peak_resident_memory(), resident_memory())) {}
  void loaded() {
    loaded_ = resident_memory();
    reset_ = reset_peak_resident_memory();
  }
  void finished() { end_ = resident_memory(); }
  // {} when /proc/self/status could not be read.
  nlohmann::json json(uint64_t kv_cache_bytes) const {
    if (!start_ || !loaded_ || !end_) return nullptr;
    const uint64_t base = start_->current_bytes;
    const uint64_t after_load = loaded_->current_bytes;
    const uint64_t run_peak = reset_ ? end_->peak_bytes : std::max(end_->peak_bytes, after_load);
    const auto less = [](uint64_t a, uint64_t b) { return a > b ? a - b : uint64_t{0}; };
    return {{"peak_rss_bytes", std::max(loaded_->peak_bytes, end_->peak_bytes)},
            {"process_bytes", base},
            {"weights_bytes", less(after_load, base)},
            {"load_peak_bytes", loaded_->peak_bytes},
            {"run_peak_bytes", run_peak},
            {"kv_cache_bytes", kv_cache_bytes},
            {"workspace_bytes", less(run_peak, after_load + kv_cache_bytes)},
            {"run_peak_measured", reset_}};
  }
  // "memory: weights 512 MB + KV cache 3.0 MB + workspace 40 MB over a process of 21 MB; peak RSS
  // 640 MB while loading, 576 MB while running"
  std::string line(uint64_t kv_cache_bytes) const {
    const nlohmann::json parts = json(kv_cache_bytes);
    if (parts.is_null()) return "memory: /proc/self/status unreadable";
    const auto mb = [&](const char* key) { return parts[key].get<uint64_t>() / 1e6; };
    char text[256];
    std::snprintf(text, sizeof text,
                  "memory: weights %.0f MB + KV cache %.1f MB + workspace %.0f MB over a process of %.0f MB; "
                  "peak RSS %.0f MB while loading, %.0f MB while running",
                  mb("weights_bytes"), mb("kv_cache_bytes"), mb("workspace_bytes"), mb("process_bytes"),
                  mb("load_peak_bytes"), mb("run_peak_bytes"));
    return text;
  }

 private:
  std::optional<ResidentMemory> start_, loaded_, end_;
  bool reset_ = false;
};

// The planners of the knobs in `options` (one per --speedups target, or one for a single knob,
// or none) over a model of `shape`, named and with the speedup each asked for.
struct KnobPlanners {
  std::vector<std::unique_ptr<Planner>> planners;
  std::vector<std::string> names;
  std::vector<std::optional<double>> requested;

  std::vector<const Planner*> pointers() const {
    std::vector<const Planner*> pointers;
    for (const auto& planner : planners) pointers.push_back(planner.get());
    return pointers;
  }
};

KnobPlanners knob_planners(const BenchOptions& options, const ModelShape& shape,
                           const std::filesystem::path& folder,
                           const std::function<LatencyModel(bool needs_latency)>& latency) {
  const bool single_knob = !options.prune.keep.empty() || options.prune.coverage || options.prune.speedup ||
                           options.prune.latency_ms;
  if (!options.speedups.empty() && single_knob) {
    throw InputError("--speedups cannot be combined with --keep, --coverage, --speedup or --latency-ms");
  }
  KnobPlanners result;
  if (!options.speedups.empty()) {
    for (const double target : parse_number_list(options.speedups, "--speedups")) {
      PruneOptions knob = options.prune;
      knob.speedup = target;
      result.planners.push_back(make_planner(knob, shape, folder, latency));
      char name[32];
      std::snprintf(name, sizeof(name), "speedup %g", target);
      result.names.emplace_back(name);
      result.requested.emplace_back(target);
    }
  } else if (single_knob) {
    result.planners.push_back(make_planner(options.prune, shape, folder, latency));
    result.names.emplace_back("pruned");
    result.requested.push_back(options.prune.speedup);
  }
  return result;
}

// A decoder: prefill (time to first token) and decode steps, dense and each target.
void bench_decoder_command(const BenchOptions& options, const std::filesystem::path& folder) {
  if (options.batch != 1) throw InputError("--batch: decoders are benchmarked one prompt at a time");
  if (options.score) throw InputError("--score is for encoders");
  // The decode ceiling's 512 MiB buffer comes and goes before the model, out of its memory.
  const double bandwidth = measure_memory_bandwidth();
  MemoryWatch memory;
  std::unique_ptr<CausalLm> model = load_causal_lm(folder, requested_precision(options.dtype, folder));
  memory.loaded();
  // One latency model for every target: profiled (or read from the cache) once.
  std::optional<LatencyModel> latency;
  const KnobPlanners knobs = knob_planners(options, model->shape(), folder, [&](bool needs) {
    if (!latency || (needs && !latency->measured()))
      latency = decoder_latency_for(*model, needs, options.prune.no_profile);
    return *latency;
  });
  const std::vector<std::unique_ptr<Planner>>& planners = knobs.planners;
  const std::vector<std::string>& names = knobs.names;
  const std::vector<std::optional<double>>& requested = knobs.requested;
  const std::vector<const Planner*> planner_pointers = knobs.pointers();
  if (options.seq > model->max_positions()) {
    throw InputError("--seq " + std::to_string(options.seq) + " exceeds the model's " +
                     std::to_string(model->max_positions()) + " positions");
  }
  const int64_t decode_tokens = options.decode_tokens >= 0
                                    ? options.decode_tokens
                                    : std::min<int64_t>(16, model->max_positions() - options.seq);
  DecoderBenchOptions bench;
  bench.prompt_tokens = options.seq;
  bench.decode_tokens = decode_tokens;
  bench.rounds = options.repeats;
  bench.warm_up = options.warmup;
  bench.notices = &std::cerr;
  bench.memory_bytes_per_second = bandwidth;
  const DecoderBenchResult result = bench_decoder(*model, planner_pointers, bench);
  memory.finished();
  const nlohmann::json memory_json = memory.json(static_cast<uint64_t>(result.dense.kv_cache_bytes));

  if (!options.json) {
    std::printf(
        "prompt %d tokens, %d decode steps timed, %d threads, %d rounds, %s; each configuration paired "
        "with adjacent dense runs\n",
        options.seq, static_cast<int>(decode_tokens), num_threads(), options.repeats,
        precision_name(model->precision()));
    std::printf("%-14s %10s %9s %9s %12s %9s %9s %12s  %s\n", "config", "ttft_ms", "measured", "predicted",
                "decode_ms/tok", "decode", "predicted", "kv_cache_MB", "kept per layer");
  }
  // Dense decode against the memory it streams: what a memory-bound step is measured by.
  nlohmann::json breakdown_json;
  if (result.decode_breakdown) {
    const DecodeBreakdown& parts = *result.decode_breakdown;
    const double step_ms = result.dense.decode_ms_per_token.median;
    const double bytes = parts.weight_bytes + parts.cache_bytes;
    const double achieved = bytes / (step_ms * 1e-3);
    const double clocked = std::max(parts.ms_per_token, 1e-9);
    breakdown_json = {{"ms_per_token_clocked", parts.ms_per_token},
                      {"gemv_ms", parts.gemv_ms},
                      {"attention_ms", parts.attention_ms},
                      {"rest_ms", parts.rest_ms},
                      {"gemv_share", parts.gemv_ms / clocked},
                      {"attention_share", parts.attention_ms / clocked},
                      {"rest_share", parts.rest_ms / clocked},
                      {"weight_bytes_per_token", parts.weight_bytes},
                      {"cache_bytes_per_token", parts.cache_bytes},
                      {"achieved_bytes_per_second", achieved},
                      {"memory_bytes_per_second", parts.memory_bytes_per_second}};
  }
  const auto report = [&](const std::string& name, const DecoderBenchVariant& variant,
                          const std::optional<double>& target, const Planner* planner) {
    std::optional<double> predicted;
    if (planner) predicted = planner->plan(options.seq).predicted_speedup;
    if (options.json) {
      nlohmann::json line = {{"config", name},
                             {"dtype", precision_name(model->precision())},
                             {"seq", options.seq},
                             {"threads", num_threads()},
                             {"repeats", options.repeats},
                             {"median_ms", variant.prefill_ms.median},
                             {"p10_ms", variant.prefill_ms.p10},
                             {"p90_ms", variant.prefill_ms.p90},
                             {"measured_speedup", variant.prefill_speedup.median},
                             {"measured_speedup_p10", variant.prefill_speedup.p10},
                             {"measured_speedup_p90", variant.prefill_speedup.p90},
                             {"decode_tokens", decode_tokens},
                             {"decode_ms_per_token", variant.decode_ms_per_token.median},
                             {"decode_speedup", variant.decode_speedup.median},
                             {"kv_cache_bytes", variant.kv_cache_bytes},
                             {"kv_cache_bytes_dense", result.dense.kv_cache_bytes},
                             {"kept", variant.kept}};
      if (result.peak_load) line["load_average"] = *result.peak_load;
      if (variant.predicted_decode_speedup)
        line["predicted_decode_speedup"] = *variant.predicted_decode_speedup;
      if (!planner && !breakdown_json.is_null()) line["decode_breakdown"] = breakdown_json;
      line["memory"] = memory_json;
      if (target) line["requested_speedup"] = *target;
      if (predicted) line["predicted_speedup"] = *predicted;
      std::cout << line.dump() << "\n";
      return;
    }
    std::string kept_text;
    for (size_t l = 0; l < variant.kept.size(); ++l)
      kept_text += (l ? "," : "") + std::to_string(variant.kept[l]);
    char predicted_text[16] = "-";
    if (predicted) std::snprintf(predicted_text, sizeof(predicted_text), "%.2fx", *predicted);
    char decode_predicted_text[16] = "-";
    if (variant.predicted_decode_speedup) {
      std::snprintf(decode_predicted_text, sizeof(decode_predicted_text), "%.2fx",
                    *variant.predicted_decode_speedup);
    }
    std::printf("%-14s %10.2f %8.2fx %9s %12.3f %8.2fx %9s %12.2f  %s\n", name.c_str(),
                variant.prefill_ms.median, variant.prefill_speedup.median, predicted_text,
                variant.decode_ms_per_token.median, variant.decode_speedup.median, decode_predicted_text,
                static_cast<double>(variant.kv_cache_bytes) / 1e6, kept_text.c_str());
  };
  report("dense", result.dense, 1.0, nullptr);
  for (size_t v = 0; v < planners.size(); ++v)
    report(names[v], result.variants[v], requested[v], planners[v].get());
  if (!options.json && result.decode_breakdown) {
    const DecodeBreakdown& parts = *result.decode_breakdown;
    const double step_ms = result.dense.decode_ms_per_token.median;
    const double achieved = breakdown_json["achieved_bytes_per_second"].get<double>();
    const double clocked = std::max(parts.ms_per_token, 1e-9);
    std::printf(
        "dense decode: %.3f ms/token reads %.1f MB of weights + %.1f MB of KV cache = %.1f GB/s; measured "
        "memory bandwidth %.1f GB/s (%.0f%%)\n",
        step_ms, parts.weight_bytes / 1e6, parts.cache_bytes / 1e6, achieved / 1e9,
        parts.memory_bytes_per_second / 1e9, 100.0 * achieved / parts.memory_bytes_per_second);
    std::printf(
        "dense decode step by phase clocks (%.3f ms): GEMV %.0f%% (%.3f ms), attention %.0f%% (%.3f ms), "
        "rest %.0f%% (%.3f ms)\n",
        parts.ms_per_token, 100.0 * parts.gemv_ms / clocked, parts.gemv_ms,
        100.0 * parts.attention_ms / clocked, parts.attention_ms, 100.0 * parts.rest_ms / clocked,
        parts.rest_ms);
  }

  if (!options.json && result.peak_load) {
    std::printf("load average up to %.2f on %d cores\n", *result.peak_load, result.cores);
  }
  if (!options.json)
    std::printf("%s\n", memory.line(static_cast<uint64_t>(result.dense.kv_cache_bytes)).c_str());
}

// An encoder-decoder: the encoder (with the memory it projects), the first token and the decode
// steps, dense and each target; the targets plan the encoder from its latency table.
void bench_seq2seq_command(const BenchOptions& options, const std::filesystem::path& folder) {
  if (options.batch != 1) throw InputError("--batch: encoder-decoders are benchmarked one source at a time");
  if (options.score) throw InputError("--score is for encoder-only models");
  MemoryWatch memory;
  std::unique_ptr<Seq2SeqLm> model = load_seq2seq_lm(folder, requested_precision(options.dtype, folder));
  memory.loaded();
  if (options.seq > model->max_source_tokens()) {
    throw InputError("--seq " + std::to_string(options.seq) + " exceeds the " +
                     std::to_string(model->max_source_tokens()) + " tokens the model's encoder takes");
  }
  const ModelShape shape = model->encoder_shape();
  std::optional<LatencyModel> latency;  // one for every target: profiled (or read from the cache) once
  const KnobPlanners knobs = knob_planners(options, shape, folder, [&](bool needs) {
    if (!latency || (needs && !latency->measured()))
      latency = seq2seq_latency_for(*model, needs, options.prune.no_profile);
    return *latency;
  });
  const std::vector<const Planner*> planners = knobs.pointers();
  const int64_t decode_tokens = options.decode_tokens >= 0
                                    ? options.decode_tokens
                                    : std::min<int64_t>(16, model->max_target_tokens() - 1);
  Seq2SeqBenchOptions bench;
  bench.source_tokens = options.seq;
  bench.decode_tokens = decode_tokens;
  bench.rounds = options.repeats;
  bench.warm_up = options.warmup;
  bench.notices = &std::cerr;
  const Seq2SeqBenchResult result = bench_seq2seq(*model, planners, bench);
  memory.finished();
  const nlohmann::json memory_json = memory.json(static_cast<uint64_t>(result.dense.kv_cache_bytes));
  // The table keeps itself true by the encoder's runs it planned.
  if (latency && latency->measured()) {
    if (const LatencyChecker recheck = seq2seq_latency_checker(*model, options.prune.no_profile))
      recheck(check_timing(result.encoder, {options.seq}, planners, *latency, shape));
  }

  const double ceiling = result.gemm_ceiling_gflops;
  if (!options.json) {
    std::printf(
        "source %d tokens, %d decode steps timed after the first, %d threads, %d rounds, %s; each "
        "configuration paired with adjacent dense runs; encoder = encoder layers + the decoder's memory\n",
        options.seq, static_cast<int>(decode_tokens), num_threads(), options.repeats,
        precision_name(model->precision()));
    std::printf("%-14s %10s %9s %9s %14s %9s %13s %9s %12s  %s\n", "config", "encoder_ms", "measured",
                "predicted", "first_token_ms", "measured", "decode_ms/tok", "decode", "kv_cache_MB",
                "kept per layer");
  }
  const auto report = [&](const std::string& name, const Seq2SeqBenchVariant& variant,
                          const std::optional<double>& target, const Planner* planner) {
    std::optional<double> predicted;
    if (planner) predicted = planner->plan(options.seq).predicted_speedup;
    const double flops = forward_flops(options.seq, variant.kept, shape);
    const double gflops = flops / (variant.encoder_ms.median * 1e-3) / 1e9;
    if (options.json) {
      nlohmann::json line = {{"config", name},
                             {"dtype", precision_name(model->precision())},
                             {"seq", options.seq},
                             {"batch", 1},
                             {"threads", num_threads()},
                             {"repeats", options.repeats},
                             {"median_ms", variant.encoder_ms.median},
                             {"p10_ms", variant.encoder_ms.p10},
                             {"p90_ms", variant.encoder_ms.p90},
                             {"gflop", flops / 1e9},
                             {"gflops", gflops},
                             {"gemm_ceiling_gflops", ceiling},
                             {"fraction_of_ceiling", gflops / ceiling},
                             {"measured_speedup", variant.encoder_speedup.median},
                             {"measured_speedup_p10", variant.encoder_speedup.p10},
                             {"measured_speedup_p90", variant.encoder_speedup.p90},
                             {"kept", variant.kept},
                             {"encoder_ms", variant.encoder_ms.median},
                             {"first_token_ms", variant.first_token_ms.median},
                             {"first_token_speedup", variant.first_token_speedup.median},
                             {"decode_tokens", decode_tokens},
                             {"decode_ms_per_token", variant.decode_ms_per_token.median},
                             {"decode_speedup", variant.decode_speedup.median},
                             {"kv_cache_bytes", variant.kv_cache_bytes},
                             {"kv_cache_bytes_dense", result.dense.kv_cache_bytes}};
      if (result.peak_load) line["load_average"] = *result.peak_load;
      if (target) line["requested_speedup"] = *target;
      if (predicted) line["predicted_speedup"] = *predicted;
      if (planner) line["latency_model"] = planner->latency_model().source();
      line["memory"] = memory_json;
      std::cout << line.dump() << "\n";
      return;
    }
    std::string kept_text;
    for (size_t l = 0; l < variant.kept.size(); ++l)
      kept_text += (l ? "," : "") + std::to_string(variant.kept[l]);
    char predicted_text[16] = "-";
    if (predicted) std::snprintf(predicted_text, sizeof(predicted_text), "%.2fx", *predicted);
    std::printf("%-14s %10.2f %8.2fx %9s %14.2f %8.2fx %13.3f %8.2fx %12.2f  %s\n", name.c_str(),
                variant.encoder_ms.median, variant.encoder_speedup.median, predicted_text,
                variant.first_token_ms.median, variant.first_token_speedup.median,
                variant.decode_ms_per_token.median, variant.decode_speedup.median,
                static_cast<double>(variant.kv_cache_bytes) / 1e6, kept_text.c_str());
  };
  report("dense", result.dense, 1.0, nullptr);
  for (size_t v = 0; v < planners.size(); ++v)
    report(knobs.names[v], result.variants[v], knobs.requested[v], planners[v]);
  if (!options.json) {
    if (!planners.empty())
      std::printf("predicted speedups from the %s\n", planners.front()->latency_model().measured()
                                                          ? "latency table measured on this machine"
                                                          : "FLOPs prior (no measured table)");
    if (result.peak_load)
      std::printf("load average up to %.2f on %d cores\n", *result.peak_load, result.cores);
    std::printf("%s\n", memory.line(static_cast<uint64_t>(result.dense.kv_cache_bytes)).c_str());
  }
}

}  // namespace

void add_bench_command(CLI::App& app) {
  auto* command = app.add_subcommand("bench", "Time the model on synthetic inputs of exactly N tokens");
  auto options = std::make_shared<BenchOptions>();
  command->add_option("--model", options->model, kModelHelp);
  command->add_option("--seq", options->seq, "Tokens per input, specials included")
      ->required()
      ->check(CLI::Range(2, 1 << 20));
  command->add_option("--batch", options->batch, "Inputs per forward pass")->check(CLI::Range(1, 4096));
  add_threads_option(*command, options->threads);
  command
      ->add_option("--repeats", options->repeats,
                   "Timed rounds: dense, then each configuration between dense runs")
      ->check(CLI::Range(1, 100000));
  command->add_option("--warmup", options->warmup, "Untimed runs first")->check(CLI::Range(0, 1000));
  command->add_option("--speedups", options->speedups,
                      "Several target speedups, each timed paired with dense, e.g. 2,3,4,5");
  command
      ->add_option(
          "--decode-tokens", options->decode_tokens,
          "Decoders: decode steps timed after the prefill; encoder-decoders: after the first decoder "
          "step")
      ->check(CLI::Range(0, 1 << 20));
  command->add_flag("--score", options->score, "Also time dense with ACC scoring on (its overhead)");
  command->add_flag("--json", options->json, "Print one JSON object per configuration");
  add_prune_options(*command, options->prune);
  add_dtype_option(*command, options->dtype);
  command->callback([options] {
    setup_threads(options->threads);
    const auto folder = model_folder(options->model);
    const ModelKind kind = model_family(folder).kind;
    if (kind == ModelKind::kCausalLm) {
      bench_decoder_command(*options, folder);
      return;
    }
    if (kind == ModelKind::kSeq2SeqLm) {
      bench_seq2seq_command(*options, folder);
      return;
    }
    MemoryWatch memory;
    BertModel model = BertModel::load(folder, requested_precision(options->dtype, folder));
    memory.loaded();
    const BertConfig& config = model.config();
    if (options->seq > config.max_position_embeddings) {
      throw InputError("--seq " + std::to_string(options->seq) + " exceeds the model's maximum length of " +
                       std::to_string(config.max_position_embeddings));
    }
    std::ostringstream notes;  // the planners' notices, printed once each; outlives the planners
    Notices notices;
    std::vector<Variant> variants;
    if (options->score) variants.push_back(Variant{"dense+scoring", std::nullopt, nullptr, true});
    const bool single_knob = !options->prune.keep.empty() || options->prune.coverage ||
                             options->prune.speedup || options->prune.latency_ms;
    std::vector<double> targets;
    if (!options->speedups.empty()) {
      if (single_knob) {
        throw InputError("--speedups cannot be combined with --keep, --coverage, --speedup or --latency-ms");
      }
      targets = parse_number_list(options->speedups, "--speedups");
    }
    std::optional<LatencyModel> planned_with;  // the planners' latency, checked against the timing
    if (!targets.empty() || single_knob) {
      const Knobs knobs = knobs_from(options->prune, config.num_layers);
      std::vector<std::unique_ptr<Planner>> planners = target_planners(
          model.shape(), knobs, targets, Sidecar::read(folder, &std::cerr),
          [&](bool needs_latency) {
            planned_with = latency_for(config, model.precision(), needs_latency, options->prune.no_profile,
                                       [&]() -> BertModel& { return model; });
            return *planned_with;
          },
          notes);
      for (size_t t = 0; t < targets.size(); ++t) {
        char name[32];
        std::snprintf(name, sizeof(name), "speedup %g", targets[t]);
        variants.push_back(Variant{name, targets[t], std::move(planners[t]), false});
      }
      if (targets.empty())
        variants.push_back(Variant{"pruned", knobs.speedup, std::move(planners.front()), false});
    }

    std::vector<TimedVariant> timed;
    for (const Variant& variant : variants) {
      timed.push_back(
          TimedVariant{ForwardOptions{.planner = variant.planner.get(), .compute_scores = variant.score}});
    }
    EncoderBenchOptions bench;
    bench.seq = options->seq;
    bench.batch = options->batch;
    bench.rounds = options->repeats;
    bench.warm_up = options->warmup;
    bench.notices = &std::cerr;
    notices.print_new(notes.str());
    const EncoderBenchResult measured = bench_encoder(model, timed, bench);
    memory.finished();
    const nlohmann::json memory_json = memory.json(0);
    notices.print_new(notes.str());
    const PairedTiming& timing = measured.timing;
    const double ceiling = measured.gemm_ceiling_gflops;
    // The table predicts one sequence: a batch's time is not its prediction.
    const LatencyChecker recheck = latency_checker(config, model.precision(), options->prune.no_profile,
                                                   [&]() -> BertModel& { return model; });
    if (recheck && planned_with && planned_with->measured() && options->batch == 1) {
      std::vector<const Planner*> planned;
      for (const Variant& variant : variants) planned.push_back(variant.planner.get());
      recheck(check_timing(timing, {options->seq}, planned, *planned_with, model.shape()));
    }

    const std::vector<int64_t> dense_counts(static_cast<size_t>(config.num_layers), options->seq);
    const double dense_flops = options->batch * forward_flops(options->seq, dense_counts, model.shape());
    if (!options->json) {
      std::printf(
          "seq %d, batch %d, %d threads, %d rounds, %s; each configuration paired with adjacent dense runs; "
          "f32 GEMM ceiling %.1f GFLOP/s\n",
          options->seq, options->batch, num_threads(), options->repeats, precision_name(model.precision()),
          ceiling);
      std::printf("%-14s %10s %10s %10s %9s %9s %15s %9s  %s\n", "config", "median_ms", "p10_ms", "p90_ms",
                  "GFLOP/s", "measured", "p10-p90", "predicted", "kept per layer");
    }
    auto report = [&](const std::string& name, const std::optional<double>& requested, const Spread& ms,
                      const Spread& speedup, const std::vector<int64_t>& kept, const Planner* planner) {
      const double flops = options->batch * forward_flops(options->seq, kept, model.shape());
      const double gflops = flops / (ms.median * 1e-3) / 1e9;
      std::optional<double> predicted;
      if (planner) predicted = planner->plan(options->seq).predicted_speedup;
      nlohmann::json result = {{"config", name},
                               {"dtype", precision_name(model.precision())},
                               {"seq", options->seq},
                               {"batch", options->batch},
                               {"threads", num_threads()},
                               {"repeats", options->repeats},
                               {"median_ms", ms.median},
                               {"p10_ms", ms.p10},
                               {"p90_ms", ms.p90},
                               {"gflop", flops / 1e9},
                               {"gflops", gflops},
                               {"gemm_ceiling_gflops", ceiling},
                               {"fraction_of_ceiling", gflops / ceiling},
                               {"measured_speedup", speedup.median},
                               {"measured_speedup_p10", speedup.p10},
                               {"measured_speedup_p90", speedup.p90},
                               {"kept", kept}};
      if (timing.peak_load) result["load_average"] = *timing.peak_load;
      if (requested) result["requested_speedup"] = *requested;
      if (predicted) result["predicted_speedup"] = *predicted;
      result["memory"] = memory_json;
      if (options->json) {
        std::cout << result.dump() << "\n";
        return;
      }
      std::string kept_text;
      for (size_t l = 0; l < kept.size(); ++l) kept_text += (l ? "," : "") + std::to_string(kept[l]);
      char predicted_text[16] = "-";
      if (predicted) std::snprintf(predicted_text, sizeof(predicted_text), "%.2fx", *predicted);
      char range[32];
      std::snprintf(range, sizeof(range), "%.2f-%.2f", speedup.p10, speedup.p90);
      std::printf("%-14s %10.2f %10.2f %10.2f %9.1f %8.2fx %15s %9s  %s\n", name.c_str(), ms.median, ms.p10,
                  ms.p90, gflops, speedup.median, range, predicted_text, kept_text.c_str());
    };
    report("dense", 1.0, timing.dense_ms, Spread{1.0, 1.0, 1.0}, dense_counts, nullptr);
    for (size_t v = 0; v < variants.size(); ++v) {
      const VariantTiming& result = timing.variants[v];
      report(variants[v].name, variants[v].speedup, result.ms, result.speedup, result.kept.front(),
             variants[v].planner.get());
    }
    if (!options->json) {
      std::printf("dense: %.1f%% of the GEMM ceiling",
                  100.0 * dense_flops / (timing.dense_ms.median * 1e-3) / 1e9 / ceiling);
      if (timing.peak_load)
        std::printf("; load average up to %.2f on %d cores", *timing.peak_load, timing.cores);
      std::printf("\n%s\n", memory.line(0).c_str());
    }
  });
}

}  // namespace latte::cli
