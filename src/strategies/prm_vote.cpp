// prm-vote@N and prm-best-of-n@N: N samples scored by the verifier (all in one batch on
// forks of its prompt); the answers vote with the verifier's solution scores as weights,
// or the best-scored sample answers.

#include "strategies/strategies.h"
#include "strategies/voting.h"

namespace ponder::strategies {

namespace {

class VerifierChoice : public StrategyBase {
 public:
  enum class Pick { weighted_vote, best };
  VerifierChoice(std::string name, int n, Pick pick, GenerationOptions g)
      : StrategyBase(std::move(name), n, std::move(g)), pick_(pick) {}

  uint32_t needs() const override { return StrategyBase::needs() | kVerify; }

  Task<StrategyResult> run(QuestionRun& q) const override {
    StrategyResult r;
    r.samples = co_await draw_all(q, budget(), generation());
    std::vector<std::string> texts;
    for (const auto& s : r.samples) texts.push_back(s.text);
    const std::vector<StepScores> scores = co_await q.verify(std::move(texts));
    for (size_t i = 0; i < r.samples.size(); ++i) r.samples[i].scores["verifier"] = scores[i].solution;
    auto verifier_score = [](const SampleTrace& s) { return s.scores.at("verifier"); };
    if (pick_ == Pick::weighted_vote) {
      const auto groups = voting::tally(r.samples, verifier_score);
      voting::decide(r, groups);
      q.report_vote(voting::standings(groups, r.samples), r.confidence);
    } else {
      answer_with_best(r, verifier_score);
    }
    r.stop_reason = "budget";
    co_return r;
  }

 private:
  Pick pick_;
};

}  // namespace

std::unique_ptr<Strategy> make_prm_vote(std::string name, int n, const StrategyOptions& o) {
  return std::make_unique<VerifierChoice>(std::move(name), n, VerifierChoice::Pick::weighted_vote, o.generation);
}

std::unique_ptr<Strategy> make_prm_best_of_n(std::string name, int n, const StrategyOptions& o) {
  return std::make_unique<VerifierChoice>(std::move(name), n, VerifierChoice::Pick::best, o.generation);
}

}  // namespace ponder::strategies
