// latte.Model: a model folder of any family behind the library's interfaces (BertModel for
// encoders, LanguageModel for decoders and encoder-decoders), with the knobs and results of the
// CLI's commands as Python arguments and objects. Conversions only: every decision is the
// library's, called as src/cli/cmd_*.cpp call it.
#pragma once

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <variant>
#include <vector>

#include "latte/generate/language_model.h"
#include "latte/generate/prompt_run.h"
#include "latte/models/bert.h"
#include "latte/models/registry.h"
#include "latte/prune/plan.h"
#include "latte/tokenizers/tokenizer.h"

namespace latte::python {

// The elimination knobs every inference method takes, as the CLI's --keep, --coverage, --speedup,
// --latency-ms, --mode and --min-keep.
struct KnobArgs {
  std::optional<double> speedup;
  std::optional<double> latency_ms;
  std::optional<std::vector<int64_t>> keep;
  std::optional<double> coverage;
  std::optional<std::string> mode;
  int64_t min_keep = 1;
};

// One text, or a text pair (BERT's [CLS] a [SEP] b [SEP]).
using TextInput = std::variant<std::string, std::tuple<std::string, std::string>>;

// What classify() gives for one input.
struct Classification {
  pybind11::object label;          // str, or None for a regression model
  double score = 0.0;              // the label's probability, or the regression value
  pybind11::object probabilities;  // numpy float32 [labels], or None for a regression model
  pybind11::object logits;         // numpy float32 [labels]
  std::vector<int64_t> kept;       // word-vectors leaving each layer
  std::optional<double> predicted_ms;
  std::optional<double> predicted_speedup;
};

// What generate() gives for one prompt.
struct Generation {
  std::string text;
  std::vector<int32_t> ids;
  std::vector<int32_t> prompt_ids;
  std::vector<int64_t> kept;
  std::string stop_reason;
  bool truncated = false;
  double setup_ms = 0.0;
  double ttft_ms = 0.0;
  double decode_ms_per_token = 0.0;
  size_t kv_cache_bytes = 0;
  size_t kv_cache_bytes_dense = 0;
  double predicted_speedup = 1.0;
};

// One generate() call: its prompt and options, shared with a stream's worker thread.
struct PromptRunArgs {
  std::vector<int32_t> prompt;
  std::string origin;  // names the prompt in errors
  PromptOptions options;
  KnobArgs knobs;
  double setup_seconds = 0.0;      // the model's one-time warm-up, when this run paid it
  double predicted_speedup = 1.0;  // the planner's, for the prompt's length
};

Generation to_generation(const PromptRunArgs& run, PromptResult result);

class GenerationStream;

class Model {
 public:
  Model(const std::optional<std::filesystem::path>& path, const std::optional<std::string>& dtype,
        std::optional<int> threads);

  const std::filesystem::path& path() const { return folder_; }
  std::string family() const { return family_->model_type; }
  std::string kind() const { return kind_name(family_->kind); }
  std::string dtype() const;
  int64_t num_layers() const;
  pybind11::object config() const;
  std::vector<std::string> labels() const;

  // Encoders.
  std::vector<Classification> classify(const std::vector<TextInput>& texts, const KnobArgs& knobs,
                                       int batch_size, std::optional<int64_t> max_length, bool truncate);
  pybind11::array_t<float> logits(const std::vector<TextInput>& texts, const KnobArgs& knobs, int batch_size,
                                  std::optional<int64_t> max_length, bool truncate);

  // Decoders and encoder-decoders.
  struct GenerateArgs {
    int64_t max_new_tokens = 32;
    std::optional<double> temperature;
    std::optional<int64_t> top_k;
    std::optional<double> top_p;
    uint64_t seed = 0;
    std::vector<std::string> stop;
    bool truncate = false;
  };
  pybind11::object generate(const std::variant<std::string, std::vector<int32_t>>& prompt,
                            const GenerateArgs& args, const KnobArgs& knobs, bool stream);
  pybind11::list score(const std::vector<std::string>& texts, int64_t prompt_len, int64_t continuation_len,
                       const std::vector<double>& speedups, int64_t max_windows, int latency_samples,
                       const std::optional<std::string>& mode);

  // Every family.
  pybind11::dict plan(const KnobArgs& knobs, int64_t seq_len);
  pybind11::dict profile(std::optional<int> rounds);
  pybind11::dict calibrate(const std::vector<TextInput>& texts, size_t max_inputs,
                           std::optional<int64_t> max_length, bool truncate);

 private:
  friend class GenerationStream;

  // The cached planner of `args` (latte.json's default speedup when no knob is given, as the
  // CLI's commands do); built, and the machine profiled when a target needs it, on first use.
  // Call with run_mutex_ held.
  const Planner& planner(const KnobArgs& args);
  LatencyModel latency_model(bool needs_latency);
  // The prompt of `run` through the model (warmed up on first use). Call with run_mutex_ held.
  PromptResult run_locked(PromptRunArgs& run, const OnPromptToken& on_token);
  ModelShape shape() const;
  const Tokenizer& tokenizer() const;
  // The notices written since the last call, each line once per model, as Python warnings.
  void warn_new_notices();
  // encode_input of every text, with the run's truncation notice as a warning.
  std::vector<BertInput> encode_texts(const std::vector<TextInput>& texts, std::optional<int64_t> max_length,
                                      bool truncate);
  BertModel& encoder(const char* method);
  const LanguageModel& language_model(const char* method) const;

  std::filesystem::path folder_;
  const ModelFamily* family_ = nullptr;
  Precision precision_ = Precision::kF32;
  std::optional<BertModel> encoder_;
  std::optional<LanguageModel> language_model_;
  std::unique_ptr<Tokenizer> tokenizer_;  // null for a decoder folder without one (ids only)
  std::optional<double> default_speedup_;

  // A model reuses one workspace: one call runs at a time (the GIL released meanwhile).
  std::mutex run_mutex_;
  std::map<std::string, std::unique_ptr<Planner>> planners_;  // by knobs
  bool warmed_up_ = false;
  std::ostringstream notices_;  // written under run_mutex_
  std::set<std::string> warned_;
};

void register_model(pybind11::module_& module);

}  // namespace latte::python
