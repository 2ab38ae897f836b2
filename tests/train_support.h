// Checks the trainer tests share (they link libtorch; test_support.h does not).
#pragma once

#include <gtest/gtest.h>

#include <vector>

#include "latte/models/weight_spec.h"
#include "latte/train/torch_ops.h"

namespace latte::test_support {

// The trainer's parameters carry exactly the engine's tensor names and shapes, in its order.
inline void expect_weights_match_specs(const train::NamedWeights& weights,
                                       const std::vector<WeightSpec>& specs) {
  ASSERT_EQ(weights.size(), specs.size());
  for (size_t i = 0; i < specs.size(); ++i) {
    EXPECT_EQ(weights[i].first, specs[i].name);
    EXPECT_EQ(std::vector<int64_t>(weights[i].second.sizes().begin(), weights[i].second.sizes().end()),
              specs[i].shape)
        << specs[i].name;
  }
}

}  // namespace latte::test_support
