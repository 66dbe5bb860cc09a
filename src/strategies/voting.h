#pragma once
// Aggregation over finished samples, shared by the voting strategies.

#include <functional>
#include <string>
#include <vector>

#include "ponder/strategy.h"

namespace ponder::voting {

struct Group {
  std::string key;       // normalised answer
  double weight = 0.0;   // sum of member weights
  int count = 0;
  size_t first = 0;      // index of its first sample (the representative)
};

// Groups samples with an answer by key; weight(sample) defaults to 1. Sorted by weight,
// then count, then earliest sample, so ties resolve the same way every run.
std::vector<Group> tally(const std::vector<SampleTrace>& samples,
                         const std::function<double(const SampleTrace&)>& weight = {});

// Fills answer, text and confidence of `result` from the winning group.
void decide(StrategyResult& result, const std::vector<Group>& groups);

// (answer text, weight) per group, best first: the vote as events report it.
std::vector<std::pair<std::string, double>> standings(const std::vector<Group>& groups,
                                                      const std::vector<SampleTrace>& samples);

// Adaptive-Consistency's Beta criterion: P(top answer's share > 1/2) under a uniform
// prior, = P(Binomial(a + b + 1, 1/2) <= a) for top count a and runner-up count b.
double beta_majority_probability(int a, int b);

// Dirichlet criterion: Monte Carlo P(the current top answer has the largest share)
// under Dirichlet(c_i + 1) over the `top` largest groups; seeded, so deterministic.
double dirichlet_top_probability(const std::vector<Group>& groups, int top, int draws, uint64_t seed);

}  // namespace ponder::voting
