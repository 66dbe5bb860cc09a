#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "strategies/voting.h"
#include "strategies/weibull_mixture.h"

namespace ponder {
namespace {

SampleTrace voter(const std::string& key, double mean_logprob = -1.0) {
  SampleTrace s;
  s.answer = Answer{key, key};
  s.mean_logprob = mean_logprob;
  return s;
}

TEST(Voting, TallyOrdersByWeightThenCountThenFirstSeen) {
  std::vector<SampleTrace> samples = {voter("b"), voter("a"), voter("a"), voter("c"), SampleTrace{}};
  samples.push_back(voter("b"));
  samples.back().pruned = true;  // pruned samples cast no vote
  const auto groups = voting::tally(samples);
  ASSERT_EQ(groups.size(), 3u);
  EXPECT_EQ(groups[0].key, "a");
  EXPECT_EQ(groups[0].count, 2);
  EXPECT_EQ(groups[1].key, "b");  // tie with c: b was seen first
  EXPECT_EQ(groups[2].key, "c");

  StrategyResult r;
  r.samples = samples;
  voting::decide(r, groups);
  EXPECT_EQ(r.answer->key, "a");
  EXPECT_DOUBLE_EQ(r.confidence, 0.5);
}

TEST(Voting, WeightsCanOutvoteCounts) {
  std::vector<SampleTrace> samples = {voter("x", -3.0), voter("x", -3.0), voter("y", -0.1)};
  const auto groups = voting::tally(samples, [](const SampleTrace& s) { return std::exp(s.mean_logprob); });
  EXPECT_EQ(groups[0].key, "y");
}

TEST(Voting, BetaCriterion) {
  EXPECT_DOUBLE_EQ(voting::beta_majority_probability(4, 0), 31.0 / 32.0);
  EXPECT_DOUBLE_EQ(voting::beta_majority_probability(3, 0), 15.0 / 16.0);
  EXPECT_NEAR(voting::beta_majority_probability(1, 1), 0.5, 1e-12);
  EXPECT_LT(voting::beta_majority_probability(5, 3), 0.95);
  EXPECT_GT(voting::beta_majority_probability(9, 1), 0.95);
}

TEST(Voting, DirichletCriterion) {
  std::vector<voting::Group> settled = {{"a", 12, 12, 0}, {"b", 1, 1, 1}, {"c", 1, 1, 2}};
  std::vector<voting::Group> open = {{"a", 3, 3, 0}, {"b", 3, 3, 1}, {"c", 2, 2, 2}};
  EXPECT_GT(voting::dirichlet_top_probability(settled, 5, 4000, 1), 0.99);
  const double p = voting::dirichlet_top_probability(open, 5, 4000, 1);
  EXPECT_GT(p, 0.25);
  EXPECT_LT(p, 0.6);
  EXPECT_EQ(p, voting::dirichlet_top_probability(open, 5, 4000, 1));
}

TEST(WeibullMixture, SeparatesTwoPopulations) {
  std::mt19937_64 rng(3);
  std::normal_distribution<double> low(0.3, 0.03), high(0.85, 0.03);
  std::vector<double> x;
  for (int i = 0; i < 10; ++i) x.push_back(low(rng));
  for (int i = 0; i < 20; ++i) x.push_back(high(rng));
  const auto m = strategies::fit_weibull_mixture(x);
  const bool first_low = m.mean_first() < m.mean_second();
  auto p_low = [&](double v) { return first_low ? m.posterior_first(v) : 1 - m.posterior_first(v); };
  EXPECT_GT(p_low(0.3), 0.9);
  EXPECT_LT(p_low(0.85), 0.1);
  EXPECT_GT(m.log_likelihood(x), strategies::WeibullMixture{}.log_likelihood(x));
}

}  // namespace
}  // namespace ponder
