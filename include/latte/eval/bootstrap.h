// A paired bootstrap over test items (examples, windows): several statistics of the same items,
// each recomputed on the same resampled draws, so their intervals are paired with each other.
#pragma once

#include <cstddef>
#include <functional>
#include <span>
#include <vector>

namespace latte {

// An estimate over test items with its 95 % interval from a paired bootstrap: `resamples` draws
// of as many items, with replacement, each statistic recomputed on the draw, with a fixed seed
// (the same input gives the same interval). It says how much the choice of items alone could
// move the estimate; it knows nothing of the spread between training runs.
struct PairedEstimate {
  double value = 0.0;
  double low = 0.0;   // 2.5th percentile of the resampled estimates
  double high = 0.0;  // 97.5th percentile
};

// Writes `count` statistics of the items at `indices` (with repeats) into `values`.
using BootstrapStatistics = std::function<void(std::span<const size_t> indices, std::span<double> values)>;

// The `count` statistics on all `items` items, then on `resamples` draws of `items` indices with
// replacement. Every statistic sees the same draws, and two calls with the same `items` draw the
// same indices, so estimates from separate calls are paired too. InputError for no items or
// fewer than one resample.
std::vector<PairedEstimate> paired_bootstrap(size_t items, size_t count, int resamples,
                                             const BootstrapStatistics& statistics);

}  // namespace latte
