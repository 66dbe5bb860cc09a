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

class AdaptiveVote : public Strategy {
 public:
  AdaptiveVote(std::string name, int max_samples, AdaptiveVoteOptions a, GenerationOptions g)
      : name_(std::move(name)), max_(max_samples), options_(a), generation_(std::move(g)) {}

  std::string name() const override { return name_; }
  int budget() const override { return max_; }

  // Keeps `wave` samples in flight; after each finishes, stops everything the moment
  // the criterion holds.
  Task<StrategyResult> run(QuestionRun& q) const override {
    StrategyResult r;
    std::vector<SeqId> running;
    auto top_up = [&] {
      const int n = std::min(options_.wave - int(running.size()), max_ - q.launched());
      if (n <= 0) return;
      const auto seqs = q.launch(n, generation_, q.launched() + n >= max_);
      running.insert(running.end(), seqs.begin(), seqs.end());
    };
    top_up();
    while (!running.empty() && r.stop_reason.empty()) {
      co_await q.any(running);
      // Every sample that finished in this step votes (in launch order) before any
      // new one starts, so a settled vote launches nothing more.
      for (auto it = running.begin(); it != running.end() && r.stop_reason.empty();) {
        if (q.engine().busy(*it)) {
          ++it;
          continue;
        }
        r.samples.push_back(q.harvest(*it, generation_.answers));
        it = running.erase(it);
        const auto groups = voting::tally(r.samples);
        if (settled(groups, r.samples.size()) >= options_.threshold) {
          r.stop_reason = threshold_text(groups.size() >= 3 && dirichlet() ? "dirichlet" : "beta", options_.threshold);
        }
      }
      if (!r.stop_reason.empty()) {
        for (SeqId s : running) r.samples.push_back(q.prune(s));
      } else {
        top_up();
      }
    }
    if (r.stop_reason.empty()) r.stop_reason = "max samples";
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
                                               generation_.sampling.seed + seen);
    }
    return voting::beta_majority_probability(groups[0].count, groups.size() > 1 ? groups[1].count : 0);
  }

  std::string name_;
  int max_;
  AdaptiveVoteOptions options_;
  GenerationOptions generation_;
};

class EarlyStoppingVote : public Strategy {
 public:
  EarlyStoppingVote(std::string name, int max_samples, int window, GenerationOptions g)
      : name_(std::move(name)), max_(max_samples), window_(window), generation_(std::move(g)) {}

  std::string name() const override { return name_; }
  int budget() const override { return max_; }

  // Windows of w samples; a window whose answers all agree ends the search.
  Task<StrategyResult> run(QuestionRun& q) const override {
    StrategyResult r;
    while (q.launched() < max_) {
      const int n = std::min(window_, max_ - q.launched());
      const std::vector<SampleTrace> window = co_await draw_all(q, n, generation_, q.launched() + n >= max_);
      const bool agreed = n == window_ && window.front().answer &&
                          std::all_of(window.begin(), window.end(), [&](const SampleTrace& t) {
                            return t.answer && t.answer->key == window.front().answer->key;
                          });
      r.samples.insert(r.samples.end(), window.begin(), window.end());
      if (agreed) {
        r.stop_reason = "window agreed";
        break;
      }
    }
    if (r.stop_reason.empty()) r.stop_reason = "max samples";
    voting::decide(r, voting::tally(r.samples));
    co_return r;
  }

 private:
  std::string name_;
  int max_;
  int window_;
  GenerationOptions generation_;
};

}  // namespace

std::unique_ptr<Strategy> make_adaptive_vote(std::string name, int max_samples, const StrategyOptions& o) {
  return std::make_unique<AdaptiveVote>(std::move(name), max_samples, o.adaptive, o.generation);
}

std::unique_ptr<Strategy> make_esc(std::string name, int max_samples, const StrategyOptions& o) {
  return std::make_unique<EarlyStoppingVote>(std::move(name), max_samples, o.adaptive.esc_window, o.generation);
}

}  // namespace ponder::strategies
