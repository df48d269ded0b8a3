// misd/score/combined.hpp -- one confidence from two, learned on a labelled (validation) set:
// a two-feature logistic regression of correctness (docs/algorithms.md, "Combined score").
//
//   f_j = scale_j(c_j)           log for a radius (0 -> −inf, +inf -> +inf), as is for a log-space
//                                softmax score such as msr
//   f_j clamped to [lo_j, hi_j]  lo = least finite validation value − 1, hi = greatest + 1, so
//                                radius 0 (zero_direction's "not measured" included) ranks below
//                                every measured radius and +inf ("not found") above, never NaN
//   x_j = (f_j − mean_j) / sd_j  standardised on the validation set (sd 0 -> 1)
//   P(correct) = σ(b + w·x),     fitted by Newton's method on Σ log-loss + (λ/2)‖w‖²
//                                (intercept not penalised: scikit-learn's LogisticRegression
//                                with C = 1/λ)
// The confidence is b + w·x, the logit of P(correct): it ranks as σ(b + w·x) does without
// rounding confident examples to 1.0.
#pragma once

#include "misd/error.hpp"

#include <Eigen/Dense>

#include <array>
#include <cmath>
#include <cstdint>
#include <limits>
#include <span>
#include <vector>

namespace misd::score {

/// How a confidence enters the combination.
enum class feature_scale {
  linear, ///< as it is (log-space scores: msr, doctor, pnorm-softmax, …)
  log,    ///< its logarithm (a robust radius: >= 0, +inf allowed)
};

struct combine_options {
  feature_scale first_scale = feature_scale::log;     ///< the first confidence: a radius
  feature_scale second_scale = feature_scale::linear; ///< the second: a log-space softmax score
  double ridge = 1.0; ///< λ of the L2 penalty (λ/2)‖w‖² on the standardised weights, > 0
  int max_iterations = 100; ///< Newton steps
  double tolerance = 1e-10; ///< stop when max |gradient| <= tolerance · n
};

/// A fitted combination (see the header comment).
struct combined_model {
  std::array<feature_scale, 2> scale{feature_scale::log, feature_scale::linear};
  std::array<double, 2> low{}, high{}; ///< clamp range of the scaled features
  std::array<double, 2> mean{}, sd{1.0, 1.0};
  double intercept = 0.0;
  std::array<double, 2> weight{}; ///< on the standardised features
  /// false when the validation set held one class only: nothing to learn, so the model is
  /// the sum of the two standardised features (weights 1, intercept 0).
  bool fitted = false;
  int iterations = 0;
};

namespace detail {
inline double scaled_feature(double v, feature_scale s, std::size_t i, const char* which) {
  if (std::isnan(v))
    throw invalid_argument(misd::detail::message("combined score: ", which, "[", i, "] is NaN"));
  if (s == feature_scale::linear)
    return v;
  if (v < 0)
    throw invalid_argument(misd::detail::message("combined score: ", which, "[", i, "] = ", v,
                                                 " is negative, but its scale is log"));
  return std::log(v); // 0 -> −inf, +inf -> +inf
}

inline double softplus(double t) {
  return t > 0 ? t + std::log1p(std::exp(-t)) : std::log1p(std::exp(t));
}

inline double sigmoid(double t) {
  return t >= 0 ? 1.0 / (1.0 + std::exp(-t)) : std::exp(t) / (1.0 + std::exp(t));
}

/// Scaled, clamped, standardised features of (first, second).
inline Eigen::MatrixXd combined_features(const combined_model& m, std::span<const double> first,
                                         std::span<const double> second, const char* set) {
  if (first.size() != second.size())
    throw invalid_argument(misd::detail::message("combined score: ", set, " set has ", first.size(),
                                                 " first and ", second.size(),
                                                 " second confidences"));
  Eigen::MatrixXd x(static_cast<Eigen::Index>(first.size()), 2);
  for (std::size_t i = 0; i < first.size(); ++i)
    for (int j = 0; j < 2; ++j) {
      const double v =
          scaled_feature(j == 0 ? first[i] : second[i], m.scale[j], i, j == 0 ? "first" : "second");
      const double c = std::min(std::max(v, m.low[j]), m.high[j]);
      x(static_cast<Eigen::Index>(i), j) = (c - m.mean[j]) / m.sd[j];
    }
  return x;
}
} // namespace detail

/// Fits the combination on validation confidences (first, second) and their 0/1 correctness.
inline combined_model fit_combined(std::span<const double> first, std::span<const double> second,
                                   std::span<const std::uint8_t> correct,
                                   const combine_options& o = {}) {
  const std::size_t n = correct.size();
  if (n == 0)
    throw invalid_argument("misd: combined score: empty validation set");
  if (first.size() != n || second.size() != n)
    throw invalid_argument(
        misd::detail::message("combined score: validation set has ", first.size(), " first and ",
                              second.size(), " second confidences for ", n, " correctness values"));
  if (!(o.ridge > 0) || !std::isfinite(o.ridge))
    throw invalid_argument(
        misd::detail::message("combined score: ridge ", o.ridge, " must be finite and > 0"));
  if (o.max_iterations < 1)
    throw invalid_argument(misd::detail::message("combined score: max_iterations ",
                                                 o.max_iterations, " must be >= 1"));
  combined_model m;
  m.scale = {o.first_scale, o.second_scale};
  std::size_t n_correct = 0;
  for (std::size_t i = 0; i < n; ++i) {
    if (correct[i] > 1)
      throw data_error(misd::detail::message("combined score: correct[", i,
                                             "] = ", unsigned(correct[i]), ", expected 0 or 1"));
    n_correct += correct[i];
  }
  // Clamp range and standardisation from the validation values.
  for (int j = 0; j < 2; ++j) {
    const auto v = j == 0 ? first : second;
    double lo = std::numeric_limits<double>::infinity(), hi = -lo;
    for (std::size_t i = 0; i < n; ++i) {
      const double f = detail::scaled_feature(v[i], m.scale[j], i, j == 0 ? "first" : "second");
      if (std::isfinite(f)) {
        lo = std::min(lo, f);
        hi = std::max(hi, f);
      }
    }
    if (!std::isfinite(lo))
      throw invalid_argument(
          misd::detail::message("combined score: the ", j == 0 ? "first" : "second",
                                " confidence has no finite (scaled) value on the validation set"));
    m.low[j] = lo - 1.0;
    m.high[j] = hi + 1.0;
  }
  m.mean = {0.0, 0.0};
  m.sd = {1.0, 1.0};
  Eigen::MatrixXd x = detail::combined_features(m, first, second, "validation");
  for (int j = 0; j < 2; ++j) {
    const double mu = x.col(j).mean();
    const double sd = std::sqrt((x.col(j).array() - mu).square().mean());
    m.mean[j] = mu;
    m.sd[j] = sd > 0 ? sd : 1.0;
    x.col(j) = (x.col(j).array() - mu) / m.sd[j];
  }
  if (n_correct == 0 || n_correct == n) { // one class: no decision to learn
    m.weight = {1.0, 1.0};
    return m;
  }
  Eigen::VectorXd y(static_cast<Eigen::Index>(n));
  for (std::size_t i = 0; i < n; ++i)
    y[static_cast<Eigen::Index>(i)] = correct[i];
  Eigen::MatrixXd a(static_cast<Eigen::Index>(n), 3);
  a.col(0).setOnes();
  a.rightCols(2) = x;
  const Eigen::Vector3d penalty(0.0, o.ridge, o.ridge);
  auto objective = [&](const Eigen::Vector3d& beta) {
    const Eigen::VectorXd eta = a * beta;
    double f = 0.0;
    for (Eigen::Index i = 0; i < eta.size(); ++i)
      f += detail::softplus(eta[i]) - y[i] * eta[i];
    return f + 0.5 * beta.dot(penalty.cwiseProduct(beta));
  };
  Eigen::Vector3d beta = Eigen::Vector3d::Zero();
  double f = objective(beta);
  for (int it = 0; it < o.max_iterations; ++it) {
    const Eigen::VectorXd eta = a * beta;
    Eigen::VectorXd r(eta.size()), w(eta.size());
    for (Eigen::Index i = 0; i < eta.size(); ++i) {
      const double p = detail::sigmoid(eta[i]);
      r[i] = p - y[i];
      w[i] = p * (1.0 - p);
    }
    const Eigen::Vector3d grad = a.transpose() * r + penalty.cwiseProduct(beta);
    m.iterations = it;
    if (grad.cwiseAbs().maxCoeff() <= o.tolerance * double(n))
      break;
    Eigen::Matrix3d h = a.transpose() * w.asDiagonal() * a;
    h.diagonal() += penalty;
    const Eigen::Vector3d step = h.ldlt().solve(grad);
    // Backtracking keeps every step a descent (Newton alone can overshoot far from the optimum).
    double t = 1.0;
    Eigen::Vector3d next = beta - step;
    double fn = objective(next);
    while (!(fn <= f) && t > 1e-10) {
      t /= 2;
      next = beta - t * step;
      fn = objective(next);
    }
    if (!(fn <= f))
      break;
    beta = next;
    f = fn;
    m.iterations = it + 1;
  }
  m.intercept = beta[0];
  m.weight = {beta[1], beta[2]};
  m.fitted = true;
  return m;
}

/// b + w·x for each pair (first[i], second[i]): higher = more likely correct; finite.
inline std::vector<double> combined_confidence(const combined_model& m,
                                               std::span<const double> first,
                                               std::span<const double> second) {
  const Eigen::MatrixXd x = detail::combined_features(m, first, second, "scored");
  std::vector<double> c(first.size());
  for (std::size_t i = 0; i < c.size(); ++i) {
    const auto r = static_cast<Eigen::Index>(i);
    c[i] = m.intercept + m.weight[0] * x(r, 0) + m.weight[1] * x(r, 1);
  }
  return c;
}

/// Fits on the validation confidences and their correctness, then scores the test pairs.
/// Typical use: first = a radius method's confidences, second = a softmax score's (msr).
inline std::vector<double>
combined_score(std::span<const double> validation_first, std::span<const double> validation_second,
               std::span<const std::uint8_t> validation_correct, std::span<const double> test_first,
               std::span<const double> test_second, const combine_options& o = {}) {
  const auto m = fit_combined(validation_first, validation_second, validation_correct, o);
  return combined_confidence(m, test_first, test_second);
}

} // namespace misd::score
