// layers/kv_cache.h: rows in arrival order with their original positions, shrunk by `keep`.
#include <gtest/gtest.h>

#include <algorithm>
#include <functional>
#include <string>
#include <vector>

#include "latte/core/error.h"
#include "latte/layers/kv_cache.h"
#include "test_support.h"

namespace latte {
namespace {

// Rows of `width` keys then `width` values, stride 2 * width + 1; row r's entries are 100 r + i
// (keys) and -(100 r + i) (values).
std::vector<float> interleaved_rows(int64_t rows, int64_t width, int64_t first_row) {
  const int64_t stride = 2 * width + 1;
  std::vector<float> data(static_cast<size_t>(rows * stride), 0.0f);
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t i = 0; i < width; ++i) {
      data[r * stride + i] = static_cast<float>(100 * (first_row + r) + i);
      data[r * stride + width + i] = -static_cast<float>(100 * (first_row + r) + i);
    }
  }
  return data;
}

using test_support::error_of;

TEST(KvCache, AppendKeepsRowsPositionsAndBytes) {
  const int64_t width = 4, stride = 2 * width + 1;
  LayerCache cache(width);
  const std::vector<float> first = interleaved_rows(3, width, 0);
  const std::vector<int64_t> first_positions = {0, 1, 2};
  cache.append(first.data(), first.data() + width, stride, 3, first_positions);
  const std::vector<float> second = interleaved_rows(2, width, 3);
  const std::vector<int64_t> second_positions = {5, 9};  // gaps: rows pruned before caching
  cache.append(second.data(), second.data() + width, stride, 2, second_positions);

  ASSERT_EQ(cache.rows(), 5);
  EXPECT_EQ(std::vector<int64_t>(cache.positions().begin(), cache.positions().end()),
            (std::vector<int64_t>{0, 1, 2, 5, 9}));
  EXPECT_EQ(cache.bytes(), 5u * width * 2 * sizeof(float));
  for (int64_t r = 0; r < 5; ++r) {
    for (int64_t i = 0; i < width; ++i) {
      EXPECT_EQ(cache.keys()[r * width + i], static_cast<float>(100 * r + i));
      EXPECT_EQ(cache.values()[r * width + i], -static_cast<float>(100 * r + i));
    }
  }

  const std::vector<int64_t> kept = {0, 2, 4};
  cache.keep(kept);
  ASSERT_EQ(cache.rows(), 3);
  EXPECT_EQ(std::vector<int64_t>(cache.positions().begin(), cache.positions().end()),
            (std::vector<int64_t>{0, 2, 9}));
  EXPECT_EQ(cache.bytes(), 3u * width * 2 * sizeof(float));
  for (size_t r = 0; r < kept.size(); ++r) {
    EXPECT_EQ(cache.keys()[static_cast<int64_t>(r) * width + 1], static_cast<float>(100 * kept[r] + 1));
    EXPECT_EQ(cache.values()[static_cast<int64_t>(r) * width + 3], -static_cast<float>(100 * kept[r] + 3));
  }

  // Appending after a keep continues above the last kept position.
  const std::vector<float> third = interleaved_rows(1, width, 7);
  const std::vector<int64_t> third_positions = {10};
  cache.append(third.data(), third.data() + width, stride, 1, third_positions);
  EXPECT_EQ(cache.rows(), 4);
  EXPECT_EQ(cache.keys()[3 * width], 700.0f);

  cache.clear();
  EXPECT_EQ(cache.rows(), 0);
  EXPECT_EQ(cache.bytes(), 0u);
  EXPECT_EQ(cache.width(), width);
}

TEST(KvCache, PositionsMustAscendAboveTheLastCachedRow) {
  const int64_t width = 2, stride = 2 * width + 1;
  LayerCache cache(width);
  const std::vector<float> rows = interleaved_rows(2, width, 0);
  const std::vector<int64_t> descending = {3, 1};
  EXPECT_NE(error_of([&] {
              cache.append(rows.data(), rows.data() + width, stride, 2, descending);
            }).find("row 1 has position 1, not above 3"),
            std::string::npos);
  EXPECT_EQ(cache.rows(), 0);  // nothing half-appended

  const std::vector<int64_t> first = {4, 5};
  cache.append(rows.data(), rows.data() + width, stride, 2, first);
  const std::vector<int64_t> repeated = {5};
  EXPECT_NE(error_of([&] {
              cache.append(rows.data(), rows.data() + width, stride, 1, repeated);
            }).find("position 5, not above 5"),
            std::string::npos);
  EXPECT_EQ(cache.rows(), 2);
}

