// ACC elimination: the keep rule, knobs, planner, and the engine against a
// slow reference that recomputes each layer on only the kept rows.
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <sstream>

#include "latte/core/error.h"
#include "latte/io/safetensors.h"
#include "latte/models/bert.h"
#include "latte/prune/plan.h"
#include "latte/prune/selection.h"
#include "latte/prune/sidecar.h"
#include "test_support.h"

namespace latte {
namespace {

const std::filesystem::path kBertData = std::filesystem::path(LATTE_TEST_DATA_DIR) / "bert";

TEST(PruneSelection, CoverageKeepCount) {
  const std::vector<float> scores = {4.0f, 1.0f, 3.0f, 2.0f};  // total 10
  EXPECT_EQ(coverage_keep_count(scores, 1.0, 1), 4);
  EXPECT_EQ(coverage_keep_count(scores, 0.4, 1), 1);   // 4/10
  EXPECT_EQ(coverage_keep_count(scores, 0.41, 1), 2);  // 7/10
  EXPECT_EQ(coverage_keep_count(scores, 0.7, 1), 2);
  EXPECT_EQ(coverage_keep_count(scores, 0.71, 1), 3);
  EXPECT_EQ(coverage_keep_count(scores, 0.1, 3), 3);  // k_min
}

TEST(PruneSelection, KeepsProtectedAndOriginalOrderWithTiesToEarlier) {
  const std::vector<float> scores = {0.1f, 5.0f, 2.0f, 5.0f, 2.0f};
  const int64_t cls[] = {0};
  EXPECT_EQ(select_kept_rows(scores, 3, cls), (std::vector<int64_t>{0, 1, 3}));
  EXPECT_EQ(select_kept_rows(scores, 4, cls), (std::vector<int64_t>{0, 1, 2, 3}));  // tie 2 vs 4: earlier
  EXPECT_EQ(select_kept_rows(scores, 1, cls), (std::vector<int64_t>{0}));
  EXPECT_EQ(select_kept_rows(scores, 0, cls), (std::vector<int64_t>{0}));  // protected count toward keep
  EXPECT_EQ(select_kept_rows(scores, 9, cls).size(), 5u);
}

TEST(PruneSelection, AccCurveRisesToOne) {
  const std::vector<float> scores = {1.0f, 3.0f};
  const std::vector<double> curve = acc_curve(scores);
  ASSERT_EQ(curve.size(), 2u);
  EXPECT_DOUBLE_EQ(curve[0], 0.75);
  EXPECT_DOUBLE_EQ(curve[1], 1.0);
}

TEST(PruneKnobs, InvalidKnobsAreRejected) {
  auto rejects = [](Knobs knobs, const std::string& fragment) {
    try {
      knobs.validate(4);
      ADD_FAILURE() << "accepted: " << fragment;
    } catch (const InputError& error) {
      EXPECT_NE(std::string(error.what()).find(fragment), std::string::npos) << error.what();
    }
  };
  rejects(Knobs{.speedup = 0.9}, "speedup must be a number >= 1, got 0.9");
  rejects(Knobs{.speedup = NAN}, "speedup must be");
  rejects(Knobs{.coverage = 0.0}, "coverage must be in (0, 1]");
  rejects(Knobs{.coverage = 1.5}, "coverage must be in (0, 1]");
  rejects(Knobs{.keep = std::vector<int64_t>{4, 3, 2}}, "keep list has 3 entries; the model has 4 layers");
  rejects(Knobs{.keep = std::vector<int64_t>{4, 3, 0, 0}}, "positive");
  rejects(Knobs{.keep = std::vector<int64_t>{4, 3, -1, -2}}, "positive");
  rejects(Knobs{.keep = std::vector<int64_t>{4, 5, 2, 1}}, "non-increasing");
  rejects(Knobs{.coverage = 0.5, .speedup = 2.0}, "only one");
  rejects(Knobs{.latency_ms = -1.0}, "latency budget must be");
  rejects(Knobs{.min_keep = 0}, "min_keep must be at least 1");
  EXPECT_THROW(parse_keep_list("4,x,2"), InputError);
  EXPECT_THROW(parse_keep_list(""), InputError);
  EXPECT_EQ(parse_keep_list("8,4,2"), (std::vector<int64_t>{8, 4, 2}));
}

// The cost model's FLOPs and bytes, checked against values worked out by hand (d = 8, f = 32).
TEST(CostModel, LayerFlopsByHand) {
  const ModelShape encoder{2, 8, 32};
  // 4 rows in, 2 kept: QKV 2*4*8*(8+16) = 1536, output 2*2*64 = 256, FFN 2*2*2*8*32 = 2048.
  EXPECT_DOUBLE_EQ(layer_flops(4, 2, encoder).gemm, 3840.0);
  EXPECT_DOUBLE_EQ(layer_flops(4, 2, encoder).attention, 512.0);  // 4 * 4^2 * 8
  ModelShape causal = encoder;
  causal.causal = true;
  EXPECT_DOUBLE_EQ(layer_flops(4, 2, causal).attention, 256.0);
  // 4 query heads sharing 1 key/value head (width 2) and a gated FFN:
  // QKV 2*4*8*(8+4) = 768, output 256, FFN 2*3*2*8*32 = 3072.
  const ModelShape llama{2, 8, 32, true, 4, 1, true, 10};
  EXPECT_EQ(llama.kv_width(), 2);
  EXPECT_EQ(llama.ffn_matrices(), 3);
  EXPECT_DOUBLE_EQ(layer_flops(4, 2, llama).gemm, 4096.0);
  EXPECT_DOUBLE_EQ(forward_flops(4, {2, 1}, llama),
                   layer_flops(4, 2, llama).total() + layer_flops(2, 1, llama).total());
}

TEST(CostModel, DecodeStepAndCrossAttentionFlopsByHand) {
  const ModelShape gpt2{2, 8, 32, true, 2, 2, false, 10};
  // One query row over 5 keys: QKV 2*8*24 = 384, output 128, FFN 2*2*8*32 = 1024; 4*5*8.
  EXPECT_DOUBLE_EQ(decoder_step_flops(5, gpt2).gemm, 1536.0);
  EXPECT_DOUBLE_EQ(decoder_step_flops(5, gpt2).attention, 160.0);
  const ModelShape llama{2, 8, 32, true, 4, 1, true, 10};
  // QKV 2*8*(8+4) = 192, output 128, gated FFN 2*3*8*32 = 1536.
  EXPECT_DOUBLE_EQ(decoder_step_flops(5, llama).gemm, 1856.0);
  EXPECT_DOUBLE_EQ(decoder_step_flops(5, llama).attention, 160.0);  // every query head reads the rows
  // 3 decoder rows over 5 encoder rows: Q and output 4*3*64 = 768; K, V of the encoder rows
  // 4*5*8*2 = 320; scores and PV 4*3*5*8 = 480.
  EXPECT_DOUBLE_EQ(cross_attention_flops(3, 5, llama, true).gemm, 1088.0);
  EXPECT_DOUBLE_EQ(cross_attention_flops(3, 5, llama, false).gemm, 768.0);
  EXPECT_DOUBLE_EQ(cross_attention_flops(3, 5, llama, true).attention, 480.0);
}

TEST(CostModel, DecodeStepBytesAndRoofline) {
  const ModelShape gpt2{2, 8, 32, true, 2, 2, false, 10};
  // Per layer 8*24 + 64 + 2*8*32 = 768 floats; the head 10*8; caches of 5 and 3 keys, 8 wide.
  const DecodeStepBytes bytes = decoder_step_bytes({5, 3}, gpt2);
  EXPECT_DOUBLE_EQ(bytes.weights, 4.0 * (2 * 768 + 80));
  EXPECT_DOUBLE_EQ(bytes.cache, 4.0 * 2 * (5 + 3) * 8);
  // At 1000 bytes/s both parts are memory-bound: 6.464 s + 0.512 s.
  EXPECT_NEAR(decoder_step_seconds({5, 3}, gpt2, 1000.0), 6.976, 1e-12);
  // A shorter cache is predicted faster; GPT-2 124M reads 494.1 MB of f32 weights a step.
  EXPECT_LT(decoder_step_seconds({2, 1}, gpt2, 1000.0), decoder_step_seconds({5, 3}, gpt2, 1000.0));
  const ModelShape base{12, 768, 3072, true, 12, 12, false, 50257};
  EXPECT_DOUBLE_EQ(decoder_step_bytes(std::vector<int64_t>(12, 1), base).weights, 494128128.0);
  // bf16 halves the weights; int8 quarters them and adds an f32 scale per output channel:
  // per layer 24 + 8 + 32 + 8 = 72 channels, the head 10.
  EXPECT_DOUBLE_EQ(decoder_step_bytes({5, 3}, gpt2, Precision::kBf16).weights, 2.0 * (2 * 768 + 80));
  EXPECT_DOUBLE_EQ(decoder_step_bytes({5, 3}, gpt2, Precision::kInt8).weights,
                   (2 * 768 + 80) + 4.0 * (2 * 72 + 10));
  EXPECT_DOUBLE_EQ(decoder_step_bytes({5, 3}, gpt2, Precision::kInt8).cache, bytes.cache);
  EXPECT_LT(decoder_step_seconds({5, 3}, gpt2, 1000.0, Precision::kInt8),
            decoder_step_seconds({5, 3}, gpt2, 1000.0));
  EXPECT_NE(test_support::error_of([&] { decoder_step_bytes({5}, gpt2); }).find("1 cache sizes for 2 layers"),
            std::string::npos);
  EXPECT_NE(test_support::error_of([&] {
              decoder_step_seconds({5, 3}, gpt2, 0.0);
            }).find("bandwidth"),
            std::string::npos);
}

TEST(PrunePlanner, PredictedSpeedupMonotoneAndSchedulesNonIncreasing) {
  const ModelShape shape{12, 768, 3072};
  double previous_predicted = 0.0;
  for (double target : {1.0, 1.5, 2.0, 3.0, 4.0, 5.0, 6.0}) {
    const Planner planner(Knobs{.speedup = target}, shape, std::nullopt, LatencyModel{}, nullptr);
    const SequencePlan& plan = planner.plan(256);
    ASSERT_TRUE(plan.predicted_speedup.has_value());
    EXPECT_GE(*plan.predicted_speedup, target - 1e-9);
    EXPECT_LT(*plan.predicted_speedup, target * 1.1) << "bisection should land close to the target";
    EXPECT_GE(*plan.predicted_speedup, previous_predicted);
    previous_predicted = *plan.predicted_speedup;
    for (size_t layer = 1; layer < plan.counts.size(); ++layer)
      EXPECT_LE(plan.counts[layer], plan.counts[layer - 1]);
    EXPECT_GE(plan.counts.back(), 1);
  }
  const Planner dense(Knobs{.speedup = 1.0}, shape, std::nullopt, LatencyModel{}, nullptr);
  EXPECT_TRUE(dense.plan(128).dense);
}

TEST(PrunePlanner, CalibratedStaticScheduleFollowsFractions) {
  Calibration calibration;
  calibration.taus = {1.0, 0.5};
  calibration.keep_fractions = {{1.0, 1.0}, {0.5, 0.25}};
  calibration.samples = 1;
  EXPECT_EQ(calibration.fractions_at(0.75), (std::vector<double>{0.75, 0.625}));
  const Planner planner(Knobs{.coverage = 0.5, .mode = PruneMode::kStatic}, ModelShape{2, 32, 64},
                        calibration, LatencyModel{}, nullptr);
  EXPECT_EQ(planner.plan(10).counts, (std::vector<int64_t>{5, 3}));
  const Planner latency(Knobs{.latency_ms = 1e-9}, ModelShape{2, 32, 64}, calibration, LatencyModel{},
                        nullptr);
  EXPECT_EQ(latency.plan(10).counts, (std::vector<int64_t>{5, 3}));  // fastest available when unreachable
}

TEST(PruneSidecar, RoundTripAndMalformed) {
  const auto dir = std::filesystem::temp_directory_path() / ("latte_sidecar_" + std::to_string(getpid()));
  std::filesystem::create_directories(dir);
  Sidecar sidecar;
  sidecar.calibration =
      Calibration{{1.0, 0.9}, {{1.0, 1.0}, {0.8, 0.5}}, {0.5, 1.0}, {{0.7, 1.0}, {0.9, 1.0}}, 3};
  sidecar.write(dir);
  const Sidecar back = Sidecar::read(dir);
  ASSERT_TRUE(back.calibration);
  EXPECT_EQ(back.calibration->keep_fractions, sidecar.calibration->keep_fractions);
  std::ofstream(dir / "latte.json")
      << "{\"calibration\": {\"samples\": 1, \"taus\": [0.5], \"keep_fractions\": [[1]]}}";
  EXPECT_THROW(Sidecar::read(dir), FormatError);
  std::ofstream(dir / "latte.json") << "{not json";
  EXPECT_THROW(Sidecar::read(dir), FormatError);
  std::filesystem::remove_all(dir);
}

// ---- The engine against a slow, independent reference ----

// Plain-loop BERT straight from the safetensors weights: every layer runs in
// full on its rows, then keeps the rows the same rule selects.
class SlowBert {
 public:
  explicit SlowBert(const std::filesystem::path& dir) : store_(WeightStore::open(dir)) {
    config_ = BertConfig::from_file(dir / "config.json");
  }

