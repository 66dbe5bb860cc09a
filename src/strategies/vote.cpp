// vote@N (self-consistency) and weighted-vote@N (each sample weighted by exp(mean logprob)).

#include "strategies/strategies.h"
#include "strategies/voting.h"

namespace ponder::strategies {

namespace {

class Vote : public StrategyBase {
 public:
  Vote(std::string name, int n, bool weighted, GenerationOptions g)
      : StrategyBase(std::move(name), n, std::move(g)), weighted_(weighted) {}

  Task<StrategyResult> run(QuestionRun& q) const override {
    StrategyResult r;
    r.samples = co_await draw_all(q, budget(), generation());
    if (weighted_) {
      for (auto& s : r.samples) s.scores["weight"] = sample_probability(s);
    }
    const auto groups = weighted_ ? voting::tally(r.samples, sample_probability) : voting::tally(r.samples);
    voting::decide(r, groups);
    q.report_vote(voting::standings(groups, r.samples), r.confidence);
    r.stop_reason = "budget";
    co_return r;
  }

 private:
  bool weighted_;
};

}  // namespace

std::unique_ptr<Strategy> make_vote(std::string name, int n, bool weighted, const StrategyOptions& o) {
  return std::make_unique<Vote>(std::move(name), n, weighted, o.generation);
}

}  // namespace ponder::strategies
