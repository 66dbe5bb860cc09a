#include "toy/rng.h"

#include <stdexcept>

namespace ponder::toy {

size_t Rng::choose(const std::vector<double>& weights) {
  double total = 0.0;
  for (double w : weights) total += w;
  if (weights.empty() || !(total > 0.0)) throw std::invalid_argument("Rng::choose: weights must have a positive sum");
  double r = uniform() * total;
  for (size_t i = 0; i < weights.size(); ++i) {
    if (r < weights[i]) return i;
    r -= weights[i];
  }
  return weights.size() - 1;
}

uint64_t derive_seed(uint64_t seed, uint64_t stream) {
  Rng rng(seed ^ (stream * 0xD1B54A32D192ED03ull));
  return rng.next();
}

}  // namespace ponder::toy
