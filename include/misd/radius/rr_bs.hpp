// misd/radius/rr_bs.hpp -- RR-BS: robust radius by boundary search (paper Algorithm 1).
#pragma once

#include "misd/attack/pgd.hpp"
#include "misd/detail/first_pass.hpp"
#include "misd/radius/options.hpp"

#include <algorithm>
#include <limits>

namespace misd {

namespace detail {
/// The shared search: `probe(r, p)` returns the batch to evaluate at radii r on probe p
/// and adds its own cost to `res`.
template <class M, class Probe>
void boundary_search(M& model, const robust_radius_options& o, const std::vector<bool>& skip,
                     radius_result& res, Probe&& probe) {
  const auto n = static_cast<Eigen::Index>(res.prediction.size());
  host_vector lo = host_vector::Constant(n, o.r0);
  host_vector hi = host_vector::Constant(n, std::numeric_limits<double>::infinity());
  std::vector<bool> active(static_cast<std::size_t>(n));
  for (Eigen::Index i = 0; i < n; ++i)
    active[i] = !skip[i];
  host_vector r(n);
  host_matrix z;
  label_vector pred;
  for (int p = 1; p < o.budget; ++p) {
    bool any = false;
    for (Eigen::Index i = 0; i < n; ++i) {
      // Doubling until the first flip, then bisection; capped at max_radius.
      r[i] = std::min({(lo[i] + hi[i]) / 2, 2 * lo[i], o.max_radius});
      any = any || active[i];
    }
    if (!any)
      break;
    checked_logits(model, probe(r, p), z, "logits at an RR-BS probe");
    res.forwards += 1;
    argmax_rows(z, pred);
    for (Eigen::Index i = 0; i < n; ++i) {
      if (!active[i])
        continue;
      (pred[i] == res.prediction[i] ? lo[i] : hi[i]) = r[i];
      const bool capped = !std::isfinite(hi[i]) && lo[i] >= o.max_radius;
      const bool narrow = o.tolerance > 0 && hi[i] - lo[i] <= o.tolerance * hi[i];
      active[i] = !(capped || narrow);
    }
  }
  for (Eigen::Index i = 0; i < n; ++i) {
    if (skip[i]) {
      res.status[i] = radius_status::zero_direction;
      continue; // radius 0, lower 0, upper inf
    }
    res.lower[i] = lo[i];
    res.upper[i] = hi[i];
    const bool found = std::isfinite(hi[i]);
    res.status[i] = found ? radius_status::bracketed : radius_status::not_bracketed;
    res.radius[i] = found ? (lo[i] + hi[i]) / 2 : lo[i];
  }
}
} // namespace detail

/// RR-BS with the FGSM base. The direction does not depend on the radius, so it is
/// computed once: cost 1 backward + `budget` forwards (fewer with a tolerance).
template <class M>
radius_result rr_bs(M& model, const batch_t<M>& x, const robust_radius_options& o = {}) {
  static_assert(detail::check_differentiable<M>());
  using ops = batch_ops<batch_t<M>>;
  detail::validate(o);
  radius_result res;
  detail::init_result(res, ops::rows(x));
  auto fp = detail::clean_pass(model, x, o.temperature, res, "rr_bs");
  res.prediction = std::move(fp.prediction);
  detail::boundary_search(model, o, fp.zero, res, [&](const host_vector& r, int) {
    auto xp = ops::add_scaled_rows(x, r, fp.direction);
    if (o.box)
      ops::clamp(xp, o.box->lo, o.box->hi);
    return xp;
  });
  return res;
}

/// RR-BS with the PGD base: each probe runs PGD of radius r from x against ŷ
/// (k forwards + k backwards), then one forward to read the prediction.
template <class M>
radius_result rr_bs_pgd(M& model, const batch_t<M>& x, const robust_radius_options& o = {}) {
  static_assert(detail::check_differentiable<M>());
  using ops = batch_ops<batch_t<M>>;
  detail::validate(o);
  radius_result res;
  detail::init_result(res, ops::rows(x));
  detail::require_batch(x, "rr_bs_pgd");
  detail::require_finite_input(x, "rr_bs_pgd");
  host_matrix z;
  detail::checked_logits(model, x, z, "logits");
  res.forwards += 1;
  detail::argmax_rows(z, res.prediction);
  pgd_options po;
  po.temperature = o.temperature;
  po.box = o.box;
  po.steps = o.pgd_steps;
  po.step_fraction = o.pgd_step_fraction;
  po.random_start = o.pgd_random_start;
  const std::vector<bool> none(res.prediction.size(), false);
  detail::boundary_search(model, o, none, res, [&](const host_vector& r, int p) {
    po.seed = o.seed + static_cast<std::uint64_t>(p);
    res.forwards += static_cast<std::size_t>(o.pgd_steps);
    res.backwards += static_cast<std::size_t>(o.pgd_steps);
    return pgd(model, x, res.prediction, r, po);
  });
  return res;
}

} // namespace misd
