#include <algorithm>
#include <cmath>
#include <numeric>
#include <stdexcept>

#include "strategies/deepconf.h"

namespace ponder::deepconf {

double token_confidence(const TokenRecord& record, int k) {
  const size_t n = std::min(record.top.size(), size_t(std::max(k, 0)));
  if (n == 0) return -double(record.logprob);
  double sum = 0.0;
  for (size_t j = 0; j < n; ++j) sum += record.top[j].logprob;
  return -sum / double(n);
}

void TraceConfidence::add(double token_confidence) {
  tokens_.push_back(token_confidence);
  window_sum_ += token_confidence;
  if (tokens_.size() > size_t(window_)) window_sum_ -= tokens_[tokens_.size() - 1 - size_t(window_)];
  if (tokens_.size() >= size_t(window_)) groups_.push_back(window_sum_ / window_);
}

std::optional<double> TraceConfidence::last_group() const {
  if (groups_.empty()) return std::nullopt;
  return groups_.back();
}

double TraceConfidence::mean() const {
  if (tokens_.empty()) return 0.0;
  return std::accumulate(tokens_.begin(), tokens_.end(), 0.0) / double(tokens_.size());
}

double TraceConfidence::lowest() const {
  if (groups_.empty()) return mean();
  return *std::min_element(groups_.begin(), groups_.end());
}

double TraceConfidence::bottom(double share) const {
  if (groups_.empty()) return mean();
  std::vector<double> sorted = groups_;
  std::sort(sorted.begin(), sorted.end());
  const size_t n = std::max<size_t>(1, size_t(std::floor(share * double(sorted.size()))));
  return std::accumulate(sorted.begin(), sorted.begin() + long(n), 0.0) / double(n);
}

double TraceConfidence::tail() const {
  if (tokens_.empty()) return 0.0;
  const size_t n = std::min(tokens_.size(), size_t(window_));
  return std::accumulate(tokens_.end() - long(n), tokens_.end(), 0.0) / double(n);
}

double TraceConfidence::measure(DeepConfOptions::Measure m) const {
  switch (m) {
    case DeepConfOptions::Measure::lowest:
      return lowest();
    case DeepConfOptions::Measure::bottom:
      return bottom();
    case DeepConfOptions::Measure::tail:
      return tail();
    case DeepConfOptions::Measure::mean:
      return mean();
  }
  throw std::logic_error("TraceConfidence::measure: unhandled measure");
}

double percentile(std::vector<double> values, double p) {
  if (values.empty()) throw std::invalid_argument("percentile: no values");
  std::sort(values.begin(), values.end());
  const double rank = std::clamp(p, 0.0, 100.0) / 100.0 * double(values.size() - 1);
  const size_t below = size_t(std::floor(rank));
  const size_t above = std::min(below + 1, values.size() - 1);
  return values[below] + (rank - double(below)) * (values[above] - values[below]);
}

int kept_count(int n, double share) { return std::clamp(int(std::ceil(share * double(n) - 1e-9)), 1, n); }

}  // namespace ponder::deepconf
