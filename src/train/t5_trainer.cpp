// latte train t5-span | seq2seq: T5 span-corruption pretraining from scratch and seq2seq
// fine-tuning, with ACC elimination in the encoder (docs/training.md, "T5").
#include <algorithm>
#include <cmath>
#include <cstdio>

#include "latte/core/error.h"
#include "latte/io/atomic_file.h"
#include "latte/io/read_file.h"
#include "latte/train/checkpoint.h"
#include "latte/train/datasets.h"
#include "latte/train/t5_data.h"
#include "latte/train/t5_modules.h"
#include "latte/train/trainer.h"
#include "loop.h"

namespace latte::train {

namespace {

constexpr int64_t kIgnored = -100;  // cross_entropy's ignore_index: target padding

// A T5 tokenizer folder: the tokenizer and the files a model folder needs to load it again.
struct T5TokenizerSource {
  SentencePieceTokenizer tokenizer;
  std::vector<std::pair<std::string, std::string>> files;  // (name, bytes)
};

T5TokenizerSource read_t5_tokenizer(const std::filesystem::path& dir) {
  if (!std::filesystem::is_directory(dir)) {
    throw InputError("tokenizer folder " + dir.string() + " does not exist or is not a folder");
  }
  T5TokenizerSource source{SentencePieceTokenizer::from_dir(dir), {}};
  if (!source.tokenizer.end_of_text_id()) throw InputError(dir.string() + "/spiece.model has no </s>");
  for (const char* name : {"spiece.model", "tokenizer_config.json", "special_tokens_map.json"}) {
    if (!std::filesystem::exists(dir / name)) continue;
    source.files.emplace_back(name, read_file_bytes(dir / name, FileSource::kUser, "tokenizer file"));
  }
  return source;
}

// Sizes of a T5 trained from scratch: T5 v1.1's small and base, and two smaller.
struct T5Preset {
  int64_t d_model, d_kv, d_ff, heads, layers;
};
T5Preset t5_preset(const std::string& name) {
  if (name == "tiny") return {128, 32, 256, 4, 2};
  if (name == "mini") return {256, 32, 512, 8, 4};
  if (name == "small") return {512, 64, 1024, 6, 8};
  if (name == "base") return {768, 64, 2048, 12, 12};
  throw InputError("unknown --preset '" + name + "'; expected tiny, mini, small or base");
}

// "2+2 layers, d_model 128, 4 heads of 32, d_ff 256 gated-gelu, vocabulary 2112"
std::string describe(const T5Config& config) {
  return std::to_string(config.num_layers) + "+" + std::to_string(config.num_decoder_layers) +
         " layers, d_model " + std::to_string(config.d_model) + ", " + std::to_string(config.num_heads) +
         " heads of " + std::to_string(config.d_kv) + ", d_ff " + std::to_string(config.d_ff) + " " +
         config.feed_forward_proj + (config.tie_word_embeddings ? ", tied head" : "") + ", vocabulary " +
         std::to_string(config.vocab_size);
}

bool same_architecture(const T5Config& a, const T5Config& b) {
  return a.vocab_size == b.vocab_size && a.d_model == b.d_model && a.d_kv == b.d_kv && a.d_ff == b.d_ff &&
         a.num_layers == b.num_layers && a.num_decoder_layers == b.num_decoder_layers &&
         a.num_heads == b.num_heads && a.feed_forward_proj == b.feed_forward_proj &&
         a.tie_word_embeddings == b.tie_word_embeddings &&
         a.relative_attention_num_buckets == b.relative_attention_num_buckets;
}

std::string speedup_list(const std::vector<double>& speedups) {
  std::string text;
  for (double speedup : speedups) {
    if (!text.empty()) text += ",";
    text += format_speedup(speedup);
  }
  return text;
}

// What both runs share: the model, its tokenizer, batches of (source, target) pairs with
// teacher forcing, dev loss at each evaluation speedup, checkpoints.
class T5Task : public Task {
 public:
  T5Task(const T5Options& options, T5TokenizerSource tokenizer)
      : options_(options), tokenizer_(std::move(tokenizer)) {
    if (options.dev_examples < 1) throw InputError("--dev-examples must be at least 1");
    train_speedups_ = training_speedups(options.train_speedup, options.train_speedup_range);
    eval_speedups_ = evaluation_speedups(options.eval_speedups, train_speedups_, false);
  }

