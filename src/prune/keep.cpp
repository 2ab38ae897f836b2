#include "latte/prune/keep.h"

#include "latte/core/error.h"
#include "latte/prune/selection.h"

namespace latte {

std::vector<int64_t> decide_kept_rows(const SequencePlan& plan, int64_t layer, std::span<const float> scores,
                                      int64_t min_keep, std::span<const int64_t> protected_rows) {
  const auto rows_in = static_cast<int64_t>(scores.size());
  int64_t keep = rows_in;
  if (plan.dynamic) {
    keep = coverage_keep_count(scores, plan.coverage, min_keep);
  } else if (!plan.dense) {
    if (layer < 0 || layer >= static_cast<int64_t>(plan.counts.size())) {
      throw Error("keep schedule has " + std::to_string(plan.counts.size()) + " entries; layer " +
                  std::to_string(layer) + " has none");
    }
    keep = std::min(plan.counts[static_cast<size_t>(layer)], rows_in);
  }
  if (keep >= rows_in) {
    std::vector<int64_t> all(static_cast<size_t>(rows_in));
    for (int64_t row = 0; row < rows_in; ++row) all[static_cast<size_t>(row)] = row;
    return all;
  }
  return select_kept_rows(scores, keep, protected_rows);
}

}  // namespace latte
