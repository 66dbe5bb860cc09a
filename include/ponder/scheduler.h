#pragma once
// Runs strategies on one engine, many questions in flight, so the batch stays full.

#include <functional>
#include <span>
#include <vector>

#include "ponder/engine.h"
#include "ponder/strategy.h"

namespace ponder {

// The engine as one running strategy sees it: its question's prompt (prefilled once),
// samples forked from it, and the conditions it can wait for.
class QuestionRun {
 public:
  QuestionRun(Engine& engine, std::vector<Token> prompt);
  ~QuestionRun();
  QuestionRun(const QuestionRun&) = delete;
  QuestionRun& operator=(const QuestionRun&) = delete;

  Engine& engine() { return engine_; }
  RequestId request() const { return request_; }
  const std::vector<Token>& prompt() const { return prompt_; }

  // Starts n samples forked from the prompt; sample k (counting across calls) uses
  // seed + k. `last` frees the prompt afterwards (its slot goes to the last fork).
  std::vector<SeqId> launch(int n, const GenerationOptions& generation, bool last = false);
  // Reads a finished sample and frees its sequence.
  SampleTrace harvest(SeqId seq, const AnswerOptions& answers);
  // Stops a running sample, reads what it had, frees it (marked pruned).
  SampleTrace prune(SeqId seq);
  int launched() const { return launched_; }

  // Awaitables: resume once all of `seqs` are done / once one is (returns it) / after
  // the next engine step.
  struct Wait;
  Wait all(std::vector<SeqId> seqs);
  Wait any(std::vector<SeqId> seqs);
  Wait next_step();

  struct Wait {
    QuestionRun* run;
    int kind;  // 0 all, 1 any, 2 step
    std::vector<SeqId> seqs;
    bool await_ready();
    void await_suspend(std::coroutine_handle<> h);
    SeqId await_resume() const { return run->woken_by_; }
  };

  // For the scheduler: resume the waiting coroutine if its condition holds now.
  bool try_resume(std::span<const SeqId> finished);
  Cost finish();  // frees what is left, returns the request's cost

 private:
  bool satisfied_by(const Wait& wait, std::span<const SeqId> finished);

  Engine& engine_;
  RequestId request_;
  std::vector<Token> prompt_;
  SeqId root_ = 0;
  int launched_ = 0;
  std::vector<SeqId> owned_;
  std::optional<Wait> wait_;
  std::coroutine_handle<> waiter_;
  SeqId woken_by_ = 0;
};

struct Job {
  const Strategy* strategy;
  std::string question;
};

struct SchedulerOptions {
  int max_in_flight = 0;  // questions running at once; 0 = half the engine's sequence slots
};

class Scheduler {
 public:
  explicit Scheduler(Engine& engine, SchedulerOptions options = {});
  // Runs every job; on_result(index, result) fires as each completes. A failing job
  // gets StrategyResult::error; the others go on. Results come back in job order.
  std::vector<StrategyResult> run(std::span<const Job> jobs,
                                  const std::function<void(size_t, const StrategyResult&)>& on_result = {});

 private:
  Engine& engine_;
  SchedulerOptions options_;
};

// The question as the model reads it: its chat template (or the toy format
// "question\n"), tokenized with BOS.
std::vector<Token> format_question(const Model& model, const std::string& question);

// One question, one strategy, blocking.
StrategyResult run_strategy(Engine& engine, const Strategy& strategy, const std::string& question);

}  // namespace ponder
