// misd/metric/aurc.hpp -- area under the risk-coverage curve, and its excess (E-AURC).
//
// docs/algorithms.md, "Metrics": sort by confidence descending; risk-coverage points exist only
// between tie groups. At coverage m/n (the m most confident kept, no tie group split) the selective
// risk is (wrong among kept) / m. The curve runs from coverage 1 to 0 with the last risk repeated
// at coverage 0, and AURC is its trapezoidal area. The value is a plain fraction; tables multiply
// by 1000 as the paper does.
//
// E-AURC = AURC - AURC_optimal with the continuous optimum
// AURC_optimal = err + (1 - err) ln(1 - err), err the error rate.
//
// Both are always defined (n >= 1):
// - no errors: every selective risk is 0, AURC = 0, err = 0, optimum 0, E-AURC = 0;
// - no correct: every risk is 1, AURC = 1; the optimum is taken at its limit
//   err -> 1, i.e. 1 (0 ln 0 = 0), so E-AURC = 0.
// Because the curve is discrete, AURC of a perfect separator (all confidences
// distinct, every correct above every wrong) is the discrete optimum
//   (1/n) [W - P (H_n - H_P) - W / (2n)],  W wrong, P correct, H_k harmonic numbers,
// which lies slightly below the continuous formula (by about P/(12n) (1/P^2 - 1/n^2)),
// so E-AURC of a perfect separator is a small negative number, not 0.
#pragma once

#include "misd/detail/metric_groups.hpp"

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <span>

namespace misd::detail {

inline double aurc_from(const metric_groups& g) {
  const double n = static_cast<double>(g.n);
  double area = 0.0;
  double prev_risk = -1.0; // the risk repeated at coverage 0 is the first group's
  std::size_t kept = 0;
  std::size_t kept_wrong = 0;
  for (const auto& grp : g.groups) {
    kept += grp.correct + grp.wrong;
    kept_wrong += grp.wrong;
    const double risk = static_cast<double>(kept_wrong) / static_cast<double>(kept);
    if (prev_risk < 0.0)
      prev_risk = risk;
    // The coverage step from the previous point is exactly the group's size / n.
    area += static_cast<double>(grp.correct + grp.wrong) / n * (risk + prev_risk) / 2.0;
    prev_risk = risk;
  }
  return area;
}

/// err + (1 - err) ln(1 - err), with its limit 1 at err = 1.
inline double aurc_optimal_from(const metric_groups& g) {
  if (g.wrong == g.n)
    return 1.0;
  const double err = static_cast<double>(g.wrong) / static_cast<double>(g.n);
  return err + (1.0 - err) * std::log1p(-err);
}

} // namespace misd::detail

namespace misd::metric {

/// Trapezoidal area under the risk-coverage curve (a fraction, not x1000).
/// Always defined; 0 with no errors, 1 with no correct examples.
inline double aurc(std::span<const double> confidence, std::span<const std::uint8_t> correct) {
  return misd::detail::aurc_from(misd::detail::make_metric_groups(confidence, correct));
}

/// The continuous AURC optimum err + (1 - err) ln(1 - err) for the error rate of `correct`
/// (1 when every example is wrong, the formula's limit).
inline double aurc_optimal(std::span<const double> confidence,
                           std::span<const std::uint8_t> correct) {
  return misd::detail::aurc_optimal_from(misd::detail::make_metric_groups(confidence, correct));
}

/// E-AURC = AURC - AURC_optimal. Always defined; may be slightly negative for
/// near-perfect separators on small n (see the header comment).
inline double eaurc(std::span<const double> confidence, std::span<const std::uint8_t> correct) {
  const auto g = misd::detail::make_metric_groups(confidence, correct);
  return misd::detail::aurc_from(g) - misd::detail::aurc_optimal_from(g);
}

} // namespace misd::metric
