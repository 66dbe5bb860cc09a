// adaptive, the controller, on the committed toy models: it spends little where the first
// sample is trusted and more where it is not, escalates an unsettled preset, runs a
// search as a preset, stops at its budgets, works without a verifier, says what it
// decided, and refuses bad presets by name.

#include <gtest/gtest.h>

#include "ponder/presets.h"
#include "ponder/runtime.h"
#include "support/test_models.h"

namespace ponder {
namespace {

EngineOptions engine_options() { return test::engine_options(40, 256); }

StrategyOptions toy_options() { return test::toy_strategy_options(); }

std::vector<StrategyResult> run_all(const std::string& spec, const StrategyOptions& o,
                                    const std::vector<std::string>& questions, bool with_verifier = true) {
  Engine generator(test::toy_reasoner(), engine_options());
  Engine verifier(test::toy_prm(), engine_options());
  Runtime runtime(generator, {.max_in_flight = 4});
  if (with_verifier) runtime.set_verifier(verifier, ProcessRewardModel::load(test::toy_prm()));
  std::shared_ptr<const Strategy> strategy = make_strategy(spec, o);
  std::vector<Job> jobs;
  for (const auto& q : questions) jobs.push_back({strategy, q, {}, {}});
  auto results = runtime.run(jobs);
  EXPECT_EQ(generator.stats().live_sequences, 0);
  return results;
}

int64_t generated(const std::vector<StrategyResult>& results) {
  int64_t tokens = 0;
  for (const auto& r : results) tokens += r.cost.generated_tokens;
  return tokens;
}

bool mentions(const StrategyResult& r, const std::string& text) {
  for (const auto& d : r.decisions) {
    if (d.find(text) != std::string::npos) return true;
  }
  return false;
}

TEST(AdaptiveToy, SpendsLessThanVoteAndSaysWhy) {
  const auto questions = test::toy_dev_questions(6, 3);
  const auto vote = run_all("vote@16", toy_options(), questions);
  const auto adaptive = run_all("adaptive", toy_options(), questions);
  ASSERT_EQ(adaptive.size(), questions.size());
  for (const auto& r : adaptive) {
    ASSERT_EQ(r.error, "");
    ASSERT_TRUE(r.answer.has_value());
    ASSERT_FALSE(r.decisions.empty());
    EXPECT_EQ(r.decisions.front().rfind("difficulty: P(right) ", 0), 0u) << r.decisions.front();
    EXPECT_NE(r.decisions.front().find("verifier"), std::string::npos) << r.decisions.front();
    EXPECT_GE(r.samples.size(), 1u);
    EXPECT_LE(r.samples.size(), 16u);
    EXPECT_GT(r.cost.verifier_tokens, 0);
    for (const auto& s : r.samples) EXPECT_TRUE(s.scores.count("verifier"));
  }
  EXPECT_LT(generated(adaptive), generated(vote) / 2)
      << "adaptive " << generated(adaptive) << " tokens, vote@16 " << generated(vote);

  // Decided by tokens and seeds alone: the same run twice gives the same result.
  const auto again = run_all("adaptive", toy_options(), questions);
  for (size_t i = 0; i < questions.size(); ++i) {
    EXPECT_EQ(again[i].decisions, adaptive[i].decisions) << i;
    EXPECT_EQ(again[i].samples.size(), adaptive[i].samples.size()) << i;
  }
}

TEST(AdaptiveToy, AcceptsATrustedFirstSample) {
  StrategyOptions o = toy_options();
  o.controller.easy_score = 0.0;  // every single sample is trusted
  const auto results = run_all("adaptive", o, test::toy_dev_questions(2, 1));
  for (const auto& r : results) {
    EXPECT_EQ(r.samples.size(), 1u);
    EXPECT_EQ(r.stop_reason, "accepted");
    EXPECT_TRUE(mentions(r, "-> easy")) << r.decisions.front();
  }
}

TEST(AdaptiveToy, AnUnsettledPresetEscalatesToTheNext) {
  StrategyOptions o = toy_options();
  o.controller.easy_score = 1.0;  // nothing is easy
  o.controller.min_votes = 1000;  // the vote never settles
  o.controller.normal = {"vote", 3};
  o.controller.hard = {"vote", 5};
  const auto results = run_all("adaptive", o, test::toy_dev_questions(2, 3));
  for (const auto& r : results) {
    EXPECT_EQ(r.samples.size(), 5u);
    EXPECT_TRUE(mentions(r, "normal: weighted vote up to 3 samples"));
    EXPECT_TRUE(mentions(r, "escalated to hard: leader's share"));
    EXPECT_TRUE(mentions(r, "hard: weighted vote up to 5 samples"));
    EXPECT_EQ(r.stop_reason, "preset budget 5");
  }
}

TEST(AdaptiveToy, AHardPresetMayBeASearch) {
  StrategyOptions o = toy_options();
  o.controller.easy_score = 1.0;
  o.controller.hard_below = 1.0;  // everything is hard
  o.controller.hard = {"beam", 4};
  const auto results = run_all("adaptive", o, test::toy_dev_questions(1, 3));
  const StrategyResult& r = results.front();
  ASSERT_EQ(r.error, "");
  EXPECT_TRUE(mentions(r, "hard: beam@4")) << r.decisions.back();
  EXPECT_EQ(r.stop_reason.rfind("beam@4: ", 0), 0u) << r.stop_reason;
  EXPECT_GT(r.samples.size(), 1u);
  EXPECT_TRUE(r.answer.has_value());
}

TEST(AdaptiveToy, StopsAtItsTokenBudget) {
  StrategyOptions o = toy_options();
  o.controller.easy_score = 1.0;
  o.controller.min_votes = 1000;
  o.controller.max_tokens = 1;  // spent by the first sample
  const auto results = run_all("adaptive", o, test::toy_dev_questions(1, 3));
  const StrategyResult& r = results.front();
  EXPECT_EQ(r.samples.size(), 1u);
  EXPECT_EQ(r.stop_reason, "token budget 1");
  EXPECT_TRUE(mentions(r, "stopped: token budget 1"));
  EXPECT_TRUE(r.answer.has_value());
}

TEST(AdaptiveToy, WithoutAVerifierWeighsByTokenProbability) {
  const auto results = run_all("adaptive@8", toy_options(), test::toy_dev_questions(2, 3), false);
  for (const auto& r : results) {
    ASSERT_EQ(r.error, "");
    EXPECT_NE(r.decisions.front().find("probability"), std::string::npos) << r.decisions.front();
    EXPECT_LE(r.samples.size(), 8u);
    EXPECT_EQ(r.cost.verifier_tokens, 0);
  }
}

TEST(AdaptivePresets, ReadsAFileOverTheDefaultsAndRefusesBadOnesByName) {
  const ControllerOptions c = parse_presets(R"({"consensus": 0.9, "hard": {"strategy": "beam", "budget": 8}})");
  EXPECT_EQ(c.consensus, 0.9);
  EXPECT_EQ(c.hard.strategy, "beam");
  EXPECT_EQ(c.hard.budget, 8);
  EXPECT_EQ(c.normal.strategy, "vote") << "untouched fields keep their defaults";
  EXPECT_EQ(parse_presets(controller_json(c).dump()).hard.budget, 8) << "what is written reads back";

  const std::pair<const char*, const char*> bad[] = {
      {"[1]", "must be a JSON object"},
      {"{", "not valid JSON"},
      {R"({"consensus": "high"})", "consensus: must be a number"},
      {R"({"consensus": 0.4})", "controller.consensus: must be in (0.5, 1]"},
      {R"({"first_wave": 0})", "controller.first_wave: must be >= 1"},
      {R"({"first_wave": 1.5})", "first_wave: must be an integer"},
      {R"({"speed": 1})", "speed: unknown field"},
      {R"({"hard": {"strategy": "vote"}, "normal": 3})", "normal: must be an object"},
      {R"({"hard": {"strategy": "vote", "budget": 0}})", "controller.hard.budget: must be in [1, 1024]"},
      {R"({"easy": {"strategy": "adaptive"}})", "controller.easy.strategy: must be accept, vote or a strategy other"},
      {R"({"easy": {"strategy": "accept", "size": 2}})", "easy.size: unknown field"},
  };
  for (const auto& [text, message] : bad) {
    try {
      parse_presets(text);
      ADD_FAILURE() << text << " was accepted";
    } catch (const std::invalid_argument& e) {
      EXPECT_NE(std::string(e.what()).find(message), std::string::npos) << text << ": " << e.what();
    }
  }
  StrategyOptions o;
  o.controller.hard = {"no-such-search", 4};
  EXPECT_THROW(make_strategy("adaptive", o), std::invalid_argument);
}

}  // namespace
}  // namespace ponder