  torch::nn::Module& module() override { return *model_; }
  NamedWeights weights() override { return model_->hf_weights(); }

  Evaluation evaluate() override {
    torch::NoGradGuard no_grad;
    Evaluation evaluation;
    evaluation.metrics = nlohmann::json::object();
    std::string summary = "dev loss";
    double score_sum = 0.0;
    for (double speedup : eval_speedups_) {
      double nll_sum = 0.0, correct = 0.0, tokens = 0.0;
      for (size_t first = 0; first < dev_.size(); first += static_cast<size_t>(options_.batch_size)) {
        std::vector<const Seq2SeqIds*> batch;
        for (size_t i = first; i < std::min(dev_.size(), first + static_cast<size_t>(options_.batch_size));
             ++i)
          batch.push_back(&dev_[i]);
        const BatchLoss loss = batch_loss_of(batch, planners_->at(speedup));
        nll_sum += loss.loss.item<double>() * static_cast<double>(loss.tokens);
        correct += loss.correct;
        tokens += static_cast<double>(loss.tokens);
      }
      const double nll = nll_sum / tokens;
      const std::string key = "S=" + format_speedup(speedup);
      evaluation.metrics[key] = {{"loss", nll}, {"token_accuracy", correct / tokens}};
      char text[64];
      std::snprintf(text, sizeof(text), " %s %.3f", key.c_str(), nll);
      summary += text;
      score_sum -= nll;
    }
    evaluation.score = score_sum / static_cast<double>(eval_speedups_.size());
    add_to_evaluation(evaluation, summary);
    evaluation.summary = summary;
    return evaluation;
  }

  void save(const std::filesystem::path& dir, DType dtype, bool with_tokenizer) override {
    std::filesystem::create_directories(dir);
    if (with_tokenizer) {
      for (const auto& [name, bytes] : tokenizer_.files) write_file_atomic(dir / name, bytes);
    }
    save_model_files(dir, t5_config_json(config_, model_->dropout_rate()), model_->hf_weights(), dtype);
  }

  void check_resumable(const std::filesystem::path& dir) override {
    const T5Config saved = T5Config::from_file(dir / "config.json");
    if (!same_architecture(saved, config_)) {
      throw InputError(dir.string() + " holds a T5 of " + describe(saved) + "; this run trains " +
                       describe(config_));
    }
  }

  void load(const std::filesystem::path& dir) override {
    check_resumable(dir);
    load_hf_weights(dir, model_->hf_weights(), nullptr);
  }

 protected:
  struct BatchLoss {
    torch::Tensor loss;  // mean cross-entropy over the target tokens
    int64_t tokens = 0;
    double correct = 0.0;  // target tokens predicted right (evaluation only)
  };

