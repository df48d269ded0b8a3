// misd/radius/rr_refine.hpp -- RR-Refine: RR-BS's answer by root finding on the margin.
//
// The ray is RR-BS's: x(t) = clamp(x + t d), d the FGSM direction for ŷ. The margin
// m(t) = h_ŷ(t) − max_{i≠ŷ} h_i(t) changes sign where the prediction flips.
//  1. Clean pass (1 forward + 1 backward) and RR-Fast's finite-difference step, taken on
//     the clamped ray (1 forward): the crossing of the linearised gaps is the first
//     estimate, and the step itself is a first verified point.
//  2. Rounds of at most 2 forwards per example: RR-BS's search is replayed on the scalar
//     estimate (no forward passes) to find the cell of RR-BS's grid -- the bracket RR-BS
//     would end with -- that contains the estimate; its ends not yet verified are probed
//     and classified by argmax, as RR-BS classifies its probes. A flip lowers `hi`, a
//     non-flip raises `lo`, and the next estimate is a secant step through the newest two
//     margins, kept inside the verified bracket (regula falsi, then bisection, as
//     safeguards; growth by 4x while no flip is known).
//  3. An example stops as soon as every probe RR-BS would make is decided by the verified
//     bracket [lo, hi] -- then RR-BS's final bracket contains [lo, hi] whenever the margin
//     changes sign once along the ray -- or when it reaches options.refine_budget forwards.
// The radius is the regula-falsi root of the margin inside the verified bracket (the exact
// crossing for a linear model), so it lies within RR-BS's final bracket; lower / upper are
// the verified ends. Not bracketed: radius = the largest RR-BS probe verified not to flip.
#pragma once

#include "misd/radius/bracket.hpp"
#include "misd/radius/options.hpp"
#include "misd/radius/ray.hpp"
#include "misd/radius/result.hpp"
#include "misd/radius/threads.hpp"
#include "misd/radius/workspace.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

