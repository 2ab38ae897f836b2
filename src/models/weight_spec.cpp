#include "latte/models/weight_spec.h"

#include <algorithm>
#include <cstdio>
#include <memory>
#include <optional>
#include <random>

#include "latte/core/progress.h"
#include "latte/io/safetensors.h"

namespace latte {

namespace {

bool is_norm_scale(const std::string& name) {
  if (!name.ends_with(".weight")) return false;
  return name.find("LayerNorm") != std::string::npos || name.find(".ln_") != std::string::npos ||
         name.find("norm.weight") != std::string::npos;
}

// Fills values of `name` in order: the state both writers share, so both give the same values.
class RandomValues {
 public:
  explicit RandomValues(uint64_t seed) : generator_(seed), normal_(0.0f, 0.02f) {}
  void fill(const WeightSpec& spec, float* out, int64_t count) {
    if (is_norm_scale(spec.name)) {
      std::fill(out, out + count, 1.0f);
    } else if (spec.name.ends_with(".bias")) {
      std::fill(out, out + count, 0.0f);
    } else if (spec.init_std > 0.0f) {
      const std::normal_distribution<float>::param_type scaled(0.0f, spec.init_std);
      for (int64_t i = 0; i < count; ++i) out[i] = normal_(generator_, scaled);
    } else {
      for (int64_t i = 0; i < count; ++i) out[i] = normal_(generator_);
    }
  }

 private:
  std::mt19937_64 generator_;
  std::normal_distribution<float> normal_;
};

}  // namespace

std::vector<std::pair<std::string, Tensor>> random_weights(const std::vector<WeightSpec>& specs,
                                                           uint64_t seed) {
  RandomValues values(seed);
  std::vector<std::pair<std::string, Tensor>> weights;
  for (const WeightSpec& spec : specs) {
    Tensor tensor(spec.shape);
    values.fill(spec, tensor.data(), tensor.numel());
    weights.emplace_back(spec.name, std::move(tensor));
  }
  return weights;
}

void write_random_weights(const std::filesystem::path& path, const std::vector<WeightSpec>& specs,
                          uint64_t seed, DType dtype, const std::map<std::string, std::string>& metadata,
                          std::ostream* progress) {
  struct State {
    explicit State(uint64_t seed) : values(seed) {}
    RandomValues values;
    std::optional<ProgressLine> line;
    double written = 0.0, total = 0.0;
  };
  auto state = std::make_shared<State>(seed);
  const double value_bytes = static_cast<double>(dtype_size(dtype));
  for (const WeightSpec& spec : specs)
    state->total += static_cast<double>(shape_numel(spec.shape)) * value_bytes;
  if (progress) state->line.emplace(*progress);
  std::vector<StreamedTensor> tensors;
  for (const WeightSpec& spec : specs) {
    tensors.push_back(
        {spec.name, spec.shape, dtype, [state, value_bytes, spec](int64_t, int64_t count, float* out) {
           state->values.fill(spec, out, count);
           state->written += static_cast<double>(count) * value_bytes;
           if (state->line) {
             char text[96];
             std::snprintf(text, sizeof text, "init: weights %.2f / %.2f GB", state->written / 1e9,
                           state->total / 1e9);
             state->line->update(text);
           }
         }});
  }
  write_safetensors_streamed(path, tensors, metadata);
  if (state->line) state->line->clear();
}

}  // namespace latte
