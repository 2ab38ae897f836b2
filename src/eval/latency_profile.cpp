#include "latte/eval/latency_profile.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <memory>
#include <random>
#include <string_view>

#include "latte/core/cpu.h"
#include "latte/core/error.h"
#include "latte/core/progress.h"
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
  std::vector<double> memory;                // encoder-decoders: by the rows leaving the last layer
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
                                      ProgressLine* progress) {
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
    if (progress) {
      progress->update("profile: validating, round " + std::to_string(round + 2) + "/" +
                       std::to_string(kRepeats + 1));
    }
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

std::optional<double> validation_error(const std::vector<ValidationPoint>& points) {
  std::optional<double> largest;
  for (const ValidationPoint& point : points) {
    if (point.predicted_ms <= 0.0) continue;
    largest = std::max(largest.value_or(0.0), std::abs(point.measured_ms / point.predicted_ms - 1.0));
  }
  return largest;
}

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

ProfileSubject profile_subject(Seq2SeqLm& model) {
  ProfileSubject subject;
  subject.layer_kind = kEncoderLayer;
  subject.shape = model.encoder_shape();
  subject.max_positions = model.max_source_tokens();
  subject.vocab_size = model.vocab_size();
  subject.run = [&model](std::span<const int32_t> ids, const Planner* planner, PhaseTimes* times) {
    return model.encode(ids, EncoderOptions{.planner = planner, .phase_times = times}).encoder_kept;
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
      options.grid.empty() ? default_profile_grid(profiled_rows(subject.max_positions)) : options.grid;
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

  std::optional<ProgressLine> progress;
  if (options.progress) progress.emplace(*options.progress);
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
          samples[index].embeddings.push_back(
              std::max(0.0, seconds - layers_seconds - times.head - times.memory));
          head_samples.push_back(times.head);
          samples[index].memory.push_back(times.memory);
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
          samples[grid_index(grid, rows_in)].memory.push_back(times.memory);
        }
      }
      if (step % 8 == 0) peak_load = std::max(peak_load, load_average().value_or(0.0));
      if (progress) {
        progress->update("profile: " +
                         (round < 0 ? std::string("warm-up")
                                    : "round " + std::to_string(round + 1) +
                                          (round < options.rounds ? "/" + std::to_string(options.rounds)
                                                                  : std::string())) +
                         ", pass " + std::to_string(step + 1) + "/" + std::to_string(steps) + " (" +
                         std::to_string(rows) + " rows)");
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
    if (shape.memory_layers > 0) {
      report.table.memory.rows.push_back(grid[i]);
      report.table.memory.seconds.push_back(median_of(samples[i].memory));
    }
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
        report.table.embeddings.seconds[i] + report.table.head_seconds +
        (shape.memory_layers > 0 ? report.table.memory.seconds[i] : 0.0));
  }
  report.table.profile_load = std::max(peak_load, load_average().value_or(0.0));
  report.table.profile_cores = online_cores();
  report.table.profiled_at = static_cast<int64_t>(std::time(nullptr));
  report.table.make_monotone();
  if (options.validate) {
    report.validation = validate(subject, LatencyModel(report.table, subject.layer_kind), grid, generator,
                                 progress ? &*progress : nullptr);
    report.table.validation_error = validation_error(report.validation);
    // The validation passes share the machine too.
    report.table.profile_load = std::max(report.table.profile_load, load_average().value_or(0.0));
  }
  report.seconds = seconds_since(started);
  if (progress) {
    char line[96];
    std::snprintf(line, sizeof(line), "profile: done in %.1f s", report.seconds);
    progress->finish(line);
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

LatencyKey latency_key(const ModelDescription& description, const ModelShape& shape) {
  LatencyKey key = latency_key(description);
  key.head_dim = shape.head_dim;
  key.relative_bias = shape.relative_bias;
  key.gated_ffn = shape.gated_ffn;
  key.memory_layers = shape.memory_layers;
  return key;
}

LatencyKey latency_key(Seq2SeqLm& model) { return latency_key(model.description(), model.encoder_shape()); }

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
  if (model_family(folder).kind == ModelKind::kSeq2SeqLm) {
    std::shared_ptr<Seq2SeqLm> model = load_seq2seq_lm(folder, precision);
    LatencyKey key = latency_key(*model);
    ProfileSubject subject = profile_subject(*model);
    return FolderProfileSubject{owning(std::move(subject), std::move(model)), std::move(key)};
  }
  auto encoder = std::make_shared<BertModel>(BertModel::load(folder, precision));
  LatencyKey key = latency_key(encoder->config(), encoder->precision());
  ProfileSubject subject = profile_subject(*encoder);
  return FolderProfileSubject{owning(std::move(subject), std::move(encoder)), std::move(key)};
}

