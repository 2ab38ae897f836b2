#include "model.h"

#include <pybind11/stl.h>
#include <pybind11/stl/filesystem.h>

#include <cstring>
#include <iostream>
#include <nlohmann/json.hpp>

#include "generation_stream.h"
#include "latte/core/error.h"
#include "latte/core/threads.h"
#include "latte/eval/calibrate.h"
#include "latte/eval/latency_profile.h"
#include "latte/eval/lm_eval.h"
#include "latte/generate/prompt_run.h"
#include "latte/io/json_file.h"
#include "latte/io/model_folder.h"
#include "latte/prune/folder_planner.h"
#include "latte/prune/latency_cache.h"
#include "latte/prune/sidecar.h"

namespace py = pybind11;

namespace latte::python {

namespace {

// Where Model(path=None) looks for the bundled default model, as the CLI does
// (default_model_candidates in src/cli/common.cpp): $LATTE_DEFAULT_MODEL alone when set; else the
// copy inside the package (pip install), PREFIX/share/latte/models/default beside a package
// installed by cmake --install, and the checkout it was built from.
std::filesystem::path default_model_folder() {
  std::vector<std::filesystem::path> candidates;
  if (const char* env = std::getenv("LATTE_DEFAULT_MODEL"); env != nullptr && *env != '\0') {
    candidates.push_back(env);
  } else {
    const std::filesystem::path package =
        py::module_::import("latte").attr("__file__").cast<std::filesystem::path>().parent_path();
    candidates.push_back(package / "models" / "default");
    candidates.push_back((package / LATTE_INSTALLED_MODEL_FROM_PACKAGE).lexically_normal());
    candidates.push_back(LATTE_SOURCE_MODEL_DIR);
  }
  if (const auto found = first_model_folder(candidates)) return *found;
  std::string searched;
  for (const auto& candidate : candidates) searched += (searched.empty() ? "" : ", ") + candidate.string();
  throw InputError("no path given and no bundled default model (looked in " + searched +
                   "); pass a model folder or set LATTE_DEFAULT_MODEL");
}

std::optional<PruneMode> prune_mode(const std::optional<std::string>& mode) {
  if (!mode) return std::nullopt;
  if (*mode == "static") return PruneMode::kStatic;
  if (*mode == "dynamic") return PruneMode::kDynamic;
  throw InputError("mode must be 'static' or 'dynamic', got '" + *mode + "'");
}

Knobs knobs_of(const KnobArgs& args) {
  Knobs knobs;
  knobs.keep = args.keep;
  knobs.coverage = args.coverage;
  knobs.speedup = args.speedup;
  knobs.latency_ms = args.latency_ms;
  knobs.mode = prune_mode(args.mode);
  knobs.min_keep = args.min_keep;
  return knobs;
}

std::string cache_key(const Knobs& knobs) {
  std::ostringstream key;
  key.precision(17);
  if (knobs.keep) {
    key << "keep";
    for (const int64_t count : *knobs.keep) key << "," << count;
  }
  if (knobs.coverage) key << "|coverage=" << *knobs.coverage;
  if (knobs.speedup) key << "|speedup=" << *knobs.speedup;
  if (knobs.latency_ms) key << "|latency_ms=" << *knobs.latency_ms;
  if (knobs.mode) key << "|mode=" << static_cast<int>(*knobs.mode);
  key << "|min_keep=" << knobs.min_keep;
  return key.str();
}

py::array_t<float> float_array(const float* values, size_t count) {
  py::array_t<float> array(static_cast<py::ssize_t>(count));
  std::memcpy(array.mutable_data(), values, count * sizeof(float));
  return array;
}

py::object json_to_python(const nlohmann::json& value) {
  return py::module_::import("json").attr("loads")(value.dump());
}

std::string text_origin(size_t index) { return "texts[" + std::to_string(index) + "]"; }

}  // namespace

Model::Model(const std::optional<std::filesystem::path>& path, const std::optional<std::string>& dtype,
             std::optional<int> threads) {
  set_num_threads(resolve_num_threads(threads));
  if (path) {
    require_model_folder(*path);
    folder_ = *path;
  } else {
    folder_ = default_model_folder();
  }
  family_ = &model_family(folder_);
  precision_ = dtype ? precision_from_name(*dtype) : stored_precision(folder_);
  if (dtype) {
    const std::string reason = precision_unavailable_reason(precision_);
    if (!reason.empty())
      notices_ << "latte: notice: dtype " << *dtype << ": " << reason << "; computing in f32\n";
  }
  {
    py::gil_scoped_release released;
    if (family_->kind == ModelKind::kEncoder) {
      encoder_.emplace(BertModel::load(folder_, precision_));
      if (!encoder_->config().has_classifier()) {
        throw InputError("model " + folder_.string() + " is a " + encoder_->config().architecture +
                         " without a classification head; latte.Model needs BertForSequenceClassification");
      }
      tokenizer_ = std::make_unique<BertTokenizer>(load_bert_tokenizer(folder_, encoder_->config()));
    } else {
      language_model_.emplace(LanguageModel::load(folder_, precision_));
      // A decoder folder without a tokenizer still runs prompts of token ids.
      try {
        tokenizer_ = load_tokenizer(folder_);
      } catch (const Error&) {
        if (language_model_->seq2seq()) throw;
      }
      if (tokenizer_)
        check_tokenizer_fits(*tokenizer_, language_model_->vocab_size(), folder_ / "config.json");
    }
  }
  if (const std::optional<DefaultKnob> knob = Sidecar::read_default_knob(folder_))
    default_speedup_ = knob->speedup;
  warn_new_notices();
}

std::string Model::dtype() const { return precision_name(encoder_ ? encoder_->precision() : precision_); }

ModelShape Model::shape() const { return encoder_ ? encoder_->shape() : language_model_->shape(); }

int64_t Model::num_layers() const { return shape().layers; }

py::object Model::config() const { return json_to_python(read_json_file(folder_ / "config.json")); }

std::vector<std::string> Model::labels() const {
  return encoder_ ? encoder_->config().id2label : std::vector<std::string>{};
}

const Tokenizer& Model::tokenizer() const {
  if (!tokenizer_) throw InputError("model " + folder_.string() + " has no tokenizer files: give token ids");
  return *tokenizer_;
}

BertModel& Model::encoder(const char* method) {
  if (!encoder_) {
    throw InputError(std::string(method) + " needs an encoder (BERT) model; " + folder_.string() +
                     " holds a " + family_->model_type + " model (" + kind_name(family_->kind) + ")");
  }
  return *encoder_;
}

const LanguageModel& Model::language_model(const char* method) const {
  if (!language_model_) {
    throw InputError(std::string(method) + " needs a decoder or encoder-decoder model; " + folder_.string() +
                     " holds a " + family_->model_type + " model (" + kind_name(family_->kind) + ")");
  }
  return *language_model_;
}

void Model::warn_new_notices() {
  std::string text;
  {
    py::gil_scoped_release released;
    std::lock_guard<std::mutex> lock(run_mutex_);
    text = notices_.str();
    notices_.str("");
  }
  std::istringstream lines(text);
  for (std::string line; std::getline(lines, line);) {
    if (line.empty() || !warned_.insert(line).second) continue;
    if (PyErr_WarnEx(PyExc_UserWarning, line.c_str(), 1) != 0) throw py::error_already_set();
  }
}

LatencyModel Model::latency_model(bool needs_latency) {
  if (profiling_disabled_by_environment()) {
    if (needs_latency) {
      notices_
          << "latte: notice: LATTE_NO_PROFILE: latency predicted from FLOPs, not measured on this machine; "
             "measured speedups may fall short of the target\n";
    }
    return LatencyModel{};
  }
  LatencySourceOptions source;
  source.cache_dir = default_latency_cache_dir();
  source.allow_profile = needs_latency;
  source.notices = &notices_;
  if (encoder_) {
    return machine_latency_model(
        latency_key(encoder_->config(), encoder_->precision()), kEncoderLayer,
        [&] { return profile_subject(*encoder_); }, source);
  }
  if (CausalLm* causal = language_model_->causal()) {
    return machine_latency_model(
        latency_key(causal->description()), kDecoderPrefillLayer,
        [causal] { return profile_subject(*causal); }, source);
  }
  Seq2SeqLm* seq2seq = language_model_->seq2seq();
  return machine_latency_model(
      latency_key(*seq2seq), kEncoderLayer, [seq2seq] { return profile_subject(*seq2seq); }, source);
}

const Planner& Model::planner(const KnobArgs& args) {
  Knobs knobs = knobs_of(args);
  if (!knobs.any() && default_speedup_) {
    knobs.speedup = default_speedup_;
    notices_ << "latte: notice: using latte.json's default speedup " << *default_speedup_
             << "; pass speedup=1 for dense\n";
  }
  std::unique_ptr<Planner>& cached = planners_[cache_key(knobs)];
  if (!cached) {
    try {
      cached = folder_planner(
          knobs, shape(), folder_, [&](bool needs) { return latency_model(needs); }, &notices_);
    } catch (...) {
      planners_.erase(cache_key(knobs));
      throw;
    }
  }
  return *cached;
}

std::vector<BertInput> Model::encode_texts(const std::vector<TextInput>& texts,
                                           std::optional<int64_t> max_length, bool truncate) {
  const int64_t positions = encoder_->config().max_position_embeddings;
  Truncation truncation{.max_length = positions, .refuse = !truncate};
  if (max_length) {
    if (*max_length < 2 || *max_length > positions) {
      throw InputError("max_length must be between 2 and " + std::to_string(positions) +
                       " (the model's positions), got " + std::to_string(*max_length));
    }
    truncation.max_length = *max_length;
  }
  std::vector<BertInput> inputs;
  inputs.reserve(texts.size());
  for (size_t i = 0; i < texts.size(); ++i) {
    std::string_view text;
    std::optional<std::string> pair;
    if (const auto* single = std::get_if<std::string>(&texts[i])) {
      text = *single;
    } else {
      const auto& both = std::get<std::tuple<std::string, std::string>>(texts[i]);
      text = std::get<0>(both);
      pair = std::get<1>(both);
    }
    Encoding encoding = encode_input(*tokenizer_, text, pair, truncation, text_origin(i));
    inputs.push_back(BertInput{std::move(encoding.ids), std::move(encoding.type_ids)});
  }
  if (truncation.truncated > 0) {
    const std::string notice = std::to_string(truncation.truncated) + " of " +
                               std::to_string(truncation.inputs) + " inputs were longer than " +
                               std::to_string(truncation.max_length) +
                               " tokens and were truncated (max_length up to " + std::to_string(positions) +
                               ", or truncate=False to refuse)";
    if (PyErr_WarnEx(PyExc_UserWarning, notice.c_str(), 1) != 0) throw py::error_already_set();
  }
  return inputs;
}

std::vector<Classification> Model::classify(const std::vector<TextInput>& texts, const KnobArgs& knobs,
                                            int batch_size, std::optional<int64_t> max_length,
                                            bool truncate) {
  BertModel& model = encoder("classify");
  if (batch_size < 1) throw InputError("batch_size must be at least 1, got " + std::to_string(batch_size));
  const std::vector<BertInput> inputs = encode_texts(texts, max_length, truncate);
  const BertConfig& config = model.config();
  const auto labels = static_cast<size_t>(config.num_labels);
  // Filled without the GIL, turned into Python objects after.
  struct Row {
    std::vector<float> logits;
    std::vector<int64_t> kept;
    SequencePlan plan;
  };
  std::vector<Row> rows(inputs.size());
  {
    py::gil_scoped_release released;
    std::lock_guard<std::mutex> lock(run_mutex_);
    const Planner& chosen = planner(knobs);
    ForwardOptions options;
    options.planner = &chosen;
    for (size_t start = 0; start < inputs.size(); start += static_cast<size_t>(batch_size)) {
      const size_t end = std::min(inputs.size(), start + static_cast<size_t>(batch_size));
      const std::vector<BertInput> batch(inputs.begin() + static_cast<std::ptrdiff_t>(start),
                                         inputs.begin() + static_cast<std::ptrdiff_t>(end));
      const BertOutput output = model.forward(batch, options);
      for (size_t b = 0; b < batch.size(); ++b) {
        Row& row = rows[start + b];
        const float* logits = output.logits.data() + b * labels;
        row.logits.assign(logits, logits + labels);
        row.kept = output.kept[b];
        row.plan = chosen.plan(static_cast<int64_t>(batch[b].input_ids.size()));
      }
    }
  }
  warn_new_notices();
  std::vector<Classification> results;
  results.reserve(rows.size());
  for (Row& row : rows) {
    Classification result;
    result.logits = float_array(row.logits.data(), labels);
    result.kept = std::move(row.kept);
    result.predicted_ms = row.plan.predicted_ms;
    result.predicted_speedup = row.plan.predicted_speedup;
    if (config.is_regression()) {
      result.label = py::none();
      result.probabilities = py::none();
      result.score = row.logits[0];
    } else {
      const std::vector<float> probabilities = label_probabilities(row.logits);
      const size_t best = static_cast<size_t>(std::max_element(probabilities.begin(), probabilities.end()) -
                                              probabilities.begin());
      result.label = py::str(config.id2label[best]);
      result.score = probabilities[best];
      result.probabilities = float_array(probabilities.data(), labels);
    }
    results.push_back(std::move(result));
  }
  return results;
}

py::array_t<float> Model::logits(const std::vector<TextInput>& texts, const KnobArgs& knobs, int batch_size,
                                 std::optional<int64_t> max_length, bool truncate) {
  BertModel& model = encoder("logits");
  if (batch_size < 1) throw InputError("batch_size must be at least 1, got " + std::to_string(batch_size));
  const std::vector<BertInput> inputs = encode_texts(texts, max_length, truncate);
  const auto labels = static_cast<size_t>(model.config().num_labels);
  py::array_t<float> result({static_cast<py::ssize_t>(inputs.size()), static_cast<py::ssize_t>(labels)});
  float* out = result.mutable_data();  // the one copy: each batch's logits, written in place
  {
    py::gil_scoped_release released;
    std::lock_guard<std::mutex> lock(run_mutex_);
    ForwardOptions options;
    options.planner = &planner(knobs);
    for (size_t start = 0; start < inputs.size(); start += static_cast<size_t>(batch_size)) {
      const size_t end = std::min(inputs.size(), start + static_cast<size_t>(batch_size));
      const std::vector<BertInput> batch(inputs.begin() + static_cast<std::ptrdiff_t>(start),
                                         inputs.begin() + static_cast<std::ptrdiff_t>(end));
      const BertOutput output = model.forward(batch, options);
      std::memcpy(out + start * labels, output.logits.data(), batch.size() * labels * sizeof(float));
    }
  }
  warn_new_notices();
  return result;
}

py::object Model::generate(const std::variant<std::string, std::vector<int32_t>>& prompt,
                           const GenerateArgs& args, const KnobArgs& knobs, bool stream) {
  const LanguageModel& model = language_model("generate");
  if (args.max_new_tokens < 1) {
    throw InputError("max_new_tokens must be at least 1, got " + std::to_string(args.max_new_tokens));
  }
  SamplingOptions sampling;
  sampling.sample = args.temperature || args.top_k || args.top_p;
  sampling.temperature = args.temperature.value_or(1.0);
  sampling.top_k = args.top_k.value_or(0);
  sampling.top_p = args.top_p.value_or(1.0);
  sampling.seed = args.seed;
  sampling.validate();

  auto run = std::make_shared<PromptRunArgs>();
  run->options.longest_prompt = model.longest_prompt(args.max_new_tokens, "max_new_tokens");
  run->options.truncate = args.truncate;
  run->options.truncate_hint = "(or pass truncate=True)";
  run->options.stop = args.stop;
  run->options.generation.max_new_tokens = args.max_new_tokens;
  run->options.generation.sampling = sampling;
  if (const auto* text = std::get_if<std::string>(&prompt)) {
    run->origin = "prompt";
    run->prompt = encode_input(tokenizer(), *text, std::nullopt, 0, run->origin).ids;
  } else {
    run->origin = "prompt ids";
    run->prompt = std::get<std::vector<int32_t>>(prompt);
  }
  run->knobs = knobs;
  if (stream) return py::cast(std::make_unique<GenerationStream>(*this, run));
  PromptResult result;
  {
    py::gil_scoped_release released;
    std::lock_guard<std::mutex> lock(run_mutex_);
    result = run_locked(*run, {});
  }
  warn_new_notices();
  return py::cast(to_generation(*run, std::move(result)));
}

PromptResult Model::run_locked(PromptRunArgs& run, const OnPromptToken& on_token) {
  const Planner& chosen = planner(run.knobs);
  run.options.generation.planner = &chosen;
  run.setup_seconds = 0.0;
  // What a process pays once (thread pool, kernels, workspace) is not the first prompt's ttft.
  if (!warmed_up_) {
    run.setup_seconds = language_model_->warm_up(&chosen);
    warmed_up_ = true;
  }
  PromptResult result =
      run_prompt(*language_model_, tokenizer_.get(), run.prompt, run.origin, run.options, on_token);
  run.predicted_speedup =
      chosen.plan(static_cast<int64_t>(result.prompt.size())).predicted_speedup.value_or(1.0);
  return result;
}

Generation to_generation(const PromptRunArgs& run, PromptResult result) {
  Generation generation;
  generation.text = std::move(result.text);
  generation.ids = std::move(result.generation.ids);
  generation.prompt_ids = std::move(result.prompt);
  generation.kept = std::move(result.generation.kept);
  generation.stop_reason = std::move(result.stop_reason);
  generation.truncated = result.truncated;
  generation.setup_ms = (run.setup_seconds + result.generation.setup_seconds) * 1e3;
  generation.ttft_ms = result.generation.ttft_seconds * 1e3;
  generation.decode_ms_per_token = result.generation.decode_seconds_per_token() * 1e3;
  generation.kv_cache_bytes = result.generation.kv_cache_bytes;
  generation.kv_cache_bytes_dense = result.generation.kv_cache_bytes_dense;
  generation.predicted_speedup = run.predicted_speedup;
  return generation;
}

py::list Model::score(const std::vector<std::string>& texts, int64_t prompt_len, int64_t continuation_len,
                      const std::vector<double>& speedups, int64_t max_windows, int latency_samples,
                      const std::optional<std::string>& mode) {
  const LanguageModel& model = language_model("score");
  CausalLm* causal = model.causal();
  if (!causal)
    throw InputError("score needs a decoder-only model; " + folder_.string() + " holds an encoder-decoder");
  if (speedups.empty()) throw InputError("speedups is empty: give e.g. [1, 2]");
  for (const double speedup : speedups) {
    if (!(speedup >= 1.0))
      throw InputError("speedups: " + std::to_string(speedup) + " is below 1 (1 = dense)");
  }
  if (latency_samples < 1) throw InputError("latency_samples must be at least 1");
  std::vector<data::LabeledExample> passages;
  for (size_t i = 0; i < texts.size(); ++i) passages.push_back({.text = texts[i], .origin = text_origin(i)});
  LmEvaluation evaluation;
  {
    py::gil_scoped_release released;
    std::lock_guard<std::mutex> lock(run_mutex_);
    data::RecordReader reader = data::RecordReader::from_inputs(std::move(passages));
    const std::vector<LmWindow> windows =
        read_lm_windows(reader, "texts", *causal, tokenizer(), prompt_len, continuation_len, max_windows);
    LmEvalOptions options;
    options.mode = prune_mode(mode);
    options.latency_samples = latency_samples;
    options.notices = &notices_;
    evaluation = evaluate_lm_speedups(
        *causal, windows, speedups, Sidecar::read(folder_, &notices_),
        [&](bool needs) { return latency_model(needs); }, options);
  }
  warn_new_notices();
  py::list results;
  for (const LmTargetResult& target : evaluation.targets) {
    py::dict row;
    row["speedup"] = target.speedup;
    row["perplexity"] = target.score.perplexity;
    row["mean_nll"] = target.score.mean_nll;
    row["next_token_accuracy"] = target.score.next_token_accuracy;
    row["tokens"] = target.score.tokens;
    row["kept_fraction"] = target.score.kept_fraction;
    row["kv_cache_bytes"] = target.score.kv_cache_bytes;
    row["window_nll"] = target.score.window_nll;
    row["ttft_ms"] = target.timing.ms.median;
    row["measured_speedup"] = target.timing.speedup.median;
    row["predicted_speedup"] = target.predicted_speedup;
    results.append(row);
  }
  return results;
}

py::dict Model::plan(const KnobArgs& knobs, int64_t seq_len) {
  if (seq_len < 1) throw InputError("seq_len must be at least 1, got " + std::to_string(seq_len));
  py::dict result;
  {
    SequencePlan plan;
    double dense_ms = 0.0;
    std::string source;
    {
      py::gil_scoped_release released;
      std::lock_guard<std::mutex> lock(run_mutex_);
      const Planner& chosen = planner(knobs);
      plan = chosen.plan(seq_len);
      dense_ms = chosen.latency_model().dense_seconds(seq_len, shape()) * 1e3;
      source = chosen.latency_model().source();
    }
    result["mode"] = plan.dense ? "dense" : plan.dynamic ? "dynamic" : "static";
    result["seq_len"] = seq_len;
    result["latency_model"] = source;
    result["dense_ms"] = dense_ms;
    result["coverage"] = plan.dynamic ? py::cast(plan.coverage) : py::none();
    result["kept"] = plan.expected_counts.empty() ? py::none() : py::cast(plan.expected_counts);
    result["gflop"] = plan.expected_counts.empty()
                          ? py::none()
                          : py::cast(forward_flops(seq_len, plan.expected_counts, shape()) / 1e9);
    result["predicted_ms"] = py::cast(plan.predicted_ms);
    result["predicted_speedup"] = py::cast(plan.predicted_speedup);
  }
  warn_new_notices();
  return result;
}

py::dict Model::profile(std::optional<int> rounds) {
  if (rounds && (*rounds < 1 || *rounds > 1000)) {
    throw InputError("rounds must be between 1 and 1000, got " + std::to_string(*rounds));
  }
  ProfileReport report;
  LatencyKey key;
  std::string cached = "not cached (no $XDG_CACHE_HOME or $HOME)";
  {
    py::gil_scoped_release released;
    std::lock_guard<std::mutex> lock(run_mutex_);
    ProfileSubject subject;
    if (encoder_) {
      subject = profile_subject(*encoder_);
      key = latency_key(encoder_->config(), encoder_->precision());
    } else if (CausalLm* causal = language_model_->causal()) {
      subject = profile_subject(*causal);
      key = latency_key(causal->description());
    } else {
      subject = profile_subject(*language_model_->seq2seq());
      key = latency_key(*language_model_->seq2seq());
    }
    ProfileOptions options;
    options.rounds = rounds.value_or(3);
    if (!rounds) options.min_seconds = kProfileMinSeconds;
    report = profile_latency(subject, options);
    if (const auto cache_dir = default_latency_cache_dir()) {
      const LatencyCache cache(*cache_dir);
      cached = cache.store(key, report.table, &notices_) ? cache.path_for(key).string() : "not cached";
    }
    planners_.clear();  // they predicted with the table this one replaces
  }
  warn_new_notices();
  nlohmann::json points = nlohmann::json::array();
  double worst = 0.0;
  for (const ValidationPoint& point : report.validation) {
    worst = std::max(worst, std::fabs(point.predicted_ms / point.measured_ms - 1.0));
    points.push_back({{"n0", point.n0},
                      {"kept", point.counts},
                      {"dense", point.dense},
                      {"measured_ms", point.measured_ms},
                      {"predicted_ms", point.predicted_ms}});
  }
  py::dict result;
  result["key"] = json_to_python(key.to_json());
  result["table"] = json_to_python(report.table.to_json());
  result["validation"] = json_to_python(points);
  result["largest_error"] = worst;
  result["profile_seconds"] = report.seconds;
  result["cache_file"] = cached;
  return result;
}

py::dict Model::calibrate(const std::vector<TextInput>& texts, size_t max_inputs,
                          std::optional<int64_t> max_length, bool truncate) {
  if (max_inputs < 1) throw InputError("max_inputs must be at least 1");
  std::vector<data::LabeledExample> inputs;
  for (size_t i = 0; i < texts.size(); ++i) {
    data::LabeledExample input{.origin = text_origin(i)};
    if (const auto* single = std::get_if<std::string>(&texts[i])) {
      input.text = *single;
    } else {
      const auto& both = std::get<std::tuple<std::string, std::string>>(texts[i]);
      input.text = std::get<0>(both);
      input.text_pair = std::get<1>(both);
    }
    inputs.push_back(std::move(input));
  }
  ModelCalibration calibration;
  {
    py::gil_scoped_release released;
    std::lock_guard<std::mutex> lock(run_mutex_);
    Truncation truncation{.max_length = max_length.value_or(0), .refuse = !truncate};
    calibration = calibrate_model(folder_, std::move(inputs), "texts", max_inputs, truncation, &notices_);
    Sidecar::update(folder_, [&](Sidecar& sidecar) { sidecar.calibration = calibration.report.calibration; });
    planners_.clear();  // they planned with the calibration this one replaces
  }
  warn_new_notices();
  const CalibrationReport& report = calibration.report;
  py::list layers;
  for (size_t layer = 0; layer < report.top_shares.size(); ++layer) {
    py::dict row;
    row["layer"] = layer + 1;
    row["top10"] = report.top_shares[layer][0];
    row["top25"] = report.top_shares[layer][1];
    row["top50"] = report.top_shares[layer][2];
    layers.append(row);
  }
  py::dict result;
  result["samples"] = calibration.samples;
  result["layers"] = layers;
  result["taus"] = report.calibration.taus;
  result["keep_fractions"] = report.calibration.keep_fractions;
  result["path"] = folder_ / "latte.json";
  return result;
}

}  // namespace latte::python
