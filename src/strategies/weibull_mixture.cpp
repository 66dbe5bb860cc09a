#include "strategies/weibull_mixture.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <limits>

namespace ponder::strategies {

namespace {

double weibull_log_pdf(double x, double k, double l) {
  const double z = x / l;
  return std::log(k / l) + (k - 1.0) * std::log(z) - std::pow(z, k);
}

using Params = std::array<double, 5>;

WeibullMixture from_params(const Params& p) {
  return {std::clamp(p[0], 0.2, 0.8), std::max(p[1], 0.01), std::max(p[2], 0.01), std::max(p[3], 0.01),
          std::max(p[4], 0.01)};
}

}  // namespace

double WeibullMixture::log_likelihood(const std::vector<double>& x) const {
  double ll = 0.0;
  for (double v : x) {
    const double a = std::log(w1) + weibull_log_pdf(v, k1, l1);
    const double b = std::log(1.0 - w1) + weibull_log_pdf(v, k2, l2);
    const double m = std::max(a, b);
    ll += m + std::log(std::exp(a - m) + std::exp(b - m));
  }
  return ll;
}

double WeibullMixture::posterior_first(double x) const {
  const double a = std::log(w1) + weibull_log_pdf(x, k1, l1);
  const double b = std::log(1.0 - w1) + weibull_log_pdf(x, k2, l2);
  return 1.0 / (1.0 + std::exp(b - a));
}

double WeibullMixture::mean_first() const { return l1 * std::tgamma(1.0 + 1.0 / k1); }
double WeibullMixture::mean_second() const { return l2 * std::tgamma(1.0 + 1.0 / k2); }

WeibullMixture fit_weibull_mixture(const std::vector<double>& x) {
  auto cost = [&](const Params& p) {
    const double ll = from_params(p).log_likelihood(x);
    return std::isfinite(ll) ? -ll : std::numeric_limits<double>::max();
  };
  // Nelder-Mead over the five parameters; bounds are enforced by clamping.
  std::array<Params, 6> simplex;
  simplex[0] = {0.5, 1.0, 1.0, 1.5, 2.0};
  for (size_t i = 1; i < simplex.size(); ++i) {
    simplex[i] = simplex[0];
    simplex[i][i - 1] *= 1.25;
  }
  std::array<double, 6> f;
  for (size_t i = 0; i < simplex.size(); ++i) f[i] = cost(simplex[i]);
  for (int iter = 0; iter < 2000; ++iter) {
    std::array<size_t, 6> order{0, 1, 2, 3, 4, 5};
    std::sort(order.begin(), order.end(), [&](size_t a, size_t b) { return f[a] < f[b]; });
    const size_t best = order[0], worst = order[5], second_worst = order[4];
    if (std::abs(f[worst] - f[best]) < 1e-10 * (1.0 + std::abs(f[best]))) break;
    Params centroid{};
    for (size_t i = 0; i < 5; ++i) {
      for (size_t d = 0; d < 5; ++d) centroid[d] += simplex[order[i]][d] / 5.0;
    }
    auto along = [&](double t) {
      Params p;
      for (size_t d = 0; d < 5; ++d) p[d] = centroid[d] + t * (simplex[worst][d] - centroid[d]);
      return p;
    };
    const Params reflected = along(-1.0);
    const double fr = cost(reflected);
    if (fr < f[best]) {
      const Params expanded = along(-2.0);
      const double fe = cost(expanded);
      if (fe < fr) {
        simplex[worst] = expanded, f[worst] = fe;
      } else {
        simplex[worst] = reflected, f[worst] = fr;
      }
    } else if (fr < f[second_worst]) {
      simplex[worst] = reflected, f[worst] = fr;
    } else {
      const Params contracted = along(0.5);
      const double fc = cost(contracted);
      if (fc < f[worst]) {
        simplex[worst] = contracted, f[worst] = fc;
      } else {
        for (size_t i = 0; i < simplex.size(); ++i) {
          if (i == best) continue;
          for (size_t d = 0; d < 5; ++d) simplex[i][d] = simplex[best][d] + 0.5 * (simplex[i][d] - simplex[best][d]);
          f[i] = cost(simplex[i]);
        }
      }
    }
  }
  const size_t best = size_t(std::min_element(f.begin(), f.end()) - f.begin());
  return from_params(simplex[best]);
}

}  // namespace ponder::strategies
