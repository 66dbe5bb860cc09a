#include "strategies/voting.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <random>

namespace ponder::voting {

std::vector<Group> tally(const std::vector<SampleTrace>& samples,
                         const std::function<double(const SampleTrace&)>& weight) {
  std::map<std::string, Group> by_key;
  for (size_t i = 0; i < samples.size(); ++i) {
    const SampleTrace& s = samples[i];
    if (!s.answer || s.pruned) continue;
    auto [it, inserted] = by_key.try_emplace(s.answer->key, Group{s.answer->key, 0.0, 0, i});
    it->second.weight += weight ? weight(s) : 1.0;
    it->second.count += 1;
  }
  std::vector<Group> groups;
  for (auto& [key, g] : by_key) groups.push_back(g);
  std::sort(groups.begin(), groups.end(), [](const Group& a, const Group& b) {
    if (a.weight != b.weight) return a.weight > b.weight;
    if (a.count != b.count) return a.count > b.count;
    return a.first < b.first;
  });
  return groups;
}

void decide(StrategyResult& result, const std::vector<Group>& groups) {
  if (groups.empty()) return;
  double total = 0.0;
  for (const Group& g : groups) total += g.weight;
  const SampleTrace& winner = result.samples[groups.front().first];
  result.answer = winner.answer;
  result.text = winner.text;
  result.confidence = total > 0 ? groups.front().weight / total : 0.0;
}

std::vector<std::pair<std::string, double>> standings(const std::vector<Group>& groups,
                                                      const std::vector<SampleTrace>& samples) {
  std::vector<std::pair<std::string, double>> out;
  for (const Group& g : groups) out.emplace_back(samples[g.first].answer->text, g.weight);
  return out;
}

double beta_majority_probability(int a, int b) {
  // sum_{j=0}^{a} C(n, j) / 2^n with n = a + b + 1, in log space.
  const int n = a + b + 1;
  double p = 0.0;
  for (int j = 0; j <= a; ++j) {
    p += std::exp(std::lgamma(n + 1.0) - std::lgamma(j + 1.0) - std::lgamma(n - j + 1.0) - n * std::log(2.0));
  }
  return std::min(1.0, p);
}

double dirichlet_top_probability(const std::vector<Group>& groups, int top, int draws, uint64_t seed) {
  const size_t k = std::min(groups.size(), size_t(top));
  std::mt19937_64 rng(seed);
  std::vector<std::gamma_distribution<double>> gammas;
  for (size_t i = 0; i < k; ++i) gammas.emplace_back(groups[i].count + 1.0, 1.0);
  int wins = 0;
  for (int d = 0; d < draws; ++d) {
    // Normalising the gamma variates is unnecessary to find the largest share.
    double first = gammas[0](rng), best_other = 0.0;
    for (size_t i = 1; i < k; ++i) best_other = std::max(best_other, gammas[i](rng));
    wins += first > best_other;
  }
  return double(wins) / draws;
}

}  // namespace ponder::voting
