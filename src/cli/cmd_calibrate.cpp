// latte calibrate, latte profile, latte plan: the offline-tuning tools.
#include <cstdio>
#include <iostream>
#include <nlohmann/json.hpp>

#include "common.h"
#include "latte/core/error.h"
#include "latte/core/threads.h"
#include "latte/eval/calibrate.h"
#include "latte/models/bert.h"
#include "latte/tokenizers/bert_tokenizer.h"

namespace latte::cli {

void add_calibrate_command(CLI::App& app) {
  auto* command = app.add_subcommand(
      "calibrate", "Measure ACC curves and keep fractions on sample inputs; store them in latte.json");
  struct Options {
    std::string model;
    std::string input;
    int max = 128;
    std::optional<int> threads;
    bool json = false;
  };
  auto options = std::make_shared<Options>();
  command->add_option("--model", options->model, kModelHelp);
  command->add_option("--input", options->input, "Sample inputs: text lines or JSONL")->required();
  command->add_option("--max", options->max, "Use at most this many inputs")->check(CLI::Range(1, 1000000));
  command->add_option("--threads", options->threads, "Threads (default: LATTE_NUM_THREADS or all cores)");
  command->add_flag("--json", options->json, "Print the ACC table as JSON");
  command->callback([options] {
    setup_threads(options->threads);
    const auto folder = model_folder(options->model);
    BertModel model = BertModel::load(folder);
    const BertTokenizer tokenizer = BertTokenizer::from_dir(folder);
    std::vector<TextInput> texts = read_inputs(options->input);
    if (texts.empty()) throw InputError(options->input + ": no inputs to calibrate on");
    if (texts.size() > static_cast<size_t>(options->max)) texts.resize(static_cast<size_t>(options->max));
    std::vector<BertInput> inputs;
    const int max_length = static_cast<int>(model.config().max_position_embeddings);
    for (const TextInput& text : texts) {
      Encoding encoding;
      try {
        encoding = text.text_pair ? tokenizer.encode_pair(text.text, *text.text_pair, max_length)
                                  : tokenizer.encode(text.text, max_length);
      } catch (const InputError& error) {
        throw InputError(text.origin + ": " + error.what());
      }
      inputs.push_back(BertInput{std::move(encoding.ids), std::move(encoding.type_ids)});
    }
    const CalibrationReport report = calibrate(model, inputs, default_calibration_taus(), &std::cerr);
    Sidecar::update(folder, [&](Sidecar& sidecar) { sidecar.calibration = report.calibration; });

    if (options->json) {
      nlohmann::json table = nlohmann::json::array();
      for (size_t layer = 0; layer < report.top_shares.size(); ++layer) {
        table.push_back({{"layer", layer + 1},
                         {"top10", report.top_shares[layer][0]},
                         {"top25", report.top_shares[layer][1]},
                         {"top50", report.top_shares[layer][2]}});
      }
      std::cout << nlohmann::json{{"samples", inputs.size()}, {"layers", table}}.dump() << "\n";
    } else {
      std::printf(
          "ACC: share of each layer's attention context carried by its top word-vectors (%zu inputs)\n",
          inputs.size());
      std::printf("%5s %8s %8s %8s   %s\n", "layer", "top10%", "top25%", "top50%",
                  "kept at tau 0.9 / 0.7 / 0.5");
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
  });
}

void add_profile_command(CLI::App& app) {
  auto* command =
      app.add_subcommand("profile", "Time the model on this machine and fit the latency model in latte.json");
  struct Options {
    std::string model;
    std::string lengths = "32,64,128,256";
    int repeats = 5;
    std::optional<int> threads;
    bool json = false;
  };
  auto options = std::make_shared<Options>();
  command->add_option("--model", options->model, kModelHelp);
  command->add_option("--lengths", options->lengths, "Input lengths to time (capped at the model maximum)");
  command->add_option("--repeats", options->repeats, "Timed rounds (medians)")->check(CLI::Range(1, 1000));
  command->add_option("--threads", options->threads, "Threads (default: LATTE_NUM_THREADS or all cores)");
  command->add_flag("--json", options->json, "Print the fitted model and the points as JSON");
  command->callback([options] {
    setup_threads(options->threads);
    const auto folder = model_folder(options->model);
    BertModel model = BertModel::load(folder);
    std::vector<int64_t> lengths;
    for (double length : parse_number_list(options->lengths, "--lengths")) {
      if (length != std::floor(length))
        throw InputError("--lengths: " + std::to_string(length) + " is not an integer");
      lengths.push_back(
          std::min<int64_t>(static_cast<int64_t>(length), model.config().max_position_embeddings));
    }
    const ProfileReport report = profile_latency(model, lengths, options->repeats, &std::cerr);
    Sidecar sidecar = Sidecar::read(folder);
    sidecar.latency_model = report.model;
    sidecar.write(folder);
    if (options->json) {
      nlohmann::json points = nlohmann::json::array();
      for (const ProfilePoint& point : report.points) {
        points.push_back({{"n0", point.n0},
                          {"kept", point.counts},
                          {"measured_ms", point.measured_ms},
                          {"predicted_ms", point.predicted_ms}});
      }
      std::cout << nlohmann::json{{"latency_model", report.model.to_json()}, {"points", points}}.dump()
                << "\n";
      return;
    }
    const LatencyModel& fit = report.model;
    std::printf(
        "latency model (%d threads): %.1f GFLOP/s on GEMMs, %.1f GFLOP/s on attention, %.2f us/row, %.1f "
        "us/layer\n",
        fit.threads, 1e-9 / fit.seconds_per_gemm_flop,
        fit.seconds_per_attention_flop > 0 ? 1e-9 / fit.seconds_per_attention_flop : 0.0,
        fit.seconds_per_row * 1e6, fit.seconds_per_layer * 1e6);
    std::printf("%6s %12s %12s %8s\n", "n0", "measured_ms", "predicted_ms", "error");
    double worst = 0.0;
    for (const ProfilePoint& point : report.points) {
      const double error = point.predicted_ms / point.measured_ms - 1.0;
      worst = std::max(worst, std::fabs(error));
      std::printf("%6lld %12.3f %12.3f %+7.1f%%\n", static_cast<long long>(point.n0), point.measured_ms,
                  point.predicted_ms, 100 * error);
    }
    std::printf("largest error %.1f%%; wrote latency_model to %s\n", 100 * worst,
                (folder / "latte.json").string().c_str());
  });
}

void add_plan_command(CLI::App& app) {
  auto* command = app.add_subcommand("plan", "Show the schedule, FLOPs, latency and speedup a knob gives");
  struct Options {
    std::string model;
    int seq = 128;
    bool json = false;
    PruneOptions prune;
  };
  auto options = std::make_shared<Options>();
  command->add_option("--model", options->model, kModelHelp);
  command->add_option("--seq", options->seq, "Input length in word-vectors")
      ->required()
      ->check(CLI::Range(1, 1 << 20));
  command->add_flag("--json", options->json, "Print one JSON object");
  add_prune_options(*command, options->prune);
  command->callback([options] {
    const auto folder = model_folder(options->model);
    const BertConfig config = BertConfig::from_file(folder / "config.json");
    if (options->seq > config.max_position_embeddings) {
      throw InputError("--seq " + std::to_string(options->seq) + " exceeds the model's maximum length of " +
                       std::to_string(config.max_position_embeddings));
    }
    const ModelShape shape{config.num_layers, config.hidden_size, config.intermediate_size};
    const std::unique_ptr<Planner> planner = make_planner(options->prune, shape, folder);
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
                             {"latency_model", planner->latency_model().source}};
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
                result["mode"].get<std::string>().c_str(), planner->latency_model().source.c_str());
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
