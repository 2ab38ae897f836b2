#include "latte/eval/lm_eval.h"

#include <algorithm>
#include <memory>
#include <sstream>

#include "latte/core/error.h"
#include "latte/data/records.h"

namespace latte {

namespace {

void check_window(const CausalLm& model, int64_t prompt_length, int64_t continuation_length) {
  const int64_t window = prompt_length + continuation_length;
  if (window > model.max_positions()) {
    throw FieldError("prompt_length + continuation_length",
                     "is " + std::to_string(window) + "; the model takes at most " +
                         std::to_string(model.max_positions()) + " tokens");
  }
}

// The windows of the passages of `reader`, the window already checked.
std::vector<LmWindow> windows_of(data::RecordReader& reader, const std::string& source, const CausalLm& model,
                                 const Tokenizer& tokenizer, int64_t prompt_length,
                                 int64_t continuation_length, int64_t max_windows) {
  const int64_t window = prompt_length + continuation_length;
  const int64_t wanted = max_windows > 0 ? max_windows * window : 0;
  // Passages are separated by the model's (first) end-of-text token, as it was trained.
  const std::vector<int32_t> eos_ids = model.eos_token_ids();
  const std::span<const int32_t> end_of_text(eos_ids.data(), eos_ids.empty() ? 0 : 1);
  std::vector<int32_t> stream;
  for (data::LabeledExample passage;
       (wanted == 0 || static_cast<int64_t>(stream.size()) < wanted) && reader.next(passage);) {
    const Encoding encoding = encode_input(tokenizer, passage.text, std::nullopt, 0, passage.origin);
    stream.insert(stream.end(), encoding.ids.begin(), encoding.ids.end());
    stream.insert(stream.end(), end_of_text.begin(), end_of_text.end());
  }
  try {
    return lm_windows(stream, prompt_length, continuation_length, max_windows);
  } catch (const InputError& error) {
    throw InputError(source + ": " + error.what());
  }
}

}  // namespace

int64_t truncation_length(const LatencyModel& latency, const ModelShape& shape, int64_t n, double speedup) {
  const double budget = latency.dense_seconds(n, shape) / speedup;
  int64_t low = 1, high = n;
  while (low < high) {
    const int64_t middle = (low + high + 1) / 2;
    if (latency.dense_seconds(middle, shape) <= budget) {
      low = middle;
    } else {
      high = middle - 1;
    }
  }
  return low;
}

std::vector<LmWindow> read_lm_windows(const std::string& path, const CausalLm& model,
                                      const Tokenizer& tokenizer, int64_t prompt_length,
                                      int64_t continuation_length, int64_t max_windows,
                                      const data::RecordOptions& records) {
  check_window(model, prompt_length, continuation_length);
  data::RecordReader reader = data::RecordReader::from_file(path, records);
  return windows_of(reader, path, model, tokenizer, prompt_length, continuation_length, max_windows);
}

std::vector<LmWindow> read_lm_windows(data::RecordReader& passages, const std::string& source,
                                      const CausalLm& model, const Tokenizer& tokenizer,
                                      int64_t prompt_length, int64_t continuation_length,
                                      int64_t max_windows) {
  check_window(model, prompt_length, continuation_length);
  return windows_of(passages, source, model, tokenizer, prompt_length, continuation_length, max_windows);
}

LmEvaluation evaluate_lm_speedups(CausalLm& model, std::span<const LmWindow> windows,
                                  const std::vector<double>& speedups, const Sidecar& sidecar,
                                  const LatencySource& latency, const LmEvalOptions& options) {
  if (windows.empty()) throw InputError("no windows to evaluate");
  const ModelShape shape = model.shape();
  NoticeLines notices(options.notices);
  std::ostringstream notes;  // outlives the planners that write to it
  std::vector<std::unique_ptr<Planner>> planners;
  std::optional<LatencyModel> latency_model;  // asked again only when a target needs a measured one
  for (const double speedup : speedups) {
    Knobs knobs;
    knobs.speedup = speedup;
    knobs.mode = options.mode;
    knobs.validate(shape.layers);
    // Calibration problems first: they must not wait for a profile.
    std::optional<Calibration> calibration = usable_calibration(knobs, sidecar.calibration, shape.layers);
    const bool needs_latency = speedup > 1.0;
    if (!latency_model || (needs_latency && !latency_model->measured()))
      latency_model = latency(needs_latency);
    planners.push_back(
        std::make_unique<Planner>(knobs, shape, std::move(calibration), *latency_model, &notes));
    notices.print_new(notes.str());
  }

  // The truncation baseline: each S > 1 as the prompts' last tokens, prefilled dense.
  const auto prompt_length = static_cast<int64_t>(windows.front().prompt.size());
  std::vector<std::pair<double, int64_t>> truncations;  // (speedup, tokens kept)
  if (options.truncation_baseline) {
    for (const double speedup : speedups) {
      if (speedup > 1.0)
        truncations.emplace_back(speedup, truncation_length(*latency_model, shape, prompt_length, speedup));
    }
  }
  // A window's prompt cut to its last `tokens`.
  const auto tail = [](const std::vector<int32_t>& prompt, int64_t tokens) {
    return std::span<const int32_t>(prompt).last(static_cast<size_t>(tokens));
  };

  // Prefill latency, every target paired with adjacent dense runs on the same prompts.
  LmEvaluation evaluation;
  evaluation.timed = std::min(windows.size(), static_cast<size_t>(options.latency_samples));
  PairedTimingOptions timing_options;
  timing_options.notices = options.notices;
  PairedTiming timing = time_paired(
      evaluation.timed, planners.size() + truncations.size(),
      [&](size_t input, int variant) {
        KvCache cache = model.new_cache();
        DecoderOptions prefill;
        const std::vector<int32_t>& prompt = windows[input].prompt;
        if (variant >= static_cast<int>(planners.size())) {
          const int64_t tokens = truncations[static_cast<size_t>(variant) - planners.size()].second;
          return PassResult{model.forward(tail(prompt, tokens), cache, prefill).kept, std::nullopt};
        }
        prefill.planner = variant < 0 ? nullptr : planners[static_cast<size_t>(variant)].get();
        return PassResult{model.forward(prompt, cache, prefill).kept, std::nullopt};
      },
      timing_options);
  notices.print_new(notes.str());

  if (options.latency_check && latency_model && latency_model->measured()) {
    std::vector<const Planner*> pruned;
    for (const auto& planner : planners) pruned.push_back(planner->dense() ? nullptr : planner.get());
    std::vector<int64_t> rows;
    for (size_t i = 0; i < evaluation.timed; ++i)
      rows.push_back(static_cast<int64_t>(windows[i].prompt.size()));
    PairedTiming eliminated = timing;  // the truncated prefills are not the planners'
    eliminated.variants.resize(planners.size());
    options.latency_check(check_timing(eliminated, rows, pruned, *latency_model, shape));
  }
  for (size_t s = 0; s < speedups.size(); ++s) {
    const Planner& planner = *planners[s];
    LmTargetResult target;
    target.speedup = speedups[s];
    target.arm = speedups[s] <= 1.0 ? "dense" : "eliminate";
    target.prompt_tokens = prompt_length;
    target.score = score_continuations(model, windows, planner.dense() ? nullptr : &planner);
    target.timing = timing.variants[s];
    target.predicted_speedup = planner.plan(prompt_length).predicted_speedup.value_or(1.0);
    evaluation.targets.push_back(std::move(target));
    notices.print_new(notes.str());
  }
  for (size_t t = 0; t < truncations.size(); ++t) {
    const auto [speedup, tokens] = truncations[t];
    std::vector<LmWindow> cut;
    for (const LmWindow& window : windows) {
      const std::span<const int32_t> kept = tail(window.prompt, tokens);
      cut.push_back({std::vector<int32_t>(kept.begin(), kept.end()), window.continuation});
    }
    LmTargetResult target;
    target.speedup = speedup;
    target.arm = "truncate";
    target.prompt_tokens = tokens;
    target.score = score_continuations(model, cut, nullptr);
    target.timing = timing.variants[planners.size() + t];
    target.predicted_speedup =
        latency_model->dense_seconds(prompt_length, shape) / latency_model->dense_seconds(tokens, shape);
    evaluation.targets.push_back(std::move(target));
  }
  return evaluation;
}

}  // namespace latte
