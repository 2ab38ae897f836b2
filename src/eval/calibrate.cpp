#include "latte/eval/calibrate.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <random>

#include "latte/core/error.h"
#include "latte/core/threads.h"
#include "latte/prune/selection.h"

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

template <typename Visit>
void for_each_batch(const std::vector<BertInput>& inputs, Visit visit) {
  for (size_t start = 0; start < inputs.size(); start += kCalibrationBatch) {
    const size_t end = std::min(inputs.size(), start + kCalibrationBatch);
    visit(std::vector<BertInput>(inputs.begin() + static_cast<std::ptrdiff_t>(start),
                                 inputs.begin() + static_cast<std::ptrdiff_t>(end)));
  }
}

// Solves the normal equations of weighted least squares over the active
// features with Gaussian elimination; returns false when singular.
bool solve_least_squares(const std::vector<std::array<double, 4>>& rows, const std::vector<double>& targets,
                         const std::array<bool, 4>& active, std::array<double, 4>& solution) {
  std::vector<size_t> index;
  for (size_t i = 0; i < 4; ++i) {
    if (active[i]) index.push_back(i);
  }
  const size_t m = index.size();
  std::vector<std::vector<double>> system(m, std::vector<double>(m + 1, 0.0));
  for (size_t r = 0; r < rows.size(); ++r) {
    for (size_t i = 0; i < m; ++i) {
      for (size_t j = 0; j < m; ++j) system[i][j] += rows[r][index[i]] * rows[r][index[j]];
      system[i][m] += rows[r][index[i]] * targets[r];
    }
  }
  for (size_t column = 0; column < m; ++column) {
    size_t pivot = column;
    for (size_t i = column + 1; i < m; ++i) {
      if (std::fabs(system[i][column]) > std::fabs(system[pivot][column])) pivot = i;
    }
    if (std::fabs(system[pivot][column]) < 1e-300) return false;
    std::swap(system[pivot], system[column]);
    for (size_t i = 0; i < m; ++i) {
      if (i == column) continue;
      const double factor = system[i][column] / system[column][column];
      for (size_t j = column; j <= m; ++j) system[i][j] -= factor * system[column][j];
    }
  }
  solution = {0.0, 0.0, 0.0, 0.0};
  for (size_t i = 0; i < m; ++i) solution[index[i]] = system[i][m] / system[i][i];
  return true;
}

}  // namespace

std::vector<double> default_calibration_taus() {
  return {1.0, 0.995, 0.99, 0.98, 0.97, 0.95, 0.93, 0.9, 0.87, 0.84,
          0.8, 0.75,  0.7,  0.65, 0.6,  0.5,  0.4,  0.3, 0.2,  0.1};
}

CalibrationReport calibrate(BertModel& model, const std::vector<BertInput>& inputs,
                            const std::vector<double>& taus, std::ostream* progress) {
  if (inputs.empty()) throw InputError("calibration needs at least one input");
  if (taus.empty() || taus.front() != 1.0) throw InputError("the calibration tau grid must start at 1");
  const int64_t layers = model.config().num_layers;
  CalibrationReport report;
  Calibration& calibration = report.calibration;
  calibration.taus = taus;
  calibration.samples = static_cast<int64_t>(inputs.size());
  calibration.curve_points = kCurvePoints;
  calibration.acc_curves.assign(static_cast<size_t>(layers), std::vector<double>(kCurvePoints.size(), 0.0));
  report.top_shares.assign(static_cast<size_t>(layers), {0.0, 0.0, 0.0});

  // Dense pass: the ACC curve of every layer.
  ForwardOptions dense;
  dense.on_scores = [&](int64_t layer, int64_t, std::span<const float> scores) {
    const std::vector<double> curve = acc_curve(scores);
    auto& mean_curve = calibration.acc_curves[static_cast<size_t>(layer)];
    for (size_t p = 0; p < kCurvePoints.size(); ++p) mean_curve[p] += curve_at(curve, kCurvePoints[p]);
    auto& shares = report.top_shares[static_cast<size_t>(layer)];
    shares[0] += curve_at(curve, 0.10);
    shares[1] += curve_at(curve, 0.25);
    shares[2] += curve_at(curve, 0.50);
  };
  for_each_batch(inputs, [&](const std::vector<BertInput>& batch) { model.forward(batch, dense); });
  const double count = static_cast<double>(inputs.size());
  for (auto& curve : calibration.acc_curves) {
    for (double& value : curve) value /= count;
  }
  for (auto& shares : report.top_shares) {
    for (double& value : shares) value /= count;
  }

  // Dynamic passes: the mean fraction of the input that leaves each layer at each tau.
  for (size_t t = 0; t < taus.size(); ++t) {
    std::vector<double> fractions(static_cast<size_t>(layers), 0.0);
    const Planner planner(Knobs{.coverage = taus[t], .mode = PruneMode::kDynamic}, model.shape(),
                          std::nullopt, LatencyModel{}, nullptr);
    for_each_batch(inputs, [&](const std::vector<BertInput>& batch) {
      const BertOutput output = model.forward(batch, ForwardOptions{.planner = &planner});
      for (size_t b = 0; b < batch.size(); ++b) {
        const double n0 = static_cast<double>(batch[b].input_ids.size());
        for (int64_t layer = 0; layer < layers; ++layer) {
          fractions[static_cast<size_t>(layer)] +=
              static_cast<double>(output.kept[b][static_cast<size_t>(layer)]) / n0;
        }
      }
    });
    for (double& fraction : fractions) fraction = std::clamp(fraction / count, 1e-6, 1.0);
    // Means of non-increasing counts are non-increasing; clamp rounding anyway.
    for (size_t layer = 1; layer < fractions.size(); ++layer)
      fractions[layer] = std::min(fractions[layer], fractions[layer - 1]);
    calibration.keep_fractions.push_back(fractions);
    if (progress) {
      *progress << "\rcalibrate: tau " << (t + 1) << "/" << taus.size() << " (" << taus[t] << ")"
                << std::flush;
    }
  }
  if (progress) *progress << "\n";
  return report;
}