  struct Result {
    std::vector<float> logits;
    std::vector<int64_t> kept;
  };

  Result run(const std::vector<int32_t>& ids, const SequencePlan& plan, int64_t min_keep) const {
    const int64_t d = config_.hidden_size, heads = config_.num_heads, hd = d / heads;
    int64_t n = static_cast<int64_t>(ids.size());
    std::vector<float> x(static_cast<size_t>(n * d));
    const Tensor words = w("bert.embeddings.word_embeddings.weight"),
                 pos = w("bert.embeddings.position_embeddings.weight"),
                 types = w("bert.embeddings.token_type_embeddings.weight");
    for (int64_t i = 0; i < n; ++i) {
      for (int64_t c = 0; c < d; ++c) {
        x[i * d + c] = words.data()[ids[i] * d + c] + pos.data()[i * d + c] + types.data()[c];
      }
    }
    norm(x, n, "bert.embeddings.LayerNorm");
    Result result;
    for (int64_t l = 0; l < config_.num_layers; ++l) {
      const std::string p = "bert.encoder.layer." + std::to_string(l) + ".";
      const auto q = dense(x, n, p + "attention.self.query"), k = dense(x, n, p + "attention.self.key"),
                 v = dense(x, n, p + "attention.self.value");
      std::vector<float> context(static_cast<size_t>(n * d), 0.0f), scores(static_cast<size_t>(n), 0.0f);
      for (int64_t h = 0; h < heads; ++h) {
        for (int64_t i = 0; i < n; ++i) {
          std::vector<double> row(static_cast<size_t>(n));
          double maximum = -1e30, total = 0.0;
          for (int64_t j = 0; j < n; ++j) {
            double dot = 0.0;
            for (int64_t c = 0; c < hd; ++c) dot += q[i * d + h * hd + c] * k[j * d + h * hd + c];
            row[j] = dot / std::sqrt(static_cast<double>(hd));
            maximum = std::max(maximum, row[j]);
          }
          for (double& value : row) total += value = std::exp(value - maximum);
          for (int64_t j = 0; j < n; ++j) {
            const double prob = row[j] / total;
            scores[j] += static_cast<float>(prob / heads);
            for (int64_t c = 0; c < hd; ++c)
              context[i * d + h * hd + c] += static_cast<float>(prob * v[j * d + h * hd + c]);
          }
        }
      }
      // The full layer on all n rows...
      auto out = dense(context, n, p + "attention.output.dense");
      for (size_t i = 0; i < out.size(); ++i) out[i] += x[i];
      norm(out, n, p + "attention.output.LayerNorm");
      auto inner = dense(out, n, p + "intermediate.dense");
      for (float& value : inner) value = 0.5f * value * (1.0f + std::erf(value / std::sqrt(2.0f)));
      auto next = dense(inner, n, p + "output.dense");
      for (size_t i = 0; i < next.size(); ++i) next[i] += out[i];
      norm(next, n, p + "output.LayerNorm");
      // ...then only the kept rows go on.
      int64_t keep = n;
      if (plan.dynamic)
        keep = coverage_keep_count(scores, plan.coverage, min_keep);
      else if (!plan.dense)
        keep = std::min(plan.counts[l], n);
      const int64_t cls[] = {0};
      const auto rows = select_kept_rows(scores, keep, cls);
      x.clear();
      for (int64_t row : rows) x.insert(x.end(), next.begin() + row * d, next.begin() + (row + 1) * d);
      n = static_cast<int64_t>(rows.size());
      result.kept.push_back(n);
    }
    std::vector<float> cls_row(x.begin(), x.begin() + d);
    auto pooled = dense(cls_row, 1, "bert.pooler.dense");
    for (float& value : pooled) value = std::tanh(value);
    result.logits = dense(pooled, 1, "classifier");
    return result;
  }

