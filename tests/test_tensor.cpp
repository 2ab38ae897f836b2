#include <gtest/gtest.h>

#include "latte/core/error.h"
#include "latte/core/tensor.h"

namespace latte {

TEST(Tensor, OwnsZeroedAlignedStorage) {
  Tensor tensor({3, 5});
  EXPECT_EQ(tensor.numel(), 15);
  EXPECT_EQ(tensor.dim(-1), 5);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(tensor.data()) % 64, 0u);
  for (int64_t i = 0; i < tensor.numel(); ++i) EXPECT_EQ(tensor.data()[i], 0.0f);
  EXPECT_EQ(tensor.shape_str(), "[3, 5]");
}

TEST(Tensor, ReshapeChecksElementCount) {
  Tensor tensor({4, 6});
  EXPECT_EQ(tensor.reshaped({2, 12}).dim(1), 12);
  EXPECT_THROW(tensor.reshaped({5, 5}), InputError);
  EXPECT_THROW(tensor.dim(2), InputError);
}

}  // namespace latte
