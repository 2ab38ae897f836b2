// Task metrics of `latte eval`: accuracy, macro-F1 and Matthews correlation for
// classification; Pearson and Spearman correlation for regression (STS-B style).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace latte::eval {

// Classification metrics take class ids in [0, num_classes) for each example:
// predicted[i] and gold[i] must have the same length (InputError otherwise).

// Share of examples whose prediction equals the gold class; 0 for no examples.
double accuracy(const std::vector<int64_t>& predicted, const std::vector<int64_t>& gold);

// Unweighted mean of the per-class F1 over the classes that occur in gold or in
// predicted (scikit-learn's labels=None behaviour); a class with no true positive scores 0.
double macro_f1(const std::vector<int64_t>& predicted, const std::vector<int64_t>& gold, int64_t num_classes);

// Multi-class Matthews correlation (Gorodkin's R_K, as scikit-learn computes it):
//   (c*s - sum_k p_k t_k) / sqrt((s^2 - sum_k p_k^2) (s^2 - sum_k t_k^2))
// with c correct predictions, s examples, p_k / t_k predicted / true counts of class k.
// 0 when either factor of the denominator is 0 (a constant prediction or gold).
double matthews_corrcoef(const std::vector<int64_t>& predicted, const std::vector<int64_t>& gold,
                         int64_t num_classes);

// The sign of a classifier that learned only the majority class, as one line (empty when none):
// every prediction is one class, or accuracy equals the largest gold class's share. Says
// nothing when gold holds fewer than two classes. class_names[k] names class k.
std::string majority_class_warning(const std::vector<int64_t>& predicted, const std::vector<int64_t>& gold,
                                   const std::vector<std::string>& class_names);

// Pearson's r; NaN when fewer than two values or either side is constant.
double pearson(const std::vector<double>& x, const std::vector<double>& y);

// Spearman's rho: Pearson's r of the ranks, tied values sharing their average rank.
double spearman(const std::vector<double>& x, const std::vector<double>& y);

// 1-based ranks of values, ties given the mean of the ranks they span: {10, 20, 20, 5} -> {2, 3.5, 3.5, 1}.
std::vector<double> average_ranks(const std::vector<double>& values);

}  // namespace latte::eval
