// misd/metric/auroc.hpp -- AUROC and the full ROC curve.
//
// AUROC = P(c_correct > c_wrong) + 1/2 P(c_correct = c_wrong) (Mann-Whitney with
// mid-ranks). It is symmetric in which class is called positive, so it equals both
// sklearn's roc_auc_score(correct, c) and roc_auc_score(wrong, -c).
//
// Undefined (metric_value without a value) when there are no misclassified examples
// or no correct ones: the probability compares one of each. roc_curve throws
// misd::undefined_metric in those cases, since one of its rates would be 0/0.
#pragma once

#include "misd/detail/metric_groups.hpp"
#include "misd/error.hpp"
#include "misd/metric/value.hpp"

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

namespace misd::metric {

/// A ROC curve: fpr[k], tpr[k] for the k-th threshold, thresholds descending in score.
struct roc {
  std::vector<double> fpr;
  std::vector<double> tpr;
  std::vector<double> thresholds;
};

} // namespace misd::metric

namespace misd::detail {

inline metric::metric_value auroc_from(const metric_groups& g) {
  if (g.wrong == 0)
    return metric::metric_value::undefined(no_errors_reason("AUROC", g));
  if (g.correct == 0)
    return metric::metric_value::undefined(no_correct_reason("AUROC", g));
  // Twice the Mann-Whitney U in integers: a correct example scores 2 against every
  // wrong one below it and 1 against every wrong one tied with it. Exact for n < 2^32.
  std::uint64_t twice_u = 0;
  std::uint64_t wrong_below = g.wrong;
  for (const auto& grp : g.groups) {
    wrong_below -= grp.wrong;
    twice_u += static_cast<std::uint64_t>(grp.correct) * (2 * wrong_below + grp.wrong);
  }
  const double pairs = static_cast<double>(g.correct) * static_cast<double>(g.wrong);
  return metric::metric_value::of(static_cast<double>(twice_u) / (2.0 * pairs));
}

inline metric::roc roc_from(const metric_groups& g, metric::positive pos) {
  if (g.wrong == 0)
    throw undefined_metric(message(no_errors_reason("the ROC curve", g)));
  if (g.correct == 0)
    throw undefined_metric(message(no_correct_reason("the ROC curve", g)));
  const bool err = pos == metric::positive::error;
  const double n_pos = static_cast<double>(err ? g.wrong : g.correct);
  const double n_neg = static_cast<double>(err ? g.correct : g.wrong);
  const std::size_t k = g.groups.size();
  metric::roc out;
  out.fpr.reserve(k + 1);
  out.tpr.reserve(k + 1);
  out.thresholds.reserve(k + 1);
  // sklearn's first point: nothing flagged, threshold = highest score + 1
  // (scikit-learn < 1.3; from 1.3 on it writes +inf there instead).
  out.fpr.push_back(0.0);
  out.tpr.push_back(0.0);
  out.thresholds.push_back(0.0); // set below, once the highest score is known
  std::size_t tp = 0;
  std::size_t fp = 0;
  // Score descending: -c for errors means confidence ascending.
  for (std::size_t i = 0; i < k; ++i) {
    const auto& grp = err ? g.groups[k - 1 - i] : g.groups[i];
    tp += err ? grp.wrong : grp.correct;
    fp += err ? grp.correct : grp.wrong;
    out.fpr.push_back(static_cast<double>(fp) / n_neg);
    out.tpr.push_back(static_cast<double>(tp) / n_pos);
    out.thresholds.push_back(err ? -grp.value : grp.value);
  }
  out.thresholds[0] = out.thresholds[1] + 1.0;
  return out;
}

} // namespace misd::detail

namespace misd::metric {

/// AUROC of confidence for separating correct (higher) from misclassified examples.
/// Undefined when there are no misclassified or no correct examples.
inline metric_value auroc(std::span<const double> confidence,
                          std::span<const std::uint8_t> correct) {
  return misd::detail::auroc_from(misd::detail::make_metric_groups(confidence, correct));
}

/// Every point of the ROC curve, exactly as scikit-learn's
/// roc_curve(y, score, drop_intermediate=False) returns it:
/// - positive::error   (default): y = misclassified, score = -confidence; an example is
///   flagged at point k when -confidence >= thresholds[k], i.e. confidence <= -thresholds[k];
/// - positive::success: y = correct, score = confidence; accepted when confidence >= thresholds[k].
/// One point per distinct confidence (ties grouped) after a first point (0, 0) whose
/// threshold is the highest score + 1 (scikit-learn < 1.3's convention; 1.3+ uses +inf).
/// Throws misd::undefined_metric when there are no misclassified or no correct examples.
inline roc roc_curve(std::span<const double> confidence, std::span<const std::uint8_t> correct,
                     positive pos = positive::error) {
  return misd::detail::roc_from(misd::detail::make_metric_groups(confidence, correct), pos);
}

} // namespace misd::metric
