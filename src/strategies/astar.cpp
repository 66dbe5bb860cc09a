// astar@N: A*-decoding over partial solutions. A state's priority is
//   f = log(lowest step score so far) - step_cost * steps,
// which never rises along a path (a step can only lower the lowest score), so it bounds
// every completion of the state from above: the first finished state taken from the
// queue scores at least as well as anything still in it. Taking the best state, k next
// steps are sampled from it (itself and k-1 forks), scored, and queued. N bounds the
// samples made and the queue's length (the worst states are pruned). When the budget
// runs out first, the best finished state answers, else the best state runs to the end.

#include <algorithm>
#include <cmath>

#include "strategies/search.h"

namespace ponder::strategies {

namespace {

class AStar : public SearchBase {
 public:
  using SearchBase::SearchBase;
  // The queue, and the children of the state being expanded.
  int held_samples() const override { return budget() + std::min(search().astar_expansions, budget()); }

  Task<StrategyResult> run(QuestionRun& q) const override {
    const int n = budget();
    const int k = std::min(search().astar_expansions, n);
    Stepper stepper(q, generation(), search());
    StrategyResult r;
    struct State {
      SampleId sample;
      int steps;
      double f;
      double solution;
      bool ended;
    };
    std::vector<State> queue;
    auto push_scored = [&](const std::vector<SampleId>& ids, const std::vector<StepScores>& scores, int steps) {
      for (size_t i = 0; i < ids.size(); ++i) {
        const double lowest = aggregate_steps(scores[i].steps, StepAggregation::min);
        const double f = std::log(std::max(lowest, 1e-9)) - search().astar_step_cost * steps;
        queue.push_back({ids[i], steps, f, scores[i].solution, stepper.ended(ids[i])});
      }
      // Best first; equal priorities by sample id, so the search does not depend on timing.
      std::sort(queue.begin(), queue.end(),
                [](const State& a, const State& b) { return a.f > b.f || (a.f == b.f && a.sample < b.sample); });
      while (int(queue.size()) > n) {
        r.samples.push_back(q.prune(queue.back().sample, "A*: queue full"));
        queue.pop_back();
      }
    };
    std::vector<SampleId> first = stepper.launch(k);
    int made = k;
    co_await q.all(first);
    push_scored(first, co_await q.verify_samples(first), 1);
    std::optional<State> answer;
    while (!queue.empty()) {
      const State best = queue.front();
      if (best.ended) {
        answer = best;
        queue.erase(queue.begin());
        r.stop_reason = "first finished state";
        break;
      }
      if (made + k - 1 > n || best.steps >= search().max_steps) {
        r.stop_reason = "budget";
        break;
      }
      queue.erase(queue.begin());
      std::vector<SampleId> children = stepper.branch(best.sample, k - 1, best.steps);
      made += k - 1;
      children.insert(children.begin(), best.sample);
      stepper.step(best.sample, best.steps);
      co_await q.all(children);
      push_scored(children, co_await q.verify_samples(children), best.steps + 1);
    }
    if (!answer) {
      // Out of budget: the best finished state, else the best open one run to its end.
      auto finished = std::find_if(queue.begin(), queue.end(), [](const State& s) { return s.ended; });
      if (finished != queue.end()) {
        answer = *finished;
        queue.erase(finished);
      } else if (!queue.empty()) {
        State last = queue.front();
        queue.erase(queue.begin());
        stepper.step(last.sample, search().max_steps - 1);
        const std::vector<SampleId> alone(1, last.sample);
        co_await q.all(alone);
        last.solution = (co_await q.verify_samples(alone)).front().solution;
        answer = last;
      }
    }
    for (const State& s : queue) r.samples.push_back(q.prune(s.sample, "A*: search over"));
    if (answer) {
      SampleTrace t = q.harvest(answer->sample, generation().answers);
      t.scores["verifier"] = answer->solution;
      r.answer = t.answer;
      r.text = t.text;
      r.confidence = answer->solution;
      r.samples.push_back(std::move(t));
    }
    sort_by_id(r.samples);
    co_return r;
  }
};

}  // namespace

std::unique_ptr<Strategy> make_astar(std::string name, int n, const StrategyOptions& o) {
  return std::make_unique<AStar>(std::move(name), n, o);
}

}  // namespace ponder::strategies
