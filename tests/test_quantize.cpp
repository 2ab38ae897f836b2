// Quantized model folders (`latte quantize`): the I8 + scales layout, loading at every
// precision, the round trip, and the errors for a broken quantized file.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>

#include "latte/core/error.h"
#include "latte/io/safetensors.h"
#include "latte/models/bert.h"
#include "latte/models/gpt2.h"
#include "latte/models/linear_weights.h"
#include "latte/models/registry.h"
#include "test_support.h"

namespace latte {
namespace {

namespace fs = std::filesystem;
using test_support::error_of;
using test_support::slurp;
using test_support::TempDir;

const fs::path kBertData = fs::path(LATTE_TEST_DATA_DIR) / "bert";
const fs::path kGpt2Data = fs::path(LATTE_TEST_DATA_DIR) / "gpt2";

std::vector<float> bert_logits(const fs::path& folder, Precision precision) {
  BertModel model = BertModel::load(folder, precision);
  const BertOutput output = model.forward({BertInput{{2, 7, 11, 5, 19, 3}, {}}});
  return {output.logits.data(), output.logits.data() + output.logits.numel()};
}

std::vector<float> gpt2_logits(const fs::path& folder, Precision precision) {
  Gpt2Model model = Gpt2Model::load(folder, precision);
  KvCache cache = model.new_cache();
  const std::vector<int32_t> prompt = {5, 9, 2, 14, 3, 8};
  const DecoderOutput output = model.forward(prompt, cache, {});
  return {output.logits.data(), output.logits.data() + output.logits.numel()};
}

float max_magnitude(const std::vector<float>& values) {
  float most = 0.0f;
  for (const float value : values) most = std::max(most, std::fabs(value));
  return most;
}

float max_difference(const std::vector<float>& a, const std::vector<float>& b) {
  EXPECT_EQ(a.size(), b.size());
  float worst = 0.0f;
  for (size_t i = 0; i < std::min(a.size(), b.size()); ++i) worst = std::max(worst, std::fabs(a[i] - b[i]));
  return worst;
}

TEST(QuantizeFolder, BertLoadsTheSameAtEveryPrecision) {
  TempDir dir("quantize");
  const fs::path source = kBertData / "cls3_f32";
  quantize_model_folder(source, dir / "q8");
  EXPECT_EQ(stored_precision(source), Precision::kF32);
  EXPECT_EQ(stored_precision(dir / "q8"), Precision::kInt8);

  // Quantized at load or stored quantized: the same int8 weights, the same answer, bit for bit.
  const std::vector<float> int8_at_load = bert_logits(source, Precision::kInt8);
  EXPECT_EQ(bert_logits(dir / "q8", Precision::kInt8), int8_at_load);
  // Widened back to f32: the quantization error only, not another model.
  const std::vector<float> dense = bert_logits(source, Precision::kF32);
  const std::vector<float> widened = bert_logits(dir / "q8", Precision::kF32);
  EXPECT_NE(widened, dense);
  EXPECT_LT(max_difference(widened, dense), 0.05f);
  EXPECT_LT(max_difference(int8_at_load, dense), 0.05f);

  const BertModel original = BertModel::load(source);
  const BertModel quantized = BertModel::load(dir / "q8");
  EXPECT_EQ(quantized.parameter_count(), original.parameter_count());
  EXPECT_EQ(quantized.dtype_on_disk(), "F32+I8");
  // The folder's other files are copied as they are.
  EXPECT_EQ(slurp(dir / "q8" / "config.json"), slurp(source / "config.json"));
  // Every linear weight is I8 beside its scales; embeddings and norms stay float.
  const WeightStore store = WeightStore::open(dir / "q8");
  EXPECT_EQ(store.entry("bert.encoder.layer.0.attention.self.query.weight").dtype, DType::I8);
  EXPECT_EQ(store.entry("bert.encoder.layer.0.attention.self.query.weight_scale").dtype, DType::F32);
  EXPECT_EQ(store.entry("classifier.weight").dtype, DType::I8);
  EXPECT_EQ(store.entry("bert.embeddings.word_embeddings.weight").dtype, DType::F32);
}

TEST(QuantizeFolder, QuantizingAQuantizedFolderChangesNothing) {
  TempDir dir("quantize");
  quantize_model_folder(kBertData / "cls3_f16", dir / "once");
  quantize_model_folder(dir / "once", dir / "twice");
  EXPECT_EQ(slurp(dir / "twice" / "model.safetensors"), slurp(dir / "once" / "model.safetensors"));
  // Float tensors keep their dtype on disk.
  EXPECT_EQ(WeightStore::open(dir / "once").dtype_summary(), "F32+F16+I8");
}

TEST(QuantizeFolder, Gpt2ConvWeightsKeepTheirLayout) {
  TempDir dir("quantize");
  const fs::path source = kGpt2Data / "tiny";
  quantize_model_folder(source, dir / "q8");
  EXPECT_EQ(gpt2_logits(dir / "q8", Precision::kInt8), gpt2_logits(source, Precision::kInt8));
  // Per-channel int8 weights move logits by a few percent of their range, no more.
  const std::vector<float> dense = gpt2_logits(source, Precision::kF32);
  EXPECT_LT(max_difference(gpt2_logits(dir / "q8", Precision::kF32), dense), 0.03f * max_magnitude(dense))
      << "logits up to " << max_magnitude(dense);
  const WeightStore store = WeightStore::open(dir / "q8");
  const std::string name = store.contains("h.0.attn.c_attn.weight") ? "h.0.attn.c_attn.weight"
                                                                    : "transformer.h.0.attn.c_attn.weight";
  const WeightStore original_store = WeightStore::open(source);
  const TensorEntry& qkv = store.entry(name);
  const TensorEntry& original = original_store.entry(name);
  EXPECT_EQ(qkv.dtype, DType::I8);
  EXPECT_EQ(qkv.shape, original.shape);  // Conv1D's [in, out]
  EXPECT_EQ(store.entry(name + "_scale").shape, std::vector<int64_t>{original.shape[1]});
  for (const std::string& tensor : store.names()) {
    if (tensor.ends_with("wte.weight")) {
      EXPECT_EQ(store.entry(tensor).dtype, DType::F32);  // the tied head stays the float embedding
    }
  }
}

TEST(QuantizeFolder, RefusesToOverwriteItsSource) {
  TempDir dir("quantize");
  quantize_model_folder(kBertData / "cls3_f32", dir / "q8");
  EXPECT_CONTAINS(error_of([&] { quantize_model_folder(dir / "q8", dir / "q8"); }),
                  "must not be the source folder");
}

// A quantized folder rewritten with one tensor changed by `edit`.
class BrokenQuantized : public ::testing::Test {
 protected:
  void SetUp() override { quantize_model_folder(kBertData / "cls3_f32", dir_ / "good"); }

