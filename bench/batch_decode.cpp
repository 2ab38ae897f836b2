// latte_batch_bench: decode steps of several streams batched into one pass over the weights
// (CausalLm::decode, what continuous batching runs) against one stream, for a decoder folder.
// Each stream has its own prompt and KV cache. Stream counts are timed interleaved, round after
// round, so a load that comes and goes on a shared machine touches them alike; medians of the
// rounds are printed, with aggregate tokens/s and its ratio to one stream's in the same run.
// "1 (forward)" is one stream through CausalLm::forward, the path `latte generate` takes.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "latte/core/cpu.h"
#include "latte/core/error.h"
#include "latte/core/threads.h"
#include "latte/models/causal_lm.h"
#include "latte/models/registry.h"
#include "latte/prune/plan.h"

namespace {

using Clock = std::chrono::steady_clock;

struct Options {
  std::string model;
  std::vector<int64_t> streams = {1, 2, 4};
  int threads = 2;
  std::string dtype = "f32";
  int64_t prompt_tokens = 64;
  int64_t steps = 32;
  int rounds = 5;
  double speedup = 1.0;  // each prompt's prefill eliminates for this target (FLOPs prior); 1: dense
};

double median(std::vector<double> values) {
  std::sort(values.begin(), values.end());
  return values[values.size() / 2];
}

int32_t argmax(const latte::Tensor& logits) {
  const float* row = logits.data();
  return static_cast<int32_t>(std::max_element(row, row + logits.dim(1)) - row);
}

// Seconds per decode step of `streams` sequences, each after its own prompt of prompt_tokens.
// via_forward: one stream through forward (the unbatched path), for comparison.
double seconds_per_step(latte::CausalLm& model, const Options& options, const latte::Planner* planner,
                        int64_t streams, bool via_forward) {
  std::vector<latte::KvCache> caches;
  std::vector<int32_t> next_ids;
  for (int64_t s = 0; s < streams; ++s) {
    std::vector<int32_t> prompt(static_cast<size_t>(options.prompt_tokens));
    for (size_t i = 0; i < prompt.size(); ++i)
      prompt[i] = static_cast<int32_t>((17 * s + 31 * static_cast<int64_t>(i) + 5) % model.vocab_size());
    caches.push_back(model.new_cache());
    caches.back().reserve_more(options.prompt_tokens + options.steps);
    latte::DecoderOptions prefill;
    prefill.planner = planner;
    next_ids.push_back(argmax(model.forward(prompt, caches.back(), prefill).logits));
  }
  std::vector<latte::KvCache*> pointers;
  for (latte::KvCache& cache : caches) pointers.push_back(&cache);
  const auto start = Clock::now();
  for (int64_t step = 0; step < options.steps; ++step) {
    if (via_forward) {
      next_ids[0] = argmax(model.forward({next_ids.data(), 1}, caches[0], {}).logits);
      continue;
    }
    const std::vector<latte::DecoderOutput> outputs = model.decode(next_ids, pointers, {});
    for (size_t s = 0; s < outputs.size(); ++s) next_ids[s] = argmax(outputs[s].logits);
  }
  return std::chrono::duration<double>(Clock::now() - start).count() / static_cast<double>(options.steps);
}

Options parse(int argc, char** argv) {
  Options options;
  const auto number = [&](int& i, const std::string& flag) {
    if (i + 1 >= argc) throw latte::InputError(flag + " needs a value");
    const std::vector<int64_t> values = latte::parse_integer_list(argv[++i], flag, "4");
    if (values.size() != 1 || values[0] < 1) throw latte::InputError(flag + " must be one integer >= 1");
    return values[0];
  };
  for (int i = 1; i < argc; ++i) {
    const std::string flag = argv[i];
    if (flag == "--model" && i + 1 < argc) {
      options.model = argv[++i];
    } else if (flag == "--streams" && i + 1 < argc) {
      options.streams = latte::parse_integer_list(argv[++i], flag, "1,2,4");
      for (const int64_t count : options.streams)
        if (count < 1) throw latte::InputError("--streams takes counts >= 1");
    } else if (flag == "--dtype" && i + 1 < argc) {
      options.dtype = argv[++i];
    } else if (flag == "--threads") {
      options.threads = static_cast<int>(number(i, flag));
    } else if (flag == "--prompt") {
      options.prompt_tokens = number(i, flag);
    } else if (flag == "--steps") {
      options.steps = number(i, flag);
    } else if (flag == "--rounds") {
      options.rounds = static_cast<int>(number(i, flag));
    } else if (flag == "--speedup" && i + 1 < argc) {
      options.speedup = std::atof(argv[++i]);
      if (!(options.speedup >= 1.0)) throw latte::InputError("--speedup must be a number >= 1");
    } else {
      throw latte::InputError(
          "unknown or incomplete argument '" + flag +
          "' (usage: latte_batch_bench --model DIR [--streams 1,2,4] [--threads 2] "
          "[--dtype f32|int8|bf16] [--prompt 64] [--steps 32] [--rounds 5] [--speedup S])");
    }
  }
  if (options.model.empty()) throw latte::InputError("--model DIR is required");
  return options;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    const Options options = parse(argc, argv);
    latte::set_num_threads(latte::resolve_num_threads(options.threads));
    const std::unique_ptr<latte::CausalLm> model =
        latte::load_causal_lm(options.model, latte::precision_from_name(options.dtype));
    if (options.prompt_tokens + options.steps > model->max_positions()) {
      throw latte::InputError("--prompt + --steps must stay within the model's " +
                              std::to_string(model->max_positions()) + " positions");
    }
    // The FLOPs prior plans the prefills: the same schedule on every machine, no profiling.
    std::unique_ptr<latte::Planner> planner;
    if (options.speedup > 1.0) {
      planner = std::make_unique<latte::Planner>(latte::Knobs{.speedup = options.speedup}, model->shape(),
                                                 std::nullopt, latte::LatencyModel{}, nullptr);
    }
    std::printf(
        "decode steps of N streams batched (CausalLm::decode), %s, %s, %d threads, prompts of %lld "
        "tokens (prefill speedup %.2f), %lld steps, median of %d interleaved rounds\n",
        options.model.c_str(), latte::precision_name(model->precision()), latte::num_threads(),
        static_cast<long long>(options.prompt_tokens), options.speedup, static_cast<long long>(options.steps),
        options.rounds);
    const latte::CpuInfo cpu = latte::read_cpu_info();
    std::string isa;
    for (const std::string& extension : cpu.isa) isa += " " + extension;
    const std::optional<double> load = latte::load_average();
    std::printf("cpu: %s,%s; load average %.2f\n", cpu.model.c_str(), isa.c_str(), load.value_or(-1.0));
    // Row 0: one stream through forward; then each stream count through decode.
    std::vector<std::vector<double>> times(options.streams.size() + 1);
    seconds_per_step(*model, options, planner.get(), 1, false);  // warm-up: thread pool, kernels, workspace
    for (int round = 0; round < options.rounds; ++round) {
      times[0].push_back(seconds_per_step(*model, options, planner.get(), 1, true));
      for (size_t i = 0; i < options.streams.size(); ++i)
        times[i + 1].push_back(seconds_per_step(*model, options, planner.get(), options.streams[i], false));
    }
    const double one_stream = 1.0 / median(times[0]);
    std::printf("%-12s %12s %14s %16s\n", "streams", "ms/step", "tokens/s", "vs 1 (forward)");
    for (size_t i = 0; i < times.size(); ++i) {
      const int64_t streams = i == 0 ? 1 : options.streams[i - 1];
      const double seconds = median(times[i]);
      const double tokens_per_second = static_cast<double>(streams) / seconds;
      const std::string label = i == 0 ? "1 (forward)" : std::to_string(streams);
      std::printf("%-12s %12.2f %14.1f %15.2fx\n", label.c_str(), seconds * 1e3, tokens_per_second,
                  tokens_per_second / one_stream);
    }
    return 0;
  } catch (const latte::Error& error) {
    std::fprintf(stderr, "latte_batch_bench: error: %s\n", error.what());
    return 1;
  }
}
