// latte bench: latency of the model on synthetic inputs of exactly N tokens,
// dense and pruned runs interleaved in one process (ratios from the same run),
// next to the oneDNN GEMM ceiling measured in the same run.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <iostream>
#include <nlohmann/json.hpp>
#include <random>

#include "common.h"
#include "latte/core/error.h"
#include "latte/core/linear.h"
#include "latte/core/threads.h"
#include "latte/models/bert.h"
#include "latte/prune/cost_model.h"

namespace latte::cli {

namespace {

struct Timing {
  double median_ms = 0, p10_ms = 0, p90_ms = 0;
};

Timing summarize(std::vector<double> milliseconds) {
  std::sort(milliseconds.begin(), milliseconds.end());
  auto at = [&](double quantile) {
    return milliseconds[static_cast<size_t>(quantile * static_cast<double>(milliseconds.size() - 1) + 0.5)];
  };
  return Timing{at(0.5), at(0.1), at(0.9)};
}

// GFLOP/s oneDNN reaches on this model's own GEMM shapes at this row count,
// weighted by their FLOPs: the ceiling for a dense forward pass.
double gemm_ceiling(const BertConfig& config, int64_t rows, int repeats) {
  const int64_t d = config.hidden_size;
  const int64_t f = config.intermediate_size;
  const int64_t shapes[][2] = {{d, 3 * d}, {d, d}, {d, f}, {f, d}};
  double flops = 0.0, seconds = 0.0;
  for (const auto& shape : shapes) {
    const double shape_flops = 2.0 * static_cast<double>(rows * shape[0] * shape[1]);
    flops += shape_flops;
    seconds += shape_flops / (measure_gemm_gflops(rows, shape[0], shape[1], repeats) * 1e9);
  }
  return flops / seconds / 1e9;
}

// One configuration being timed: dense, or a planner for a knob.
struct Variant {
  std::string name;
  std::optional<double> speedup;
  std::unique_ptr<Planner> planner;
  bool score = false;
  std::vector<double> milliseconds;
  std::vector<int64_t> kept;
};

}  // namespace

void add_bench_command(CLI::App& app) {
  auto* command = app.add_subcommand("bench", "Time the model on synthetic inputs of exactly N tokens");
  struct Options {
    std::string model;
    int seq = 128;
    int batch = 1;
    std::optional<int> threads;
    int repeats = 10;
    int warmup = 2;
    bool json = false;
    bool score = false;
    std::string speedups;
    PruneOptions prune;
  };
  auto options = std::make_shared<Options>();
  command->add_option("--model", options->model, kModelHelp);
  command->add_option("--seq", options->seq, "Tokens per input, specials included")
      ->required()
      ->check(CLI::Range(2, 1 << 20));
  command->add_option("--batch", options->batch, "Inputs per forward pass")->check(CLI::Range(1, 4096));
  add_threads_option(*command, options->threads);
  command->add_option("--repeats", options->repeats, "Timed runs (median reported)")
      ->check(CLI::Range(1, 100000));
  command->add_option("--warmup", options->warmup, "Untimed runs first")->check(CLI::Range(0, 1000));
  command->add_option("--speedups", options->speedups,
                      "Several target speedups, timed interleaved with dense, e.g. 2,3,4,5");
  command->add_flag("--score", options->score, "Also time dense with ACC scoring on (its overhead)");
  command->add_flag("--json", options->json, "Print one JSON object per configuration");
  add_prune_options(*command, options->prune);
  command->callback([options] {
    setup_threads(options->threads);
    const auto folder = model_folder(options->model);
    BertModel model = BertModel::load(folder);
    const BertConfig& config = model.config();
    if (options->seq > config.max_position_embeddings) {
      throw InputError("--seq " + std::to_string(options->seq) + " exceeds the model's maximum length of " +
                       std::to_string(config.max_position_embeddings));
    }
    std::vector<Variant> variants;
    variants.push_back(Variant{"dense", 1.0, nullptr, false, {}, {}});
    if (options->score) variants.push_back(Variant{"dense+scoring", std::nullopt, nullptr, true, {}, {}});
    if (!options->speedups.empty()) {
      for (double target : parse_number_list(options->speedups, "--speedups")) {
        PruneOptions prune = options->prune;
        prune.speedup = target;
        if (!prune.keep.empty() || prune.coverage || prune.latency_ms || options->prune.speedup) {
          throw InputError(
              "--speedups cannot be combined with --keep, --coverage, --speedup or --latency-ms");
        }
        char name[32];
        std::snprintf(name, sizeof(name), "speedup %g", target);
        variants.push_back(Variant{name, target, make_planner(prune, model.shape(), folder), false, {}, {}});
      }
    } else if (!options->prune.keep.empty() || options->prune.coverage || options->prune.speedup ||
               options->prune.latency_ms) {
      variants.push_back(Variant{"pruned",
                                 options->prune.speedup,
                                 make_planner(options->prune, model.shape(), folder),
                                 false,
                                 {},
                                 {}});
    }

    // Synthetic inputs of random word ids.
    std::mt19937 generator(1234);
    std::uniform_int_distribution<int32_t> word(1, static_cast<int32_t>(config.vocab_size - 1));
    std::vector<BertInput> batch(static_cast<size_t>(options->batch));
    for (BertInput& input : batch) {
      for (int i = 0; i < options->seq; ++i) input.input_ids.push_back(word(generator));
    }
    auto run = [&](Variant& variant) {
      ForwardOptions forward;
      forward.planner = variant.planner.get();
      forward.compute_scores = variant.score;
      const auto start = std::chrono::steady_clock::now();
      const BertOutput output = model.forward(batch, forward);
      const double elapsed =
          std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
      variant.kept = output.kept[0];
      return elapsed;
    };
    for (int i = 0; i < options->warmup; ++i) {
      for (Variant& variant : variants) run(variant);
    }
    // Interleaved: every round times each configuration once, so drift on a
    // shared machine hits all of them alike.
    for (int i = 0; i < options->repeats; ++i) {
      for (Variant& variant : variants) variant.milliseconds.push_back(run(variant));
    }

    const int64_t rows = static_cast<int64_t>(options->seq) * options->batch;
    const double ceiling = gemm_ceiling(config, rows, std::max(5, options->repeats));
    const double dense_median = summarize(variants.front().milliseconds).median_ms;
    const double dense_flops =
        options->batch *
        forward_flops(options->seq,
                      std::vector<int64_t>(static_cast<size_t>(config.num_layers), options->seq),
                      model.shape());
    if (!options->json) {
      std::printf(
          "seq %d, batch %d, %d threads, %d interleaved runs each; oneDNN GEMM ceiling %.1f GFLOP/s\n",
          options->seq, options->batch, num_threads(), options->repeats, ceiling);
      std::printf("%-14s %10s %10s %10s %9s %9s %9s  %s\n", "config", "median_ms", "p10_ms", "p90_ms",
                  "GFLOP/s", "measured", "predicted", "kept per layer");
    }
    for (const Variant& variant : variants) {
      const Timing timing = summarize(variant.milliseconds);
      const double flops = options->batch * forward_flops(options->seq, variant.kept, model.shape());
      const double gflops = flops / (timing.median_ms * 1e-3) / 1e9;
      std::optional<double> predicted;
      if (variant.planner) predicted = variant.planner->plan(options->seq).predicted_speedup;
      nlohmann::json result = {{"config", variant.name},
                               {"seq", options->seq},
                               {"batch", options->batch},
                               {"threads", num_threads()},
                               {"repeats", options->repeats},
                               {"median_ms", timing.median_ms},
                               {"p10_ms", timing.p10_ms},
                               {"p90_ms", timing.p90_ms},
                               {"gflop", flops / 1e9},
                               {"gflops", gflops},
                               {"gemm_ceiling_gflops", ceiling},
                               {"fraction_of_ceiling", gflops / ceiling},
                               {"measured_speedup", dense_median / timing.median_ms},
                               {"kept", variant.kept}};
      if (variant.speedup) result["requested_speedup"] = *variant.speedup;
      if (predicted) result["predicted_speedup"] = *predicted;
      if (options->json) {
        std::cout << result.dump() << "\n";
        continue;
      }
      std::string kept;
      for (size_t l = 0; l < variant.kept.size(); ++l)
        kept += (l ? "," : "") + std::to_string(variant.kept[l]);
      char predicted_text[16] = "-";
      if (predicted) std::snprintf(predicted_text, sizeof(predicted_text), "%.2fx", *predicted);
      std::printf("%-14s %10.2f %10.2f %10.2f %9.1f %8.2fx %9s  %s\n", variant.name.c_str(), timing.median_ms,
                  timing.p10_ms, timing.p90_ms, gflops, dense_median / timing.median_ms, predicted_text,
                  kept.c_str());
    }
    if (!options->json) {
      std::printf("dense: %.1f%% of the GEMM ceiling\n",
                  100.0 * dense_flops / (dense_median * 1e-3) / 1e9 / ceiling);
    }
  });
}

}  // namespace latte::cli
