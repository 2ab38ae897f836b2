#include "latte/eval/bootstrap.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <random>

#include "latte/core/error.h"

namespace latte {

std::vector<PairedEstimate> paired_bootstrap(size_t items, size_t count, int resamples,
                                             const BootstrapStatistics& statistics) {
  if (resamples < 1) throw InputError("a bootstrap needs at least one resample");
  if (items == 0) throw InputError("a bootstrap needs at least one item");
  std::vector<size_t> indices(items);
  std::iota(indices.begin(), indices.end(), size_t{0});
  std::vector<double> values(count);
  statistics(indices, values);
  std::mt19937_64 generator(20261126);
  std::uniform_int_distribution<size_t> pick(0, items - 1);
  // draws[k][r]: statistic k on draw r.
  std::vector<std::vector<double>> draws(count, std::vector<double>(static_cast<size_t>(resamples)));
  std::vector<double> drawn(count);
  for (size_t r = 0; r < static_cast<size_t>(resamples); ++r) {
    for (size_t& index : indices) index = pick(generator);
    statistics(indices, drawn);
    for (size_t k = 0; k < count; ++k) draws[k][r] = drawn[k];
  }
  std::vector<PairedEstimate> estimates(count);
  for (size_t k = 0; k < count; ++k) {
    std::sort(draws[k].begin(), draws[k].end());
    const auto at = [&](double quantile) {
      return draws[k][static_cast<size_t>(std::lround(quantile * static_cast<double>(resamples - 1)))];
    };
    estimates[k] = {values[k], at(0.025), at(0.975)};
  }
  return estimates;
}

}  // namespace latte
