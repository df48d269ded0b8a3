// misd/metric/fpr_at_tpr.hpp -- FPR at a fixed TPR (FPR95 for tpr = 0.95).
//
// Convention (docs/algorithms.md, "Metrics"): positive = misclassified, an example is rejected when
// its confidence is at or below a threshold. Over every distinct confidence (ties grouped, no
// interpolation, no ROC point dropped), the result is the smallest fraction of correct examples
// rejected among thresholds that reject at least `tpr` of the wrong ones. Both fractions grow with
// the threshold, so that is the lowest such threshold. The comparison is rejected_wrong / wrong >=
// tpr in doubles, as min(fpr[tpr >= 0.95]) over sklearn's ROC arrays computes it.
//
// Undefined when there are no misclassified examples (TPR is 0/0) or no correct ones
// (FPR is 0/0).
#pragma once

#include "misd/detail/metric_groups.hpp"
#include "misd/error.hpp"
#include "misd/metric/value.hpp"

#include <cstddef>
#include <cstdint>
#include <span>

namespace misd::detail {

inline void check_metric_rate(double rate, const char* name) {
  if (!(rate > 0.0 && rate <= 1.0)) // also rejects NaN
    throw invalid_argument(message("metric: ", name, " = ", rate, " must lie in (0, 1]"));
}

inline metric::metric_value fpr_at_tpr_from(const metric_groups& g, double tpr) {
  check_metric_rate(tpr, "tpr");
  if (g.wrong == 0)
    return metric::metric_value::undefined(no_errors_reason("FPR at TPR", g));
  if (g.correct == 0)
    return metric::metric_value::undefined(no_correct_reason("FPR at TPR", g));
  const double n_wrong = static_cast<double>(g.wrong);
  std::size_t rejected_wrong = 0;
  std::size_t rejected_correct = 0;
  // Thresholds from the lowest confidence up: each rejects one more tie group.
  for (auto it = g.groups.rbegin(); it != g.groups.rend(); ++it) {
    rejected_wrong += it->wrong;
    rejected_correct += it->correct;
    if (static_cast<double>(rejected_wrong) / n_wrong >= tpr)
      break;
  }
  // The last threshold rejects everything (TPR 1 >= tpr), so the loop always stops.
  return metric::metric_value::of(static_cast<double>(rejected_correct) /
                                  static_cast<double>(g.correct));
}

} // namespace misd::detail

namespace misd::metric {

/// Fraction of correct examples rejected at the lowest confidence threshold that
/// rejects at least `tpr` (in (0, 1]) of the misclassified ones; FPR95 for tpr = 0.95.
/// Undefined when there are no misclassified or no correct examples.
/// Throws misd::invalid_argument for tpr outside (0, 1].
inline metric_value fpr_at_tpr(std::span<const double> confidence,
                               std::span<const std::uint8_t> correct, double tpr = 0.95) {
  misd::detail::check_metric_rate(tpr, "tpr");
  return misd::detail::fpr_at_tpr_from(misd::detail::make_metric_groups(confidence, correct), tpr);
}

} // namespace misd::metric
