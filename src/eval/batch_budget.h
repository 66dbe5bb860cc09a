#pragma once
// The batch budget's allocator and its driver over the runtime (BatchBudgetOptions).

#include <functional>
#include <string>
#include <vector>

#include "ponder/eval.h"
#include "ponder/runtime.h"

namespace ponder::eval {

// One question of a batch between rounds.
struct BatchQuestion {
  StrategyResult result;  // every sample so far, the cost added up, the current vote
  double cost = 0.0;      // equivalent tokens spent on it
  bool failed = false;    // a wave failed: no more waves, the row reports the error
};

// The estimated gain of one more sample: P(the current answer is wrong) / samples so far,
// where P(right) is the leader's weighted share x its samples' mean score. The chance
// that one more sample changes the decision shrinks as the vote grows, which keeps a
// question that stays unsure from taking the whole budget.
double batch_gain(const StrategyResult& votes);

// The questions granted a wave this round, best gain per token first (ties: item order):
// at most round_share of all, each only while `spent` plus the granted waves' estimated
// cost (its mean cost per sample x wave) stays within `total`.
std::vector<size_t> plan_batch_round(const std::vector<BatchQuestion>& questions, double spent, double total,
                                     const BatchBudgetOptions& options);

// Runs the batch for `questions` (texts) on `runtime` and returns one result per question,
// named `name`. `cost` gives a wave's equivalent tokens.
std::vector<StrategyResult> run_batch(Runtime& runtime, const std::vector<std::string>& questions,
                                      const std::string& name, const StrategyOptions& options,
                                      const BatchBudgetOptions& batch,
                                      const std::function<double(const StrategyResult&)>& cost);

}  // namespace ponder::eval
