// One wave of samples for the batch budget (eval/batch_budget.cpp): n samples drawn at
// once, each scored by the verifier when one is attached, each vote weighed as the
// controller weighs it. The batch decides across rounds; a wave only draws and scores.

#include <cmath>

#include "strategies/strategies.h"
#include "strategies/voting.h"

namespace ponder::strategies {

namespace {

class ScoredWave : public StrategyBase {
 public:
  ScoredWave(std::string name, int n, const StrategyOptions& o)
      : StrategyBase(std::move(name), n, o.generation), weight_power_(o.controller.weight_power) {}

  uint32_t wants() const override { return needs() | kVerify; }

  Task<StrategyResult> run(QuestionRun& q) const override {
    StrategyResult r;
    r.samples = co_await draw_all(q, budget(), generation());
    if (q.capabilities() & kVerify) {
      std::vector<std::string> texts;
      for (const auto& s : r.samples) texts.push_back(s.text);
      const std::vector<StepScores> scores = co_await q.verify(std::move(texts));
      for (size_t i = 0; i < r.samples.size(); ++i) r.samples[i].scores["verifier"] = scores[i].solution;
    }
    for (auto& s : r.samples) s.scores["weight"] = std::pow(std::max(sample_score(s), 0.0), weight_power_);
    voting::decide(r, voting::tally(r.samples, [](const SampleTrace& s) { return s.scores.at("weight"); }));
    r.stop_reason = "wave";
    co_return r;
  }

 private:
  double weight_power_;
};

}  // namespace

double sample_score(const SampleTrace& s) {
  auto it = s.scores.find("verifier");
  return it != s.scores.end() ? it->second : sample_probability(s);
}

std::unique_ptr<Strategy> make_scored_wave(std::string name, int n, const StrategyOptions& o) {
  return std::make_unique<ScoredWave>(std::move(name), n, o);
}

}  // namespace ponder::strategies
