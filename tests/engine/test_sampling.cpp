#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "ponder/sampling.h"

namespace ponder {
namespace {

std::string validation_error(SamplingParams p) {
  try {
    p.validate();
  } catch (const std::invalid_argument& e) {
    return e.what();
  }
  return "";
}

TEST(LogitStats, MatchesTheDefinition) {
  const std::vector<float> logits{1.0f, -2.0f, 0.5f, 3.0f};
  double z = 0;
  for (float x : logits) z += std::exp(x);
  double h = 0;
  for (float x : logits) {
    const double p = std::exp(x) / z;
    h -= p * std::log(p);
  }
  const LogitStats s = logit_stats(logits);
  EXPECT_FLOAT_EQ(s.max_logit, 3.0f);
  EXPECT_NEAR(s.log_sum_exp, std::log(z), 1e-6);
  EXPECT_NEAR(s.entropy, h, 1e-6);
}

// The vectorised exp against double precision over a vocabulary-sized row with a wide
// spread (down to where float underflows, and -inf for a banned token).
TEST(LogitStats, AccurateOverAWideRow) {
  std::vector<float> logits;
  for (int i = 0; i < 354; ++i) logits.push_back(12.0f - 0.31f * float(i));
  logits[7] = -std::numeric_limits<float>::infinity();
  const float max = 12.0f;
  double z = 0, weighted = 0;
  for (float x : logits) {
    if (std::isinf(x)) continue;
    z += std::exp(double(x - max));
    weighted += std::exp(double(x - max)) * double(x - max);
  }
  const LogitStats s = logit_stats(logits);
  EXPECT_NEAR(s.log_sum_exp, max + std::log(z), 1e-6);
  EXPECT_NEAR(s.entropy, std::log(z) - weighted / z, 1e-6);
}

TEST(LogitStats, UniformEntropyIsLogN) {
  const std::vector<float> logits(354, 0.25f);
  EXPECT_NEAR(logit_stats(logits).entropy, std::log(354.0), 1e-5);
}

TEST(Sampler, GreedyTakesTheArgmax) {
  SamplingParams p;
  p.temperature = 0.0f;
  Sampler s(p);
  const std::vector<float> logits{0.1f, 2.0f, 1.9f};
  EXPECT_EQ(s.sample(logits, logit_stats(logits)), 1);
}

TEST(Sampler, TopKOneIsGreedyAtAnyTemperature) {
  SamplingParams p;
  p.temperature = 50.0f;
  p.top_k = 1;
  Sampler s(p);
  const std::vector<float> logits{0.1f, 2.0f, 1.9f, -1.0f};
  for (int i = 0; i < 50; ++i) EXPECT_EQ(s.sample(logits, logit_stats(logits)), 1);
}

TEST(Sampler, SameSeedSameDraws) {
  SamplingParams p;
  p.seed = 42;
  Sampler a(p), b(p);
  std::vector<float> logits(50);
  for (size_t i = 0; i < logits.size(); ++i) logits[i] = float(i % 7) * 0.3f;
  const LogitStats st = logit_stats(logits);
  std::vector<Token> da, db;
  for (int i = 0; i < 100; ++i) {
    da.push_back(a.sample(logits, st));
    db.push_back(b.sample(logits, st));
  }
  EXPECT_EQ(da, db);
  p.seed = 43;
  Sampler c(p);
  std::vector<Token> dc;
  for (int i = 0; i < 100; ++i) dc.push_back(c.sample(logits, st));
  EXPECT_NE(da, dc);
}

// Empirical frequencies over 40k draws match softmax(logits / T) within 4 standard errors.
void expect_frequencies(SamplingParams p, const std::vector<float>& logits, const std::vector<double>& expected) {
  Sampler s(p);
  const LogitStats st = logit_stats(logits);
  const int n = 40000;
  std::vector<int> counts(logits.size());
  for (int i = 0; i < n; ++i) ++counts[size_t(s.sample(logits, st))];
  for (size_t i = 0; i < logits.size(); ++i) {
    const double sd = std::sqrt(expected[i] * (1 - expected[i]) / n) + 1e-9;
    EXPECT_NEAR(counts[i] / double(n), expected[i], 4 * sd + 1e-12) << "token " << i;
  }
}

std::vector<double> softmax(const std::vector<float>& logits, float t, size_t keep) {
  std::vector<double> p(logits.size(), 0.0);
  double z = 0;
  for (size_t i = 0; i < keep; ++i) z += std::exp(logits[i] / t);
  for (size_t i = 0; i < keep; ++i) p[i] = std::exp(logits[i] / t) / z;
  return p;
}

TEST(Sampler, TemperatureDistribution) {
  SamplingParams p;
  p.temperature = 0.7f;
  p.seed = 1;
  const std::vector<float> logits{1.0f, 0.5f, 0.0f, -0.5f};  // sorted: "keep" counts from the top
  expect_frequencies(p, logits, softmax(logits, 0.7f, 4));
}

TEST(Sampler, TopKAndMinPAndTopPTruncate) {
  const std::vector<float> logits{2.0f, 1.5f, 1.0f, 0.0f, -3.0f};
  SamplingParams p;
  p.seed = 2;
  p.top_k = 3;
  expect_frequencies(p, logits, softmax(logits, 1.0f, 3));

  p = {};
  p.seed = 3;
  p.min_p = 0.3f;  // keeps p >= 0.3 * p(top): logits >= 2 + ln 0.3 = 0.796
  expect_frequencies(p, logits, softmax(logits, 1.0f, 3));

  p = {};
  p.seed = 4;
  // softmax mass of the first two is 0.62..; top_p 0.6 keeps exactly two.
  p.top_p = 0.6f;
  expect_frequencies(p, logits, softmax(logits, 1.0f, 2));
}

TEST(SamplingParams, ErrorsNameTheField) {
  SamplingParams p;
  p.temperature = -1;
  EXPECT_NE(validation_error(p).find("temperature"), std::string::npos);
  p = {};
  p.top_p = 0;
  EXPECT_NE(validation_error(p).find("top_p"), std::string::npos);
  p = {};
  p.min_p = 1;
  EXPECT_NE(validation_error(p).find("min_p"), std::string::npos);
  p = {};
  p.top_k = -1;
  EXPECT_NE(validation_error(p).find("top_k"), std::string::npos);
  p = {};
  p.top_logprobs = 21;
  EXPECT_NE(validation_error(p).find("top_logprobs"), std::string::npos);
  p = {};
  p.temperature = NAN;
  EXPECT_NE(validation_error(p).find("temperature"), std::string::npos);
  EXPECT_EQ(validation_error({}), "");
}

TEST(StopParams, Validation) {
  StopParams s;
  s.max_tokens = 0;
  EXPECT_THROW(s.validate(), std::invalid_argument);
  s = {};
  s.stop = {""};
  EXPECT_THROW(s.validate(), std::invalid_argument);
}

}  // namespace
}  // namespace ponder
