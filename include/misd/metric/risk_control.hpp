// misd/metric/risk_control.hpp -- reject thresholds with a finite-sample risk guarantee
// (docs/algorithms.md, "Risk-controlling thresholds").
//
// Given a labelled calibration set (confidence, correct), both procedures pick a confidence
// threshold such that, with probability at least 1 - delta over the draw of the calibration
// set, the selective risk (error rate among accepted examples) of a new exchangeable example
// is at most target_risk:
// - sgr_threshold: selection with guaranteed risk. A bisection over the sorted scores, each
//   candidate bounded by the exact Clopper-Pearson upper limit at delta / ceil(log2 m) (a
//   union bound over the candidates it visits). Accepts score >= threshold.
// - ltt_threshold: Learn-then-Test with fixed-sequence testing. A label-free grid of
//   thresholds, tested from the highest down with a binomial (or Hoeffding-Bentkus) p-value
//   until the first that fails. Accepts score > threshold.
// When no candidate reaches the bound the result abstains (threshold +infinity, flagged). A
// calibration set that could not reach the bound even with no errors at all is a data_error
// naming the smallest size that could.
#pragma once

#include "misd/error.hpp"

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <limits>
#include <numeric>
#include <span>
#include <utility>
#include <vector>

namespace misd::metric {

/// How Learn-then-Test turns (errors, accepted) into a p-value for "risk > target".
enum class ltt_p_value { binomial, hoeffding_bentkus };

struct sgr_options {
  double target_risk = 0.02; ///< r*, in (0, 1)
  double delta = 0.001;      ///< failure probability, in (0, 1)
};

struct ltt_options {
  double target_risk = 0.02; ///< alpha, in (0, 1)
  double delta = 0.001;      ///< failure probability, in (0, 1)
  /// Quantiles of the calibration scores used as the grid (ignored when `grid` is given).
  std::size_t grid_points = 1000;
  /// Grid points accepting fewer calibration examples than this are skipped.
  std::size_t min_accepted = 25;
  ltt_p_value p_value = ltt_p_value::binomial;
  /// A grid fixed in advance (any order, duplicates merged); empty: the quantile grid.
  std::vector<double> grid = {};
};

/// A reject threshold and what it does on the calibration set.
struct risk_threshold {
  double threshold = std::numeric_limits<double>::infinity(); ///< +infinity when abstaining
  bool inclusive = true; ///< true: accept score >= threshold (SGR); false: score > threshold (LTT)
  bool abstains = true;  ///< no candidate threshold met the bound
  std::size_t calibration_size = 0, accepted = 0, errors = 0; ///< on the calibration set
  double coverage = 0.0;                                      ///< accepted / calibration_size
  double empirical_risk = 0.0; ///< errors / accepted (0 when none accepted)
  /// SGR: the bound b_i at the chosen threshold (the least b_i when abstaining). LTT: the
  /// Clopper-Pearson upper limit at delta at the chosen threshold, for comparison (1 when
  /// abstaining).
  double risk_bound = 1.0;
  /// LTT: the p-value at the chosen threshold (1 when abstaining). SGR: 0 (not used).
  double p_value = 0.0;

  /// Whether an example of confidence `score` is accepted (never when abstaining).
  bool accepts(double score) const noexcept {
    if (abstains)
      return false;
    return inclusive ? score >= threshold : score > threshold;
  }
};

/// A threshold applied to a (test) set.
struct selective_outcome {
  std::size_t size = 0, accepted = 0, errors = 0;
  double coverage = 0.0; ///< accepted / size
  double risk = 0.0;     ///< errors / accepted (0 when none accepted)
};

} // namespace misd::metric

