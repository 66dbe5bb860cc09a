// The verifier-guided searches on the committed toy models: each answers from its own
// tree of samples, re-reads almost nothing, is deterministic, and cleans up; the
// verifier's incremental reading matches reading whole solutions.

#include <gtest/gtest.h>

#include <cmath>

#include "ponder/runtime.h"
#include "support/test_models.h"

namespace ponder {
namespace {

const char* kQuestion = "a=61; b=a-35; c=b*4; c?";

EngineOptions engine_options(int slots = 12) { return test::engine_options(slots, 320); }

StrategyOptions options() {
  StrategyOptions o;
  o.generation.sampling.seed = 11;
  o.generation.stop.max_tokens = 240;
  return o;
}

// A generator and a verifier engine with a runtime over them.
struct Engines {
  Engine generator{test::toy_reasoner(), engine_options()};
  Engine verifier{test::toy_prm(), engine_options()};
  Runtime runtime;
  explicit Engines(RuntimeOptions o = {}) : runtime(generator, o) {
    runtime.set_verifier(verifier, ProcessRewardModel::load(test::toy_prm()));
  }
  StrategyResult run(const Strategy& s, const std::string& question = kQuestion) {
    return runtime.run({{std::shared_ptr<const Strategy>(&s, [](const Strategy*) {}), question, {}, {}}}).front();
  }
};

class EverySearch : public ::testing::TestWithParam<std::string> {};

TEST_P(EverySearch, AnswersFromItsTreeWithoutRereadingAndDeterministically) {
  const auto strategy = make_strategy(GetParam(), options());
  EXPECT_TRUE(strategy->needs() & kVerify);
  Engines s;
  const StrategyResult r = s.run(*strategy);
  ASSERT_EQ(r.error, "");
  ASSERT_TRUE(r.answer.has_value());
  EXPECT_FALSE(r.stop_reason.empty());

  // The answer is a finished sample's; every sample hangs off an earlier one or the prompt.
  bool found = false;
  for (size_t i = 0; i < r.samples.size(); ++i) {
    const SampleTrace& t = r.samples[i];
    if (i > 0) {
      EXPECT_LT(r.samples[i - 1].id, t.id) << "ordered by id";
    }
    EXPECT_LT(t.parent, t.id);
    EXPECT_LE(t.fork_position, t.tokens);
    found |= !t.pruned && t.answer && t.answer->key == r.answer->key;
  }
  EXPECT_TRUE(found);

  // Forks share their prefixes: each token is decoded about once (a fork re-reads its
  // parent's last token only).
  ASSERT_GT(r.cost.tree_tokens, 0);
  const double reprocess = double(r.cost.decoded_tokens) / double(r.cost.tree_tokens);
  EXPECT_GE(reprocess, 0.9) << "each sample's last token is drawn but never decoded";
  EXPECT_LE(reprocess, 1.2) << r.cost.decoded_tokens << " decoded for " << r.cost.tree_tokens << " in the tree";
  EXPECT_GT(r.cost.verifier_tokens, 0);
  EXPECT_EQ(s.generator.stats().live_sequences, 0);
  EXPECT_EQ(s.verifier.stats().live_sequences, 0);

  // Seeded determinism on fresh engines.
  Engines again;
  const StrategyResult r2 = again.run(*strategy);
  ASSERT_EQ(r2.error, "");
  EXPECT_EQ(r2.answer->key, r.answer->key);
  ASSERT_EQ(r2.samples.size(), r.samples.size());
  for (size_t i = 0; i < r.samples.size(); ++i) EXPECT_EQ(r2.samples[i].text, r.samples[i].text);

  // The way a script drives a server: the same search re-reads its prefixes at every step.
  Engines script({.reuse_prefixes = false});
  const StrategyResult r3 = script.run(*strategy);
  ASSERT_EQ(r3.error, "");
  EXPECT_GT(r3.cost.decoded_tokens, r.cost.decoded_tokens);
  EXPECT_GT(r3.cost.verifier_tokens, r.cost.verifier_tokens);
  EXPECT_EQ(script.generator.stats().live_sequences, 0);
  EXPECT_EQ(script.verifier.stats().live_sequences, 0);
}

INSTANTIATE_TEST_SUITE_P(Searches, EverySearch,
                         ::testing::Values("rollback@4", "beam@4", "dvts@4", "pf@4", "epf@4", "astar@4"),
                         [](const auto& info) {
                           std::string name = info.param;
                           for (char& c : name) {
                             if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
                           }
                           return name;
                         });

// Grows one sample step by step, forks it and rolls one fork back, scoring with
// verify_samples along the way and with verify (whole solutions) at the end.
class IncrementalCheck : public StrategyBase {
 public:
  IncrementalCheck() : StrategyBase("incremental-check", 4, options().generation) {}
  uint32_t needs() const override { return StrategyBase::needs() | kFork | kVerify; }
  int held_samples() const override { return 3; }

  mutable std::vector<StepScores> incremental, whole;

