// The keep decision (DESIGN.md section 1), written once for the engine of every family and the
// trainer: which of a sequence's word-vectors survive a layer, and the in-place compaction of
// the survivors.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "latte/prune/plan.h"

namespace latte {

// Indices (ascending, into the `scores.size()` rows of one sequence entering `layer`) of the rows
// that leave it. Dense plan: all rows. Dynamic plan: the smallest top-k whose ACC share reaches
// the plan's coverage, at least `min_keep`. Static plan: plan.counts[layer] (at most the rows
// entering). Protected rows (indices into the same rows, e.g. 0 for BERT's [CLS]; the first and
// the last prompt token for decoders) are always kept and count toward the number kept.
std::vector<int64_t> decide_kept_rows(const SequencePlan& plan, int64_t layer, std::span<const float> scores,
                                      int64_t min_keep, std::span<const int64_t> protected_rows);

// rows[kept[i]] -> rows[i] for `data` holding rows of `row_width` floats; kept is ascending, so
// moving each row down never overwrites one still to be read.
void compact_rows(float* data, int64_t row_width, std::span<const int64_t> kept);

// The same for any per-row value (positions, ids).
template <typename T>
void compact_values(std::vector<T>& values, std::span<const int64_t> kept) {
  for (size_t target = 0; target < kept.size(); ++target)
    values[target] = values[static_cast<size_t>(kept[target])];
  values.resize(kept.size());
}

}  // namespace latte
