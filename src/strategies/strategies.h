#pragma once
// The built-in strategies (constructed by make_strategy) and helpers they share.

#include <functional>
#include <memory>

#include "ponder/runtime.h"
#include "ponder/strategy.h"

namespace ponder::strategies {

// `name` is what the strategy reports as its name (the spec it was made from).
std::unique_ptr<Strategy> make_greedy(std::string name, const StrategyOptions& o);
std::unique_ptr<Strategy> make_sample(std::string name, int n, const StrategyOptions& o);
std::unique_ptr<Strategy> make_best_of_n(std::string name, int n, const StrategyOptions& o);
std::unique_ptr<Strategy> make_vote(std::string name, int n, bool weighted, const StrategyOptions& o);
std::unique_ptr<Strategy> make_adaptive(std::string name, int max_samples, const StrategyOptions& o);
std::unique_ptr<Strategy> make_adaptive_vote(std::string name, int max_samples, const StrategyOptions& o);
std::unique_ptr<Strategy> make_esc(std::string name, int max_samples, const StrategyOptions& o);
std::unique_ptr<Strategy> make_rpc(std::string name, int n, const StrategyOptions& o);
std::unique_ptr<Strategy> make_prune(std::string name, int n, const StrategyOptions& o);
std::unique_ptr<Strategy> make_prm_vote(std::string name, int n, const StrategyOptions& o);
std::unique_ptr<Strategy> make_prm_best_of_n(std::string name, int n, const StrategyOptions& o);
std::unique_ptr<Strategy> make_rollback(std::string name, int n, const StrategyOptions& o);
std::unique_ptr<Strategy> make_beam(std::string name, int n, const StrategyOptions& o);
std::unique_ptr<Strategy> make_dvts(std::string name, int n, const StrategyOptions& o);
std::unique_ptr<Strategy> make_particle_filter(std::string name, int n, const StrategyOptions& o);
std::unique_ptr<Strategy> make_entropic_particle_filter(std::string name, int n, const StrategyOptions& o);
std::unique_ptr<Strategy> make_astar(std::string name, int n, const StrategyOptions& o);
std::unique_ptr<Strategy> make_deepconf(std::string name, int n, const StrategyOptions& o);
std::unique_ptr<Strategy> make_deepconf_offline(std::string name, int n, const StrategyOptions& o);
std::unique_ptr<Strategy> make_cascade(std::string name, int n, const StrategyOptions& o);
std::unique_ptr<Strategy> make_ead(std::string name, int n, const StrategyOptions& o);

// One wave for the batch budget: n samples, each scored by the verifier when one is
// attached (scores "verifier"), each vote weighed score^controller.weight_power ("weight").
std::unique_ptr<Strategy> make_scored_wave(std::string name, int n, const StrategyOptions& o);
// What a sample's vote is weighed by (adaptive, the batch's waves): the verifier's
// solution score when it has one, else exp(mean logprob).
double sample_score(const SampleTrace& s);

// Launches n samples at once, waits for all of them, returns their traces in launch order.
// `last`: no later launch follows, so the prompt's slot goes to the last sample.
Task<std::vector<SampleTrace>> draw_all(QuestionRun& q, int n, const GenerationOptions& g, bool last = true);

// exp(mean token logprob): the length-normalised probability of a sample.
double sample_probability(const SampleTrace& s);

// Answers with the sample that scores highest (the first of equals); its score is the
// confidence.
void answer_with_best(StrategyResult& r, const std::function<double(const SampleTrace&)>& score);

}  // namespace ponder::strategies
