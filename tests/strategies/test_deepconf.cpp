// DeepConf: its confidence measures, its options, and both strategies on the committed
// toy reasoner (online: traces stopped, fewer tokens than vote@16; offline: the
// configured share votes).

#include <gtest/gtest.h>

#include "ponder/runtime.h"
#include "strategies/deepconf.h"
#include "support/test_models.h"

namespace ponder {
namespace {

TokenRecord record_with_top(std::vector<float> logprobs) {
  TokenRecord r{0, logprobs.front(), 0.0f, {}};
  for (size_t i = 0; i < logprobs.size(); ++i) r.top.push_back({Token(i), logprobs[i]});
  return r;
}

TEST(DeepConfMeasures, TokenConfidenceIsMinusTheMeanTopKLogprob) {
  const TokenRecord r = record_with_top({-0.1f, -2.0f, -3.9f});
  EXPECT_NEAR(deepconf::token_confidence(r, 3), 2.0, 1e-6);
  EXPECT_NEAR(deepconf::token_confidence(r, 2), 1.05, 1e-6);
  EXPECT_NEAR(deepconf::token_confidence(r, 20), 2.0, 1e-6) << "k beyond the recorded candidates";
  EXPECT_NEAR(deepconf::token_confidence(record_with_top({-0.5f}), 20), 0.5, 1e-6);
  TokenRecord bare{0, -0.7f, 0.0f, {}};
  EXPECT_NEAR(deepconf::token_confidence(bare, 20), 0.7, 1e-6);
}

TEST(DeepConfMeasures, GroupsSlideOverTheTrace) {
  deepconf::TraceConfidence c(3);
  for (double x : {4.0, 5.0}) c.add(x);
  EXPECT_FALSE(c.last_group().has_value()) << "no full window yet";
  EXPECT_DOUBLE_EQ(c.lowest(), 4.5) << "shorter than a window: the mean of its tokens";
  for (double x : {6.0, 1.0, 2.0, 9.0}) c.add(x);
  // Windows: (4,5,6)=5, (5,6,1)=4, (6,1,2)=3, (1,2,9)=4.
  ASSERT_TRUE(c.last_group().has_value());
  EXPECT_DOUBLE_EQ(*c.last_group(), 4.0);
  EXPECT_DOUBLE_EQ(c.lowest(), 3.0);
  EXPECT_DOUBLE_EQ(c.bottom(0.5), 3.5);
  EXPECT_DOUBLE_EQ(c.bottom(0.1), 3.0) << "at least one group";
  EXPECT_DOUBLE_EQ(c.tail(), 4.0);
  EXPECT_DOUBLE_EQ(c.mean(), 27.0 / 6.0);
  EXPECT_DOUBLE_EQ(deepconf::TraceConfidence(3).lowest(), 0.0);
}

TEST(DeepConfMeasures, PercentileInterpolatesLikeNumpy) {
  const std::vector<double> v = {15.0, 11.0, 13.0, 12.0};
  EXPECT_DOUBLE_EQ(deepconf::percentile(v, 0), 11.0);
  EXPECT_DOUBLE_EQ(deepconf::percentile(v, 100), 15.0);
  EXPECT_NEAR(deepconf::percentile(v, 90), 14.4, 1e-12);  // np.percentile([11,12,13,15], 90)
  EXPECT_NEAR(deepconf::percentile(v, 10), 11.3, 1e-12);
  EXPECT_DOUBLE_EQ(deepconf::percentile({7.0}, 42), 7.0);
  EXPECT_EQ(deepconf::kept_count(16, 0.1), 2);
  EXPECT_EQ(deepconf::kept_count(16, 0.5), 8);
  EXPECT_EQ(deepconf::kept_count(16, 0.9), 15);
  EXPECT_EQ(deepconf::kept_count(16, 1.0), 16);
  EXPECT_EQ(deepconf::kept_count(3, 0.01), 1);
}

std::string error_of(const std::string& spec, const StrategyOptions& o) {
  try {
    make_strategy(spec, o);
  } catch (const std::invalid_argument& e) {
    return e.what();
  }
  return "";
}

TEST(DeepConfOptionsTest, BadOptionsAreRefusedByName) {
  struct Case {
    void (*set)(DeepConfOptions&);
    const char* message;
  };
  const Case cases[] = {
      {[](DeepConfOptions& d) { d.window = 0; }, "deepconf.window: must be >= 1"},
      {[](DeepConfOptions& d) { d.top_k = 21; }, "deepconf.top_k: must be in [1, 20]"},
      {[](DeepConfOptions& d) { d.top_k = 0; }, "deepconf.top_k: must be in [1, 20]"},
      {[](DeepConfOptions& d) { d.percentile = 100.5; }, "deepconf.percentile: must be in [0, 100]"},
      {[](DeepConfOptions& d) { d.percentile = -1; }, "deepconf.percentile: must be in [0, 100]"},
      {[](DeepConfOptions& d) { d.warmup = -1; }, "deepconf.warmup: must be >= 0"},
      {[](DeepConfOptions& d) { d.wave = 0; }, "deepconf.wave: must be >= 1"},
      {[](DeepConfOptions& d) { d.consensus = 0.5; }, "deepconf.consensus: must be in (0.5, 1]"},
      {[](DeepConfOptions& d) { d.consensus = 1.01; }, "deepconf.consensus: must be in (0.5, 1]"},
      {[](DeepConfOptions& d) { d.min_votes = 0; }, "deepconf.min_votes: must be >= 1"},
      {[](DeepConfOptions& d) { d.keep = 0.0; }, "deepconf.keep: must be in (0, 1]"},
      {[](DeepConfOptions& d) { d.keep = 1.5; }, "deepconf.keep: must be in (0, 1]"},
  };
  for (const Case& c : cases) {
    StrategyOptions o;
    c.set(o.deepconf);
    EXPECT_NE(error_of("deepconf@16", o).find(c.message), std::string::npos) << error_of("deepconf@16", o);
    EXPECT_NE(error_of("deepconf-offline@16", o).find(c.message), std::string::npos);
  }
  StrategyOptions o;
  o.deepconf.warmup = 9;
  EXPECT_NE(error_of("deepconf@8", o).find("deepconf.warmup: must be at most the budget N = 8, not 9"),
            std::string::npos)
      << error_of("deepconf@8", o);
  EXPECT_EQ(error_of("deepconf@9", o), "");
  EXPECT_EQ(error_of("deepconf@1", {}), "") << "the default warm-up fits a budget of 1";
}

// Questions of the toy dev split with 3 to 5 steps: long enough for windows to slide,
// hard enough for samples to disagree.
std::vector<std::string> toy_questions(size_t n) { return test::toy_dev_questions(n, 3); }

StrategyOptions toy_options() { return test::toy_strategy_options(); }

std::vector<StrategyResult> run_all(const std::string& spec, const StrategyOptions& o,
                                    const std::vector<std::string>& questions) {
  const auto model = test::toy_reasoner();
  EngineOptions e;
  e.max_sequences = 64;
  e.context_per_sequence = 256;
  e.threads = 1;
  Engine engine(model, e);
  std::shared_ptr<const Strategy> strategy = make_strategy(spec, o);
  std::vector<Job> jobs;
  for (const auto& q : questions) jobs.push_back({strategy, q, {}, {}});
  auto results = Runtime(engine, {.max_in_flight = 8}).run(jobs);
  EXPECT_EQ(engine.stats().live_sequences, 0);
  return results;
}

int64_t generated(const std::vector<StrategyResult>& results) {
  int64_t tokens = 0;
  for (const auto& r : results) tokens += r.cost.generated_tokens;
  return tokens;
}

TEST(DeepConfToy, OnlineStopsTracesAndSpendsFewerTokensThanVote) {
  const auto questions = toy_questions(6);
  ASSERT_EQ(questions.size(), 6u);
  const StrategyOptions o = toy_options();
  const auto vote = run_all("vote@16", o, questions);
  const auto online = run_all("deepconf@16", o, questions);
  int stopped = 0;
  int warmups = 0;
  for (const auto& r : online) {
    ASSERT_EQ(r.error, "");
    ASSERT_TRUE(r.answer.has_value());
    EXPECT_LE(r.samples.size(), 16u);
    int64_t tokens = 0;
    for (const auto& s : r.samples) {
      tokens += s.tokens;
      warmups += s.scores.at("warmup") > 0 ? 1 : 0;
      if (s.scores.count("stopped_at")) {
        ++stopped;
        EXPECT_TRUE(s.pruned);
        EXPECT_FALSE(s.answer.has_value());
        EXPECT_EQ(s.scores.at("warmup"), 0.0) << "warm-up traces run to the end";
        EXPECT_GE(s.scores.at("stopped_at"), o.deepconf.window);
        EXPECT_LT(s.scores.at("confidence"), s.scores.at("threshold"));
      }
      if (s.scores.at("vote") > 0) {
        EXPECT_GE(s.scores.at("confidence"), s.scores.at("threshold"));
      }
    }
    EXPECT_EQ(r.cost.generated_tokens, tokens);
  }
  EXPECT_EQ(warmups, 6 * 4) << "max(2, 16/4) warm-up traces per question";
  EXPECT_GE(stopped, 1) << "traces stopped by their group confidence";
  EXPECT_LT(generated(online), generated(vote) * 3 / 4)
      << "deepconf@16 " << generated(online) << " tokens, vote@16 " << generated(vote);

  // The same answers, traces and stops on a fresh engine, whatever finished first.
  const auto again = run_all("deepconf@16", o, questions);
  for (size_t i = 0; i < online.size(); ++i) {
    EXPECT_EQ(again[i].answer->key, online[i].answer->key) << i;
    EXPECT_EQ(again[i].stop_reason, online[i].stop_reason) << i;
    ASSERT_EQ(again[i].samples.size(), online[i].samples.size()) << i;
    for (size_t k = 0; k < online[i].samples.size(); ++k) {
      EXPECT_EQ(again[i].samples[k].pruned, online[i].samples[k].pruned) << i << "/" << k;
    }
  }
}

TEST(DeepConfToy, TheStricterPercentileStopsMoreTraces) {
  const auto questions = toy_questions(3);
  StrategyOptions o = toy_options();
  o.deepconf.min_votes = 16;  // no consensus stop: every question draws its 16 traces
  o.deepconf.percentile = 10;
  const auto lenient = run_all("deepconf@16", o, questions);
  o.deepconf.percentile = 90;
  const auto strict = run_all("deepconf@16", o, questions);
  auto stopped = [](const std::vector<StrategyResult>& results) {
    int n = 0;
    for (const auto& r : results) {
      for (const auto& s : r.samples) n += s.scores.count("stopped_at") ? 1 : 0;
    }
    return n;
  };
  EXPECT_GT(stopped(strict), stopped(lenient));
  EXPECT_LT(generated(strict), generated(lenient));
}

TEST(DeepConfToy, OfflineVotesWithTheConfiguredShare) {
  const auto questions = toy_questions(2);
  const auto vote = run_all("vote@8", toy_options(), questions);
  for (double keep : {0.25, 0.5, 1.0}) {
    StrategyOptions o = toy_options();
    o.deepconf.keep = keep;
    const auto results = run_all("deepconf-offline@8", o, questions);
    EXPECT_EQ(generated(results), generated(vote)) << "the same 8 traces, run to the end";
    for (const auto& r : results) {
      ASSERT_EQ(r.samples.size(), 8u);
      int voters = 0;
      double lowest_voter = 1e300;
      double highest_other = -1e300;
      for (const auto& s : r.samples) {
        EXPECT_FALSE(s.pruned);
        if (s.scores.at("vote") > 0) {
          ++voters;
          lowest_voter = std::min(lowest_voter, s.scores.at("confidence"));
        } else {
          highest_other = std::max(highest_other, s.scores.at("confidence"));
        }
      }
      EXPECT_EQ(voters, int(std::ceil(keep * 8))) << keep;
      EXPECT_GE(lowest_voter, highest_other) << "the most confident traces vote";
      bool from_a_voter = false;
      for (const auto& s : r.samples) {
        from_a_voter |= s.scores.at("vote") > 0 && s.answer && r.answer && s.answer->key == r.answer->key;
      }
      EXPECT_TRUE(from_a_voter);
    }
  }
}

}  // namespace
}  // namespace ponder
