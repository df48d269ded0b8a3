// misd/radius/rr_fast.hpp -- RR-Fast: the crossing of the linearised margins along the
// FGSM ray (paper §3.2, Algorithm 2, with the denominator's sign of docs/algorithms.md, "RR-Fast").
#pragma once

#include "misd/radius/options.hpp"
#include "misd/radius/workspace.hpp"

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

namespace detail {
/// The crossing of the linearised gaps from row j0 of z0 (t = 0) and row j1 of z1 (t = α).
inline double linear_crossing_rows(const host_matrix& z0, Eigen::Index j0, const host_matrix& z1,
                                   Eigen::Index j1, int y, double alpha) {
  double q = std::numeric_limits<double>::infinity();
  const double dy = z1(j1, y) - z0(j0, y);
  for (Eigen::Index k = 0; k < z0.cols(); ++k) {
    if (k == y)
      continue;
    const double slope = ((z1(j1, k) - z0(j0, k)) - dy) / alpha;
    if (slope > 0)
      q = std::min(q, (z0(j0, y) - z0(j0, k)) / slope);
  }
  return q;
}

template <class M>
void rr_fast_block(M& model, const batch_t<M>& x, const robust_radius_options& o,
                   radius_workspace<M>& ws, radius_result& res) {
  const std::size_t n = batch_ops<batch_t<M>>::rows(x);
  init_result(res, n);
  clean_pass(model, x, o.temperature, ws, res, "rr_fast");
  size_to(ws.owner, n);
  size_to(ws.at, n);
  for (std::size_t i = 0; i < n; ++i) {
    ws.owner[i] = i;
    ws.at[i] = o.fd_step;
  }
  // No clamping: RR-Fast linearises the open ray.
  evaluate_ray_points(model, x, std::optional<input_box>{}, n, n, ws, res);
  for (std::size_t i = 0; i < n; ++i) {
    const auto e = static_cast<Eigen::Index>(i);
    if (ws.zero[i]) {
      res.status[i] = radius_status::zero_direction;
      continue;
    }
    const double q = linear_crossing_rows(ws.z0, e, ws.z_probe, e, res.prediction[i], o.fd_step);
    res.radius[e] = std::min(q, o.max_radius);
    res.status[i] =
        std::isfinite(q) ? radius_status::linear_estimate : radius_status::not_bracketed;
  }
}
} // namespace detail

/// RR-Fast writing into `res` and reusing `ws` (no allocation once the batch shape has
/// been seen, for models with the in-place path and threads = 1).
template <class M>
void rr_fast(M& model, const batch_t<M>& x, const robust_radius_options& o, radius_workspace<M>& ws,
             radius_result& res) {
  static_assert(detail::check_differentiable<M>());
  detail::validate(o);
  detail::require_input(x, "rr_fast");
  detail::over_row_blocks(x, o, ws, res,
                          [&](const batch_t<M>& xb, radius_workspace<M>& w, radius_result& r) {
                            detail::rr_fast_block(model, xb, o, w, r);
                          });
}

/// RR-Fast: cost 1 backward + 2 forwards. No clamping: it linearises the open ray.
template <class M>
radius_result rr_fast(M& model, const batch_t<M>& x, const robust_radius_options& o = {}) {
  radius_workspace<M> ws;
  radius_result res;
  rr_fast(model, x, o, ws, res);
  return res;
}

} // namespace misd
