// misd/metric/summary.hpp -- every headline metric from one sort.
//
// The fields are those `misd metrics --format json` prints (docs/cli.md): n, errors,
// accuracy, auroc, fpr95, aurc (a fraction, not x1000), eaurc, aupr_error,
// aupr_success. Undefined metrics stay metric_value without a value and with the
// reason; see each metric's header for when that happens.
#pragma once

#include "misd/detail/metric_groups.hpp"
#include "misd/metric/aupr.hpp"
#include "misd/metric/aurc.hpp"
#include "misd/metric/auroc.hpp"
#include "misd/metric/fpr_at_tpr.hpp"
#include "misd/metric/value.hpp"

#include <cstddef>
#include <cstdint>
#include <span>

namespace misd::metric {

/// The headline misclassification-detection metrics of one set of confidences.
struct summary {
  std::size_t n = 0;      // examples
  std::size_t errors = 0; // misclassified examples
  double accuracy = 0.0;  // (n - errors) / n
  metric_value auroc;
  metric_value fpr95; // fpr_at_tpr(..., 0.95)
  double aurc = 0.0;  // fraction; x1000 in the paper's tables
  double eaurc = 0.0;
  metric_value aupr_error;
  metric_value aupr_success;
};

/// All headline metrics with one O(n log n) sort.
inline summary evaluate(std::span<const double> confidence, std::span<const std::uint8_t> correct) {
  namespace d = misd::detail;
  const auto g = d::make_metric_groups(confidence, correct);
  summary s;
  s.n = g.n;
  s.errors = g.wrong;
  s.accuracy = static_cast<double>(g.correct) / static_cast<double>(g.n);
  s.auroc = d::auroc_from(g);
  s.fpr95 = d::fpr_at_tpr_from(g, 0.95);
  s.aurc = d::aurc_from(g);
  s.eaurc = s.aurc - d::aurc_optimal_from(g);
  s.aupr_error = d::average_precision_from(g, positive::error);
  s.aupr_success = d::average_precision_from(g, positive::success);
  return s;
}

} // namespace misd::metric
