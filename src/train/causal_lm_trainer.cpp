// latte train clm: causal-LM training of GPT-2 or Llama with elimination in the prompt part of
// each window (docs/training.md, "Causal-LM training: latte train clm").
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <memory>
#include <numeric>
#include <tuple>
#include <variant>

#include "latte/core/error.h"
#include "latte/io/atomic_file.h"
#include "latte/io/json_file.h"
#include "latte/io/read_file.h"
#include "latte/io/safetensors.h"
#include "latte/models/gpt2.h"
#include "latte/train/checkpoint.h"
#include "latte/train/datasets.h"
#include "latte/train/gpt2_modules.h"
#include "latte/train/llama_modules.h"
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

// The families `latte train clm` trains, each by its engine config.
using CausalLMConfig = std::variant<Gpt2Config, LlamaConfig>;

std::string family_name(const Gpt2Config&) { return "GPT-2"; }
std::string family_name(const LlamaConfig&) { return "Llama"; }

// "6 layers, hidden 384, 6 heads, 512 positions, vocabulary 50257"
std::string describe(const Gpt2Config& config) {
  return std::to_string(config.n_layer) + " layers, hidden " + std::to_string(config.n_embd) + ", " +
         std::to_string(config.n_head) + " heads, " + std::to_string(config.n_positions) +
         " positions, vocabulary " + std::to_string(config.vocab_size);
}

// "6 layers, hidden 384, 6 heads over 2 key/value heads, FFN 1024, 544 positions, vocabulary 50257"
std::string describe(const LlamaConfig& config) {
  return std::to_string(config.num_hidden_layers) + " layers, hidden " + std::to_string(config.hidden_size) +
         ", " + std::to_string(config.num_attention_heads) + " heads over " +
         std::to_string(config.num_key_value_heads) + " key/value heads, FFN " +
         std::to_string(config.intermediate_size) + ", " + std::to_string(config.max_position_embeddings) +
         " positions, vocabulary " + std::to_string(config.vocab_size);
}

bool same_architecture(const Gpt2Config& a, const Gpt2Config& b) {
  return a.vocab_size == b.vocab_size && a.n_positions == b.n_positions && a.n_embd == b.n_embd &&
         a.n_layer == b.n_layer && a.n_head == b.n_head && a.n_inner == b.n_inner &&
         a.activation_function == b.activation_function;
}

// Everything that shapes a weight or a forward pass, eos/bos aside.
bool same_architecture(const LlamaConfig& a, const LlamaConfig& b) {
  const auto key = [](const LlamaConfig& c) {
    const Llama3RopeScaling scaling = c.rope_scaling.value_or(Llama3RopeScaling{0.0, 0.0, 0.0, 0});
    return std::make_tuple(c.model_type, c.vocab_size, c.hidden_size, c.intermediate_size,
                           c.num_hidden_layers, c.num_attention_heads, c.num_key_value_heads, c.head_dim,
                           c.max_position_embeddings, c.rms_norm_eps, c.rope_theta, c.tie_word_embeddings,
                           c.qkv_bias, c.output_bias, c.mlp_bias, scaling.factor, scaling.low_freq_factor,
                           scaling.high_freq_factor, scaling.original_max_position_embeddings);
  };
  return key(a) == key(b);
}

bool same_architecture(const Gpt2Config&, const LlamaConfig&) { return false; }
bool same_architecture(const LlamaConfig&, const Gpt2Config&) { return false; }

// A folder's config.json as its family's engine reads it.
CausalLMConfig read_config(const std::filesystem::path& config_json) {
  const nlohmann::json json = read_json_file(config_json);
  std::string model_type;
  if (json.is_object() && json.contains("model_type") && json["model_type"].is_string())
    model_type = json["model_type"].get<std::string>();
  if (model_type == "gpt2") return Gpt2Config::from_json(json, config_json.string());
  if (model_type == "llama") return LlamaConfig::from_json(json, config_json.string());
  throw InputError(config_json.string() + ": model_type is '" + model_type +
                   "'; latte train clm trains gpt2 and llama");
}

// --family's preset from scratch, its positions the windows' length (positions it never trained
// on are not claimed).
CausalLMConfig preset_config(const CausalLMOptions& options, int64_t vocab_size) {
  if (options.family == "gpt2") {
    Gpt2Config config = gpt2_preset(options.preset, vocab_size, options.layers);
    config.n_positions = options.seq_len;
    return config;
  }
  LlamaConfig config = llama_preset(options.preset, vocab_size, options.layers);
  config.max_position_embeddings = options.seq_len;
  return config;
}

int64_t vocab_size_of(const Gpt2Config& config) { return config.vocab_size; }
int64_t vocab_size_of(const LlamaConfig& config) { return config.vocab_size; }
int64_t positions_of(const Gpt2Config& config) { return config.n_positions; }
int64_t positions_of(const LlamaConfig& config) { return config.max_position_embeddings; }
std::string positions_field(const Gpt2Config&) { return "n_positions"; }
std::string positions_field(const LlamaConfig&) { return "max_position_embeddings"; }
bool ties_head(const Gpt2Config&) { return true; }
bool ties_head(const LlamaConfig& config) { return config.tie_word_embeddings; }

