#include <gtest/gtest.h>

#include "ponder/runtime.h"
#include "support/test_models.h"

namespace ponder {
namespace {

std::shared_ptr<const Model> tiny() {
  static auto model = Model::load(test::random_model_path("tiny"));
  return model;
}

// The random model writes noise; its last letter or digit serves as an "answer" with
// 36 possible values, enough for votes to split and agree.
StrategyOptions noise_answer_options() {
  StrategyOptions o;
  o.generation.stop.max_tokens = 24;
  o.generation.stop.ignore_eos = true;
  o.generation.sampling.seed = 7;
  o.generation.answers.rule = AnswerRule::regex;
  o.generation.answers.pattern = "[a-z0-9]";
  o.prune.warmup_tokens = 6;
  return o;
}

EngineOptions engine_options() { return test::engine_options(16, 128); }

class EveryStrategy : public ::testing::TestWithParam<std::string> {};

TEST_P(EveryStrategy, AnswersWithinBudgetDeterministicallyAndCleansUp) {
  auto strategy = make_strategy(GetParam(), noise_answer_options());
  EXPECT_EQ(strategy->name(), GetParam());
  const std::string question = "a=61; b=a-35; b?";

  Engine engine(tiny(), engine_options());
  const StrategyResult r = run_strategy(engine, *strategy, question);
  ASSERT_EQ(r.error, "");
  EXPECT_EQ(r.strategy, GetParam());

  // A valid answer: one some voting sample gave.
  ASSERT_TRUE(r.answer.has_value());
  bool found = false;
  for (const auto& s : r.samples) found |= s.answer && !s.pruned && s.answer->key == r.answer->key;
  EXPECT_TRUE(found);
  EXPECT_GE(r.confidence, 0.0);
  EXPECT_LE(r.confidence, 1.0);
  EXPECT_FALSE(r.stop_reason.empty());

  // The budget is never exceeded.
  EXPECT_GE(r.samples.size(), 1u);
  EXPECT_LE(int(r.samples.size()), strategy->budget());

  // Costs add up: every generated token belongs to a trace; the prompt is prefilled once.
  int64_t tokens = 0;
  for (const auto& s : r.samples) tokens += s.tokens;
  EXPECT_EQ(r.cost.generated_tokens, tokens);
  const int64_t prompt = int64_t(format_question(*tiny(), question).size());
  EXPECT_EQ(r.cost.prompt_tokens, prompt - 1 + int64_t(r.samples.size()));
  EXPECT_GE(r.cost.forward_passes, 1 + r.cost.generated_tokens / int64_t(r.samples.size()));
  EXPECT_GT(r.cost.wall_ms, 0.0);

  // Nothing left allocated.
  EXPECT_EQ(engine.stats().live_sequences, 0);

  // Seeded determinism, on a fresh engine.
  Engine again(tiny(), engine_options());
  const StrategyResult r2 = run_strategy(again, *strategy, question);
  EXPECT_EQ(r2.answer->key, r.answer->key);
  EXPECT_EQ(r2.stop_reason, r.stop_reason);
  ASSERT_EQ(r2.samples.size(), r.samples.size());
  for (size_t i = 0; i < r.samples.size(); ++i) EXPECT_EQ(r2.samples[i].text, r.samples[i].text);
}

INSTANTIATE_TEST_SUITE_P(Strategies, EveryStrategy,
                         ::testing::Values("greedy", "sample@4", "best-of-n@4", "vote@4", "weighted-vote@4",
                                           "adaptive-vote@8", "esc@10", "rpc@6", "prune@8", "deepconf@8",
                                           "deepconf-offline@6"),
                         [](const auto& info) {
                           std::string name = info.param;
                           for (char& c : name) {
                             if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
                           }
                           return name;
                         });

TEST(Strategies, AdaptiveVoteStopsAsSoonAsSamplesAgree) {
  StrategyOptions o = noise_answer_options();
  o.generation.sampling.top_k = 1;  // every sample the same
  Engine engine(tiny(), engine_options());
  const auto r = run_strategy(engine, *make_strategy("adaptive-vote@16", o), "agree");
  EXPECT_EQ(r.samples.size(), 4u) << "Beta: 4 unanimous votes give P = 31/32 >= 0.95";
  EXPECT_EQ(r.stop_reason, "beta>=0.95");
  EXPECT_DOUBLE_EQ(r.confidence, 1.0);

  const auto esc = run_strategy(engine, *make_strategy("esc@16", o), "agree");
  EXPECT_EQ(esc.samples.size(), 5u);
  EXPECT_EQ(esc.stop_reason, "window agreed");
}

TEST(Strategies, AdaptiveVoteDrawsUpToItsMaximumWhenVotesSplit) {
  StrategyOptions o = noise_answer_options();
  o.generation.sampling.temperature = 3.0f;  // near-uniform noise: answers rarely agree
  Engine engine(tiny(), engine_options());
  const auto r = run_strategy(engine, *make_strategy("adaptive-vote@12", o), "split");
  EXPECT_EQ(r.samples.size(), 12u);
  EXPECT_EQ(r.stop_reason, "max samples");
}

TEST(Strategies, PruneStopsTheLeastConfidentSamples) {
  StrategyOptions o = noise_answer_options();
  Engine engine(tiny(), engine_options());
  const auto r = run_strategy(engine, *make_strategy("prune@8", o), "prune");
  int pruned = 0;
  for (const auto& s : r.samples) {
    if (!s.pruned) continue;
    ++pruned;
    EXPECT_FALSE(s.answer.has_value());
    EXPECT_LT(s.tokens, o.generation.stop.max_tokens);
  }
  EXPECT_GE(pruned, 1);
  EXPECT_LE(pruned, 8 - o.prune.min_survivors);
}

TEST(Strategies, ManyQuestionsInFlightMatchOneAtATime) {
  std::shared_ptr<const Strategy> strategy = make_strategy("vote@4", noise_answer_options());
  std::vector<Job> jobs;
  const std::vector<std::string> questions = {"q1", "question two", "3", "four?", "5+5", "six six"};
  size_t reported = 0;
  for (const auto& q : questions) jobs.push_back({strategy, q, {}, [&](const StrategyResult&) { ++reported; }});
  Engine engine(tiny(), engine_options());
  const auto together = Runtime(engine, {.max_in_flight = 4}).run(jobs);
  EXPECT_EQ(reported, jobs.size());
  EXPECT_EQ(engine.stats().live_sequences, 0);
  for (size_t i = 0; i < jobs.size(); ++i) {
    Engine alone(tiny(), engine_options());
    const auto r = run_strategy(alone, *strategy, questions[i]);
    ASSERT_EQ(together[i].error, "");
    EXPECT_EQ(together[i].answer->key, r.answer->key) << i;
    EXPECT_EQ(together[i].cost.generated_tokens, r.cost.generated_tokens) << i;
  }
}

TEST(Strategies, NamesAndOptionsAreValidated) {
  EXPECT_THROW(make_strategy("vote"), std::invalid_argument);
  EXPECT_THROW(make_strategy("vote@0"), std::invalid_argument);
  EXPECT_THROW(make_strategy("vote@x"), std::invalid_argument);
  EXPECT_THROW(make_strategy("telepathy@3"), std::invalid_argument);
  EXPECT_THROW(make_strategy("greedy@4"), std::invalid_argument);
  EXPECT_EQ(make_strategy("vote", {}, 8)->budget(), 8);
  EXPECT_EQ(make_strategy("adaptive-vote")->budget(), 16);
  StrategyOptions o;
  o.adaptive.threshold = 1.5;
  try {
    make_strategy("adaptive-vote", o);
    FAIL();
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("adaptive.threshold"), std::string::npos);
  }
}

}  // namespace
}  // namespace ponder