bool profiling_disabled_by_environment() {
  const char* env = std::getenv("LATTE_NO_PROFILE");
  return env != nullptr && *env != '\0' && std::string_view(env) != "0";
}

LatencyModel machine_latency_model(const BertConfig& config, const std::function<BertModel&()>& model,
                                   const LatencySourceOptions& options, Precision precision) {
  return machine_latency_model(
      latency_key(config, precision), kEncoderLayer, [&] { return profile_subject(model()); }, options);
}

namespace {

// Profiles `subject` (validated) and caches the table; `refreshes` re-profiles in a row so far.
LatencyTable profile_and_store(const LatencyKey& key, const std::function<ProfileSubject()>& subject,
                               const std::optional<LatencyCache>& cache, int refreshes,
                               const LatencySourceOptions& options) {
  const double load_now = load_average().value_or(0.0);
  const int cores = online_cores();
  if (options.notices && load_now > cores) {
    *options.notices << "latte: notice: load average " << load_now << " exceeds the " << cores
                     << " cores: the latency table will be noisy, and is measured again on a quieter run\n"
                     << std::flush;
  }
  ProfileOptions profile;
  profile.min_seconds = kProfileMinSeconds;
  profile.progress = options.progress;
  ProfileReport report = profile_latency(subject(), profile);
  report.table.refreshes = refreshes;
  const std::string reason = report.table.provisional_reason(kValidationTolerance);
  if (options.notices && !reason.empty() && !report.table.profiled_busy()) {
    *options.notices << "latte: notice: the new latency table is provisional (" << reason
                     << "); it is measured again on the next run\n"
                     << std::flush;
  }
  if (cache) cache->store(key, report.table, options.notices);
  return std::move(report.table);
}

std::string fixed(double value, int decimals) {
  char text[64];
  std::snprintf(text, sizeof(text), "%.*f", decimals, value);
  return text;
}

std::string signed_percent(double fraction) {
  char text[32];
  std::snprintf(text, sizeof(text), "%+.0f %%", 100.0 * fraction);
  return text;
}

}  // namespace

LatencyModel machine_latency_model(const LatencyKey& key, const std::string& layer_kind,
                                   const std::function<ProfileSubject()>& subject,
                                   const LatencySourceOptions& options) {
  std::optional<LatencyCache> cache;
  if (options.cache_dir) cache.emplace(*options.cache_dir);
  std::optional<LatencyTable> cached;
  if (cache) cached = cache->load(key, options.notices);
  if (cached && !cached->layers.contains(layer_kind)) cached.reset();  // written for another layer kind
  if (cached) {
    const std::string reason = cached->provisional_reason(kValidationTolerance);
    if (reason.empty() || !options.allow_profile) return LatencyModel(std::move(*cached), layer_kind);
    const double load_now = load_average().value_or(0.0);
    const int cores = online_cores();
    std::string keep_why;
    if (cached->refreshes >= kMostRefreshes) {
      keep_why = "it was re-profiled " + std::to_string(cached->refreshes) +
                 " times in a row already, so it is kept (delete " + cache->path_for(key).string() +
                 " to profile afresh)";
    } else if (cached->profiled_busy() && load_now > cores && load_now >= cached->profile_load) {
      // Measured again, it would be no better: wait for a run that finds the machine quieter.
      keep_why = "the machine is as busy now (load " + fixed(load_now, 2) + " on " + std::to_string(cores) +
                 " cores), so it is used as it is and measured again on a quieter run";
    }
    if (options.notices) {
      *options.notices << "latte: notice: the cached latency table is provisional (" << reason << "); "
                       << (keep_why.empty() ? "re-profiling it" : keep_why) << "\n"
                       << std::flush;
    }
    if (!keep_why.empty()) return LatencyModel(std::move(*cached), layer_kind);
    return LatencyModel(profile_and_store(key, subject, cache, cached->refreshes + 1, options), layer_kind);
  }
  if (!options.allow_profile) return LatencyModel{};
  if (options.notices) {
    *options.notices << "latte: notice: no latency table for this machine, " << key.threads
                     << " threads and this model shape yet; profiling it once"
                     << (cache ? " (cached in " + cache->folder().string() + ")"
                               : std::string(" (not cached)"))
                     << "\n"
                     << std::flush;
  }
  return LatencyModel(profile_and_store(key, subject, cache, 0, options), layer_kind);
}

