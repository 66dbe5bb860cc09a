// The external-command verifier: what the program reads, what it may print, every way it
// can fail (each a clear error naming it, never a crash, hang or silent 0), and prm-vote
// and beam search scored by an exact checker of the toy task while the engine goes on
// with other questions.

#include <gtest/gtest.h>

#include <chrono>
#include <fstream>
#include <nlohmann/json.hpp>
#include <thread>

#include "ponder/runtime.h"
#include "support/test_models.h"

namespace ponder {
namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

CommandVerifier helper(std::vector<std::string> args, double timeout_s = 20.0, std::string delimiter = "\n") {
  CommandVerifierOptions o;
  o.argv = {PONDER_VERIFIER_COMMAND};
  o.argv.insert(o.argv.end(), args.begin(), args.end());
  o.timeout_s = timeout_s;
  o.step_delimiter = std::move(delimiter);
  return CommandVerifier(std::move(o));
}

// The message of what `f` throws (std::runtime_error), or "" when it throws nothing.
template <class F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const std::runtime_error& e) {
    return e.what();
  }
  return "";
}

const char* kSolution = "b: 61-35=26\nc: 26*4=104\n#### 104";

TEST(CommandVerifier, OptionsAreValidated) {
  auto with = [](auto change) {
    CommandVerifierOptions o;
    o.argv = {"true"};
    change(o);
    return o;
  };
  EXPECT_NO_THROW(with([](auto&) {}).validate());
  EXPECT_THROW(with([](auto& o) { o.argv.clear(); }).validate(), std::invalid_argument);
  EXPECT_THROW(with([](auto& o) { o.argv = {""}; }).validate(), std::invalid_argument);
  EXPECT_THROW(with([](auto& o) { o.timeout_s = 0; }).validate(), std::invalid_argument);
  EXPECT_THROW(with([](auto& o) { o.timeout_s = NAN; }).validate(), std::invalid_argument);
  EXPECT_THROW(with([](auto& o) { o.parallel = 0; }).validate(), std::invalid_argument);
  EXPECT_THROW(with([](auto& o) { o.step_delimiter = ""; }).validate(), std::invalid_argument);
  EXPECT_THROW(with([](auto& o) { o.max_output_bytes = 1; }).validate(), std::invalid_argument);
}

TEST(CommandVerifier, ReadsScoresAndRefusesAnythingElse) {
  const CommandVerifier v = helper({"score", "1"});
  const StepScores both = v.parse_output(R"({"steps": [1, 0.25, 0.5], "score": 0.75})", 3);
  EXPECT_EQ(both.steps, (std::vector<double>{1, 0.25, 0.5}));
  EXPECT_EQ(both.solution, 0.75);
  const StepScores steps = v.parse_output("{\"steps\": [1, 0.25, 0.5]}\n", 3);
  EXPECT_EQ(steps.solution, 0.25) << "the steps' minimum";
  const StepScores score = v.parse_output(R"({"score": 0.5, "why": "ok"})", 3);
  EXPECT_EQ(score.steps, std::vector<double>{0.5}) << "a solution's score stands for its latest step";
  EXPECT_EQ(score.solution, 0.5);

  const std::pair<const char*, const char*> bad[] = {
      {"", "printed nothing"},
      {"yes", "printed no JSON object: 'yes'"},
      {"[0.5]", "printed no JSON object"},
      {R"({"score": nan})", "printed no JSON object"},
      {R"({"scores": [1]})", "neither \"score\" nor \"steps\""},
      {R"({"score": 1.5})", "\"score\" is 1.5, outside [0, 1]"},
      {R"({"score": -0.1})", "outside [0, 1]"},
      {R"({"score": 1e999})", "printed no JSON object"},  // beyond a double: not JSON nlohmann reads
      {R"({"score": "0.5"})", "\"score\" is not a number"},
      {R"({"score": true})", "\"score\" is not a number"},
      {R"({"steps": 0.5})", "\"steps\" is not an array"},
      {R"({"steps": [1, 1]})", "gave 2 step scores for 3 steps"},
      {R"({"steps": [1, null, 1]})", "\"steps\"[1] is not a number"},
      {R"({"steps": [1, 2, 1]})", "\"steps\"[1] is 2, outside [0, 1]"},
  };
  for (const auto& [output, message] : bad) {
    const std::string e = error_of([&] { v.parse_output(output, 3); });
    EXPECT_NE(e.find(message), std::string::npos) << output << " -> " << e;
  }
}

TEST(CommandVerifier, SendsTheQuestionTheSolutionAndItsSteps) {
  const std::string file = test::scratch_dir("command_request") + "/request.json";
  const CommandVerifier v = helper({"record", file});
  // Text a model may write that is not UTF-8 reaches the program as U+FFFD.
  EXPECT_EQ(v.score("a=61; b=a-35; c=b*4; c?", std::string(kSolution) + "\n\n\xff").solution, 0.5);
  std::ifstream in(file);
  const nlohmann::json request = nlohmann::json::parse(in);
  EXPECT_EQ(request.at("question"), "a=61; b=a-35; c=b*4; c?");
  EXPECT_EQ(request.at("solution"), std::string(kSolution) + "\n\n\xef\xbf\xbd");
  EXPECT_EQ(request.at("steps"), (nlohmann::json{"b: 61-35=26", "c: 26*4=104", "#### 104", "\xef\xbf\xbd"}));
}