namespace misd {

namespace detail {

/// The end of RR-BS's search when each probe r is decided by the verified bracket
/// (r <= lo: no flip, r >= hi: flip) or, failing that, by the estimate (r >= est: flip).
struct rr_bs_cell {
  double lo, hi;
  bool determined; ///< no probe needed the estimate
};

inline rr_bs_cell replay_rr_bs(const ray_search_options& o, double lo, double hi, double est) {
  auto b = rr_bs_bracket::start(o);
  bool determined = true;
  for (int p = 1; p < o.budget; ++p) {
    if (!b.goes_on(o))
      break; // RR-BS stops a capped example, and one whose bracket is narrow enough
    // RR-BS's own bracket arithmetic, so that the ends are bit for bit its probes.
    const double r = b.next(o);
    bool flip;
    if (r <= lo)
      flip = false;
    else if (r >= hi)
      flip = true;
    else {
      determined = false;
      flip = r >= est;
    }
    b.record(r, flip);
  }
  return {b.lo, b.hi, determined};
}

template <class M>
void rr_refine_block(M& model, const batch_t<M>& x, const rr_refine_options& o,
                     radius_workspace<M>& ws, radius_result& res) {
  const double inf = std::numeric_limits<double>::infinity();
  const std::size_t n = batch_ops<batch_t<M>>::rows(x);
  init_result(res, n);
  clean_pass(model, x, o.temperature, ws, res, "rr_refine");
  for (auto* v :
       {&ws.lo, &ws.hi, &ws.m_lo, &ws.m_hi, &ws.estimate, &ws.t_a, &ws.m_a, &ws.t_b, &ws.m_b})
    size_to(*v, n);
  size_to(ws.active, n);
  size_to(ws.used, n);
  size_to(ws.owner, 2 * n);
  size_to(ws.at, 2 * n);

  // Finite-difference step on the clamped ray: RR-Fast's second forward.
  std::size_t count = 0;
  for (std::size_t i = 0; i < n; ++i) {
    ws.active[i] = !ws.zero[i];
    ws.used[i] = 1;
    if (ws.active[i]) {
      ws.owner[count] = i;
      ws.at[count++] = o.fd_step;
    }
  }
  if (count > 0)
    evaluate_ray_points(model, x, o.box, count, 2 * n, ws, res);
  for (std::size_t j = 0; j < count; ++j) {
    const std::size_t i = ws.owner[j];
    const auto e = static_cast<Eigen::Index>(i), r = static_cast<Eigen::Index>(j);
    const int y = res.prediction[i];
    const double m0 = margin_row(ws.z0, e, y), m1 = margin_row(ws.z_probe, r, y);
    ws.used[i] = 2;
    ws.lo[e] = 0;
    ws.m_lo[e] = m0;
    ws.hi[e] = inf;
    ws.m_hi[e] = 0;
    if (argmax_row(ws.z_probe, r) != y) {
      ws.hi[e] = o.fd_step;
      ws.m_hi[e] = m1;
    } else {
      ws.lo[e] = o.fd_step;
      ws.m_lo[e] = m1;
    }
    ws.t_a[e] = 0;
    ws.m_a[e] = m0;
    ws.t_b[e] = o.fd_step;
    ws.m_b[e] = m1;
    ws.estimate[e] = linear_crossing(ws.z0, e, ws.z_probe, r, y, o.fd_step);
  }

  // The next estimate: secant through the newest two points, kept inside (lo, hi).
  auto next_estimate = [&](Eigen::Index e) {
    const double lo = ws.lo[e], hi = ws.hi[e];
    const double dt = ws.t_b[e] - ws.t_a[e], dm = ws.m_b[e] - ws.m_a[e];
    double s = dt != 0 && dm != 0 ? ws.t_b[e] - ws.m_b[e] * dt / dm : inf;
    if (std::isfinite(hi)) {
      if (!(s > lo && s < hi)) {
        const double w = ws.m_lo[e] - ws.m_hi[e];
        s = w > 0 ? lo + ws.m_lo[e] * (hi - lo) / w : (lo + hi) / 2;
        if (!(s > lo && s < hi))
          s = (lo + hi) / 2;
      }
    } else {
      const double base = std::max(lo, o.r0);
      s = s > lo && std::isfinite(s) ? std::min(s, 8 * base) : 4 * base;
    }
    ws.estimate[e] = s;
  };

  for (std::size_t i = 0; i < n; ++i)
    if (ws.active[i]) {
      const auto e = static_cast<Eigen::Index>(i);
      const double q = ws.estimate[e];
      if (!(q > ws.lo[e] && q < ws.hi[e]))
        next_estimate(e);
    }

  while (true) {
    count = 0;
    for (std::size_t i = 0; i < n; ++i) {
      if (!ws.active[i])
        continue;
      const auto e = static_cast<Eigen::Index>(i);
      const auto cell = replay_rr_bs(o, ws.lo[e], ws.hi[e], ws.estimate[e]);
      bool probe_a = !cell.determined && cell.lo > ws.lo[e];
      bool probe_b = !cell.determined && std::isfinite(cell.hi) && cell.hi < ws.hi[e];
      // While the estimate still moves by more than 1% a round, one probe (the end nearer
      // the estimate) carries nearly all the information; both ends once it settles.
      if (probe_a && probe_b && std::abs(ws.estimate[e] - ws.t_b[e]) > 0.01 * ws.estimate[e]) {
        if (ws.estimate[e] - cell.lo < cell.hi - ws.estimate[e])
          probe_b = false;
        else
          probe_a = false;
      }
      const int need = int(probe_a) + int(probe_b);
      if (need == 0 || ws.used[i] + need > o.refine_budget) {
        ws.active[i] = 0;
        continue;
      }
      if (probe_a) {
        ws.owner[count] = i;
        ws.at[count++] = cell.lo;
      }
      if (probe_b) {
        ws.owner[count] = i;
        ws.at[count++] = cell.hi;
      }
      ws.used[i] += need;
    }
    if (count == 0)
      break;
    evaluate_ray_points(model, x, o.box, count, 2 * n, ws, res);
    for (std::size_t j = 0; j < count;) {
      const std::size_t i = ws.owner[j];
      const auto e = static_cast<Eigen::Index>(i);
      const int y = res.prediction[i];
      for (; j < count && ws.owner[j] == i; ++j) {
        const auto r = static_cast<Eigen::Index>(j);
        const double t = ws.at[j], m = margin_row(ws.z_probe, r, y);
        if (argmax_row(ws.z_probe, r) != y) {
          if (t <= ws.lo[e]) { // a flip below a verified non-flip: restart from the clean point
            ws.lo[e] = 0;
            ws.m_lo[e] = margin_row(ws.z0, e, y);
          }
          if (t < ws.hi[e]) {
            ws.hi[e] = t;
            ws.m_hi[e] = m;
          }
        } else if (t > ws.lo[e] && t < ws.hi[e]) {
          ws.lo[e] = t;
          ws.m_lo[e] = m;
        }
        ws.t_a[e] = ws.t_b[e];
        ws.m_a[e] = ws.m_b[e];
        ws.t_b[e] = t;
        ws.m_b[e] = m;
      }
      next_estimate(e);
    }
  }

  for (std::size_t i = 0; i < n; ++i) {
    const auto e = static_cast<Eigen::Index>(i);
    if (ws.zero[i]) {
      write_zero_direction(res, i);
      continue;
    }
    const double lo = ws.lo[e], hi = ws.hi[e];
    res.lower[e] = lo;
    res.upper[e] = hi;
    if (std::isfinite(hi)) {
      res.status[i] = radius_status::bracketed;
      const double w = ws.m_lo[e] - ws.m_hi[e];
      double root = w > 0 && ws.m_lo[e] >= 0 ? lo + ws.m_lo[e] * (hi - lo) / w : (lo + hi) / 2;
      if (!(root >= lo && root <= hi))
        root = (lo + hi) / 2;
      res.radius[e] = std::min(root, o.max_radius);
    } else {
      res.status[i] = radius_status::not_bracketed;
      const auto cell = replay_rr_bs(o, lo, hi, inf);
      // RR-BS's answer when every one of its probes is known not to flip.
      res.radius[e] = std::min(cell.determined ? cell.lo : lo, o.max_radius);
    }
  }
}
} // namespace detail

/// RR-Refine writing into `res` and reusing `ws` (no allocation once the batch shape has
/// been seen, for models with the in-place path and threads = 1). Same options, flags and
/// result as RR-BS; options.refine_budget caps the forwards per example.
template <class M>
void rr_refine(M& model, const batch_t<M>& x, const rr_refine_options& o, radius_workspace<M>& ws,
               radius_result& res) {
  static_assert(detail::check_differentiable<M>());
  detail::validate(o);
  detail::require_input(x, "rr_refine");
  detail::over_row_blocks(x, o, ws, res,
                          [&](const batch_t<M>& xb, radius_workspace<M>& w, radius_result& r) {
                            detail::rr_refine_block(model, xb, o, w, r);
                          });
}

/// RR-Refine: RR-BS's answer from a few forwards per example (see the top of this file).
template <class M>
radius_result rr_refine(M& model, const batch_t<M>& x, const rr_refine_options& o = {}) {
  radius_workspace<M> ws;
  radius_result res;
  rr_refine(model, x, o, ws, res);
  return res;
}

} // namespace misd
