// latte bench: latency of the model on synthetic inputs, next to the oneDNN
// GEMM ceiling measured in the same run.
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
  };
  auto options = std::make_shared<Options>();
  command->add_option("--model", options->model, "Hugging Face model folder")->required();
  command->add_option("--seq", options->seq, "Tokens per input, specials included")->required()->check(CLI::Range(2, 1 << 20));
  command->add_option("--batch", options->batch, "Inputs per forward pass")->check(CLI::Range(1, 4096));
  command->add_option("--threads", options->threads, "Threads (default: LATTE_NUM_THREADS or all cores)");
  command->add_option("--repeats", options->repeats, "Timed runs (median reported)")->check(CLI::Range(1, 100000));
  command->add_option("--warmup", options->warmup, "Untimed runs first")->check(CLI::Range(0, 1000));
  command->add_flag("--json", options->json, "Print one JSON object");
  command->callback([options] {
    setup_threads(options->threads);
    BertModel model = BertModel::load(model_folder(options->model));
    const BertConfig& config = model.config();
    if (options->seq > config.max_position_embeddings) {
      throw InputError("--seq " + std::to_string(options->seq) + " exceeds the model's maximum length of " +
                       std::to_string(config.max_position_embeddings));
    }
    // Synthetic inputs: [CLS]-like first id, random word ids, a [SEP]-like last id.
    std::mt19937 generator(1234);
    std::uniform_int_distribution<int32_t> word(1, static_cast<int32_t>(config.vocab_size - 1));
    std::vector<BertInput> batch(static_cast<size_t>(options->batch));
    for (BertInput& input : batch) {
      for (int i = 0; i < options->seq; ++i) input.input_ids.push_back(word(generator));
    }
    for (int i = 0; i < options->warmup; ++i) model.forward(batch);
    std::vector<double> milliseconds;
    for (int i = 0; i < options->repeats; ++i) {
      const auto start = std::chrono::steady_clock::now();
      model.forward(batch);
      milliseconds.push_back(
          std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count());
    }
    const Timing timing = summarize(milliseconds);
    double flops = 0.0;
    for (int64_t layer = 0; layer < config.num_layers; ++layer) {
      flops += options->batch *
               encoder_layer_flops(options->seq, options->seq, config.hidden_size, config.intermediate_size).total();
    }
    const double gflops = flops / (timing.median_ms * 1e-3) / 1e9;
    const double ceiling = gemm_ceiling(config, static_cast<int64_t>(options->seq) * options->batch,
                                       std::max(5, options->repeats));
    const nlohmann::json result = {{"seq", options->seq},
                                   {"batch", options->batch},
                                   {"threads", num_threads()},
                                   {"repeats", options->repeats},
                                   {"median_ms", timing.median_ms},
                                   {"p10_ms", timing.p10_ms},
                                   {"p90_ms", timing.p90_ms},
                                   {"gflop", flops / 1e9},
                                   {"gflops", gflops},
                                   {"gemm_ceiling_gflops", ceiling},
                                   {"fraction_of_ceiling", gflops / ceiling}};
    if (options->json) {
      std::cout << result.dump() << "\n";
      return;
    }
    std::printf("seq %d, batch %d, %d threads, %d runs\n", options->seq, options->batch, num_threads(),
                options->repeats);
    std::printf("latency   median %.2f ms (p10 %.2f, p90 %.2f)\n", timing.median_ms, timing.p10_ms,
                timing.p90_ms);
    std::printf("compute   %.2f GFLOP per pass, %.1f GFLOP/s\n", flops / 1e9, gflops);
    std::printf("ceiling   oneDNN GEMM on this model's shapes: %.1f GFLOP/s -> %.0f%% of ceiling\n", ceiling,
                100.0 * gflops / ceiling);
  });
}

}  // namespace latte::cli