  Task<StrategyResult> run(QuestionRun& q) const override {
    GenerationOptions step = generation();
    step.stop.stop = {"\n"};
    step.stop.keep_stop = true;
    const SampleId a = q.start();
    const std::vector<SampleId> only_a(1, a);
    int first_step = 0;
    for (int k = 0; k < 3; ++k) {
      q.generate(a, step, 100 + uint64_t(k));
      co_await q.all(only_a);
      if (k == 0) first_step = q.length(a);
      incremental.push_back((co_await q.verify_samples(only_a)).front());
    }
    // b continues a to its end (its reading of a's steps comes along); c is a rolled
    // back to its first step, then given a new second one.
    const std::vector<SampleId> bc = q.fork(a, q.length(a), 2);
    q.truncate(bc[1], first_step);
    q.generate(bc[0], generation(), 7);
    q.generate(bc[1], step, 8);
    co_await q.all(bc);
    for (const auto& s : co_await q.verify_samples(bc)) incremental.push_back(s);
    std::vector<std::string> texts{q.text(bc[0]), q.text(bc[1])};
    whole = co_await q.verify(texts);
    StrategyResult r;
    r.samples.push_back(q.harvest(a, generation().answers));
    for (SampleId x : bc) r.samples.push_back(q.harvest(x, generation().answers));
    co_return r;
  }
};

TEST(Search, IncrementalVerifierReadingMatchesWholeSolutions) {
  Engines s;
  IncrementalCheck check;
  const StrategyResult r = s.run(check);
  ASSERT_EQ(r.error, "");
  ASSERT_EQ(check.incremental.size(), 5u);
  ASSERT_EQ(check.whole.size(), 2u);
  for (size_t k = 0; k < 3; ++k) EXPECT_EQ(check.incremental[k].steps.size(), k + 1) << "step " << k;
  for (size_t k = 0; k < 2; ++k) {
    const StepScores& inc = check.incremental[3 + k];
    const StepScores& all = check.whole[k];
    ASSERT_EQ(inc.steps.size(), all.steps.size()) << "solution " << k;
    for (size_t j = 0; j < all.steps.size(); ++j) EXPECT_NEAR(inc.steps[j], all.steps[j], 2e-3) << k << ":" << j;
    EXPECT_NEAR(inc.solution, all.solution, 2e-3);
  }
  EXPECT_EQ(s.verifier.stats().live_sequences, 0);
}

TEST(Search, AQuestionWaitsForTheSlotsItsSearchKeeps) {
  Engine generator(test::toy_reasoner(), engine_options(12)), verifier(test::toy_prm(), engine_options(12));
  Runtime runtime(generator, {.max_in_flight = 6});
  runtime.set_verifier(verifier, ProcessRewardModel::load(test::toy_prm()));
  std::shared_ptr<const Strategy> too_big = make_strategy("beam@16", options());
  try {
    runtime.submit({too_big, kQuestion, {}, {}});
    FAIL() << "beam@16 cannot fit 12 slots";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("max-sequences >= 17"), std::string::npos) << e.what();
  }
  // Four beam@4 questions (5 slots each) on 12 slots: two at a time, none stalls.
  std::shared_ptr<const Strategy> beam = make_strategy("beam@4", options());
  std::vector<Job> jobs;
  for (const char* q : {"a=12; b=a*3; b?", "a=40; b=a-17; b?", "a=9; b=a+88; b?", "a=71; b=a*2; b?"}) {
    jobs.push_back({beam, q, {}, {}});
  }
  for (const StrategyResult& r : runtime.run(jobs)) {
    EXPECT_EQ(r.error, "");
    EXPECT_TRUE(r.answer.has_value());
  }
}

TEST(Search, StepsKeepTheirDelimiter) {
  Engine generator(test::toy_reasoner(), engine_options(4));
  const RequestId request = generator.begin_request();
  const SeqId seq = generator.add_sequence(request, format_question(*test::toy_reasoner(), kQuestion));
  StopParams stop;
  stop.stop = {"\n"};
  stop.keep_stop = true;
  SamplingParams greedy;
  greedy.temperature = 0.0f;
  generator.generate(seq, greedy, stop);
  generator.run_until_idle();
  const Sequence& s = generator.sequence(seq);
  EXPECT_EQ(s.finish, FinishReason::stop_string);
  ASSERT_FALSE(s.text.empty());
  EXPECT_EQ(s.text.back(), '\n');
  EXPECT_EQ(s.text.find('\n'), s.text.size() - 1) << "one step";
  generator.free(seq);
  generator.end_request(request);
}

TEST(Search, OptionsAreValidated) {
  for (auto bad : std::vector<std::function<void(SearchOptions&)>>{
           [](SearchOptions& o) { o.max_steps = 0; }, [](SearchOptions& o) { o.beam_width = 1; },
           [](SearchOptions& o) { o.lookahead = -1; }, [](SearchOptions& o) { o.pf_temperature = 0.0; },
           [](SearchOptions& o) { o.pf_temperature = NAN; }, [](SearchOptions& o) { o.rollback_threshold = 1.0; },
           [](SearchOptions& o) { o.rollback_tries = 0; }, [](SearchOptions& o) { o.astar_expansions = 0; },
           [](SearchOptions& o) { o.astar_step_cost = -1.0; }}) {
    StrategyOptions o = options();
    bad(o.search);
    EXPECT_THROW(make_strategy("beam@4", o), std::invalid_argument);
  }
}

}  // namespace
}  // namespace ponder
