// latte calibrate, latte profile, latte plan: the offline-tuning tools.
#include <cstdio>
#include <iostream>
#include <nlohmann/json.hpp>

#include "common.h"
#include "latte/core/error.h"
#include "latte/core/threads.h"
#include "latte/eval/calibrate.h"
#include "latte/eval/latency_profile.h"
#include "latte/io/model_folder.h"
#include "latte/models/bert.h"
#include "latte/models/registry.h"
#include "latte/prune/sidecar.h"

namespace latte::cli {

namespace {

// The calibration table, as text or one JSON line, after latte.json was written.
void print_calibration(const CalibrationReport& report, size_t samples, const std::filesystem::path& folder,
                       bool json) {
  if (json) {
    nlohmann::json table = nlohmann::json::array();
    for (size_t layer = 0; layer < report.top_shares.size(); ++layer) {
      table.push_back({{"layer", layer + 1},
                       {"top10", report.top_shares[layer][0]},
                       {"top25", report.top_shares[layer][1]},
                       {"top50", report.top_shares[layer][2]}});
    }
    std::cout << nlohmann::json{{"samples", samples}, {"layers", table}}.dump() << "\n";
    return;
  }
  std::printf("ACC: share of each layer's attention context carried by its top word-vectors (%zu inputs)\n",
              samples);
  std::printf("%5s %8s %8s %8s   %s\n", "layer", "top10%", "top25%", "top50%", "kept at tau 0.9 / 0.7 / 0.5");
  const auto& calibration = report.calibration;
  for (size_t layer = 0; layer < report.top_shares.size(); ++layer) {
    std::printf("%5zu %7.1f%% %7.1f%% %7.1f%%   %5.1f%% / %5.1f%% / %5.1f%%\n", layer + 1,
                100 * report.top_shares[layer][0], 100 * report.top_shares[layer][1],
                100 * report.top_shares[layer][2], 100 * calibration.fractions_at(0.9)[layer],
                100 * calibration.fractions_at(0.7)[layer], 100 * calibration.fractions_at(0.5)[layer]);
  }
  std::printf("wrote calibration (%zu taus) to %s\n", calibration.taus.size(),
              (folder / "latte.json").string().c_str());
}

}  // namespace

void add_calibrate_command(CLI::App& app) {
  auto* command = app.add_subcommand(
      "calibrate", "Measure ACC curves and keep fractions on sample inputs; store them in latte.json");
  struct Options {
    std::string model;
    std::string input;
    int max = 128;
    TruncationOptions truncation;
    std::optional<int> threads;
    bool json = false;
    RecordFlags records;
    std::string out;
  };
  auto options = std::make_shared<Options>();
  command->add_option("--model", options->model, kModelHelp);
  command->add_option("--out", options->out,
                      "Write a copy of the model with its latte.json here (a new or empty folder), leaving "
                      "--model unchanged");
  command
      ->add_option("--input", options->input,
                   "Sample inputs: text lines, JSONL, CSV or TSV (see --format; for a decoder, prompts of 2 "
                   "tokens or more)")
      ->required();
  add_record_options(*command, options->records);
  command->add_option("--max", options->max, "Use at most this many inputs")->check(CLI::Range(1, 1000000));
  add_truncation_options(*command, options->truncation);
  command->get_option("--max-length")->check(CLI::Range(int64_t{2}, int64_t{1} << 30));
  add_threads_option(*command, options->threads);
  command->add_flag("--json", options->json, "Print the ACC table as JSON");
  command->callback([options] {
    setup_threads(options->threads);
    const auto folder = model_folder(options->model);
    // A bad --out fails before the calibration pass, not after it.
    const auto out_error = [](const InputError& error) {
      return InputError(std::string("--out ") + error.what());
    };
    try {
      if (!options->out.empty()) check_new_folder(options->out);
    } catch (const InputError& error) {
      throw out_error(error);
    }
    ModelCalibration calibration;
    // The model's positions are checked where the model is read: 0 stands for them until then.
    Truncation truncation{.max_length = options->truncation.max_length.value_or(0),
                          .refuse = !options->truncation.truncate};
    try {
      calibration = calibrate_model(folder, options->input, static_cast<size_t>(options->max), truncation,
                                    &std::cerr, record_options(options->records));
    } catch (const FieldError& error) {
      throw in_flag_terms(error);
    }
    print_truncation_notice(calibration.truncation, calibration.positions);
    std::filesystem::path written = folder;
    if (!options->out.empty()) {
      written = options->out;
      try {
        copy_model_folder(folder, written);
      } catch (const InputError& error) {
        throw out_error(error);
      }
    }
    Sidecar::update(written, [&](Sidecar& sidecar) { sidecar.calibration = calibration.report.calibration; });
    print_calibration(calibration.report, calibration.samples, written, options->json);
  });
}

void add_profile_command(CLI::App& app) {
  auto* command = app.add_subcommand(
      "profile", "Measure the model's latency table on this machine and refresh its per-machine cache");
  struct Options {
    std::string model;
    int rounds = 3;
    std::optional<int> threads;
    bool json = false;
    std::string dtype;  // empty: as the folder stores it
  };
  auto options = std::make_shared<Options>();
  command->add_option("--model", options->model, kModelHelp);
  command->add_option("--rounds", options->rounds, "Timed rounds per row count (medians)")
      ->check(CLI::Range(1, 1000))
      ->capture_default_str();
  add_threads_option(*command, options->threads);
  command->add_flag("--json", options->json, "Print the table, the validation and the cache file as JSON");
  add_dtype_option(*command, options->dtype);
  command->callback([options, command] {
    setup_threads(options->threads);
    const auto folder = model_folder(options->model);
    // The table and key that the inference commands of the family read (latency_for,
    // decoder_latency_for).
    const FolderProfileSubject loaded =
        load_profile_subject(folder, requested_precision(options->dtype, folder));
    const ProfileSubject& subject = loaded.subject;
    const LatencyKey& key = loaded.key;
    ProfileOptions profile;
    profile.rounds = options->rounds;
    if (command->count("--rounds") == 0) profile.min_seconds = kProfileMinSeconds;
    profile.progress = &std::cerr;
    const ProfileReport report = profile_latency(subject, profile);
    std::string cached = "not cached (no $XDG_CACHE_HOME or $HOME)";
    if (const auto cache_dir = default_latency_cache_dir()) {
      const LatencyCache cache(*cache_dir);
      if (cache.store(key, report.table, &std::cerr))
        cached = cache.path_for(key).string();
      else
        cached = "not cached";
    }
    double worst = 0.0;
    for (const ValidationPoint& point : report.validation) {
      worst = std::max(worst, std::fabs(point.predicted_ms / point.measured_ms - 1.0));
    }
    if (options->json) {
      nlohmann::json points = nlohmann::json::array();
      for (const ValidationPoint& point : report.validation) {
        points.push_back({{"n0", point.n0},
                          {"kept", point.counts},
                          {"dense", point.dense},
                          {"measured_ms", point.measured_ms},
                          {"predicted_ms", point.predicted_ms}});
      }
      std::cout << nlohmann::json{{"key", key.to_json()},
                                  {"table", report.table.to_json()},
                                  {"validation", points},
                                  {"largest_error", worst},
                                  {"profile_seconds", report.seconds},
                                  {"cache_file", cached}}
                       .dump()
                << "\n";
      return;
    }
    const LayerLatency& layer = report.table.layer(subject.layer_kind);
    std::string isa;
    for (const std::string& flag : key.cpu.isa) isa += (isa.empty() ? "" : " ") + flag;
    std::printf("latency table: %s (%s), %d threads, %lld layers x hidden %lld\n", key.cpu.model.c_str(),
                isa.empty() ? "no AVX" : isa.c_str(), key.threads, static_cast<long long>(key.layers),
                static_cast<long long>(key.hidden));
    // An encoder-decoder's table also has the memory projection by the rows leaving the encoder.
    const RowCurve& memory = report.table.memory;
    std::printf("%6s %12s %12s %12s %12s%s\n", "rows", "in_us", "kept_us", "dense_ms", "embed_us",
                memory.rows.empty() ? "" : "    memory_us");
    for (size_t i = 0; i < layer.in.rows.size(); ++i) {
      std::printf("%6lld %12.1f %12.1f %12.1f %12.1f", static_cast<long long>(layer.in.rows[i]),
                  layer.in.seconds[i] * 1e6, layer.kept.seconds[i] * 1e6,
                  report.table.dense_forward.seconds[i] * 1e3, report.table.embeddings.seconds[i] * 1e6);
      if (!memory.rows.empty())
        std::printf(" %12.1f", memory.at(static_cast<double>(layer.in.rows[i])) * 1e6);
      std::printf("\n");
    }
    std::printf(
        "head %.1f us; per layer, timed inside pruning passes: in = QKV + attention + ACC scores + "
        "elimination, kept = output projection + FFN + norms; dense_ms = a whole dense pass\n",
        report.table.head_seconds * 1e6);
    std::printf("validation (whole forward passes):\n%6s %8s %12s %12s %8s\n", "n0", "schedule",
                "measured_ms", "predicted_ms", "error");
    for (const ValidationPoint& point : report.validation) {
      std::printf("%6lld %8s %12.3f %12.3f %+7.1f%%\n", static_cast<long long>(point.n0),
                  point.dense ? "dense" : "pruned", point.measured_ms, point.predicted_ms,
                  100 * (point.predicted_ms / point.measured_ms - 1.0));
    }
    std::printf("largest error %.1f%%; profiled in %.1f s (load average up to %.2f on %d cores); cache: %s\n",
                100 * worst, report.seconds, report.table.profile_load, report.table.profile_cores,
                cached.c_str());
    const std::string provisional = report.table.provisional_reason(kValidationTolerance);
    if (!provisional.empty()) {
      std::fprintf(stderr,
                   "latte: notice: the table is provisional (%s); it is measured again automatically on a "
                   "later run\n",
                   provisional.c_str());
    }
  });
}

void add_plan_command(CLI::App& app) {
  auto* command = app.add_subcommand("plan", "Show the schedule, FLOPs, latency and speedup a knob gives");
  struct Options {
    std::string model;
    int seq = 128;
    bool json = false;
    std::optional<int> threads;
    PruneOptions prune;
    std::string dtype;  // empty: as the folder stores it
  };
  auto options = std::make_shared<Options>();
  command->add_option("--model", options->model, kModelHelp);
  command->add_option("--seq", options->seq, "Input length in word-vectors")
      ->required()
      ->check(CLI::Range(1, 1 << 20));
  command->add_flag("--json", options->json, "Print one JSON object");
  add_threads_option(*command, options->threads);
  add_prune_options(*command, options->prune);
  add_dtype_option(*command, options->dtype);
  command->callback([options] {
    setup_threads(options->threads);
    const auto folder = model_folder(options->model);
    const Precision precision = requested_precision(options->dtype, folder);
    options->prune.precision = precision;
    ModelShape shape;
    std::unique_ptr<Planner> planner;
    std::optional<BertModel> encoder;  // loaded only to profile
    std::unique_ptr<CausalLm> decoder;
    std::unique_ptr<Seq2SeqLm> seq2seq;
    const ModelKind kind = model_family(folder).kind;
    if (kind == ModelKind::kSeq2SeqLm) {
      // Plans are made over the encoder; its table (with the memory it projects) is what
      // generate and bench read.
      seq2seq = load_seq2seq_lm(folder, precision);
      if (options->seq > seq2seq->max_source_tokens()) {
        throw InputError("--seq " + std::to_string(options->seq) + " exceeds the model's longest source of " +
                         std::to_string(seq2seq->max_source_tokens()));
      }
      shape = seq2seq->encoder_shape();
      planner = make_planner(options->prune, shape, folder, [&](bool needs_latency) {
        return seq2seq_latency_for(*seq2seq, needs_latency, options->prune.no_profile);
      });
    } else if (kind == ModelKind::kCausalLm) {
      // The registry describes a decoder once loaded; its prefill table is what generate reads.
      decoder = load_causal_lm(folder, precision);
      if (options->seq > decoder->max_positions()) {
        throw InputError("--seq " + std::to_string(options->seq) +
                         " exceeds the model's longest sequence of " +
                         std::to_string(decoder->max_positions()));
      }
      shape = decoder->shape();
      planner = make_planner(options->prune, shape, folder, [&](bool needs_latency) {
        return decoder_latency_for(*decoder, needs_latency, options->prune.no_profile);
      });
    } else {
      const BertConfig config = BertConfig::from_file(folder / "config.json");
      if (options->seq > config.max_position_embeddings) {
        throw InputError("--seq " + std::to_string(options->seq) + " exceeds the model's maximum length of " +
                         std::to_string(config.max_position_embeddings));
      }
      shape = ModelShape{config.num_layers, config.hidden_size, config.intermediate_size};
      planner = make_planner(options->prune, config, folder, [&]() -> BertModel& {
        if (!encoder) encoder = BertModel::load(folder, precision);
        return *encoder;
      });
    }
    const SequencePlan& plan = planner->plan(options->seq);
    const std::vector<int64_t> dense_counts(static_cast<size_t>(shape.layers), options->seq);
    const double dense_flops = forward_flops(options->seq, dense_counts, shape);
    const double dense_ms = planner->latency_model().dense_seconds(options->seq, shape) * 1e3;
    nlohmann::json result = {{"seq", options->seq},
                             {"mode", plan.dense     ? "dense"
                                      : plan.dynamic ? "dynamic"
                                                     : "static"},
                             {"dense_gflop", dense_flops / 1e9},
                             {"dense_ms", dense_ms},
                             {"latency_model", planner->latency_model().source()}};
    if (plan.dynamic) result["coverage"] = plan.coverage;
    if (!plan.expected_counts.empty()) {
      result["kept"] = plan.expected_counts;
      result["gflop"] = forward_flops(options->seq, plan.expected_counts, shape) / 1e9;
    }
    if (plan.predicted_ms) result["predicted_ms"] = *plan.predicted_ms;
    if (plan.predicted_speedup) result["predicted_speedup"] = *plan.predicted_speedup;
    if (options->json) {
      std::cout << result.dump() << "\n";
      return;
    }
    std::printf("input of %d word-vectors, %s mode, latency model: %s\n", options->seq,
                result["mode"].get<std::string>().c_str(), planner->latency_model().source());
    if (plan.dynamic) std::printf("coverage tau %.4f applied per input\n", plan.coverage);
    if (plan.expected_counts.empty()) {
      std::printf("no prediction: dynamic coverage without calibration (run latte calibrate)\n");
      return;
    }
    std::printf("%5s %8s\n", "layer", "kept");
    for (size_t layer = 0; layer < plan.expected_counts.size(); ++layer) {
      std::printf("%5zu %8lld\n", layer + 1, static_cast<long long>(plan.expected_counts[layer]));
    }
    std::printf("FLOPs   %.3f G (dense %.3f G)\n", result["gflop"].get<double>(), dense_flops / 1e9);
    std::printf("latency %.3f ms predicted (dense %.3f ms)\n", plan.predicted_ms.value_or(0.0), dense_ms);
    std::printf("speedup %.2fx predicted\n", plan.predicted_speedup.value_or(1.0));
  });
}

}  // namespace latte::cli
