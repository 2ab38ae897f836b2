#include "latte/eval/metrics.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <numeric>
#include <string>

#include "latte/core/error.h"

namespace latte::eval {

namespace {

void check_classes(const std::vector<int64_t>& predicted, const std::vector<int64_t>& gold,
                   int64_t num_classes) {
  if (predicted.size() != gold.size()) {
    throw InputError("metrics: " + std::to_string(predicted.size()) + " predictions for " +
                     std::to_string(gold.size()) + " gold labels");
  }
  for (size_t i = 0; i < gold.size(); ++i) {
    if (predicted[i] < 0 || predicted[i] >= num_classes || gold[i] < 0 || gold[i] >= num_classes) {
      throw InputError("metrics: example " + std::to_string(i) + " has a class id outside [0, " +
                       std::to_string(num_classes) + ")");
    }
  }
}

// counts[gold][predicted]
std::vector<std::vector<int64_t>> confusion(const std::vector<int64_t>& predicted,
                                            const std::vector<int64_t>& gold, int64_t num_classes) {
  std::vector<std::vector<int64_t>> counts(static_cast<size_t>(num_classes),
                                           std::vector<int64_t>(static_cast<size_t>(num_classes), 0));
  for (size_t i = 0; i < gold.size(); ++i) ++counts[gold[i]][predicted[i]];
  return counts;
}

}  // namespace

double accuracy(const std::vector<int64_t>& predicted, const std::vector<int64_t>& gold) {
  if (predicted.size() != gold.size()) {
    throw InputError("metrics: " + std::to_string(predicted.size()) + " predictions for " +
                     std::to_string(gold.size()) + " gold labels");
  }
  if (gold.empty()) return 0.0;
  int64_t correct = 0;
  for (size_t i = 0; i < gold.size(); ++i) correct += predicted[i] == gold[i];
  return static_cast<double>(correct) / static_cast<double>(gold.size());
}

std::string majority_class_warning(const std::vector<int64_t>& predicted, const std::vector<int64_t>& gold,
                                   const std::vector<std::string>& class_names) {
  const auto num_classes = static_cast<int64_t>(class_names.size());
  check_classes(predicted, gold, num_classes);
  const auto counts = confusion(predicted, gold, num_classes);
  std::vector<int64_t> gold_counts(class_names.size(), 0), predicted_counts(class_names.size(), 0);
  int64_t correct = 0;
  for (size_t g = 0; g < counts.size(); ++g) {
    for (size_t p = 0; p < counts.size(); ++p) {
      gold_counts[g] += counts[g][p];
      predicted_counts[p] += counts[g][p];
    }
    correct += counts[g][g];
  }
  if (std::count_if(gold_counts.begin(), gold_counts.end(), [](int64_t count) { return count > 0; }) < 2)
    return "";
  const auto largest =
      static_cast<size_t>(std::max_element(gold_counts.begin(), gold_counts.end()) - gold_counts.begin());
  const double total = static_cast<double>(gold.size());
  const auto percent = [&](int64_t count) {
    char text[32];
    std::snprintf(text, sizeof(text), "%.1f%%", 100.0 * static_cast<double>(count) / total);
    return std::string(text);
  };
  const auto only =
      std::find(predicted_counts.begin(), predicted_counts.end(), static_cast<int64_t>(gold.size()));
  if (only != predicted_counts.end()) {
    const auto predicted_class = static_cast<size_t>(only - predicted_counts.begin());
    return "every prediction is '" + class_names[predicted_class] + "' (" +
           percent(gold_counts[predicted_class]) + " of the examples" +
           (gold_counts[predicted_class] == gold_counts[largest] ? ", the largest class" : "") +
           "): the model learned only one class";
  }
  if (correct != gold_counts[largest]) return "";
  char share[32];
  std::snprintf(share, sizeof(share), "%.4f", static_cast<double>(correct) / total);
  return "accuracy " + std::string(share) + " equals the share of the largest class '" +
         class_names[largest] + "': no better than always predicting it";
}

double macro_f1(const std::vector<int64_t>& predicted, const std::vector<int64_t>& gold,
                int64_t num_classes) {
  check_classes(predicted, gold, num_classes);
  const auto counts = confusion(predicted, gold, num_classes);
  double total = 0.0;
  int64_t classes = 0;
  for (int64_t k = 0; k < num_classes; ++k) {
    int64_t true_count = 0, predicted_count = 0;
    for (int64_t j = 0; j < num_classes; ++j) {
      true_count += counts[k][j];
      predicted_count += counts[j][k];
    }
    if (true_count == 0 && predicted_count == 0) continue;
    ++classes;
    // F1 = 2 TP / (2 TP + FP + FN) = 2 TP / (predicted + true).
    total += 2.0 * static_cast<double>(counts[k][k]) / static_cast<double>(true_count + predicted_count);
  }
  return classes == 0 ? 0.0 : total / static_cast<double>(classes);
}

double matthews_corrcoef(const std::vector<int64_t>& predicted, const std::vector<int64_t>& gold,
                         int64_t num_classes) {
  check_classes(predicted, gold, num_classes);
  std::vector<double> true_counts(static_cast<size_t>(num_classes), 0.0);
  std::vector<double> predicted_counts(static_cast<size_t>(num_classes), 0.0);
  double correct = 0.0;
  for (size_t i = 0; i < gold.size(); ++i) {
    true_counts[gold[i]] += 1.0;
    predicted_counts[predicted[i]] += 1.0;
    correct += predicted[i] == gold[i];
  }
  const double samples = static_cast<double>(gold.size());
  double cross = 0.0, predicted_squares = 0.0, true_squares = 0.0;
  for (int64_t k = 0; k < num_classes; ++k) {
    cross += predicted_counts[k] * true_counts[k];
    predicted_squares += predicted_counts[k] * predicted_counts[k];
    true_squares += true_counts[k] * true_counts[k];
  }
  const double denominator = (samples * samples - predicted_squares) * (samples * samples - true_squares);
  if (denominator <= 0.0) return 0.0;
  return (correct * samples - cross) / std::sqrt(denominator);
}

double pearson(const std::vector<double>& x, const std::vector<double>& y) {
  if (x.size() != y.size()) {
    throw InputError("metrics: " + std::to_string(x.size()) + " predictions for " + std::to_string(y.size()) +
                     " gold scores");
  }
  const double nan = std::numeric_limits<double>::quiet_NaN();
  if (x.size() < 2) return nan;
  const double count = static_cast<double>(x.size());
  const double mean_x = std::accumulate(x.begin(), x.end(), 0.0) / count;
  const double mean_y = std::accumulate(y.begin(), y.end(), 0.0) / count;
  double sxy = 0.0, sxx = 0.0, syy = 0.0;
  for (size_t i = 0; i < x.size(); ++i) {
    const double dx = x[i] - mean_x, dy = y[i] - mean_y;
    sxy += dx * dy;
    sxx += dx * dx;
    syy += dy * dy;
  }
  if (sxx == 0.0 || syy == 0.0) return nan;
  return sxy / std::sqrt(sxx * syy);
}

std::vector<double> average_ranks(const std::vector<double>& values) {
  std::vector<size_t> order(values.size());
  std::iota(order.begin(), order.end(), size_t{0});
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return values[a] < values[b]; });
  std::vector<double> ranks(values.size());
  for (size_t start = 0; start < order.size();) {
    size_t end = start + 1;
    while (end < order.size() && values[order[end]] == values[order[start]]) ++end;
    // Positions start..end-1 hold ranks start+1..end; their mean is (start+1+end)/2.
    const double rank = (static_cast<double>(start + 1) + static_cast<double>(end)) / 2.0;
    for (size_t i = start; i < end; ++i) ranks[order[i]] = rank;
    start = end;
  }
  return ranks;
}

double spearman(const std::vector<double>& x, const std::vector<double>& y) {
  if (x.size() != y.size()) {
    throw InputError("metrics: " + std::to_string(x.size()) + " predictions for " + std::to_string(y.size()) +
                     " gold scores");
  }
  return pearson(average_ranks(x), average_ranks(y));
}

}  // namespace latte::eval