LatencyCheck check_timing(const PairedTiming& timing, const std::vector<int64_t>& input_rows,
                          const std::vector<const Planner*>& planners, const LatencyModel& latency,
                          const ModelShape& shape) {
  LatencyCheck check;
  std::vector<double> rows, predicted, ratios;
  for (size_t run = 0; run < timing.dense_milliseconds.size() && run < timing.dense_inputs.size(); ++run) {
    const int64_t n0 = input_rows.at(timing.dense_inputs[run]);
    const double predicted_ms = latency.dense_seconds(n0, shape) * 1e3;
    if (predicted_ms <= 0.0) continue;
    rows.push_back(static_cast<double>(n0));
    predicted.push_back(predicted_ms);
    ratios.push_back(timing.dense_milliseconds[run] / predicted_ms);
  }
  check.dense_rows = static_cast<int64_t>(std::llround(spread(rows).median));
  check.dense_predicted_ms = spread(predicted).median;
  check.dense_measured_ms = timing.dense_ms.median;
  check.dense_error = ratios.empty() ? 0.0 : spread(ratios).median - 1.0;
  // The inputs the variants were timed on: the first ones, as many as each variant has runs of.
  for (size_t v = 0; v < planners.size() && v < timing.variants.size(); ++v) {
    if (planners[v] == nullptr) continue;
    const size_t timed = std::min(timing.variants[v].kept.size(), input_rows.size());
    if (timed == 0) continue;
    LatencyCheck::Speedup speedup;
    speedup.predicted = 0.0;
    for (size_t i = 0; i < timed; ++i) {
      speedup.predicted +=
          planners[v]->plan(input_rows[i]).predicted_speedup.value_or(1.0) / static_cast<double>(timed);
    }
    speedup.measured = timing.variants[v].speedup.median;
    check.speedups.push_back(speedup);
  }
  check.busy = timing.peak_load && *timing.peak_load > static_cast<double>(timing.cores);
  return check;
}

std::optional<std::string> latency_drift(const LatencyCheck& check, const LatencyTolerance& tolerance) {
  // Timings taken while the cores were oversubscribed judge the other work, not the table: at a
  // load of 13 on 2 cores here, paired medians came out 14-38x for schedules the medians put at 2-6x.
  if (check.busy) return std::nullopt;
  // Each error relative to its tolerance: the worst one is reported.
  double worst = 1.0;
  std::optional<std::string> drift;
  if (check.dense_predicted_ms > 0.0 && std::abs(check.dense_error) / tolerance.dense > worst) {
    worst = std::abs(check.dense_error) / tolerance.dense;
    drift = "the latency table predicted " + fixed(check.dense_predicted_ms, 2) + " ms for a dense pass of " +
            std::to_string(check.dense_rows) + " rows, measured " + fixed(check.dense_measured_ms, 2) +
            " ms (" + signed_percent(check.dense_error) + ")";
  }
  for (const LatencyCheck::Speedup& speedup : check.speedups) {
    if (speedup.predicted <= 0.0) continue;
    const double error = speedup.measured / speedup.predicted - 1.0;
    if (std::abs(error) / tolerance.speedup > worst) {
      worst = std::abs(error) / tolerance.speedup;
      drift = "the latency table predicted a " + fixed(speedup.predicted, 2) + "x speedup, measured " +
              fixed(speedup.measured, 2) + "x (" + signed_percent(error) + ")";
    }
  }
  return drift;
}

void recheck_latency_table(const LatencyKey& key, const std::string& layer_kind,
                           const std::function<ProfileSubject()>& subject, const LatencyCheck& check,
                           const LatencySourceOptions& options) {
  const std::optional<std::string> drift = latency_drift(check);
  std::optional<LatencyCache> cache;
  if (options.cache_dir) cache.emplace(*options.cache_dir);
  std::optional<LatencyTable> cached;
  if (cache) cached = cache->load(key, nullptr);
  if (cached && !cached->layers.contains(layer_kind)) cached.reset();
  if (!drift) {
    // Confirmed by a timed run: later drift may re-profile it again.
    if (cached && cached->refreshes > 0 && cached->provisional_reason(kValidationTolerance).empty()) {
      cached->refreshes = 0;
      cache->store(key, *cached, options.notices);
    }
    return;
  }
  std::ostream* notices = options.notices;
  if (!cached || !options.allow_profile) {
    if (notices) *notices << "latte: notice: " << *drift << "\n" << std::flush;
    return;
  }
  if (cached->refreshes >= kMostRefreshes) {
    if (notices) {
      *notices << "latte: notice: " << *drift << "; the table was re-profiled " << cached->refreshes
               << " times in a row already, so it is kept (delete " << cache->path_for(key).string()
               << " to profile afresh)\n"
               << std::flush;
    }
    return;
  }
  if (notices) {
    *notices << "latte: notice: " << *drift
             << "; re-profiling it for the next run (this run's predictions came from the old table)\n"
             << std::flush;
  }
  profile_and_store(key, subject, cache, cached->refreshes + 1, options);
}

}  // namespace latte
