#include "latte/train/trainer.h"

#include <dlfcn.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <map>
#include <memory>
#include <random>
#include <sstream>

#include "latte/core/error.h"
#include "latte/core/threads.h"
#include "latte/io/atomic_file.h"
#include "latte/io/json_file.h"
#include "latte/io/model_folder.h"
#include "latte/models/bert.h"
#include "latte/train/bert_modules.h"
#include "latte/train/checkpoint.h"
#include "latte/train/datasets.h"
#include "latte/train/progress.h"

namespace latte::train {

namespace {

constexpr int kStateVersion = 1;

// A seed for (run seed, stream, index): steps, epochs and evaluation each get
// their own stream, so the same step always sees the same randomness.
uint64_t derive_seed(uint64_t seed, uint64_t stream, uint64_t index) {
  uint64_t x = seed ^ (stream * 0x9E3779B97F4A7C15ull) ^ (index * 0xBF58476D1CE4E5B9ull);
  x ^= x >> 31;
  x *= 0x94D049BB133111EBull;
  return x ^ (x >> 29);
}
enum Stream : uint64_t { kStepStream = 1, kEpochStream = 2, kEvalStream = 3 };

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

// What one run trains: the masked LM or the classifier.
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
};

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
          {"summary", evaluation.summary}};
}

