// The one training loop every `latte train` run shares (trainer.h describes it), and the pieces
// of a run that are not a model's: seeds, the speedups to train and evaluate at, and planners.
// Private to src/train.
#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <ostream>
#include <random>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "latte/prune/plan.h"
#include "latte/train/torch_ops.h"
#include "latte/train/trainer.h"

namespace latte::train {

// A seed for (run seed, stream, index): steps, epochs and evaluation each get
// their own stream, so the same step always sees the same randomness.
uint64_t derive_seed(uint64_t seed, uint64_t stream, uint64_t index);
enum Stream : uint64_t { kStepStream = 1, kEpochStream = 2, kEvalStream = 3 };

// What one run trains: the masked LM, the classifier or the causal LM.
class Task {
 public:
  virtual ~Task() = default;
  virtual std::string name() const = 0;
  virtual torch::nn::Module& module() = 0;
  virtual NamedWeights weights() = 0;
  virtual int64_t total_steps() const = 0;
  virtual int64_t default_eval_every() const = 0;
  // Forward pass of one training batch: the loss and how many examples it holds.
  virtual std::pair<torch::Tensor, int64_t> batch_loss(int64_t step, std::mt19937_64& generator) = 0;
  virtual Evaluation evaluate() = 0;
  // Writes the model in Hugging Face layout (with tokenizer files when asked).
  virtual void save(const std::filesystem::path& dir, DType dtype, bool with_tokenizer) = 0;
  // Reads back what save() wrote to trainer_state.
  virtual void load(const std::filesystem::path& dir) = 0;
  // InputError when the state in `dir` is another model's (architecture, vocabulary, labels).
  virtual void check_resumable(const std::filesystem::path& dir) { (void)dir; }
};

// InputError when --out holds a run and --resume is not given, or holds anything else.
void refuse_to_overwrite(const TrainOptions& options);

// The state --resume continues from (none without --resume or a saved state), checked to be a
// state of this task and its model: InputError naming the folder otherwise.
std::optional<std::filesystem::path> resumable_state(Task& task, const TrainOptions& options);

// AdamW with warmup and decay, clipping, evaluation and checkpoints, resume.
TrainResult run(Task& task, const TrainOptions& options, std::ostream& log);

// Builds the task (which checks its data and options before anything is printed), checks --out,
// sets up torch, then runs it.
template <typename TaskType, typename Options>
TrainResult train_task(const Options& options, std::ostream& log) {
  std::ostringstream description;
  TaskType task(options, description);
  refuse_to_overwrite(options);
  resumable_state(task, options);
  setup_torch(options.threads, log);
  log << description.str();
  return run(task, options, log);
}

// Planners per speedup, so each caches its per-length plans across batches.
class PlannerCache {
 public:
  explicit PlannerCache(ModelShape shape) : shape_(shape) {}
  // null for speedup 1 (dense).
  const Planner* at(double speedup);

 private:
  ModelShape shape_;
  std::map<double, std::unique_ptr<Planner>> planners_;
};

std::string format_speedup(double speedup);

// The speedups a run trains at: {S} for --train-speedup, LO, LO + 0.25, ..., HI for
// --train-speedup-range, {1} for neither. InputError unless 1 <= S <= 10 (LO <= HI both in it).
std::vector<double> training_speedups(std::optional<double> speedup,
                                      std::optional<std::pair<double, double>> range);
// `given`, or 1 and the training speedups' ends (and middle, for a range); sorted, each >= 1.
std::vector<double> evaluation_speedups(std::vector<double> given, const std::vector<double>& training,
                                        bool range);

}  // namespace latte::train