TEST(CommandVerifier, ScoresFromTheProgram) {
  EXPECT_EQ(helper({"score", "0.25"}).score("q", kSolution).solution, 0.25);
  const StepScores s = helper({"steps"}).score("q", kSolution);
  EXPECT_EQ(s.steps, (std::vector<double>{1.0 / 2, 1.0 / 3, 1.0 / 4}));
  EXPECT_EQ(s.solution, 0.25);
}

TEST(CommandVerifier, EveryFailureIsAnErrorNamingTheCommand) {
  const std::string name = std::string("verifier command ") + PONDER_VERIFIER_COMMAND;
  auto fails_with = [&](const CommandVerifier& v, const std::string& what) {
    const std::string e = error_of([&] { v.score("q", kSolution); });
    EXPECT_EQ(e.rfind(name, 0), 0u) << e;
    EXPECT_NE(e.find(what), std::string::npos) << e;
  };
  fails_with(helper({"exit", "3"}), "exited with status 3; its stderr: failing on purpose");
  fails_with(helper({"garbage"}), "printed no JSON object: 'all good, I think'");
  fails_with(helper({"score", "1.5"}), "\"score\" is 1.5, outside [0, 1]");
  fails_with(helper({"score", "nan"}), "printed no JSON object");
  fails_with(helper({"big"}), "printed more than 1048576 bytes (killed)");
  const auto start = Clock::now();
  fails_with(helper({"sleep", "30"}, 0.5), "timed out after 0.5 s (killed)");
  EXPECT_LT(seconds_since(start), 10.0) << "killed at the timeout, not waited for";

  CommandVerifierOptions missing;
  missing.argv = {"/nonexistent/verifier"};
  const std::string e = error_of([&] { CommandVerifier(missing).score("q", kSolution); });
  EXPECT_NE(e.find("verifier command /nonexistent/verifier: cannot start /nonexistent/verifier"),
            std::string::npos)
      << e;
  // A program that ends without reading its (long) input: no SIGPIPE ends this process.
  CommandVerifierOptions deaf;
  deaf.argv = {"true"};
  const std::string long_solution(1 << 20, 'x');
  EXPECT_NE(error_of([&] {
              CommandVerifier(deaf).score("q", long_solution);
            }).find("verifier command true: printed nothing"),
            std::string::npos);
  // No shell reads the arguments: a ';' is just a character of one argument.
  CommandVerifierOptions no_shell;
  no_shell.argv = {PONDER_VERIFIER_COMMAND, "score", "1; echo"};
  EXPECT_NE(error_of([&] { CommandVerifier(no_shell).score("q", kSolution); }).find("printed no JSON object"),
            std::string::npos);
}

TEST(CommandVerifier, StopsAtOnceWhenCancelled) {
  const CommandVerifier v = helper({"sleep", "30"});
  std::atomic<bool> cancel{false};
  std::thread stopper([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    cancel = true;
  });
  const auto start = Clock::now();
  const std::string e = error_of([&] { v.score("q", kSolution, &cancel); });
  stopper.join();
  EXPECT_NE(e.find("cancelled"), std::string::npos) << e;
  EXPECT_LT(seconds_since(start), 10.0);
}

TEST(CommandVerifier, RunsAtMostParallelProgramsAtOnce) {
  CommandVerifierOptions o;
  o.argv = {PONDER_VERIFIER_COMMAND, "sleep", "0.4"};
  o.parallel = 1;
  const CommandVerifier v(o);
  const CommandVerifier copy = v;  // a runtime holds a copy: it shares the limit
  const auto start = Clock::now();
  std::thread other([&] { copy.score("q", kSolution); });
  v.score("q", kSolution);
  other.join();
  EXPECT_GE(seconds_since(start), 0.8) << "the second program waited for the first";
}

// --- through the runtime, on the toy reasoner

EngineOptions engine_options() { return test::engine_options(12, 320); }

StrategyOptions options() {
  StrategyOptions o;
  o.generation.sampling.seed = 11;
  o.generation.stop.max_tokens = 240;
  return o;
}

std::shared_ptr<const Strategy> strategy(const std::string& name) { return make_strategy(name, options()); }

const char* kQuestion = "a=61; b=a-35; c=b*4; d=c+41; d?";  // d = 145

