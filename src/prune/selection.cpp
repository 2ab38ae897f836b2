#include "latte/prune/selection.h"

#include <algorithm>
#include <numeric>

namespace latte {

namespace {

// Row order by descending score, earlier position first among equals.
std::vector<int64_t> ranking(std::span<const float> scores) {
  std::vector<int64_t> order(scores.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t b) { return scores[a] > scores[b]; });
  return order;
}

}  // namespace

int64_t coverage_keep_count(std::span<const float> scores, double coverage, int64_t min_keep) {
  const int64_t n = static_cast<int64_t>(scores.size());
  const int64_t floor = std::clamp<int64_t>(min_keep, 0, n);
  if (coverage >= 1.0 || n == 0) return n;
  std::vector<float> sorted(scores.begin(), scores.end());
  std::sort(sorted.begin(), sorted.end(), std::greater<float>());
  double total = 0.0;
  for (float score : sorted) total += score;
  if (!(total > 0.0)) return n;
  double running = 0.0;
  for (int64_t k = 0; k < n; ++k) {
    running += sorted[static_cast<size_t>(k)];
    if (running >= coverage * total) return std::max(k + 1, floor);
  }
  return n;
}

std::vector<int64_t> select_kept_rows(std::span<const float> scores, int64_t keep,
                                      std::span<const int64_t> protected_positions) {
  const int64_t n = static_cast<int64_t>(scores.size());
  std::vector<char> chosen(static_cast<size_t>(n), 0);
  int64_t count = 0;
  for (int64_t position : protected_positions) {
    if (position >= 0 && position < n && !chosen[static_cast<size_t>(position)]) {
      chosen[static_cast<size_t>(position)] = 1;
      ++count;
    }
  }
  keep = std::clamp(keep, count, n);
  if (keep < n) {
    for (int64_t position : ranking(scores)) {
      if (count >= keep) break;
      if (!chosen[static_cast<size_t>(position)]) {
        chosen[static_cast<size_t>(position)] = 1;
        ++count;
      }
    }
  } else {
    std::fill(chosen.begin(), chosen.end(), 1);
  }
  std::vector<int64_t> kept;
  kept.reserve(static_cast<size_t>(keep));
  for (int64_t position = 0; position < n; ++position) {
    if (chosen[static_cast<size_t>(position)]) kept.push_back(position);
  }
  return kept;
}

std::vector<double> acc_curve(std::span<const float> scores) {
  std::vector<float> sorted(scores.begin(), scores.end());
  std::sort(sorted.begin(), sorted.end(), std::greater<float>());
  double total = 0.0;
  for (float score : sorted) total += score;
  std::vector<double> curve;
  curve.reserve(sorted.size());
  double running = 0.0;
  for (float score : sorted) {
    running += score;
    curve.push_back(total > 0.0 ? running / total : 1.0);
  }
  return curve;
}

}  // namespace latte
