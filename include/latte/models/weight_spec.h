// The tensors a checkpoint of a config holds, and random weights for them (checkpoints for tests
// and benchmarks: latency claims use real architecture shapes with random weights).
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "latte/core/tensor.h"

namespace latte {

struct WeightSpec {
  std::string name;
  std::vector<int64_t> shape;
};

// Hugging Face's initialisation: N(0, 0.02) matrices and embeddings, zero biases, unit norm
// scales (tensors named *LayerNorm.weight, *ln_*.weight, *norm.weight).
std::vector<std::pair<std::string, Tensor>> random_weights(const std::vector<WeightSpec>& specs,
                                                           uint64_t seed);

}  // namespace latte