TEST(CommandVerifier, PrmVoteAndBeamScoredByAnExactChecker) {
  Engine generator(test::toy_reasoner(), engine_options());
  Runtime runtime(generator);
  runtime.set_verifier(helper({"toy"}));
  EXPECT_EQ(runtime.verifier_kind(), VerifierKind::command);
  EXPECT_TRUE(runtime.capabilities() & kVerify);
  for (const char* name : {"prm-vote@4", "beam@4"}) {
    std::vector<Event> scored;
    const StrategyResult r = runtime
                                 .run({{strategy(name),
                                        kQuestion,
                                        [&](const Event& e) {
                                          if (e.kind == EventKind::scored) scored.push_back(e);
                                        },
                                        {}}})
                                 .front();
    ASSERT_EQ(r.error, "") << name;
    EXPECT_FALSE(scored.empty()) << name;
    int finished = 0;
    bool any_right = false;
    for (const SampleTrace& t : r.samples) {
      if (t.pruned) continue;
      ++finished;
      // The checker's verdict is exactly whether the answer is right.
      const bool right = t.answer && t.answer->key == "145";
      any_right |= right;
      EXPECT_EQ(t.scores.at("verifier"), right ? 1.0 : 0.0) << name << ": " << t.text;
    }
    EXPECT_GT(finished, 0) << name;
    if (any_right) {
      ASSERT_TRUE(r.answer.has_value()) << name;
      EXPECT_EQ(r.answer->key, "145") << name << ": a right solution outweighs every wrong one";
    }
    EXPECT_EQ(r.cost.verifier_tokens, 0) << "a command decodes nothing";
    EXPECT_EQ(r.cost.scored_tokens, 0);
  }
  EXPECT_EQ(generator.stats().live_sequences, 0);
}

TEST(CommandVerifier, FailuresAreTheQuestionsErrors) {
  Engine generator(test::toy_reasoner(), engine_options());
  for (const auto& [args, message] :
       std::vector<std::pair<std::vector<std::string>, std::string>>{{{"exit", "3"}, "exited with status 3"},
                                                                     {{"garbage"}, "printed no JSON object"},
                                                                     {{"score", "7"}, "outside [0, 1]"}}) {
    Runtime runtime(generator);
    runtime.set_verifier(helper(args));
    const StrategyResult r = runtime.run({{strategy("prm-vote@2"), kQuestion, {}, {}}}).front();
    EXPECT_NE(r.error.find(message), std::string::npos) << r.error;
    EXPECT_NE(r.error.find("verifier command"), std::string::npos) << r.error;
    EXPECT_FALSE(r.answer.has_value());
  }
  EXPECT_EQ(generator.stats().live_sequences, 0);
}

TEST(CommandVerifier, TheEnginesGoOnWhileTheCommandRuns) {
  Engine generator(test::toy_reasoner(), engine_options());
  Runtime runtime(generator, {.max_in_flight = 2});
  runtime.set_verifier(helper({"sleep", "4"}));
  std::vector<std::string> done;
  auto note = [&](const StrategyResult& r) { done.push_back(r.strategy); };
  // The second question arrives once the first has its sample and starts the command: had
  // the command held the engine thread, the second could not finish first.
  QuestionId fast = 0;
  const auto start = Clock::now();
  const QuestionId slow =
      runtime.submit({strategy("prm-vote@1"), kQuestion,
                      [&](const Event& e) {
                        if (e.kind == EventKind::finished && fast == 0) {
                          fast = runtime.submit({strategy("vote@2"), kQuestion, {}, note});
                        }
                      },
                      note});
  const StrategyResult a = runtime.wait(slow);
  ASSERT_NE(fast, 0u);
  const StrategyResult b = runtime.wait(fast);
  ASSERT_EQ(a.error, "");
  ASSERT_EQ(b.error, "");
  EXPECT_EQ(a.samples.front().scores.at("verifier"), 1.0);
  ASSERT_EQ(done.size(), 2u);
  EXPECT_EQ(done[0], "vote@2") << "the other question ran to its end while the command slept";
  EXPECT_GE(seconds_since(start), 4.0);
}

TEST(CommandVerifier, ACancelledQuestionKillsItsCommand) {
  Engine generator(test::toy_reasoner(), engine_options());
  Runtime runtime(generator);
  runtime.set_verifier(helper({"sleep", "60"}, 120.0));
  runtime.start();
  std::atomic<int> scoring{0};
  const QuestionId q = runtime.submit({strategy("prm-vote@1"),
                                       kQuestion,
                                       [&](const Event& e) {
                                         if (e.kind == EventKind::finished) ++scoring;
                                       },
                                       {}});
  const auto start = Clock::now();
  while (scoring == 0 && seconds_since(start) < 120)
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  const auto cancelled = Clock::now();
  runtime.cancel(q);
  const StrategyResult r = runtime.wait(q);
  EXPECT_EQ(r.error, "cancelled");
  EXPECT_LT(seconds_since(cancelled), 10.0) << "the command was killed, not waited for";
  runtime.stop();
  EXPECT_EQ(generator.stats().live_sequences, 0);
}

}  // namespace
}  // namespace ponder
