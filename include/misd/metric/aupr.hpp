// misd/metric/aupr.hpp -- area under the precision-recall curve as average precision.
//
// Average precision as scikit-learn's average_precision_score computes it: the
// step-wise sum  sum_k (R_k - R_{k-1}) P_k  over distinct score thresholds taken from
// the highest score down (R_0 = 0), not a trapezoid.
// - aupr_error:   misclassified examples positive, score -confidence;
// - aupr_success: correct examples positive, score confidence.
//
// Defined exactly when the positive class is present (recall divides by its size):
// aupr_error is undefined with no misclassified examples, aupr_success with no correct
// ones. With only positives the value is 1 (precision is 1 at every threshold), as
// scikit-learn returns; it says nothing about the ranking, but it is a true value.
#pragma once

#include "misd/detail/metric_groups.hpp"
#include "misd/metric/value.hpp"

#include <cstddef>
#include <cstdint>
#include <span>

namespace misd::detail {

inline metric::metric_value average_precision_from(const metric_groups& g, metric::positive pos) {
  const bool err = pos == metric::positive::error;
  const std::size_t n_pos = err ? g.wrong : g.correct;
  if (n_pos == 0)
    return metric::metric_value::undefined(err ? no_errors_reason("AUPR-error", g)
                                               : no_correct_reason("AUPR-success", g));
  const std::size_t k = g.groups.size();
  double ap = 0.0;
  std::size_t flagged = 0;
  std::size_t tp = 0;
  // Score descending: -c for errors means confidence ascending.
  for (std::size_t i = 0; i < k; ++i) {
    const auto& grp = err ? g.groups[k - 1 - i] : g.groups[i];
    const std::size_t pos_here = err ? grp.wrong : grp.correct;
    flagged += grp.correct + grp.wrong;
    tp += pos_here;
    // Recall steps by pos_here / n_pos; the division is done once at the end, so
    // that a perfect ranking gives exactly 1.
    if (pos_here != 0)
      ap +=
          static_cast<double>(pos_here) * (static_cast<double>(tp) / static_cast<double>(flagged));
  }
  return metric::metric_value::of(ap / static_cast<double>(n_pos));
}

} // namespace misd::detail

namespace misd::metric {

/// Average precision for detecting misclassified examples by low confidence.
/// Undefined when there are no misclassified examples.
inline metric_value aupr_error(std::span<const double> confidence,
                               std::span<const std::uint8_t> correct) {
  return misd::detail::average_precision_from(misd::detail::make_metric_groups(confidence, correct),
                                              positive::error);
}

/// Average precision for finding correct examples by high confidence.
/// Undefined when there are no correct examples.
inline metric_value aupr_success(std::span<const double> confidence,
                                 std::span<const std::uint8_t> correct) {
  return misd::detail::average_precision_from(misd::detail::make_metric_groups(confidence, correct),
                                              positive::success);
}

} // namespace misd::metric
