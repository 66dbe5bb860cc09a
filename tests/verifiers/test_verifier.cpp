// The PRM verifier: step scores, settings, the scoring input it builds, and prm-vote
// through the runtime on the committed toy models.

#include <gtest/gtest.h>

#include <cmath>
#include <fstream>

#include "ponder/runtime.h"
#include "support/test_models.h"
#include "toy/models.h"
#include "toy/prm.h"

namespace ponder {
namespace {

double sigmoid(double x) { return 1.0 / (1.0 + std::exp(-x)); }

TEST(Verifier, StepScoresWeighTheVerdictWithTheLowestTextLogprobSoFar) {
  using K = PrmTokenKind;
  PrmReading r;
  // step 1: two text tokens, a tag; step 2: label then text, a tag; the final label.
  r.kinds = {K::text, K::text, K::tag, K::label, K::text, K::tag, K::label};
  r.logprobs = {-0.1f, -2.0f, -9.0f, -9.0f, -0.5f, -9.0f, -9.0f};
  r.good.assign(7, 0.0f);
  r.bad.assign(7, 0.0f);
  r.good[3] = std::log(0.8f), r.bad[3] = std::log(0.2f);
  r.good[6] = std::log(0.5f), r.bad[6] = std::log(0.5f);
  const StepScores verdict = score_reading(r, 0.0, StepAggregation::min);
  ASSERT_EQ(verdict.steps.size(), 2u);
  EXPECT_NEAR(verdict.steps[0], 0.8, 1e-6);
  EXPECT_NEAR(verdict.steps[1], 0.5, 1e-6);
  EXPECT_NEAR(verdict.solution, 0.5, 1e-6);
  const StepScores weighted = score_reading(r, 0.5, StepAggregation::last);
  EXPECT_NEAR(weighted.steps[0], sigmoid(std::log(4.0) - 1.0), 1e-6);
  EXPECT_NEAR(weighted.steps[1], sigmoid(-1.0), 1e-6) << "the first step's surprise stays";
  EXPECT_NEAR(weighted.solution, weighted.steps[1], 1e-12);
  EXPECT_NEAR(score_reading(r, 0.0, StepAggregation::product).solution, 0.4, 1e-6);

  r.logprobs[1] = NAN;
  EXPECT_THROW(score_reading(r, 0.5, StepAggregation::min), std::invalid_argument);
  r.logprobs[1] = -INFINITY;  // a token the PRM never writes: the score saturates, no NaN
  const StepScores inf = score_reading(r, 0.5, StepAggregation::min);
  EXPECT_EQ(inf.steps[0], 0.0);
  r.good.pop_back();
  EXPECT_THROW(score_reading(r, 0.0, StepAggregation::min), std::invalid_argument);
}

TEST(Verifier, SettingsAreValidated) {
  const std::string dir = test::scratch_dir("verifier_settings");
  auto write = [&](const std::string& body) {
    const std::string path = dir + "/s.verifier.json";
    std::ofstream(path) << body;
    return path;
  };
  EXPECT_EQ(load_prm_settings(write(R"({"aggregation": "last", "surprise_weight": 0.25})")).aggregation,
            StepAggregation::last);
  for (const char* bad : {R"({"aggregation": "mean"})", R"({"surprise_weight": -1})", R"({"prompt": "no slot"})",
                          R"({"good": "+", "bad": "+"})", R"({"step_delimiter": ""})", R"({"colour": "red"})",
                          R"({"tag": 3})", "[1, 2]", "not json"}) {
    EXPECT_THROW(load_prm_settings(write(bad)), std::runtime_error) << bad;
  }
  EXPECT_EQ(prm_settings_path("/m/toy-prm.gguf"), "/m/toy-prm.verifier.json");
}

TEST(Verifier, TheToyPrmReadsSolutionsInItsTrainingFormat) {
  const ProcessRewardModel prm = ProcessRewardModel::load(Model::load(toy::prm_path()));
  EXPECT_EQ(prm.settings().surprise_weight, toy::kPrmSurpriseWeight) << "models/toy-prm.verifier.json";
  const std::vector<std::string> steps = prm.steps("b: 61-35=26\n\nc: 26*4=104\n#### 104");
  ASSERT_EQ(steps.size(), 3u);
  const auto c = prm.continuation(steps);
  // The same tokens the trainer wrote: each step, a newline, the tag; then one token.
  std::string text;
  for (const auto& s : steps) text += toy::prm_step(s);
  EXPECT_EQ(c.tokens, prm.model().tokenize(text + toy::kPrmGood, false));
  int labels = 0;
  for (size_t t = 0; t < c.kinds.size(); ++t) {
    if (c.kinds[t] != PrmTokenKind::label) continue;
    ++labels;
    EXPECT_EQ(prm.model().token_piece(c.tokens[t - 1]), std::string(1, toy::kPrmTag));
  }
  EXPECT_EQ(labels, 3);
  EXPECT_EQ(prm.prompt_tokens("a=61; b=a-35; b?"), prm.model().tokenize(toy::prm_prefix("a=61; b=a-35; b?"), true));
}

TEST(Verifier, PrmVoteRunsOnTheToyModelsAndCountsVerifierTokensApart) {
  auto reasoner = Model::load(toy::default_reasoner_path());
  auto prm_model = Model::load(toy::prm_path());
  EngineOptions e;
  e.max_sequences = 8;
  e.context_per_sequence = 256;
  e.threads = 1;
  Engine generator(reasoner, e), verifier(prm_model, e);
  Runtime runtime(generator);
  runtime.set_verifier(verifier, ProcessRewardModel::load(prm_model));
  StrategyOptions o;
  o.generation.sampling.seed = 3;
  std::vector<Event> scored;
  const StrategyResult r =
      runtime
          .run({{std::shared_ptr<const Strategy>(make_strategy("prm-vote@4", o)), "a=61; b=a-35; c=b*4; c?",
                 [&](const Event& ev) {
                   if (ev.kind == EventKind::scored) scored.push_back(ev);
                 },
                 {}}})
          .front();
  ASSERT_EQ(r.error, "");
  ASSERT_EQ(r.samples.size(), 4u);
  ASSERT_EQ(scored.size(), 4u);
  for (size_t i = 0; i < 4; ++i) {
    const double s = r.samples[i].scores.at("verifier");
    EXPECT_GE(s, 0.0);
    EXPECT_LE(s, 1.0);
    EXPECT_EQ(s, scored[i].value);
    EXPECT_FALSE(scored[i].scores.empty());
  }
  EXPECT_GT(r.cost.verifier_tokens, 0);
  EXPECT_EQ(r.cost.scored_tokens, 0) << "the generator scored nothing itself";
  ASSERT_EQ(r.costs.size(), 2u);
  EXPECT_EQ(r.costs[1].role, "verifier");
  EXPECT_EQ(r.costs[1].cost.prompt_tokens + r.costs[1].cost.scored_tokens, r.cost.verifier_tokens);
  EXPECT_EQ(generator.stats().live_sequences, 0);
  EXPECT_EQ(verifier.stats().live_sequences, 0);
}

}  // namespace
}  // namespace ponder
