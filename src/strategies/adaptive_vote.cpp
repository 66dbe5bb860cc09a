// adaptive-vote (Adaptive-Consistency, Beta or Dirichlet stopping) and esc
// (Early-Stopping Self-Consistency): sample until the vote is settled.

#include <algorithm>
#include <cstdio>

#include "strategies/strategies.h"
#include "strategies/voting.h"

namespace ponder::strategies {

namespace {

std::string threshold_text(const char* name, double threshold) {
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%s>=%g", name, threshold);
  return buf;
}

class AdaptiveVote : public StrategyBase {
 public:
  AdaptiveVote(std::string name, int max_samples, AdaptiveVoteOptions a, GenerationOptions g)
      : StrategyBase(std::move(name), max_samples, std::move(g)), options_(a) {}

  // Samples vote in launch order: sample k is counted once samples 0..k-1 are, so when
  // the criterion first holds depends only on the samples' tokens, never on which
  // finished first. After counting, launches keep `wave` samples beyond the counted
  // ones; samples launched but not counted when the vote settles are pruned (how many
  // there are, unlike the decision, depends on timing).
  Task<StrategyResult> run(QuestionRun& q) const override {
    StrategyResult r;
    std::vector<std::optional<SampleTrace>> finished;  // by sample id
    std::vector<SampleId> running;
    auto top_up = [&] {
      const int want = std::min(budget(), int(r.samples.size()) + options_.wave);
      const int n = want - q.launched();
      if (n <= 0) return;
      for (SampleId id : q.launch(n, generation(), want >= budget())) running.push_back(id);
      finished.resize(size_t(q.launched()));
    };
    top_up();
    while (r.stop_reason.empty() && int(r.samples.size()) < q.launched()) {
      co_await q.any(running);
      for (auto it = running.begin(); it != running.end();) {
        if (q.busy(*it)) {
          ++it;
          continue;
        }
        finished[size_t(*it)] = q.harvest(*it, generation().answers);
        it = running.erase(it);
      }
      while (r.stop_reason.empty() && r.samples.size() < finished.size() && finished[r.samples.size()]) {
        r.samples.push_back(std::move(*finished[r.samples.size()]));
        const auto groups = voting::tally(r.samples);
        const double p = settled(groups, r.samples.size());
        q.report_vote(voting::standings(groups, r.samples), p, options_.threshold);
        if (p >= options_.threshold) {
          r.stop_reason = threshold_text(groups.size() >= 3 && dirichlet() ? "dirichlet" : "beta", options_.threshold);
        }
      }
      if (r.stop_reason.empty()) top_up();
    }
    // Samples launched but not counted when the vote settled do not vote, whether or not
    // they had finished.
    for (size_t k = r.samples.size(); k < finished.size(); ++k) {
      const SampleId id = SampleId(k);
      SampleTrace t = finished[k] ? std::move(*finished[k]) : q.prune(id, "the vote settled");
      t.answer.reset();
      t.pruned = true;
      r.samples.push_back(std::move(t));
    }
    if (r.stop_reason.empty()) r.stop_reason = "max samples";
    q.emit({.kind = EventKind::stopped, .detail = r.stop_reason});
    voting::decide(r, voting::tally(r.samples));
    co_return r;
  }

 private:
  bool dirichlet() const { return options_.criterion == AdaptiveVoteOptions::Criterion::dirichlet; }

  // The probability that the current leader is the majority answer.
  double settled(const std::vector<voting::Group>& groups, size_t seen) const {
    if (groups.empty()) return 0.0;
    if (dirichlet() && groups.size() >= 3) {
      return voting::dirichlet_top_probability(groups, options_.dirichlet_top, options_.dirichlet_draws,
                                               generation().sampling.seed + seen);
    }
    return voting::beta_majority_probability(groups[0].count, groups.size() > 1 ? groups[1].count : 0);
  }

  AdaptiveVoteOptions options_;
};

class EarlyStoppingVote : public StrategyBase {
 public:
  EarlyStoppingVote(std::string name, int max_samples, int window, GenerationOptions g)
      : StrategyBase(std::move(name), max_samples, std::move(g)), window_(window) {}

  // Windows of w samples; a window whose answers all agree ends the search.
  Task<StrategyResult> run(QuestionRun& q) const override {
    StrategyResult r;
    while (q.launched() < budget()) {
      const int n = std::min(window_, budget() - q.launched());
      const std::vector<SampleTrace> window = co_await draw_all(q, n, generation(), q.launched() + n >= budget());
      const bool agreed = n == window_ && window.front().answer &&
                          std::all_of(window.begin(), window.end(), [&](const SampleTrace& t) {
                            return t.answer && t.answer->key == window.front().answer->key;
                          });
      r.samples.insert(r.samples.end(), window.begin(), window.end());
      const auto groups = voting::tally(r.samples);
      q.report_vote(voting::standings(groups, r.samples), agreed ? 1.0 : 0.0, 1.0);
      if (agreed) {
        r.stop_reason = "window agreed";
        break;
      }
    }
    if (r.stop_reason.empty()) r.stop_reason = "max samples";
    q.emit({.kind = EventKind::stopped, .detail = r.stop_reason});
    voting::decide(r, voting::tally(r.samples));
    co_return r;
  }

 private:
  int window_;
};

}  // namespace

std::unique_ptr<Strategy> make_adaptive_vote(std::string name, int max_samples, const StrategyOptions& o) {
  return std::make_unique<AdaptiveVote>(std::move(name), max_samples, o.adaptive, o.generation);
}

std::unique_ptr<Strategy> make_esc(std::string name, int max_samples, const StrategyOptions& o) {
  return std::make_unique<EarlyStoppingVote>(std::move(name), max_samples, o.adaptive.esc_window, o.generation);
}

}  // namespace ponder::strategies
