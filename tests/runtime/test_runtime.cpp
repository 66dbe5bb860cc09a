// The runtime: submit while others run, cancel mid-generation, events, the strategy API
// (fork at a position, extend, truncate, score), capabilities, and configurations that
// could never run.

#include <gtest/gtest.h>

#include <atomic>
#include <mutex>
#include <thread>

#include "ponder/runtime.h"
#include "support/test_models.h"

namespace ponder {
namespace {

std::shared_ptr<const Model> tiny() {
  static auto model = Model::load(test::random_model_path("tiny"));
  return model;
}

EngineOptions engine_options(int slots = 16) { return test::engine_options(slots, 128); }

StrategyOptions noise_options(int max_tokens = 24) {
  StrategyOptions o;
  o.generation.stop.max_tokens = max_tokens;
  o.generation.stop.ignore_eos = true;
  o.generation.sampling.seed = 11;
  o.generation.answers.rule = AnswerRule::regex;
  o.generation.answers.pattern = "[a-z0-9]";
  return o;
}

// One sample to wait for. (A braced list in a co_await trips GCC 12's coroutine lowering.)
std::vector<SampleId> just(SampleId s) { return std::vector<SampleId>(1, s); }

// A strategy written against QuestionRun alone, to test its operations.
class ScriptedStrategy : public StrategyBase {
 public:
  using Script = std::function<Task<StrategyResult>(QuestionRun&, const GenerationOptions&)>;
  ScriptedStrategy(Script script, uint32_t needs = kSample | kLogprobs)
      : StrategyBase("scripted", 4, noise_options().generation), script_(std::move(script)), needs_(needs) {}
  uint32_t needs() const override { return needs_; }
  Task<StrategyResult> run(QuestionRun& q) const override { return script_(q, generation()); }

