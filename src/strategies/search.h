#pragma once
// What the verifier-guided searches share: growing a sample one step at a time, telling
// a finished solution from a paused one, and answering from scored solutions.
//
// Every search grows KV sequences: a child is a fork of its parent at the end of its
// last step (the prefix is shared, not re-read), a loser is pruned (its sequence freed),
// and the verifier reads only each sample's new steps (QuestionRun::verify_samples).

#include <string>
#include <vector>

#include "strategies/strategies.h"

namespace ponder::strategies {

// The base of every search: a budget N, the generation and search options, and the need
// for forks and a verifier. A search keeps up to N samples at once.
class SearchBase : public StrategyBase {
 public:
  SearchBase(std::string name, int budget, const StrategyOptions& o)
      : StrategyBase(std::move(name), budget, o.generation), search_(o.search) {}
  uint32_t needs() const override { return StrategyBase::needs() | kFork | kVerify; }
  int held_samples() const override { return budget(); }

 protected:
  const SearchOptions& search() const { return search_; }

 private:
  SearchOptions search_;
};

// Samples steps for one question's samples.
class Stepper {
 public:
  Stepper(QuestionRun& q, const GenerationOptions& g, const SearchOptions& o);

  // n samples from the prompt, each sampling its first step.
  std::vector<SampleId> launch(int n);
  // Samples the next step of an idle sample; its `steps_done`-th step (from 0). The last
  // allowed step (max_steps) runs to the end of the solution. Each (sample, step) has its
  // own seed, so a search's result depends only on its inputs.
  void step(SampleId s, int steps_done, bool greedy = false);
  // Forks n samples at the end of an idle sample and samples their next step.
  std::vector<SampleId> branch(SampleId parent, int n, int steps_done);
  // Whether an idle sample's solution is over: it ended (EOS, token limit) rather than
  // pausing at a step delimiter, or its last step was blank.
  bool ended(SampleId s) const;
  const std::string& delimiter() const { return delimiter_; }

 private:
  GenerationOptions options(SampleId s, int steps_done, bool greedy) const;

  QuestionRun& q_;
  GenerationOptions generation_;
  int max_steps_;
  std::string delimiter_;
};

// log(p / (1 - p)), with p clamped away from 0 and 1 so a certain step stays finite.
double logit(double p);

// Answers by a vote of `r.samples` that have an answer, each weighted by its "verifier"
// score (the solution's score under the verifier's own aggregation), and reports it.
void vote_by_verifier(QuestionRun& q, StrategyResult& r);

// Orders traces by sample id (launch and fork order), the order results report them in.
void sort_by_id(std::vector<SampleTrace>& traces);

}  // namespace ponder::strategies