// bos and eos: the tokenizer's <|endoftext|>, as the windows are separated.
void set_separator(Gpt2Config& config, int32_t id) { config.bos_token_id = config.eos_token_id = id; }
void set_separator(LlamaConfig& config, int32_t id) {
  config.bos_token_id = id;
  config.eos_token_ids = {id};
}

std::shared_ptr<CausalLMImpl> make_model(const Gpt2Config& config) {
  return std::make_shared<Gpt2LMImpl>(config);
}
std::shared_ptr<CausalLMImpl> make_model(const LlamaConfig& config) {
  return std::make_shared<LlamaLMImpl>(config);
}

// "GPT-2 of 6 layers, ..."
std::string describe_model(const CausalLMConfig& config) {
  return std::visit([](const auto& c) { return family_name(c) + " of " + describe(c); }, config);
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
    if (options.family != "gpt2" && options.family != "llama")
      throw InputError("unknown family '" + options.family + "' (choose gpt2 or llama)");
    if (options.steps < 1) throw InputError("--steps must be at least 1");
    if (options.dev_windows < 1) throw InputError("--dev-windows must be at least 1");
    train_speedups_ = training_speedups(options.train_speedup, options.train_speedup_range);
    eval_speedups_ = evaluation_speedups(options.eval_speedups, train_speedups_, false);
    const int64_t vocab_size = static_cast<int64_t>(tokenizer_.tokenizer.vocab_size());
    if (options.init.empty()) {
      config_ = preset_config(options, vocab_size);
    } else {
      // The folder decides the family.
      config_ = read_config(options.init / "config.json");
      const int64_t config_vocab = std::visit([](const auto& c) { return vocab_size_of(c); }, config_);
      if (vocab_size != config_vocab) {
        throw InputError("the tokenizer of " + tokenizer_folder(options).string() + " has " +
                         std::to_string(vocab_size) + " tokens; " + (options.init / "config.json").string() +
                         " has vocab_size " + std::to_string(config_vocab));
      }
    }
    const int64_t positions = std::visit([](const auto& c) { return positions_of(c); }, config_);
    if (options.seq_len < 2 || options.seq_len > positions) {
      throw InputError("--seq-len must be in [2, " + std::to_string(positions) + "] (" +
                       std::visit([](const auto& c) { return positions_field(c); }, config_) + "), got " +
                       std::to_string(options.seq_len));
    }
    const std::optional<int32_t> separator = tokenizer_.tokenizer.end_of_text_id();
    if (!separator)
      throw InputError("the tokenizer of " + tokenizer_folder(options).string() + " has no <|endoftext|>");
    std::visit([&](auto& c) { set_separator(c, *separator); }, config_);
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
    model_ = std::visit([](const auto& c) { return make_model(c); }, config_);
    if (!options.init.empty()) load_weights(options.init);
    planners_ = std::make_unique<PlannerCache>(model_->shape());

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
    log << "latte: causal-LM training of a "
        << std::visit([](const auto& c) { return family_name(c) + " (" + describe(c); }, config_) << ", "
        << millions << " parameters) " << origin << " on " << train_.size() << " windows of " << length
        << " tokens (dev " << dev_.size() << "); " << options.steps << " steps of " << options.batch_size
        << " = "
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
    save_model_files(dir, model_->config_json(), model_->hf_weights(), dtype);
  }

  void check_resumable(const std::filesystem::path& dir) override {
    const CausalLMConfig saved = read_config(dir / "config.json");
    if (!std::visit([](const auto& a, const auto& b) { return same_architecture(a, b); }, saved, config_)) {
      // "this run trains 3 layers, ..." within a family, "this run trains a Llama of ..." across.
      const std::string ours = saved.index() == config_.index()
                                   ? std::visit([](const auto& c) { return describe(c); }, config_)
                                   : "a " + describe_model(config_);
      throw InputError(dir.string() + " holds a " + describe_model(saved) + "; this run trains " + ours);
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
    // A tied head: a checkpoint with its own lm_head must hold the embedding there. Both families
    // list the token embedding first.
    if (!std::visit([](const auto& c) { return ties_head(c); }, config_)) return;
    const WeightStore store = WeightStore::open(dir);
    if (store.contains("lm_head.weight")) {
      const torch::Tensor embedding = weights.front().second.detach();
      const Tensor head = store.load("lm_head.weight", {embedding.size(0), embedding.size(1)});
      const torch::Tensor stored =
          torch::from_blob(const_cast<float*>(head.data()), {embedding.size(0), embedding.size(1)});
      if (!torch::equal(stored, embedding)) {
        throw FormatError(dir.string() + ": lm_head.weight differs from the token embedding; latte trains " +
                          std::visit([](const auto& c) { return family_name(c); }, config_) +
                          " with the head tied to it");
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
    const CausalLMOutput output = model_->forward(ids.slice(1, 0, length - 1), prompt, planner);
    torch::Tensor rows, targets;
    if (scored == Scored::kSurvivingRows) {
      std::tie(rows, targets) = CausalLMImpl::surviving_rows(output, ids);
    } else {
      rows = scored == Scored::kWholeWindow ? output.rows.hidden : CausalLMImpl::continuation_rows(output);
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
  CausalLMConfig config_;
  std::shared_ptr<CausalLMImpl> model_;
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
