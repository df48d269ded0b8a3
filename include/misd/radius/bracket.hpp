// misd/radius/bracket.hpp -- RR-BS's bracket arithmetic: the one copy of the search that
// RR-BS (FGSM and PGD bases, one or several steps per pass) and RR-Refine's replay share,
// so that they probe the same radii bit for bit. Not for direct inclusion.
#pragma once

#include "misd/radius/options.hpp"
#include "misd/radius/result.hpp"

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <limits>

namespace misd::detail {

/// The bracket [lo, hi] of one example's search: lo verified not to flip (r0 before any
/// probe), hi verified to flip (+inf before the first flip).
struct rr_bs_bracket {
  double lo, hi;

  static rr_bs_bracket start(const ray_search_options& o) {
    return {o.r0, std::numeric_limits<double>::infinity()};
  }
  /// The next probe: doubling until the first flip, then bisection; capped at max_radius.
  double next(const ray_search_options& o) const {
    return std::min({(lo + hi) / 2, 2 * lo, o.max_radius});
  }
  /// Whether the search goes on: not once it is capped at max_radius with no flip found,
  /// nor once the bracket is narrower than the tolerance (only after a flip bounds it:
  /// inf − lo <= tol · inf would hold trivially).
  bool goes_on(const ray_search_options& o) const {
    const bool capped = !std::isfinite(hi) && lo >= o.max_radius;
    const bool narrow = o.tolerance > 0 && std::isfinite(hi) && hi - lo <= o.tolerance * hi;
    return !(capped || narrow);
  }
  /// The outcome of the probe at r.
  void record(double r, bool flipped) { (flipped ? hi : lo) = r; }
};

/// RR-BS's answer for example i from its final bracket: the midpoint when a flip was found
/// (bracketed), else the largest radius verified not to flip (not_bracketed).
inline void write_bracket(radius_result& res, std::size_t i, const rr_bs_bracket& b) {
  const auto e = static_cast<Eigen::Index>(i);
  res.lower[e] = b.lo;
  res.upper[e] = b.hi;
  const bool found = std::isfinite(b.hi);
  res.status[i] = found ? radius_status::bracketed : radius_status::not_bracketed;
  res.radius[e] = found ? (b.lo + b.hi) / 2 : b.lo;
}

/// Example i's attack direction is zero: nothing measured (radius 0, lower 0, upper +inf).
inline void write_zero_direction(radius_result& res, std::size_t i) {
  res.status[i] = radius_status::zero_direction;
}

} // namespace misd::detail
