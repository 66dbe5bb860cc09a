// greedy, sample@N and best-of-n@N: one sample decides.

#include <cmath>

#include "strategies/strategies.h"

namespace ponder::strategies {

Task<std::vector<SampleTrace>> draw_all(QuestionRun& q, int n, const GenerationOptions& g, bool last) {
  const std::vector<SeqId> seqs = q.launch(n, g, last);
  // Each sample is harvested as it finishes, which hands its KV slot back at once.
  std::vector<SampleTrace> traces(seqs.size());
  size_t left = seqs.size();
  while (left > 0) {
    co_await q.any(seqs);
    for (size_t k = 0; k < seqs.size(); ++k) {
      if (q.engine().contains(seqs[k]) && !q.engine().busy(seqs[k])) {
        traces[k] = q.harvest(seqs[k], g.answers);
        --left;
      }
    }
  }
  co_return traces;
}

double sample_probability(const SampleTrace& s) { return std::exp(s.mean_logprob); }

namespace {

// Draws n samples and answers with the one `pick` chooses.
class SingleChoice : public Strategy {
 public:
  enum class Pick { first, best_logprob };
  SingleChoice(std::string name, int n, Pick pick, GenerationOptions g)
      : name_(std::move(name)), n_(n), pick_(pick), generation_(std::move(g)) {}

  std::string name() const override { return name_; }
  int budget() const override { return n_; }

  Task<StrategyResult> run(QuestionRun& q) const override {
    StrategyResult r;
    r.samples = co_await draw_all(q, n_, generation_);
    size_t chosen = 0;
    if (pick_ == Pick::best_logprob) {
      for (size_t i = 1; i < r.samples.size(); ++i) {
        if (r.samples[i].mean_logprob > r.samples[chosen].mean_logprob) chosen = i;
      }
    }
    r.answer = r.samples[chosen].answer;
    r.text = r.samples[chosen].text;
    r.confidence = sample_probability(r.samples[chosen]);
    r.stop_reason = "budget";
    co_return r;
  }

 private:
  std::string name_;
  int n_;
  Pick pick_;
  GenerationOptions generation_;
};

}  // namespace

std::unique_ptr<Strategy> make_greedy(std::string name, const StrategyOptions& o) {
  GenerationOptions g = o.generation;
  g.sampling.temperature = 0.0f;
  return std::make_unique<SingleChoice>(std::move(name), 1, SingleChoice::Pick::first, g);
}

std::unique_ptr<Strategy> make_sample(std::string name, int n, const StrategyOptions& o) {
  return std::make_unique<SingleChoice>(std::move(name), n, SingleChoice::Pick::first, o.generation);
}

std::unique_ptr<Strategy> make_best_of_n(std::string name, int n, const StrategyOptions& o) {
  return std::make_unique<SingleChoice>(std::move(name), n, SingleChoice::Pick::best_logprob, o.generation);
}

}  // namespace ponder::strategies
