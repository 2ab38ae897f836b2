// latte train clm: causal-LM training of GPT-2 with elimination in the prompt part of each
// window (docs/training.md, "Causal-LM training: latte train clm").
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <numeric>
#include <tuple>

#include "latte/core/error.h"
#include "latte/io/atomic_file.h"
#include "latte/io/read_file.h"
#include "latte/io/safetensors.h"
#include "latte/models/gpt2.h"
#include "latte/train/checkpoint.h"
#include "latte/train/datasets.h"
#include "latte/train/gpt2_modules.h"
#include "latte/train/trainer.h"
#include "loop.h"

namespace latte::train {

namespace {

// The tokenizer of a run and its files' bytes, read once, written into every checkpoint.
struct TokenizerSource {
  ByteLevelBpeTokenizer tokenizer;
  std::vector<std::pair<std::string, std::string>> files;  // (name in a model folder, bytes)
};

TokenizerSource read_tokenizer(const std::filesystem::path& dir) {
  const std::vector<TokenizerFile> files = bpe_tokenizer_files(dir);
  TokenizerSource source{files.size() == 1
                             ? ByteLevelBpeTokenizer::from_tokenizer_json(files[0].source)
                             : ByteLevelBpeTokenizer::from_files(files[0].source, files[1].source),
                         {}};
  for (const TokenizerFile& file : files) {
    source.files.emplace_back(file.name, read_file_bytes(file.source, FileSource::kUser, "tokenizer file"));
  }
  return source;
}

// --tokenizer, else the --init folder's tokenizer.
const std::filesystem::path& tokenizer_folder(const CausalLMOptions& options) {
  if (options.init.empty() && options.tokenizer.empty()) {
    throw InputError("give --tokenizer (training from scratch) or --init");
  }
  return options.tokenizer.empty() ? options.init : options.tokenizer;
}

// "6 layers, hidden 384, 6 heads, 512 positions, vocabulary 50257"
std::string describe(const Gpt2Config& config) {
  return std::to_string(config.n_layer) + " layers, hidden " + std::to_string(config.n_embd) + ", " +
         std::to_string(config.n_head) + " heads, " + std::to_string(config.n_positions) +
         " positions, vocabulary " + std::to_string(config.vocab_size);
}

bool same_architecture(const Gpt2Config& a, const Gpt2Config& b) {
  return a.vocab_size == b.vocab_size && a.n_positions == b.n_positions && a.n_embd == b.n_embd &&
         a.n_layer == b.n_layer && a.n_head == b.n_head && a.n_inner == b.n_inner &&
         a.activation_function == b.activation_function;
}

torch::Tensor ids_tensor(const std::vector<const std::vector<int32_t>*>& windows, int64_t length) {
  torch::Tensor ids = torch::empty({static_cast<int64_t>(windows.size()), length}, torch::kLong);
  auto accessor = ids.accessor<int64_t, 2>();
  for (size_t b = 0; b < windows.size(); ++b) {
    for (int64_t i = 0; i < length; ++i)
      accessor[static_cast<int64_t>(b)][i] = (*windows[b])[static_cast<size_t>(i)];
  }
  return ids;
}

class CausalLMTask : public Task {
 public:
  CausalLMTask(const CausalLMOptions& options, std::ostream& log)
      : options_(options), tokenizer_(read_tokenizer(tokenizer_folder(options))) {
    if (options.steps < 1) throw InputError("--steps must be at least 1");
    if (options.dev_windows < 1) throw InputError("--dev-windows must be at least 1");
    train_speedups_ = training_speedups(options.train_speedup, options.train_speedup_range);
    eval_speedups_ = evaluation_speedups(options.eval_speedups, train_speedups_, false);
    const int64_t vocab_size = static_cast<int64_t>(tokenizer_.tokenizer.vocab_size());
    if (options.init.empty()) {
      config_ = gpt2_preset(options.preset, vocab_size, options.layers);
      config_.n_positions = options.seq_len;  // positions it never trained on are not claimed
    } else {
      config_ = Gpt2Config::from_file(options.init / "config.json");
      if (vocab_size != config_.vocab_size) {
        throw InputError("the tokenizer of " + tokenizer_folder(options).string() + " has " +
                         std::to_string(vocab_size) + " tokens; " + (options.init / "config.json").string() +
                         " has vocab_size " + std::to_string(config_.vocab_size));
      }
    }
    if (options.seq_len < 2 || options.seq_len > config_.n_positions) {
      throw InputError("--seq-len must be in [2, " + std::to_string(config_.n_positions) +
                       "] (n_positions), got " + std::to_string(options.seq_len));
    }
    const std::optional<int32_t> separator = tokenizer_.tokenizer.end_of_text_id();
    if (!separator)
      throw InputError("the tokenizer of " + tokenizer_folder(options).string() + " has no <|endoftext|>");
    config_.bos_token_id = config_.eos_token_id = *separator;
    // The prompt part: at least its first and last tokens, and a continuation of at least one.
    const int64_t length = options.seq_len;
    prompt_range_ = options.prompt_length_range.value_or(std::make_pair(
        std::max<int64_t>(1, length / 4), length - std::max<int64_t>(1, std::min<int64_t>(32, length / 4))));
    if (prompt_range_.first < 1 || prompt_range_.first > prompt_range_.second ||
        prompt_range_.second >= length) {
      throw InputError("--prompt-len-range must be LO,HI with 1 <= LO <= HI < --seq-len " +
                       std::to_string(length) + ", got " + std::to_string(prompt_range_.first) + "," +
                       std::to_string(prompt_range_.second));
    }

    std::vector<std::vector<int32_t>> lines = read_text_lines(options.data, tokenizer_.tokenizer);
    if (options.max_lines > 0 && static_cast<int64_t>(lines.size()) > options.max_lines) {
      lines.resize(static_cast<size_t>(options.max_lines));
    }
    train_ = causal_lm_windows(lines, *separator, length, options.data.string());
    lines = read_text_lines(options.dev, tokenizer_.tokenizer);
    dev_ = causal_lm_windows(lines, *separator, length, options.dev.string());
    if (static_cast<int64_t>(dev_.size()) > options.dev_windows)
      dev_.resize(static_cast<size_t>(options.dev_windows));
    steps_per_epoch_ = std::max<int64_t>(1, static_cast<int64_t>(train_.size()) / options.batch_size);

    torch::manual_seed(options.seed);
    model_ = Gpt2LM(config_);
    if (!options.init.empty()) load_weights(options.init);
    planners_ =
        std::make_unique<PlannerCache>(ModelShape{config_.n_layer, config_.n_embd, config_.n_inner, true});

    std::string speedups;
    for (double speedup : train_speedups_) {
      if (!speedups.empty()) speedups += ",";
      speedups += format_speedup(speedup);
    }
    std::string origin = "from scratch";
    if (!options.init.empty()) origin = "from " + options.init.string();
    int64_t parameters = 0;
    for (const auto& entry : model_->hf_weights()) parameters += entry.second.numel();
    char millions[32];
    std::snprintf(millions, sizeof(millions), "%.2fM", static_cast<double>(parameters) / 1e6);
    log << "latte: causal-LM training of a GPT-2 (" << describe(config_) << ", " << millions
        << " parameters) " << origin << " on " << train_.size() << " windows of " << length << " tokens (dev "
        << dev_.size() << "); " << options.steps << " steps of " << options.batch_size << " = "
        << static_cast<double>(options.steps * options.batch_size) / static_cast<double>(train_.size())
        << " epochs; prompt " << prompt_range_.first << ".." << prompt_range_.second
        << " tokens; train speedup " << speedups
        << (options.score_kept_prompt ? "; pruned batches scored on every surviving row" : "") << "\n";
  }

