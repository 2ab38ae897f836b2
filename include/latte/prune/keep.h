// The keep decision (DESIGN.md section 1), written once for the engine of every family and the
// trainer: which of a sequence's word-vectors survive a layer (core/compact.h moves the
// survivors together).
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "latte/core/compact.h"
#include "latte/prune/plan.h"

namespace latte {

// Indices (ascending, into the `scores.size()` rows of one sequence entering `layer`) of the rows
// that leave it. Dense plan: all rows. Dynamic plan: the smallest top-k whose ACC share reaches
// the plan's coverage, at least `min_keep`. Static plan: plan.counts[layer] (at most the rows
// entering). Protected rows (indices into the same rows, e.g. 0 for BERT's [CLS]; the first and
// the last prompt token for decoders) are always kept and count toward the number kept.
std::vector<int64_t> decide_kept_rows(const SequencePlan& plan, int64_t layer, std::span<const float> scores,
                                      int64_t min_keep, std::span<const int64_t> protected_rows);

}  // namespace latte
