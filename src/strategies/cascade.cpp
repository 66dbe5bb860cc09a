// cascade@N: a question-level model cascade. The small model (the generator) votes
// first; when enough of its samples agree, its answer stands; otherwise the whole
// question goes to the large model, which runs the escalation strategy with budget N.

#include <cstdio>
#include <stdexcept>

#include "strategies/strategies.h"
#include "strategies/voting.h"

namespace ponder::strategies {

namespace {

class Cascade : public StrategyBase {
 public:
  Cascade(std::string name, int large_budget, CascadeOptions c, std::unique_ptr<Strategy> escalation,
          GenerationOptions g)
      : StrategyBase(std::move(name), c.small_samples + large_budget, std::move(g)),
        options_(std::move(c)),
        escalation_(std::move(escalation)) {}

  uint32_t needs() const override { return StrategyBase::needs() | kLargeModel | escalation_->needs(); }
  int held_samples() const override { return escalation_->held_samples(); }

  Task<StrategyResult> run(QuestionRun& q) const override {
    StrategyResult r;
    r.samples = co_await draw_all(q, options_.small_samples, generation());
    const auto groups = voting::tally(r.samples);
    const int agreeing = groups.empty() ? 0 : groups.front().count;
    const double agreement = double(agreeing) / double(r.samples.size());
    q.report_vote(voting::standings(groups, r.samples), agreement, options_.agreement);
    char why[160];
    if (agreement >= options_.agreement) {
      voting::decide(r, groups);
      std::snprintf(why, sizeof(why), "small model agreed %d/%zu", agreeing, r.samples.size());
      r.stop_reason = why;
      q.emit({.kind = EventKind::stopped, .detail = r.stop_reason});
      co_return r;
    }
    std::snprintf(why, sizeof(why), "small model agreed %d/%zu < %g: escalated to the large model", agreeing,
                  r.samples.size(), options_.agreement);
    q.emit({.kind = EventKind::stopped, .detail = why});
    StrategyResult large = co_await escalation_->run(q.large());
    r.answer = std::move(large.answer);
    r.text = std::move(large.text);
    r.confidence = large.confidence;
    r.stop_reason = std::string(why) + ", whose " + escalation_->name() + " stopped: " + large.stop_reason;
    for (auto& s : large.samples) {
      s.large_model = true;
      r.samples.push_back(std::move(s));
    }
    co_return r;
  }

 private:
  CascadeOptions options_;
  std::unique_ptr<Strategy> escalation_;
};

}  // namespace

std::unique_ptr<Strategy> make_cascade(std::string name, int n, const StrategyOptions& o) {
  const std::string& spec = o.cascade.escalation;
  if (spec == "cascade") {
    throw std::invalid_argument(
        "cascade.escalation: a cascade cannot escalate to itself; the large model runs a "
        "one-model strategy");
  }
  if (spec.find('@') != std::string::npos) {
    throw std::invalid_argument("cascade.escalation: '" + spec +
                                "' names a budget; give the strategy alone (its budget is cascade's N)");
  }
  std::unique_ptr<Strategy> escalation;
  try {
    escalation = make_strategy(spec, o, n);
  } catch (const std::invalid_argument& e) {
    throw std::invalid_argument("cascade.escalation: " + std::string(e.what()));
  }
  if (escalation->needs() & (kLargeModel | kSwitchModels)) {
    throw std::invalid_argument("cascade.escalation: '" + spec +
                                "' needs a large model itself; the large model runs a one-model strategy");
  }
  return std::make_unique<Cascade>(std::move(name), n, o.cascade, std::move(escalation), o.generation);
}

}  // namespace ponder::strategies
