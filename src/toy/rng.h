#pragma once
// The toy world's random numbers: splitmix64, so that a seed gives the same problems,
// solutions and initial weights on every platform and standard library.

#include <cstddef>
#include <cstdint>
#include <vector>

namespace ponder::toy {

class Rng {
 public:
  explicit Rng(uint64_t seed) : state_(seed) {}

  uint64_t next() {
    uint64_t z = (state_ += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }
  // Uniform in [lo, hi] (inclusive); the modulo bias is below 2^-40 for toy ranges.
  int uniform_int(int lo, int hi) { return lo + int(next() % uint64_t(hi - lo + 1)); }
  double uniform() { return double(next() >> 11) * 0x1.0p-53; }  // [0, 1)
  bool bernoulli(double p) { return uniform() < p; }
  // An index drawn with probability proportional to weights[i].
  size_t choose(const std::vector<double>& weights);

 private:
  uint64_t state_;
};

// A seed for a named sub-stream, so that adding draws to one stream does not shift another.
uint64_t derive_seed(uint64_t seed, uint64_t stream);

}  // namespace ponder::toy
