// Next-token choice from a row of logits: greedy, or sampling with temperature, top-k and
// top-p (nucleus) applied in that order, as Hugging Face's generate() does.
#pragma once

#include <cstdint>
#include <random>
#include <span>
#include <utility>
#include <vector>

namespace latte {

struct SamplingOptions {
  bool sample = false;       // false: greedy (the highest logit, the lowest id on a tie)
  double temperature = 1.0;  // > 0
  int64_t top_k = 0;         // 0: no top-k filter
  double top_p = 1.0;        // in (0, 1]; 1: no nucleus filter
  uint64_t seed = 0;
  // InputError naming the option ("temperature must be > 0, got 0").
  void validate() const;
};

class Sampler {
 public:
  explicit Sampler(SamplingOptions options);
  int32_t next(std::span<const float> logits);

 private:
  SamplingOptions options_;
  std::mt19937_64 generator_;
  std::vector<std::pair<float, int32_t>> candidates_;  // scratch: (logit, id)
};

}  // namespace latte
