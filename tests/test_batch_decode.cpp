// Continuous batching of decoder-only models: CausalLm::decode (one step of several sequences
// through each weight product once) against each sequence's own forward, and BatchDecoder against
// generate(), for the random GPT-2, Llama and Qwen2 checkpoints of tests/data, with prefills
// pruned at different speedups, sequences of different lengths joining and leaving.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
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
// `shape`: a decoder-only model's, or an encoder-decoder's encoder's.
std::unique_ptr<Planner> speedup_planner(double speedup, const ModelShape& shape) {
  if (speedup <= 1.0) return nullptr;
  return std::make_unique<Planner>(Knobs{.speedup = speedup}, shape, std::nullopt, LatencyModel{}, nullptr);
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
    planners.push_back(speedup_planner(schedule[s].speedup, lm.shape()));
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

// Generations of different prompts, speedups, lengths and sampling, and when each joins.
struct Run {
  int64_t prompt_tokens;
  double speedup;
  int64_t max_new_tokens;
  bool sample;
  int joins_at;  // steps (rounds) run before it is added (joins)
};

struct Runs {
  std::vector<Run> runs;
  std::vector<std::unique_ptr<Planner>> planners;
  std::vector<std::vector<int32_t>> prompts;
  std::vector<GenerationOptions> options;
};

// `shape` plans the prompts' elimination (speedup_planner); `stop_at_eos` false runs each to its limit.
Runs make_runs(const ModelShape& shape, int64_t vocab, std::vector<Run> runs, uint32_t seed,
               bool stop_at_eos = true) {
  Runs made{.runs = std::move(runs)};
  for (size_t r = 0; r < made.runs.size(); ++r) {
    const Run& run = made.runs[r];
    made.planners.push_back(speedup_planner(run.speedup, shape));
    made.prompts.push_back(tokens(run.prompt_tokens, vocab, static_cast<uint32_t>(seed * r + 1)));
    GenerationOptions generation;
    generation.max_new_tokens = run.max_new_tokens;
    generation.planner = made.planners.back().get();
    generation.sampling.sample = run.sample;
    generation.sampling.seed = seed + r;
    generation.sampling.top_p = 0.9;
    generation.stop_at_eos = stop_at_eos;
    made.options.push_back(generation);
  }
  return made;
}

// Each run's sequence as it finished (and its tokens as they were streamed) against generate().
template <typename Model>
void expect_as_generate(Model& lm, const Runs& runs, const std::map<size_t, FinishedSequence>& finished,
                        std::map<size_t, std::vector<int32_t>>& streamed) {
  for (size_t r = 0; r < runs.runs.size(); ++r) {
    SCOPED_TRACE("run " + std::to_string(r));
    const GenerationResult expected = generate(lm, runs.prompts[r], runs.options[r]);
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

// Each run's on_token: appends to streamed[r].
BatchRequest streaming_request(const Runs& runs, size_t r, std::map<size_t, std::vector<int32_t>>& streamed) {
  return BatchRequest{.generation = runs.options[r], .stop_ids = {}, .on_token = [&streamed, r](int32_t id) {
                        streamed[r].push_back(id);
                        return true;
                      }};
}

TEST_P(BatchDecode, BatchDecoderGivesWhatGenerateGives) {
  CausalLm& lm = model();
  const Runs runs = make_runs(lm.shape(), lm.vocab_size(),
                              {{6, 1.0, 12, false, 0},
                               {11, 2.0, 5, false, 0},
                               {17, 1.5, 9, true, 2},
                               {25, 3.0, 14, false, 3},
                               {8, 2.5, 1, false, 4}},
                              7);
  BatchDecoder decoder(lm);
  std::map<int64_t, size_t> run_of;
  std::map<size_t, std::vector<int32_t>> streamed;
  std::map<size_t, FinishedSequence> finished;
  for (int step = 0; finished.size() < runs.runs.size(); ++step) {
    ASSERT_LT(step, 40) << "the sequences never ended";
    for (size_t r = 0; r < runs.runs.size(); ++r) {
      if (runs.runs[r].joins_at == step)
        run_of[decoder.add(runs.prompts[r], streaming_request(runs, r, streamed))] = r;
    }
    for (FinishedSequence& done : decoder.step()) finished[run_of.at(done.id)] = std::move(done);
  }
  EXPECT_EQ(decoder.active(), 0);
  expect_as_generate(lm, runs, finished, streamed);
}

// Chunked prefill: a prompt's prefill run a layer at a time, with other sequences' decode steps
// and a whole forward of a third between its layers (each using the model's workspace), gives
// forward()'s output and cache exactly, and leaves the other sequences' answers as they were.
TEST_P(BatchDecode, APrefillRunLayerByLayerIsForward) {
  CausalLm& lm = model();
  const int64_t vocab = lm.vocab_size();
  const std::vector<int32_t> prompt = tokens(23, vocab, 3);
  const std::vector<int32_t> other_prompt = tokens(9, vocab, 4);
  for (const double speedup : {1.0, 2.5}) {
    SCOPED_TRACE("speedup " + std::to_string(speedup));
    const std::unique_ptr<Planner> planner = speedup_planner(speedup, lm.shape());
    DecoderOptions options;
    options.planner = planner.get();
    std::vector<std::vector<float>> scores_whole, scores_run;
    options.on_scores = [&scores_whole](int64_t, std::span<const float> scores) {
      scores_whole.emplace_back(scores.begin(), scores.end());
    };
    KvCache whole = lm.new_cache();
    const DecoderOutput expected = lm.forward(prompt, whole, options);
    if (speedup > 1.0) {
      ASSERT_LT(expected.kept.back(), 23) << "nothing eliminated: the test would not cover it";
    }

    // The other sequence, decoded alone and between the run's layers: the same tokens fed.
    KvCache other = lm.new_cache(), other_alone = lm.new_cache();
    lm.forward(other_prompt, other, {});
    lm.forward(other_prompt, other_alone, {});
    options.on_scores = [&scores_run](int64_t, std::span<const float> scores) {
      scores_run.emplace_back(scores.begin(), scores.end());
    };
    KvCache piecewise = lm.new_cache();
    std::unique_ptr<PrefillRun> run = lm.start_prefill(prompt, piecewise, options);
    ASSERT_EQ(run->layers(), lm.num_layers());
    int32_t fed = 11;
    while (!run->done()) {
      const int64_t before = run->layers_done();
      run->run_layer();
      EXPECT_EQ(run->layers_done(), before + 1);
      std::vector<KvCache*> caches = {&other};
      const std::vector<DecoderOutput> step = lm.decode(std::vector<int32_t>{fed}, caches, {});
      std::vector<KvCache*> alone_caches = {&other_alone};
      const std::vector<DecoderOutput> alone = lm.decode(std::vector<int32_t>{fed}, alone_caches, {});
      EXPECT_EQ(max_difference(step[0].logits, alone[0].logits), 0.0f);
      KvCache third = lm.new_cache();
      lm.forward(tokens(17, vocab, static_cast<uint32_t>(fed)), third, {});
      ++fed;
    }
    const DecoderOutput actual = run->finish();
    EXPECT_EQ(max_difference(actual.logits, expected.logits), 0.0f);
    EXPECT_EQ(actual.positions, expected.positions);
    EXPECT_EQ(actual.kept, expected.kept);
    EXPECT_EQ(scores_run, scores_whole);
    for (size_t layer = 0; layer < whole.layers.size(); ++layer) {
      const std::span<const int64_t> a = piecewise.layers[layer].positions(),
                                     b = whole.layers[layer].positions();
      EXPECT_TRUE(std::equal(a.begin(), a.end(), b.begin(), b.end())) << "layer " << layer;
    }
    EXPECT_EQ(piecewise.bytes(), whole.bytes());
  }
}

// BatchDecoder's chunked prefills: sequences join while others decode, their prefills run a layer
// per round between the steps; each sequence's tokens are still what generate() gives.
TEST_P(BatchDecode, ChunkedPrefillsGiveWhatGenerateGives) {
  CausalLm& lm = model();
  const Runs runs = make_runs(lm.shape(), lm.vocab_size(),
                              {{6, 1.0, 12, false, 0},
                               {11, 2.0, 5, false, 0},
                               {17, 1.5, 9, true, 1},
                               {25, 3.0, 14, false, 3},
                               {8, 2.5, 1, false, 4}},
                              5);
  BatchDecoder decoder(lm);
  std::map<int64_t, size_t> run_of;
  std::map<size_t, std::vector<int32_t>> streamed;
  std::map<size_t, FinishedSequence> finished;
  int64_t most_joining = 0;
  for (int round = 0; finished.size() < runs.runs.size(); ++round) {
    ASSERT_LT(round, 80) << "the sequences never ended";
    for (size_t r = 0; r < runs.runs.size(); ++r) {
      if (runs.runs[r].joins_at == round)
        run_of[decoder.join(runs.prompts[r], streaming_request(runs, r, streamed))] = r;
    }
    most_joining = std::max(most_joining, decoder.joining());
    const int64_t waiting = decoder.joining();
    const int64_t before = decoder.prefill_layers_done();
    if (decoder.prefill(0.0)) {  // one layer
      if (before + 1 < lm.num_layers()) {
        EXPECT_EQ(decoder.prefill_layers_done(), before + 1);
      } else {
        EXPECT_EQ(decoder.joining(), waiting - 1);  // its last layer: it decodes from now on
      }
    } else {
      EXPECT_EQ(waiting, 0);
    }
    for (FinishedSequence& done : decoder.step()) finished[run_of.at(done.id)] = std::move(done);
  }
  EXPECT_EQ(decoder.active(), 0);
  EXPECT_EQ(decoder.joining(), 0);
  EXPECT_GE(most_joining, 2);  // prefills waited behind one another
  expect_as_generate(lm, runs, finished, streamed);
  for (const auto& [r, done] : finished)
    EXPECT_EQ(done.result.prefill_pieces, lm.num_layers()) << "run " << r;
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

// Encoder-decoder models (T5): each sequence's source encoded on its own at its own speedup, the
// decoder steps of all of them in one pass, each cross-attending to its own memory.
class BatchDecodeT5 : public ::testing::TestWithParam<const char*> {
 protected:
  void SetUp() override { model_ = load_seq2seq_lm(kData / "t5" / GetParam(), Precision::kF32); }
  std::unique_ptr<Planner> planner(double speedup) const {
    return speedup_planner(speedup, model_->encoder_shape());
  }
  std::unique_ptr<Seq2SeqLm> model_;
};

TEST_P(BatchDecodeT5, EachSequenceOfAStepMatchesItsOwnDecode) {
  Seq2SeqLm& lm = *model_;
  const std::vector<int64_t> lengths = {5, 13, 21};
  const std::vector<double> speedups = {1.0, 2.0, 3.0};
  std::vector<Seq2SeqState> batched, alone;
  for (size_t s = 0; s < lengths.size(); ++s) {
    const std::unique_ptr<Planner> plan = planner(speedups[s]);
    EncoderOptions encoder;
    encoder.planner = plan.get();
    const std::vector<int32_t> source = tokens(lengths[s], lm.vocab_size(), static_cast<uint32_t>(s + 30));
    batched.push_back(lm.encode(source, encoder));
    alone.push_back(lm.encode(source, encoder));
  }
  ASSERT_NE(batched[0].memory_positions.size(), batched[2].memory_positions.size());
  for (int step = 0; step < 6; ++step) {
    std::vector<int32_t> next_ids;
    std::vector<Seq2SeqState*> states;
    // The last sequence joins at step 2: the self caches differ in length too.
    for (size_t s = 0; s < batched.size(); ++s) {
      if (s == 2 && step < 2) continue;
      next_ids.push_back(step == 0 || (s == 2 && step == 2)
                             ? lm.decoder_start_token_id()
                             : static_cast<int32_t>((7 * step + s) % lm.vocab_size()));
      states.push_back(&batched[s]);
    }
    const std::vector<DecoderOutput> outputs = lm.decode_batch(next_ids, states, {});
    ASSERT_EQ(outputs.size(), states.size());
    for (size_t m = 0; m < states.size(); ++m) {
      const auto s = static_cast<size_t>(states[m] - batched.data());
      const DecoderOutput expected = lm.decode({&next_ids[m], 1}, alone[s], {});
      SCOPED_TRACE("step " + std::to_string(step) + ", sequence " + std::to_string(s));
      EXPECT_LT(max_difference(outputs[m].logits, expected.logits), kTolerance);
      EXPECT_EQ(outputs[m].positions, expected.positions);
      EXPECT_EQ(batched[s].self.layers.back().rows(), alone[s].self.layers.back().rows());
    }
  }
  Seq2SeqState* const twice[] = {&batched[0], &batched[0]};
  const int32_t two[] = {1, 2};
  EXPECT_CONTAINS(error_of([&] { lm.decode_batch(two, twice, {}); }), "shares its state");
  Seq2SeqState* const both[] = {&batched[0], &batched[1]};
  EXPECT_CONTAINS(error_of([&] { lm.decode_batch(std::vector<int32_t>{1}, both, {}); }), "1 tokens for 2");
  const int32_t outside[] = {1, static_cast<int32_t>(lm.vocab_size())};
  const int64_t rows_before = batched[0].self.layers[0].rows();
  EXPECT_CONTAINS(error_of([&] { lm.decode_batch(outside, both, {}); }), "outside the vocabulary");
  Seq2SeqState fresh;
  Seq2SeqState* const unencoded[] = {&batched[0], &fresh};
  EXPECT_CONTAINS(error_of([&] { lm.decode_batch(two, unencoded, {}); }), "encode the source first");
  EXPECT_EQ(batched[0].self.layers[0].rows(), rows_before);  // no state changed
}

TEST_P(BatchDecodeT5, BatchDecoderGivesWhatGenerateGives) {
  Seq2SeqLm& lm = *model_;
  const Runs runs = make_runs(lm.encoder_shape(), lm.vocab_size(),
                              {{9, 1.0, 7, false, 0},
                               {17, 2.0, 4, false, 0},
                               {12, 1.5, 6, true, 1},
                               {25, 3.0, 8, false, 3},
                               {6, 1.0, 1, false, 4}},
                              3, /*stop_at_eos=*/false);
  // Whole encodings (add), then chunked ones (join, a layer per round between the steps).
  for (const bool chunked : {false, true}) {
    SCOPED_TRACE(chunked ? "chunked" : "whole");
    BatchDecoder decoder(lm);
    std::map<int64_t, size_t> run_of;
    std::map<size_t, std::vector<int32_t>> streamed;
    std::map<size_t, FinishedSequence> finished;
    int64_t most = 0;
    for (int step = 0; finished.size() < runs.runs.size(); ++step) {
      ASSERT_LT(step, 200) << "the sequences never ended";
      for (size_t r = 0; r < runs.runs.size(); ++r) {
        if (runs.runs[r].joins_at != step) continue;
        const BatchRequest request = streaming_request(runs, r, streamed);
        run_of[chunked ? decoder.join(runs.prompts[r], request) : decoder.add(runs.prompts[r], request)] = r;
      }
      if (chunked) decoder.prefill(0.0);
      most = std::max(most, decoder.active());
      for (FinishedSequence& done : decoder.step()) finished[run_of.at(done.id)] = std::move(done);
    }
    EXPECT_GE(most, chunked ? 2 : 3);
    expect_as_generate(lm, runs, finished, streamed);
    for (const auto& [r, done] : finished) {
      EXPECT_GT(done.result.encoder_seconds, 0.0) << "run " << r;
      EXPECT_EQ(done.result.prefill_pieces, chunked ? lm.num_encoder_layers() + lm.num_decoder_layers() : 1)
          << "run " << r;
    }
  }
}

TEST_P(BatchDecodeT5, BadRequestsAddNothing) {
  Seq2SeqLm& lm = *model_;
  BatchDecoder decoder(lm);
  const std::vector<int32_t> source = tokens(9, lm.vocab_size(), 5);
  GenerationOptions greedy;
  greedy.max_new_tokens = 4;
  BatchRequest too_long{.generation = greedy};
  too_long.generation.max_new_tokens = lm.max_target_tokens() + 1;
  EXPECT_CONTAINS(error_of([&] { decoder.add(source, too_long); }), "decoder takes at most");
  EXPECT_CONTAINS(error_of([&] { decoder.join(source, too_long); }), "decoder takes at most");
  EXPECT_CONTAINS(error_of([&] { decoder.add({}, BatchRequest{.generation = greedy}); }),
                  "the prompt is empty");
  const std::vector<int32_t> outside = {1, static_cast<int32_t>(lm.vocab_size())};
  EXPECT_CONTAINS(error_of([&] { decoder.join(outside, BatchRequest{.generation = greedy}); }),
                  "outside the vocabulary");
  EXPECT_EQ(decoder.joining(), 0);
  EXPECT_EQ(decoder.active(), 0);
}

// T5's encode() a layer at a time, with other sequences' decoder steps and whole encodings between
// its layers, gives encode()'s state exactly.
TEST_P(BatchDecodeT5, AnEncodeRunLayerByLayerIsEncode) {
  Seq2SeqLm& lm = *model_;
  const std::vector<int32_t> source = tokens(19, lm.vocab_size(), 8);
  for (const double speedup : {1.0, 2.5}) {
    SCOPED_TRACE("speedup " + std::to_string(speedup));
    const std::unique_ptr<Planner> plan = planner(speedup);
    EncoderOptions options;
    options.planner = plan.get();
    Seq2SeqState expected = lm.encode(source, options);
    if (speedup > 1.0) {
      ASSERT_LT(expected.encoder_kept.back(), 19) << "nothing eliminated: the test would not cover it";
    }
    Seq2SeqState other = lm.encode(tokens(7, lm.vocab_size(), 9), {});
    std::unique_ptr<EncodeRun> run = lm.start_encode(source, options);
    ASSERT_EQ(run->layers(), lm.num_encoder_layers() + lm.num_decoder_layers());
    int32_t fed = lm.decoder_start_token_id();
    while (!run->done()) {
      run->run_layer();
      lm.decode({&fed, 1}, other, {});
      lm.encode(tokens(11, lm.vocab_size(), static_cast<uint32_t>(run->layers_done())), {});
      fed = static_cast<int32_t>(run->layers_done() % lm.vocab_size());
    }
    EXPECT_CONTAINS(error_of([&] { run->run_layer(); }), "every layer already");
    Seq2SeqState actual = run->finish();
    EXPECT_CONTAINS(error_of([&] { run->finish(); }), "finished already");
    EXPECT_EQ(actual.encoder_kept, expected.encoder_kept);
    EXPECT_EQ(actual.memory_positions, expected.memory_positions);
    EXPECT_EQ(actual.source_tokens, expected.source_tokens);
    ASSERT_EQ(actual.cross.layers.size(), expected.cross.layers.size());
    for (size_t layer = 0; layer < actual.cross.layers.size(); ++layer) {
      const LayerCache& a = actual.cross.layers[layer];
      const LayerCache& b = expected.cross.layers[layer];
      ASSERT_EQ(a.rows(), b.rows());
      for (int64_t r = 0; r < a.rows(); ++r) {
        for (int64_t c = 0; c < a.width(); ++c) {
          ASSERT_EQ(a.key(r, c), b.key(r, c)) << layer << ", " << r << ", " << c;
          ASSERT_EQ(a.value(r, c), b.value(r, c)) << layer << ", " << r << ", " << c;
        }
      }
    }
    const int32_t start = lm.decoder_start_token_id();
    const DecoderOutput mine = lm.decode({&start, 1}, actual, {});
    EXPECT_EQ(max_difference(mine.logits, lm.decode({&start, 1}, expected, {}).logits), 0.0f);
  }
  std::unique_ptr<EncodeRun> early = lm.start_encode(source, {});
  early->run_layer();
  EXPECT_CONTAINS(error_of([&] { early->finish(); }), "cannot finish yet");
  EXPECT_CONTAINS(error_of([&] { lm.start_encode({}, {}); }), "no source tokens");
}

INSTANTIATE_TEST_SUITE_P(Checkpoints, BatchDecodeT5, ::testing::Values("tiny_relu", "tiny_gated"));

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
  const std::unique_ptr<Planner> planner = speedup_planner(2.0, lm.shape());
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

TEST_F(BatchDecodeGpt2, PrefillRunsRefuseMisuseAndCanBeCancelled) {
  CausalLm& lm = *model_;
  const std::vector<int32_t> prompt = {5, 9, 14, 2, 77, 3};
  KvCache cache = lm.new_cache();
  EXPECT_CONTAINS(error_of([&] {
                    lm.start_prefill(std::vector<int32_t>{1, 128}, cache, {});
                  }),
                  "token id 128");
  EXPECT_CONTAINS(error_of([&] { lm.start_prefill({}, cache, {}); }), "no tokens");
  std::unique_ptr<PrefillRun> run = lm.start_prefill(prompt, cache, {});
  run->run_layer();
  EXPECT_CONTAINS(error_of([&] { run->finish(); }), "has run 1 of 3 layers");
  run->run_layer();
  run->run_layer();
  EXPECT_CONTAINS(error_of([&] { run->run_layer(); }), "every layer already");
  KvCache whole = lm.new_cache();
  EXPECT_EQ(max_difference(run->finish().logits, lm.forward(prompt, whole, {}).logits), 0.0f);
  EXPECT_CONTAINS(error_of([&] { run->finish(); }), "finished already");

  GenerationOptions greedy;
  greedy.max_new_tokens = 6;
  greedy.stop_at_eos = false;
  const std::vector<int32_t> expected = generate(lm, prompt, greedy).ids;
  BatchDecoder decoder(lm);
  EXPECT_FALSE(decoder.prefill(0.0));  // none waits
  BatchRequest bad;
  bad.generation.max_new_tokens = 62;
  EXPECT_CONTAINS(error_of([&] { decoder.join(prompt, bad); }), "the model takes at most 64");
  EXPECT_EQ(decoder.joining(), 0);
  const BatchRequest plain{.generation = greedy, .stop_ids = {}, .on_token = {}};
  const int64_t first = decoder.join(prompt, plain);
  EXPECT_EQ(first, 0);  // ids start at 0 whatever failed before
  const int64_t cancelled = decoder.join(prompt, plain);
  const int64_t whole_id = decoder.join(prompt, plain);
  EXPECT_EQ(decoder.joining(), 3);
  EXPECT_EQ(decoder.prefill(0.0), first);
  const size_t bytes = decoder.cache_bytes();
  EXPECT_GT(bytes, 0u);  // the first prefill's first layer
  EXPECT_TRUE(decoder.cancel(cancelled));
  EXPECT_FALSE(decoder.cancel(cancelled));
  EXPECT_EQ(decoder.joining(), 2);
  while (decoder.joining() == 2) decoder.prefill(0.0);
  EXPECT_EQ(decoder.active(), 1);
  EXPECT_EQ(decoder.prefill(std::numeric_limits<double>::infinity()), whole_id);  // every layer at once
  EXPECT_EQ(decoder.joining(), 0);
  EXPECT_EQ(decoder.active(), 2);
  std::map<int64_t, FinishedSequence> done;
  for (int step = 0; step < 20 && (decoder.active() > 0 || done.size() < 3); ++step) {
    for (FinishedSequence& sequence : decoder.step()) done[sequence.id] = std::move(sequence);
  }
  ASSERT_EQ(done.size(), 3u);
  EXPECT_EQ(done[cancelled].result.stop_reason, "cancelled");
  EXPECT_TRUE(done[cancelled].result.ids.empty());
  EXPECT_EQ(done[first].result.ids, expected);
  EXPECT_EQ(done[first].result.prefill_pieces, 3);
  EXPECT_EQ(done[whole_id].result.ids, expected);
  EXPECT_EQ(done[whole_id].result.prefill_pieces, 1);
  EXPECT_EQ(decoder.cache_bytes(), 0u);
}

}  // namespace
}  // namespace latte
