// Self-evaluation: the generator reads a judging question after its own solution and
// P(yes) vs P(no) is the score. Neither the random test model nor the toy reasoners can
// judge, so these tests are mechanical: scores in [0, 1], deterministic, the sample left
// as it was, the tokens counted as the generator's, and the searches run with it.

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

#include "ponder/runtime.h"
#include "support/test_models.h"
#include "toy/models.h"

namespace ponder {
namespace {

std::shared_ptr<const Model> tiny() {
  static auto model = Model::load(test::random_model_path("tiny"));
  return model;
}

EngineOptions engine_options() { return test::engine_options(12, 256); }

// The toy vocabulary has one token per character.
SelfEvalSettings settings(bool per_step = false) {
  SelfEvalSettings s;
  s.question = "\nRight? ";
  s.yes = "Y";
  s.no = "N";
  s.per_step = per_step;
  s.step_delimiter = "\n";
  return s;
}

// Two samples of 10 tokens, judged (or not), then 12 more tokens each, greedily.
class JudgeMidway : public Strategy {
 public:
  explicit JudgeMidway(bool judge) : judge_(judge) {}
  std::string name() const override { return "judge-midway"; }
  int budget() const override { return 2; }
  uint32_t needs() const override { return kSample | kScore | (judge_ ? kVerify : 0u); }

  mutable std::vector<StepScores> scores, again, whole;
  mutable std::vector<std::string> texts_judged;
  mutable std::vector<std::vector<Token>> tokens_judged;

  Task<StrategyResult> run(QuestionRun& q) const override {
    GenerationOptions g;
    g.sampling.seed = 5;
    g.stop.max_tokens = 10;
    const std::vector<SampleId> ids = q.launch(2, g);
    co_await q.all(ids);
    if (judge_) {
      for (SampleId id : ids) {
        texts_judged.push_back(q.text(id));
        std::vector<Token> tokens;
        for (const auto& r : q.records(id)) tokens.push_back(r.token);
        tokens_judged.push_back(tokens);
      }
      scores = co_await q.verify_samples(ids);
      again = co_await q.verify_samples(ids);  // nothing new: the same verdicts, nothing read
      whole = co_await q.verify(texts_judged);
      for (size_t i = 0; i < ids.size(); ++i) {
        EXPECT_EQ(q.text(ids[i]), texts_judged[i]);
        EXPECT_EQ(size_t(q.length(ids[i])), tokens_judged[i].size());
      }
    }
    GenerationOptions more = g;
    more.stop.max_tokens = 22;
    more.sampling.temperature = 0.0f;
    for (SampleId id : ids) q.generate(id, more);
    co_await q.all(ids);
    StrategyResult r;
    for (SampleId id : ids) r.samples.push_back(q.harvest(id, g.answers));
    co_return r;
  }

 private:
  bool judge_;
};

StrategyResult run(Runtime& runtime, const Strategy& s) {
  return runtime.run({{std::shared_ptr<const Strategy>(&s, [](const Strategy*) {}), "1+1?", {}, {}}}).front();
}

TEST(SelfEval, SettingsAndTokensAreChecked) {
  EXPECT_NO_THROW(SelfEvaluator(tiny(), settings()));
  SelfEvalSettings s = settings();
  s.question = "";
  EXPECT_THROW(SelfEvaluator(tiny(), s), std::invalid_argument);
  s = settings();
  s.no = "Y";
  EXPECT_THROW(SelfEvaluator(tiny(), s), std::invalid_argument);
  try {
    SelfEvaluator(tiny(), SelfEvalSettings{});  // " yes" is four characters here
    FAIL() << "a multi-token yes was accepted";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("self-eval yes ' yes': must be one token"), std::string::npos)
        << e.what();
  }
  const SelfEvaluator judge(tiny(), settings());
  EXPECT_EQ(judge.judge_tokens().back(), judge.yes_token())
      << "one token more, so the verdict follows the question";
  EXPECT_NEAR(SelfEvaluator::verdict(std::log(0.75f), std::log(0.25f)), 0.75, 1e-6);
  EXPECT_EQ(SelfEvaluator::verdict(-INFINITY, -INFINITY), 0.0);

