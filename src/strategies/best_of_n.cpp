// greedy, sample@N and best-of-n@N: one sample decides.

#include <cmath>

#include "strategies/strategies.h"

namespace ponder {

uint32_t StrategyBase::needs() const { return kSample | kLogprobs; }

}  // namespace ponder

namespace ponder::strategies {

Task<std::vector<SampleTrace>> draw_all(QuestionRun& q, int n, const GenerationOptions& g, bool last) {
  const std::vector<SampleId> ids = q.launch(n, g, last);
  // Each sample is harvested as it finishes, which hands its KV slot back at once.
  std::vector<SampleTrace> traces(ids.size());
  std::vector<SampleId> running = ids;
  while (!running.empty()) {
    co_await q.any(running);
    for (auto it = running.begin(); it != running.end();) {
      if (q.busy(*it)) {
        ++it;
        continue;
      }
      traces[size_t(*it - ids.front())] = q.harvest(*it, g.answers);
      it = running.erase(it);
    }
  }
  co_return traces;
}

double sample_probability(const SampleTrace& s) { return std::exp(s.mean_logprob); }

void answer_with_best(StrategyResult& r, const std::function<double(const SampleTrace&)>& score) {
  size_t best = 0;
  for (size_t i = 1; i < r.samples.size(); ++i) {
    if (score(r.samples[i]) > score(r.samples[best])) best = i;
  }
  r.answer = r.samples[best].answer;
  r.text = r.samples[best].text;
  r.confidence = score(r.samples[best]);
}

namespace {

// Draws n samples and answers with the one `pick` chooses.
class SingleChoice : public StrategyBase {
 public:
  enum class Pick { first, best_logprob };
  SingleChoice(std::string name, int n, Pick pick, GenerationOptions g)
      : StrategyBase(std::move(name), n, std::move(g)), pick_(pick) {}

  Task<StrategyResult> run(QuestionRun& q) const override {
    StrategyResult r;
    r.samples = co_await draw_all(q, budget(), generation());
    if (pick_ == Pick::best_logprob) {
      answer_with_best(r, sample_probability);
    } else {
      r.answer = r.samples.front().answer;
      r.text = r.samples.front().text;
      r.confidence = sample_probability(r.samples.front());
    }
    r.stop_reason = "budget";
    co_return r;
  }

 private:
  Pick pick_;
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