  // Rewrites dir_/bad/model.safetensors from the good one: `edit` may change, drop or add tensors.
  void rewrite(const std::function<void(std::map<std::string, TensorToWrite>&,
                                        std::vector<std::vector<int8_t>>&, std::vector<Tensor>&)>& edit) {
    const WeightStore store = WeightStore::open(dir_ / "good");
    std::map<std::string, TensorToWrite> tensors;
    std::vector<std::vector<int8_t>> int8s;
    std::vector<Tensor> floats;
    int8s.reserve(1000);
    floats.reserve(1000);
    for (const std::string& name : store.names()) {
      const TensorEntry& entry = store.entry(name);
      if (entry.dtype == DType::I8) {
        int8s.push_back(store.load_i8(name, entry.shape));
        tensors[name] = TensorToWrite{name, entry.shape, DType::I8, nullptr, int8s.back().data()};
      } else {
        floats.push_back(store.load(name, entry.shape));
        tensors[name] = TensorToWrite{name, entry.shape, DType::F32, floats.back().data(), nullptr};
      }
    }
    edit(tensors, int8s, floats);
    fs::create_directories(dir_ / "bad");
    fs::copy_file(dir_ / "good" / "config.json", dir_ / "bad" / "config.json",
                  fs::copy_options::overwrite_existing);
    std::vector<TensorToWrite> list;
    for (const auto& [name, tensor] : tensors) list.push_back(tensor);
    write_safetensors(dir_ / "bad" / "model.safetensors", list);
  }

  std::string load_error() {
    return error_of([&] { BertModel::load(dir_ / "bad", Precision::kInt8); });
  }