  Engine generator(tiny(), engine_options());
  Runtime runtime(generator);
  auto other = Model::load(test::random_model_path("tiny-gqa"));
  EXPECT_THROW(runtime.set_verifier(SelfEvaluator(other, settings())), std::invalid_argument);
}

TEST(SelfEval, JudgingLeavesTheSampleAsItWasAndCountsAsTheGeneratorsScoring) {
  Engine generator(tiny(), engine_options());
  const JudgeMidway plain(false), judged(true);
  Runtime without(generator);
  const StrategyResult a = run(without, plain);
  Runtime with(generator);
  const SelfEvaluator judge(tiny(), settings());
  with.set_verifier(judge);
  const StrategyResult b = run(with, judged);
  ASSERT_EQ(a.error, "");
  ASSERT_EQ(b.error, "");
  ASSERT_EQ(a.samples.size(), 2u);
  ASSERT_EQ(b.samples.size(), 2u);
  for (size_t i = 0; i < 2; ++i) {
    EXPECT_EQ(a.samples[i].text, b.samples[i].text) << "judging changed what the sample wrote next";
    EXPECT_EQ(a.samples[i].tokens, b.samples[i].tokens);
  }
  ASSERT_EQ(judged.scores.size(), 2u);
  for (size_t i = 0; i < 2; ++i) {
    const StepScores& s = judged.scores[i];
    ASSERT_EQ(s.steps.size(), 1u);
    EXPECT_GT(s.solution, 0.0);
    EXPECT_LT(s.solution, 1.0);
    EXPECT_EQ(s.solution, s.steps.back());
    EXPECT_EQ(judged.again[i].steps, s.steps) << "a sample judged already is not read again";
    ASSERT_EQ(judged.whole[i].steps.size(), 1u);
    // verify() reads the text afresh; where it tokenizes back to the sampled tokens, it
    // is the same reading.
    std::vector<Token> sampled = judged.tokens_judged[i];
    if (!sampled.empty() && tiny()->is_end_of_generation(sampled.back())) sampled.pop_back();
    if (tiny()->tokenize(judged.texts_judged[i], false) == sampled) {
      EXPECT_NEAR(judged.whole[i].solution, s.solution, 1e-3) << judged.texts_judged[i];
    }
  }
  EXPECT_EQ(a.cost.scored_tokens, 0);
  // Per sample: the question and one token (and its end token read again, if it had one),
  // then verify() reads each text and the question again.
  const int64_t per_judging = int64_t(judge.judge_tokens().size());
  EXPECT_GE(b.cost.scored_tokens, 4 * per_judging);
  EXPECT_LE(b.cost.scored_tokens, 2 * per_judging + 2 + 2 * (per_judging + 10));
  EXPECT_EQ(b.cost.verifier_tokens, 0) << "no verifier model: the generator's own scoring";
  EXPECT_EQ(b.costs.size(), 1u);
  EXPECT_EQ(generator.stats().live_sequences, 0);

  // Deterministic: the same verdicts again.
  const JudgeMidway judged_again(true);
  const StrategyResult c = run(with, judged_again);
  ASSERT_EQ(c.error, "");
  for (size_t i = 0; i < 2; ++i) EXPECT_EQ(judged_again.scores[i].steps, judged.scores[i].steps);
}

// verify() of given texts, each step judged or the whole.
class JudgeTexts : public Strategy {
 public:
  std::vector<std::string> texts;
  mutable std::vector<StepScores> scores;
  std::string name() const override { return "judge-texts"; }
  int budget() const override { return 1; }
  uint32_t needs() const override { return kScore | kVerify; }
  Task<StrategyResult> run(QuestionRun& q) const override {
    scores = co_await q.verify(texts);
    co_return StrategyResult{};
  }
};

TEST(SelfEval, PerStepJudgesAfterEveryStep) {
  Engine generator(tiny(), engine_options());
  JudgeTexts judge_texts;
  judge_texts.texts = {"ab\ncd\n\nef", "", "xyz"};
  for (bool per_step : {false, true}) {
    Runtime runtime(generator);
    runtime.set_verifier(SelfEvaluator(tiny(), settings(per_step)));
    const StrategyResult r = run(runtime, judge_texts);
    ASSERT_EQ(r.error, "");
    const auto& s = judge_texts.scores;
    ASSERT_EQ(s.size(), 3u);
    EXPECT_EQ(s[0].steps.size(), per_step ? 3u : 1u);
    EXPECT_EQ(s[1].steps.size(), 0u) << "nothing to judge";
    EXPECT_EQ(s[1].solution, 0.0);
    EXPECT_EQ(s[2].steps.size(), 1u);
    for (const auto& one : s) {
      for (double p : one.steps) {
        EXPECT_GE(p, 0.0);
        EXPECT_LE(p, 1.0);
      }
    }
    EXPECT_EQ(s[0].solution, *std::min_element(s[0].steps.begin(), s[0].steps.end()));
    EXPECT_GT(r.cost.scored_tokens, 0);
    EXPECT_EQ(generator.stats().live_sequences, 0);
  }
}

TEST(SelfEval, VerifierStrategiesRunWithIt) {
  auto reasoner = Model::load(toy::default_reasoner_path());
  EngineOptions e = engine_options();
  e.context_per_sequence = 320;
  Engine generator(reasoner, e);
  Runtime runtime(generator);
  runtime.set_verifier(SelfEvaluator(reasoner, settings(true)));
  StrategyOptions o;
  o.generation.sampling.seed = 11;
  o.generation.stop.max_tokens = 240;
  for (const char* name : {"prm-vote@4", "beam@4", "rollback@6"}) {
    const StrategyResult r = runtime
                                 .run({{std::shared_ptr<const Strategy>(make_strategy(name, o)),
                                        "a=61; b=a-35; c=b*4; c?",
                                        {},
                                        {}}})
                                 .front();
    ASSERT_EQ(r.error, "") << name;
    EXPECT_TRUE(r.answer.has_value()) << name;
    for (const SampleTrace& t : r.samples) {
      if (t.pruned) continue;
      EXPECT_GE(t.scores.at("verifier"), 0.0) << name;
      EXPECT_LE(t.scores.at("verifier"), 1.0) << name;
    }
    EXPECT_GT(r.cost.scored_tokens, 0) << name;
    EXPECT_EQ(r.cost.verifier_tokens, 0) << name;
    EXPECT_EQ(generator.stats().live_sequences, 0) << name;
  }
}

}  // namespace
}  // namespace ponder
