// vote@N (self-consistency) and weighted-vote@N (each sample weighted by exp(mean logprob)).

#include "strategies/strategies.h"
#include "strategies/voting.h"

namespace ponder::strategies {

namespace {

class Vote : public Strategy {
 public:
  Vote(std::string name, int n, bool weighted, GenerationOptions g)
      : name_(std::move(name)), n_(n), weighted_(weighted), generation_(std::move(g)) {}

  std::string name() const override { return name_; }
  int budget() const override { return n_; }

  Task<StrategyResult> run(QuestionRun& q) const override {
    StrategyResult r;
    r.samples = co_await draw_all(q, n_, generation_);
    if (weighted_) {
      for (auto& s : r.samples) s.scores["weight"] = sample_probability(s);
      voting::decide(r, voting::tally(r.samples, sample_probability));
    } else {
      voting::decide(r, voting::tally(r.samples));
    }
    r.stop_reason = "budget";
    co_return r;
  }

 private:
  std::string name_;
  int n_;
  bool weighted_;
  GenerationOptions generation_;
};

}  // namespace

std::unique_ptr<Strategy> make_vote(std::string name, int n, bool weighted, const StrategyOptions& o) {
  return std::make_unique<Vote>(std::move(name), n, weighted, o.generation);
}

}  // namespace ponder::strategies