  // Teacher forcing: the decoder reads decoder_start and the target but its last token, and
  // predicts the target.
  BatchLoss batch_loss_of(const std::vector<const Seq2SeqIds*>& batch, const Planner* planner) {
    std::vector<std::vector<int32_t>> sources, decoder_inputs;
    int64_t longest = 0;
    for (const Seq2SeqIds* example : batch) {
      sources.push_back(example->source);
      std::vector<int32_t> input = {config_.decoder_start_token_id};
      input.insert(input.end(), example->target.begin(), example->target.end() - 1);
      decoder_inputs.push_back(std::move(input));
      longest = std::max(longest, static_cast<int64_t>(example->target.size()));
    }
    torch::Tensor labels = torch::full({static_cast<int64_t>(batch.size()), longest}, kIgnored, torch::kLong);
    auto accessor = labels.accessor<int64_t, 2>();
    BatchLoss result;
    for (size_t b = 0; b < batch.size(); ++b) {
      for (size_t i = 0; i < batch[b]->target.size(); ++i)
        accessor[static_cast<int64_t>(b)][static_cast<int64_t>(i)] = batch[b]->target[i];
      result.tokens += static_cast<int64_t>(batch[b]->target.size());
    }
    const T5EncoderOutput memory = model_->encode(pad_sequences(sources, config_.pad_token_id), planner);
    const torch::Tensor decoder_ids = pad_sequences(decoder_inputs, config_.pad_token_id).ids;
    const torch::Tensor logits = model_->logits(model_->decode(decoder_ids, memory));
    const torch::Tensor flat_labels = labels.reshape({-1}).to(logits.device());
    result.loss = torch::nn::functional::cross_entropy(
        logits.reshape({flat_labels.size(0), -1}), flat_labels,
        torch::nn::functional::CrossEntropyFuncOptions().ignore_index(kIgnored));
    if (!torch::GradMode::is_enabled()) {
      const torch::Tensor right = logits.argmax(-1).reshape({-1}).eq(flat_labels);
      result.correct = right.sum().item<double>();
    }
    return result;
  }

  // A training batch of the examples `indices` index, at a speedup drawn per batch.
  std::pair<torch::Tensor, int64_t> training_loss(const std::vector<Seq2SeqIds>& examples,
                                                  std::mt19937_64& generator) {
    std::vector<const Seq2SeqIds*> batch;
    for (const Seq2SeqIds& example : examples) batch.push_back(&example);
    std::uniform_int_distribution<size_t> pick(0, train_speedups_.size() - 1);
    const Planner* planner = planners_->at(train_speedups_[pick(generator)]);
    return {batch_loss_of(batch, planner).loss, static_cast<int64_t>(batch.size())};
  }

  // The model and what depends on it, once config_ is set.
  void build_model(double dropout) {
    torch::manual_seed(options_.seed);
    model_ = T5ForConditionalGeneration(config_, dropout);
    planners_ = std::make_unique<PlannerCache>(t5_encoder_shape(config_));
  }

  std::string parameters_text() {
    int64_t parameters = 0;
    for (const auto& entry : model_->hf_weights()) parameters += entry.second.numel();
    char millions[32];
    std::snprintf(millions, sizeof(millions), "%.2fM", static_cast<double>(parameters) / 1e6);
    return millions;
  }

  // More metrics for the evaluation (seq2seq: greedy exact match), appended to the summary.
  virtual void add_to_evaluation(Evaluation& evaluation, std::string& summary) {
    (void)evaluation;
    (void)summary;
  }

  T5Options options_;
  T5TokenizerSource tokenizer_;
  T5Config config_;
  T5ForConditionalGeneration model_{nullptr};
  std::vector<double> train_speedups_, eval_speedups_;
  std::vector<Seq2SeqIds> dev_;
  std::unique_ptr<PlannerCache> planners_;
  std::vector<std::vector<size_t>> batches_;  // this epoch's
  int64_t epoch_ = -1;