ProfileReport profile_latency(BertModel& model, const std::vector<int64_t>& lengths, int repeats,
                              std::ostream* progress) {
  const ModelShape shape = model.shape();
  const BertConfig& config = model.config();
  std::mt19937 generator(7);
  std::uniform_int_distribution<int32_t> word(1, static_cast<int32_t>(config.vocab_size - 1));
  ProfileReport report;
  // Schedules: dense and geometric decays r_l = t^l of several strengths.
  const double decays[] = {1.0, 0.9, 0.75, 0.55, 0.35};
  for (int64_t n0 : lengths) {
    if (n0 < 2 || n0 > config.max_position_embeddings) {
      throw InputError("profile length " + std::to_string(n0) + " is outside 2.." +
                       std::to_string(config.max_position_embeddings));
    }
    for (double decay : decays) {
      ProfilePoint point;
      point.n0 = n0;
      int64_t previous = n0;
      for (int64_t layer = 0; layer < shape.layers; ++layer) {
        const double fraction = std::pow(decay, static_cast<double>(layer + 1));
        previous = std::clamp<int64_t>(static_cast<int64_t>(std::ceil(fraction * static_cast<double>(n0))), 1,
                                       previous);
        point.counts.push_back(previous);
      }
      report.points.push_back(point);
    }
  }
  // Timed interleaved, medians.
  std::vector<std::vector<double>> samples(report.points.size());
  std::vector<std::unique_ptr<Planner>> planners;
  std::vector<std::vector<BertInput>> batches;
  for (const ProfilePoint& point : report.points) {
    planners.push_back(
        std::make_unique<Planner>(Knobs{.keep = point.counts}, shape, std::nullopt, LatencyModel{}, nullptr));
    BertInput input;
    for (int64_t i = 0; i < point.n0; ++i) input.input_ids.push_back(word(generator));
    batches.push_back({input});
  }
  for (int round = -1; round < repeats; ++round) {  // round -1 warms up
    for (size_t i = 0; i < report.points.size(); ++i) {
      const auto start = std::chrono::steady_clock::now();
      model.forward(batches[i], ForwardOptions{.planner = planners[i].get()});
      const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      if (round >= 0) samples[i].push_back(seconds);
    }
    if (progress) *progress << "\rprofile: round " << (round + 2) << "/" << (repeats + 1) << std::flush;
  }
  if (progress) *progress << "\n";

  std::vector<std::array<double, 4>> rows;
  std::vector<double> targets;
  for (size_t i = 0; i < report.points.size(); ++i) {
    std::sort(samples[i].begin(), samples[i].end());
    const double measured = samples[i][samples[i].size() / 2];
    report.points[i].measured_ms = measured * 1e3;
    std::array<double, 4> features = {0.0, 0.0, 0.0, 0.0};
    int64_t rows_in = report.points[i].n0;
    for (int64_t kept : report.points[i].counts) {
      const LayerFlops flops = encoder_layer_flops(rows_in, kept, shape.hidden, shape.ffn);
      features[0] += flops.gemm;
      features[1] += flops.attention;
      features[2] += static_cast<double>(rows_in);
      features[3] += 1.0;
      rows_in = kept;
    }
    // Relative error: divide each equation by its measurement.
    for (double& feature : features) feature /= measured;
    rows.push_back(features);
    targets.push_back(1.0);
  }
  // Non-negative least squares by elimination: drop features whose coefficient
  // comes out negative and refit. A single feature (GEMM FLOPs) always fits with
  // a positive coefficient, so the loop ends with a usable model.
  std::array<bool, 4> active = {true, true, true, true};
  std::array<double, 4> solution = {0.0, 0.0, 0.0, 0.0};
  while (true) {
    const bool solved = solve_least_squares(rows, targets, active, solution);
    size_t worst = 4;
    for (size_t i = 1; i < 4; ++i) {
      if (active[i] && (!solved || solution[i] < 0.0) && (worst == 4 || solution[i] < solution[worst]))
        worst = i;
    }
    if (solved && worst == 4 && solution[0] > 0.0) break;
    if (worst == 4) {
      // Only GEMM FLOPs left, or the GEMM term went negative: keep GEMM FLOPs alone.
      active = {true, false, false, false};
      if (!solve_least_squares(rows, targets, active, solution) || !(solution[0] > 0.0)) {
        throw Error("latency fit failed: the timed configurations do not determine the model");
      }
      break;
    }
    active[worst] = false;
  }
  report.model.seconds_per_gemm_flop = solution[0];
  report.model.seconds_per_attention_flop = std::max(0.0, solution[1]);
  report.model.seconds_per_row = std::max(0.0, solution[2]);
  report.model.seconds_per_layer = std::max(0.0, solution[3]);
  report.model.threads = num_threads();
  report.model.source = "profile";
  for (ProfilePoint& point : report.points) {
    point.predicted_ms = report.model.forward_seconds(point.n0, point.counts, shape) * 1e3;
  }
  return report;
}

}  // namespace latte
