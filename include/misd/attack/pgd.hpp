// misd/attack/pgd.hpp -- projected gradient descent in L∞.
#pragma once

#include "misd/attack/fgsm.hpp"

#include <cstdint>
#include <optional>

namespace misd {

struct pgd_options : attack_options {
  int steps = 10;              ///< k
  double step_fraction = 0.25; ///< α = step_fraction · ε per example (the paper's ε/4)
  bool random_start = false;   ///< start uniformly in the ε-ball (then clamp to the box)
  std::uint64_t seed = 0;      ///< random start seed, so runs are reproducible
};

namespace detail {
inline void validate(const pgd_options& o) {
  validate(static_cast<const attack_options&>(o));
  if (o.steps < 1)
    throw invalid_argument(message("pgd: steps = ", o.steps, " must be >= 1"));
  if (!(o.step_fraction > 0) || !std::isfinite(o.step_fraction))
    throw invalid_argument(message("pgd: step_fraction = ", o.step_fraction, " must be > 0"));
}

/// PGD (below). When `first_direction` is given, it receives the direction of the first
/// step: the one at x0 itself unless opts.random_start (then the one at the random start
/// point). rr_bs_pgd reads the clean attack direction from it at no extra cost.
template <class M>
batch_t<M> pgd_run(M& model, const batch_t<M>& x0, const label_vector& y, const host_vector& eps,
                   const pgd_options& opts, std::optional<batch_t<M>>* first_direction) {
  using ops = batch_ops<batch_t<M>>;
  detail::validate(opts);
  detail::require_batch(x0, "pgd");
  detail::require_finite_input(x0, "pgd");
  detail::validate_eps(eps, ops::rows(x0), "pgd");
  const host_vector step = opts.step_fraction * eps;
  const double s = detail::ascent_sign(opts);

  batch_t<M> x = x0;
  if (opts.random_start) {
    x = ops::add_scaled_rows(x0, eps, ops::uniform_noise(x0, opts.seed));
    if (opts.box)
      ops::clamp(x, opts.box->lo, opts.box->hi);
  }
  host_matrix z;
  for (int k = 0; k < opts.steps; ++k) {
    const auto d = detail::logits_and_loss_direction(
        model, x, z, opts.temperature, s, [&](const host_matrix& logits) -> const label_vector& {
          if (k == 0)
            detail::require_labels(y, ops::rows(x0), static_cast<std::size_t>(logits.cols()),
                                   "pgd");
          return y;
        });
    if (k == 0 && first_direction != nullptr)
      first_direction->emplace(d);
    x = ops::add_scaled_rows(x, step, d);
    ops::project_linf(x, x0, eps);
    if (opts.box)
      ops::clamp(x, opts.box->lo, opts.box->hi);
  }
  return x;
}
} // namespace detail

/// k steps of x ← Π(x + α_i · sign(∇ CE)), Π onto {‖x − x0‖∞ ≤ ε_i} ∩ box.
/// Cost: k forwards + k backwards.
template <class M>
batch_t<M> pgd(M& model, const batch_t<M>& x0, const label_vector& y, const host_vector& eps,
               const pgd_options& opts = {}) {
  static_assert(detail::check_differentiable<M>());
  return detail::pgd_run(model, x0, y, eps, opts, nullptr);
}

/// PGD with one radius for all examples.
template <class M>
batch_t<M> pgd(M& model, const batch_t<M>& x0, const label_vector& y, double eps,
               const pgd_options& opts = {}) {
  static_assert(detail::check_differentiable<M>());
  return pgd(model, x0, y,
             host_vector::Constant(static_cast<Eigen::Index>(batch_ops<batch_t<M>>::rows(x0)), eps),
             opts);
}

} // namespace misd
