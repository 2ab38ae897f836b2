// The tensors a checkpoint of a config holds, and random weights for them (checkpoints for tests
// and benchmarks: latency claims use real architecture shapes with random weights).
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <ostream>
#include <string>
#include <utility>
#include <vector>

#include "latte/core/tensor.h"
#include "latte/io/dtype.h"

namespace latte {

struct WeightSpec {
  std::string name;
  std::vector<int64_t> shape;
  // The standard deviation of its normal initialisation; 0: Hugging Face's usual 0.02 (T5 scales
  // each matrix by its fan-in instead).
  float init_std = 0.0f;
};

// Hugging Face's initialisation: N(0, init_std or 0.02) matrices and embeddings, zero biases, unit
// norm scales (tensors named *LayerNorm.weight, *ln_*.weight, *norm.weight).
std::vector<std::pair<std::string, Tensor>> random_weights(const std::vector<WeightSpec>& specs,
                                                           uint64_t seed);

// The same values written as a safetensors file in `dtype` (F32, F16 or BF16), in the order of
// `specs`, a chunk at a time (write_safetensors_streamed): a model of any size is written in a
// few MB of memory. `progress`: a ProgressLine of the bytes written goes there.
void write_random_weights(const std::filesystem::path& path, const std::vector<WeightSpec>& specs,
                          uint64_t seed, DType dtype, const std::map<std::string, std::string>& metadata = {},
                          std::ostream* progress = nullptr);

}  // namespace latte
