// Metrics of `latte eval` against values computed by hand (the working is in the comments).
#include <gtest/gtest.h>

#include <cmath>

#include "latte/core/error.h"
#include "latte/eval/metrics.h"

namespace {

using namespace latte::eval;

// gold: 0 0 0 1 1 2 2 2 2 1
// pred: 0 1 0 1 2 2 2 0 2 1
// correct: examples 0 2 3 5 6 8 9 -> 7 of 10.
// Per class (t = gold count, p = predicted count, tp = true positives):
//   class 0: t 3, p 3 (ex 0 2 7), tp 2 -> F1 = 2*2/(3+3) = 8/12
//   class 1: t 3, p 3 (ex 1 3 9), tp 2 -> F1 = 8/12
//   class 2: t 4, p 4 (ex 4 5 6 8), tp 3 -> F1 = 2*3/(4+4) = 9/12
// macro-F1 = (8 + 8 + 9) / 36 = 25/36.
// MCC (Gorodkin): c = 7, s = 10, sum p_k t_k = 9 + 9 + 16 = 34, sum p_k^2 = sum t_k^2 = 34:
//   (7*10 - 34) / sqrt((100 - 34) * (100 - 34)) = 36 / 66 = 6/11.
const std::vector<int64_t> kGold = {0, 0, 0, 1, 1, 2, 2, 2, 2, 1};
const std::vector<int64_t> kPredicted = {0, 1, 0, 1, 2, 2, 2, 0, 2, 1};

TEST(Metrics, AccuracyMacroF1AndMccThreeClasses) {
  EXPECT_DOUBLE_EQ(accuracy(kPredicted, kGold), 0.7);
  EXPECT_NEAR(macro_f1(kPredicted, kGold, 3), 25.0 / 36.0, 1e-12);
  EXPECT_NEAR(matthews_corrcoef(kPredicted, kGold, 3), 6.0 / 11.0, 1e-12);
  // A class that occurs in neither gold nor prediction does not count (scikit-learn's labels=None).
  EXPECT_NEAR(macro_f1(kPredicted, kGold, 4), 25.0 / 36.0, 1e-12);
}

TEST(Metrics, BinaryMccMatchesTheTwoByTwoFormula) {
  // gold 1 1 1 0 0 0 0 1, pred 1 0 1 0 0 1 0 1: TP 3, FN 1, TN 3, FP 1.
  // (TP*TN - FP*FN) / sqrt((TP+FP)(TP+FN)(TN+FP)(TN+FN)) = (9 - 1) / sqrt(4*4*4*4) = 0.5.
  const std::vector<int64_t> gold = {1, 1, 1, 0, 0, 0, 0, 1};
  const std::vector<int64_t> predicted = {1, 0, 1, 0, 0, 1, 0, 1};
  EXPECT_NEAR(matthews_corrcoef(predicted, gold, 2), 0.5, 1e-12);
  // F1: class 1 = 2*3/(4+4) = 0.75, class 0 = 2*3/(4+4) = 0.75.
  EXPECT_NEAR(macro_f1(predicted, gold, 2), 0.75, 1e-12);
}

TEST(Metrics, DegenerateCases) {
  // A constant prediction: the denominator's predicted factor is 0, MCC is defined as 0.
  EXPECT_EQ(matthews_corrcoef({1, 1, 1}, {0, 1, 0}, 2), 0.0);
  EXPECT_EQ(matthews_corrcoef({0, 1}, {0, 1}, 2), 1.0);
  EXPECT_EQ(matthews_corrcoef({1, 0}, {0, 1}, 2), -1.0);
  EXPECT_EQ(accuracy({}, {}), 0.0);
  EXPECT_EQ(macro_f1({}, {}, 2), 0.0);
  EXPECT_THROW(accuracy({1}, {1, 0}), latte::InputError);
  EXPECT_THROW(macro_f1({2}, {0}, 2), latte::InputError);
  EXPECT_THROW(matthews_corrcoef({-1}, {0}, 2), latte::InputError);
}

TEST(Metrics, PearsonAndSpearmanWithTies) {
  // x 1 2 3 4 5, y 2 4 5 4 5: means 3 and 4; dx -2 -1 0 1 2, dy -2 0 1 0 1.
  // sum dx*dy = 4 + 2 = 6, sum dx^2 = 10, sum dy^2 = 6 -> r = 6 / sqrt(60).
  const std::vector<double> x = {1, 2, 3, 4, 5}, y = {2, 4, 5, 4, 5};
  EXPECT_NEAR(pearson(x, y), 6.0 / std::sqrt(60.0), 1e-12);
  // Ranks of y with ties averaged: 2 -> 1, the 4s -> 2.5, the 5s -> 4.5: 1 2.5 4.5 2.5 4.5.
  // dy -2 -0.5 1.5 -0.5 1.5: sum dx*dy = 4 + 0.5 - 0.5 + 3 = 7, sum dy^2 = 9 -> rho = 7 / sqrt(90).
  EXPECT_NEAR(spearman(x, y), 7.0 / std::sqrt(90.0), 1e-12);
  EXPECT_EQ(average_ranks({10, 20, 20, 5}), (std::vector<double>{2, 3.5, 3.5, 1}));
  EXPECT_NEAR(pearson({1, 2, 3}, {3, 2, 1}), -1.0, 1e-12);
  // Spearman only sees order: any increasing map gives 1.
  EXPECT_NEAR(spearman({1, 2, 3, 4}, {1, 10, 100, 1000}), 1.0, 1e-12);
}

TEST(Metrics, CorrelationOfConstantsIsNan) {
  EXPECT_TRUE(std::isnan(pearson({1, 1, 1}, {1, 2, 3})));
  EXPECT_TRUE(std::isnan(pearson({1}, {2})));
  EXPECT_TRUE(std::isnan(spearman({2, 2}, {1, 2})));
  EXPECT_THROW(pearson({1, 2}, {1}), latte::InputError);
}

}  // namespace

