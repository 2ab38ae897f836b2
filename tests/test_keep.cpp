// prune/keep.h: the one keep decision of the engine and the trainer, and the in-place compaction.
#include <gtest/gtest.h>

#include <vector>

#include "latte/core/error.h"
#include "latte/prune/keep.h"

namespace latte {
namespace {

const std::vector<float> kScores = {0.5f, 4.0f, 1.0f, 3.0f, 0.25f, 2.0f};  // total 10.75
const int64_t kCls[] = {0};

TEST(KeepDecision, DensePlanKeepsEveryRow) {
  const SequencePlan dense;
  EXPECT_EQ(decide_kept_rows(dense, 3, kScores, 1, kCls), (std::vector<int64_t>{0, 1, 2, 3, 4, 5}));
}

TEST(KeepDecision, StaticPlanKeepsItsCountForTheLayer) {
  SequencePlan plan;
  plan.dense = false;
  plan.counts = {9, 4, 2};
  EXPECT_EQ(decide_kept_rows(plan, 0, kScores, 1, kCls).size(), 6u);  // more than the rows entering
  // [CLS] scores low but is protected: it takes one of the 4 places.
  EXPECT_EQ(decide_kept_rows(plan, 1, kScores, 1, kCls), (std::vector<int64_t>{0, 1, 3, 5}));
  EXPECT_EQ(decide_kept_rows(plan, 2, kScores, 1, kCls), (std::vector<int64_t>{0, 1}));
  EXPECT_THROW(decide_kept_rows(plan, 3, kScores, 1, kCls), Error);
}

TEST(KeepDecision, DynamicPlanKeepsTheSmallestTopKReachingCoverage) {
  SequencePlan plan;
  plan.dense = false;
  plan.dynamic = true;
  plan.coverage = 0.6;  // 4 + 3 = 7 of 10.75 = 0.65: two rows, one of them [CLS]
  EXPECT_EQ(decide_kept_rows(plan, 0, kScores, 1, kCls), (std::vector<int64_t>{0, 1}));
  EXPECT_EQ(decide_kept_rows(plan, 0, kScores, 1, {}), (std::vector<int64_t>{1, 3}));
  EXPECT_EQ(decide_kept_rows(plan, 0, kScores, 4, kCls), (std::vector<int64_t>{0, 1, 3, 5}));  // min_keep
}

TEST(KeepDecision, ProtectedRowsSurviveWithTheLowestScores) {
  SequencePlan plan;
  plan.dense = false;
  plan.counts = {3};
  const int64_t first_and_last[] = {0, 4};  // a decoder's first and last prompt tokens
  EXPECT_EQ(decide_kept_rows(plan, 0, kScores, 1, first_and_last), (std::vector<int64_t>{0, 1, 4}));
}

TEST(KeepDecision, CompactRowsMovesKeptRowsDownInOrder) {
  const int64_t width = 3;
  std::vector<float> data(6 * width);
  for (size_t i = 0; i < data.size(); ++i) data[i] = static_cast<float>(i);
  const std::vector<int64_t> kept = {0, 2, 3, 5};
  compact_rows(data.data(), width, kept);
  for (size_t r = 0; r < kept.size(); ++r) {
    for (int64_t c = 0; c < width; ++c)
      EXPECT_EQ(data[r * width + c], static_cast<float>(kept[r] * width + c)) << "row " << r;
  }
  std::vector<int64_t> positions = {10, 11, 12, 13, 14, 15};
  compact_values(positions, kept);
  EXPECT_EQ(positions, (std::vector<int64_t>{10, 12, 13, 15}));
}

}  // namespace
}  // namespace latte