TEST(KvCache, WidthStrideAndKeepListsAreChecked) {
  const int64_t width = 4;
  LayerCache cache(width);
  const std::vector<float> rows = interleaved_rows(2, width, 0);
  const std::vector<int64_t> positions = {0, 1};
  // Rows narrower than the cache: a stride below the width cannot hold a whole row.
  EXPECT_NE(error_of([&] {
              cache.append(rows.data(), rows.data() + 2, 2, 2, positions);
            }).find("row stride 2 is below the cache width 4"),
            std::string::npos);
  EXPECT_NE(error_of([&] {
              cache.append(rows.data(), rows.data() + width, 9, 1, positions);
            }).find("append of 1 rows got 2 positions"),
            std::string::npos);
  LayerCache unsized;
  EXPECT_NE(
      error_of([&] { unsized.append(rows.data(), rows.data() + width, 9, 2, positions); }).find("width 0"),
      std::string::npos);

  cache.append(rows.data(), rows.data() + width, 9, 2, positions);
  const std::vector<int64_t> out_of_range = {0, 2};
  EXPECT_NE(error_of([&] { cache.keep(out_of_range); }).find("entry 1 is row 2"), std::string::npos);
  const std::vector<int64_t> unordered = {1, 0};
  EXPECT_NE(error_of([&] { cache.keep(unordered); }).find("entry 1 is row 0"), std::string::npos);
  EXPECT_EQ(cache.rows(), 2);
}

// Head-major ([heads, capacity, head_dim]): the same rows as whole-row storage, each head's rows
// contiguous, through appends, growth, a keep and another append.
TEST(KvCache, HeadMajorHoldsTheSameRowsEachHeadContiguous) {
  const int64_t width = 12, head_dim = 4, stride = 2 * width + 1;  // interleaved_rows' layout
  LayerCache rows_whole(width), head_major(width, head_dim);
  EXPECT_EQ(head_major.row_stride(), head_dim);
  EXPECT_EQ(rows_whole.row_stride(), width);
  EXPECT_EQ(rows_whole.head_stride(), 0);
  int64_t position = 0;
  for (const int64_t n : {int64_t{3}, int64_t{1}, int64_t{9}, int64_t{1}}) {
    const std::vector<float> rows = interleaved_rows(n, width, position);
    std::vector<int64_t> positions(static_cast<size_t>(n));
    for (int64_t& p : positions) p = position++;
    for (LayerCache* cache : {&rows_whole, &head_major})
      cache->append(rows.data(), rows.data() + width, stride, n, positions);
  }
  const std::vector<int64_t> kept = {0, 3, 4, 8, 13};
  for (LayerCache* cache : {&rows_whole, &head_major}) cache->keep(kept);
  const std::vector<float> last = interleaved_rows(1, width, 20);
  const int64_t last_position = 20;
  for (LayerCache* cache : {&rows_whole, &head_major})
    cache->append(last.data(), last.data() + width, stride, 1, std::span<const int64_t>(&last_position, 1));
  ASSERT_EQ(head_major.rows(), 6);
  EXPECT_EQ(head_major.bytes(), rows_whole.bytes());
  EXPECT_GE(head_major.head_stride(), head_major.rows() * head_dim);
  for (int64_t r = 0; r < 6; ++r) {
    for (int64_t c = 0; c < width; ++c) {
      EXPECT_EQ(head_major.key(r, c), rows_whole.keys()[r * width + c]) << r << ", " << c;
      EXPECT_EQ(head_major.value(r, c), rows_whole.values()[r * width + c]) << r << ", " << c;
      // Head c / head_dim's block: rows head_dim apart.
      EXPECT_EQ(head_major.keys()[(c / head_dim) * head_major.head_stride() + r * head_dim + c % head_dim],
                head_major.key(r, c));
    }
  }
  EXPECT_NE(error_of([] { LayerCache(12, 5); }).find("head_dim 5 does not divide the width 12"),
            std::string::npos);
}

