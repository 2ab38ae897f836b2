// The latency table (interpolation, monotonicity, JSON validation), its per-machine cache (key,
// round trip, bad files, unwritable folders, concurrent writers), profiling, the planner on a
// table, paired timing and latte.json validation. No timing assertions: speed targets live in
// docs/benchmarks.md.
#include <gtest/gtest.h>

#include <cmath>
#include <sstream>
#include <thread>

#include "latte/core/cpu.h"
#include "latte/core/error.h"
#include "latte/core/threads.h"
#include "latte/eval/latency_profile.h"
#include "latte/eval/timing.h"
#include "latte/models/bert.h"
#include "latte/prune/latency_cache.h"
#include "latte/prune/plan.h"
#include "latte/prune/sidecar.h"
#include "test_support.h"

namespace latte {
namespace {

using test_support::CommandResult;
using test_support::run_latte;
using test_support::slurp;
using test_support::spit;
using test_support::TempDir;
namespace fs = std::filesystem;
const fs::path kBertData = fs::path(LATTE_TEST_DATA_DIR) / "bert";

RowCurve curve(std::vector<int64_t> rows, std::vector<double> seconds) {
  return RowCurve{std::move(rows), std::move(seconds)};
}

// A synthetic table: in(n) = 2 us + 10 ns n + 0.1 ns n^2, kept(k) = 1 us + 30 ns k, embeddings
// 0.1 us per row, head 5 us; the dense pass of a `layers`-layer model to match.
LatencyTable synthetic_table(int64_t max_rows = 512, int64_t layers = 3) {
  LatencyTable table;
  LayerLatency layer;
  for (const int64_t rows : default_profile_grid(max_rows)) {
    const double n = static_cast<double>(rows);
    layer.in.rows.push_back(rows);
    layer.in.seconds.push_back(2e-6 + 1e-8 * n + 1e-10 * n * n);
    table.dense_forward.rows.push_back(rows);  // the phases without ACC scores (0.1 us), plus the fixed costs
    table.dense_forward.seconds.push_back(static_cast<double>(layers) * (2.9e-6 + 4e-8 * n + 1e-10 * n * n) +
                                          1e-7 * n + 5e-6);
    layer.kept.rows.push_back(rows);
    layer.kept.seconds.push_back(1e-6 + 3e-8 * n);
    table.embeddings.rows.push_back(rows);
    table.embeddings.seconds.push_back(1e-7 * n);
  }
  table.layers[kEncoderLayer] = layer;
  table.head_seconds = 5e-6;
  return table;
}

LatencyKey test_key(int threads = 2) {
  LatencyKey key;
  key.cpu = CpuInfo{"Test CPU 9000", {"avx2", "fma"}};
  key.threads = threads;
  key.family = "bert";
  key.layers = 2;
  key.hidden = 32;
  key.heads = 4;
  key.ffn = 64;
  key.max_positions = 64;
  key.activation = "gelu";
  key.compute_dtype = "f32";
  key.latte_version = "0.1.0";
  return key;
}

TEST(LatencyTable, InterpolatesPiecewiseLinearly) {
  const RowCurve line = curve({1, 4, 8}, {1.0, 4.0, 6.0});
  EXPECT_DOUBLE_EQ(line.at(1), 1.0);
  EXPECT_DOUBLE_EQ(line.at(4), 4.0);
  EXPECT_DOUBLE_EQ(line.at(2), 2.0);
  EXPECT_DOUBLE_EQ(line.at(6), 5.0);
  EXPECT_DOUBLE_EQ(line.at(0.5), 1.0);  // below the grid: the first point
  EXPECT_DOUBLE_EQ(line.at(12), 8.0);   // beyond: along the last segment
  EXPECT_DOUBLE_EQ(curve({4}, {2.0}).at(8), 4.0);
}

TEST(LatencyTable, MonotoneByPoolingAdjacentViolators) {
  RowCurve noisy = curve({1, 2, 4, 8, 16}, {1.0, 3.0, 2.0, 4.0, 3.5});
  noisy.make_monotone();
  EXPECT_EQ(noisy.seconds, (std::vector<double>{1.0, 2.5, 2.5, 3.75, 3.75}));
  for (double rows = 1; rows < 20; rows += 0.5) EXPECT_LE(noisy.at(rows), noisy.at(rows + 0.5));
  RowCurve sorted = curve({1, 2, 3}, {1.0, 2.0, 3.0});
  sorted.make_monotone();
  EXPECT_EQ(sorted.seconds, (std::vector<double>{1.0, 2.0, 3.0}));
}

TEST(LatencyTable, JsonRoundTripAndValidation) {
  const LatencyTable table = synthetic_table(64);
  const LatencyTable back = LatencyTable::from_json(table.to_json(), "cache.json");
  EXPECT_EQ(back.to_json(), table.to_json());

  auto expect_rejected = [&](const std::function<void(nlohmann::json&)>& corrupt, const std::string& field) {
    nlohmann::json json = table.to_json();
    corrupt(json);
    try {
      LatencyTable::from_json(json, "cache.json");
      ADD_FAILURE() << "accepted a table with a bad " << field;
    } catch (const FormatError& error) {
      EXPECT_NE(std::string(error.what()).find("cache.json"), std::string::npos) << error.what();
      EXPECT_NE(std::string(error.what()).find(field), std::string::npos) << error.what();
    }
  };
  expect_rejected([](nlohmann::json& j) { j["layers"]["encoder"]["in"]["seconds"][2] = 1e308; },
                  "encoder.in");
  expect_rejected([](nlohmann::json& j) { j["layers"]["encoder"]["kept"]["seconds"][0] = -1.0; },
                  "encoder.kept");
  expect_rejected([](nlohmann::json& j) { j["layers"]["encoder"]["kept"]["rows"][1] = 1; }, "ascending");
  expect_rejected([](nlohmann::json& j) { j["dense_forward"]["rows"].erase(0); }, "dense_forward");
  expect_rejected([](nlohmann::json& j) { j["embeddings"]["seconds"] = "fast"; }, "embeddings");
  expect_rejected([](nlohmann::json& j) { j["head_seconds"] = nullptr; }, "head_seconds");
  expect_rejected([](nlohmann::json& j) { j["layers"] = {{"decoder", j["layers"]["encoder"]}}; }, "encoder");
}

TEST(LatencyTable, RemembersHowBusyTheMachineWas) {
  LatencyTable table = synthetic_table(64);
  EXPECT_FALSE(table.profiled_busy());  // unknown core count: not known to be busy
  table.profile_load = 3.5;
  table.profile_cores = 2;
  EXPECT_TRUE(table.profiled_busy());
  const LatencyTable back = LatencyTable::from_json(table.to_json(), "cache.json");
  EXPECT_TRUE(back.profiled_busy());
  table.profile_load = 1.5;
  EXPECT_FALSE(table.profiled_busy());
  nlohmann::json json = table.to_json();
  json["profile_load"] = -1;
  EXPECT_THROW(LatencyTable::from_json(json, "cache.json"), FormatError);
}

TEST(LatencyModel, DenseIsMeasuredWholePrunedIsSumOfPhases) {
  const LatencyModel model(synthetic_table());
  const ModelShape shape{3, 32, 64};
  const LayerLatency& layer = model.table()->layer(kEncoderLayer);
  const double fixed = model.table()->embeddings.at(100) + model.table()->head_seconds;
  EXPECT_NEAR(model.dense_seconds(100, shape), model.table()->dense_forward.at(100),
              1e-15);  // measured whole
  const double pruned = layer.in.at(100) + layer.kept.at(50) + layer.in.at(50) + layer.kept.at(20) +
                        layer.in.at(20) + layer.kept.at(10) + fixed;
  EXPECT_NEAR(model.forward_seconds(100, {50, 20, 10}, shape), pruned, 1e-15);
  EXPECT_STREQ(model.source(), "table");
  EXPECT_STREQ(LatencyModel{}.source(), "flops");
}

TEST(LatencyModel, PlannerBisectionMeetsTheRequestedSpeedup) {
  const LatencyModel latency(synthetic_table(512, 12));
  const ModelShape shape{12, 768, 3072};
  for (const double target : {1.5, 2.0, 3.0}) {
    const Planner planner(Knobs{.speedup = target}, shape, std::nullopt, latency, nullptr);
    const SequencePlan& plan = planner.plan(256);
    ASSERT_TRUE(plan.predicted_speedup) << target;
    EXPECT_GE(*plan.predicted_speedup, target - 1e-9);
    EXPECT_LE(*plan.predicted_speedup, target * 1.03) << target;
    EXPECT_NEAR(*plan.predicted_speedup,
                latency.dense_seconds(256, shape) / latency.forward_seconds(256, plan.counts, shape), 1e-9);
  }
  // A budget maps to a schedule that fits it.
  const double dense_ms = latency.dense_seconds(256, shape) * 1e3;
  const Planner budget(Knobs{.latency_ms = dense_ms / 2}, shape, std::nullopt, latency, nullptr);
  EXPECT_LE(*budget.plan(256).predicted_ms, dense_ms / 2 + 1e-9);
}

// A table whose dense passes were preempted (measured 3x the sum of their phases, as on a busy
// machine) must not make "keep every row" look like a speedup: the target is met by eliminating.
TEST(LatencyModel, ADenseCurveAboveThePhasesDoesNotMeetTargetsWithoutEliminating) {
  LatencyTable table = synthetic_table(64, 2);
  for (double& seconds : table.dense_forward.seconds) seconds *= 3.0;
  const LatencyModel latency(table);
  const ModelShape shape{2, 32, 64};
  EXPECT_DOUBLE_EQ(latency.dense_seconds(24, shape), latency.forward_seconds(24, {}, shape));
  const Planner planner(Knobs{.speedup = 2.0}, shape, std::nullopt, latency, nullptr);
  const SequencePlan& plan = planner.plan(24);
  ASSERT_EQ(plan.counts.size(), 2u);
  EXPECT_LT(plan.counts.back(), 24) << "a speedup of 2 with nothing eliminated";
  ASSERT_TRUE(plan.predicted_speedup);
  EXPECT_LE(*plan.predicted_speedup,
            latency.forward_seconds(24, {}, shape) / latency.forward_seconds(24, plan.counts, shape) + 1e-12);
}

TEST(LatencyCache, KeyHashIsStableAndCoversTheKey) {
  const LatencyKey key = test_key();
  EXPECT_EQ(key.hash(), test_key().hash());
  EXPECT_EQ(key.hash().size(), 16u);
  EXPECT_EQ(key.hash(), "e94241872c0df2a1")
      << "the hash of a fixed key changed: old caches would be orphaned";
  EXPECT_NE(test_key(4).hash(), key.hash());
  LatencyKey other = key;
  other.cpu.isa.push_back("avx512f");
  EXPECT_NE(other.hash(), key.hash());
  other = key;
  other.compute_dtype = "bf16";
  EXPECT_NE(other.hash(), key.hash());
}

TEST(LatencyCache, RoundTrip) {
  const TempDir dir("latency_cache");
  const LatencyCache cache(dir / "latte" / "latency");
  std::ostringstream notices;
  EXPECT_FALSE(cache.load(test_key(), &notices));
  EXPECT_TRUE(notices.str().empty());
  ASSERT_TRUE(cache.store(test_key(), synthetic_table(64), &notices)) << notices.str();
  const std::optional<LatencyTable> back = cache.load(test_key(), &notices);
  ASSERT_TRUE(back);
  EXPECT_EQ(back->to_json(), synthetic_table(64).to_json());
  EXPECT_TRUE(notices.str().empty()) << notices.str();
  EXPECT_EQ(cache.path_for(test_key()).filename().string(), test_key().hash() + ".json");
  EXPECT_EQ(nlohmann::json::parse(slurp(cache.path_for(test_key())))["key"], test_key().to_json());
  EXPECT_FALSE(cache.load(test_key(8), &notices));  // another thread count: nothing cached
}

TEST(LatencyCache, BadFilesGiveANoticeAndNoTable) {
  const TempDir dir("latency_bad");
  const LatencyCache cache(dir.path());
  ASSERT_TRUE(cache.store(test_key(), synthetic_table(64), nullptr));
  const fs::path path = cache.path_for(test_key());
  const std::string good = slurp(path);
  nlohmann::json other_version = nlohmann::json::parse(good);
  other_version["format_version"] = 999;
  nlohmann::json other_key = nlohmann::json::parse(good);
  other_key["key"]["threads"] = 64;
  nlohmann::json nan_like = nlohmann::json::parse(good);
  nan_like["table"]["head_seconds"] = 1e308;
  const std::pair<std::string, std::string> cases[] = {
      {"corrupt", "{not json"},
      {"truncated", good.substr(0, good.size() / 2)},
      {"empty", ""},
      {"other version", other_version.dump()},
      {"other key", other_key.dump()},
      {"out of range", nan_like.dump()},
      {"wrong type", "{\"format\": 7}"},
  };
  for (const auto& [name, bytes] : cases) {
    spit(path, bytes);
    std::ostringstream notices;
    EXPECT_FALSE(cache.load(test_key(), &notices)) << name;
    EXPECT_NE(notices.str().find("ignoring the cached latency table"), std::string::npos) << name;
    const std::string text = notices.str();
    EXPECT_EQ(std::count(text.begin(), text.end(), '\n'), 1) << name << ": " << text;
  }
  // Unreadable: a folder where the file should be (root reads any file, so permissions would not do).
  fs::remove(path);
  fs::create_directories(path);
  std::ostringstream notices;
  EXPECT_FALSE(cache.load(test_key(), &notices));
  EXPECT_NE(notices.str().find("ignoring the cached latency table"), std::string::npos) << notices.str();
}

TEST(LatencyCache, UnwritableFolderKeepsTheTableInMemory) {
  const TempDir dir("latency_unwritable");
  spit(dir / "file", "a regular file, so nothing can be created below it");
  const LatencyCache cache(dir / "file" / "latte" / "latency");
  std::ostringstream notices;
  EXPECT_FALSE(cache.store(test_key(), synthetic_table(64), &notices));
  EXPECT_NE(notices.str().find("cannot cache the latency table"), std::string::npos) << notices.str();
  EXPECT_FALSE(cache.load(test_key(), &notices));
}

TEST(LatencyCache, ConcurrentWritersLeaveAValidFile) {
  const TempDir dir("latency_concurrent");
  const LatencyCache cache(dir.path());
  std::vector<std::thread> writers;
  for (int writer = 0; writer < 4; ++writer) {
    writers.emplace_back([&cache, writer] {
      LatencyTable table = synthetic_table(64 << (writer % 3));  // different sizes: torn writes would show
      for (int i = 0; i < 10; ++i) cache.store(test_key(), table, nullptr);
    });
  }
  for (std::thread& writer : writers) writer.join();
  std::ostringstream notices;
  EXPECT_TRUE(cache.load(test_key(), &notices)) << notices.str();
  EXPECT_TRUE(notices.str().empty()) << notices.str();
}

TEST(LatencyProfile, GridAndTable) {
  set_num_threads(1);  // quick on a busy machine: OpenMP barriers stall when cores are oversubscribed
  EXPECT_EQ(default_profile_grid(64), (std::vector<int64_t>{1, 2, 4, 8, 12, 16, 24, 32, 48, 64}));
  EXPECT_EQ(default_profile_grid(40).back(), 40);
  // A Llama 3's 131,072 positions are profiled up to 2048 rows; GPT-2's 1024 all.
  EXPECT_EQ(default_profile_grid(profiled_rows(131072)).back(), 2048);
  EXPECT_EQ(profiled_rows(1024), 1024);
  EXPECT_EQ(default_profile_grid(2048).back(), 2048);
  BertModel model = BertModel::load(kBertData / "cls3_f32");
  ProfileOptions options;
  options.rounds = 1;
  const ProfileReport report = profile_latency(model, options);
  const LayerLatency& layer = report.table.layer(kEncoderLayer);
  EXPECT_EQ(layer.in.rows, default_profile_grid(64));
  for (const RowCurve* phase :
       {&layer.in, &layer.kept, &report.table.dense_forward, &report.table.embeddings}) {
    for (size_t i = 0; i < phase->seconds.size(); ++i) {
      EXPECT_GT(phase->seconds[i], 0.0);
      if (i > 0) {
        EXPECT_GE(phase->seconds[i], phase->seconds[i - 1]);
      }
    }
  }
  EXPECT_GT(report.table.head_seconds, 0.0);
  ASSERT_FALSE(report.validation.empty());
  for (const ValidationPoint& point : report.validation) {
    EXPECT_GT(point.measured_ms, 0.0);
    EXPECT_GT(point.predicted_ms, 0.0);
  }
  options.grid = {1, 1000};
  EXPECT_THROW(profile_latency(model, options), InputError);
}

TEST(LatencyProfile, CachedThenReusedThenReprofiledWhenCorrupt) {
  set_num_threads(1);
  const TempDir dir("latency_source");
  BertModel model = BertModel::load(kBertData / "cls3_f32");
  int loads = 0;
  auto loader = [&]() -> BertModel& {
    ++loads;
    return model;
  };
  LatencySourceOptions options;
  options.cache_dir = dir / "latency";
  std::ostringstream notices;
  options.notices = &notices;
  EXPECT_TRUE(machine_latency_model(model.config(), loader, options).measured());
  EXPECT_EQ(loads, 1);
  EXPECT_NE(notices.str().find("profiling it once"), std::string::npos) << notices.str();
  notices.str("");
  // As if profiled on a quiet machine and validated: a provisional table is measured again.
  const fs::path file = LatencyCache(*options.cache_dir).path_for(latency_key(model.config()));
  nlohmann::json cached = nlohmann::json::parse(slurp(file));
  EXPECT_TRUE(cached["table"].contains("profile_load"));
  cached["table"]["profile_load"] = 0.0;
  cached["table"]["validation_error"] = 0.0;
  spit(file, cached.dump());
  EXPECT_TRUE(machine_latency_model(model.config(), loader, options).measured());
  EXPECT_EQ(loads, 1) << "a cached table must not profile again";
  EXPECT_TRUE(notices.str().empty()) << notices.str();
  spit(LatencyCache(*options.cache_dir).path_for(latency_key(model.config())), "{\"truncat");
  EXPECT_TRUE(machine_latency_model(model.config(), loader, options).measured());
  EXPECT_EQ(loads, 2);
  EXPECT_NE(notices.str().find("ignoring the cached latency table"), std::string::npos) << notices.str();
  // Profiling off and nothing cached: the FLOPs prior.
  options.cache_dir = dir / "empty";
  options.allow_profile = false;
  EXPECT_FALSE(machine_latency_model(model.config(), loader, options).measured());
  EXPECT_EQ(loads, 2);
}

TEST(Cpu, ReadsModelAndTimingFlags) {
  const TempDir dir("cpuinfo");
  spit(dir / "cpuinfo",
       "processor\t: 0\nmodel name\t: AMD EPYC 9R14\nflags\t\t: fpu sse avx512f avx2 avx512_bf16 fma\n\n"
       "processor\t: 1\nmodel name\t: other\n");
  const CpuInfo info = read_cpu_info(dir / "cpuinfo");
  EXPECT_EQ(info.model, "AMD EPYC 9R14");
  EXPECT_EQ(info.isa, (std::vector<std::string>{"avx2", "fma", "avx512f", "avx512_bf16"}));
  EXPECT_EQ(read_cpu_info(dir / "missing").model, "unknown");
  spit(dir / "loadavg", "3.75 2.00 1.00 2/300 1234\n");
  EXPECT_DOUBLE_EQ(*load_average(dir / "loadavg"), 3.75);
  EXPECT_FALSE(load_average(dir / "missing"));
  EXPECT_GE(online_cores(), 1);
}

TEST(Cpu, MeasuresMemoryBandwidth) {
  // 16 MiB: small enough for a unit test; whatever the cache holds, a read faster than
  // 10 MB/s and below 100 TB/s is the only thing a sane machine reports.
  const double bytes_per_second = measure_memory_bandwidth(size_t{16} << 20, 2);
  EXPECT_TRUE(std::isfinite(bytes_per_second));
  EXPECT_GT(bytes_per_second, 1e7);
  EXPECT_LT(bytes_per_second, 1e14);
  EXPECT_NE(test_support::error_of([] { measure_memory_bandwidth(1000, 1); }).find("at least 1 MiB"),
            std::string::npos);
  EXPECT_NE(
      test_support::error_of([] { measure_memory_bandwidth(size_t{1} << 20, 0); }).find("at least 1 repeat"),
      std::string::npos);
}

TEST(PairedTiming, SpreadQuantiles) {
  const Spread s = spread({5, 1, 4, 2, 3, 6, 7, 8, 9, 10, 11});
  EXPECT_DOUBLE_EQ(s.median, 6.0);
  EXPECT_DOUBLE_EQ(s.p10, 2.0);
  EXPECT_DOUBLE_EQ(s.p90, 10.0);
  const Spread two = spread({1.0, 2.0});
  EXPECT_DOUBLE_EQ(two.median, 1.5);
  EXPECT_DOUBLE_EQ(two.p10, 1.1);
  EXPECT_DOUBLE_EQ(two.p90, 1.9);
  EXPECT_DOUBLE_EQ(spread({}).median, 0.0);
}

TEST(PairedTiming, PairsEveryRunWithAdjacentDenseRuns) {
  BertModel model = BertModel::load(kBertData / "cls3_f32");
  const Planner half(Knobs{.keep = std::vector<int64_t>{8, 4}}, model.shape(), std::nullopt, LatencyModel{},
                     nullptr);
  std::vector<std::vector<BertInput>> inputs;
  for (int length : {16, 24, 32}) {
    BertInput input;
    for (int i = 0; i < length; ++i) input.input_ids.push_back(5 + i % 50);
    inputs.push_back({input});
  }
  PairedTimingOptions options;
  options.rounds = 2;
  size_t calls = 0;
  options.progress = [&](size_t done, size_t total) {
    ++calls;
    EXPECT_EQ(total, 6u);
    EXPECT_LE(done, total);
  };
  const PairedTiming timing = time_paired(
      model, inputs,
      {TimedVariant{ForwardOptions{.planner = &half}}, TimedVariant{ForwardOptions{.compute_scores = true}}},
      options);
  EXPECT_EQ(calls, 6u);
  EXPECT_EQ(timing.dense_milliseconds.size(), 6u * 3u);  // D V1 D V2 D per input and round
  ASSERT_EQ(timing.variants.size(), 2u);
  for (const VariantTiming& variant : timing.variants) {
    EXPECT_EQ(variant.ratios.size(), 6u);
    EXPECT_EQ(variant.kept.size(), 3u);
    EXPECT_GT(variant.speedup.median, 0.0);
    EXPECT_LE(variant.speedup.p10, variant.speedup.median);
    EXPECT_LE(variant.speedup.median, variant.speedup.p90);
  }
  EXPECT_EQ(timing.variants[0].kept[0], (std::vector<int64_t>{8, 4}));
}

// ---- latte.json ----

Calibration two_layer_calibration() {
  return Calibration{{1.0, 0.9}, {{1.0, 1.0}, {0.8, 0.5}}, {0.5, 1.0}, {{0.7, 1.0}, {0.9, 1.0}}, 3};
}

TEST(Sidecar, OldLatencyModelIsIgnoredWithANotice) {
  const TempDir dir("sidecar_old");
  Sidecar sidecar;
  sidecar.calibration = two_layer_calibration();
  sidecar.write(dir.path());
  nlohmann::json json = nlohmann::json::parse(slurp(dir / "latte.json"));
  json["latency_model"] = {{"seconds_per_gemm_flop", 1e-11}, {"source", "profile"}};
  spit(dir / "latte.json", json.dump());
  std::ostringstream notices;
  const Sidecar back = Sidecar::read(dir.path(), &notices);
  ASSERT_TRUE(back.calibration);
  EXPECT_EQ(back.calibration->keep_fractions, sidecar.calibration->keep_fractions);
  EXPECT_EQ(
      notices.str(),
      "latte: notice: latte.json: ignoring latency_model fitted on another machine; latency is profiled per "
      "machine\n");
  back.write(dir.path());  // rewriting drops it
  EXPECT_FALSE(nlohmann::json::parse(slurp(dir / "latte.json")).contains("latency_model"));
}

TEST(Sidecar, EveryNumberIsValidated) {
  const TempDir dir("sidecar_bad");
  Sidecar sidecar;
  sidecar.calibration = two_layer_calibration();
  sidecar.write(dir.path());
  const nlohmann::json good = nlohmann::json::parse(slurp(dir / "latte.json"));
  const std::pair<std::function<void(nlohmann::json&)>, std::string> cases[] = {
      {[](nlohmann::json& c) { c["keep_fractions"][1][0] = 1e308; }, "calibration.keep_fractions"},
      {[](nlohmann::json& c) { c["keep_fractions"][1][1] = 0.0; }, "calibration.keep_fractions"},
      {[](nlohmann::json& c) { c["taus"][1] = -0.5; }, "calibration.taus"},
      {[](nlohmann::json& c) {
         c["taus"] = {1.0, 1.0};
       },
       "calibration.taus"},
      {[](nlohmann::json& c) {
         c["taus"] = {1.0, 0.9, 0.95};
       },
       "calibration"},
      {[](nlohmann::json& c) { c["samples"] = -3; }, "calibration.samples"},
      {[](nlohmann::json& c) { c["samples"] = 1e308; }, "samples"},
      {[](nlohmann::json& c) { c["keep_fractions"][1] = {0.5}; }, "calibration.keep_fractions"},
      {[](nlohmann::json& c) { c["acc_curves"][0][0] = 2.5; }, "calibration.acc_curves"},
      {[](nlohmann::json& c) { c["acc_curves"][0] = {0.5}; }, "calibration.acc_curves"},
      {[](nlohmann::json& c) {
         c["acc_curves"] = {{0.5, 1.0}};
       },
       "calibration.acc_curves"},
      {[](nlohmann::json& c) {
         c["curve_points"] = {1.0, 0.5};
       },
       "calibration.curve_points"},
      {[](nlohmann::json& c) { c["curve_points"][0] = -1; }, "calibration.curve_points"},
      {[](nlohmann::json& c) { c["taus"][0] = "one"; }, "calibration.taus"},
      {[](nlohmann::json& c) { c.erase("taus"); }, "calibration.taus"},
  };
  for (const auto& [corrupt, field] : cases) {
    nlohmann::json json = good;
    corrupt(json["calibration"]);
    spit(dir / "latte.json", json.dump());
    try {
      Sidecar::read(dir.path());
      ADD_FAILURE() << "accepted " << json["calibration"].dump();
    } catch (const FormatError& error) {
      EXPECT_NE(std::string(error.what()).find("latte.json"), std::string::npos) << error.what();
      EXPECT_NE(std::string(error.what()).find(field), std::string::npos) << error.what();
    }
  }
}

TEST(Sidecar, OtherLayerCountBlocksOnlyKnobsThatNeedIt) {
  const ModelShape shape{3, 32, 64};  // the calibration has 2 layers
  const LatencyModel latency;
  EXPECT_NO_THROW(Planner(Knobs{}, shape, two_layer_calibration(), latency, nullptr));
  EXPECT_NO_THROW(Planner(Knobs{.speedup = 1.0}, shape, two_layer_calibration(), latency, nullptr));
  EXPECT_NO_THROW(Planner(Knobs{.keep = std::vector<int64_t>{4, 2, 1}}, shape, two_layer_calibration(),
                          latency, nullptr));
  for (const Knobs& knobs : {Knobs{.speedup = 2.0}, Knobs{.coverage = 0.9}, Knobs{.latency_ms = 1.0}}) {
    try {
      Planner(knobs, shape, two_layer_calibration(), latency, nullptr);
      ADD_FAILURE() << "a 2-layer calibration served a 3-layer model";
    } catch (const FormatError& error) {
      EXPECT_NE(std::string(error.what()).find("latte.json"), std::string::npos) << error.what();
    }
  }
}

// ---- The command line: auto-profiling, the cache folder, --no-profile ----

class LatencyCli : public ::testing::Test {
 protected:
  void SetUp() override {
    fs::copy(kBertData / "cls3_f32", model_);
    environment_ = "XDG_CACHE_HOME=" + (dir_ / "cache").string();
  }
  CommandResult run(const std::string& arguments, const std::string& extra_environment = "") {
    return run_latte(dir_.path(), arguments, "", environment_ + " " + extra_environment);
  }
  std::string classify(const std::string& knob) const {
    return "classify --threads 1 --model " + model_.string() + " " + knob + " 'some text'";
  }
  // As if the cached tables had been profiled on a quiet machine and validated well (a
  // provisional table is measured again, which would make these tests depend on the load).
  void mark_quiet() const {
    for (const fs::path& file : cache_files()) {
      nlohmann::json json = nlohmann::json::parse(slurp(file));
      json["table"]["profile_load"] = 0.0;
      json["table"]["validation_error"] = 0.0;
      spit(file, json.dump());
    }
  }
  std::vector<fs::path> cache_files() const {
    std::vector<fs::path> files;
    if (!fs::exists(dir_ / "cache" / "latte" / "latency")) return files;
    for (const auto& entry : fs::directory_iterator(dir_ / "cache" / "latte" / "latency"))
      files.push_back(entry.path());
    return files;
  }

