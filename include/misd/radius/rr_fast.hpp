// misd/radius/rr_fast.hpp -- RR-Fast: the crossing of the linearised margins along the
// FGSM ray (paper §3.2, Algorithm 2, with the denominator's sign as in ALGORITHMS.md).
#pragma once

#include "misd/detail/first_pass.hpp"
#include "misd/radius/options.hpp"

#include <algorithm>
#include <limits>

namespace misd {

namespace detail {
/// min over i ≠ ŷ of q_i = gap_i / slope_i where the linearised gap closes (slope > 0),
/// from the logits at t = 0 and t = α along the ray. +inf when no gap closes.
inline double linear_crossing(const host_matrix& z0, const host_matrix& z1, Eigen::Index i, int y,
                              double alpha) {
  double q = std::numeric_limits<double>::infinity();
  const double dy = z1(i, y) - z0(i, y);
  for (Eigen::Index k = 0; k < z0.cols(); ++k) {
    if (k == y)
      continue;
    const double slope = ((z1(i, k) - z0(i, k)) - dy) / alpha;
    if (slope > 0)
      q = std::min(q, (z0(i, y) - z0(i, k)) / slope);
  }
  return q;
}
} // namespace detail

/// RR-Fast: cost 1 backward + 2 forwards. No clamping: it linearises the open ray.
template <class M>
radius_result rr_fast(M& model, const batch_t<M>& x, const robust_radius_options& o = {}) {
  static_assert(detail::check_differentiable<M>());
  using ops = batch_ops<batch_t<M>>;
  detail::validate(o);
  radius_result res;
  const auto n = ops::rows(x);
  detail::init_result(res, n);
  auto fp = detail::clean_pass(model, x, o.temperature, res, "rr_fast");
  res.prediction = std::move(fp.prediction);
  host_matrix z1;
  detail::checked_logits(
      model,
      ops::add_scaled_rows(x, host_vector::Constant(static_cast<Eigen::Index>(n), o.fd_step),
                           fp.direction),
      z1, "logits at the RR-Fast step");
  res.forwards += 1;
  for (std::size_t i = 0; i < n; ++i) {
    const auto e = static_cast<Eigen::Index>(i);
    if (fp.zero[i]) {
      res.status[i] = radius_status::zero_direction;
      continue;
    }
    const double q = detail::linear_crossing(fp.logits, z1, e, res.prediction[i], o.fd_step);
    res.radius[e] = std::min(q, o.max_radius);
    res.status[i] = std::isfinite(q) ? radius_status::linear_estimate : radius_status::not_bracketed;
  }
  return res;
}

} // namespace misd
