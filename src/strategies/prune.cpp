// prune@N: N samples in one batch; once every sample has its first warm-up tokens (or has
// finished), those whose mean logprob over those tokens is below the quantile of their
// peers' are stopped, freeing their share of the batch. The rest finish and vote.

#include <algorithm>
#include <cmath>

#include "strategies/strategies.h"
#include "strategies/voting.h"

namespace ponder::strategies {

namespace {

class Prune : public StrategyBase {
 public:
  Prune(std::string name, int n, PruneOptions p, GenerationOptions g)
      : StrategyBase(std::move(name), n, std::move(g)), options_(p) {}

  Task<StrategyResult> run(QuestionRun& q) const override {
    const std::vector<SampleId> ids = q.launch(budget(), generation(), /*last=*/true);
    std::vector<SampleTrace> traces(ids.size());
    std::vector<double> confidence(ids.size());  // mean logprob of the first warm-up tokens
    std::vector<SampleId> running = ids;
    // The check waits for every sample's warm-up tokens and compares the same token
    // positions, so it does not depend on which samples got a KV slot first.
    bool checked = false;
    while (!running.empty()) {
      co_await q.next_step();
      if (!checked && std::all_of(running.begin(), running.end(), [&](SampleId s) {
            return !q.busy(s) || q.length(s) >= options_.warmup_tokens;
          })) {
        checked = true;
        for (SampleId s : running) confidence[size_t(s - ids.front())] = q.mean_logprob(s, options_.warmup_tokens);
        prune_the_unconfident(q, ids, confidence, running, traces);
      }
      for (auto it = running.begin(); it != running.end();) {
        if (q.busy(*it)) {
          ++it;
        } else {
          confidence[size_t(*it - ids.front())] = q.mean_logprob(*it, options_.warmup_tokens);
          traces[size_t(*it - ids.front())] = q.harvest(*it, generation().answers);
          it = running.erase(it);
        }
      }
    }
    StrategyResult r;
    r.samples = std::move(traces);
    const auto groups = voting::tally(r.samples);
    voting::decide(r, groups);
    q.report_vote(voting::standings(groups, r.samples), r.confidence);
    r.stop_reason = "budget";
    co_return r;
  }

 private:
  // Every sample past the warm-up may be pruned, whether or not it has finished since:
  // the decision depends on tokens, not on timing. Peers include the samples that
  // finished within the warm-up (over all of their tokens); those are never pruned.
  void prune_the_unconfident(QuestionRun& q, const std::vector<SampleId>& ids, const std::vector<double>& confidence,
                             std::vector<SampleId>& running, std::vector<SampleTrace>& traces) const {
    std::vector<std::pair<double, SampleId>> by_confidence;
    for (SampleId s : ids) {
      const bool live = std::find(running.begin(), running.end(), s) != running.end();
      const int length = live ? q.length(s) : traces[size_t(s - ids.front())].tokens;
      if (length >= options_.warmup_tokens) by_confidence.emplace_back(confidence[size_t(s - ids.front())], s);
    }
    std::sort(by_confidence.begin(), by_confidence.end());
    std::vector<double> peers = confidence;
    std::sort(peers.begin(), peers.end());
    const double cut = peers[size_t(std::floor(options_.quantile * double(peers.size() - 1)))];
    int removable = std::max(0, int(ids.size()) - options_.min_survivors);
    for (const auto& [c, s] : by_confidence) {
      if (c >= cut || removable == 0) break;
      SampleTrace& t = traces[size_t(s - ids.front())];
      if (auto it = std::find(running.begin(), running.end(), s); it != running.end()) {
        t = q.prune(s, "mean logprob below the peers' quantile");
        running.erase(it);
      } else {
        t.answer.reset();
        t.pruned = true;
      }
      --removable;
    }
  }

  PruneOptions options_;
};

}  // namespace

std::unique_ptr<Strategy> make_prune(std::string name, int n, const StrategyOptions& o) {
  return std::make_unique<Prune>(std::move(name), n, o.prune, o.generation);
}

}  // namespace ponder::strategies
