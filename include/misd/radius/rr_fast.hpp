// misd/radius/rr_fast.hpp -- RR-Fast: the crossing of the linearised margins along the
// FGSM ray (paper §3.2, Algorithm 2; the sign of its denominator: docs/algorithms.md).
#pragma once

#include "misd/radius/bracket.hpp"
#include "misd/radius/options.hpp"
#include "misd/radius/ray.hpp"
#include "misd/radius/result.hpp"
#include "misd/radius/threads.hpp"
#include "misd/radius/workspace.hpp"

#include <algorithm>
#include <limits>

namespace misd {

namespace detail {
template <class M>
void rr_fast_block(M& model, const batch_t<M>& x, const rr_fast_options& o, radius_workspace<M>& ws,
                   radius_result& res) {
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
      write_zero_direction(res, i);
      continue;
    }
    const double q = linear_crossing(ws.z0, e, ws.z_probe, e, res.prediction[i], o.fd_step);
    res.radius[e] = std::min(q, o.max_radius);
    res.status[i] =
        std::isfinite(q) ? radius_status::linear_estimate : radius_status::not_bracketed;
  }
}
} // namespace detail

/// RR-Fast writing into `res` and reusing `ws` (no allocation once the batch shape has
/// been seen, for models with the in-place path and threads = 1).
template <class M>
void rr_fast(M& model, const batch_t<M>& x, const rr_fast_options& o, radius_workspace<M>& ws,
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
radius_result rr_fast(M& model, const batch_t<M>& x, const rr_fast_options& o = {}) {
  radius_workspace<M> ws;
  radius_result res;
  rr_fast(model, x, o, ws, res);
  return res;
}

} // namespace misd
