#include "latte/eval/latency_profile.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <memory>
#include <random>

#include "latte/core/cpu.h"
#include "latte/core/error.h"
#include "latte/core/threads.h"
#include "latte/models/registry.h"

namespace latte {

namespace {

double median_of(std::vector<double> values) {
  if (values.empty()) return 0.0;
  std::sort(values.begin(), values.end());
  const size_t middle = values.size() / 2;
  return values.size() % 2 == 1 ? values[middle] : 0.5 * (values[middle - 1] + values[middle]);
}

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

std::vector<int32_t> random_ids(int64_t length, int64_t vocab_size, std::mt19937& generator) {
  std::uniform_int_distribution<int32_t> word(1, static_cast<int32_t>(std::max<int64_t>(vocab_size - 1, 1)));
  std::vector<int32_t> ids;
  for (int64_t i = 0; i < length; ++i) ids.push_back(word(generator));
  return ids;
}

// Geometric schedules r_l = t^l of several strengths, for validation.
std::vector<int64_t> geometric_counts(int64_t n0, int64_t layers, double decay) {
  std::vector<int64_t> counts;
  int64_t previous = n0;
  for (int64_t layer = 0; layer < layers; ++layer) {
    const double fraction = std::pow(decay, static_cast<double>(layer + 1));
    previous =
        std::clamp<int64_t>(static_cast<int64_t>(std::ceil(fraction * static_cast<double>(n0))), 1, previous);
    counts.push_back(previous);
  }
  return counts;
}

// Per row count of the grid: every sample of each phase.
struct PhaseSamples {
  std::vector<double> in, kept;              // inside pruning passes
  std::vector<double> in_dense, kept_dense;  // inside dense passes
  std::vector<double> embeddings;            // outside the layers and the head
};

// Keep counts that step down the grid from grid[start], one grid point per layer (then stay at
// grid[0]); with `keep_first`, the first layer keeps all grid[start] rows.
std::vector<int64_t> staircase(const std::vector<int64_t>& grid, size_t start, int64_t layers,
                               bool keep_first) {
  std::vector<int64_t> counts;
  size_t index = keep_first ? start : (start > 0 ? start - 1 : 0);
  for (int64_t layer = 0; layer < layers; ++layer) {
    counts.push_back(grid[index]);
    if (index > 0) --index;
  }
  return counts;
}

size_t grid_index(const std::vector<int64_t>& grid, int64_t rows) {
  return static_cast<size_t>(std::lower_bound(grid.begin(), grid.end(), rows) - grid.begin());
}

std::vector<ValidationPoint> validate(const ProfileSubject& subject, const LatencyModel& latency,
                                      const std::vector<int64_t>& grid, std::mt19937& generator,
                                      std::ostream* progress) {
  const ModelShape shape = subject.shape;
  std::vector<ValidationPoint> points;
  for (const int64_t wanted : {int64_t{64}, int64_t{256}}) {
    const int64_t n0 = std::min(wanted, grid.back());
    if (!points.empty() && points.back().n0 == n0) break;
    for (const double decay : {1.0, 0.85, 0.6}) {
      ValidationPoint point;
      point.n0 = n0;
      point.dense = decay == 1.0;
      point.counts = point.dense ? std::vector<int64_t>(static_cast<size_t>(shape.layers), n0)
                                 : geometric_counts(n0, shape.layers, decay);
      points.push_back(point);
    }
  }
  std::vector<std::unique_ptr<Planner>> planners;
  std::vector<std::vector<int32_t>> inputs;
  for (const ValidationPoint& point : points) {
    planners.push_back(point.dense ? nullptr
                                   : std::make_unique<Planner>(Knobs{.keep = point.counts}, shape,
                                                               std::nullopt, LatencyModel{}, nullptr));
    inputs.push_back(random_ids(point.n0, subject.vocab_size, generator));
  }
  constexpr int kRepeats = 3;
  std::vector<std::vector<double>> samples(points.size());
  for (int round = -1; round < kRepeats; ++round) {  // round -1 warms up
    for (size_t i = 0; i < points.size(); ++i) {
      const auto start = std::chrono::steady_clock::now();
      subject.run(inputs[i], planners[i].get(), nullptr);
      if (round >= 0) samples[i].push_back(seconds_since(start));
    }
    if (progress)
      *progress << "\rprofile: validating, round " << (round + 2) << "/" << (kRepeats + 1) << "   "
                << std::flush;
  }
  for (size_t i = 0; i < points.size(); ++i) {
    points[i].measured_ms = median_of(samples[i]) * 1e3;
    points[i].predicted_ms =
        (points[i].dense ? latency.dense_seconds(points[i].n0, shape)
                         : latency.forward_seconds(points[i].n0, points[i].counts, shape)) *
        1e3;
  }
  return points;
}

}  // namespace

std::vector<int64_t> default_profile_grid(int64_t max_rows) {
  std::vector<int64_t> grid;
  for (const int64_t rows : {1, 2, 4, 8, 12, 16, 24, 32, 48, 64, 96, 128, 192, 256, 384, 512}) {
    if (rows <= max_rows) grid.push_back(rows);
  }
  while (grid.back() < max_rows && grid.back() >= 512) {
    grid.push_back(std::min(max_rows, grid.back() * 3 / 2));
  }
  if (grid.back() < max_rows) grid.push_back(max_rows);
  return grid;
}

ProfileSubject profile_subject(BertModel& model) {
  ProfileSubject subject;
  subject.layer_kind = kEncoderLayer;
  subject.shape = model.shape();
  subject.max_positions = model.config().max_position_embeddings;
  subject.vocab_size = model.config().vocab_size;
  subject.run = [&model](std::span<const int32_t> ids, const Planner* planner, PhaseTimes* times) {
    const std::vector<BertInput> batch = {BertInput{std::vector<int32_t>(ids.begin(), ids.end()), {}}};
    return model.forward(batch, ForwardOptions{.planner = planner, .phase_times = times}).kept.front();
  };
  return subject;
}

ProfileSubject profile_subject(CausalLm& model) {
  ProfileSubject subject;
  subject.layer_kind = kDecoderPrefillLayer;
  subject.shape = model.shape();
  subject.max_positions = model.max_positions();
  subject.vocab_size = model.vocab_size();
  subject.run = [&model](std::span<const int32_t> ids, const Planner* planner, PhaseTimes* times) {
    KvCache cache = model.new_cache();
    DecoderOptions options;
    options.planner = planner;
    options.phase_times = times;
    return model.forward(ids, cache, options).kept;
  };
  return subject;
}

ProfileReport profile_latency(BertModel& model, const ProfileOptions& options) {
  return profile_latency(profile_subject(model), options);
}

ProfileReport profile_latency(const ProfileSubject& subject, const ProfileOptions& options) {
  const auto started = std::chrono::steady_clock::now();
  const ModelShape shape = subject.shape;
  const std::vector<int64_t> grid =
      options.grid.empty() ? default_profile_grid(subject.max_positions) : options.grid;
  for (size_t i = 0; i < grid.size(); ++i) {
    if (grid[i] < 1 || grid[i] > subject.max_positions || (i > 0 && grid[i] <= grid[i - 1])) {
      throw InputError("profile row counts must ascend within 1.." + std::to_string(subject.max_positions));
    }
  }
  if (options.rounds < 1) throw InputError("profile needs at least one round");
  std::mt19937 generator(7);
  std::vector<std::vector<int32_t>> inputs;
  for (const int64_t rows : grid) inputs.push_back(random_ids(rows, subject.vocab_size, generator));
  // Pruning passes: two staircases from every grid row count.
  struct Staircase {
    size_t start;
    std::unique_ptr<Planner> planner;
  };
  std::vector<Staircase> staircases;
  for (size_t start = 0; start < grid.size(); ++start) {
    for (const bool keep_first : {false, true}) {
      staircases.push_back(
          {start, std::make_unique<Planner>(Knobs{.keep = staircase(grid, start, shape.layers, keep_first)},
                                            shape, std::nullopt, LatencyModel{}, nullptr)});
    }
  }

  std::vector<PhaseSamples> samples(grid.size());
  std::vector<double> head_samples;
  double peak_load = load_average().value_or(0.0);
  PhaseTimes times;
  const size_t steps = grid.size() + staircases.size();
  constexpr int kMaxRounds = 64;
  std::chrono::steady_clock::time_point timed_start;
  for (int round = -1;; ++round) {  // round -1 warms every pass up
    if (round == 0) timed_start = std::chrono::steady_clock::now();
    if (round >= options.rounds &&
        (round >= kMaxRounds || seconds_since(timed_start) >= options.min_seconds)) {
      break;
    }
    for (size_t step = 0; step < steps; ++step) {
      // Alternate the direction so slow drift in the machine's load does not tilt the curves.
      const size_t index = round % 2 == 0 ? steps - 1 - step : step;
      int64_t rows = 0;
      if (index < grid.size()) {  // a dense pass
        const auto start = std::chrono::steady_clock::now();
        subject.run(inputs[index], nullptr, &times);
        const double seconds = seconds_since(start);
        rows = grid[index];
        if (round >= 0) {
          samples[index].in_dense.insert(samples[index].in_dense.end(), times.layer_in.begin(),
                                         times.layer_in.end());
          samples[index].kept_dense.insert(samples[index].kept_dense.end(), times.layer_kept.begin(),
                                           times.layer_kept.end());
          // Everything of the pass outside the layers and the head: embeddings, input checks,
          // buffers, the output copy. Small models spend a visible share there.
          double layers_seconds = 0.0;
          for (size_t layer = 0; layer < times.layer_in.size(); ++layer) {
            layers_seconds += times.layer_in[layer] + times.layer_kept[layer];
          }
          samples[index].embeddings.push_back(std::max(0.0, seconds - layers_seconds - times.head));
          head_samples.push_back(times.head);
        }
      } else {  // a staircase: each layer's phases at the rows it saw
        const Staircase& pass = staircases[index - grid.size()];
        const std::vector<int64_t> kept_per_layer =
            subject.run(inputs[pass.start], pass.planner.get(), &times);
        rows = grid[pass.start];
        if (round >= 0) {
          int64_t rows_in = rows;
          for (size_t layer = 0; layer < times.layer_in.size(); ++layer) {
            const int64_t kept = kept_per_layer[layer];
            samples[grid_index(grid, rows_in)].in.push_back(times.layer_in[layer]);
            samples[grid_index(grid, kept)].kept.push_back(times.layer_kept[layer]);
            rows_in = kept;
          }
        }
      }
      if (step % 8 == 0) peak_load = std::max(peak_load, load_average().value_or(0.0));
      if (options.progress) {
        *options.progress << "\rprofile: "
                          << (round < 0 ? "warm-up"
                                        : "round " + std::to_string(round + 1) +
                                              (round < options.rounds ? "/" + std::to_string(options.rounds)
                                                                      : std::string()))
                          << ", pass " << (step + 1) << "/" << steps << " (" << rows << " rows)      "
                          << std::flush;
      }
    }
  }

  ProfileReport report;
  LayerLatency layer;
  for (size_t i = 0; i < grid.size(); ++i) {
    layer.in.rows.push_back(grid[i]);
    layer.in.seconds.push_back(median_of(samples[i].in));
    layer.kept.rows.push_back(grid[i]);
    layer.kept.seconds.push_back(median_of(samples[i].kept));
    report.table.embeddings.rows.push_back(grid[i]);
    report.table.embeddings.seconds.push_back(median_of(samples[i].embeddings));
  }
  report.table.layers[subject.layer_kind] = std::move(layer);
  report.table.head_seconds = median_of(head_samples);
  // The dense pass as the same sum of phase medians as a pruned prediction: on a busy machine a
  // whole pass is preempted more often than its phases are, and mixing the two statistics
  // would skew every ratio.
  for (size_t i = 0; i < grid.size(); ++i) {
    report.table.dense_forward.rows.push_back(grid[i]);
    report.table.dense_forward.seconds.push_back(
        static_cast<double>(shape.layers) *
            (median_of(samples[i].in_dense) + median_of(samples[i].kept_dense)) +
        report.table.embeddings.seconds[i] + report.table.head_seconds);
  }
  report.table.profile_load = std::max(peak_load, load_average().value_or(0.0));
  report.table.profile_cores = online_cores();
  report.table.make_monotone();
  if (options.validate) {
    report.validation =
        validate(subject, LatencyModel(report.table, subject.layer_kind), grid, generator, options.progress);
  }
  report.seconds = seconds_since(started);
  if (options.progress) {
    char line[96];
    std::snprintf(line, sizeof(line), "\rprofile: done in %.1f s%30s\n", report.seconds, "");
    *options.progress << line << std::flush;
  }
  return report;
}

LatencyKey latency_key(const BertConfig& config, Precision precision) {
  // The compute dtype, not the dtype on disk (weights are converted at load); a precision this
  // CPU cannot run computes in f32.
  if (!precision_unavailable_reason(precision).empty()) precision = Precision::kF32;
  return latency_key(ModelDescription{"bert", config.num_layers, config.hidden_size, config.num_heads,
                                      config.num_heads, config.intermediate_size,
                                      config.max_position_embeddings, config.hidden_act,
                                      precision_name(precision)});
}

LatencyKey latency_key(const ModelDescription& description) {
  LatencyKey key;
  key.cpu = read_cpu_info();
  key.threads = num_threads();
  key.family = description.family;
  key.layers = description.layers;
  key.hidden = description.hidden;
  key.heads = description.heads;
  key.ffn = description.ffn;
  key.max_positions = description.max_positions;
  key.activation = description.activation;
  key.compute_dtype = description.compute_dtype;
  key.latte_version = LATTE_VERSION;
  return key;
}

namespace {

// `subject` keeping `model` alive for as long as it runs.
template <typename Model>
ProfileSubject owning(ProfileSubject subject, std::shared_ptr<Model> model) {
  subject.run = [model = std::move(model), run = std::move(subject.run)](
                    std::span<const int32_t> ids, const Planner* planner, PhaseTimes* times) {
    return run(ids, planner, times);
  };
  return subject;
}

}  // namespace

FolderProfileSubject load_profile_subject(const std::filesystem::path& folder, Precision precision) {
  if (model_family(folder).kind == ModelKind::kCausalLm) {
    std::shared_ptr<CausalLm> decoder = load_causal_lm(folder, precision);
    LatencyKey key = latency_key(decoder->description());
    ProfileSubject subject = profile_subject(*decoder);
    return FolderProfileSubject{owning(std::move(subject), std::move(decoder)), std::move(key)};
  }
  auto encoder = std::make_shared<BertModel>(BertModel::load(folder, precision));
  LatencyKey key = latency_key(encoder->config(), encoder->precision());
  ProfileSubject subject = profile_subject(*encoder);
  return FolderProfileSubject{owning(std::move(subject), std::move(encoder)), std::move(key)};
}

LatencyModel machine_latency_model(const BertConfig& config, const std::function<BertModel&()>& model,
                                   const LatencySourceOptions& options, Precision precision) {
  return machine_latency_model(
      latency_key(config, precision), kEncoderLayer, [&] { return profile_subject(model()); }, options);
}

LatencyModel machine_latency_model(const LatencyKey& key, const std::string& layer_kind,
                                   const std::function<ProfileSubject()>& subject,
                                   const LatencySourceOptions& options) {
  std::optional<LatencyCache> cache;
  if (options.cache_dir) cache.emplace(*options.cache_dir);
  std::optional<LatencyTable> cached;
  if (cache) cached = cache->load(key, options.notices);
  if (cached && !cached->layers.contains(layer_kind)) cached.reset();  // written for another layer kind
  if (cached && !cached->profiled_busy()) return LatencyModel(std::move(*cached), layer_kind);
  const double load_now = load_average().value_or(0.0);
  const int cores = online_cores();
  // A table measured while the cores were shared is used until a quieter run can measure it again.
  if (cached && (!options.allow_profile || load_now > cores))
    return LatencyModel(std::move(*cached), layer_kind);
  if (!options.allow_profile) return LatencyModel{};
  if (options.notices) {
    if (cached) {
      *options.notices << "latte: notice: the cached latency table was measured on a busy machine (load "
                       << cached->profile_load << " on " << cached->profile_cores
                       << " cores); measuring it again now that the machine is quieter\n";
    } else {
      *options.notices << "latte: notice: no latency table for this machine, " << key.threads
                       << " threads and this model shape yet; profiling it once"
                       << (cache ? " (cached in " + cache->folder().string() + ")"
                                 : std::string(" (not cached)"))
                       << "\n";
    }
    if (load_now > cores) {
      *options.notices << "latte: notice: load average " << load_now << " exceeds the " << cores
                       << " cores: the latency table will be noisy, and is measured again on a quieter run\n";
    }
    *options.notices << std::flush;
  }
  ProfileOptions profile;
  profile.validate = false;
  profile.min_seconds = kProfileMinSeconds;
  profile.progress = options.progress;
  ProfileReport report = profile_latency(subject(), profile);
  if (cache) cache->store(key, report.table, options.notices);
  return LatencyModel(std::move(report.table), layer_kind);
}

}  // namespace latte