  // The examples of `step`'s batch (epochs of batches grouped by length, as classify's).
  const std::vector<size_t>& batch_indices(int64_t step, int64_t steps_per_epoch,
                                           const std::vector<int64_t>& lengths) {
    const int64_t epoch = step / steps_per_epoch;
    if (epoch != epoch_ || batches_.empty()) {
      std::mt19937_64 shuffle(derive_seed(options_.seed, kEpochStream, static_cast<uint64_t>(epoch)));
      batches_ = epoch_batches(lengths, options_.batch_size, shuffle);
      epoch_ = epoch;
    }
    return batches_[static_cast<size_t>(step % steps_per_epoch) % batches_.size()];
  }
};

class T5SpanTask : public T5Task {
 public:
  T5SpanTask(const T5SpanOptions& options, std::ostream& log)
      : T5Task(options, read_t5_tokenizer(options.tokenizer)), span_options_(options) {
    if (options.steps < 1) throw InputError("--steps must be at least 1");
    if (!(options.noise_density > 0.0 && options.noise_density < 1.0))
      throw InputError("--noise-density must be in (0, 1)");
    if (!(options.mean_span_length >= 1.0)) throw InputError("--mean-span-length must be at least 1");
    if (options.seq_len < 8 || options.seq_len > T5Config::kMaxTokens) {
      throw InputError("--seq-len must be in [8, " + std::to_string(T5Config::kMaxTokens) + "], got " +
                       std::to_string(options.seq_len));
    }
    const T5Preset preset = t5_preset(options.preset);
    if (options.layers && (*options.layers < 1 || *options.layers > T5Config::kMaxLayers))
      throw InputError("--layers must be in [1, " + std::to_string(T5Config::kMaxLayers) + "]");
    if (options.feed_forward != "gated-gelu" && options.feed_forward != "relu")
      throw InputError("--feed-forward must be gated-gelu or relu, got '" + options.feed_forward + "'");
    const SentencePieceTokenizer& tokenizer = tokenizer_.tokenizer;
    if (tokenizer.extra_ids() < 1) {
      throw InputError("the tokenizer of " + options.tokenizer.string() +
                       " has no <extra_id_N> sentinels; span corruption needs them (tokenizer_config.json "
                       "extra_ids)");
    }
    config_.vocab_size = (static_cast<int64_t>(tokenizer.vocab_size()) + 63) / 64 * 64;  // as T5 pads
    config_.d_model = preset.d_model;
    config_.d_kv = preset.d_kv;
    config_.d_ff = preset.d_ff;
    config_.num_heads = preset.heads;
    config_.num_layers = config_.num_decoder_layers = options.layers.value_or(preset.layers);
    config_.feed_forward_proj = options.feed_forward;
    config_.tie_word_embeddings = options.tie_embeddings;
    config_.pad_token_id = 0;
    config_.decoder_start_token_id = 0;
    config_.eos_token_id = *tokenizer.end_of_text_id();
    config_.max_tokens = std::max(T5Config::kDefaultMaxTokens, options.seq_len);
    lengths_ = span_corruption_lengths(options.seq_len, options.noise_density, options.mean_span_length);

    std::vector<std::vector<int32_t>> lines = read_text_lines(options.data, tokenizer);
    if (options.max_lines > 0 && static_cast<int64_t>(lines.size()) > options.max_lines)
      lines.resize(static_cast<size_t>(options.max_lines));
    train_ = causal_lm_windows(lines, config_.eos_token_id.value(), lengths_.tokens, options.data.string());
    lines = read_text_lines(options.dev, tokenizer);
    std::vector<std::vector<int32_t>> dev_chunks =
        causal_lm_windows(lines, config_.eos_token_id.value(), lengths_.tokens, options.dev.string());
    if (static_cast<int64_t>(dev_chunks.size()) > options.dev_examples)
      dev_chunks.resize(static_cast<size_t>(options.dev_examples));
    std::mt19937_64 generator(derive_seed(options.seed, kEvalStream, 0));
    for (const std::vector<int32_t>& chunk : dev_chunks) dev_.push_back(corrupt(chunk, generator));
    steps_per_epoch_ = (static_cast<int64_t>(train_.size()) + options.batch_size - 1) / options.batch_size;
    chunk_lengths_.assign(train_.size(), lengths_.tokens);
    build_model(0.1);

    log << "latte: T5 span-corruption pretraining (" << describe(config_) << ", " << parameters_text()
        << " parameters) from scratch on " << train_.size() << " passages of " << lengths_.tokens
        << " tokens -> inputs " << lengths_.inputs << ", targets " << lengths_.targets << " (dev "
        << dev_.size() << "); noise density " << options.noise_density << ", mean span "
        << options.mean_span_length << "; " << options.steps << " steps of " << options.batch_size << " = "
        << static_cast<double>(options.steps * options.batch_size) / static_cast<double>(train_.size())
        << " epochs; train speedup " << speedup_list(train_speedups_) << "\n";
  }

