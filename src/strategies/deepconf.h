#pragma once
// DeepConf's confidence measures (Deep Think with Confidence, 2025), read from the
// top-k candidates the engine records per generated token.
//
//   token confidence  C_i = -(1/k) * sum_{j<=k} log P_i(j)   high = a peaked distribution
//   group confidence  C_G = mean of C_i over a sliding window of `window` tokens
//
// A trace is summarised by its lowest group confidence (the online threshold and the
// default vote weight), the mean of its lowest 10% of groups, its tail (the last
// window) or its mean.

#include <optional>
#include <vector>

#include "ponder/sampling.h"
#include "ponder/strategy.h"

namespace ponder::deepconf {

// C_i over the first min(k, recorded) candidates of `record`; the sampled token's own
// logprob alone when no candidates were recorded.
double token_confidence(const TokenRecord& record, int k);

// The token and group confidences of one trace, grown a token at a time.
class TraceConfidence {
 public:
  explicit TraceConfidence(int window = 1) : window_(window) {}

  void add(double token_confidence);
  int tokens() const { return int(tokens_.size()); }
  // C_G of the window ending at the last token; none before the first full window.
  std::optional<double> last_group() const;

  // Lowest C_G over the full windows; a trace shorter than a window has one group, the
  // mean of all its tokens. 0 for a trace without tokens.
  double lowest() const;
  // Mean of the lowest `share` of the groups (at least one).
  double bottom(double share = 0.1) const;
  // Mean of the last window's tokens (all of them when fewer).
  double tail() const;
  double mean() const;
  double measure(DeepConfOptions::Measure m) const;

 private:
  int window_;
  std::vector<double> tokens_;
  std::vector<double> groups_;  // one per full window, by its last token
  double window_sum_ = 0.0;
};

// The p-th percentile (p in [0, 100]) of `values`, interpolating linearly between the
// two nearest ranks (numpy's default); `values` must not be empty.
double percentile(std::vector<double> values, double p);

// How many traces offline filtering keeps of n: ceil(share * n), at least 1.
int kept_count(int n, double share);

}  // namespace ponder::deepconf
