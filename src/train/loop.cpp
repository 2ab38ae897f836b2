#include "loop.h"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <sstream>

#include "latte/core/error.h"
#include "latte/io/atomic_file.h"
#include "latte/io/json_file.h"
#include "latte/io/model_folder.h"
#include "latte/train/progress.h"

namespace latte::train {

namespace {

constexpr int kStateVersion = 1;

// Weight decay on matrices and embeddings, not on biases and layer norms.
std::unique_ptr<torch::optim::AdamW> make_optimizer(const NamedWeights& weights,
                                                    const TrainOptions& options) {
  std::vector<torch::Tensor> decayed, plain;
  for (const auto& [name, parameter] : weights) {
    const bool is_plain = parameter.dim() == 1;  // biases and LayerNorm scales/shifts
    (is_plain ? plain : decayed).push_back(parameter);
  }
  std::vector<torch::optim::OptimizerParamGroup> groups;
  groups.emplace_back(
      decayed, std::make_unique<torch::optim::AdamWOptions>(
                   torch::optim::AdamWOptions(options.learning_rate).weight_decay(options.weight_decay)));
  groups.emplace_back(plain, std::make_unique<torch::optim::AdamWOptions>(
                                 torch::optim::AdamWOptions(options.learning_rate).weight_decay(0.0)));
  return std::make_unique<torch::optim::AdamW>(groups, torch::optim::AdamWOptions(options.learning_rate));
}

void set_learning_rate(torch::optim::AdamW& optimizer, double rate) {
  for (torch::optim::OptimizerParamGroup& group : optimizer.param_groups()) {
    static_cast<torch::optim::AdamWOptions&>(group.options()).lr(rate);
  }
}

std::filesystem::path state_dir(const TrainOptions& options) { return options.out / "trainer_state"; }

// Saves OUT/trainer_state as a whole: written beside it, then swapped in, so
// an interruption leaves either the previous state or the new one.
void save_state(Task& task, torch::optim::AdamW& optimizer, const TrainOptions& options,
                const nlohmann::json& state) {
  const std::filesystem::path final_dir = state_dir(options);
  const std::filesystem::path fresh = options.out / "trainer_state.new";
  const std::filesystem::path old = options.out / "trainer_state.old";
  std::filesystem::remove_all(fresh);
  std::filesystem::create_directories(fresh);
  task.save(fresh, DType::F32, false);
  std::ostringstream optimizer_bytes;  // torch::save to a path would follow a planted symlink
  torch::save(optimizer, optimizer_bytes);
  write_file_atomic(fresh / "optimizer.pt", optimizer_bytes.view());
  write_json_file_atomic(fresh / "state.json", state);
  std::filesystem::remove_all(old);
  if (std::filesystem::exists(final_dir)) std::filesystem::rename(final_dir, old);
  std::filesystem::rename(fresh, final_dir);
  std::filesystem::remove_all(old);
}

// The folder to resume from: trainer_state, or trainer_state.old when a swap was interrupted.
std::optional<std::filesystem::path> existing_state(const TrainOptions& options) {
  for (const char* name : {"trainer_state", "trainer_state.old"}) {
    const std::filesystem::path dir = options.out / name;
    if (std::filesystem::exists(dir / "state.json")) return dir;
  }
  return std::nullopt;
}

nlohmann::json evaluation_json(const Evaluation& evaluation) {
  return {{"step", evaluation.step},
          {"score", evaluation.score},
          {"metrics", evaluation.metrics},
          {"summary", evaluation.summary},
          {"warnings", evaluation.warnings}};
}

Evaluation evaluation_from_json(const nlohmann::json& json) {
  Evaluation evaluation;
  evaluation.step = json_require_int(json, "step", "state.json evaluation");
  evaluation.score = json.at("score").get<double>();
  evaluation.metrics = json.at("metrics");
  evaluation.summary = json.at("summary").get<std::string>();
  // States written before warnings were kept have none.
  if (json.contains("warnings")) evaluation.warnings = json.at("warnings").get<std::vector<std::string>>();
  return evaluation;
}

}  // namespace

void refuse_to_overwrite(const TrainOptions& options) {
  const std::optional<std::filesystem::path> previous = existing_state(options);
  if (previous && !options.resume) {
    throw InputError(options.out.string() + " already holds a training run (" + previous->string() +
                     "); pass --resume to continue it, or choose another --out");
  }
  // The best checkpoint is written as a model folder: files of another model left beside it
  // (tokenizer.json, latte.json) would be read as part of it.
  if (!previous && !folder_is_absent_or_empty(options.out)) {
    throw InputError(options.out.string() + " is not empty and holds no training run; choose an empty --out");
  }
}

std::optional<std::filesystem::path> resumable_state(Task& task, const TrainOptions& options) {
  const std::optional<std::filesystem::path> previous = existing_state(options);
  if (!previous || !options.resume) return std::nullopt;
  const nlohmann::json state = read_json_file(*previous / "state.json");
  if (state.value("task", "") != task.name()) {
    throw InputError(previous->string() + " is the state of a '" + state.value("task", "?") + "' run, not '" +
                     task.name() + "'");
  }
  task.check_resumable(*previous);
  return previous;
}

TrainResult run(Task& task, const TrainOptions& options, std::ostream& log) {
  if (options.learning_rate <= 0) throw InputError("--lr must be positive");
  if (options.batch_size < 1) throw InputError("--batch-size must be at least 1");
  if (options.warmup_fraction < 0 || options.warmup_fraction >= 1)
    throw InputError("--warmup must be in [0, 1)");
  const int64_t total = task.total_steps();
  const int64_t eval_every = options.eval_every > 0 ? options.eval_every : task.default_eval_every();
  const int64_t warmup = static_cast<int64_t>(options.warmup_fraction * static_cast<double>(total));
  NamedWeights weights = task.weights();
  std::vector<torch::Tensor> parameters;
  for (const auto& entry : weights) parameters.push_back(entry.second);
  std::unique_ptr<torch::optim::AdamW> optimizer = make_optimizer(weights, options);

  TrainResult result;
  const std::optional<std::filesystem::path> previous = resumable_state(task, options);
  if (previous) {
    const nlohmann::json state = read_json_file(*previous / "state.json");
    task.load(*previous);
    torch::load(*optimizer, (*previous / "optimizer.pt").string());
    const std::string state_label = (*previous / "state.json").string();
    result.first_step = json_require_int(state, "step", state_label);
    if (result.first_step < 0 || result.first_step > total) {
      throw FormatError(state_label + ": field 'step' is " + std::to_string(result.first_step) +
                        "; expected 0.." + std::to_string(total));
    }
    for (const auto& item : state.at("evaluations")) result.evaluations.push_back(evaluation_from_json(item));
    if (state.contains("best") && !state["best"].is_null()) result.best = evaluation_from_json(state["best"]);
    log << "latte: resuming " << task.name() << " from step " << result.first_step << " of " << total << "\n";
  } else if (options.resume) {
    log << "latte: notice: nothing to resume in " << options.out.string() << "; starting a new run\n";
  }
  std::filesystem::create_directories(options.out);

  const bool interactive = options.interactive.value_or(::isatty(STDERR_FILENO) != 0);
  ProgressBar progress(task.name(), result.first_step, total, log, interactive);
  const auto start = std::chrono::steady_clock::now();
  int64_t examples = 0;
  // A run may stop early (--stop-after) with its state saved, to be resumed later.
  const int64_t end = options.stop_after > 0 ? std::min(total, options.stop_after) : total;
  for (int64_t step = result.first_step; step < end; ++step) {
    task.module().train();
    set_learning_rate(*optimizer, learning_rate_at(step, total, warmup, options.learning_rate));
    torch::manual_seed(derive_seed(options.seed, kStepStream, static_cast<uint64_t>(step)));  // dropout
    std::mt19937_64 generator(derive_seed(options.seed, kStepStream, static_cast<uint64_t>(step)));
    auto [loss, batch_examples] = task.batch_loss(step, generator);
    optimizer->zero_grad();
    loss.backward();
    torch::nn::utils::clip_grad_norm_(parameters, options.max_grad_norm);
    optimizer->step();
    const double loss_value = loss.item<double>();
    if (!std::isfinite(loss_value)) {
      throw Error("training diverged: loss is " + std::to_string(loss_value) + " at step " +
                  std::to_string(step + 1) + " (try a lower --lr)");
    }
    result.losses.push_back(loss_value);
    examples += batch_examples;
    progress.step(step + 1, loss_value, batch_examples);

    if ((step + 1) % eval_every == 0 || step + 1 == end) {
      task.module().eval();
      Evaluation evaluation = task.evaluate();
      evaluation.step = step + 1;
      const bool best = !result.best || evaluation.score > result.best->score;
      std::string line =
          "latte: " + task.name() + " step " + std::to_string(step + 1) + ": " + evaluation.summary;
      if (best) {
        result.best = evaluation;
        task.save(options.out, options.save_dtype, true);
        line += "  (best so far, saved to " + options.out.string() + ")";
      }
      result.evaluations.push_back(evaluation);
      progress.message(line);
      for (const std::string& warning : evaluation.warnings) progress.message("latte: warning: " + warning);
      nlohmann::json state = {{"version", kStateVersion},
                              {"task", task.name()},
                              {"step", step + 1},
                              {"total_steps", total},
                              {"seed", options.seed},
                              {"best", nullptr},
                              {"evaluations", nlohmann::json::array()}};
      if (result.best) state["best"] = evaluation_json(*result.best);
      for (const Evaluation& item : result.evaluations) state["evaluations"].push_back(evaluation_json(item));
      save_state(task, *optimizer, options, state);
    }
  }
  progress.finish();
  result.last_step = std::max(end, result.first_step);
  result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  result.examples_per_second = result.seconds > 0 ? static_cast<double>(examples) / result.seconds : 0.0;
  if (result.best) {
    log << "latte: best " << task.name() << " checkpoint (step " << result.best->step << ": "
        << result.best->summary << ") in " << options.out.string() << "\n";
    for (const std::string& warning : result.best->warnings) {
      log << "latte: warning: the best checkpoint's " << warning << "\n";
    }
  }
  return result;
}

uint64_t derive_seed(uint64_t seed, uint64_t stream, uint64_t index) {
  uint64_t x = seed ^ (stream * 0x9E3779B97F4A7C15ull) ^ (index * 0xBF58476D1CE4E5B9ull);
  x ^= x >> 31;
  x *= 0x94D049BB133111EBull;
  return x ^ (x >> 29);
}

const Planner* PlannerCache::at(double speedup) {
  if (speedup <= 1.0) return nullptr;
  auto found = planners_.find(speedup);
  if (found == planners_.end()) {
    Knobs knobs;
    knobs.speedup = speedup;
    found =
        planners_
            .emplace(speedup, std::make_unique<Planner>(knobs, shape_, std::nullopt, LatencyModel{}, nullptr))
            .first;
  }
  return found->second.get();
}

std::string format_speedup(double speedup) {
  char text[32];
  std::snprintf(text, sizeof(text), "%g", speedup);
  return text;
}

std::vector<double> training_speedups(std::optional<double> speedup,
                                      std::optional<std::pair<double, double>> range) {
  constexpr double kHighest = 10.0;
  if (speedup && range) throw InputError("give either --train-speedup or --train-speedup-range, not both");
  if (speedup) {
    if (!(*speedup >= 1 && *speedup <= kHighest)) {
      throw InputError("--train-speedup must be in [1, 10], got " + format_speedup(*speedup));
    }
    return {*speedup};
  }
  if (!range) return {1.0};
  const auto [low, high] = *range;
  if (!(low >= 1 && high >= low && high <= kHighest)) {
    throw InputError("--train-speedup-range must be LO,HI with 1 <= LO <= HI <= 10, got " +
                     format_speedup(low) + "," + format_speedup(high));
  }
  std::vector<double> speedups;
  for (double value = low; value < high - 1e-9; value += 0.25) speedups.push_back(value);
  speedups.push_back(high);
  return speedups;
}

std::vector<double> evaluation_speedups(std::vector<double> given, const std::vector<double>& training,
                                        bool range) {
  if (given.empty()) {
    given = {1.0, training.front(), training.back()};
    if (range) given.push_back(0.5 * (training.front() + training.back()));
  }
  for (double speedup : given) {
    if (!(speedup >= 1)) throw InputError("evaluation speedups must be >= 1");
  }
  std::sort(given.begin(), given.end());
  given.erase(std::unique(given.begin(), given.end()), given.end());
  return given;
}

}  // namespace latte::train