namespace misd::detail {

inline void check_risk_fraction(double x, const char* what, const char* name) {
  if (!(x > 0.0 && x < 1.0)) // also rejects NaN
    throw invalid_argument(message(what, ": ", name, " = ", x, " must lie in (0, 1)"));
}

/// Sizes, finiteness and 0/1 labels of a calibration or test set.
inline void check_risk_input(std::span<const double> confidence,
                             std::span<const std::uint8_t> correct, const char* what) {
  if (confidence.size() != correct.size())
    throw invalid_argument(message(what, ": confidence has ", confidence.size(),
                                   " elements but correct has ", correct.size()));
  if (confidence.empty())
    throw invalid_argument(message(what, ": empty input (0 examples)"));
  for (std::size_t i = 0; i < confidence.size(); ++i) {
    if (!std::isfinite(confidence[i]))
      throw data_error(message(what, ": confidence[", i, "] = ", confidence[i], " is not finite"));
    if (correct[i] > 1)
      throw data_error(message(what, ": correct[", i, "] = ", static_cast<unsigned>(correct[i]),
                               ", expected 0 or 1"));
  }
}

/// log P(Bin(n, p) <= e). Sums the terms from the largest one outwards, each relative to it,
/// so nothing overflows or underflows before the logarithm.
inline double log_binomial_cdf(std::size_t e, std::size_t n, double p) {
  if (e >= n || p <= 0.0)
    return 0.0;
  if (p >= 1.0)
    return -std::numeric_limits<double>::infinity();
  const double nd = static_cast<double>(n);
  const double lp = std::log(p), lq = std::log1p(-p);
  // The largest term with k <= e is at min(e, mode), the mode being floor((n + 1) p).
  const double mode = std::floor((nd + 1.0) * p);
  const std::size_t top = std::min(e, static_cast<std::size_t>(std::min(mode, nd)));
  const double kt = static_cast<double>(top);
  const double log_top = std::lgamma(nd + 1.0) - std::lgamma(kt + 1.0) -
                         std::lgamma(nd - kt + 1.0) + kt * lp + (nd - kt) * lq;
  const double odds = p / (1.0 - p);
  double sum = 1.0, term = 1.0;
  // Downwards: t(k-1) / t(k) = k / ((n - k + 1) odds).
  for (std::size_t k = top; k > 0; --k) {
    term *= static_cast<double>(k) / ((nd - static_cast<double>(k) + 1.0) * odds);
    sum += term;
    if (term < 1e-18 * sum)
      break;
  }
  // Upwards to e: t(k+1) / t(k) = (n - k) odds / (k + 1).
  term = 1.0;
  for (std::size_t k = top; k < e; ++k) {
    term *= (nd - static_cast<double>(k)) * odds / (static_cast<double>(k) + 1.0);
    sum += term;
    if (term < 1e-18 * sum)
      break;
  }
  return std::min(0.0, log_top + std::log(sum));
}

/// Errors among examples with confidence >= (or >) a value, by binary search over the
/// calibration set sorted ascending with suffix error counts.
struct sorted_calibration {
  std::vector<double> value;       ///< ascending
  std::vector<std::size_t> errors; ///< errors[i]: errors among value[i..m)
  std::size_t size() const { return value.size(); }

  sorted_calibration(std::span<const double> confidence, std::span<const std::uint8_t> correct) {
    const std::size_t m = confidence.size();
    std::vector<std::pair<double, std::uint8_t>> items(m);
    for (std::size_t i = 0; i < m; ++i)
      items[i] = {confidence[i], correct[i]};
    std::sort(items.begin(), items.end(),
              [](const auto& a, const auto& b) { return a.first < b.first; });
    value.resize(m);
    errors.assign(m + 1, 0);
    for (std::size_t i = m; i-- > 0;) {
      value[i] = items[i].first;
      errors[i] = errors[i + 1] + (items[i].second == 0 ? 1 : 0);
    }
  }
  /// (accepted, errors) for score >= t (inclusive) or score > t.
  std::pair<std::size_t, std::size_t> count(double t, bool inclusive) const {
    const auto it = inclusive ? std::lower_bound(value.begin(), value.end(), t)
                              : std::upper_bound(value.begin(), value.end(), t);
    const auto i = static_cast<std::size_t>(it - value.begin());
    return {size() - i, errors[i]};
  }
};

/// ceil(log2 m), at least 1: the number of candidates SGR's bisection visits.
inline std::size_t sgr_rounds(std::size_t m) {
  std::size_t k = 0;
  while (k < 63 && (std::size_t{1} << k) < m)
    ++k;
  return std::max<std::size_t>(k, 1);
}

inline void fill_outcome(metric::risk_threshold& r, std::size_t accepted, std::size_t errors) {
  r.accepted = accepted;
  r.errors = errors;
  r.coverage = static_cast<double>(accepted) / static_cast<double>(r.calibration_size);
  r.empirical_risk =
      accepted == 0 ? 0.0 : static_cast<double>(errors) / static_cast<double>(accepted);
}

} // namespace misd::detail

