// misd/train/mixup.hpp -- Mixup (Zhang et al. 2018) and the soft targets it produces.
//
// As the usual implementation does, one λ ~ Beta(α, α) per batch mixes every example with a
// partner from a random permutation of the batch: x̃_i = λ·x_i + (1 − λ)·x_π(i), and the
// loss is λ·CE(·, y_i) + (1 − λ)·CE(·, y_π(i)).
#pragma once

#include "misd/concepts.hpp"
#include "misd/eigen/ops.hpp"
#include "misd/error.hpp"
#include "misd/train/random.hpp"

#include <cmath>
#include <cstddef>

namespace misd::train {

/// Targets of a batch: weight·onehot(a) + (1 − weight)·onehot(b). Hard labels are a = b
/// (or weight = 1).
struct soft_targets {
  label_vector a, b;
  double weight = 1.0;

  static soft_targets hard(label_vector y) {
    soft_targets t;
    t.b = y;
    t.a = std::move(y);
    return t;
  }
  /// The label with the larger share: what "correct" means for a mixed example (ties: a).
  int dominant(std::size_t i) const { return weight >= 0.5 ? a[i] : b[i]; }
  std::size_t size() const { return a.size(); }
};

/// Mixes a host batch in place and returns its targets. α <= 0 turns Mixup off.
template <class Scalar>
soft_targets mixup(eigen::batch<Scalar>& x, const label_vector& y, double alpha,
                   random_source& rng) {
  if (static_cast<std::size_t>(x.rows()) != y.size())
    throw invalid_argument(
        detail::message("mixup: ", y.size(), " labels for a batch of ", x.rows(), " examples"));
  if (!(alpha > 0) || !std::isfinite(alpha))
    return soft_targets::hard(y);
  const double lam = rng.beta(alpha, alpha);
  const auto perm = rng.permutation(y.size());
  eigen::batch<Scalar> mixed(x.rows(), x.cols());
  soft_targets t;
  t.weight = lam;
  t.a = y;
  t.b.resize(y.size());
  const auto l = static_cast<Scalar>(lam), m = static_cast<Scalar>(1.0 - lam);
  for (std::size_t i = 0; i < y.size(); ++i) {
    const auto j = static_cast<Eigen::Index>(perm[i]);
    mixed.row(static_cast<Eigen::Index>(i)) =
        l * x.row(static_cast<Eigen::Index>(i)) + m * x.row(j);
    t.b[i] = y[perm[i]];
  }
  x = std::move(mixed);
  return t;
}

} // namespace misd::train
