#include "ponder/scheduler.h"

#include <algorithm>
#include <deque>
#include <stdexcept>

namespace ponder {

QuestionRun::QuestionRun(Engine& engine, std::vector<Token> prompt)
    : engine_(engine), request_(engine.begin_request()), prompt_(std::move(prompt)) {}

QuestionRun::~QuestionRun() {
  for (SeqId s : owned_) {
    if (engine_.contains(s)) engine_.free(s);
  }
}

std::vector<SeqId> QuestionRun::launch(int n, const GenerationOptions& generation, bool last) {
  if (n < 1) throw std::invalid_argument("launch: n must be >= 1");
  if (root_ == 0) {
    root_ = engine_.add_sequence(request_, prompt_);
    owned_.push_back(root_);
  }
  std::vector<SeqId> seqs = engine_.fork(root_, n);
  for (SeqId s : seqs) {
    SamplingParams p = generation.sampling;
    p.seed = generation.sampling.seed + uint64_t(launched_++);
    engine_.generate(s, p, generation.stop);
    owned_.push_back(s);
  }
  if (last) {
    engine_.free(root_);
    root_ = 0;
  }
  return seqs;
}

SampleTrace QuestionRun::harvest(SeqId seq, const AnswerOptions& answers) {
  const Sequence& s = engine_.sequence(seq);
  SampleTrace t;
  t.text = s.text;
  t.mean_logprob = s.mean_logprob();
  t.tokens = int(s.records.size());
  t.finish = s.finish;
  t.answer = extract_answer(s.text, answers);
  engine_.free(seq);
  return t;
}

SampleTrace QuestionRun::prune(SeqId seq) {
  engine_.cancel(seq);
  SampleTrace t = harvest(seq, {});
  t.answer.reset();
  t.pruned = true;
  return t;
}

QuestionRun::Wait QuestionRun::all(std::vector<SeqId> seqs) { return {this, 0, std::move(seqs)}; }
QuestionRun::Wait QuestionRun::any(std::vector<SeqId> seqs) { return {this, 1, std::move(seqs)}; }
QuestionRun::Wait QuestionRun::next_step() { return {this, 2, {}}; }

bool QuestionRun::Wait::await_ready() {
  if (kind == 2) return false;
  return run->satisfied_by(*this, {});
}

void QuestionRun::Wait::await_suspend(std::coroutine_handle<> h) {
  run->wait_ = *this;
  run->waiter_ = h;
}

bool QuestionRun::satisfied_by(const Wait& w, std::span<const SeqId> finished) {
  switch (w.kind) {
    case 0:
      return std::none_of(w.seqs.begin(), w.seqs.end(), [&](SeqId s) { return engine_.busy(s); });
    case 1:
      for (SeqId s : finished) {
        if (std::find(w.seqs.begin(), w.seqs.end(), s) != w.seqs.end() && engine_.contains(s)) {
          woken_by_ = s;
          return true;
        }
      }
      for (SeqId s : w.seqs) {
        if (engine_.contains(s) && !engine_.busy(s)) {
          woken_by_ = s;
          return true;
        }
      }
      return false;
    default:
      return true;
  }
}

bool QuestionRun::try_resume(std::span<const SeqId> finished) {
  if (!wait_ || !satisfied_by(*wait_, finished)) return false;
  wait_.reset();
  auto h = std::exchange(waiter_, {});
  h.resume();
  return true;
}

Cost QuestionRun::finish() {
  for (SeqId s : owned_) {
    if (engine_.contains(s)) engine_.free(s);
  }
  owned_.clear();
  root_ = 0;
  return engine_.end_request(request_);
}

std::vector<Token> format_question(const Model& model, const std::string& question) {
  const std::string text = model.apply_chat_template({{"user", question}});
  return model.tokenize(text, true, model.has_chat_template());
}

Scheduler::Scheduler(Engine& engine, SchedulerOptions options) : engine_(engine), options_(options) {
  if (options_.max_in_flight < 0) throw std::invalid_argument("max_in_flight: must be >= 0 (0 = automatic)");
  // At most half the slots hold prompts kept for later waves, so forks always find room.
  if (options_.max_in_flight == 0) options_.max_in_flight = std::max(1, engine.max_sequences() / 2);
}

std::vector<StrategyResult> Scheduler::run(std::span<const Job> jobs,
                                           const std::function<void(size_t, const StrategyResult&)>& on_result) {
  struct Active {
    size_t index;
    std::unique_ptr<QuestionRun> run;
    std::optional<Task<StrategyResult>> task;
  };
  std::vector<StrategyResult> results(jobs.size());
  std::deque<size_t> pending;
  for (size_t i = 0; i < jobs.size(); ++i) pending.push_back(i);
  std::vector<Active> active;

  auto complete = [&](Active& a, std::string error) {
    StrategyResult r;
    if (error.empty()) {
      try {
        r = a.task->take();
      } catch (const std::exception& e) {
        error = e.what();
      }
    }
    a.task.reset();  // destroy the coroutine before its run
    const Cost cost = a.run->finish();
    if (!error.empty()) r = StrategyResult{};
    r.strategy = jobs[a.index].strategy->name();
    r.cost = cost;
    r.error = error;
    results[a.index] = std::move(r);
    if (on_result) on_result(a.index, results[a.index]);
  };

  while (!pending.empty() || !active.empty()) {
    while (!pending.empty() && int(active.size()) < options_.max_in_flight) {
      const size_t i = pending.front();
      pending.pop_front();
      Active a{i, nullptr, std::nullopt};
      try {
        a.run = std::make_unique<QuestionRun>(engine_, format_question(engine_.model(), jobs[i].question));
        a.task.emplace(jobs[i].strategy->run(*a.run));
        a.task->handle().resume();
      } catch (const std::exception& e) {
        if (!a.run) {
          StrategyResult r;
          r.strategy = jobs[i].strategy->name();
          r.error = e.what();
          results[i] = std::move(r);
          if (on_result) on_result(i, results[i]);
          continue;
        }
        complete(a, e.what());
        continue;
      }
      if (a.task->done()) {
        complete(a, "");
      } else {
        active.push_back(std::move(a));
      }
    }
    if (active.empty()) continue;

    const int64_t decoded = engine_.stats().decoded_tokens;
    const std::vector<SeqId> finished = engine_.step();
    bool resumed = false;
    for (size_t k = 0; k < active.size();) {
      Active& a = active[k];
      try {
        resumed |= a.run->try_resume(finished);
      } catch (const std::exception& e) {
        complete(a, e.what());
        active.erase(active.begin() + long(k));
        continue;
      }
      if (a.task->done()) {
        complete(a, "");
        active.erase(active.begin() + long(k));
        continue;
      }
      ++k;
    }
    if (!resumed && finished.empty() && engine_.stats().decoded_tokens == decoded) {
      for (Active& a : active) complete(a, "scheduler stalled: waiting for sequences that cannot get a KV slot");
      active.clear();
    }
  }
  return results;
}

StrategyResult run_strategy(Engine& engine, const Strategy& strategy, const std::string& question) {
  Scheduler scheduler(engine, {.max_in_flight = 1});
  const Job job{&strategy, question};
  return std::move(scheduler.run({&job, 1}).front());
}

}  // namespace ponder
