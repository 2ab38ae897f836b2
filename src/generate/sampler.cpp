#include "latte/generate/sampler.h"

#include <algorithm>
#include <cmath>
#include <string>

#include "latte/core/error.h"

namespace latte {

void SamplingOptions::validate() const {
  if (!(temperature > 0.0) || !std::isfinite(temperature)) {
    throw InputError("temperature must be a number > 0, got " + std::to_string(temperature));
  }
  if (top_k < 0) throw InputError("top-k must be >= 0, got " + std::to_string(top_k));
  if (!(top_p > 0.0 && top_p <= 1.0))
    throw InputError("top-p must be in (0, 1], got " + std::to_string(top_p));
}

Sampler::Sampler(SamplingOptions options) : options_(options), generator_(options.seed) {
  options_.validate();
}

int32_t Sampler::next(std::span<const float> logits) {
  if (logits.empty()) throw InputError("no logits to choose a token from");
  if (!options_.sample) {
    return static_cast<int32_t>(std::max_element(logits.begin(), logits.end()) - logits.begin());
  }
  candidates_.clear();
  candidates_.reserve(logits.size());
  for (size_t id = 0; id < logits.size(); ++id) {
    candidates_.emplace_back(logits[id], static_cast<int32_t>(id));
  }
  const auto higher = [](const auto& a, const auto& b) {
    return a.first > b.first || (a.first == b.first && a.second < b.second);
  };
  size_t count = candidates_.size();
  if (options_.top_k > 0 && static_cast<size_t>(options_.top_k) < count) {
    count = static_cast<size_t>(options_.top_k);
    std::partial_sort(candidates_.begin(), candidates_.begin() + static_cast<std::ptrdiff_t>(count),
                      candidates_.end(), higher);
  } else {
    std::sort(candidates_.begin(), candidates_.end(), higher);
  }
  // Softmax of logit / temperature over the survivors, in double.
  const double inverse_temperature = 1.0 / options_.temperature;
  const double top = candidates_[0].first;
  std::vector<double> weights(count);
  double total = 0.0;
  for (size_t i = 0; i < count; ++i) {
    weights[i] = std::exp((candidates_[i].first - top) * inverse_temperature);
    total += weights[i];
  }
  if (options_.top_p < 1.0) {
    // The smallest prefix (by probability) whose mass reaches top_p; at least one token.
    double running = 0.0;
    size_t nucleus = 0;
    while (nucleus < count) {
      running += weights[nucleus] / total;
      ++nucleus;
      if (running >= options_.top_p) break;
    }
    count = nucleus;
    weights.resize(count);
  }
  std::discrete_distribution<size_t> choose(weights.begin(), weights.end());
  return candidates_[choose(generator_)].second;
}

}  // namespace latte
