#include "latte/eval/calibrate.h"

#include <algorithm>
#include <cmath>
#include <optional>
#include <sstream>

#include "latte/core/error.h"
#include "latte/core/progress.h"
#include "latte/data/records.h"
#include "latte/models/registry.h"
#include "latte/prune/selection.h"
#include "latte/tokenizers/tokenizer.h"

namespace latte {

namespace {

constexpr size_t kCalibrationBatch = 16;
const std::vector<double> kCurvePoints = {0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0};

double curve_at(const std::vector<double>& curve, double fraction) {
  const int64_t n = static_cast<int64_t>(curve.size());
  const int64_t k =
      std::clamp<int64_t>(static_cast<int64_t>(std::ceil(fraction * static_cast<double>(n) - 1e-9)), 1, n);
  return curve[static_cast<size_t>(k - 1)];
}

// A pass that skipped a sample or a layer would bias the means silently.
void check_counts(const std::vector<SampleCounts>& counts, int64_t samples, int64_t layers) {
  if (static_cast<int64_t>(counts.size()) != samples) {
    throw Error("calibration pass reported " + std::to_string(counts.size()) + " samples for " +
                std::to_string(samples));
  }
  for (const SampleCounts& sample : counts) {
    if (sample.input_rows <= 0 || static_cast<int64_t>(sample.kept.size()) != layers) {
      throw Error("calibration pass reported " + std::to_string(sample.kept.size()) + " layer counts for " +
                  std::to_string(layers) + " layers");
    }
  }
}

}  // namespace

std::vector<double> default_calibration_taus() {
  return {1.0, 0.995, 0.99, 0.98, 0.97, 0.95, 0.93, 0.9, 0.87, 0.84,
          0.8, 0.75,  0.7,  0.65, 0.6,  0.5,  0.4,  0.3, 0.2,  0.1};
}

CalibrationReport calibrate(const ModelShape& shape, int64_t samples, const CalibrationPass& pass,
                            const std::vector<double>& taus, std::ostream* progress) {
  if (samples <= 0) throw InputError("calibration needs at least one input");
  if (taus.empty() || taus.front() != 1.0) throw InputError("the calibration tau grid must start at 1");
  const int64_t layers = shape.layers;
  CalibrationReport report;
  Calibration& calibration = report.calibration;
  calibration.taus = taus;
  calibration.samples = samples;
  calibration.curve_points = kCurvePoints;
  calibration.acc_curves.assign(static_cast<size_t>(layers), std::vector<double>(kCurvePoints.size(), 0.0));
  report.top_shares.assign(static_cast<size_t>(layers), {0.0, 0.0, 0.0});
  std::optional<ProgressLine> line;
  if (progress) line.emplace(*progress);

  // Dense pass: the ACC curve of every layer.
  const SampleScores dense = [&](int64_t layer, int64_t, std::span<const float> scores) {
    const std::vector<double> curve = acc_curve(scores);
    auto& mean_curve = calibration.acc_curves[static_cast<size_t>(layer)];
    for (size_t p = 0; p < kCurvePoints.size(); ++p) mean_curve[p] += curve_at(curve, kCurvePoints[p]);
    auto& shares = report.top_shares[static_cast<size_t>(layer)];
    shares[0] += curve_at(curve, 0.10);
    shares[1] += curve_at(curve, 0.25);
    shares[2] += curve_at(curve, 0.50);
  };
  check_counts(pass(nullptr, dense), samples, layers);
  const double count = static_cast<double>(samples);
  for (auto& curve : calibration.acc_curves) {
    for (double& value : curve) value /= count;
  }
  for (auto& shares : report.top_shares) {
    for (double& value : shares) value /= count;
  }

  // Dynamic passes: the mean fraction of the input that leaves each layer at each tau.
  for (size_t t = 0; t < taus.size(); ++t) {
    std::vector<double> fractions(static_cast<size_t>(layers), 0.0);
    const Planner planner(Knobs{.coverage = taus[t], .mode = PruneMode::kDynamic}, shape, std::nullopt,
                          LatencyModel{}, nullptr);
    const std::vector<SampleCounts> counts = pass(&planner, nullptr);
    check_counts(counts, samples, layers);
    for (const SampleCounts& sample : counts) {
      const double n0 = static_cast<double>(sample.input_rows);
      for (int64_t layer = 0; layer < layers; ++layer) {
        fractions[static_cast<size_t>(layer)] +=
            static_cast<double>(sample.kept[static_cast<size_t>(layer)]) / n0;
      }
    }
    for (double& fraction : fractions) fraction = std::clamp(fraction / count, 1e-6, 1.0);
    // Means of non-increasing counts are non-increasing; clamp rounding anyway.
    for (size_t layer = 1; layer < fractions.size(); ++layer)
      fractions[layer] = std::min(fractions[layer], fractions[layer - 1]);
    calibration.keep_fractions.push_back(fractions);
    if (line) {
      std::ostringstream text;
      text << "calibrate: tau " << (t + 1) << "/" << taus.size() << " (" << taus[t] << ")";
      if (t + 1 == taus.size()) {
        line->finish(text.str());
      } else {
        line->update(text.str());
      }
    }
  }
  return report;
}

CalibrationReport calibrate(BertModel& model, const std::vector<BertInput>& inputs,
                            const std::vector<double>& taus, std::ostream* progress) {
  const CalibrationPass pass = [&](const Planner* planner, const SampleScores& on_scores) {
    std::vector<SampleCounts> counts;
    for (size_t start = 0; start < inputs.size(); start += kCalibrationBatch) {
      const size_t end = std::min(inputs.size(), start + kCalibrationBatch);
      const std::vector<BertInput> batch(inputs.begin() + static_cast<std::ptrdiff_t>(start),
                                         inputs.begin() + static_cast<std::ptrdiff_t>(end));
      ForwardOptions options{.planner = planner};
      if (on_scores) {
        options.on_scores = [&](int64_t layer, int64_t sequence, std::span<const float> scores) {
          on_scores(layer, static_cast<int64_t>(start) + sequence, scores);
        };
      }
      BertOutput output = model.forward(batch, options);
      for (size_t b = 0; b < batch.size(); ++b) {
        counts.push_back(
            SampleCounts{static_cast<int64_t>(batch[b].input_ids.size()), std::move(output.kept[b])});
      }
    }
    return counts;
  };
  return calibrate(model.shape(), static_cast<int64_t>(inputs.size()), pass, taus, progress);
}

CalibrationReport calibrate(CausalLm& model, const std::vector<std::vector<int32_t>>& prompts,
                            const std::vector<double>& taus, std::ostream* progress) {
  for (size_t i = 0; i < prompts.size(); ++i) {
    if (prompts[i].empty()) throw InputError("calibration prompt " + std::to_string(i) + " has no tokens");
  }
  const CalibrationPass pass = [&](const Planner* planner, const SampleScores& on_scores) {
    std::vector<SampleCounts> counts;
    for (size_t i = 0; i < prompts.size(); ++i) {
      DecoderOptions options{.planner = planner};
      if (on_scores) {
        options.on_scores = [&](int64_t layer, std::span<const float> scores) {
          on_scores(layer, static_cast<int64_t>(i), scores);
        };
      }
      KvCache cache = model.new_cache();
      DecoderOutput output = model.forward(prompts[i], cache, options);
      counts.push_back(SampleCounts{static_cast<int64_t>(prompts[i].size()), std::move(output.kept)});
    }
    return counts;
  };
  return calibrate(model.shape(), static_cast<int64_t>(prompts.size()), pass, taus, progress);
}

CalibrationReport calibrate(Seq2SeqLm& model, const std::vector<std::vector<int32_t>>& sources,
                            const std::vector<double>& taus, std::ostream* progress) {
  for (size_t i = 0; i < sources.size(); ++i) {
    if (sources[i].empty()) throw InputError("calibration source " + std::to_string(i) + " has no tokens");
  }
  const CalibrationPass pass = [&](const Planner* planner, const SampleScores& on_scores) {
    std::vector<SampleCounts> counts;
    for (size_t i = 0; i < sources.size(); ++i) {
      EncoderOptions options{.planner = planner};
      if (on_scores) {
        options.on_scores = [&](int64_t layer, std::span<const float> scores) {
          on_scores(layer, static_cast<int64_t>(i), scores);
        };
      }
      Seq2SeqState state = model.encode(sources[i], options);
      counts.push_back(SampleCounts{static_cast<int64_t>(sources[i].size()), std::move(state.encoder_kept)});
    }
    return counts;
  };
  return calibrate(model.encoder_shape(), static_cast<int64_t>(sources.size()), pass, taus, progress);
}

namespace {

// Opens the sample inputs once the model has been read (its errors come first).
using InputOpener = std::function<data::RecordReader()>;

// `truncation` with the tokens an input is cut to: its max_length, checked against the model's
// positions, or the positions themselves.
Truncation resolved(Truncation truncation, int64_t positions) {
  if (truncation.max_length == 0) truncation.max_length = positions;
  if (truncation.max_length > positions) {
    throw FieldError("max_length", std::to_string(truncation.max_length) +
                                       " exceeds the model's maximum length of " + std::to_string(positions));
  }
  return truncation;
}

ModelCalibration calibrate_decoder(const std::filesystem::path& folder, const InputOpener& open_inputs,
                                   const std::string& inputs, size_t max_inputs, Truncation truncation,
                                   std::ostream* log) {
  const std::unique_ptr<CausalLm> model = load_causal_lm(folder);
  const std::unique_ptr<Tokenizer> tokenizer = load_tokenizer(folder);
  check_tokenizer_fits(*tokenizer, model->vocab_size(), folder / "config.json");
  truncation = resolved(truncation, model->max_positions());
  data::RecordReader texts = open_inputs();
  std::vector<std::vector<int32_t>> prompts;
  size_t skipped = 0;
  for (data::LabeledExample text; prompts.size() < max_inputs && texts.next(text);) {
    Encoding encoding = encode_input(*tokenizer, text.text, text.text_pair, truncation, text.origin);
    if (encoding.ids.size() < 2) {
      if (log) {
        *log << "latte: notice: " << text.origin << ": skipped, the prompt has " << encoding.ids.size()
             << " token(s); calibration needs 2 or more\n";
      }
      ++skipped;
      continue;
    }
    prompts.push_back(std::move(encoding.ids));
  }
  if (prompts.empty() && skipped > 0) {
    throw InputError(inputs + ": no prompt has 2 tokens or more; nothing to calibrate on");
  }
  if (prompts.empty()) throw InputError(inputs + ": no inputs to calibrate on");
  return ModelCalibration{calibrate(*model, prompts, default_calibration_taus(), log), prompts.size(),
                          truncation, model->max_positions()};
}

ModelCalibration calibrate_seq2seq(const std::filesystem::path& folder, const InputOpener& open_inputs,
                                   const std::string& inputs, size_t max_inputs, Truncation truncation,
                                   std::ostream* log) {
  const std::unique_ptr<Seq2SeqLm> model = load_seq2seq_lm(folder);
  const std::unique_ptr<Tokenizer> tokenizer = load_tokenizer(folder);
  check_tokenizer_fits(*tokenizer, model->vocab_size(), folder / "config.json");
  truncation = resolved(truncation, model->max_source_tokens());
  data::RecordReader texts = open_inputs();
  std::vector<std::vector<int32_t>> sources;
  for (data::LabeledExample text; sources.size() < max_inputs && texts.next(text);)
    sources.push_back(encode_input(*tokenizer, text.text, text.text_pair, truncation, text.origin).ids);
  if (sources.empty()) throw InputError(inputs + ": no inputs to calibrate on");
  return ModelCalibration{calibrate(*model, sources, default_calibration_taus(), log), sources.size(),
                          truncation, model->max_source_tokens()};
}

ModelCalibration calibrate_encoder(const std::filesystem::path& folder, const InputOpener& open_inputs,
                                   const std::string& inputs, size_t max_inputs, Truncation truncation,
                                   std::ostream* log) {
  BertModel model = BertModel::load(folder);
  const BertTokenizer tokenizer = load_bert_tokenizer(folder, model.config());
  truncation = resolved(truncation, model.config().max_position_embeddings);
  data::RecordReader texts = open_inputs();
  std::vector<BertInput> encoded;
  for (data::LabeledExample text; encoded.size() < max_inputs && texts.next(text);) {
    Encoding encoding = encode_input(tokenizer, text.text, text.text_pair, truncation, text.origin);
    encoded.push_back(BertInput{std::move(encoding.ids), std::move(encoding.type_ids)});
  }
  if (encoded.empty()) throw InputError(inputs + ": no inputs to calibrate on");
  return ModelCalibration{calibrate(model, encoded, default_calibration_taus(), log), encoded.size(),
                          truncation, model.config().max_position_embeddings};
}

ModelCalibration calibrate_model(const std::filesystem::path& folder, const InputOpener& open_inputs,
                                 const std::string& inputs, size_t max_inputs, Truncation truncation,
                                 std::ostream* log) {
  const ModelKind kind = model_family(folder).kind;
  if (kind == ModelKind::kCausalLm)
    return calibrate_decoder(folder, open_inputs, inputs, max_inputs, truncation, log);
  if (kind == ModelKind::kSeq2SeqLm)
    return calibrate_seq2seq(folder, open_inputs, inputs, max_inputs, truncation, log);
  return calibrate_encoder(folder, open_inputs, inputs, max_inputs, truncation, log);
}

}  // namespace

ModelCalibration calibrate_model(const std::filesystem::path& folder, const std::string& inputs,
                                 size_t max_inputs, Truncation truncation, std::ostream* log,
                                 const data::RecordOptions& records) {
  return calibrate_model(
      folder, [&] { return data::RecordReader::from_file(inputs, records); }, inputs, max_inputs, truncation,
      log);
}

ModelCalibration calibrate_model(const std::filesystem::path& folder,
                                 std::vector<data::LabeledExample> inputs, const std::string& source,
                                 size_t max_inputs, Truncation truncation, std::ostream* log) {
  return calibrate_model(
      folder, [&] { return data::RecordReader::from_inputs(std::move(inputs)); }, source, max_inputs,
      truncation, log);
}

}  // namespace latte
