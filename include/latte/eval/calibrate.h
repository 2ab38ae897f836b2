// Offline measurements that make a checkpoint tunable at deploy time:
// calibration (ACC curves and keep fractions r_l(tau)). The latency table is per machine:
// latency_profile.h.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <ostream>
#include <span>
#include <string>
#include <vector>

#include "latte/data/records.h"
#include "latte/models/bert.h"
#include "latte/models/causal_lm.h"
#include "latte/models/seq2seq_lm.h"
#include "latte/prune/plan.h"
#include "latte/tokenizers/tokenizer.h"

namespace latte {

struct CalibrationReport {
  Calibration calibration;
  // Per layer: mean share of the layer's attention context carried by its top
  // 10 %, 25 % and 50 % word-vectors (dense model).
  std::vector<std::array<double, 3>> top_shares;
};

// The tau grid calibration measures (descending, from 1).
std::vector<double> default_calibration_taus();

// What one pass over the sample inputs reports for one of them.
struct SampleCounts {
  int64_t input_rows = 0;     // n_0: word-vectors entering the first layer
  std::vector<int64_t> kept;  // word-vectors leaving each layer
};

// Each layer's ACC scores of the rows of sample `sample` entering it.
using SampleScores = std::function<void(int64_t layer, int64_t sample, std::span<const float> scores)>;

// Runs every sample input once, in order, eliminating as `planner` says (null: dense), calling
// `on_scores` (when set) for every layer of every sample; returns the samples' counts in order.
// This is all calibration asks of a model family.
using CalibrationPass =
    std::function<std::vector<SampleCounts>(const Planner* planner, const SampleScores& on_scores)>;

// Runs the `samples` inputs of `pass` densely (ACC curves) and in dynamic mode at every tau
// of the grid (keep fractions) for a model of `shape`. Progress lines go to `progress` when
// not null.
CalibrationReport calibrate(const ModelShape& shape, int64_t samples, const CalibrationPass& pass,
                            const std::vector<double>& taus, std::ostream* progress);

// An encoder on sequences (batched).
CalibrationReport calibrate(BertModel& model, const std::vector<BertInput>& inputs,
                            const std::vector<double>& taus, std::ostream* progress);

// A decoder on prompts: each prompt's prefill on a fresh cache (the protected first and last
// tokens are the model's rule).
CalibrationReport calibrate(CausalLm& model, const std::vector<std::vector<int32_t>>& prompts,
                            const std::vector<double>& taus, std::ostream* progress);

// An encoder-decoder's encoder on sources, one at a time (the protected final </s> is the model's
// rule); the decoder is not run.
CalibrationReport calibrate(Seq2SeqLm& model, const std::vector<std::vector<int32_t>>& sources,
                            const std::vector<double>& taus, std::ostream* progress);

// What calibrate_model() measured, and on how many inputs.
struct ModelCalibration {
  CalibrationReport report;
  size_t samples = 0;
  Truncation truncation;  // the limit applied and how many inputs it cut
  int64_t positions = 0;  // the model's, the highest limit it takes
};

// Calibrates the model in `folder` (an encoder, a decoder or an encoder-decoder's encoder, by its
// model_type) on the first
// `max_inputs` texts of `inputs` (read as `records` say: text lines, JSONL, CSV or TSV; '-' =
// stdin), each truncated to truncation.max_length tokens (0: the model's positions; FieldError
// "max_length" above them) or, with truncation.refuse, refused when longer; the
// rest of the file is never read. A decoder skips prompts of one token with a notice: they are
// both the first and the last token, protected, so nothing is left to eliminate. InputError when
// no input is left. Notices and progress lines go to `log` when not null.
ModelCalibration calibrate_model(const std::filesystem::path& folder, const std::string& inputs,
                                 size_t max_inputs, Truncation truncation, std::ostream* log,
                                 const data::RecordOptions& records = {});
// The same on texts a front end hands over (their origins name them in errors); errors about the
// inputs as a whole start with `source`.
ModelCalibration calibrate_model(const std::filesystem::path& folder,
                                 std::vector<data::LabeledExample> inputs, const std::string& source,
                                 size_t max_inputs, Truncation truncation, std::ostream* log);

}  // namespace latte
