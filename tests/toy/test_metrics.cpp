// The toy metrics on scores and weights that are not ordinary numbers: NaN is refused
// (it has no rank), infinities rank and never hang.

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <stdexcept>

#include "toy/metrics.h"
#include "toy/prm.h"

namespace ponder::toy {
namespace {

constexpr double kNan = std::numeric_limits<double>::quiet_NaN();
constexpr double kInf = std::numeric_limits<double>::infinity();

TEST(ToyMetricsEdges, RocAucRefusesNaNScores) {
  EXPECT_THROW(roc_auc({{kNan, true}, {0.5, false}}), std::invalid_argument);
  EXPECT_THROW(roc_auc({{0.9, true}, {kNan, false}, {kNan, true}, {0.1, false}}), std::invalid_argument);
  try {
    roc_auc({{kNan, true}, {0.2, false}, {-kNan, false}});
    FAIL() << "NaN scores accepted";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("2 of 3 scores are NaN"), std::string::npos) << e.what();
  }
}

TEST(ToyMetricsEdges, RocAucRanksInfinities) {
  EXPECT_DOUBLE_EQ(*roc_auc({{kInf, true}, {0.3, true}, {-kInf, false}}), 1.0);
  EXPECT_DOUBLE_EQ(*roc_auc({{-kInf, true}, {kInf, false}}), 0.0);
  EXPECT_DOUBLE_EQ(*roc_auc({{kInf, true}, {kInf, false}}), 0.5) << "equal infinities tie";
  EXPECT_DOUBLE_EQ(*roc_auc({{-kInf, true}, {-kInf, false}, {1.0, true}, {0.0, false}}), 0.625);
}

TEST(ToyMetricsEdges, WeightedVoteRefusesNonFiniteWeights) {
  using A = std::vector<std::optional<int64_t>>;
  EXPECT_THROW(weighted_vote(A{1, 2}, {kNan, 0.5}), std::invalid_argument);
  EXPECT_THROW(weighted_vote(A{1, 1}, {kInf, -kInf}), std::invalid_argument);
  EXPECT_EQ(weighted_vote(A{1, 2, 2}, {0.9, 0.2, 0.3}), 1);
}

TEST(ToyMetricsEdges, PrmSurpriseWeightMustBeFinite) {
  PrmReading reading;  // no steps: only the weight is checked
  EXPECT_THROW(prm_step_probabilities(reading, kNan), std::invalid_argument);
  EXPECT_THROW(prm_step_probabilities(reading, kInf), std::invalid_argument);
  EXPECT_THROW(prm_step_probabilities(reading, -kInf), std::invalid_argument);
  EXPECT_TRUE(prm_step_probabilities(reading, 0.5).empty());
}

}  // namespace
}  // namespace ponder::toy
