// parallel_ranges / parallel_tasks: every item once, and no parallel region where it would have
// one thread to give work to.
#include <gtest/gtest.h>
#include <omp.h>

#include <atomic>
#include <vector>

#include "latte/core/threads.h"

namespace latte {
namespace {

// Restores the thread count a test changed.
class ThreadCount {
 public:
  explicit ThreadCount(int count) : saved_(num_threads()) { set_num_threads(count); }
  ~ThreadCount() { set_num_threads(saved_); }

 private:
  int saved_;
};

TEST(ParallelRanges, CoverEveryItemOnceInContiguousRanges) {
  for (const int threads : {1, 2, 3, 5}) {
    ThreadCount count(threads);
    for (const int64_t items : {0, 1, 2, 7, 64, 1001}) {
      std::vector<std::atomic<int>> seen(static_cast<size_t>(items));
      std::atomic<int> calls{0};
      parallel_ranges(items, [&](int64_t begin, int64_t end) {
        ASSERT_LT(begin, end);
        ++calls;
        for (int64_t i = begin; i < end; ++i) ++seen[static_cast<size_t>(i)];
      });
      for (int64_t i = 0; i < items; ++i)
        EXPECT_EQ(seen[static_cast<size_t>(i)].load(), 1) << items << " items, " << threads << " threads";
      EXPECT_LE(calls.load(), std::max<int64_t>(1, std::min<int64_t>(items, threads)));
    }
  }
}

TEST(ParallelRanges, RunOnTheCallingThreadWithOneThreadOneItemOrWhenNotWorthwhile) {
  const auto in_region = [](int64_t items, bool worthwhile) {
    bool parallel = true;
    parallel_ranges(
        items, [&](int64_t, int64_t) { parallel = omp_in_parallel() != 0; }, worthwhile);
    return parallel;
  };
  {
    ThreadCount count(1);
    EXPECT_FALSE(in_region(100, true));
  }
  ThreadCount count(2);
  EXPECT_FALSE(in_region(1, true));
  EXPECT_FALSE(in_region(100, false));
  EXPECT_TRUE(in_region(100, true));
  // Inside a parallel region the work stays on the thread that asks: no nested region (level 2).
  int level = 0;
#pragma omp parallel num_threads(2)
  {
#pragma omp single
    parallel_ranges(100, [&](int64_t, int64_t) { level = omp_get_level(); });
  }
  EXPECT_EQ(level, 1);
}

TEST(ParallelTasks, RunEveryTaskOnceAndInOrderOnOneThread) {
  for (const int threads : {1, 2, 4}) {
    ThreadCount count(threads);
    std::vector<std::atomic<int>> seen(37);
    parallel_tasks(37, [&](int64_t task, int worker) {
      EXPECT_GE(worker, 0);
      EXPECT_LT(worker, threads);
      ++seen[static_cast<size_t>(task)];
    });
    for (const auto& one : seen) EXPECT_EQ(one.load(), 1);
  }
  ThreadCount count(1);
  std::vector<int64_t> order;
  parallel_tasks(5, [&](int64_t task, int worker) {
    EXPECT_FALSE(omp_in_parallel());
    EXPECT_EQ(worker, 0);
    order.push_back(task);
  });
  EXPECT_EQ(order, (std::vector<int64_t>{0, 1, 2, 3, 4}));
}

TEST(ParallelTasks, InsideAParallelRegionRunOnTheAskingThreadAsWorkerZero) {
  ThreadCount count(2);
  std::vector<int> workers(2, -1);
#pragma omp parallel num_threads(2)
  {
    const int outer = omp_get_thread_num();
    parallel_tasks(3, [&](int64_t, int worker) { workers[static_cast<size_t>(outer)] = worker; });
  }
  EXPECT_EQ(workers, (std::vector<int>{0, 0}));
}

}  // namespace
}  // namespace latte
