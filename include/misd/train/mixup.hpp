// misd/train/mixup.hpp -- Mixup (Zhang et al. 2018) and the soft targets it produces.
//
// As the usual implementation does, one λ ~ Beta(α, α) per batch mixes every example with a
// partner from a random permutation of the batch: x̃_i = λ·x_i + (1 − λ)·x_π(i), and the
// loss is λ·CE(·, y_i) + (1 − λ)·CE(·, y_π(i)).
#pragma once

#include "misd/concepts.hpp"
#include "misd/error.hpp"
#include "misd/train/random.hpp"

#include <cmath>
#include <concepts>
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

} // namespace misd::train

namespace misd::detail {
template <class B>
concept has_mix_rows = requires(const B& x, const std::size_t* perm) {
  { batch_ops<B>::mix_rows(x, perm, 0.5) } -> std::convertible_to<B>;
};
} // namespace misd::detail

namespace misd::train {

/// Mixes a batch in place (through batch_ops<B>::mix_rows, on the batch's device) and
/// returns its targets. α <= 0 turns Mixup off.
template <class B>
soft_targets mixup(B& x, const label_vector& y, double alpha, random_source& rng) {
  static_assert(misd::detail::has_mix_rows<B>,
                "misd: Mixup needs batch_ops<B>::mix_rows (see misd/concepts.hpp)");
  const auto n = batch_ops<B>::rows(x);
  if (n != y.size())
    throw invalid_argument(
        misd::detail::message("mixup: ", y.size(), " labels for a batch of ", n, " examples"));
  if (!(alpha > 0) || !std::isfinite(alpha))
    return soft_targets::hard(y);
  const double lam = rng.beta(alpha, alpha);
  const auto perm = rng.permutation(y.size());
  soft_targets t;
  t.weight = lam;
  t.a = y;
  t.b.resize(y.size());
  for (std::size_t i = 0; i < y.size(); ++i)
    t.b[i] = y[perm[i]];
  x = batch_ops<B>::mix_rows(x, perm.data(), lam);
  return t;
}

} // namespace misd::train
