// beam@N: step-level beam search. N beams take a step each; the verifier scores the
// steps; finished beams are set aside; the best N/M open beams survive and each grows
// into M (itself and M-1 forks at its end), back to N beams. The finished solutions
// answer by a vote weighted by their verifier scores.

#include <algorithm>
#include <numeric>

#include "strategies/search.h"

namespace ponder::strategies {

namespace {

class Beam : public SearchBase {
 public:
  using SearchBase::SearchBase;

  Task<StrategyResult> run(QuestionRun& q) const override {
    const int n = budget();
    const int keep = std::max(1, n / search().beam_width);
    Stepper stepper(q, generation(), search());
    StrategyResult r;
    std::vector<SampleId> beams = stepper.launch(n);
    int finished = 0;
    for (int step = 0; !beams.empty(); ++step) {
      co_await q.all(beams);
      const std::vector<StepScores> scores = co_await q.verify_samples(beams);
      std::vector<std::pair<double, SampleId>> open;
      for (size_t i = 0; i < beams.size(); ++i) {
        if (stepper.ended(beams[i])) {
          SampleTrace t = q.harvest(beams[i], generation().answers);
          t.scores["verifier"] = scores[i].solution;
          r.samples.push_back(std::move(t));
          ++finished;
        } else {
          open.emplace_back(aggregate_steps(scores[i].steps, search().aggregation), beams[i]);
        }
      }
      // Best first; equal scores by launch order, so the result does not depend on timing.
      std::stable_sort(open.begin(), open.end(), [](const auto& a, const auto& b) { return a.first > b.first; });
      const bool done = finished >= n || step + 1 >= search().max_steps;
      const size_t survivors = done ? 0 : std::min(open.size(), size_t(keep));
      for (size_t k = survivors; k < open.size(); ++k) {
        r.samples.push_back(q.prune(open[k].second, done ? "search over" : "below the best " + std::to_string(keep)));
      }
      beams.clear();
      if (survivors == 0) break;
      // Refill to the beams still allowed, survivors copied in turn.
      const int want = n - finished;
      std::vector<int> children(survivors, 0);
      for (int c = 0; c < want; ++c) ++children[size_t(c) % survivors];
      for (size_t k = 0; k < survivors; ++k) {
        const SampleId parent = open[k].second;
        if (children[k] > 1) {
          for (SampleId child : q.fork(parent, q.length(parent), children[k] - 1)) beams.push_back(child);
        }
        beams.push_back(parent);
      }
      std::sort(beams.begin(), beams.end());
      for (SampleId b : beams) stepper.step(b, step + 1);
    }
    sort_by_id(r.samples);
    vote_by_verifier(q, r);
    r.stop_reason = finished >= n ? "beams finished" : "steps";
    co_return r;
  }
};

}  // namespace

std::unique_ptr<Strategy> make_beam(std::string name, int n, const StrategyOptions& o) {
  return std::make_unique<Beam>(std::move(name), n, o);
}

}  // namespace ponder::strategies
