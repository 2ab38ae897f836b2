// generate/ drives an encoder-decoder model through the Seq2SeqLm interface: the source is encoded
// once, the decoder starts from its start token and continues one token at a time. A scripted
// model stands in for T5 here, so the driver is checked apart from any family.
#include <gtest/gtest.h>

#include <algorithm>
#include <vector>

#include "latte/core/error.h"
#include "latte/generate/generate.h"
#include "test_support.h"

namespace latte {
namespace {

// Decoder logits pick (previous token + 1) mod vocab; the encoder keeps every row in its first
// layer and half of them (the first ones) in its last, as elimination would.
class ScriptedSeq2Seq : public Seq2SeqLm {
 public:
  static constexpr int64_t kVocab = 8, kWidth = 4, kDecoderLayers = 2;

  int64_t num_encoder_layers() const override { return 2; }
  int64_t num_decoder_layers() const override { return kDecoderLayers; }
  int64_t vocab_size() const override { return kVocab; }
  int64_t max_source_tokens() const override { return 16; }
  int64_t max_target_tokens() const override { return 6; }
  int32_t decoder_start_token_id() const override { return 0; }
  std::optional<int32_t> eos_token_id() const override { return 5; }
  ModelShape encoder_shape() const override { return ModelShape{2, kWidth, 8}; }
  Precision precision() const override { return Precision::kF32; }
  ModelDescription description() const override {
    return ModelDescription{"scripted", 2, kWidth, 1, 1, 8, 16, "relu"};
  }

  Seq2SeqState encode(std::span<const int32_t> source, const EncoderOptions&) override {
    ++encodes;
    Seq2SeqState state;
    state.source_tokens = static_cast<int64_t>(source.size());
    const int64_t kept = std::max<int64_t>(1, state.source_tokens / 2);
    state.encoder_kept = {state.source_tokens, kept};
    state.cross = KvCache(kDecoderLayers, kWidth);
    state.self = KvCache(kDecoderLayers, kWidth);
    const std::vector<float> rows(static_cast<size_t>(kept * kWidth), 1.0f);
    for (int64_t position = 0; position < kept; ++position) state.memory_positions.push_back(position);
    for (LayerCache& layer : state.cross.layers) {
      layer.append(rows.data(), rows.data(), kWidth, kept, state.memory_positions);
    }
    return state;
  }

  DecoderOutput decode(std::span<const int32_t> ids, Seq2SeqState& state, const DecoderOptions&) override {
    decoded.insert(decoded.end(), ids.begin(), ids.end());
    const std::vector<float> row(kWidth, 0.5f);
    for (const int32_t id : ids) {
      (void)id;
      const int64_t position = state.self.layers[0].rows();
      for (LayerCache& layer : state.self.layers)
        layer.append(row.data(), row.data(), kWidth, 1, {&position, 1});
    }
    DecoderOutput output;
    output.logits = Tensor({1, kVocab});
    output.logits.data()[(ids.back() + 1) % kVocab] = 1.0f;
    return output;
  }

  // encode() as one step.
  class Run : public EncodeRun {
   public:
    Run(ScriptedSeq2Seq& model, std::span<const int32_t> source)
        : model_(model), source_(source.begin(), source.end()) {}
    int64_t layers() const override { return 1; }
    int64_t layers_done() const override { return ran_ ? 1 : 0; }
    void run_layer() override { ran_ = true; }
    Seq2SeqState finish() override { return model_.encode(source_, {}); }

   private:
    ScriptedSeq2Seq& model_;
    std::vector<int32_t> source_;
    bool ran_ = false;
  };
  std::unique_ptr<EncodeRun> start_encode(std::span<const int32_t> source, const EncoderOptions&) override {
    return std::make_unique<Run>(*this, source);
  }

  std::vector<DecoderOutput> decode_batch(std::span<const int32_t> next_ids,
                                          std::span<Seq2SeqState* const> states,
                                          const DecoderOptions& options) override {
    std::vector<DecoderOutput> outputs;
    for (size_t s = 0; s < states.size(); ++s)
      outputs.push_back(decode(next_ids.subspan(s, 1), *states[s], options));
    return outputs;
  }

  int encodes = 0;
  std::vector<int32_t> decoded;  // every token the decoder was given, in order
};

TEST(Seq2SeqGenerate, EncodesOnceThenDecodesFromTheStartTokenOneTokenAtATime) {
  ScriptedSeq2Seq model;
  const std::vector<int32_t> source = {3, 1, 4, 1, 5, 2};
  std::vector<int32_t> streamed;
  const GenerationResult result =
      generate(model, source, GenerationOptions{.max_new_tokens = 6}, [&](int32_t id) {
        streamed.push_back(id);
        return true;
      });
  EXPECT_EQ(model.encodes, 1);
  EXPECT_EQ(model.decoded, (std::vector<int32_t>{0, 1, 2, 3, 4}));  // start token, then each choice
  EXPECT_EQ(result.ids, (std::vector<int32_t>{1, 2, 3, 4, 5}));
  EXPECT_EQ(streamed, result.ids);
  EXPECT_EQ(result.stop_reason, "eos");
  EXPECT_EQ(result.decode_steps, 4);
  EXPECT_EQ(result.kept, (std::vector<int64_t>{6, 3}));  // the encoder's layers
  // After the first step: cross-attention over 3 surviving rows of 6, one decoder token, per layer.
  const size_t row = ScriptedSeq2Seq::kWidth * 2 * sizeof(float) * ScriptedSeq2Seq::kDecoderLayers;
  EXPECT_EQ(result.kv_cache_bytes, row * (3 + 1));
  EXPECT_EQ(result.kv_cache_bytes_dense, row * (6 + 1));
}

TEST(Seq2SeqGenerate, StopsAtTheLengthAndChecksTheEncoderAndDecoderLimits) {
  ScriptedSeq2Seq model;
  const std::vector<int32_t> source = {1, 2};
  GenerationOptions options{.max_new_tokens = 2};
  EXPECT_EQ(generate(model, source, options).stop_reason, "length");
  options.stop_at_eos = false;
  options.max_new_tokens = 6;
  EXPECT_EQ(generate(model, source, options).ids, (std::vector<int32_t>{1, 2, 3, 4, 5, 6}));

  options.max_new_tokens = 7;
  EXPECT_EQ(test_support::error_of([&] { generate(model, source, options); }),
            "max-new-tokens is 7; the model's decoder takes at most 6");
  options.max_new_tokens = 1;
  const std::vector<int32_t> too_long(17, 1);
  EXPECT_EQ(test_support::error_of([&] { generate(model, too_long, options); }),
            "the input has 17 tokens; the model's encoder takes at most 16");
  EXPECT_EQ(test_support::error_of([&] { generate(model, std::span<const int32_t>(), options); }),
            "the prompt is empty: nothing to continue");
}

}  // namespace
}  // namespace latte
