// rollback@N: sampling step by step with a verifier's veto. Each of max(1, N / (k + 1))
// chains samples a step; when the verifier scores it below the threshold, the step is
// rolled back (a fork of the try at the step's start, so the prefix is not re-read) and
// tried again, up to k tries; then the best try stays. N bounds the samples made in all.
// The chains' solutions answer by a vote weighted by their verifier scores.

#include <algorithm>
#include <cstdio>

#include "strategies/search.h"

namespace ponder::strategies {

namespace {

class Rollback : public SearchBase {
 public:
  using SearchBase::SearchBase;

  Task<StrategyResult> run(QuestionRun& q) const override {
    const int tries_per_step = search().rollback_tries;
    const int n_chains = std::max(1, budget() / (tries_per_step + 1));
    Stepper stepper(q, generation(), search());
    StrategyResult r;
    struct Try {
      SampleId sample;
      double score;     // its step's score
      double solution;  // the solution's score so far
    };
    struct Chain {
      SampleId current;     // the try in progress
      int step_start = 0;   // its length when the step began
      int steps_done = 0;
      std::vector<Try> tries;
      bool done = false;
    };
    std::vector<Chain> chains;
    for (SampleId s : stepper.launch(n_chains)) chains.push_back({s});
    int made = n_chains;
    int rollbacks = 0;
    while (true) {
      std::vector<SampleId> pending;
      for (const auto& c : chains) {
        if (!c.done) pending.push_back(c.current);
      }
      if (pending.empty()) break;
      co_await q.all(pending);
      const std::vector<StepScores> scores = co_await q.verify_samples(pending);
      size_t at = 0;
      for (Chain& c : chains) {
        if (c.done) continue;
        const StepScores& s = scores[at++];
        const double step_score = s.steps.empty() ? 0.0 : s.steps.back();
        c.tries.push_back({c.current, step_score, s.solution});
        const bool accept = step_score >= search().rollback_threshold ||
                            int(c.tries.size()) >= tries_per_step || made >= budget();
        if (!accept) {
          c.current = q.fork(c.current, c.step_start, 1).front();
          stepper.step(c.current, c.steps_done);
          ++made;
          ++rollbacks;
          continue;
        }
        size_t best = 0;
        for (size_t k = 1; k < c.tries.size(); ++k) {
          if (c.tries[k].score > c.tries[best].score) best = k;
        }
        for (size_t k = 0; k < c.tries.size(); ++k) {
          if (k == best) continue;
          char why[96];
          std::snprintf(why, sizeof why, "rolled back: step score %.3f", c.tries[k].score);
          r.samples.push_back(q.prune(c.tries[k].sample, why));
        }
        const Try kept = c.tries[best];
        c.tries.clear();
        if (stepper.ended(kept.sample) || c.steps_done + 1 >= search().max_steps) {
          SampleTrace t = q.harvest(kept.sample, generation().answers);
          t.scores["verifier"] = kept.solution;
          r.samples.push_back(std::move(t));
          c.done = true;
          continue;
        }
        c.current = kept.sample;
        c.step_start = q.length(kept.sample);
        stepper.step(kept.sample, ++c.steps_done);
      }
    }
    sort_by_id(r.samples);
    vote_by_verifier(q, r);
    r.stop_reason = std::to_string(rollbacks) + " steps rolled back";
    co_return r;
  }
};

}  // namespace

std::unique_ptr<Strategy> make_rollback(std::string name, int n, const StrategyOptions& o) {
  return std::make_unique<Rollback>(std::move(name), n, o);
}

}  // namespace ponder::strategies