  std::string name() const override { return "clm"; }
  torch::nn::Module& module() override { return *model_; }
  NamedWeights weights() override { return model_->hf_weights(); }
  int64_t total_steps() const override { return options_.steps; }
  int64_t default_eval_every() const override { return std::max<int64_t>(1, options_.steps / 10); }

  std::pair<torch::Tensor, int64_t> batch_loss(int64_t step, std::mt19937_64& generator) override {
    const int64_t epoch = step / steps_per_epoch_;
    if (epoch != epoch_) {
      order_.resize(train_.size());
      std::iota(order_.begin(), order_.end(), size_t{0});
      std::mt19937_64 shuffle(derive_seed(options_.seed, kEpochStream, static_cast<uint64_t>(epoch)));
      std::shuffle(order_.begin(), order_.end(), shuffle);
      epoch_ = epoch;
    }
    std::vector<const std::vector<int32_t>*> windows;
    const size_t first = static_cast<size_t>((step % steps_per_epoch_) * options_.batch_size);
    for (size_t i = 0; i < static_cast<size_t>(options_.batch_size); ++i)
      windows.push_back(&train_[order_[(first + i) % order_.size()]]);
    std::uniform_int_distribution<size_t> pick_speedup(0, train_speedups_.size() - 1);
    const double speedup = train_speedups_[pick_speedup(generator)];
    std::uniform_int_distribution<int64_t> pick_prompt(prompt_range_.first, prompt_range_.second);
    const int64_t prompt = pick_prompt(generator);
    const Scored scored = speedup <= 1.0               ? Scored::kWholeWindow
                          : options_.score_kept_prompt ? Scored::kSurvivingRows
                                                       : Scored::kContinuation;
    return {window_loss(windows, prompt, planners_->at(speedup), scored).first,
            static_cast<int64_t>(windows.size())};
  }