  std::string name() const override { return "t5-span"; }
  int64_t total_steps() const override { return span_options_.steps; }
  int64_t default_eval_every() const override { return std::max<int64_t>(1, span_options_.steps / 10); }

  std::pair<torch::Tensor, int64_t> batch_loss(int64_t step, std::mt19937_64& generator) override {
    std::vector<Seq2SeqIds> examples;
    for (size_t index : batch_indices(step, steps_per_epoch_, chunk_lengths_))
      examples.push_back(corrupt(train_[index], generator));
    return training_loss(examples, generator);
  }

 private:
  Seq2SeqIds corrupt(const std::vector<int32_t>& chunk, std::mt19937_64& generator) const {
    const std::vector<bool> noise =
        random_spans_noise_mask(static_cast<int64_t>(chunk.size()), span_options_.noise_density,
                                span_options_.mean_span_length, generator);
    return span_corrupt(chunk, noise, tokenizer_.tokenizer);
  }

  T5SpanOptions span_options_;
  SpanLengths lengths_;
  std::vector<std::vector<int32_t>> train_;
  std::vector<int64_t> chunk_lengths_;
  int64_t steps_per_epoch_ = 1;
};

class Seq2SeqTask : public T5Task {
 public:
  Seq2SeqTask(const Seq2SeqOptions& options, std::ostream& log)
      : T5Task(options, read_t5_tokenizer(options.init)), seq2seq_options_(options) {
    if (options.epochs < 1) throw InputError("--epochs must be at least 1");
    if (options.steps && *options.steps < 1) throw InputError("--steps must be at least 1");
    if (options.dev_generate < 0) throw InputError("--dev-generate must be at least 0");
    const std::filesystem::path config_json = options.init / "config.json";
    config_ = T5Config::from_file(config_json);
    const int64_t vocab_size = static_cast<int64_t>(tokenizer_.tokenizer.vocab_size());
    if (vocab_size > config_.vocab_size) {
      throw InputError("the tokenizer of " + options.init.string() + " has " + std::to_string(vocab_size) +
                       " tokens; " + config_json.string() + " has vocab_size " +
                       std::to_string(config_.vocab_size));
    }
    for (const auto& [flag, value] : {std::pair{"--max-source-len", options.max_source_len},
                                      {"--max-target-len", options.max_target_len}}) {
      if (value < 2 || value > config_.max_tokens) {
        throw InputError(std::string(flag) + " must be in [2, " + std::to_string(config_.max_tokens) +
                         "] (the model's n_positions), got " + std::to_string(value));
      }
    }
    Seq2SeqFile train = read_seq2seq_jsonl(options.train, tokenizer_.tokenizer, options.max_source_len,
                                           options.max_target_len);
    Seq2SeqFile dev =
        read_seq2seq_jsonl(options.dev, tokenizer_.tokenizer, options.max_source_len, options.max_target_len);
    for (const auto& [file, path] : {std::pair{&train, &options.train}, {&dev, &options.dev}}) {
      if (file->truncated_sources > 0) {
        log << "latte: notice: " << file->truncated_sources << " of " << file->examples.size()
            << " sources in " << path->string() << " cut to --max-source-len " << options.max_source_len
            << " tokens\n";
      }
      if (file->truncated_targets > 0) {
        log << "latte: notice: " << file->truncated_targets << " of " << file->examples.size()
            << " targets in " << path->string() << " cut to --max-target-len " << options.max_target_len
            << " tokens\n";
      }
    }
    for (Seq2SeqExample& example : train.examples) {
      lengths_.push_back(static_cast<int64_t>(example.ids.source.size() + example.ids.target.size()));
      train_.push_back(std::move(example.ids));
    }
    // An even spread over the dev file, not its first lines: a file grouped by task or prompting
    // style (as `latte data instruct` writes) is scored whole.
    for (size_t index : even_spread(dev.examples.size(), static_cast<size_t>(options.dev_examples)))
      dev_.push_back(std::move(dev.examples[index].ids));
    steps_per_epoch_ = (static_cast<int64_t>(train_.size()) + options.batch_size - 1) / options.batch_size;
    total_steps_ = options.steps ? *options.steps : options.epochs * steps_per_epoch_;
    build_model(t5_dropout_rate(config_json));
    load_hf_weights(options.init, model_->hf_weights(), nullptr);

    log << "latte: seq2seq fine-tuning of a T5 (" << describe(config_) << ", " << parameters_text()
        << " parameters) from " << options.init.string() << " on " << train_.size() << " examples (dev "
        << dev_.size() << "); " << total_steps_ << " steps of " << options.batch_size << " = "
        << static_cast<double>(total_steps_ * options.batch_size) / static_cast<double>(train_.size())
        << " epochs; train speedup " << speedup_list(train_speedups_) << "\n";
  }

