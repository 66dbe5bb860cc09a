// prune@N: N samples in one batch; when they reach the warm-up token count, those whose
// mean logprob so far is below the quantile of their peers' are stopped, freeing their
// share of the batch. The rest finish and vote.

#include <algorithm>
#include <cmath>

#include "strategies/strategies.h"
#include "strategies/voting.h"

namespace ponder::strategies {

namespace {

class Prune : public Strategy {
 public:
  Prune(std::string name, int n, PruneOptions p, GenerationOptions g)
      : name_(std::move(name)), n_(n), options_(p), generation_(std::move(g)) {}

  std::string name() const override { return name_; }
  int budget() const override { return n_; }

  Task<StrategyResult> run(QuestionRun& q) const override {
    StrategyResult r;
    Engine& engine = q.engine();
    std::vector<SeqId> running = q.launch(n_, generation_, /*last=*/true);
    bool checked = false;
    while (!running.empty()) {
      co_await q.next_step();
      for (auto it = running.begin(); it != running.end();) {
        if (engine.busy(*it)) {
          ++it;
        } else {
          r.samples.push_back(q.harvest(*it, generation_.answers));
          it = running.erase(it);
        }
      }
      if (checked) continue;
      const bool warm = std::any_of(running.begin(), running.end(), [&](SeqId s) {
        return int(engine.sequence(s).records.size()) >= options_.warmup_tokens;
      });
      if (!warm) continue;
      checked = true;
      prune_the_unconfident(q, running, r);
    }
    voting::decide(r, voting::tally(r.samples));
    r.stop_reason = "budget";
    co_return r;
  }

 private:
  void prune_the_unconfident(QuestionRun& q, std::vector<SeqId>& running, StrategyResult& r) const {
    Engine& engine = q.engine();
    std::vector<std::pair<double, SeqId>> by_confidence;
    for (SeqId s : running) by_confidence.emplace_back(engine.sequence(s).mean_logprob(), s);
    std::sort(by_confidence.begin(), by_confidence.end());
    // Peers include samples that already finished (their whole mean logprob).
    std::vector<double> peers;
    for (const auto& [c, s] : by_confidence) peers.push_back(c);
    for (const auto& t : r.samples) peers.push_back(t.mean_logprob);
    std::sort(peers.begin(), peers.end());
    const double cut = peers[size_t(std::floor(options_.quantile * double(peers.size() - 1)))];
    const int alive = int(running.size() + r.samples.size());
    int removable = std::max(0, alive - options_.min_survivors);
    for (const auto& [confidence, s] : by_confidence) {
      if (confidence >= cut || removable == 0) break;
      r.samples.push_back(q.prune(s));
      running.erase(std::find(running.begin(), running.end(), s));
      --removable;
    }
  }

  std::string name_;
  int n_;
  PruneOptions options_;
  GenerationOptions generation_;
};

}  // namespace

std::unique_ptr<Strategy> make_prune(std::string name, int n, const StrategyOptions& o) {
  return std::make_unique<Prune>(std::move(name), n, o.prune, o.generation);
}

}  // namespace ponder::strategies