  Evaluation evaluate() override {
    torch::NoGradGuard no_grad;
    Evaluation evaluation;
    evaluation.metrics = nlohmann::json::object();
    const int64_t prompt = prompt_range_.second;
    const int64_t scored = options_.seq_len - prompt;
    std::string summary = "dev continuation perplexity (prompt " + std::to_string(prompt) + ", " +
                          std::to_string(scored) + " tokens scored)";
    double score_sum = 0.0;
    for (double speedup : eval_speedups_) {
      double nll_sum = 0.0, correct = 0.0;
      for (size_t first = 0; first < dev_.size(); first += static_cast<size_t>(options_.batch_size)) {
        std::vector<const std::vector<int32_t>*> windows;
        for (size_t i = first; i < std::min(dev_.size(), first + static_cast<size_t>(options_.batch_size));
             ++i)
          windows.push_back(&dev_[i]);
        const auto [loss, accuracy] =
            window_loss(windows, prompt, planners_->at(speedup), Scored::kContinuation);
        nll_sum += loss.item<double>() * static_cast<double>(windows.size());
        correct += accuracy * static_cast<double>(windows.size());
      }
      const double count = static_cast<double>(dev_.size());
      const double nll = nll_sum / count;
      const std::string key = "S=" + format_speedup(speedup);
      evaluation.metrics[key] = {{"perplexity", std::exp(nll)}, {"nll", nll}, {"accuracy", correct / count}};
      char text[64];
      std::snprintf(text, sizeof(text), " %s %.2f", key.c_str(), std::exp(nll));
      summary += text;
      score_sum -= nll;
    }
    evaluation.score = score_sum / static_cast<double>(eval_speedups_.size());
    evaluation.summary = summary;
    return evaluation;
  }

  void save(const std::filesystem::path& dir, DType dtype, bool with_tokenizer) override {
    std::filesystem::create_directories(dir);
    if (with_tokenizer) {
      for (const auto& [name, bytes] : tokenizer_.files) write_file_atomic(dir / name, bytes);
    }
    save_model_files(dir, config_.to_json(), model_->hf_weights(), dtype);
  }

