#pragma once
// A two-component Weibull mixture fitted by maximum likelihood: RPC's model of sample
// probabilities (a low-confidence and a high-confidence population).

#include <vector>

namespace ponder::strategies {

struct WeibullMixture {
  double w1 = 0.5, k1 = 1.0, l1 = 1.0;  // weight, shape, scale of component 1
  double k2 = 1.5, l2 = 2.0;            // shape, scale of component 2 (weight 1 - w1)

  double log_likelihood(const std::vector<double>& x) const;
  // P(component 1 | x) under the mixture.
  double posterior_first(double x) const;
  double mean_first() const;
  double mean_second() const;
};

// Fits by Nelder-Mead from the start above, within w1 in [0.2, 0.8] and shapes and
// scales >= 0.01 (RPC's published bounds). x must be positive.
WeibullMixture fit_weibull_mixture(const std::vector<double>& x);

}  // namespace ponder::strategies