 private:
  Script script_;
  uint32_t needs_;
};

TEST(Runtime, SubmitsWhileOthersRunAndCancelsMidGeneration) {
  std::shared_ptr<const Strategy> vote = make_strategy("vote@4", noise_options(48));
  const std::vector<std::string> questions = {"first", "second one", "third?"};

  // Reference: each question alone.
  std::vector<StrategyResult> alone;
  for (const auto& q : questions) {
    Engine engine(tiny(), engine_options());
    alone.push_back(run_strategy(engine, *vote, q));
  }

  Engine engine(tiny(), engine_options());
  Runtime runtime(engine, {.max_in_flight = 4});
  std::atomic<int> lines_of_victim = 0;
  const QuestionId a = runtime.submit({vote, questions[0], {}, {}});
  QuestionId victim = 0;
  victim = runtime.submit({vote, "to be cancelled", [&](const Event& e) {
                             if (e.kind == EventKind::launched || e.kind == EventKind::line) ++lines_of_victim;
                           },
                           {}});
  runtime.start();
  // Wait until the victim is generating, then submit another and cancel the victim.
  for (int i = 0; i < 2000 && lines_of_victim < 4; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  ASSERT_GE(lines_of_victim, 4) << "the victim never started";
  const QuestionId b = runtime.submit({vote, questions[1], {}, {}});
  runtime.cancel(victim);
  const QuestionId c = runtime.submit({vote, questions[2], {}, {}});

  const StrategyResult cancelled = runtime.wait(victim);
  EXPECT_EQ(cancelled.error, "cancelled");
  EXPECT_LT(cancelled.cost.generated_tokens, 4 * 48) << "cancelled before its samples finished";
  const StrategyResult ra = runtime.wait(a), rb = runtime.wait(b), rc = runtime.wait(c);
  runtime.stop();
  for (const auto* r : {&ra, &rb, &rc}) ASSERT_EQ(r->error, "");
  const StrategyResult* together[] = {&ra, &rb, &rc};
  for (size_t i = 0; i < questions.size(); ++i) {
    EXPECT_EQ(together[i]->answer->key, alone[i].answer->key) << i;
    EXPECT_EQ(together[i]->cost.generated_tokens, alone[i].cost.generated_tokens) << i;
    for (size_t k = 0; k < alone[i].samples.size(); ++k) EXPECT_EQ(together[i]->samples[k].text, alone[i].samples[k].text);
  }
  // The victim's sequences were freed at once, the others' when they finished.
  EXPECT_EQ(engine.stats().live_sequences, 0);
}

TEST(Runtime, CancelFreesTheQuestionsSequencesAtOnce) {
  std::shared_ptr<const Strategy> vote = make_strategy("vote@8", noise_options(100));
  Engine engine(tiny(), engine_options());
  Runtime runtime(engine, {.max_in_flight = 2});
  std::atomic<bool> generating = false;
  std::atomic<int> live_after_cancel = -1;
  const QuestionId q = runtime.submit({vote, "long", [&](const Event& e) {
                                         if (e.kind == EventKind::line) generating = true;
                                       },
                                       {}});
  // Drive the loop by hand: a second question keeps it stepping after the cancel.
  const QuestionId other = runtime.submit({vote, "other", {}, [&](const StrategyResult&) {
                                             if (live_after_cancel < 0) live_after_cancel = engine.stats().live_sequences;
                                           }});
  runtime.start();
  for (int i = 0; i < 5000 && !generating; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  runtime.cancel(q);
  const StrategyResult r = runtime.wait(q);
  EXPECT_EQ(r.error, "cancelled");
  EXPECT_LT(r.cost.generated_tokens, 8 * 100);
  EXPECT_EQ(runtime.wait(other).error, "");
  runtime.stop();
  EXPECT_EQ(live_after_cancel, 0) << "the cancelled question still held sequences when the other finished";
}

TEST(Runtime, EventsTellTheStoryInOrder) {
  std::shared_ptr<const Strategy> vote = make_strategy("vote@3", noise_options());
  Engine engine(tiny(), engine_options());
  std::vector<Event> events;
  StrategyResult r = Runtime(engine).run({{vote, "tell", [&](const Event& e) { events.push_back(e); }, {}}}).front();
  ASSERT_EQ(r.error, "");
  int launched = 0, finished = 0, votes = 0;
  std::vector<std::string> text_by_lines(3);
  for (const Event& e : events) {
    EXPECT_EQ(e.question, events.front().question);
    switch (e.kind) {
      case EventKind::launched: ++launched; break;
      case EventKind::line:
        ASSERT_GE(e.sample, 0);
        EXPECT_FALSE(e.tokens.empty());
        text_by_lines[size_t(e.sample)] += e.text;
        break;
      case EventKind::finished:
        ++finished;
        EXPECT_EQ(launched, 3) << "all samples launch before any finishes here";
        // The lines reported add up to the sample's text (generation ran out at max tokens).
        EXPECT_EQ(text_by_lines[size_t(e.sample)], e.text);
        break;
      case EventKind::vote: ++votes; break;
      default: break;
    }
  }
  EXPECT_EQ(launched, 3);
  EXPECT_EQ(finished, 3);
  EXPECT_EQ(votes, 1);
  ASSERT_EQ(events.back().kind, EventKind::result);
  EXPECT_EQ(events.back().answer->key, r.answer->key);
  EXPECT_EQ(events.back().cost.generated_tokens, r.cost.generated_tokens);
}

// A job that asks for token events sees each sample's tokens as decoded, each once, in
// order, before its lines repeat them whole; other jobs see none.
TEST(Runtime, TokenEventsShowEachStepsTokensWhenAsked) {
  std::shared_ptr<const Strategy> vote = make_strategy("vote@3", noise_options());
  for (bool asked : {false, true}) {
    Engine engine(tiny(), engine_options());
    std::vector<Event> events;
    Job job{vote, "tell", [&](const Event& e) { events.push_back(e); }, {}};
    job.token_events = asked;
    const StrategyResult r = Runtime(engine).run({job}).front();
    ASSERT_EQ(r.error, "");
    std::vector<std::vector<Token>> streamed(3), lined(3);
    int token_events = 0;
    for (const Event& e : events) {
      if (e.kind != EventKind::tokens && e.kind != EventKind::line) continue;
      auto& seen = e.kind == EventKind::tokens ? streamed[size_t(e.sample)] : lined[size_t(e.sample)];
      if (e.kind == EventKind::tokens) {
        ++token_events;
        // A step's tokens start where the unfinished line's shown tokens end.
        EXPECT_EQ(size_t(e.position), streamed[size_t(e.sample)].size());
      }
      for (const TokenRecord& t : e.tokens) seen.push_back(t.token);
      // Whatever a line holds was streamed before it (or, for the last tokens of a step
      // that ended the line, in that line itself).
      if (e.kind == EventKind::line) streamed[size_t(e.sample)] = lined[size_t(e.sample)];
    }
    if (!asked) {
      EXPECT_EQ(token_events, 0);
      continue;
    }
    EXPECT_GT(token_events, 3);
    for (int k = 0; k < 3; ++k) EXPECT_EQ(streamed[size_t(k)].size(), size_t(r.samples[size_t(k)].tokens)) << k;
  }
}

// What the scripted strategy saw (GoogleTest's assertions cannot run inside a coroutine).
struct ForkFacts {
  std::string whole, child_text, regenerated, extended;
  int child_length = 0, truncated_length = 0, scored_length = 0;
  Token first_token7 = -1, child_token7 = -2;
  float sampled20 = 0, scored20 = 1, extended20 = 2;
};

TEST(Runtime, ForkAtAPositionSharesThePrefixAndTruncateRollsBack) {
  ForkFacts f;
  auto strategy = std::make_shared<ScriptedStrategy>([&f](QuestionRun& q, const GenerationOptions& g) -> Task<StrategyResult> {
    GenerationOptions greedy = g;
    greedy.sampling.temperature = 0.0f;
    const SampleId first = q.launch(1, greedy).front();
    co_await q.all(just(first));
    f.whole = q.text(first);
    // Greedy: a sample forked at position 5 and generated on equals the original.
    const SampleId child = q.fork(first, 5, 1).front();
    f.child_length = q.length(child);
    GenerationOptions rest = greedy;  // max_tokens counts the tokens of one generation
    rest.stop.max_tokens = greedy.stop.max_tokens - 5;
    q.generate(child, rest);
    co_await q.all(just(child));
    f.child_text = q.text(child);
    f.first_token7 = q.records(first)[7].token;
    f.child_token7 = q.records(child)[7].token;
    // Roll the original back to 3 tokens and regenerate: the same text again.
    q.truncate(first, 3);
    f.truncated_length = q.length(first);
    rest.stop.max_tokens = greedy.stop.max_tokens - 3;
    q.generate(first, rest);
    co_await q.all(just(first));
    f.regenerated = q.text(first);
    // Score the child's own tail after rolling it back: the logprobs it sampled with.
    f.sampled20 = q.records(child)[20].logprob;
    q.truncate(child, 20);
    const std::string tail = f.whole.substr(q.text(child).size());
    q.score(child, tail);
    co_await q.all(just(child));
    f.scored_length = q.length(child);
    f.scored20 = q.score_result(child).logprobs.at(0);
    // Extend: the text is appended with its logprobs.
    q.extend(child, tail);
    co_await q.all(just(child));
    f.extended = q.text(child);
    f.extended20 = q.records(child)[20].logprob;
    StrategyResult r;
    r.samples.push_back(q.harvest(first, g.answers));
    r.samples.push_back(q.harvest(child, g.answers));
    r.stop_reason = "done";
    co_return r;
  });
  Engine engine(tiny(), engine_options());
  std::vector<Event> events;
  const StrategyResult r = Runtime(engine).run({{strategy, "fork me", [&](const Event& e) { events.push_back(e); }, {}}}).front();
  ASSERT_EQ(r.error, "");
  EXPECT_EQ(f.child_length, 5);
  EXPECT_EQ(f.child_text, f.whole);
  EXPECT_EQ(f.child_token7, f.first_token7);
  EXPECT_EQ(f.truncated_length, 3);
  EXPECT_EQ(f.regenerated, f.whole);
  EXPECT_EQ(f.scored_length, 20) << "scoring leaves the sample as it was";
  EXPECT_NEAR(f.scored20, f.sampled20, 1e-3);
  EXPECT_EQ(f.extended, f.whole);
  EXPECT_NEAR(f.extended20, f.sampled20, 1e-3);
  bool forked = false, truncated = false;
  for (const Event& e : events) {
    if (e.kind == EventKind::forked) {
      forked = true;
      EXPECT_EQ(e.parent, 0);
      EXPECT_EQ(e.position, 5);
    }
    truncated |= e.kind == EventKind::truncated;
  }
  EXPECT_TRUE(forked);
  EXPECT_TRUE(truncated);
  EXPECT_EQ(engine.stats().live_sequences, 0);
}

TEST(Runtime, TracesKeepTokensAndTreeIdsWhenAsked) {
  std::shared_ptr<const Strategy> vote = make_strategy("vote@3", noise_options());
  for (bool record : {false, true}) {
    Engine engine(tiny(), engine_options());
    const StrategyResult r = Runtime(engine, {.record_tokens = record}).run({{vote, "trace", {}, {}}}).front();
    ASSERT_EQ(r.samples.size(), 3u);
    for (int i = 0; i < 3; ++i) {
      const SampleTrace& t = r.samples[size_t(i)];
      EXPECT_EQ(t.id, i);
      EXPECT_EQ(t.parent, -1);
      EXPECT_EQ(t.token_logprobs.size(), record ? size_t(t.tokens) : 0u);
      EXPECT_EQ(t.token_pieces.size(), t.token_logprobs.size());
      double sum = 0;
      for (const auto& tl : t.token_logprobs) sum += tl.logprob;
      if (record) {
        EXPECT_NEAR(sum / t.tokens, t.mean_logprob, 1e-4);
      }
    }
  }
}

TEST(Runtime, AJobMayGiveThePromptTokens) {
  // A front end's own prompt (a raw completion, a multi-message chat) replaces the
  // formatted question; the same tokens give the same result.
  std::shared_ptr<const Strategy> vote = make_strategy("vote@3", noise_options(8));
  Engine engine(tiny(), engine_options());
  Runtime runtime(engine);
  const QuestionId formatted = runtime.submit({vote, "same", {}, {}});
  const QuestionId given = runtime.submit({vote, "same", {}, {}, format_question(engine.model(), "same")});
  const StrategyResult a = runtime.wait(formatted);
  const StrategyResult b = runtime.wait(given);
  ASSERT_TRUE(a.error.empty() && b.error.empty()) << a.error << b.error;
  ASSERT_EQ(a.samples.size(), b.samples.size());
  for (size_t i = 0; i < a.samples.size(); ++i) EXPECT_EQ(a.samples[i].text, b.samples[i].text);
  // One that leaves no room to generate fails its question, not the runtime.
  const std::vector<Token> too_long(size_t(engine.context_per_sequence()), engine.model().bos());
  const StrategyResult refused = runtime.wait(runtime.submit({vote, "long", {}, {}, too_long}));
  EXPECT_NE(refused.error.find("leave no room"), std::string::npos) << refused.error;
}

TEST(Runtime, RefusesWhatItCannotDo) {
  Engine engine(tiny(), engine_options());
  Runtime runtime(engine);
  std::shared_ptr<const Strategy> prm_vote = make_strategy("prm-vote@4", noise_options());
  try {
    runtime.submit({prm_vote, "q", {}, {}});
    FAIL() << "a strategy that needs a verifier was accepted without one";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("a verifier"), std::string::npos) << e.what();
  }
  // Configurations that could stall are refused before anything runs.
  Engine one_slot(tiny(), engine_options(1));
  EXPECT_THROW(Runtime(one_slot, {}), std::invalid_argument);
  Engine four(tiny(), engine_options(4));
  EXPECT_THROW(Runtime(four, {.max_in_flight = 4}), std::invalid_argument);
  EXPECT_NO_THROW(Runtime(four, {.max_in_flight = 2}));
}

TEST(Runtime, ForksBeyondTheSlotsQueueInsteadOfStalling) {
  // 2 slots, vote@6: the prompt and one sample at a time; every sample still runs.
  std::shared_ptr<const Strategy> vote = make_strategy("vote@6", noise_options(8));
  Engine engine(tiny(), engine_options(2));
  const StrategyResult r = Runtime(engine).run({{vote, "narrow", {}, {}}}).front();
  EXPECT_EQ(r.error, "");
  EXPECT_EQ(r.samples.size(), 6u);
}

TEST(Runtime, AStrategyThatThrowsFailsOnlyItsQuestion) {
  auto bad = std::make_shared<ScriptedStrategy>([](QuestionRun& q, const GenerationOptions& g) -> Task<StrategyResult> {
    const SampleId s = q.launch(2, g).front();
    co_await q.all(just(s));
    q.truncate(s, 1000);  // out of range
    co_return StrategyResult{};
  });
  std::shared_ptr<const Strategy> vote = make_strategy("vote@2", noise_options());
  Engine engine(tiny(), engine_options());
  const auto results = Runtime(engine).run({{bad, "bad", {}, {}}, {vote, "good", {}, {}}});
  EXPECT_NE(results[0].error.find("truncate: position must be in"), std::string::npos) << results[0].error;
  EXPECT_EQ(results[1].error, "");
  EXPECT_EQ(engine.stats().live_sequences, 0);
}

TEST(Runtime, ReplicasSpreadQuestionsStepSideBySideAndChangeNoResult) {
  std::shared_ptr<const Strategy> vote = make_strategy("vote@4", noise_options(40));
  std::shared_ptr<const Strategy> greedy = make_strategy("greedy", noise_options(40));
  const std::vector<std::string> questions = {"one", "two?", "three 3", "four four", "five", "6", "seven", "8?"};
  std::vector<Job> jobs;
  for (const auto& q : questions) {
    jobs.push_back({vote, q, {}, {}});
    jobs.push_back({greedy, q, {}, {}});
  }
  Engine single(tiny(), engine_options());
  const auto reference = Runtime(single).run(jobs);

  std::vector<std::unique_ptr<Engine>> engines;
  for (int i = 0; i < 3; ++i) engines.push_back(std::make_unique<Engine>(tiny(), engine_options()));
  Runtime runtime(*engines[0], {});
  runtime.add_generator_replica(*engines[1]);
  runtime.add_generator_replica(*engines[2]);
  ASSERT_EQ(runtime.generators().size(), 3u);
  // Submitted from this thread while the engine thread runs, one cancelled mid-generation.
  runtime.start();
  std::atomic<bool> victim_generating = false;
  const QuestionId victim = runtime.submit({make_strategy("vote@8", noise_options(120)), "to be cancelled",
                                            [&](const Event& e) {
                                              if (e.kind == EventKind::line) victim_generating = true;
                                            },
                                            {}});
  std::vector<QuestionId> ids;
  for (const Job& job : jobs) ids.push_back(runtime.submit(job));
  for (int i = 0; i < 5000 && !victim_generating; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  runtime.cancel(victim);
  const StrategyResult cancelled = runtime.wait(victim);
  EXPECT_EQ(cancelled.error, "cancelled");
  EXPECT_LT(cancelled.cost.generated_tokens, 8 * 120) << "cancelled before its samples finished";
  for (size_t i = 0; i < ids.size(); ++i) {
    const StrategyResult r = runtime.wait(ids[i]);
    ASSERT_EQ(r.error, "") << i;
    EXPECT_EQ(r.answer->key, reference[i].answer->key) << i;
    EXPECT_EQ(r.cost.generated_tokens, reference[i].cost.generated_tokens) << i;
    ASSERT_EQ(r.samples.size(), reference[i].samples.size()) << i;
    for (size_t k = 0; k < r.samples.size(); ++k) EXPECT_EQ(r.samples[k].text, reference[i].samples[k].text) << i;
  }
  runtime.stop();
  for (const auto& engine : engines) {
    EXPECT_GT(engine->stats().decoded_tokens, 0) << "every replica took questions";
    EXPECT_EQ(engine->stats().live_sequences, 0);
  }
}

TEST(Runtime, AReplicaWithNothingToDoLendsItsThreads) {
  std::shared_ptr<const Strategy> vote = make_strategy("vote@4", noise_options(40));
  Engine single(tiny(), engine_options());
  const StrategyResult reference = Runtime(single).run({{vote, "alone", {}, {}}})[0];

  Engine first(tiny(), engine_options()), second(tiny(), engine_options());
  Runtime runtime(first, {});
  runtime.add_generator_replica(second);
  // Events come from the engine thread between steps, when the counts may be read.
  int most_threads = 0;
  const StrategyResult r = runtime.run({{vote, "alone",
                                         [&](const Event&) {
                                           for (const Engine* g : runtime.generators()) {
                                             most_threads = std::max(most_threads, g->step_threads());
                                           }
                                         },
                                         {}}})[0];
  EXPECT_EQ(most_threads, 2) << "the lone question ran on both replicas' threads";
  EXPECT_EQ(r.answer->key, reference.answer->key);
  ASSERT_EQ(r.samples.size(), reference.samples.size());
  for (size_t k = 0; k < r.samples.size(); ++k) EXPECT_EQ(r.samples[k].text, reference.samples[k].text) << k;
  EXPECT_EQ(second.stats().decoded_tokens, 0);
}

TEST(Runtime, RefusesReplicasThatCannotTakeAnyQuestion) {
  Engine engine(tiny(), engine_options());
  auto refused = [&](Runtime& runtime, Engine& replica, const std::string& why) {
    try {
      runtime.add_generator_replica(replica);
      ADD_FAILURE() << "accepted a replica: " << why;
    } catch (const std::invalid_argument& e) {
      EXPECT_NE(std::string(e.what()).find(why), std::string::npos) << e.what();
    }
  };
  Runtime runtime(engine);
  Engine other_model(Model::load(test::random_model_path("tiny-gqa")), engine_options());
  refused(runtime, other_model, "the generator's model");
  Engine fewer_slots(tiny(), engine_options(8));
  refused(runtime, fewer_slots, "sequence slots");
  refused(runtime, engine, "an engine of its own");
  Engine replica(tiny(), engine_options());
  runtime.add_generator_replica(replica);
  refused(runtime, replica, "an engine of its own");
  runtime.run({{make_strategy("greedy", noise_options(4)), "q", {}, {}}});
  Engine late(tiny(), engine_options());
  refused(runtime, late, "before the first submit");
}

}  // namespace
}  // namespace ponder