  void check_resumable(const std::filesystem::path& dir) override {
    const Gpt2Config saved = Gpt2Config::from_file(dir / "config.json");
    if (!same_architecture(saved, config_)) {
      throw InputError(dir.string() + " holds a GPT-2 of " + describe(saved) + "; this run trains " +
                       describe(config_));
    }
  }

  void load(const std::filesystem::path& dir) override {
    check_resumable(dir);
    load_weights(dir);
  }

 private:
  void load_weights(const std::filesystem::path& dir) {
    const NamedWeights weights = model_->hf_weights();
    load_hf_weights(dir, weights, nullptr);
    // The head is tied: a checkpoint with its own lm_head must hold the embedding there.
    const WeightStore store = WeightStore::open(dir);
    if (store.contains("lm_head.weight")) {
      const Tensor head = store.load("lm_head.weight", {config_.vocab_size, config_.n_embd});
      const torch::Tensor stored =
          torch::from_blob(const_cast<float*>(head.data()), {config_.vocab_size, config_.n_embd});
      if (!torch::equal(stored, model_->token_embeddings->weight.detach())) {
        throw FormatError(dir.string() +
                          ": lm_head.weight differs from the token embedding; latte trains GPT-2 with "
                          "the head tied to it");
      }
    }
  }

  // Which rows' next-token predictions a loss counts.
  enum class Scored {
    kWholeWindow,    // every row (dense batches: nothing is pruned)
    kContinuation,   // the last prompt row and the continuation rows, as `eval --task lm` scores
    kSurvivingRows,  // those and every prompt row that survives elimination
  };

  // Mean cross-entropy over the predicted tokens of the windows and the share predicted right.
  // Windows of seq_len tokens run their first seq_len - 1 (the last token is only a target):
  // the first `prompt` as the prompt, pruned by `planner`.
  std::pair<torch::Tensor, double> window_loss(const std::vector<const std::vector<int32_t>*>& windows,
                                               int64_t prompt, const Planner* planner, Scored scored) {
    const int64_t length = options_.seq_len;
    const torch::Tensor ids = ids_tensor(windows, length);
    const Gpt2Output output = model_(ids.slice(1, 0, length - 1), prompt, planner);
    torch::Tensor rows, targets;
    if (scored == Scored::kSurvivingRows) {
      std::tie(rows, targets) = Gpt2LMImpl::surviving_rows(output, ids);
    } else {
      rows = scored == Scored::kWholeWindow ? output.rows.hidden : Gpt2LMImpl::continuation_rows(output);
      targets = ids.slice(1, length - rows.size(1), length).reshape({-1});
    }
    const torch::Tensor logits = model_->logits(rows).reshape({targets.size(0), -1});
    const torch::Tensor loss = torch::cross_entropy_loss(logits, targets);
    double accuracy = 0.0;
    if (!torch::GradMode::is_enabled()) {
      accuracy = logits.argmax(-1).eq(targets).to(torch::kDouble).mean().item<double>();
    }
    return {loss, accuracy};
  }

  CausalLMOptions options_;
  TokenizerSource tokenizer_;
  Gpt2Config config_;
  Gpt2LM model_{nullptr};
  std::vector<double> train_speedups_;
  std::vector<double> eval_speedups_;
  std::pair<int64_t, int64_t> prompt_range_;
  std::vector<std::vector<int32_t>> train_;
  std::vector<std::vector<int32_t>> dev_;
  std::unique_ptr<PlannerCache> planners_;
  int64_t steps_per_epoch_ = 1;
  std::vector<size_t> order_;
  int64_t epoch_ = -1;
};

}  // namespace

TrainResult train_causal_lm(const CausalLMOptions& options, std::ostream& log) {
  return train_task<CausalLMTask>(options, log);
}

}  // namespace latte::train