 private:
  Tensor w(const std::string& name) const { return store_.load(name, store_.entry(name).shape); }
  std::vector<float> dense(const std::vector<float>& x, int64_t rows, const std::string& base) const {
    const Tensor weight = w(base + ".weight"), bias = w(base + ".bias");
    const int64_t out = weight.dim(0), in = weight.dim(1);
    std::vector<float> y(static_cast<size_t>(rows * out));
    for (int64_t r = 0; r < rows; ++r) {
      for (int64_t o = 0; o < out; ++o) {
        double total = bias.data()[o];
        for (int64_t i = 0; i < in; ++i)
          total += static_cast<double>(x[r * in + i]) * weight.data()[o * in + i];
        y[r * out + o] = static_cast<float>(total);
      }
    }
    return y;
  }
  void norm(std::vector<float>& x, int64_t rows, const std::string& base) const {
    const Tensor gamma = w(base + ".weight"), beta = w(base + ".bias");
    const int64_t d = gamma.numel();
    for (int64_t r = 0; r < rows; ++r) {
      double mean = 0.0, var = 0.0;
      for (int64_t c = 0; c < d; ++c) mean += x[r * d + c];
      mean /= d;
      for (int64_t c = 0; c < d; ++c) var += (x[r * d + c] - mean) * (x[r * d + c] - mean);
      var /= d;
      for (int64_t c = 0; c < d; ++c) {
        x[r * d + c] = static_cast<float>((x[r * d + c] - mean) / std::sqrt(var + config_.layer_norm_eps)) *
                           gamma.data()[c] +
                       beta.data()[c];
      }
    }
  }
  WeightStore store_;
  BertConfig config_;
};

std::vector<BertInput> sample_batch() {
  std::vector<BertInput> batch;
  for (int length : {9, 23, 40, 64}) {
    BertInput input;
    input.input_ids.push_back(2);  // [CLS]
    for (int i = 1; i < length - 1; ++i) input.input_ids.push_back(5 + (i * 37 + length) % 110);
    input.input_ids.push_back(3);  // [SEP]
    batch.push_back(input);
  }
  return batch;
}

float max_logit_difference(const BertOutput& output, size_t b, const std::vector<float>& expected) {
  float worst = 0.0f;
  for (size_t i = 0; i < expected.size(); ++i) {
    worst = std::max(worst, std::fabs(output.logits.data()[b * expected.size() + i] - expected[i]));
  }
  return worst;
}

TEST(PruneEngine, CoverageOneAndSpeedupOneEqualDense) {
  BertModel model = BertModel::load(kBertData / "cls3_f32");
  const auto batch = sample_batch();
  const BertOutput dense = model.forward(batch);
  for (Knobs knobs : {Knobs{.coverage = 1.0}, Knobs{.speedup = 1.0}}) {
    const Planner planner(knobs, model.shape(), std::nullopt, LatencyModel{}, nullptr);
    ForwardOptions options{.planner = &planner, .compute_scores = true};
    const BertOutput pruned = model.forward(batch, options);
    ASSERT_EQ(pruned.logits.numel(), dense.logits.numel());
    for (int64_t i = 0; i < dense.logits.numel(); ++i)
      EXPECT_NEAR(pruned.logits.data()[i], dense.logits.data()[i], 1e-6);
  }
}

TEST(PruneEngine, MatchesSlowReferenceDynamicAndStatic) {
  BertModel model = BertModel::load(kBertData / "cls3_f32");
  const SlowBert slow(kBertData / "cls3_f32");
  const auto batch = sample_batch();
  for (Knobs knobs : {Knobs{.coverage = 0.6}, Knobs{.coverage = 0.9}, Knobs{.speedup = 3.0},
                      Knobs{.keep = std::vector<int64_t>{20, 6}}}) {
    const Planner planner(knobs, model.shape(), std::nullopt, LatencyModel{}, nullptr);
    const BertOutput output = model.forward(batch, ForwardOptions{.planner = &planner});
    for (size_t b = 0; b < batch.size(); ++b) {
      const SequencePlan& plan = planner.plan(static_cast<int64_t>(batch[b].input_ids.size()));
      const auto expected = slow.run(batch[b].input_ids, plan, 1);
      EXPECT_EQ(output.kept[b], expected.kept) << "sequence " << b;
      EXPECT_LT(max_logit_difference(output, b, expected.logits), 1e-4) << "sequence " << b;
      // [CLS] survives every layer and stays first.
      EXPECT_EQ(output.positions[output.offsets[b]], 0);
      for (size_t l = 1; l < output.kept[b].size(); ++l) EXPECT_LE(output.kept[b][l], output.kept[b][l - 1]);
    }
  }
}

TEST(PruneEngine, MixedLengthBatchEqualsOneByOne) {
  BertModel model = BertModel::load(kBertData / "cls3_f32");
  const auto batch = sample_batch();
  const Planner planner(Knobs{.coverage = 0.7}, model.shape(), std::nullopt, LatencyModel{}, nullptr);
  const BertOutput together = model.forward(batch, ForwardOptions{.planner = &planner});
  int64_t total_rows = 0;
  for (size_t b = 0; b < batch.size(); ++b) {
    const BertOutput alone = model.forward({batch[b]}, ForwardOptions{.planner = &planner});
    EXPECT_EQ(alone.kept[0], together.kept[b]);
    for (int64_t i = 0; i < alone.logits.numel(); ++i) {
      EXPECT_NEAR(alone.logits.data()[i], together.logits.data()[b * alone.logits.numel() + i], 1e-5);
    }
    total_rows += together.kept[b].back();
  }
  EXPECT_EQ(together.last_hidden_state.dim(0), total_rows);  // the batch shrank with its sequences
}

// A packed batch of requests at different knobs (latte serve): each sequence at its own planner,
// equal to that sequence alone at it; dense and null entries keep their sequence whole.
TEST(PruneEngine, PerSequencePlannersEqualEachAlone) {
  BertModel model = BertModel::load(kBertData / "cls3_f32");
  const auto batch = sample_batch();
  ASSERT_GE(batch.size(), 3u);
  const Planner fast(Knobs{.coverage = 0.6}, model.shape(), std::nullopt, LatencyModel{}, nullptr);
  const Planner faster(Knobs{.speedup = 3.0}, model.shape(), std::nullopt, LatencyModel{}, nullptr);
  const Planner dense(Knobs{}, model.shape(), std::nullopt, LatencyModel{}, nullptr);
  std::vector<const Planner*> planners = {&fast, nullptr, &faster};
  while (planners.size() < batch.size()) planners.push_back(planners.size() % 2 ? &dense : &fast);
  const BertOutput together = model.forward(batch, ForwardOptions{.planners = planners});
  bool shrank = false;
  for (size_t b = 0; b < batch.size(); ++b) {
    const BertOutput alone = model.forward({batch[b]}, ForwardOptions{.planner = planners[b]});
    EXPECT_EQ(alone.kept[0], together.kept[b]) << "sequence " << b;
    for (int64_t i = 0; i < alone.logits.numel(); ++i) {
      EXPECT_NEAR(alone.logits.data()[i], together.logits.data()[b * alone.logits.numel() + i], 1e-5);
    }
    const auto length = static_cast<int64_t>(batch[b].input_ids.size());
    if (planners[b] == nullptr || planners[b]->dense()) {
      for (const int64_t kept : together.kept[b]) EXPECT_EQ(kept, length) << "sequence " << b;
    } else {
      shrank = shrank || together.kept[b].back() < length;
    }
  }
  EXPECT_TRUE(shrank) << "no sequence at a pruning planner lost a word-vector";
  planners.pop_back();
  EXPECT_THROW(model.forward(batch, ForwardOptions{.planners = planners}), InputError);
}

TEST(PruneEngine, ScoresCoverOnlyRealTokens) {
  BertModel model = BertModel::load(kBertData / "cls3_f32");
  const auto batch = sample_batch();
  std::vector<double> totals(batch.size() * 2, 0.0);
  std::vector<size_t> lengths(batch.size() * 2, 0);
  ForwardOptions options;
  options.on_scores = [&](int64_t layer, int64_t sequence, std::span<const float> scores) {
    const size_t slot = static_cast<size_t>(sequence * 2 + layer);
    lengths[slot] = scores.size();
    for (float score : scores) totals[slot] += score;
  };
  model.forward(batch, options);
  // Each query's attention sums to one over its own sequence's keys: no padding, no other sequence.
  for (size_t b = 0; b < batch.size(); ++b) {
    for (size_t layer = 0; layer < 2; ++layer) {
      EXPECT_EQ(lengths[b * 2 + layer], batch[b].input_ids.size());
      EXPECT_NEAR(totals[b * 2 + layer], static_cast<double>(batch[b].input_ids.size()), 1e-3);
    }
  }
}

}  // namespace
}  // namespace latte
