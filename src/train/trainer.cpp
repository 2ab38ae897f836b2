#include "latte/train/trainer.h"

#include <dlfcn.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <random>
#include <sstream>

#include "latte/core/cpu.h"
#include "latte/core/error.h"
#include "latte/core/threads.h"
#include "latte/eval/metrics.h"
#include "latte/models/bert.h"
#include "latte/train/bert_modules.h"
#include "latte/train/checkpoint.h"
#include "latte/train/datasets.h"
#include "latte/train/torch_ops.h"
#include "loop.h"

namespace latte::train {

namespace {

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
    train_speedups_ = training_speedups(options.train_speedup, options.train_speedup_range);
    eval_speedups_ =
        evaluation_speedups(options.eval_speedups, train_speedups_, options.train_speedup_range.has_value());

    const BertConfig init_config = read_bert_config(options.init);
    // Integer labels name the classes of a classifier being fine-tuned (one notice for both files).
    const std::vector<std::string> class_names = init_config.has_classifier() && !init_config.is_regression()
                                                     ? init_config.id2label
                                                     : std::vector<std::string>();
    std::ostringstream train_notice, dev_notice;
    const std::vector<LabelledText> train_examples =
        read_labelled_examples(options.train, options.records, class_names, &train_notice);
    const std::vector<LabelledText> dev_examples =
        read_labelled_examples(options.dev, options.records, class_names, &dev_notice);
    log << train_notice.str();
    if (dev_notice.str() != train_notice.str()) log << dev_notice.str();
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
      std::vector<int64_t> predicted_classes;
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
          for (size_t i = 0; i < inputs.size(); ++i) {
            correct += classes[i] == static_cast<int64_t>(batch_targets[i]);
            predicted_classes.push_back(classes[i]);
          }
        }
        targets.insert(targets.end(), batch_targets.begin(), batch_targets.end());
      }
      const double count = static_cast<double>(dev_.size());
      const double value =
          labels_.regression ? pearson(predictions, targets) : static_cast<double>(correct) / count;
      const std::string key = "S=" + format_speedup(speedup);
      if (!labels_.regression) {
        const std::vector<int64_t> gold(targets.begin(), targets.end());
        const std::string warning = eval::majority_class_warning(predicted_classes, gold, labels_.names);
        if (!warning.empty()) evaluation.warnings.push_back("dev " + key + ": " + warning);
      }
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

namespace {

using CoreName = char* (*)();

// Debian's torch calls whatever libblas.so.3 the alternatives system selects; nullptr where that
// is not OpenBLAS.
CoreName openblas_core_name() {
  return reinterpret_cast<CoreName>(::dlsym(RTLD_DEFAULT, "openblas_get_corename"));
}

bool has_all(const std::vector<std::string>& isa, std::initializer_list<const char*> wanted) {
  return std::all_of(wanted.begin(), wanted.end(),
                     [&](const char* name) { return std::find(isa.begin(), isa.end(), name) != isa.end(); });
}

bool is_one_of(const std::string& core, std::initializer_list<const char*> names) {
  return std::any_of(names.begin(), names.end(), [&](const char* name) {
    return std::equal(core.begin(), core.end(), name, name + std::strlen(name), [](char a, char b) {
      return std::tolower(static_cast<unsigned char>(a)) == std::tolower(static_cast<unsigned char>(b));
    });
  });
}

}  // namespace

std::optional<std::string> openblas_core_override(const std::string& detected,
                                                  const std::vector<std::string>& isa) {
  // OpenBLAS's names of the cores whose sgemm kernels use AVX2 + FMA or AVX-512: a CPU taken for
  // one of them is left alone (on Zen 4, "Zen" measured as fast as "Haswell").
  if (is_one_of(detected, {"Haswell", "Zen", "Excavator", "SkylakeX", "Cooperlake", "SapphireRapids"}))
    return std::nullopt;
  if (has_all(isa, {"avx512f", "avx512bw", "avx512vl", "avx512dq"})) return "SkylakeX";
  if (has_all(isa, {"avx2", "fma"})) return "Haswell";
  return std::nullopt;
}

void restart_for_openblas_core(char** argv, std::ostream& log) {
  if (std::getenv("OPENBLAS_CORETYPE") != nullptr) return;  // the user's choice, or the restart's
  const CoreName core_name = openblas_core_name();
  if (core_name == nullptr) return;
  const std::string detected = core_name();
  const std::optional<std::string> core = openblas_core_override(detected, read_cpu_info().isa);
  if (!core) return;
  // Silent here (a failing command's stderr stays one line); setup_torch names both cores.
  ::setenv("LATTE_OPENBLAS_DETECTED", detected.c_str(), 1);
  ::setenv("OPENBLAS_CORETYPE", core->c_str(), 1);
  ::execv("/proc/self/exe", argv);
  const int failure = errno;
  ::unsetenv("LATTE_OPENBLAS_DETECTED");
  ::unsetenv("OPENBLAS_CORETYPE");
  log << "latte: warning: could not restart (" << std::strerror(failure) << "); torch runs on OpenBLAS's "
      << detected << " kernels" << std::endl;
}

void setup_torch(std::optional<int> threads, std::ostream& log) {
  const int count = resolve_num_threads(threads);
  set_num_threads(count);
  torch::set_num_threads(count);
  use_huge_page_allocator();
  const CoreName core_name = openblas_core_name();
  if (core_name) {
    log << "latte: torch on " << count << " thread" << (count == 1 ? "" : "s") << ", OpenBLAS kernels for "
        << core_name();
    if (const char* taken = std::getenv("LATTE_OPENBLAS_DETECTED")) {
      log << " (OpenBLAS took this CPU for " << taken << ", without AVX2; latte set OPENBLAS_CORETYPE)\n";
    } else {
      log << " (set OPENBLAS_CORETYPE if that is not this CPU)\n";
    }
  } else {
    log << "latte: warning: torch's BLAS is not OpenBLAS (likely the reference BLAS, about 10x slower); "
           "install libopenblas0-openmp\n";
  }
}

TrainResult train_masked_lm(const MaskedLMOptions& options, std::ostream& log) {
  return train_task<MaskedLMTask>(options, log);
}

TrainResult train_classifier(const ClassifierOptions& options, std::ostream& log) {
  return train_task<ClassifierTask>(options, log);
}

}  // namespace latte::train
