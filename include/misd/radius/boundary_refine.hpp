// misd/radius/boundary_refine.hpp -- the last stage of the estimators that search for an
// attack point (DeepFool, rr-iter, FAB): bisection on the segment from the clean input to
// the attack point.
//
// For each row i with an attack point x_a that flips ŷ_i (flipped[i] != 0), the segment
// x(t) = x_0 + t (x_a − x_0), t in [0, 1], is bisected with B = o.refine_probes forward
// passes: lo = 0, hi = 1 (x_a itself, a flip by the caller's word); each probe evaluates
// t = (lo + hi)/2 and sets hi = t on a flip (argmax ≠ ŷ), else lo = t. The points are not
// clamped: x_0 and x_a both lie in the box, and so does the segment between them. With
// L = ‖x_a − x_0‖∞:
//   radius = min(hi·L, o.max_radius)   (a witnessed flip, so an upper bound of the exact
//                                      radius: the distance to the boundary along any path
//                                      is at least the least distance)
//   lower  = lo·L, upper = hi·L,  status bracketed
// A row without a flip gets radius = o.max_radius (+inf by default), upper = +inf and
// status not_bracketed; its lower is left as the caller set it (init_result: 0). A row the
// caller has marked zero_direction is left as it is.
//
// The caller fills res.prediction (ŷ of x_0) and sizes res (detail::init_result) first.
// One forward pass per probe over the flipped rows only (gathered with the backend's row
// operations; a backend without them evaluates whole batches); res.forwards and
// res.example_forwards count them. Uses ws.direction (overwritten with x_a − x_0), ws.probe,
// ws.z_probe, ws.owner, ws.at, ws.lo, ws.hi and ws.model.
#pragma once

#include "misd/radius/options.hpp"
#include "misd/radius/ray.hpp"
#include "misd/radius/result.hpp"
#include "misd/radius/workspace.hpp"

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <optional>
#include <span>

namespace misd {

/// Bisection of [x0, xa] per row (see the top of this file).
template <class M>
void refine_along(M& model, const batch_t<M>& x0, const batch_t<M>& xa,
                  std::span<const unsigned char> flipped, const minimal_perturbation_options& o,
                  radius_workspace<M>& ws, radius_result& res) {
  using B = batch_t<M>;
  using ops = batch_ops<B>;
  const std::size_t n = ops::rows(x0);
  if (ops::rows(xa) != n || ops::cols(xa) != ops::cols(x0))
    throw invalid_argument(detail::message("refine_along: attack points are ", ops::rows(xa), " x ",
                                           ops::cols(xa), ", clean inputs ", n, " x ",
                                           ops::cols(x0), " (must be the same shape)"));
  if (flipped.size() != n || res.prediction.size() != n || res.status.size() != n ||
      static_cast<std::size_t>(res.radius.size()) != n)
    throw invalid_argument(detail::message("refine_along: ", n, " rows but ", flipped.size(),
                                           " flip flags, ", res.prediction.size(),
                                           " predictions and ", res.status.size(), " result rows"));
  if (o.refine_probes < 1)
    throw invalid_argument(
        detail::message("refine_along: refine_probes = ", o.refine_probes, " must be >= 1"));

  const double inf = std::numeric_limits<double>::infinity();
  std::size_t count = 0;
  for (std::size_t i = 0; i < n; ++i)
    count += flipped[i] && res.status[i] != radius_status::zero_direction;

  detail::size_to(ws.lo, n);
  detail::size_to(ws.hi, n);
  host_vector length = host_vector::Zero(static_cast<Eigen::Index>(n));
  if (count > 0) {
    const host_vector minus_one = host_vector::Constant(static_cast<Eigen::Index>(n), -1.0);
    ws.direction.emplace(ops::add_scaled_rows(xa, minus_one, x0)); // xa − x0
    host_matrix d;
    ops::to_host(*ws.direction, d);
    for (std::size_t i = 0; i < n; ++i)
      length[static_cast<Eigen::Index>(i)] =
          d.row(static_cast<Eigen::Index>(i)).cwiseAbs().maxCoeff();
    detail::size_to(ws.owner, count);
    detail::size_to(ws.at, count);
  }
  for (std::size_t i = 0; i < n; ++i) {
    ws.lo[static_cast<Eigen::Index>(i)] = 0;
    ws.hi[static_cast<Eigen::Index>(i)] = 1;
  }
  const std::optional<input_box> no_box; // the segment lies in the box already
  for (int p = 0; p < o.refine_probes && count > 0; ++p) {
    std::size_t j = 0;
    for (std::size_t i = 0; i < n; ++i)
      if (flipped[i] && res.status[i] != radius_status::zero_direction) {
        const auto e = static_cast<Eigen::Index>(i);
        ws.owner[j] = i;
        ws.at[j++] = (ws.lo[e] + ws.hi[e]) / 2;
      }
    detail::evaluate_ray_points(model, x0, no_box, count, count, ws, res);
    for (j = 0; j < count; ++j) {
      const auto e = static_cast<Eigen::Index>(ws.owner[j]);
      const bool flip = detail::argmax_row(ws.z_probe, static_cast<Eigen::Index>(j)) !=
                        res.prediction[ws.owner[j]];
      (flip ? ws.hi[e] : ws.lo[e]) = ws.at[j];
    }
  }
  for (std::size_t i = 0; i < n; ++i) {
    const auto e = static_cast<Eigen::Index>(i);
    if (res.status[i] == radius_status::zero_direction)
      continue;
    if (flipped[i]) {
      res.lower[e] = ws.lo[e] * length[e];
      res.upper[e] = ws.hi[e] * length[e];
      res.radius[e] = std::min(res.upper[e], o.max_radius);
      res.status[i] = radius_status::bracketed;
    } else {
      res.upper[e] = inf;
      res.radius[e] = o.max_radius;
      res.status[i] = radius_status::not_bracketed;
    }
  }
}

} // namespace misd
