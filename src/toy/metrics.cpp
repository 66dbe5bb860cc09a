#include "toy/metrics.h"

#include <algorithm>
#include <cmath>
#include <string>
#include <stdexcept>

namespace ponder::toy {

std::optional<double> roc_auc(std::vector<std::pair<double, bool>> scored) {
  // NaN compares unequal to itself: sorting would be undefined and the tie loop below
  // would never advance.
  const size_t nans = size_t(std::count_if(scored.begin(), scored.end(), [](const auto& s) { return std::isnan(s.first); }));
  if (nans > 0) {
    throw std::invalid_argument("roc_auc: " + std::to_string(nans) + " of " + std::to_string(scored.size()) +
                                " scores are NaN; every score must be a number (infinities allowed)");
  }
  std::sort(scored.begin(), scored.end());
  double positives = 0, negatives = 0, rank_sum = 0;
  for (size_t i = 0; i < scored.size();) {
    size_t j = i;
    while (j < scored.size() && scored[j].first == scored[i].first) ++j;
    const double mid_rank = 0.5 * double(i + 1 + j);  // mean 1-based rank of the tie group
    for (size_t k = i; k < j; ++k) {
      if (scored[k].second) {
        rank_sum += mid_rank;
        ++positives;
      } else {
        ++negatives;
      }
    }
    i = j;
  }
  if (positives == 0 || negatives == 0) return std::nullopt;
  return (rank_sum - positives * (positives + 1) / 2) / (positives * negatives);
}

std::optional<int64_t> weighted_vote(const std::vector<std::optional<int64_t>>& answers,
                                     const std::vector<double>& weights) {
  if (answers.size() != weights.size()) throw std::invalid_argument("weighted_vote: one weight per answer needed");
  // A NaN total never compares greater, and +inf and -inf weights sum to NaN.
  for (double w : weights) {
    if (!std::isfinite(w)) throw std::invalid_argument("weighted_vote: weights must be finite numbers, not " + std::to_string(w));
  }
  std::vector<std::pair<int64_t, double>> totals;  // in order of first appearance
  for (size_t i = 0; i < answers.size(); ++i) {
    if (!answers[i]) continue;
    auto it = std::find_if(totals.begin(), totals.end(), [&](const auto& t) { return t.first == *answers[i]; });
    if (it == totals.end()) {
      totals.emplace_back(*answers[i], weights[i]);
    } else {
      it->second += weights[i];
    }
  }
  if (totals.empty()) return std::nullopt;
  auto best = totals.begin();
  for (auto it = totals.begin(); it != totals.end(); ++it) {
    if (it->second > best->second) best = it;
  }
  return best->first;
}

std::optional<int64_t> majority_vote(const std::vector<std::optional<int64_t>>& answers) {
  return weighted_vote(answers, std::vector<double>(answers.size(), 1.0));
}

}  // namespace ponder::toy