  TempDir dir_{"quantize"};
  const std::string query_ = "bert.encoder.layer.0.attention.self.query.weight";
};

TEST_F(BrokenQuantized, MissingScalesNameTheTensor) {
  rewrite([&](auto& tensors, auto&, auto&) { tensors.erase(query_ + "_scale"); });
  EXPECT_CONTAINS(load_error(), "tensor " + query_ + " in ");
  EXPECT_CONTAINS(load_error(),
                  "is I8 but " + query_ + "_scale (its F32 scales, one per output channel) is missing");
  // f32 needs the scales as much as int8 does.
  EXPECT_CONTAINS(error_of([&] { BertModel::load(dir_ / "bad", Precision::kF32); }), query_ + "_scale");
}

TEST_F(BrokenQuantized, ScalesOfTheWrongShapeOrValue) {
  Tensor short_scales({3});
  rewrite([&](auto& tensors, auto&, auto&) {
    tensors[query_ + "_scale"] =
        TensorToWrite{query_ + "_scale", {3}, DType::F32, short_scales.data(), nullptr};
  });
  EXPECT_CONTAINS(load_error(), "tensor " + query_ + "_scale in ");
  EXPECT_CONTAINS(load_error(), "has shape [3], expected [");

  for (const float bad : {0.0f, -1.0f, std::nanf("")}) {
    rewrite([&](auto& tensors, auto&, auto& floats) {
      floats.push_back(Tensor({tensors[query_ + "_scale"].shape[0]}));
      std::fill(floats.back().data(), floats.back().data() + floats.back().numel(), 0.01f);
      floats.back().data()[1] = bad;
      tensors[query_ + "_scale"].floats = floats.back().data();
    });
    const std::string error = load_error();
    EXPECT_CONTAINS(error, query_ + "_scale");
    EXPECT_TRUE(error.find("scales must be > 0") != std::string::npos ||
                error.find("holds NaN or infinity") != std::string::npos)
        << error;
  }
}

TEST_F(BrokenQuantized, WrongShapesMinus128AndInt8WhereFloatsBelong) {
  rewrite([&](auto& tensors, auto&, auto&) { tensors[query_].shape = {1, 1}; });
  // The writer checks nothing of the shape against the data: the reader must.
  EXPECT_THROW(BertModel::load(dir_ / "bad", Precision::kInt8), Error);

  rewrite([&](auto& tensors, auto& int8s, auto&) {
    int8s.push_back(std::vector<int8_t>(tensors[query_].int8s,
                                        tensors[query_].int8s + shape_numel(tensors[query_].shape)));
    int8s.back()[5] = -128;
    tensors[query_].int8s = int8s.back().data();
  });
  EXPECT_CONTAINS(load_error(), "tensor " + query_ + " in ");
  EXPECT_CONTAINS(load_error(), "holds -128; int8 weights are symmetric, in [-127, 127]");

  // A LayerNorm weight in I8: never read as unscaled floats.
  const std::string norm = "bert.encoder.layer.0.output.LayerNorm.weight";
  std::vector<int8_t> ones;
  rewrite([&](auto& tensors, auto&, auto&) {
    ones.assign(static_cast<size_t>(shape_numel(tensors[norm].shape)), 1);
    tensors[norm] = TensorToWrite{norm, tensors[norm].shape, DType::I8, nullptr, ones.data()};
  });
  EXPECT_CONTAINS(load_error(), "tensor " + norm + " in ");
  EXPECT_CONTAINS(load_error(), "is I8: only the weight of a linear layer may be int8, read with its scales");
}

TEST(QuantizeCli, QuantizedFolderRunsEveryWhereWithoutFlags) {
  TempDir dir("quantize");
  const std::string model = (kBertData / "cls3_f32").string();
  const std::string out = (dir / "q8").string();
  const auto quantized = test_support::run_latte(dir.path(), "quantize --model " + model + " --out " + out);
  ASSERT_EQ(quantized.exit_code, 0) << quantized.err;
  EXPECT_CONTAINS(quantized.out, "F32+I8");
  // The folder's int8 is the default precision: the same answer as int8 at load, not f32's.
  const auto stored = test_support::run_latte(dir.path(), "classify --json --model " + out + " 'a b c'");
  const auto at_load =
      test_support::run_latte(dir.path(), "classify --json --dtype int8 --model " + model + " 'a b c'");
  const auto dense = test_support::run_latte(dir.path(), "classify --json --model " + model + " 'a b c'");
  ASSERT_EQ(stored.exit_code, 0) << stored.err;
  EXPECT_EQ(stored.out, at_load.out);
  EXPECT_NE(stored.out, dense.out);

  test_support::expect_one_line_error(
      test_support::run_latte(dir.path(), "quantize --model " + out + " --out " + out),
      "must not be the source");
  test_support::expect_one_line_error(
      test_support::run_latte(dir.path(), "classify --dtype int4 --model " + out + " x"), "--dtype");
  test_support::expect_one_line_error(test_support::run_latte(dir.path(), "quantize --model " + model),
                                      "--out");
}

TEST(SafetensorsInt8, WritesAndReadsI8) {
  TempDir dir("quantize");
  const std::vector<int8_t> values = {-127, -1, 0, 1, 127, 42};
  Tensor scales({2});
  scales.data()[0] = 0.5f;
  scales.data()[1] = 0.25f;
  write_safetensors(dir / "model.safetensors",
                    {TensorToWrite{"w", {2, 3}, DType::I8, nullptr, values.data()},
                     TensorToWrite{"w_scale", {2}, DType::F32, scales.data(), nullptr}});
  const SafetensorsFile file = SafetensorsFile::open(dir / "model.safetensors");
  EXPECT_EQ(file.find("w")->dtype, DType::I8);
  EXPECT_EQ(file.read_i8(*file.find("w")), values);
  EXPECT_THROW(file.read_f32(*file.find("w")), FormatError);
  EXPECT_THROW(file.read_i8(*file.find("w_scale")), FormatError);
  EXPECT_EQ(dtype_name(DType::I8), "I8");
  EXPECT_EQ(parse_dtype("I8"), DType::I8);
  EXPECT_EQ(dtype_size(DType::I8), 1u);
  // The widened weight is value x scale, exactly.
  const WeightStore store = WeightStore::open(dir.path());
  const Tensor widened = load_float_weight(store, StoredWeight{"w", 2, 3, false});
  EXPECT_EQ(widened.data()[0], -63.5f);
  EXPECT_EQ(widened.data()[5], 10.5f);
  // Read as Conv1D's [in, out], the same bytes are [out = 3] channels: two scales do not fit.
  EXPECT_CONTAINS(error_of([&] {
                    load_float_weight(store, StoredWeight{"w", 3, 2, true});
                  }),
                  "tensor w_scale in ");
}

}  // namespace
}  // namespace latte