namespace misd::metric {

/// P(Bin(n, p) <= errors), computed in log space; p in [0, 1].
inline double binomial_cdf(std::size_t errors, std::size_t n, double p) {
  if (!(p >= 0.0 && p <= 1.0))
    throw invalid_argument(detail::message("binomial_cdf: p = ", p, " must lie in [0, 1]"));
  return std::exp(detail::log_binomial_cdf(errors, n, p));
}

/// B*(e, n, delta): the exact (Clopper-Pearson) upper confidence limit of a binomial rate,
/// the largest b with P(Bin(n, b) <= e) >= delta, i.e. the (1 - delta) quantile of
/// Beta(e + 1, n - e). 1 when e = n; 1 - delta^(1/n) when e = 0; otherwise bisection to
/// 1e-12, returning the upper end (the bound never rounds down).
inline double binomial_upper_bound(std::size_t errors, std::size_t n, double delta) {
  detail::check_risk_fraction(delta, "binomial_upper_bound", "delta");
  if (n == 0)
    throw invalid_argument(detail::message("binomial_upper_bound: n = 0 trials"));
  if (errors > n)
    throw invalid_argument(
        detail::message("binomial_upper_bound: ", errors, " errors in ", n, " trials"));
  if (errors == n)
    return 1.0;
  const double log_delta = std::log(delta);
  if (errors == 0)
    return -std::expm1(log_delta / static_cast<double>(n));
  // The CDF falls with b; at b = e/n it is about 1/2, so for delta above that search [0, e/n].
  double lo = static_cast<double>(errors) / static_cast<double>(n), hi = 1.0;
  if (detail::log_binomial_cdf(errors, n, lo) < log_delta) {
    hi = lo;
    lo = 0.0;
  }
  while (hi - lo >= 1e-12) {
    const double mid = 0.5 * (lo + hi);
    if (mid <= lo || mid >= hi)
      break;
    (detail::log_binomial_cdf(errors, n, mid) >= log_delta ? lo : hi) = mid;
  }
  return hi;
}

/// The smallest calibration size m for which SGR could reach `target_risk` at all: the
/// bound of the best possible case, every one of the m examples accepted and none wrong,
/// 1 - (delta / ceil(log2 m))^(1/m), is at most target_risk. Below it no threshold can meet
/// the bound whatever the data. (With distinct scores SGR's first candidate accepts about
/// half the set, so in practice about twice this many error-free examples are needed.)
inline std::size_t minimum_calibration_size(double target_risk, double delta) {
  detail::check_risk_fraction(target_risk, "minimum_calibration_size", "target_risk");
  detail::check_risk_fraction(delta, "minimum_calibration_size", "delta");
  const auto reaches = [&](std::size_t m) {
    return binomial_upper_bound(0, m, delta / static_cast<double>(detail::sgr_rounds(m))) <=
           target_risk;
  };
  // Within each block of sizes sharing ceil(log2 m) the bound falls with m: find the first
  // block whose largest size reaches it, then the least size in that block that does.
  std::size_t lo = 1;
  for (std::size_t k = 1; k < 63; ++k) {
    std::size_t hi = std::size_t{1} << k;
    if (reaches(hi)) {
      while (lo < hi) {
        const std::size_t mid = lo + (hi - lo) / 2;
        if (reaches(mid))
          hi = mid;
        else
          lo = mid + 1;
      }
      return lo;
    }
    lo = hi + 1;
  }
  throw invalid_argument(detail::message("minimum_calibration_size: target_risk = ", target_risk,
                                         " is too small to reach"));
}

/// The smallest calibration size for which Learn-then-Test could reach `target_risk`: a grid
/// point accepting n >= min_accepted error-free examples has p-value (1 - alpha)^n (for both
/// p-values), at most delta once n >= log(delta) / log(1 - alpha).
inline std::size_t ltt_minimum_calibration_size(double target_risk, double delta,
                                                std::size_t min_accepted = 25) {
  detail::check_risk_fraction(target_risk, "ltt_minimum_calibration_size", "target_risk");
  detail::check_risk_fraction(delta, "ltt_minimum_calibration_size", "delta");
  auto n = static_cast<std::size_t>(std::ceil(std::log(delta) / std::log1p(-target_risk)));
  n = std::max<std::size_t>(n, 1);
  while (n > 1 && std::exp(static_cast<double>(n - 1) * std::log1p(-target_risk)) <= delta)
    --n;
  while (std::exp(static_cast<double>(n) * std::log1p(-target_risk)) > delta)
    ++n;
  return std::max(n, min_accepted);
}

/// Selection with guaranteed risk: the least threshold theta among the ceil(log2 m) bisection
/// candidates whose bound B*(errors, accepted, delta / ceil(log2 m)) is at most target_risk;
/// accepts score >= theta. Ties are never split (a candidate accepts every example of its
/// value). Abstains (flagged) when no candidate's bound reaches target_risk.
inline risk_threshold sgr_threshold(std::span<const double> confidence,
                                    std::span<const std::uint8_t> correct, const sgr_options& o) {
  detail::check_risk_fraction(o.target_risk, "sgr_threshold", "target_risk");
  detail::check_risk_fraction(o.delta, "sgr_threshold", "delta");
  detail::check_risk_input(confidence, correct, "sgr_threshold");
  const std::size_t m = confidence.size();
  if (const std::size_t need = minimum_calibration_size(o.target_risk, o.delta); m < need)
    throw data_error(detail::message(
        "sgr_threshold: a calibration set of ", m, " examples is too small to reach risk ",
        o.target_risk, " at delta ", o.delta, " even with no errors: it needs at least ", need));
  const detail::sorted_calibration cal(confidence, correct);
  const std::size_t k = detail::sgr_rounds(m);
  const double delta_each = o.delta / static_cast<double>(k);

  risk_threshold r;
  r.inclusive = true;
  r.calibration_size = m;
  r.p_value = 0.0;
  double least_bound = 1.0;
  std::size_t z_lo = 1, z_hi = m;
  for (std::size_t i = 0; i < k; ++i) {
    const std::size_t z = (z_lo + z_hi + 1) / 2; // ceil, 1-based rank
    const double theta = cal.value[z - 1];
    const auto [n, e] = cal.count(theta, true);
    const double b = binomial_upper_bound(e, n, delta_each);
    least_bound = std::min(least_bound, b);
    if (b <= o.target_risk) {
      if (r.abstains || theta < r.threshold) {
        r.abstains = false;
        r.threshold = theta;
        r.risk_bound = b;
        detail::fill_outcome(r, n, e);
      }
      z_hi = z;
    } else {
      z_lo = z;
    }
  }
  if (r.abstains)
    r.risk_bound = least_bound;
  return r;
}

} // namespace misd::metric

