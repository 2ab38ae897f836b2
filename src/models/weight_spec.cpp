#include "latte/models/weight_spec.h"

#include <algorithm>
#include <random>

namespace latte {

namespace {

bool is_norm_scale(const std::string& name) {
  if (!name.ends_with(".weight")) return false;
  return name.find("LayerNorm") != std::string::npos || name.find(".ln_") != std::string::npos ||
         name.find("norm.weight") != std::string::npos;
}

}  // namespace

std::vector<std::pair<std::string, Tensor>> random_weights(const std::vector<WeightSpec>& specs,
                                                           uint64_t seed) {
  std::mt19937_64 generator(seed);
  std::normal_distribution<float> normal(0.0f, 0.02f);
  std::vector<std::pair<std::string, Tensor>> weights;
  for (const WeightSpec& spec : specs) {
    Tensor tensor(spec.shape);
    if (is_norm_scale(spec.name)) {
      std::fill(tensor.data(), tensor.data() + tensor.numel(), 1.0f);
    } else if (!spec.name.ends_with(".bias")) {
      for (int64_t i = 0; i < tensor.numel(); ++i) tensor.data()[i] = normal(generator);
    }
    weights.emplace_back(spec.name, std::move(tensor));
  }
  return weights;
}

}  // namespace latte
