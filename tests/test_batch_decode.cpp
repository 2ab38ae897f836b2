// Continuous batching of decoder-only models: CausalLm::decode (one step of several sequences
// through each weight product once) against each sequence's own forward, and BatchDecoder against
// generate(), for the random GPT-2, Llama and Qwen2 checkpoints of tests/data, with prefills
// pruned at different speedups, sequences of different lengths joining and leaving.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "latte/core/error.h"
#include "latte/generate/batch_decoder.h"
#include "latte/generate/generate.h"
#include "latte/models/registry.h"
#include "latte/prune/plan.h"
#include "test_support.h"

namespace latte {
namespace {

using test_support::error_of;

const std::filesystem::path kData = LATTE_TEST_DATA_DIR;
// Row products over several rows and over one sum in the same order; what differs is only how
// the kernels block the rows, so the two paths agree to rounding.
constexpr float kTolerance = 1e-5f;

// A speedup target on the FLOPs prior (no latency table: the same plan on every machine); 1: dense.
std::unique_ptr<Planner> speedup_planner(double speedup, const CausalLm& model) {
  if (speedup <= 1.0) return nullptr;
  return std::make_unique<Planner>(Knobs{.speedup = speedup}, model.shape(), std::nullopt, LatencyModel{},
                                   nullptr);
}

// `length` token ids of the vocabulary from `seed`: prompts, and the tokens fed to decode steps.
std::vector<int32_t> tokens(int64_t length, int64_t vocab, uint32_t seed) {
  std::vector<int32_t> ids;
  uint32_t state = seed * 2654435761u + 12345u;
  for (int64_t i = 0; i < length; ++i) {
    state = state * 1664525u + 1013904223u;
    ids.push_back(static_cast<int32_t>((state >> 8) % static_cast<uint32_t>(vocab)));
  }
  return ids;
}

float max_difference(const Tensor& a, const Tensor& b) {
  EXPECT_EQ(a.shape(), b.shape());
  float worst = 0.0f;
  for (int64_t i = 0; i < std::min(a.numel(), b.numel()); ++i)
    worst = std::max(worst, std::fabs(a.data()[i] - b.data()[i]));
  return worst;
}

struct Case {
  const char* folder;
  Precision precision;
};

std::string case_name(const ::testing::TestParamInfo<Case>& info) {
  std::string name = std::string(info.param.folder) + "_" + precision_name(info.param.precision);
  std::replace(name.begin(), name.end(), '/', '_');
  return name;
}

class BatchDecode : public ::testing::TestWithParam<Case> {
 protected:
  void SetUp() override {
    const Case& param = GetParam();
    if (param.precision != Precision::kF32 && !precision_unavailable_reason(param.precision).empty()) {
      GTEST_SKIP() << precision_unavailable_reason(param.precision);
    }
    model_ = load_causal_lm(kData / param.folder, param.precision);
    ASSERT_EQ(model_->precision(), param.precision);
  }
  CausalLm& model() { return *model_; }