  TempDir dir_{"latency_cli"};
  fs::path model_ = dir_ / "model";
  std::string environment_;
};

TEST_F(LatencyCli, FirstTargetProfilesOnceThenUsesTheCache) {
  CommandResult result = run(classify(""));  // no knob: nothing to profile
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_TRUE(cache_files().empty());
  result = run(classify("--speedup 2"));
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_NE(result.err.find("profiling it once"), std::string::npos) << result.err;
  EXPECT_NE(result.err.find("profile: done"), std::string::npos) << result.err;
  ASSERT_EQ(cache_files().size(), 1u);
  EXPECT_FALSE(fs::exists(model_ / "latte.json")) << "nothing latency-related goes into the model folder";
  mark_quiet();
  result = run(classify("--speedup 2"));
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_EQ(result.err.find("profil"), std::string::npos) << result.err;
  // plan reads the same table (it loads the model only to profile).
  result = run("plan --threads 1 --seq 32 --speedup 2 --model " + model_.string());
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_NE(result.out.find("latency model: table"), std::string::npos) << result.out;
  EXPECT_EQ(result.err.find("profil"), std::string::npos) << result.err;
  EXPECT_EQ(cache_files().size(), 1u);
}

TEST_F(LatencyCli, CorruptCacheAndUnwritableFolder) {
  ASSERT_EQ(run(classify("--speedup 2")).exit_code, 0);
  ASSERT_EQ(cache_files().size(), 1u);
  spit(cache_files()[0], "{\"format\": \"latte-latency-table\", \"tab");
  CommandResult result = run(classify("--speedup 2"));
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_NE(result.err.find("ignoring the cached latency table"), std::string::npos) << result.err;
  EXPECT_NO_THROW(nlohmann::json::parse(slurp(cache_files()[0])));

  spit(dir_ / "not_a_folder", "x");
  result = run(classify("--speedup 2"), "XDG_CACHE_HOME=" + (dir_ / "not_a_folder").string());
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_NE(result.err.find("cannot cache the latency table"), std::string::npos) << result.err;
}

TEST_F(LatencyCli, NoProfileKeepsTheFlopsPriorWithANotice) {
  for (const auto& [flag, environment] : {std::pair<std::string, std::string>{"--no-profile", ""},
                                          std::pair<std::string, std::string>{"", "LATTE_NO_PROFILE=1"}}) {
    const CommandResult result =
        run("plan --threads 1 --seq 32 --speedup 2 " + flag + " --model " + model_.string(), environment);
    ASSERT_EQ(result.exit_code, 0) << result.err;
    EXPECT_NE(result.out.find("latency model: flops"), std::string::npos) << result.out;
    EXPECT_NE(result.err.find("latency predicted from FLOPs"), std::string::npos) << result.err;
    EXPECT_EQ(std::count(result.err.begin(), result.err.end(), '\n'), 2) << result.err;  // + no calibration
    EXPECT_TRUE(cache_files().empty());
  }
}

TEST_F(LatencyCli, StaleLatteJsonDoesNotBlockDenseInference) {
  Sidecar sidecar;
  sidecar.calibration =
      Calibration{{1.0, 0.9}, {{1.0, 1.0, 1.0}, {0.8, 0.5, 0.3}}, {}, {}, 3};  // 3 layers; model has 2
  sidecar.write(model_);
  CommandResult result = run(classify(""));
  EXPECT_EQ(result.exit_code, 0) << result.err;
  result = run(classify("--speedup 2"));
  test_support::expect_one_line_error(result, "latte.json");
  spit(model_ / "latte.json", "{\"calibration\": {\"samples\": -1}}");
  EXPECT_EQ(run(classify("")).exit_code, 0);
  test_support::expect_one_line_error(run(classify("--coverage 0.9")), "calibration.samples");
}

TEST_F(LatencyCli, ProfileCommandPrintsTableAndValidation) {
  const CommandResult result = run("profile --threads 1 --rounds 1 --model " + model_.string());
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_NE(result.out.find("latency table:"), std::string::npos) << result.out;
  EXPECT_NE(result.out.find("validation"), std::string::npos) << result.out;
  EXPECT_NE(result.out.find("largest error"), std::string::npos) << result.out;
  EXPECT_EQ(cache_files().size(), 1u);
}

TEST_F(LatencyCli, ProfileAndPlanOnADecoder) {
  const std::string tiny = (fs::path(LATTE_TEST_DATA_DIR) / "gpt2" / "tiny").string();
  CommandResult result = run("profile --threads 1 --rounds 1 --model " + tiny);
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_NE(result.out.find("latency table:"), std::string::npos) << result.out;
  EXPECT_NE(result.out.find("validation"), std::string::npos) << result.out;
  EXPECT_NE(result.out.find("largest error"), std::string::npos) << result.out;
  ASSERT_EQ(cache_files().size(), 1u);
  EXPECT_TRUE(
      nlohmann::json::parse(slurp(cache_files()[0]))["table"]["layers"].contains(kDecoderPrefillLayer));
  mark_quiet();
  // plan and generate read the table profile wrote: neither profiles again.
  result = run("plan --threads 1 --seq 32 --speedup 2 --json --model " + tiny);
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_EQ(result.err.find("profil"), std::string::npos) << result.err;
  const nlohmann::json plan = nlohmann::json::parse(result.out);
  EXPECT_EQ(plan["latency_model"], "table");
  EXPECT_EQ(plan["kept"].size(), 3u);
  EXPECT_LT(plan["gflop"].get<double>(), plan["dense_gflop"].get<double>());
  EXPECT_GT(plan["predicted_speedup"].get<double>(), 1.0);
  result =
      run("generate --threads 1 --max-new-tokens 1 --speedup 2 --prompt-ids 1,2,3,4,5,6 --model " + tiny);
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_EQ(result.err.find("profil"), std::string::npos) << result.err;
  EXPECT_EQ(cache_files().size(), 1u);
  test_support::expect_one_line_error(run("plan --seq 65 --model " + tiny), "longest sequence of 64");
}

}  // namespace
}  // namespace latte

