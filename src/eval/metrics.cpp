// Evaluation metrics: pass@k, bootstrap intervals, Pareto frontier, scaling efficiency.

#include <algorithm>
#include <cmath>
#include <random>

#include "ponder/eval.h"

namespace ponder {

double pass_at_k(int n, int c, int k) {
  if (k > n || k < 1 || c < 0 || c > n) return std::nan("");
  if (n - c < k) return 1.0;
  double miss = 1.0;  // prod_{j=n-c+1..n} (1 - k/j)
  for (int j = n - c + 1; j <= n; ++j) miss *= 1.0 - double(k) / double(j);
  return 1.0 - miss;
}

std::pair<double, double> bootstrap_ci95(const std::vector<int>& outcomes, uint64_t seed, int resamples) {
  if (outcomes.empty()) return {0.0, 0.0};
  std::mt19937_64 rng(seed);
  const size_t n = outcomes.size();
  std::vector<double> means(static_cast<size_t>(resamples));
  for (double& m : means) {
    int64_t sum = 0;
    for (size_t i = 0; i < n; ++i) sum += outcomes[size_t(rng() % n)];
    m = double(sum) / double(n);
  }
  std::sort(means.begin(), means.end());
  auto at = [&](double q) { return means[size_t(std::floor(q * double(resamples - 1)))]; };
  return {at(0.025), at(0.975)};
}

std::vector<size_t> pareto_frontier(const std::vector<std::pair<double, double>>& points) {
  std::vector<size_t> frontier;
  for (size_t i = 0; i < points.size(); ++i) {
    const auto [cost, acc] = points[i];
    bool dominated = false;
    for (size_t j = 0; j < points.size() && !dominated; ++j) {
      if (j == i) continue;
      const auto [c2, a2] = points[j];
      dominated = (c2 <= cost && a2 > acc) || (c2 < cost && a2 >= acc);
    }
    if (!dominated) frontier.push_back(i);
  }
  std::sort(frontier.begin(), frontier.end(), [&](size_t a, size_t b) { return points[a].first < points[b].first; });
  return frontier;
}

std::map<std::string, double> scaling_efficiency(const std::vector<StrategySummary>& summaries) {
  std::map<std::string, std::vector<const StrategySummary*>> families;
  for (const auto& s : summaries) families[s.name.substr(0, s.name.find('@'))].push_back(&s);
  std::map<std::string, double> score;
  for (auto& [family, members] : families) {
    std::sort(members.begin(), members.end(),
              [](auto* a, auto* b) { return a->generated_tokens < b->generated_tokens; });
    double total = 0.0;
    int steps = 0;
    for (size_t i = 1; i < members.size(); ++i) {
      const double before = std::max(members[i - 1]->generated_tokens, 1.0);
      const double after = std::max(members[i]->generated_tokens, 1.0);
      const double doublings = std::log2(after / before);
      if (doublings <= 0.0) continue;
      const double gain = members[i]->accuracy - members[i - 1]->accuracy;
      total += (gain >= 0 ? gain : 2.0 * gain) / doublings;
      ++steps;
    }
    score[family] = steps > 0 ? total / steps : 0.0;
  }
  return score;
}

}  // namespace ponder