 private:
  std::unique_ptr<CausalLm> model_;
};

// One sequence of the schedule: its prompt, the prefill's speedup, and the steps it is part of.
struct Scheduled {
  int64_t prompt_tokens;
  double speedup;
  int joins;   // the first batched step it takes part in
  int leaves;  // the first step it no longer takes part in
};

TEST_P(BatchDecode, EachSequenceOfAStepMatchesItsOwnForward) {
  CausalLm& lm = model();
  const int64_t vocab = lm.vocab_size();
  // Different prompt lengths and speedups, so the caches differ in length and per-layer rows;
  // sequences join (2, 3) and leave (1, then 0) between steps.
  const std::vector<Scheduled> schedule = {
      {5, 1.0, 0, 9}, {9, 2.0, 0, 4}, {14, 1.5, 2, 12}, {23, 3.0, 5, 12}};
  std::vector<std::unique_ptr<Planner>> planners;
  std::vector<KvCache> batched, alone;
  std::vector<std::vector<int32_t>> fed;  // the token each step feeds, per sequence
  bool some_pruned = false;
  for (size_t s = 0; s < schedule.size(); ++s) {
    planners.push_back(speedup_planner(schedule[s].speedup, lm));
    const std::vector<int32_t> prompt = tokens(schedule[s].prompt_tokens, vocab, static_cast<uint32_t>(s));
    DecoderOptions prefill;
    prefill.planner = planners.back().get();
    batched.push_back(lm.new_cache());
    alone.push_back(lm.new_cache());
    const DecoderOutput first = lm.forward(prompt, batched.back(), prefill);
    lm.forward(prompt, alone.back(), prefill);
    some_pruned = some_pruned || first.kept.back() < schedule[s].prompt_tokens;
    fed.push_back(tokens(12, vocab, static_cast<uint32_t>(100 + s)));
  }
  ASSERT_TRUE(some_pruned) << "no prefill eliminated anything: the test would not cover pruned caches";
  ASSERT_NE(batched[1].layers.back().rows(), batched[3].layers.back().rows());

  for (int step = 0; step < 12; ++step) {
    std::vector<size_t> members;
    std::vector<int32_t> next_ids;
    std::vector<KvCache*> caches;
    for (size_t s = 0; s < schedule.size(); ++s) {
      if (step < schedule[s].joins || step >= schedule[s].leaves) continue;
      members.push_back(s);
      next_ids.push_back(fed[s][static_cast<size_t>(step)]);
      caches.push_back(&batched[s]);
    }
    SCOPED_TRACE("step " + std::to_string(step) + " with " + std::to_string(members.size()) + " sequences");
    const std::vector<DecoderOutput> outputs = lm.decode(next_ids, caches, {});
    ASSERT_EQ(outputs.size(), members.size());
    for (size_t m = 0; m < members.size(); ++m) {
      const size_t s = members[m];
      const int32_t id = next_ids[m];
      const DecoderOutput expected = lm.forward({&id, 1}, alone[s], {});
      EXPECT_LT(max_difference(outputs[m].logits, expected.logits), kTolerance) << "sequence " << s;
      EXPECT_EQ(outputs[m].positions, expected.positions) << "sequence " << s;
      EXPECT_EQ(outputs[m].kept, expected.kept) << "sequence " << s;
      for (size_t layer = 0; layer < alone[s].layers.size(); ++layer) {
        const LayerCache& mine = batched[s].layers[layer];
        const LayerCache& theirs = alone[s].layers[layer];
        ASSERT_EQ(mine.rows(), theirs.rows()) << "sequence " << s << ", layer " << layer;
        const std::span<const int64_t> a = mine.positions(), b = theirs.positions();
        EXPECT_TRUE(std::equal(a.begin(), a.end(), b.begin(), b.end()));
      }
    }
  }
}

TEST_P(BatchDecode, BatchDecoderGivesWhatGenerateGives) {
  CausalLm& lm = model();
  const int64_t vocab = lm.vocab_size();
  struct Run {
    int64_t prompt_tokens;
    double speedup;
    int64_t max_new_tokens;
    bool sample;
    int joins_after;  // steps run before it is added
  };
  const std::vector<Run> runs = {{6, 1.0, 12, false, 0},
                                 {11, 2.0, 5, false, 0},
                                 {17, 1.5, 9, true, 2},
                                 {25, 3.0, 14, false, 3},
                                 {8, 2.5, 1, false, 4}};
  std::vector<std::unique_ptr<Planner>> planners;
  std::vector<std::vector<int32_t>> prompts;
  std::vector<GenerationOptions> options;
  for (size_t r = 0; r < runs.size(); ++r) {
    planners.push_back(speedup_planner(runs[r].speedup, lm));
    prompts.push_back(tokens(runs[r].prompt_tokens, vocab, static_cast<uint32_t>(7 * r + 1)));
    GenerationOptions generation;
    generation.max_new_tokens = runs[r].max_new_tokens;
    generation.planner = planners.back().get();
    generation.sampling.sample = runs[r].sample;
    generation.sampling.seed = 42 + r;
    generation.sampling.top_p = 0.9;
    options.push_back(generation);
  }

  BatchDecoder decoder(lm);
  std::map<int64_t, size_t> run_of;
  std::map<size_t, std::vector<int32_t>> streamed;
  std::map<size_t, FinishedSequence> finished;
  for (int step = 0; finished.size() < runs.size(); ++step) {
    ASSERT_LT(step, 40) << "the sequences never ended";
    for (size_t r = 0; r < runs.size(); ++r) {
      if (runs[r].joins_after != step) continue;
      BatchRequest request{.generation = options[r], .stop_ids = {}, .on_token = [&streamed, r](int32_t id) {
                             streamed[r].push_back(id);
                             return true;
                           }};
      run_of[decoder.add(prompts[r], request)] = r;
    }
    for (FinishedSequence& done : decoder.step()) finished[run_of.at(done.id)] = std::move(done);
  }
  EXPECT_EQ(decoder.active(), 0);
  for (size_t r = 0; r < runs.size(); ++r) {
    SCOPED_TRACE("run " + std::to_string(r));
    const GenerationResult expected = generate(lm, prompts[r], options[r]);
    const GenerationResult& actual = finished.at(r).result;
    EXPECT_EQ(actual.ids, expected.ids);
    EXPECT_EQ(streamed[r], expected.ids);
    EXPECT_EQ(actual.stop_reason, expected.stop_reason);
    EXPECT_EQ(actual.kept, expected.kept);
    EXPECT_EQ(actual.kv_cache_bytes, expected.kv_cache_bytes);
    EXPECT_EQ(actual.kv_cache_bytes_dense, expected.kv_cache_bytes_dense);
    EXPECT_EQ(actual.decode_steps, expected.decode_steps);
    EXPECT_TRUE(finished.at(r).error.empty());
  }
}

const Case kCases[] = {{"gpt2/tiny", Precision::kF32},   {"gpt2/tiny", Precision::kInt8},
                       {"gpt2/tiny", Precision::kBf16},  {"llama/tiny", Precision::kF32},
                       {"llama/tiny", Precision::kInt8}, {"llama/tiny", Precision::kBf16},
                       {"llama/qwen2", Precision::kF32}, {"llama/qwen2", Precision::kInt8}};

INSTANTIATE_TEST_SUITE_P(Checkpoints, BatchDecode, ::testing::ValuesIn(kCases), case_name);

class BatchDecodeGpt2 : public ::testing::Test {
 protected:
  void SetUp() override { model_ = load_causal_lm(kData / "gpt2" / "tiny", Precision::kF32); }
  std::unique_ptr<CausalLm> model_;
};

TEST_F(BatchDecodeGpt2, BadStepsAreErrorsAndChangeNoCache) {
  CausalLm& lm = *model_;
  const std::vector<int32_t> prompt = {1, 2, 3};
  KvCache a = lm.new_cache(), b = lm.new_cache();
  lm.forward(prompt, a, {});
  lm.forward(prompt, b, {});
  const auto rows = [&] { return std::vector<int64_t>{a.layers[0].rows(), b.layers.back().rows()}; };
  const std::vector<int64_t> before = rows();
  const std::vector<int32_t> two = {4, 5};
  std::vector<KvCache*> both = {&a, &b};
  EXPECT_CONTAINS(error_of([&] { lm.decode(std::vector<int32_t>{4}, both, {}); }),
                  "1 tokens for 2 KV caches");
  EXPECT_CONTAINS(error_of([&] { lm.decode({}, {}, {}); }), "no sequences");
  std::vector<KvCache*> with_null = {&a, nullptr};
  EXPECT_CONTAINS(error_of([&] { lm.decode(two, with_null, {}); }),
                  "sequence 1 of a decode step has no KV cache");
  std::vector<KvCache*> twice = {&a, &a};
  EXPECT_CONTAINS(error_of([&] { lm.decode(two, twice, {}); }), "shares its KV cache");
  const std::vector<int32_t> outside = {4, 128};
  EXPECT_CONTAINS(error_of([&] { lm.decode(outside, both, {}); }), "token id 128 at position 3");
  KvCache shallow(1, 32, 8);
  std::vector<KvCache*> wrong_depth = {&a, &shallow};
  EXPECT_CONTAINS(error_of([&] { lm.decode(two, wrong_depth, {}); }),
                  "KV cache has 1 layers; the model has 3");
  const std::unique_ptr<Planner> planner = speedup_planner(2.0, lm);
  DecoderOptions pruning;
  pruning.planner = planner.get();
  EXPECT_CONTAINS(error_of([&] { lm.decode(two, both, pruning); }), "prefill only");
  DecoderOptions all;
  all.all_logits = true;
  EXPECT_THROW(lm.decode(two, both, all), InputError);
  EXPECT_EQ(rows(), before);

  // A sequence at the model's last position: the step is refused for every sequence.
  KvCache full = lm.new_cache();
  lm.forward(std::vector<int32_t>(64, 7), full, {});
  std::vector<KvCache*> with_full = {&a, &full};
  EXPECT_CONTAINS(error_of([&] { lm.decode(two, with_full, {}); }), "at most 64 (n_positions)");
  EXPECT_EQ(rows(), before);
}

TEST_F(BatchDecodeGpt2, BadRequestsAddNothing) {
  CausalLm& lm = *model_;
  BatchDecoder decoder(lm);
  const std::vector<int32_t> prompt = {1, 2, 3};
  const auto request = [](int64_t max_new_tokens) {
    BatchRequest made;
    made.generation.max_new_tokens = max_new_tokens;
    return made;
  };
  EXPECT_CONTAINS(error_of([&] { decoder.add({}, request(4)); }), "the prompt is empty");
  EXPECT_CONTAINS(error_of([&] { decoder.add(prompt, request(0)); }), "at least 1");
  EXPECT_CONTAINS(error_of([&] { decoder.add(prompt, request(62)); }), "the model takes at most 64");
  BatchRequest bad_stop = request(4);
  bad_stop.stop_ids = {128};
  EXPECT_CONTAINS(error_of([&] { decoder.add(prompt, bad_stop); }), "stop token id 128");
  BatchRequest bad_sampling = request(4);
  bad_sampling.generation.sampling.temperature = 0.0;
  EXPECT_CONTAINS(error_of([&] { decoder.add(prompt, bad_sampling); }), "temperature");
  const std::vector<int32_t> outside = {1, 200};
  EXPECT_CONTAINS(error_of([&] { decoder.add(outside, request(4)); }), "token id 200");
  EXPECT_EQ(decoder.active(), 0);
  EXPECT_TRUE(decoder.step().empty());
  EXPECT_EQ(decoder.add(prompt, request(4)), 0);  // ids start at 0 whatever failed before
}

TEST_F(BatchDecodeGpt2, StopIdsCallbacksAndCancelEndOnlyTheirSequence) {
  CausalLm& lm = *model_;
  const std::vector<int32_t> prompt = {5, 9, 14, 2, 77};
  GenerationOptions greedy;
  greedy.max_new_tokens = 10;
  greedy.stop_at_eos = false;
  const std::vector<int32_t> expected = generate(lm, prompt, greedy).ids;
  ASSERT_EQ(expected.size(), 10u);

  BatchDecoder decoder(lm);
  BatchRequest plain{.generation = greedy, .stop_ids = {}, .on_token = {}};
  BatchRequest stopped = plain;
  stopped.stop_ids = {expected[3]};  // ends at its first occurrence, which it includes
  const size_t stop_at =
      static_cast<size_t>(std::find(expected.begin(), expected.end(), expected[3]) - expected.begin()) + 1;
  BatchRequest called = plain;
  int calls = 0;
  called.on_token = [&calls](int32_t) { return ++calls < 2; };
  BatchRequest throwing = plain;
  throwing.on_token = [](int32_t) -> bool { throw std::runtime_error("client gone"); };
  const int64_t plain_id = decoder.add(prompt, plain);
  const int64_t stopped_id = decoder.add(prompt, stopped);
  const int64_t called_id = decoder.add(prompt, called);
  const int64_t cancelled_id = decoder.add(prompt, plain);
  const int64_t throwing_id = decoder.add(prompt, throwing);
  EXPECT_EQ(decoder.active(), 4);  // the throwing one ended at its first token
  EXPECT_GT(decoder.cache_bytes(), 0u);
  EXPECT_TRUE(decoder.cancel(cancelled_id));
  EXPECT_FALSE(decoder.cancel(cancelled_id));
  EXPECT_FALSE(decoder.cancel(99));

  std::map<int64_t, FinishedSequence> done;
  for (int step = 0; step < 20 && decoder.active() > 0; ++step) {
    for (FinishedSequence& sequence : decoder.step()) done[sequence.id] = std::move(sequence);
  }
  ASSERT_EQ(done.size(), 5u);
  EXPECT_EQ(done[plain_id].result.ids, expected);
  EXPECT_EQ(done[plain_id].result.stop_reason, "length");
  EXPECT_EQ(done[stopped_id].result.stop_reason, "eos");
  EXPECT_EQ(done[stopped_id].result.ids, std::vector<int32_t>(expected.begin(), expected.begin() + stop_at));
  EXPECT_EQ(done[called_id].result.stop_reason, "callback");
  EXPECT_EQ(done[called_id].result.ids, std::vector<int32_t>(expected.begin(), expected.begin() + 2));
  EXPECT_EQ(done[cancelled_id].result.stop_reason, "cancelled");
  EXPECT_EQ(done[cancelled_id].result.ids, std::vector<int32_t>(expected.begin(), expected.begin() + 1));
  EXPECT_EQ(done[throwing_id].result.stop_reason, "error");
  EXPECT_CONTAINS(done[throwing_id].error, "client gone");
  EXPECT_EQ(decoder.cache_bytes(), 0u);
}

}  // namespace
}  // namespace latte
