// misd/radius/linf_projection.hpp -- the least-L∞ step from a point onto a hyperplane
// inside a box: FAB-L∞'s projection (docs/algorithms.md, "FAB-L∞"). Not for direct
// inclusion.
#pragma once

#include "misd/error.hpp"

#include <Eigen/Core>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <limits>
#include <span>
#include <utility>
#include <vector>

namespace misd::detail {

/// What linf_projection found.
struct linf_projection_result {
  bool reachable = true; ///< the hyperplane meets the box (else d goes to the nearest corner)
  double step = 0.0;     ///< ‖d‖∞
};

/// Buffers of linf_projection, kept between calls (no allocation once D has been seen).
struct linf_projection_workspace {
  Eigen::ArrayXd sign, room, weight;                  ///< s_i, ρ_i and |w_i| of every feature
  std::vector<std::pair<double, double>> room_weight; ///< the selection's (ρ_i, |w_i|), w_i ≠ 0
  /// Newton steps on g before the selection takes over (tests set 0 to check the selection).
  int newton_steps = 8;
};

/// d = the least-L∞ step from u onto H ∩ box, H = {z : w·z = b}, box = [lo, hi] per feature
/// (empty lo and hi: no box, unbounded room). With c = w·u − b, the step moves each feature
/// against sign(c·w_i), by at most its room ρ_i to the box's edge in that direction; it is
/// the least t with Σ|w_i|·min(t, ρ_i) = |c|, found exactly by selection on ρ (the sum
/// is piecewise linear in t): d_i = s_i·min(t, ρ_i). When even Σ|w_i|ρ_i < |c| (H misses the
/// box) every feature moves to its edge, d_i = s_i·ρ_i, the box point nearest H in w·z.
/// Features with w_i = 0 do not move. u should lie in the box (room below 0 counts as 0).
inline linf_projection_result linf_projection(std::span<const double> u, std::span<const double> w,
                                              double b, std::span<const double> lo,
                                              std::span<const double> hi, std::span<double> d,
                                              linf_projection_workspace& ws) {
  const std::size_t n = u.size();
  if (w.size() != n || d.size() != n || lo.size() != hi.size() || (!lo.empty() && lo.size() != n))
    throw invalid_argument(message("linf_projection: sizes do not agree: u ", n, ", w ", w.size(),
                                   ", d ", d.size(), ", lo ", lo.size(), ", hi ", hi.size()));
  using map = Eigen::Map<const Eigen::ArrayXd>;
  const auto len = static_cast<Eigen::Index>(n);
  const map uu(u.data(), len), ww(w.data(), len);
  Eigen::Map<Eigen::ArrayXd> dd(d.data(), len);
  const bool boxed = !lo.empty();
  const double c = (ww * uu).sum() - b;
  linf_projection_result out;
  dd.setZero();
  if (c == 0)
    return out;
  constexpr double inf = std::numeric_limits<double>::infinity();
  // Feature i moves by s_i·min(t, ρ_i), s_i = −sign(c·w_i) (0 where w_i = 0), ρ_i its room.
  ws.sign = (c > 0 ? -1.0 : 1.0) * ww.sign();
  ws.weight = ww.abs();
  if (boxed)
    ws.room = (ws.sign < 0).select(uu - map(lo.data(), len), map(hi.data(), len) - uu).max(0.0);
  else
    ws.room.setConstant(len, inf);
  const auto& sign = ws.sign;
  const auto& room = ws.room;
  const auto& weight = ws.weight;
  const double need = std::abs(c);
  const double norm1 = weight.sum();
  // Σ|w_i|ρ_i: how far w·z can move inside the box (features with w_i = 0 add nothing).
  const double total = boxed ? (weight * room).sum() : norm1 > 0 ? inf : 0.0;
  if (!(total > need)) {
    out.reachable = false;
    if (boxed)
      dd = sign * room;
    out.step = dd.abs().maxCoeff();
    return out;
  }
  // g(t) = Σ_j |w_j|·min(t, ρ_j) is piecewise linear, increasing and concave. Without a box
  // every feature moves by t: t = |c|/‖w‖₁. With one, Newton's method from t = |c|/‖w‖₁
  // (g(t) ≤ t·‖w‖₁, so the root is not below it): the tangent of a concave g lies above it,
  // so each step stays at or below the root, and once no room lies between two steps the
  // step is the root exactly. It usually ends in a few passes over the features; past
  // `newton_steps`, a selection on the rooms takes over (quickselect: expected O(D)). Each
  // of its rounds splits the undecided features at the median room ρ_m: if g(ρ_m) ≥ |c| the
  // root lies at or below ρ_m and the features from ρ_m up move by t (their |w| joins
  // `slope`), else those up to ρ_m move to their edge (|w|ρ joins `fixed`).
  double t = need / norm1;
  bool solved = !boxed;
  for (int k = 0; !solved && k < ws.newton_steps; ++k) {
    const double fixed = (room <= t).select(weight * room, 0.0).sum();
    const double slope = (room <= t).select(0.0, weight).sum();
    if (!(slope > 0))
      break;
    const double next = (need - fixed) / slope;
    solved = !(next > t); // no room crossed: t solves g(t) = |c| (up to rounding)
    t = std::max(t, next);
  }
  if (!solved) {
    auto& rw = ws.room_weight;
    rw.clear();
    for (Eigen::Index i = 0; i < len; ++i)
      if (weight[i] > 0)
        rw.emplace_back(room[i], weight[i]);
    double fixed = 0.0, slope = 0.0;
    auto first = rw.begin(), last = rw.end();
    while (first != last) {
      const auto mid = first + (last - first) / 2;
      std::nth_element(first, mid, last);
      const double rm = mid->first;
      double below = 0.0, at_or_above = 0.0; // Σ|w|ρ below ρ_m, Σ|w| from ρ_m up
      for (auto it = first; it != mid; ++it)
        below += it->second * it->first;
      for (auto it = mid; it != last; ++it)
        at_or_above += it->second;
      if (fixed + below + rm * (slope + at_or_above) >= need) {
        slope += at_or_above; // from ρ_m up they move by t ≤ ρ_m
        last = mid;
      } else {
        fixed += below + mid->second * rm;
        first = mid + 1;
      }
    }
    // slope = 0 only through rounding (g reaches |c| at the largest room): all at the edge.
    t = slope > 0 ? std::max(0.0, (need - fixed) / slope)
                  : std::max_element(rw.begin(), rw.end())->first;
  }
  dd = sign * room.min(t);
  out.step = dd.abs().maxCoeff();
  return out;
}

} // namespace misd::detail