// A copy holds the same rows, positions and capacity in buffers of its own; appending to one leaves
// the other as it was.
TEST(KvCache, CopiesHoldTheSameRowsApart) {
  const int64_t width = 12, head_dim = 4, stride = 2 * width + 1;
  for (const int64_t dim : {head_dim, width}) {
    LayerCache original(width, dim);
    const std::vector<float> rows = interleaved_rows(5, width, 0);
    const std::vector<int64_t> positions = {0, 1, 2, 3, 4};
    original.append(rows.data(), rows.data() + width, stride, 5, positions);
    original.keep(std::vector<int64_t>{0, 2, 4});
    LayerCache copy = original;
    LayerCache assigned(width, dim);
    assigned = original;
    for (const LayerCache* cache : {&copy, &assigned}) {
      ASSERT_EQ(cache->rows(), 3);
      EXPECT_EQ(cache->capacity(), original.capacity());
      EXPECT_NE(cache->keys(), original.keys());
      EXPECT_TRUE(
          std::equal(cache->positions().begin(), cache->positions().end(), original.positions().begin()));
      for (int64_t r = 0; r < 3; ++r) {
        for (int64_t c = 0; c < width; ++c) {
          EXPECT_EQ(cache->key(r, c), original.key(r, c)) << r << ", " << c;
          EXPECT_EQ(cache->value(r, c), original.value(r, c)) << r << ", " << c;
        }
      }
    }
    const std::vector<float> more = interleaved_rows(1, width, 7);
    const int64_t position = 7;
    copy.append(more.data(), more.data() + width, stride, 1, std::span<const int64_t>(&position, 1));
    EXPECT_EQ(original.rows(), 3);
    EXPECT_EQ(copy.key(3, 1), 701.0f);
    EXPECT_EQ(original.key(2, 1), 401.0f);
    const LayerCache blank(width, dim);
    const LayerCache blank_copy = blank;  // nothing held, no buffers
    EXPECT_EQ(blank_copy.rows(), 0);
    EXPECT_EQ(blank_copy.capacity(), 0);
  }
}

// A decode step appends one row: the cache must grow geometrically, not copy itself every step.
TEST(KvCache, OneRowAppendsReallocateRarely) {
  const int64_t width = 16, stride = 2 * width + 1;
  LayerCache cache(width);
  int reallocations = 0;
  const float* last = nullptr;
  for (int64_t r = 0; r < 1000; ++r) {
    const std::vector<float> row = interleaved_rows(1, width, r);
    const int64_t position = r;
    cache.append(row.data(), row.data() + width, stride, 1, std::span<const int64_t>(&position, 1));
    if (cache.keys() != last) ++reallocations;
    last = cache.keys();
  }
  EXPECT_LE(reallocations, 20);  // about log2(1000) doublings
  EXPECT_EQ(cache.keys()[999 * width + 5], 100.0f * 999 + 5);
  EXPECT_EQ(cache.values()[3 * width + 2], -(100.0f * 3 + 2));

  // Reserved room: the next appends keep the rows where they are.
  cache.reserve(cache.rows() + 64);
  EXPECT_GE(cache.capacity(), 1064);
  last = cache.keys();
  for (int64_t r = 1000; r < 1064; ++r) {
    const std::vector<float> row = interleaved_rows(1, width, r);
    cache.append(row.data(), row.data() + width, stride, 1, std::span<const int64_t>(&r, 1));
  }
  EXPECT_EQ(cache.keys(), last);
  EXPECT_EQ(cache.bytes(), 1064u * width * 2 * sizeof(float));  // rows held, not capacity
  EXPECT_NE(error_of([&] { cache.reserve(-1); }).find("reserve of -1 rows"), std::string::npos);

  KvCache whole(2, width);
  const std::vector<float> rows = interleaved_rows(3, width, 0);
  const std::vector<int64_t> positions = {0, 1, 2};
  whole.layers[0].append(rows.data(), rows.data() + width, stride, 3, positions);
  whole.reserve_more(5);
  EXPECT_GE(whole.layers[0].capacity(), 8);
  EXPECT_GE(whole.layers[1].capacity(), 5);
}

TEST(KvCache, WholeCacheSumsItsLayers) {
  KvCache cache(3, 8);
  ASSERT_EQ(cache.layers.size(), 3u);
  std::vector<float> rows(static_cast<size_t>(2 * 16), 1.0f);
  const std::vector<int64_t> positions = {0, 1};
  cache.layers[0].append(rows.data(), rows.data() + 8, 16, 2, positions);
  cache.layers[2].append(rows.data(), rows.data() + 8, 16, 1, std::span<const int64_t>(positions).first(1));
  EXPECT_EQ(cache.bytes(), 3u * 8 * 2 * sizeof(float));
}

}  // namespace
}  // namespace latte
