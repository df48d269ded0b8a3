// misd/metric/risk_coverage.hpp -- the risk-coverage curve and its operating points.
//
// The curve (docs/algorithms.md, "Metrics"): examples sorted by confidence descending, one point
// per tie group boundary (a tie group is never split): coverage m/n with selective risk (wrong
// among the m kept) / m. Points run from coverage 1 down to the smallest group boundary, then the
// last risk is repeated at coverage 0. AURC (aurc.hpp) is its trapezoidal area.
//
// Operating points use the curve's points only, no interpolation:
// - risk_at_coverage(c): the risk at the smallest point whose coverage is >= c (keep at
//   least the requested fraction; at c = 0 that is the repeated point). Always defined.
// - coverage_at_risk(r): the largest coverage among points whose risk is <= r.
//   Undefined when no point reaches r; the reason names the lowest achievable risk.
#pragma once

#include "misd/detail/metric_groups.hpp"
#include "misd/error.hpp"
#include "misd/metric/value.hpp"

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace misd::metric {

/// Risk-coverage curve: coverage[k] descending from 1 to 0, risk[k] its selective risk.
struct risk_coverage {
  std::vector<double> coverage;
  std::vector<double> risk;
};

} // namespace misd::metric

namespace misd::detail {

inline void check_metric_fraction(double x, const char* name) {
  if (!(x >= 0.0 && x <= 1.0)) // also rejects NaN
    throw invalid_argument(message("metric: ", name, " = ", x, " must lie in [0, 1]"));
}

inline metric::risk_coverage risk_coverage_from(const metric_groups& g) {
  const std::size_t k = g.groups.size();
  // Ascending coverage first (cumulative counts), reversed at the end.
  metric::risk_coverage out;
  out.coverage.reserve(k + 1);
  out.risk.reserve(k + 1);
  std::size_t kept = 0;
  std::size_t kept_wrong = 0;
  for (const auto& grp : g.groups) {
    kept += grp.correct + grp.wrong;
    kept_wrong += grp.wrong;
    out.coverage.push_back(static_cast<double>(kept) / static_cast<double>(g.n));
    out.risk.push_back(static_cast<double>(kept_wrong) / static_cast<double>(kept));
  }
  out.coverage.insert(out.coverage.begin(), 0.0);
  out.risk.insert(out.risk.begin(), out.risk.front());
  std::reverse(out.coverage.begin(), out.coverage.end());
  std::reverse(out.risk.begin(), out.risk.end());
  return out;
}

inline double risk_at_coverage_from(const metric_groups& g, double coverage) {
  check_metric_fraction(coverage, "coverage");
  std::size_t kept = 0;
  std::size_t kept_wrong = 0;
  for (const auto& grp : g.groups) {
    kept += grp.correct + grp.wrong;
    kept_wrong += grp.wrong;
    // The first group's risk is also the curve's value at coverage 0.
    if (static_cast<double>(kept) / static_cast<double>(g.n) >= coverage)
      break;
  }
  return static_cast<double>(kept_wrong) / static_cast<double>(kept);
}

inline metric::metric_value coverage_at_risk_from(const metric_groups& g, double risk) {
  check_metric_fraction(risk, "risk");
  std::size_t kept = 0;
  std::size_t kept_wrong = 0;
  double best = -1.0;
  double lowest = 2.0;
  for (const auto& grp : g.groups) {
    kept += grp.correct + grp.wrong;
    kept_wrong += grp.wrong;
    const double r = static_cast<double>(kept_wrong) / static_cast<double>(kept);
    lowest = r < lowest ? r : lowest;
    if (r <= risk)
      best = static_cast<double>(kept) / static_cast<double>(g.n);
  }
  if (best < 0.0)
    return metric::metric_value::undefined(
        "coverage at risk " + std::to_string(risk) +
        " is undefined: no confidence threshold reaches it (lowest selective risk " +
        std::to_string(lowest) + ")");
  return metric::metric_value::of(best);
}

} // namespace misd::detail

namespace misd::metric {

/// Every point of the risk-coverage curve, from coverage 1 to coverage 0.
inline risk_coverage risk_coverage_curve(std::span<const double> confidence,
                                         std::span<const std::uint8_t> correct) {
  return misd::detail::risk_coverage_from(misd::detail::make_metric_groups(confidence, correct));
}

/// Selective risk when keeping the most confident examples until at least `coverage`
/// (in [0, 1]) of them are kept, whole tie groups at a time.
inline double risk_at_coverage(std::span<const double> confidence,
                               std::span<const std::uint8_t> correct, double coverage) {
  misd::detail::check_metric_fraction(coverage, "coverage");
  return misd::detail::risk_at_coverage_from(misd::detail::make_metric_groups(confidence, correct),
                                             coverage);
}

/// Largest coverage whose selective risk is at most `risk` (in [0, 1]); undefined when
/// no confidence threshold reaches that risk.
inline metric_value coverage_at_risk(std::span<const double> confidence,
                                     std::span<const std::uint8_t> correct, double risk) {
  misd::detail::check_metric_fraction(risk, "risk");
  return misd::detail::coverage_at_risk_from(misd::detail::make_metric_groups(confidence, correct),
                                             risk);
}

} // namespace misd::metric