  std::string name() const override { return "seq2seq"; }
  int64_t total_steps() const override { return total_steps_; }
  int64_t default_eval_every() const override { return steps_per_epoch_; }

  std::pair<torch::Tensor, int64_t> batch_loss(int64_t step, std::mt19937_64& generator) override {
    std::vector<Seq2SeqIds> examples;
    for (size_t index : batch_indices(step, steps_per_epoch_, lengths_)) examples.push_back(train_[index]);
    return training_loss(examples, generator);
  }

 private:
  // Greedy decoding (at speedup 1) of --dev-generate of the scored dev sources, spread evenly
  // over them: the share whose output equals the target exactly.
  void add_to_evaluation(Evaluation& evaluation, std::string& summary) override {
    const std::vector<size_t> picked =
        even_spread(dev_.size(), static_cast<size_t>(seq2seq_options_.dev_generate));
    const size_t count = picked.size();
    if (count == 0) return;
    int64_t exact = 0;
    for (size_t i : picked) {
      const Seq2SeqIds& example = dev_[i];
      const T5EncoderOutput memory = model_->encode(pad_sequences({example.source}, config_.pad_token_id));
      std::vector<int32_t> generated = {config_.decoder_start_token_id};
      const auto limit = static_cast<int64_t>(example.target.size()) + 1;
      while (static_cast<int64_t>(generated.size()) < limit) {
        const torch::Tensor ids = pad_sequences({generated}, config_.pad_token_id).ids;
        const torch::Tensor logits = model_->logits(model_->decode(ids, memory).select(1, -1));
        generated.push_back(static_cast<int32_t>(logits.argmax(-1).item<int64_t>()));
        if (config_.eos_token_id && generated.back() == *config_.eos_token_id) break;
      }
      if (std::equal(generated.begin() + 1, generated.end(), example.target.begin(), example.target.end()))
        ++exact;
    }
    const double share = static_cast<double>(exact) / static_cast<double>(count);
    evaluation.metrics["exact_match"] = {{"examples", count}, {"share", share}};
    char text[96];
    std::snprintf(text, sizeof(text), "; greedy exact match %.3f (%zu examples)", share, count);
    summary += text;
  }

  Seq2SeqOptions seq2seq_options_;
  std::vector<Seq2SeqIds> train_;
  std::vector<int64_t> lengths_;
  int64_t steps_per_epoch_ = 1;
  int64_t total_steps_ = 1;
};

}  // namespace

TrainResult train_t5_span(const T5SpanOptions& options, std::ostream& log) {
  return train_task<T5SpanTask>(options, log);
}

TrainResult train_seq2seq(const Seq2SeqOptions& options, std::ostream& log) {
  return train_task<Seq2SeqTask>(options, log);
}

}  // namespace latte::train
