// The ACC keep rule (DESIGN.md section 1), one definition for the engine and
// the trainer: which word-vectors of one sequence survive a layer.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

namespace latte {

// Smallest k whose top-k scores carry at least `coverage` of the total
// (C_l(k) >= tau), at least min_keep, at most scores.size(). coverage >= 1
// keeps everything (the dense model).
int64_t coverage_keep_count(std::span<const float> scores, double coverage, int64_t min_keep);

// Positions (ascending, i.e. original order) of the `keep` highest-scoring rows.
// Protected positions are always kept and count toward `keep`; ties go to the
// earlier position. keep is clamped to [protected count, scores.size()].
std::vector<int64_t> select_kept_rows(std::span<const float> scores, int64_t keep,
                                      std::span<const int64_t> protected_positions);

// C_l(k) for k = 1..n: share of the total score carried by the k best rows.
std::vector<double> acc_curve(std::span<const float> scores);

}  // namespace latte