Evaluation evaluation_from_json(const nlohmann::json& json) {
  Evaluation evaluation;
  evaluation.step = json.at("step").get<int64_t>();
  evaluation.score = json.at("score").get<double>();
  evaluation.metrics = json.at("metrics");
  evaluation.summary = json.at("summary").get<std::string>();
  return evaluation;
}

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
  const std::optional<std::filesystem::path> previous = existing_state(options);
  if (previous) {
    const nlohmann::json state = read_json_file(*previous / "state.json");
    if (state.value("task", "") != task.name()) {
      throw InputError(previous->string() + " is the state of a '" + state.value("task", "?") +
                       "' run, not '" + task.name() + "'");
    }
    task.load(*previous);
    torch::load(*optimizer, (*previous / "optimizer.pt").string());
    result.first_step = state.at("step").get<int64_t>();
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
  for (int64_t step = result.first_step; step < total; ++step) {
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

    if ((step + 1) % eval_every == 0 || step + 1 == total) {
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
  result.last_step = total;
  result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  result.examples_per_second = result.seconds > 0 ? static_cast<double>(examples) / result.seconds : 0.0;
  if (result.best) {
    log << "latte: best " << task.name() << " checkpoint (step " << result.best->step << ": "
        << result.best->summary << ") in " << options.out.string() << "\n";
  }
  return result;
}

// ---- masked-LM pretraining --------------------------------------------------

class MaskedLMTask : public Task {
 public:
  MaskedLMTask(const MaskedLMOptions& options, std::ostream& log)
      : options_(options), tokenizer_(BertTokenizer::from_vocabulary(options.vocab)) {
    if (options.steps < 1) throw InputError("--steps must be at least 1");
    if (!(options.mask_probability > 0 && options.mask_probability < 1)) {
      throw InputError("--mask-probability must be in (0, 1)");
    }
    config_ = bert_preset(options.preset, static_cast<int64_t>(tokenizer_.vocab_size()), 0, options.layers);
    if (options.seq_len > config_.max_position_embeddings) {
      throw InputError("--seq-len " + std::to_string(options.seq_len) + " exceeds the preset's " +
                       std::to_string(config_.max_position_embeddings) + " positions");
    }
    config_.pad_token_id = tokenizer_.pad_id();
    // Positions past --seq-len would never be trained: the model does not claim them,
    // so every later user (fine-tuning, the engine) truncates inputs to what it learned.
    config_.max_position_embeddings = options.seq_len;
    torch::manual_seed(options.seed);
    model_ = BertMaskedLM(config_);

    std::vector<std::vector<int32_t>> lines = read_text_lines(options.data, tokenizer_);
    if (options.max_lines > 0 && static_cast<int64_t>(lines.size()) > options.max_lines) {
      lines.resize(static_cast<size_t>(options.max_lines));
    }
    train_ = pack_sequences(lines, options.seq_len, tokenizer_.cls_id(), tokenizer_.sep_id());
    std::vector<BertInput> dev = pack_sequences(read_text_lines(options.dev, tokenizer_), options.seq_len,
                                                tokenizer_.cls_id(), tokenizer_.sep_id());
    if (train_.empty()) throw InputError(options.data.string() + ": not enough text for one sequence");
    if (dev.empty()) throw InputError(options.dev.string() + ": not enough text for one sequence");
    if (static_cast<int64_t>(dev.size()) > options.dev_sequences)
      dev.resize(static_cast<size_t>(options.dev_sequences));
    // The dev set is masked once, so every evaluation scores the same targets.
    std::mt19937_64 generator(derive_seed(options.seed, kEvalStream, 0));
    for (size_t first = 0; first < dev.size(); first += static_cast<size_t>(options.batch_size)) {
      const std::vector<BertInput> chunk(
          dev.begin() + static_cast<std::ptrdiff_t>(first),
          dev.begin() + static_cast<std::ptrdiff_t>(
                            std::min(dev.size(), first + static_cast<size_t>(options.batch_size))));
      dev_batches_.push_back(mask_tokens(chunk, tokenizer_, options.mask_probability, generator));
    }
    int64_t tokens = 0;
    for (const BertInput& input : train_) tokens += static_cast<int64_t>(input.input_ids.size());
    const int64_t parameters = count_parameters();
    log << "latte: masked-LM pretraining of a " << options.preset << " BERT (" << config_.num_layers
        << " layers, hidden " << config_.hidden_size << ", " << config_.num_heads << " heads, "
        << parameters / 1000000.0 << "M parameters) on " << train_.size()
        << " sequences of <= " << options.seq_len << " tokens (" << tokens << " tokens, " << lines.size()
        << " lines); " << options.steps << " steps of " << options.batch_size << " = "
        << static_cast<double>(options.steps * options.batch_size) / static_cast<double>(train_.size())
        << " epochs\n";
  }

  std::string name() const override { return "mlm"; }
  torch::nn::Module& module() override { return *model_; }
  NamedWeights weights() override { return model_->hf_weights(); }
  int64_t total_steps() const override { return options_.steps; }
  int64_t default_eval_every() const override { return std::max<int64_t>(1, options_.steps / 10); }

  std::pair<torch::Tensor, int64_t> batch_loss(int64_t step, std::mt19937_64& generator) override {
    const int64_t per_epoch =
        static_cast<int64_t>((train_.size() + static_cast<size_t>(options_.batch_size) - 1) /
                             static_cast<size_t>(options_.batch_size));
    const int64_t epoch = step / per_epoch;
    if (epoch != epoch_ || batches_.empty()) {
      std::mt19937_64 shuffle(derive_seed(options_.seed, kEpochStream, static_cast<uint64_t>(epoch)));
      std::vector<int64_t> lengths;
      for (const BertInput& input : train_) lengths.push_back(static_cast<int64_t>(input.input_ids.size()));
      batches_ = epoch_batches(lengths, options_.batch_size, shuffle);
      epoch_ = epoch;
    }
    std::vector<BertInput> sequences;
    for (size_t index : batches_[static_cast<size_t>(step % per_epoch)]) sequences.push_back(train_[index]);
    const MaskedBatch masked = mask_tokens(sequences, tokenizer_, options_.mask_probability, generator);
    return {masked_loss(masked).first, static_cast<int64_t>(sequences.size())};
  }

  Evaluation evaluate() override {
    torch::NoGradGuard no_grad;
    double loss_sum = 0.0;
    int64_t correct = 0, targets = 0;
    for (const MaskedBatch& batch : dev_batches_) {
      const auto [loss, predictions] = masked_loss(batch);
      const int64_t count = static_cast<int64_t>(batch.targets.size());
      loss_sum += loss.item<double>() * static_cast<double>(count);
      correct += predictions.eq(torch::tensor(batch.targets, torch::kLong)).sum().item<int64_t>();
      targets += count;
    }
    Evaluation evaluation;
    const double loss = loss_sum / static_cast<double>(targets);
    const double accuracy = static_cast<double>(correct) / static_cast<double>(targets);
    evaluation.score = -loss;
    evaluation.metrics = {{"dev_loss", loss},
                          {"dev_perplexity", std::exp(loss)},
                          {"dev_accuracy", accuracy},
                          {"dev_targets", targets}};
    char text[160];
    std::snprintf(text, sizeof(text),
                  "dev masked-LM loss %.4f (perplexity %.1f), accuracy %.4f on %lld tokens", loss,
                  std::exp(loss), accuracy, static_cast<long long>(targets));
    evaluation.summary = text;
    return evaluation;
  }

  void save(const std::filesystem::path& dir, DType dtype, bool with_tokenizer) override {
    save_checkpoint(dir, model_->config(), model_->hf_weights(), dtype,
                    with_tokenizer ? &tokenizer_ : nullptr);
  }
  void load(const std::filesystem::path& dir) override {
    load_hf_weights(dir, model_->hf_weights(), nullptr);
  }

 private:
  int64_t count_parameters() {
    int64_t count = 0;
    for (const auto& entry : model_->hf_weights()) count += entry.second.numel();
    return count;
  }
  // Mean cross-entropy over the masked targets, and the predicted ids.
  std::pair<torch::Tensor, torch::Tensor> masked_loss(const MaskedBatch& batch) {
    const TokenBatch tokens = make_token_batch(batch.inputs, tokenizer_.pad_id());
    const EncoderOutput encoded = model_->bert(tokens);
    const torch::Tensor rows = encoded.hidden.reshape({-1, config_.hidden_size})
                                   .index_select(0, torch::tensor(batch.flat_positions, torch::kLong));
    const torch::Tensor logits = model_->predict(rows);
    const torch::Tensor loss = torch::cross_entropy_loss(logits, torch::tensor(batch.targets, torch::kLong));
    return {loss, logits.argmax(-1)};
  }

  MaskedLMOptions options_;
  BertTokenizer tokenizer_;
  BertConfig config_;
  BertMaskedLM model_{nullptr};
  std::vector<BertInput> train_;
  std::vector<MaskedBatch> dev_batches_;
  std::vector<std::vector<size_t>> batches_;
  int64_t epoch_ = -1;
};

// ---- classification and regression -------------------------------------------

// Planners per speedup, so each caches its per-length plans across batches.
class PlannerCache {
 public:
  explicit PlannerCache(ModelShape shape) : shape_(shape) {}
  // null for speedup 1 (dense).
  const Planner* at(double speedup) {
    if (speedup <= 1.0) return nullptr;
    auto found = planners_.find(speedup);
    if (found == planners_.end()) {
      Knobs knobs;
      knobs.speedup = speedup;
      found = planners_
                  .emplace(speedup,
                           std::make_unique<Planner>(knobs, shape_, std::nullopt, LatencyModel{}, nullptr))
                  .first;
    }
    return found->second.get();
  }

 private:
  ModelShape shape_;
  std::map<double, std::unique_ptr<Planner>> planners_;
};

std::string format_speedup(double speedup) {
  char text[32];
  std::snprintf(text, sizeof(text), "%g", speedup);
  return text;
}

double pearson(const std::vector<double>& x, const std::vector<double>& y) {
  const double n = static_cast<double>(x.size());
  double mean_x = 0, mean_y = 0;
  for (size_t i = 0; i < x.size(); ++i) mean_x += x[i] / n, mean_y += y[i] / n;
  double covariance = 0, variance_x = 0, variance_y = 0;
  for (size_t i = 0; i < x.size(); ++i) {
    covariance += (x[i] - mean_x) * (y[i] - mean_y);
    variance_x += (x[i] - mean_x) * (x[i] - mean_x);
    variance_y += (y[i] - mean_y) * (y[i] - mean_y);
  }
  return variance_x > 0 && variance_y > 0 ? covariance / std::sqrt(variance_x * variance_y) : 0.0;
}

class ClassifierTask : public Task {
 public:
  ClassifierTask(const ClassifierOptions& options, std::ostream& log)
      : options_(options), tokenizer_(BertTokenizer::from_dir(options.init)) {
    if (options.epochs < 1) throw InputError("--epochs must be at least 1");
    if (options.steps && *options.steps < 1) throw InputError("--steps must be at least 1");
    if (options.max_length < 3) throw InputError("--max-length must be at least 3");
    if (options.train_speedup && options.train_speedup_range) {
      throw InputError("give either --train-speedup or --train-speedup-range, not both");
    }
    if (options.train_speedup) {
      if (!(*options.train_speedup >= 1)) throw InputError("--train-speedup must be >= 1");
      train_speedups_ = {*options.train_speedup};
    } else if (options.train_speedup_range) {
      const auto [low, high] = *options.train_speedup_range;
      if (!(low >= 1 && high >= low))
        throw InputError("--train-speedup-range must be LO,HI with 1 <= LO <= HI");
      for (double speedup = low; speedup < high - 1e-9; speedup += 0.25) train_speedups_.push_back(speedup);
      train_speedups_.push_back(high);
    } else {
      train_speedups_ = {1.0};
    }
    eval_speedups_ = options.eval_speedups;
    if (eval_speedups_.empty()) {
      eval_speedups_ = {1.0, train_speedups_.front(), train_speedups_.back()};
      if (options.train_speedup_range)
        eval_speedups_.push_back(0.5 * (train_speedups_.front() + train_speedups_.back()));
      std::sort(eval_speedups_.begin(), eval_speedups_.end());
      eval_speedups_.erase(std::unique(eval_speedups_.begin(), eval_speedups_.end()), eval_speedups_.end());
    }
    for (double speedup : eval_speedups_) {
      if (!(speedup >= 1)) throw InputError("evaluation speedups must be >= 1");
    }

    const std::vector<LabelledText> train_examples = read_labelled_jsonl(options.train);
    const std::vector<LabelledText> dev_examples = read_labelled_jsonl(options.dev);
    const BertConfig init_config = read_bert_config(options.init);
    labels_ = LabelSet::infer(train_examples);
    // A classifier with exactly these labels keeps its head (and label order).
    bool reuse_head = false;
    if (init_config.has_classifier() && !labels_.regression &&
        init_config.num_labels == labels_.num_labels()) {
      std::vector<std::string> sorted = init_config.id2label;
      std::sort(sorted.begin(), sorted.end());
      if (sorted == labels_.names) {
        labels_ = LabelSet::from_names(init_config.id2label);
        reuse_head = true;
      }
    }
    reuse_head = reuse_head || (labels_.regression && init_config.is_regression());
    config_ = init_config;
    config_.architecture = "BertForSequenceClassification";
    config_.num_labels = labels_.num_labels();
    config_.id2label = labels_.regression ? std::vector<std::string>{"LABEL_0"} : labels_.names;
    config_.problem_type = labels_.regression ? "regression" : "single_label_classification";
    check_tokenizer_matches(config_, tokenizer_, options.init);

    torch::manual_seed(options.seed);
    model_ = BertClassifier(config_);
    NamedWeights weights = model_->hf_weights();
    if (!reuse_head) {
      std::erase_if(weights, [](const auto& entry) { return entry.first.rfind("classifier.", 0) == 0; });
    }
    const std::vector<std::string> fresh =
        load_hf_weights(options.init, weights, [](const std::string& name) {
          return name.rfind("bert.pooler.", 0) == 0 || name.rfind("classifier.", 0) == 0;
        });
    std::string fresh_list;
    for (const std::string& name : fresh) {
      if (name == "bert.pooler.dense.weight") fresh_list = "pooler";
    }
    if (!reuse_head || std::find(fresh.begin(), fresh.end(), "classifier.weight") != fresh.end()) {
      fresh_list += std::string(fresh_list.empty() ? "" : " and ") + "classifier";
    }

    const int max_length =
        static_cast<int>(std::min<int64_t>(options.max_length, config_.max_position_embeddings));
    train_ = encode_examples(train_examples, labels_, tokenizer_, max_length);
    dev_ = encode_examples(dev_examples, labels_, tokenizer_, max_length);
    // Dev batches sorted by length, so evaluation computes little padding.
    std::sort(dev_.begin(), dev_.end(), [](const EncodedExample& a, const EncodedExample& b) {
      return a.input.input_ids.size() < b.input.input_ids.size();
    });
    for (const EncodedExample& example : train_)
      lengths_.push_back(static_cast<int64_t>(example.input.input_ids.size()));
    steps_per_epoch_ = (static_cast<int64_t>(train_.size()) + options.batch_size - 1) / options.batch_size;
    total_steps_ = options.steps ? *options.steps : options.epochs * steps_per_epoch_;
    planners_ = std::make_unique<PlannerCache>(
        ModelShape{config_.num_layers, config_.hidden_size, config_.intermediate_size});

    std::string speedups;
    for (double speedup : train_speedups_)
      speedups += (speedups.empty() ? "" : ",") + format_speedup(speedup);
    log << "latte: fine-tuning " << options.init.string() << " (" << config_.num_layers << " layers, hidden "
        << config_.hidden_size << ") for "
        << (labels_.regression ? std::string("regression")
                               : std::to_string(labels_.num_labels()) + "-way classification")
        << " on " << train_.size() << " examples (dev " << dev_.size() << "); " << total_steps_
        << " steps of " << options.batch_size << "; train speedup " << speedups
        << (fresh_list.empty() ? "" : "; new " + fresh_list + " weights") << "\n";
  }

  std::string name() const override { return "classify"; }
  torch::nn::Module& module() override { return *model_; }
  NamedWeights weights() override { return model_->hf_weights(); }
  int64_t total_steps() const override { return total_steps_; }
  int64_t default_eval_every() const override { return steps_per_epoch_; }

  std::pair<torch::Tensor, int64_t> batch_loss(int64_t step, std::mt19937_64& generator) override {
    const int64_t epoch = step / steps_per_epoch_;
    if (epoch != epoch_ || batches_.empty()) {
      std::mt19937_64 shuffle(derive_seed(options_.seed, kEpochStream, static_cast<uint64_t>(epoch)));
      batches_ = epoch_batches(lengths_, options_.batch_size, shuffle);
      epoch_ = epoch;
    }
    std::vector<BertInput> inputs;
    std::vector<float> targets;
    for (size_t index : batches_[static_cast<size_t>(step % steps_per_epoch_)]) {
      inputs.push_back(train_[index].input);
      targets.push_back(train_[index].target);
    }
    std::uniform_int_distribution<size_t> pick(0, train_speedups_.size() - 1);
    const Planner* planner = planners_->at(train_speedups_[pick(generator)]);
    const ClassifierOutput output = model_(make_token_batch(inputs, config_.pad_token_id), planner);
    return {loss_of(output.logits, targets), static_cast<int64_t>(inputs.size())};
  }

  Evaluation evaluate() override {
    torch::NoGradGuard no_grad;
    Evaluation evaluation;
    evaluation.metrics = nlohmann::json::object();
    double score_sum = 0.0;
    std::string summary = labels_.regression ? "dev Pearson r" : "dev accuracy";
    for (double speedup : eval_speedups_) {
      const Planner* planner = planners_->at(speedup);
      std::vector<double> predictions, targets;
      double loss_sum = 0.0;
      int64_t correct = 0;
      const size_t batch_size = 64;
      for (size_t first = 0; first < dev_.size(); first += batch_size) {
        std::vector<BertInput> inputs;
        std::vector<float> batch_targets;
        for (size_t i = first; i < std::min(dev_.size(), first + batch_size); ++i) {
          inputs.push_back(dev_[i].input);
          batch_targets.push_back(dev_[i].target);
        }
        const torch::Tensor logits = model_(make_token_batch(inputs, config_.pad_token_id), planner).logits;
        loss_sum += loss_of(logits, batch_targets).item<double>() * static_cast<double>(inputs.size());
        if (labels_.regression) {
          const torch::Tensor values = logits.squeeze(1).to(torch::kDouble).contiguous();
          predictions.insert(predictions.end(), values.data_ptr<double>(),
                             values.data_ptr<double>() + values.numel());
        } else {
          const torch::Tensor predicted = logits.argmax(-1).contiguous();
          const int64_t* classes = predicted.data_ptr<int64_t>();
          for (size_t i = 0; i < inputs.size(); ++i)
            correct += classes[i] == static_cast<int64_t>(batch_targets[i]);
        }
        targets.insert(targets.end(), batch_targets.begin(), batch_targets.end());
      }
      const double count = static_cast<double>(dev_.size());
      const double value =
          labels_.regression ? pearson(predictions, targets) : static_cast<double>(correct) / count;
      const std::string key = "S=" + format_speedup(speedup);
      evaluation.metrics[key] = {{labels_.regression ? "pearson" : "accuracy", value},
                                 {"loss", loss_sum / count}};
      char text[64];
      std::snprintf(text, sizeof(text), " %s %.4f", key.c_str(), value);
      summary += text;
      score_sum += value;
    }
    evaluation.score = score_sum / static_cast<double>(eval_speedups_.size());
    evaluation.summary = summary;
    return evaluation;
  }

  void save(const std::filesystem::path& dir, DType dtype, bool with_tokenizer) override {
    save_checkpoint(dir, model_->config(), model_->hf_weights(), dtype,
                    with_tokenizer ? &tokenizer_ : nullptr);
  }
  void load(const std::filesystem::path& dir) override {
    const BertConfig saved = read_bert_config(dir);
    if (saved.num_labels != config_.num_labels || saved.id2label != config_.id2label) {
      throw InputError(dir.string() + " was trained with other labels than " + options_.train.string() +
                       " has");
    }
    load_hf_weights(dir, model_->hf_weights(), nullptr);
  }

 private:
  torch::Tensor loss_of(const torch::Tensor& logits, const std::vector<float>& targets) const {
    if (labels_.regression) {
      return torch::mse_loss(logits.squeeze(1), torch::tensor(targets, torch::kFloat));
    }
    return torch::cross_entropy_loss(logits, torch::tensor(targets, torch::kFloat).to(torch::kLong));
  }

  ClassifierOptions options_;
  BertTokenizer tokenizer_;
  LabelSet labels_;
  BertConfig config_;
  BertClassifier model_{nullptr};
  std::vector<double> train_speedups_;
  std::vector<double> eval_speedups_;
  std::vector<EncodedExample> train_;
  std::vector<EncodedExample> dev_;
  std::vector<int64_t> lengths_;
  int64_t steps_per_epoch_ = 1;
  int64_t total_steps_ = 1;
  std::unique_ptr<PlannerCache> planners_;
  std::vector<std::vector<size_t>> batches_;
  int64_t epoch_ = -1;
};

}  // namespace

double learning_rate_at(int64_t step, int64_t total_steps, int64_t warmup_steps, double peak) {
  if (warmup_steps > 0 && step < warmup_steps) {
    return peak * static_cast<double>(step + 1) / static_cast<double>(warmup_steps);
  }
  const double remaining = static_cast<double>(total_steps - step);
  const double decay_steps = static_cast<double>(std::max<int64_t>(1, total_steps - warmup_steps));
  return peak * std::clamp(remaining / decay_steps, 0.0, 1.0);
}

void setup_torch(std::optional<int> threads, std::ostream& log) {
  const int count = resolve_num_threads(threads);
  set_num_threads(count);
  torch::set_num_threads(count);
  // Debian's torch calls whatever libblas.so.3 the alternatives system selects.
  using CoreName = char* (*)();
  const auto core_name = reinterpret_cast<CoreName>(::dlsym(RTLD_DEFAULT, "openblas_get_corename"));
  if (core_name) {
    log << "latte: torch on " << count << " thread" << (count == 1 ? "" : "s") << ", OpenBLAS kernels for "
        << core_name() << " (set OPENBLAS_CORETYPE if that is not this CPU)\n";
  } else {
    log << "latte: warning: torch's BLAS is not OpenBLAS (likely the reference BLAS, about 10x slower); "
           "install libopenblas0-openmp\n";
  }
}

TrainResult train_masked_lm(const MaskedLMOptions& options, std::ostream& log) {
  // Data and --out are checked before anything is printed or trained.
  std::ostringstream description;
  MaskedLMTask task(options, description);
  refuse_to_overwrite(options);
  setup_torch(options.threads, log);
  log << description.str();
  return run(task, options, log);
}

TrainResult train_classifier(const ClassifierOptions& options, std::ostream& log) {
  std::ostringstream description;
  ClassifierTask task(options, description);
  refuse_to_overwrite(options);
  setup_torch(options.threads, log);
  log << description.str();
  return run(task, options, log);
}

}  // namespace latte::train
