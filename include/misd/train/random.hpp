// misd/train/random.hpp -- the random numbers training draws (shuffling, Mixup), defined
// here rather than by <random>'s distributions so that a seed gives the same numbers with
// every standard library.
#pragma once

#include "misd/detail/random.hpp"

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <numbers>
#include <numeric>
#include <vector>

namespace misd::train {

/// splitmix64 (misd/detail/random.hpp) and the distributions training draws from it.
class random_source {
public:
  explicit random_source(std::uint64_t seed) : rng_{seed} {}

  std::uint64_t next() { return rng_.next(); }
  /// Uniform in [0, 1).
  double uniform() { return rng_.uniform(); }
  /// Uniform integer in [0, n), n >= 1 (rejection: no modulo bias).
  std::uint64_t below(std::uint64_t n) { return rng_.below(n); }
  /// Standard normal (Box–Muller, one value per call).
  double normal() {
    double u1;
    do
      u1 = uniform();
    while (u1 <= 0.0);
    return std::sqrt(-2.0 * std::log(u1)) * std::cos(2.0 * std::numbers::pi * uniform());
  }
  /// Gamma(shape, 1) by Marsaglia & Tsang; shape < 1 through Gamma(shape + 1) · U^(1/shape).
  double gamma(double shape) {
    if (shape < 1.0) {
      double u;
      do
        u = uniform();
      while (u <= 0.0);
      return gamma(shape + 1.0) * std::pow(u, 1.0 / shape);
    }
    const double d = shape - 1.0 / 3.0, c = 1.0 / std::sqrt(9.0 * d);
    for (;;) {
      double x, v;
      do {
        x = normal();
        v = 1.0 + c * x;
      } while (v <= 0.0);
      v = v * v * v;
      const double u = uniform();
      if (u < 1.0 - 0.0331 * x * x * x * x ||
          std::log(u) < 0.5 * x * x + d * (1.0 - v + std::log(v)))
        return d * v;
    }
  }
  /// Beta(a, b) from two gamma draws.
  double beta(double a, double b) {
    const double x = gamma(a), y = gamma(b);
    return x / (x + y);
  }
  /// A uniformly random permutation of 0 .. n-1 (Fisher–Yates).
  std::vector<std::size_t> permutation(std::size_t n) {
    std::vector<std::size_t> p(n);
    std::iota(p.begin(), p.end(), std::size_t{0});
    for (std::size_t i = n; i > 1; --i)
      std::swap(p[i - 1], p[static_cast<std::size_t>(below(i))]);
    return p;
  }

private:
  detail::splitmix64 rng_;
};

} // namespace misd::train
