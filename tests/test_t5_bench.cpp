// T5 in `latte init` (Flan-T5 shapes, Hugging Face's scaled initialisation) and `latte bench`
// (encoder, first token and decode steps, dense and pruned), and the T5 encoder's per-machine
// latency table (keyed apart from BERT's, with the decoder's memory projection in it). No timing
// thresholds: only relations that hold by construction (a first token includes its encoder).
#include <gtest/gtest.h>

#include <cmath>
#include <nlohmann/json.hpp>
#include <set>

#include "latte/eval/latency_profile.h"
#include "latte/eval/timing.h"
#include "latte/io/safetensors.h"
#include "latte/models/t5.h"
#include "latte/prune/latency_cache.h"
#include "latte/prune/plan.h"
#include "test_support.h"

namespace latte {
namespace {

namespace fs = std::filesystem;
using test_support::CommandResult;
using test_support::expect_one_line_error;
using test_support::run_latte;
using test_support::slurp;
using test_support::TempDir;

const fs::path kGated = fs::path(LATTE_TEST_DATA_DIR) / "t5" / "tiny_gated";
const fs::path kTokenizer = fs::path(LATTE_TEST_DATA_DIR) / "t5_tokenizer";

int64_t parameters(const std::vector<WeightSpec>& specs) {
  int64_t total = 0;
  for (const WeightSpec& spec : specs) total += shape_numel(spec.shape);
  return total;
}

double standard_deviation(const Tensor& tensor) {
  double sum = 0.0, squares = 0.0;
  const auto n = static_cast<double>(tensor.numel());
  for (int64_t i = 0; i < tensor.numel(); ++i) {
    sum += tensor.data()[i];
    squares += static_cast<double>(tensor.data()[i]) * tensor.data()[i];
  }
  return std::sqrt(squares / n - (sum / n) * (sum / n));
}

// A tiny T5 written by `latte init` into `dir` / "t5"; asserts it was written.
fs::path init_tiny(const TempDir& dir, const std::string& extra = "") {
  const fs::path out = dir / "t5";
  const CommandResult result =
      run_latte(dir.path(), "init --family t5 --preset tiny --vocab-size 256 --seed 3 --out " + out.string() +
                                " " + extra);
  EXPECT_EQ(result.exit_code, 0) << result.err;
  return out;
}

TEST(T5Init, PresetsHaveFlanT5Shapes) {
  const T5Config base = t5_preset("base", 32128);
  EXPECT_EQ(base.num_layers, 12);
  EXPECT_EQ(base.num_decoder_layers, 12);
  EXPECT_EQ(base.d_model, 768);
  EXPECT_EQ(base.d_ff, 2048);
  EXPECT_EQ(base.num_heads, 12);
  EXPECT_EQ(base.d_kv, 64);
  EXPECT_EQ(base.feed_forward_proj, "gated-gelu");
  EXPECT_FALSE(base.tie_word_embeddings);
  EXPECT_EQ(base.relative_attention_num_buckets, 32);
  EXPECT_EQ(base.relative_attention_max_distance, 128);
  // google/flan-t5-base's parameter count as Hugging Face reports it (num_parameters()).
  EXPECT_EQ(parameters(t5_weight_specs(base)), 247577856);

  const T5Config small = t5_preset("small", 32128);
  EXPECT_EQ(small.num_layers, 8);
  EXPECT_EQ(small.d_model, 512);
  EXPECT_EQ(small.d_ff, 1024);
  EXPECT_EQ(small.num_heads, 6);
  EXPECT_EQ(small.d_kv, 64);
  EXPECT_EQ(t5_preset("small", 100, 3).num_decoder_layers, 3);

  // config.json as written reads back as the same model.
  const T5Config read = T5Config::from_json(base.to_json(), "config.json");
  EXPECT_EQ(read.d_kv, 64);
  EXPECT_EQ(read.num_decoder_layers, 12);
  EXPECT_EQ(read.eos_token_id, std::optional<int32_t>(1));
  EXPECT_EQ(read.max_tokens, 512);
  EXPECT_FALSE(read.tie_word_embeddings);

  EXPECT_NE(test_support::error_of([] { t5_preset("1b", 100); }).find("unknown T5 preset '1b'"),
            std::string::npos);
  EXPECT_NE(test_support::error_of([] { t5_preset("tiny", 100, 0); }).find("1..48 layers"),
            std::string::npos);
}

// init writes what T5Model loads, with Hugging Face's T5 initialisation scales, and info and
// generate run on it.
TEST(T5Init, TinyFolderRunsWithHuggingFaceScales) {
  TempDir dir("t5_init");
  const fs::path folder = init_tiny(dir);
  const nlohmann::json config = nlohmann::json::parse(slurp(folder / "config.json"));
  EXPECT_EQ(config["architectures"][0], "T5ForConditionalGeneration");
  EXPECT_EQ(config["model_type"], "t5");
  EXPECT_EQ(config["vocab_size"], 256);
  EXPECT_EQ(config["d_model"], 64);
  EXPECT_EQ(config["feed_forward_proj"], "gated-gelu");
  EXPECT_EQ(config["tie_word_embeddings"], false);

  const CommandResult info = run_latte(dir.path(), "info --json --model " + folder.string());
  ASSERT_EQ(info.exit_code, 0) << info.err;
  const nlohmann::json described = nlohmann::json::parse(info.out);
  EXPECT_EQ(described["task"], "seq2seq-lm");
  EXPECT_EQ(described["layers"], 2);
  EXPECT_EQ(described["decoder_layers"], 2);
  EXPECT_EQ(described["hidden_size"], 64);
  EXPECT_EQ(described["head_dim"], 16);
  EXPECT_EQ(described["intermediate_size"], 128);
  const std::vector<WeightSpec> specs = t5_weight_specs(T5Config::from_file(folder / "config.json"));
  EXPECT_EQ(described["parameters"], parameters(specs));
  EXPECT_EQ(described["checked"]["tensors"], static_cast<int64_t>(specs.size()));

  // Each matrix drawn at the scale modeling_t5.py's _init_weights gives it (4096+ values each:
  // the sample deviation is within a few percent).
  const WeightStore store = WeightStore::open(folder);
  const auto deviation = [&](const std::string& name) {
    return standard_deviation(store.load(name, store.entry(name).shape));
  };
  EXPECT_NEAR(deviation("shared.weight"), 1.0, 0.03);
  EXPECT_NEAR(deviation("lm_head.weight"), 1.0, 0.03);
  EXPECT_NEAR(deviation("encoder.block.0.layer.0.SelfAttention.q.weight"), 1.0 / std::sqrt(64.0 * 16.0),
              0.002);
  EXPECT_NEAR(deviation("encoder.block.1.layer.0.SelfAttention.k.weight"), 1.0 / 8.0, 0.006);
  EXPECT_NEAR(deviation("decoder.block.0.layer.1.EncDecAttention.o.weight"), 1.0 / 8.0, 0.006);
  EXPECT_NEAR(deviation("decoder.block.1.layer.2.DenseReluDense.wi_1.weight"), 1.0 / 8.0, 0.006);
  EXPECT_NEAR(deviation("encoder.block.0.layer.1.DenseReluDense.wo.weight"), 1.0 / std::sqrt(128.0), 0.005);
  const Tensor norm = store.load("decoder.block.1.layer.2.layer_norm.weight", {64});
  for (int64_t i = 0; i < norm.numel(); ++i) ASSERT_EQ(norm.data()[i], 1.0f);

  const CommandResult generated = run_latte(
      dir.path(), "generate --json --max-new-tokens 4 --prompt-ids 17,99,3,250,1 --model " + folder.string());
  ASSERT_EQ(generated.exit_code, 0) << generated.err;
  const nlohmann::json line = nlohmann::json::parse(generated.out);
  EXPECT_EQ(line["ids"].size(), 4u);
  EXPECT_EQ(line["kept"], nlohmann::json({5, 5}));

  // The same seed in bf16: half the bytes, and it runs.
  TempDir bf16_dir("t5_init_bf16");
  const fs::path bf16 = init_tiny(bf16_dir, "--dtype bf16");
  EXPECT_LT(fs::file_size(bf16 / "model.safetensors"),
            fs::file_size(folder / "model.safetensors") / 2 + 4096);
  EXPECT_EQ(
      run_latte(bf16_dir.path(), "generate --max-new-tokens 2 --prompt-ids 5,1 --model " + bf16.string())
          .exit_code,
      0);
}

TEST(T5Init, TokenizerSetsTheVocabularyAndBadInputsWriteNothing) {
  TempDir dir("t5_init_tokenizer");
  const fs::path folder = dir / "t5";
  CommandResult result = run_latte(dir.path(), "init --family t5 --preset tiny --tokenizer " +
                                                   kTokenizer.string() + " --out " + folder.string());
  ASSERT_EQ(result.exit_code, 0) << result.err;
  // 2,000 pieces and 100 sentinels, padded to a multiple of 64 as Hugging Face's 32,100 to 32,128.
  EXPECT_EQ(nlohmann::json::parse(slurp(folder / "config.json"))["vocab_size"], 2112);
  EXPECT_TRUE(fs::exists(folder / "spiece.model"));
  result = run_latte(dir.path(), "tokenize --json --model " + folder.string() + " \"Hello world\"");
  ASSERT_EQ(result.exit_code, 0) << result.err;
  // Debian's python3-sentencepiece on this model: [84, 52, 124, 428], then </s>.
  EXPECT_EQ(nlohmann::json::parse(result.out)["ids"], nlohmann::json({84, 52, 124, 428, 1}));
  result =
      run_latte(dir.path(), "generate --json --max-new-tokens 2 --model " + folder.string() + " \"Hello\"");
  ASSERT_EQ(result.exit_code, 0) << result.err;

  const fs::path absent = dir / "absent";
  expect_one_line_error(
      run_latte(dir.path(), "init --family t5 --tokenizer " + kGated.string() + " --out " + absent.string()),
      "has no spiece.model");
  expect_one_line_error(run_latte(dir.path(), "init --family t5 --vocab-size 2000 --tokenizer " +
                                                  kTokenizer.string() + " --out " + absent.string()),
                        "--vocab-size 2000 is below the 2100 tokens");
  expect_one_line_error(run_latte(dir.path(), "init --family t5 --preset 8b --out " + absent.string()),
                        "unknown T5 preset '8b'");
  expect_one_line_error(run_latte(dir.path(), "init --family t5 --layers 49 --out " + absent.string()),
                        "1..48 layers");
  EXPECT_FALSE(fs::exists(absent));
}

// bench on a T5: BERT's keys with the encoder's times, plus the first token and decode steps.
TEST(T5Bench, JsonHasTheEncoderFirstTokenAndDecodeTimes) {
  TempDir dir("t5_bench");
  const fs::path folder = init_tiny(dir);
  const CommandResult result =
      run_latte(dir.path(),
                "bench --json --threads 1 --seq 32 --repeats 2 --warmup 1 --decode-tokens 3 "
                "--keep 24,12 --mode static --model " +
                    folder.string(),
                "", "XDG_CACHE_HOME=" + (dir / "cache").string());  // no table: the knob needs none
  ASSERT_EQ(result.exit_code, 0) << result.err;
  const std::vector<std::string> lines = test_support::lines_of(result.out);
  ASSERT_EQ(lines.size(), 2u) << result.out;
  const nlohmann::json dense = nlohmann::json::parse(lines[0]);
  const nlohmann::json pruned = nlohmann::json::parse(lines[1]);
  for (const char* key : {"config",
                          "dtype",
                          "seq",
                          "batch",
                          "threads",
                          "repeats",
                          "median_ms",
                          "p10_ms",
                          "p90_ms",
                          "gflop",
                          "gflops",
                          "gemm_ceiling_gflops",
                          "fraction_of_ceiling",
                          "measured_speedup",
                          "measured_speedup_p10",
                          "measured_speedup_p90",
                          "kept",
                          "memory",
                          "encoder_ms",
                          "first_token_ms",
                          "decode_ms_per_token",
                          "decode_tokens"}) {
    EXPECT_TRUE(dense.contains(key)) << key;
    EXPECT_TRUE(pruned.contains(key)) << key;
  }
  EXPECT_EQ(dense["config"], "dense");
  EXPECT_EQ(pruned["config"], "pruned");
  EXPECT_EQ(dense["kept"], nlohmann::json({32, 32}));
  EXPECT_EQ(pruned["kept"], nlohmann::json({24, 12}));
  EXPECT_EQ(dense["decode_tokens"], 3);
  EXPECT_EQ(dense["dtype"], "f32");
  for (const nlohmann::json& line : {dense, pruned}) {
    EXPECT_GT(line["median_ms"].get<double>(), 0.0);
    EXPECT_EQ(line["encoder_ms"], line["median_ms"]);
    // Timed in the same runs as the encoder it includes.
    EXPECT_GE(line["first_token_ms"].get<double>(), line["median_ms"].get<double>());
    EXPECT_GT(line["decode_ms_per_token"].get<double>(), 0.0);
    EXPECT_GT(line["measured_speedup"].get<double>(), 0.0);
  }
  // Fewer rows: less arithmetic in the encoder and the memory, a smaller cross-attention cache.
  EXPECT_LT(pruned["gflop"].get<double>(), dense["gflop"].get<double>());
  EXPECT_LT(pruned["kv_cache_bytes"].get<int64_t>(), dense["kv_cache_bytes"].get<int64_t>());
  EXPECT_EQ(pruned["latency_model"], "flops") << "--keep needs no latency table";
  EXPECT_FALSE(dense.contains("latency_model"));

  // The human table names the three times; int8 and bf16 run too.
  for (const char* dtype : {"f32", "int8", "bf16"}) {
    const CommandResult human = run_latte(
        dir.path(), std::string("bench --threads 1 --seq 16 --repeats 1 --warmup 0 --decode-tokens 2 "
                                "--keep 8,4 --dtype ") +
                        dtype + " --model " + folder.string());
    ASSERT_EQ(human.exit_code, 0) << dtype << ": " << human.err;
    EXPECT_NE(human.out.find("encoder_ms"), std::string::npos) << human.out;
    EXPECT_NE(human.out.find("first_token_ms"), std::string::npos) << human.out;
    EXPECT_NE(human.out.find("decode_ms/tok"), std::string::npos) << human.out;
    EXPECT_NE(human.out.find("8,4"), std::string::npos) << human.out;
  }
  expect_one_line_error(run_latte(dir.path(), "bench --seq 600 --model " + folder.string()),
                        "--seq 600 exceeds the 512 tokens the model's encoder takes");
  expect_one_line_error(run_latte(dir.path(), "bench --seq 8 --batch 2 --model " + folder.string()),
                        "--batch");
  expect_one_line_error(run_latte(dir.path(), "bench --seq 8 --keep 4,8 --model " + folder.string()),
                        "--keep");
}

// --speedup on a T5 plans the encoder from a latency table profiled on first use and cached
// under a key of its own; --no-profile falls back to the FLOPs prior, and says so.
TEST(T5Bench, SpeedupsArePlannedFromTheMeasuredEncoderTable) {
  TempDir dir("t5_bench_table");
  const fs::path folder = init_tiny(dir);
  const std::string environment = "XDG_CACHE_HOME=" + (dir / "cache").string();
  const std::string bench =
      "bench --json --threads 1 --seq 48 --repeats 1 --warmup 0 --decode-tokens 1 "
      "--speedups 2 --model " +
      folder.string();
  CommandResult result = run_latte(dir.path(), bench, "", environment);
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_NE(result.err.find("profiling it once"), std::string::npos) << result.err;
  std::vector<std::string> lines = test_support::lines_of(result.out);
  ASSERT_EQ(lines.size(), 2u) << result.out;
  nlohmann::json pruned = nlohmann::json::parse(lines[1]);
  EXPECT_EQ(pruned["latency_model"], "table");
  EXPECT_EQ(pruned["requested_speedup"], 2.0);
  EXPECT_GT(pruned["predicted_speedup"].get<double>(), 1.0);
  EXPECT_LT(pruned["kept"].back().get<int64_t>(), 48);

  const fs::path cache = dir / "cache" / "latte" / "latency";
  ASSERT_TRUE(fs::exists(cache));
  std::vector<fs::path> files;
  for (const auto& entry : fs::directory_iterator(cache)) files.push_back(entry.path());
  ASSERT_EQ(files.size(), 1u);
  const nlohmann::json cached = nlohmann::json::parse(slurp(files[0]));
  EXPECT_EQ(cached["key"]["family"], "t5");
  EXPECT_EQ(cached["key"]["relative_bias"], true);
  EXPECT_EQ(cached["key"]["gated_ffn"], true);
  EXPECT_EQ(cached["key"]["head_dim"], 16);
  EXPECT_EQ(cached["key"]["memory_layers"], 2);
  EXPECT_TRUE(cached["table"]["layers"].contains(kEncoderLayer));
  EXPECT_EQ(cached["table"]["memory"]["rows"], cached["table"]["dense_forward"]["rows"]);

  // As if profiled on a quiet machine and validated (a provisional table is measured again, which
  // would make what follows depend on the load): plan and generate read it, neither profiles.
  nlohmann::json quiet = cached;
  quiet["table"]["profile_load"] = 0.0;
  quiet["table"]["validation_error"] = 0.0;
  test_support::spit(files[0], quiet.dump());
  result = run_latte(dir.path(), "plan --json --threads 1 --seq 48 --speedup 2 --model " + folder.string(),
                     "", environment);
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_EQ(result.err.find("profil"), std::string::npos) << result.err;
  const nlohmann::json plan = nlohmann::json::parse(result.out);
  EXPECT_EQ(plan["latency_model"], "table");
  EXPECT_EQ(plan["kept"].size(), 2u);
  result = run_latte(dir.path(),
                     "generate --json --threads 1 --max-new-tokens 2 --speedup 2 --prompt-ids "
                     "9,8,7,6,5,4,3,2,9,8,7,6,5,4,3,1 --model " +
                         folder.string(),
                     "", environment);
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_EQ(result.err.find("profil"), std::string::npos) << result.err;
  EXPECT_LT(nlohmann::json::parse(result.out)["kept"].back().get<int64_t>(), 16);
  result =
      run_latte(dir.path(), "profile --threads 1 --rounds 1 --model " + folder.string(), "", environment);
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_NE(result.out.find("memory_us"), std::string::npos) << result.out;

  // plan reads the same table; with --no-profile it predicts from FLOPs.
  result = run_latte(dir.path(),
                     "plan --json --threads 1 --seq 48 --speedup 2 --no-profile --model " + folder.string(),
                     "", environment);
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_EQ(nlohmann::json::parse(result.out)["latency_model"], "flops");
  result = run_latte(dir.path(), bench + " --no-profile", "", environment);
  ASSERT_EQ(result.exit_code, 0) << result.err;
  lines = test_support::lines_of(result.out);
  ASSERT_EQ(lines.size(), 2u) << result.out;
  EXPECT_EQ(nlohmann::json::parse(lines[1])["latency_model"], "flops");
  EXPECT_NE(result.err.find("latency predicted from FLOPs"), std::string::npos) << result.err;
}

// A T5 encoder table written for this machine: the planner follows it, not the FLOPs prior. In
// this table the decoder's memory (by the rows leaving the last layer) costs far more than the
// layers, so a speedup of 2 needs about half the rows to leave the encoder.
TEST(T5LatencyTable, PlansFollowTheMeasuredTableNotTheFlopsPrior) {
  T5Model model = T5Model::load(kGated);
  const ModelShape shape = model.encoder_shape();
  EXPECT_TRUE(shape.relative_bias);
  EXPECT_EQ(shape.memory_layers, 3);
  EXPECT_EQ(shape.head_dim, 8);
  EXPECT_TRUE(shape.gated_ffn);
  LatencyTable table;
  LayerLatency layer;
  for (const int64_t rows : default_profile_grid(512)) {
    const double n = static_cast<double>(rows);
    for (RowCurve* curve : {&layer.in, &layer.kept, &table.embeddings}) {
      curve->rows.push_back(rows);
      curve->seconds.push_back(curve == &table.embeddings ? 0.0 : 1e-8 * n);
    }
    table.memory.rows.push_back(rows);
    table.memory.seconds.push_back(1e-5 * n);
    table.dense_forward.rows.push_back(rows);
    table.dense_forward.seconds.push_back(2 * 2e-8 * n + 1e-5 * n);
  }
  table.layers[kEncoderLayer] = layer;
  table.validation_error = 0.0;
  table.profile_cores = 2;
  const TempDir cache_dir("t5_table");
  const LatencyKey key = latency_key(model);
  ASSERT_TRUE(LatencyCache(cache_dir.path()).store(key, table, nullptr));

  LatencySourceOptions source;
  source.cache_dir = cache_dir.path();
  source.allow_profile = false;
  const LatencyModel measured = machine_latency_model(
      key, kEncoderLayer, []() -> ProfileSubject { throw Error("no profile expected"); }, source);
  ASSERT_TRUE(measured.measured());
  const Knobs knobs{.speedup = 2.0, .mode = PruneMode::kStatic};
  const SequencePlan table_plan = Planner(knobs, shape, std::nullopt, measured, nullptr).plan(64);
  const SequencePlan prior_plan = Planner(knobs, shape, std::nullopt, LatencyModel{}, nullptr).plan(64);
  ASSERT_EQ(table_plan.expected_counts.size(), 2u);
  EXPECT_NE(table_plan.expected_counts, prior_plan.expected_counts);
  // The memory term rules: the last layer keeps about half of the 64 rows.
  EXPECT_NEAR(static_cast<double>(table_plan.expected_counts.back()), 32.0, 3.0);
  EXPECT_NEAR(*table_plan.predicted_speedup, 2.0, 0.1);

  // A BERT of the same sizes has a key without the encoder-decoder's fields: another table.
  LatencyKey bert = key;
  bert.family = "bert";
  bert.head_dim = 0;
  bert.relative_bias = bert.gated_ffn = false;
  bert.memory_layers = 0;
  EXPECT_FALSE(bert.to_json().contains("relative_bias"));
  EXPECT_FALSE(bert.to_json().contains("memory_layers"));
  LatencyKey same_but_no_bias = key;
  same_but_no_bias.relative_bias = false;
  EXPECT_NE(same_but_no_bias.hash(), key.hash());
}

// The profile of a T5 times its encoder layers inside pruning passes and the memory projection
// by the rows that reach it; the table predicts with both.
TEST(T5LatencyTable, ProfileTimesTheLayersAndTheMemory) {
  T5Model model = T5Model::load(kGated);
  ProfileOptions options;
  options.grid = {1, 2, 4, 8, 16};
  options.rounds = 1;
  options.validate = false;
  const ProfileReport report = profile_latency(profile_subject(model), options);
  const LatencyTable& table = report.table;
  EXPECT_EQ(table.layer(kEncoderLayer).in.rows, options.grid);
  EXPECT_EQ(table.memory.rows, options.grid);
  EXPECT_GT(table.memory.seconds.back(), 0.0);
  const LatencyModel latency(table);
  const ModelShape shape = model.encoder_shape();
  LatencyTable without_memory = table;
  without_memory.memory = RowCurve{};
  EXPECT_NEAR(latency.forward_seconds(16, {8, 4}, shape) -
                  LatencyModel(without_memory).forward_seconds(16, {8, 4}, shape),
              table.memory.at(4.0), 1e-12);

  // The curve survives the cache's JSON; a table without one writes none (BERT's as before).
  const LatencyTable read = LatencyTable::from_json(table.to_json(), "table.json");
  EXPECT_EQ(read.memory.rows, table.memory.rows);
  EXPECT_FALSE(without_memory.to_json().contains("memory"));
  nlohmann::json bad = table.to_json();
  bad["memory"]["seconds"][0] = -1.0;
  EXPECT_NE(
      test_support::error_of([&] { LatencyTable::from_json(bad, "table.json"); }).find("memory.seconds"),
      std::string::npos);
}

// A pass that reports an enclosing span: it is paired like the pass's own time.
TEST(PairedTiming, OuterSpansArePairedLikeThePass) {
  const TimedPass pass = [](size_t, int variant) {
    return variant < 0 ? PassResult{{}, 4.0, 6.0} : PassResult{{}, 1.0, 3.0};
  };
  PairedTimingOptions options;
  options.rounds = 3;
  options.warm_up = 1;
  const PairedTiming timing = time_paired(1, 1, pass, options);
  EXPECT_EQ(timing.dense_outer.milliseconds.size(), timing.dense_milliseconds.size());
  EXPECT_DOUBLE_EQ(timing.dense_outer.ms.median, 6.0);
  EXPECT_DOUBLE_EQ(timing.variants[0].speedup.median, 4.0);
  EXPECT_DOUBLE_EQ(timing.variants[0].outer.ms.median, 3.0);
  EXPECT_DOUBLE_EQ(timing.variants[0].outer.speedup.median, 2.0);
  EXPECT_EQ(timing.variants[0].outer.ratios.size(), 3u);
}

}  // namespace
}  // namespace latte
