// An additive bias on attention's logits by original positions (T5's relative position bias):
// the interface both attention paths call, layers/attention.h's general one and the fused kernel
// of core/attention_head.h; models/ implement it.
#pragma once

#include <cstdint>
#include <span>

namespace latte {

class PositionBias {
 public:
  virtual ~PositionBias() = default;
  // logits[j] += bias(head, query_position, key_positions[j]) for every key j. Called once per
  // query row and head, from several threads at once: it must be cheap and must not mutate.
  virtual void add(int64_t head, int64_t query_position, std::span<const int64_t> key_positions,
                   float* logits) const = 0;
};

}  // namespace latte