namespace latte {
namespace {

// A profile subject without a model: every pass returns at once, reporting phase times of
// 1 us per row (so its table is deterministic), and counts how often it was asked for.
ProfileSubject counting_subject(int& subjects) {
  ++subjects;
  ProfileSubject subject;
  subject.layer_kind = kEncoderLayer;
  subject.shape = ModelShape{2, 32, 64};
  subject.max_positions = 16;
  subject.vocab_size = 50;
  subject.run = [](std::span<const int32_t> ids, const Planner* planner, PhaseTimes* times) {
    const auto n0 = static_cast<int64_t>(ids.size());
    std::vector<int64_t> counts = planner ? planner->plan(n0).counts : std::vector<int64_t>(2, n0);
    if (times) {
      times->layer_in.clear();
      times->layer_kept.clear();
      int64_t rows = n0;
      for (const int64_t kept : counts) {
        times->layer_in.push_back(1e-6 * static_cast<double>(rows));
        times->layer_kept.push_back(1e-6 * static_cast<double>(kept));
        rows = kept;
      }
      times->head = 1e-6;
    }
    return counts;
  };
  return subject;
}

// The cached table of `key` in `folder`, edited by `edit`.
void edit_cached_table(const fs::path& folder, const LatencyKey& key,
                       const std::function<void(nlohmann::json&)>& edit) {
  const fs::path file = LatencyCache(folder).path_for(key);
  nlohmann::json json = nlohmann::json::parse(slurp(file));
  edit(json["table"]);
  spit(file, json.dump());
}

nlohmann::json cached_table(const fs::path& folder, const LatencyKey& key) {
  return nlohmann::json::parse(slurp(LatencyCache(folder).path_for(key)))["table"];
}

TEST(LatencyTable, ProvisionalFromLoadValidationOrAge) {
  LatencyTable table = synthetic_table(64);
  EXPECT_NE(table.provisional_reason(0.15).find("without validation"), std::string::npos);
  table.validation_error = 0.05;
  EXPECT_EQ(table.provisional_reason(0.15), "");
  table.validation_error = 0.31;
  EXPECT_NE(table.provisional_reason(0.15).find("off by up to 31 %"), std::string::npos)
      << table.provisional_reason(0.15);
  EXPECT_EQ(table.provisional_reason(0.5), "");
  table.validation_error = 0.05;
  table.profile_load = 3.5;
  table.profile_cores = 2;
  EXPECT_NE(table.provisional_reason(0.15).find("load average (3.50) exceeded the 2 cores"),
            std::string::npos)
      << table.provisional_reason(0.15);
}

TEST(LatencyTable, NewFieldsRoundTripAndOldTablesStillRead) {
  LatencyTable table = synthetic_table(64);
  table.profiled_at = 1764800000;
  table.validation_error = 0.07;
  table.refreshes = 2;
  table.profile_load = 1.25;
  table.profile_cores = 2;
  const LatencyTable back = LatencyTable::from_json(table.to_json(), "cache.json");
  EXPECT_EQ(back.profiled_at, 1764800000);
  ASSERT_TRUE(back.validation_error);
  EXPECT_DOUBLE_EQ(*back.validation_error, 0.07);
  EXPECT_EQ(back.refreshes, 2);
  EXPECT_EQ(back.to_json(), table.to_json());
  // Through the cache file as well.
  const TempDir dir("latency_fields");
  const LatencyCache cache(dir / "latency");
  ASSERT_TRUE(cache.store(test_key(), table, nullptr));
  const std::optional<LatencyTable> loaded = cache.load(test_key(), nullptr);
  ASSERT_TRUE(loaded);
  EXPECT_EQ(loaded->to_json(), table.to_json());

  // A table written before these fields: readable, and provisional (never validated).
  nlohmann::json old = table.to_json();
  for (const char* field : {"profiled_at", "validation_error", "refreshes"}) old.erase(field);
  const LatencyTable old_table = LatencyTable::from_json(old, "old.json");
  EXPECT_EQ(old_table.profiled_at, 0);
  EXPECT_FALSE(old_table.validation_error);
  EXPECT_EQ(old_table.refreshes, 0);
  EXPECT_NE(old_table.provisional_reason(kValidationTolerance), "");

  for (const auto& [field, value] :
       std::vector<std::pair<std::string, nlohmann::json>>{{"validation_error", -0.5},
                                                           {"validation_error", "small"},
                                                           {"refreshes", 1.5},
                                                           {"refreshes", -1},
                                                           {"profiled_at", -3}}) {
    nlohmann::json bad = table.to_json();
    bad[field] = value;
    try {
      LatencyTable::from_json(bad, "cache.json");
      ADD_FAILURE() << "accepted " << field << " = " << value.dump();
    } catch (const FormatError& error) {
      EXPECT_NE(std::string(error.what()).find(field), std::string::npos) << error.what();
    }
  }
}

TEST(LatencyProfile, ValidationErrorIsTheLargestRelativeMiss) {
  EXPECT_FALSE(validation_error({}));
  std::vector<ValidationPoint> points(3);
  points[0].measured_ms = 1.1, points[0].predicted_ms = 1.0;
  points[1].measured_ms = 0.7, points[1].predicted_ms = 1.0;
  points[2].measured_ms = 2.0, points[2].predicted_ms = 2.0;
  ASSERT_TRUE(validation_error(points));
  EXPECT_NEAR(*validation_error(points), 0.3, 1e-12);
}

TEST(LatencyDrift, DenseTimeAndSpeedupsAgainstTolerance) {
  LatencyCheck check;
  check.dense_rows = 128;
  check.dense_predicted_ms = 2.0;
  check.dense_measured_ms = 2.1;
  check.dense_error = 0.05;
  check.speedups = {{2.0, 1.95}, {5.0, 4.8}};
  EXPECT_FALSE(latency_drift(check)) << *latency_drift(check);

  // The case: a table profiled while the VM ran faster.
  check.dense_predicted_ms = 1.6;
  check.dense_error = 0.31;
  std::optional<std::string> drift = latency_drift(check);
  ASSERT_TRUE(drift);
  EXPECT_EQ(*drift,
            "the latency table predicted 1.60 ms for a dense pass of 128 rows, measured 2.10 ms (+31 %)");
  // A speedup off by more than its tolerance.
  check.dense_error = 0.05;
  check.speedups.push_back({5.0, 4.46});
  drift = latency_drift(check);
  ASSERT_TRUE(drift);
  EXPECT_EQ(*drift, "the latency table predicted a 5.00x speedup, measured 4.46x (-11 %)");
  // Timings of a run on oversubscribed cores judge nothing.
  check.busy = true;
  EXPECT_FALSE(latency_drift(check));
  // The worst miss relative to its tolerance is the one reported.
  check.busy = false;
  check.dense_error = 0.40;
  EXPECT_NE(latency_drift(check)->find("dense pass"), std::string::npos);
  EXPECT_NE(latency_drift(check, LatencyTolerance{.dense = 0.5, .speedup = 0.1})->find("4.46x"),
            std::string::npos);
}

TEST(LatencyDrift, CheckTimingComparesEachRunWithTheTable) {
  const LatencyModel latency(synthetic_table(512, 3));
  const ModelShape shape{3, 32, 64};
  const std::vector<int64_t> rows = {64, 128};
  const double dense_64 = latency.dense_seconds(64, shape) * 1e3;
  const double dense_128 = latency.dense_seconds(128, shape) * 1e3;
  PairedTiming timing;
  // Input 0 ran 20 % slower than predicted, input 1 40 %, in two dense runs each.
  timing.dense_milliseconds = {1.2 * dense_64, 1.2 * dense_64, 1.4 * dense_128, 1.4 * dense_128};
  timing.dense_inputs = {0, 0, 1, 1};
  timing.dense_ms = spread(timing.dense_milliseconds);
  timing.variants.resize(2);
  timing.variants[0].kept = {{64, 64, 64}, {128, 128, 128}};  // the scoring variant: no planner
  timing.variants[1].kept = {{32, 16, 8}, {64, 32, 16}};
  timing.variants[1].speedup = Spread{1.9, 1.8, 2.0};
  timing.cores = 2;
  timing.peak_load = 0.5;
  const Planner planner(Knobs{.speedup = 2.0}, shape, std::nullopt, latency, nullptr);
  const LatencyCheck check = check_timing(timing, rows, {nullptr, &planner}, latency, shape);
  EXPECT_NEAR(check.dense_error, 0.3, 1e-9);  // median of 0.2, 0.2, 0.4, 0.4
  EXPECT_EQ(check.dense_rows, 96);
  EXPECT_NEAR(check.dense_predicted_ms, 0.5 * (dense_64 + dense_128), 1e-12);
  EXPECT_DOUBLE_EQ(check.dense_measured_ms, timing.dense_ms.median);
  ASSERT_EQ(check.speedups.size(), 1u);
  const double predicted =
      0.5 * (planner.plan(64).predicted_speedup.value() + planner.plan(128).predicted_speedup.value());
  EXPECT_NEAR(check.speedups[0].predicted, predicted, 1e-12);
  EXPECT_DOUBLE_EQ(check.speedups[0].measured, 1.9);
  EXPECT_FALSE(check.busy);
  timing.peak_load = 3.0;
  EXPECT_TRUE(check_timing(timing, rows, {nullptr, &planner}, latency, shape).busy);
}

TEST(LatencyDrift, ProvisionalTablesAreProfiledAgainUpToALimit) {
  const TempDir dir("latency_provisional");
  int subjects = 0;
  const auto subject = [&] { return counting_subject(subjects); };
  LatencySourceOptions options;
  options.cache_dir = dir / "latency";
  std::ostringstream notices;
  options.notices = &notices;
  const LatencyKey key = test_key();
  EXPECT_TRUE(machine_latency_model(key, kEncoderLayer, subject, options).measured());
  EXPECT_EQ(subjects, 1);
  nlohmann::json stored = cached_table(*options.cache_dir, key);
  EXPECT_GT(stored["profiled_at"].get<int64_t>(), 0);
  EXPECT_TRUE(stored["validation_error"].is_number()) << "first-use profiles are validated";
  EXPECT_EQ(stored["refreshes"], 0);

  // Trusted (quiet, validated): used as it is.
  edit_cached_table(*options.cache_dir, key, [](nlohmann::json& table) {
    table["profile_load"] = 0.0;
    table["validation_error"] = 0.02;
  });
  notices.str("");
  EXPECT_TRUE(machine_latency_model(key, kEncoderLayer, subject, options).measured());
  EXPECT_EQ(subjects, 1);
  EXPECT_EQ(notices.str(), "");

  // Its validation far off: used once more only after a new profile, which counts as a refresh.
  edit_cached_table(*options.cache_dir, key, [](nlohmann::json& table) { table["validation_error"] = 0.6; });
  EXPECT_TRUE(machine_latency_model(key, kEncoderLayer, subject, options).measured());
  EXPECT_EQ(subjects, 2);
  EXPECT_NE(
      notices.str().find("the cached latency table is provisional (its validation passes were off by up "
                         "to 60 %"),
      std::string::npos)
      << notices.str();
  EXPECT_NE(notices.str().find("re-profiling it"), std::string::npos) << notices.str();
  EXPECT_EQ(cached_table(*options.cache_dir, key)["refreshes"], 1);

  // After kMostRefreshes in a row it is kept, with a notice naming the file to delete.
  edit_cached_table(*options.cache_dir, key, [](nlohmann::json& table) {
    table["validation_error"] = 0.6;
    table["refreshes"] = kMostRefreshes;
  });
  notices.str("");
  EXPECT_TRUE(machine_latency_model(key, kEncoderLayer, subject, options).measured());
  EXPECT_EQ(subjects, 2);
  EXPECT_NE(notices.str().find("re-profiled 3 times in a row already, so it is kept (delete " +
                               LatencyCache(*options.cache_dir).path_for(key).string()),
            std::string::npos)
      << notices.str();

  // Profiling not allowed (no target needs latency): the provisional table serves as it is.
  options.allow_profile = false;
  edit_cached_table(*options.cache_dir, key, [](nlohmann::json& table) { table["refreshes"] = 0; });
  EXPECT_TRUE(machine_latency_model(key, kEncoderLayer, subject, options).measured());
  EXPECT_EQ(subjects, 2);
}

TEST(LatencyDrift, RecheckReprofilesForTheNextRunOrResetsTheCount) {
  const TempDir dir("latency_recheck");
  int subjects = 0;
  const auto subject = [&] { return counting_subject(subjects); };
  LatencySourceOptions options;
  options.cache_dir = dir / "latency";
  std::ostringstream notices;
  options.notices = &notices;
  const LatencyKey key = test_key();
  machine_latency_model(key, kEncoderLayer, subject, options);
  ASSERT_EQ(subjects, 1);
  const auto trust = [](int refreshes) {
    return [refreshes](nlohmann::json& table) {
      table["profile_load"] = 0.0;
      table["validation_error"] = 0.02;
      table["refreshes"] = refreshes;
    };
  };
  LatencyCheck held;
  held.dense_rows = 16;
  held.dense_predicted_ms = 1.0;
  held.dense_measured_ms = 1.05;
  held.dense_error = 0.05;
  LatencyCheck drifted = held;
  drifted.dense_measured_ms = 1.31;
  drifted.dense_error = 0.31;

  // Held: nothing profiled, nothing said; a count of earlier refreshes is reset.
  edit_cached_table(*options.cache_dir, key, trust(2));
  notices.str("");
  recheck_latency_table(key, kEncoderLayer, subject, held, options);
  EXPECT_EQ(subjects, 1);
  EXPECT_EQ(notices.str(), "");
  EXPECT_EQ(cached_table(*options.cache_dir, key)["refreshes"], 0);

  // Drifted: one notice and a fresh profile, cached for the next run.
  const int64_t before = cached_table(*options.cache_dir, key)["profiled_at"].get<int64_t>();
  edit_cached_table(*options.cache_dir, key, [](nlohmann::json& table) { table["profiled_at"] = 1; });
  recheck_latency_table(key, kEncoderLayer, subject, drifted, options);
  EXPECT_EQ(subjects, 2);
  EXPECT_NE(
      notices.str().find("latte: notice: the latency table predicted 1.00 ms for a dense pass of 16 rows, "
                         "measured 1.31 ms (+31 %); re-profiling it for the next run (this run's "
                         "predictions came from the old table)"),
      std::string::npos)
      << notices.str();
  const nlohmann::json fresh = cached_table(*options.cache_dir, key);
  EXPECT_GE(fresh["profiled_at"].get<int64_t>(), before);
  EXPECT_EQ(fresh["refreshes"], 1);

  // Found off again after kMostRefreshes re-profiles: kept, with a notice.
  edit_cached_table(*options.cache_dir, key, trust(kMostRefreshes));
  notices.str("");
  recheck_latency_table(key, kEncoderLayer, subject, drifted, options);
  EXPECT_EQ(subjects, 2);
  EXPECT_NE(notices.str().find("so it is kept"), std::string::npos) << notices.str();

  // Nothing cached (profiling off, or no cache folder): the notice alone.
  options.cache_dir = dir / "none";
  notices.str("");
  recheck_latency_table(key, kEncoderLayer, subject, drifted, options);
  EXPECT_EQ(subjects, 2);
  EXPECT_NE(notices.str().find("(+31 %)"), std::string::npos) << notices.str();
}

}  // namespace
}  // namespace latte

namespace latte {
namespace {

TEST_F(LatencyCli, FirstUseProfileOfADecoderLogsPlainProgress) {
  // stderr is a pipe here, as in a log: plain lines, no redraws.
  const std::string tiny = (fs::path(LATTE_TEST_DATA_DIR) / "gpt2" / "tiny").string();
  const CommandResult result = run("plan --threads 1 --seq 32 --speedup 2 --model " + tiny);
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_NE(result.err.find("profiling it once"), std::string::npos) << result.err;
  EXPECT_NE(result.err.find("\nprofile: done in "), std::string::npos) << result.err;
  EXPECT_EQ(result.err.find('\r'), std::string::npos) << result.err;
}

}  // namespace
}  // namespace latte
