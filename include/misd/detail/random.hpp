// misd/detail/random.hpp -- splitmix64, the one generator behind every seeded random number
// in misd (random starts, weight initialisation, shuffling, Mixup, evaluation splits): its
// output sequence is fully specified, so a seed gives the same numbers on every platform,
// standard library and backend. Not for direct inclusion.
#pragma once

#include <cstdint>

namespace misd::detail {

struct splitmix64 {
  std::uint64_t state;

  std::uint64_t next() {
    std::uint64_t z = (state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }
  /// Uniform in [0, 1): the top 53 bits.
  double uniform() { return double(next() >> 11) * 0x1.0p-53; }
  /// Uniform in [-1, 1).
  double symmetric() { return 2.0 * uniform() - 1.0; }
  /// Uniform integer in [0, bound), bound >= 1 (rejection: no modulo bias).
  std::uint64_t below(std::uint64_t bound) {
    const std::uint64_t limit = ~std::uint64_t{0} - (~std::uint64_t{0} % bound);
    std::uint64_t r;
    do
      r = next();
    while (r >= limit);
    return r % bound;
  }
};

} // namespace misd::detail
