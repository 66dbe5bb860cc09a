// rpc@N: Reasoning Pruning + Perplexity Consistency. Samples whose probability looks
// like the low-confidence population of a Weibull mixture (and is below the mean) are
// dropped; the rest vote with weight p = exp(mean logprob), each distinct text once.

#include <numeric>
#include <set>

#include "strategies/strategies.h"
#include "strategies/voting.h"
#include "strategies/weibull_mixture.h"

namespace ponder::strategies {

namespace {

class Rpc : public StrategyBase {
 public:
  using StrategyBase::StrategyBase;

  Task<StrategyResult> run(QuestionRun& q) const override {
    StrategyResult r;
    r.samples = co_await draw_all(q, budget(), generation());
    std::vector<double> p;
    for (auto& s : r.samples) {
      p.push_back(sample_probability(s));
      s.scores["rpc_p"] = p.back();
    }
    int pruned = 0;
    if (p.size() >= 3) {
      const WeibullMixture mix = fit_weibull_mixture(p);
      const bool first_is_low = mix.mean_first() < mix.mean_second();
      const double mean = std::accumulate(p.begin(), p.end(), 0.0) / double(p.size());
      for (size_t i = 0; i < p.size(); ++i) {
        const double low = first_is_low ? mix.posterior_first(p[i]) : 1.0 - mix.posterior_first(p[i]);
        if (low > 0.5 && p[i] < mean) {
          r.samples[i].scores["rpc_pruned"] = 1.0;
          ++pruned;
        }
      }
    }
    // Perplexity consistency: weight p, each distinct completion counted once.
    std::set<std::string> seen;
    std::vector<SampleTrace> voters = r.samples;
    for (auto& s : voters) {
      const bool dropped = s.scores.count("rpc_pruned") > 0 || !seen.insert(s.text).second;
      if (dropped) s.answer.reset();
    }
    const auto groups = voting::tally(voters, sample_probability);
    voting::decide(r, groups);
    q.report_vote(voting::standings(groups, voters), r.confidence);
    r.stop_reason = "budget; pruned " + std::to_string(pruned);
    co_return r;
  }
};

}  // namespace

std::unique_ptr<Strategy> make_rpc(std::string name, int n, const StrategyOptions& o) {
  return std::make_unique<Rpc>(std::move(name), n, o.generation);
}

}  // namespace ponder::strategies