namespace misd::detail {

/// ltt_grid from the calibration scores sorted ascending.
inline std::vector<double> ltt_grid_sorted(std::span<const double> sorted,
                                           const metric::ltt_options& o) {
  std::vector<double> grid;
  if (!o.grid.empty()) {
    for (std::size_t i = 0; i < o.grid.size(); ++i)
      if (!std::isfinite(o.grid[i]))
        throw invalid_argument(
            message("ltt_threshold: grid[", i, "] = ", o.grid[i], " is not finite"));
    grid = o.grid;
  } else {
    const std::size_t m = sorted.size(), n_grid = o.grid_points;
    grid.reserve(n_grid);
    for (std::size_t j = 1; j <= n_grid; ++j)
      grid.push_back(sorted[(n_grid - j) * (m - 1) / n_grid]);
  }
  std::sort(grid.begin(), grid.end(), std::greater<>());
  grid.erase(std::unique(grid.begin(), grid.end()), grid.end());
  return grid;
}

} // namespace misd::detail

namespace misd::metric {

/// The descending, duplicate-free grid Learn-then-Test tests: `o.grid` when given, otherwise
/// the calibration scores' order statistics at ranks floor((N - j)(m - 1) / N), j = 1..N
/// (label-free).
inline std::vector<double> ltt_grid(std::span<const double> confidence, const ltt_options& o) {
  if (o.grid.empty() && (confidence.empty() || o.grid_points == 0))
    throw invalid_argument(detail::message("ltt_grid: ", confidence.size(), " confidences and ",
                                           o.grid_points, " grid points, expected >= 1 of each"));
  std::vector<double> sorted(confidence.begin(), confidence.end());
  std::sort(sorted.begin(), sorted.end());
  return detail::ltt_grid_sorted(sorted, o);
}

/// The p-value of "risk > alpha" after `errors` errors among `n` accepted examples.
inline double ltt_p_value_of(std::size_t errors, std::size_t n, double alpha, ltt_p_value kind) {
  const double binom = binomial_cdf(errors, n, alpha);
  if (kind == ltt_p_value::binomial)
    return binom;
  const double a = std::min(static_cast<double>(errors) / static_cast<double>(n), alpha);
  // h(a, alpha) = a ln(a / alpha) + (1 - a) ln((1 - a) / (1 - alpha)), with 0 ln 0 = 0.
  const double h =
      (a > 0.0 ? a * std::log(a / alpha) : 0.0) + (1.0 - a) * (std::log1p(-a) - std::log1p(-alpha));
  const double hoeffding = std::exp(-static_cast<double>(n) * h);
  return std::min(hoeffding, std::exp(1.0) * binom);
}

/// Learn-then-Test with fixed-sequence testing: walks the grid from its highest threshold
/// down, skipping points that accept fewer than ltt_minimum_calibration_size(target_risk,
/// delta, min_accepted) calibration examples (too few for any p-value to reach delta), and keeps
/// the last threshold whose p-value is at most delta, stopping at the first that is not.
/// Accepts score > lambda. Abstains (flagged) when the first tested point already fails.
inline risk_threshold ltt_threshold(std::span<const double> confidence,
                                    std::span<const std::uint8_t> correct, const ltt_options& o) {
  detail::check_risk_fraction(o.target_risk, "ltt_threshold", "target_risk");
  detail::check_risk_fraction(o.delta, "ltt_threshold", "delta");
  if (o.grid.empty() && o.grid_points == 0)
    throw invalid_argument(detail::message("ltt_threshold: grid_points = 0, expected >= 1"));
  for (std::size_t i = 0; i < o.grid.size(); ++i)
    if (!std::isfinite(o.grid[i]))
      throw invalid_argument(
          detail::message("ltt_threshold: grid[", i, "] = ", o.grid[i], " is not finite"));
  detail::check_risk_input(confidence, correct, "ltt_threshold");
  const std::size_t m = confidence.size();
  const std::size_t need_any = ltt_minimum_calibration_size(o.target_risk, o.delta, o.min_accepted);
  if (const std::size_t need = need_any; m < need)
    throw data_error(detail::message(
        "ltt_threshold: a calibration set of ", m, " examples is too small to reach risk ",
        o.target_risk, " at delta ", o.delta, " even with no errors: it needs at least ", need));
  const detail::sorted_calibration cal(confidence, correct);
  // Points accepting fewer than `need` examples fail whatever their labels (p >= (1 - alpha)^n
  // > delta), so the chain starts after them; which points those are depends on the scores
  // only, so the sequence is still fixed before the labels are seen.
  const std::size_t first_count = std::max<std::size_t>(need_any, 1);

  risk_threshold r;
  r.inclusive = false;
  r.calibration_size = m;
  r.p_value = 1.0;
  r.risk_bound = 1.0;
  for (const double lambda : detail::ltt_grid_sorted(cal.value, o)) {
    const auto [n, e] = cal.count(lambda, false);
    if (n < first_count)
      continue;
    const double p = ltt_p_value_of(e, n, o.target_risk, o.p_value);
    if (p > o.delta)
      break;
    r.abstains = false;
    r.threshold = lambda;
    r.p_value = p;
    detail::fill_outcome(r, n, e);
  }
  if (!r.abstains)
    r.risk_bound = binomial_upper_bound(r.errors, r.accepted, o.delta);
  return r;
}

/// What threshold `t` accepts on a labelled set, and the risk among the accepted.
inline selective_outcome apply_threshold(const risk_threshold& t,
                                         std::span<const double> confidence,
                                         std::span<const std::uint8_t> correct) {
  detail::check_risk_input(confidence, correct, "apply_threshold");
  selective_outcome out;
  out.size = confidence.size();
  for (std::size_t i = 0; i < confidence.size(); ++i) {
    if (t.accepts(confidence[i])) {
      ++out.accepted;
      out.errors += correct[i] == 0 ? 1 : 0;
    }
  }
  out.coverage = static_cast<double>(out.accepted) / static_cast<double>(out.size);
  out.risk =
      out.accepted == 0 ? 0.0 : static_cast<double>(out.errors) / static_cast<double>(out.accepted);
  return out;
}

} // namespace misd::metric
