// dvts@N: diverse verifier tree search. The budget splits into N/M independent subtrees;
// each takes M candidate next steps from its current node, keeps the best-scored one
// (greedy within the subtree) and grows M candidates from it again, until its best
// candidate has finished. Optionally each candidate is scored after `lookahead` greedy
// steps past it (taken on a fork, then dropped). The subtrees' finished candidates
// answer by a vote weighted by their verifier scores.

#include <algorithm>

#include "strategies/search.h"

namespace ponder::strategies {

namespace {

class Dvts : public SearchBase {
 public:
  using SearchBase::SearchBase;
  int held_samples() const override { return search().lookahead > 0 ? 2 * budget() : budget(); }

  Task<StrategyResult> run(QuestionRun& q) const override {
    const int m = std::min(search().beam_width, budget());
    const int trees = std::max(1, budget() / m);
    Stepper stepper(q, generation(), search());
    StrategyResult r;
    std::vector<std::vector<SampleId>> candidates(static_cast<size_t>(trees));
    {
      const std::vector<SampleId> first = stepper.launch(trees * m);
      for (size_t i = 0; i < first.size(); ++i) candidates[i / size_t(m)].push_back(first[i]);
    }
    for (int step = 0;; ++step) {
      std::vector<SampleId> all;
      for (const auto& c : candidates) all.insert(all.end(), c.begin(), c.end());
      if (all.empty()) break;
      co_await q.all(all);
      const std::vector<StepScores> scores = co_await q.verify_samples(all);
      const std::vector<double> ranking = co_await rank(q, stepper, all, scores, step);
      size_t at = 0;
      for (auto& c : candidates) {
        if (c.empty()) continue;
        size_t best = 0;
        for (size_t k = 1; k < c.size(); ++k) {
          if (ranking[at + k] > ranking[at + best]) best = k;
        }
        const bool tree_over = stepper.ended(c[best]) || step + 1 >= search().max_steps;
        std::vector<SampleId> next;
        for (size_t k = 0; k < c.size(); ++k) {
          const SampleId s = c[k];
          if (stepper.ended(s)) {
            // A finished candidate is a solution whether or not it was the best.
            SampleTrace t = q.harvest(s, generation().answers);
            t.scores["verifier"] = scores[at + k].solution;
            r.samples.push_back(std::move(t));
          } else if (k != best || tree_over) {
            r.samples.push_back(q.prune(s, tree_over ? "subtree over" : "not the subtree's best step"));
          }
        }
        if (!tree_over) {
          const SampleId keep = c[best];
          next = stepper.branch(keep, m - 1, step + 1);
          next.insert(next.begin(), keep);
          stepper.step(keep, step + 1);
        }
        at += c.size();
        c = std::move(next);
      }
    }
    sort_by_id(r.samples);
    vote_by_verifier(q, r);
    r.stop_reason = "subtrees finished";
    co_return r;
  }

 private:
  // What each candidate is ranked by: its partial score, or that of its greedy lookahead.
  Task<std::vector<double>> rank(QuestionRun& q, Stepper& stepper, const std::vector<SampleId>& ids,
                                 const std::vector<StepScores>& scores, int step) const {
    std::vector<double> out;
    for (const auto& s : scores) out.push_back(aggregate_steps(s.steps, search().aggregation));
    if (search().lookahead == 0) co_return out;
    std::vector<size_t> probed;
    std::vector<SampleId> probes;
    for (size_t i = 0; i < ids.size(); ++i) {
      if (stepper.ended(ids[i])) continue;
      probed.push_back(i);
      probes.push_back(q.fork(ids[i], q.length(ids[i]), 1).front());
    }
    if (probes.empty()) co_return out;
    std::vector<SampleId> going = probes;
    for (int k = 0; k < search().lookahead && !going.empty(); ++k) {
      for (SampleId p : going) stepper.step(p, step + 1 + k, true);
      co_await q.all(going);
      std::erase_if(going, [&](SampleId p) { return stepper.ended(p); });
    }
    const std::vector<StepScores> ahead = co_await q.verify_samples(probes);
    for (size_t j = 0; j < probes.size(); ++j) {
      out[probed[j]] = aggregate_steps(ahead[j].steps, search().aggregation);
      q.prune(probes[j], "lookahead");
    }
    co_return out;
  }
};

}  // namespace

std::unique_ptr<Strategy> make_dvts(std::string name, int n, const StrategyOptions& o) {
  return std::make_unique<Dvts>(std::move(name), n, o);
}

}  // namespace ponder::strategies