namespace {

const std::vector<std::string> kHamSpam = {"ham", "spam"};

// Class ids from digits, "0010" -> {0, 0, 1, 0}: each case reads as one line.
std::vector<int64_t> classes(const std::string& digits) {
  std::vector<int64_t> ids;
  for (const char digit : digits) ids.push_back(digit - '0');
  return ids;
}

std::string warning_for(const std::string& predicted, const std::string& gold,
                        const std::vector<std::string>& names = kHamSpam) {
  return latte::eval::majority_class_warning(classes(predicted), classes(gold), names);
}

TEST(MajorityClassWarning, EveryPredictionTheLargestClass) {
  // gold: 3 ham, 1 spam; every prediction ham -> accuracy 0.75 = ham's share.
  EXPECT_EQ(warning_for("0000", "0010"),
            "every prediction is 'ham' (75.0% of the examples, the largest class): the model learned only "
            "one class");
}

TEST(MajorityClassWarning, EveryPredictionASmallerClass) {
  EXPECT_EQ(warning_for("1111", "0010"),
            "every prediction is 'spam' (25.0% of the examples): the model learned only one class");
}

TEST(MajorityClassWarning, MixedPredictionsNoBetterThanTheLargestShare) {
  // gold: 0 0 0 1 2, pred: 0 0 0 0 1 -> correct 3 of 5 = the share of class 'a'.
  EXPECT_EQ(warning_for("00001", "00012", {"a", "b", "c"}),
            "accuracy 0.6000 equals the share of the largest class 'a': no better than always predicting it");
}

TEST(MajorityClassWarning, SilentForAUsefulModelAndForOneClassGold) {
  EXPECT_EQ(warning_for("0010", "0010"), "");  // all right
  EXPECT_EQ(warning_for("1110", "0010"), "");  // 2 of 4 right, both classes predicted
  EXPECT_EQ(warning_for("000", "000"), "");    // nothing to tell apart
  EXPECT_EQ(warning_for("", ""), "");
  EXPECT_THROW(warning_for("02", "01"), latte::InputError);
}

}  // namespace
