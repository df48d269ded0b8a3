// tests/test_support.hpp -- stand-in models and helpers shared by the tests.
#pragma once

#include "misd/misd.hpp"

#include <cstddef>

namespace misd_test {

/// Wraps any model and counts its passes (the cost claims of the estimators).
template <class M>
struct counting_model {
  using batch_type = misd::batch_t<M>;
  M& inner;
  std::size_t forwards = 0, backwards = 0;
  batch_type logits(const batch_type& x) {
    ++forwards;
    return inner.logits(x);
  }
  batch_type input_gradient(const batch_type& x, const batch_type& g) {
    ++backwards;
    return inner.input_gradient(x, g);
  }
};

/// Exact first crossing of a linear model's prediction along x + t d (no box):
/// min over i != y with a closing gap of (z_y - z_i) / (s_i - s_y), s = W d.
inline double linear_crossing(const misd::host_matrix& w, const Eigen::VectorXd& z,
                              const Eigen::VectorXd& d, int y) {
  const Eigen::VectorXd s = w * d;
  double t = std::numeric_limits<double>::infinity();
  for (Eigen::Index i = 0; i < z.size(); ++i)
    if (i != y && s[i] > s[y])
      t = std::min(t, (z[y] - z[i]) / (s[i] - s[y]));
  return t;
}

} // namespace misd_test
