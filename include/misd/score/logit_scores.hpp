// misd/score/logit_scores.hpp -- confidence scores that need only the logits
// (the paper's confidence-score baselines). Higher = more likely correct.
//
// Softmax-based scores are computed from log-probabilities,
//   log p_top = −log1p(Σ_{k≠top} exp((z_k − z_top)/T)),   log p_k = (z_k − z_top)/T + log p_top,
// so that confident predictions whose top probability rounds to 1.0 keep distinct scores.
// For that reason MSR is returned as log max_k p_k and DOCTOR as log Σ_k p_k²: both are
// monotone in the score they stand for, so every ranking metric is unchanged.
#pragma once

#include "misd/concepts.hpp"
#include "misd/detail/model_calls.hpp"
#include "misd/error.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <string_view>

namespace misd::score {

/// The scores computed from the logits alone.
enum class logit_score {
  msr,              ///< log max_k softmax(z/T)_k (maximum softmax probability, in log space)
  doctor,           ///< log Σ_k softmax(z/T)_k² (DOCTOR's g(x), in log space)
  max_logit,        ///< max_k z_k (T ignored)
  energy,           ///< T · logsumexp(z/T) (negative free energy)
  negative_entropy, ///< Σ_k p_k log p_k, p = softmax(z/T)
  margin,           ///< top-1 logit − top-2 logit (T ignored)
};

inline std::string_view name(logit_score s) {
  switch (s) {
  case logit_score::msr:
    return "msr";
  case logit_score::doctor:
    return "doctor";
  case logit_score::max_logit:
    return "max-logit";
  case logit_score::energy:
    return "energy";
  case logit_score::negative_entropy:
    return "entropy";
  case logit_score::margin:
    return "margin";
  }
  return "?";
}

namespace detail {
using misd::detail::argmax_row;
using misd::detail::require_temperature;

/// log softmax(z_i / T) of one row, accurate near p_top = 1 (see the header comment).
inline void log_softmax_row(const host_matrix& z, Eigen::Index i, double t, Eigen::VectorXd& lp) {
  const Eigen::Index top = argmax_row(z, i);
  double s = 0.0;
  for (Eigen::Index k = 0; k < z.cols(); ++k)
    if (k != top)
      s += std::exp((z(i, k) - z(i, top)) / t);
  const double lp_top = -std::log1p(s);
  lp.resize(z.cols());
  for (Eigen::Index k = 0; k < z.cols(); ++k)
    lp[k] = k == top ? lp_top : (z(i, k) - z(i, top)) / t + lp_top;
}

inline void check_logits(const host_matrix& z, std::string_view what) {
  if (z.rows() == 0)
    throw invalid_argument(misd::detail::message(what, ": empty batch (0 examples)"));
  if (z.cols() < 2)
    throw invalid_argument(misd::detail::message(what, ": logits have ", z.cols(),
                                                 " columns, at least 2 classes are needed"));
  misd::detail::require_finite(z, "logit");
}
} // namespace detail

/// softmax(z/T) row by row, computed through the log-probabilities.
inline host_matrix softmax(const host_matrix& z, double temperature = 1.0) {
  misd::detail::require_temperature(temperature, "softmax");
  host_matrix p(z.rows(), z.cols());
  Eigen::VectorXd lp;
  for (Eigen::Index i = 0; i < z.rows(); ++i) {
    detail::log_softmax_row(z, i, temperature, lp);
    p.row(i) = lp.array().exp().transpose();
  }
  return p;
}

/// The confidence of every row of the N x K logits `z`.
inline host_vector confidence(logit_score s, const host_matrix& z, double temperature = 1.0) {
  misd::detail::require_temperature(temperature, name(s));
  detail::check_logits(z, name(s));
  const double t = temperature;
  host_vector c(z.rows());
  Eigen::VectorXd lp;
  for (Eigen::Index i = 0; i < z.rows(); ++i) {
    const Eigen::Index top = misd::detail::argmax_row(z, i);
    switch (s) {
    case logit_score::msr:
      detail::log_softmax_row(z, i, t, lp);
      c[i] = lp[top];
      break;
    case logit_score::doctor: {
      // log Σ p_k² = 2 log p_top + log1p(Σ_{k≠top} exp(2 (z_k − z_top)/T))
      detail::log_softmax_row(z, i, t, lp);
      double s2 = 0.0;
      for (Eigen::Index k = 0; k < z.cols(); ++k)
        if (k != top)
          s2 += std::exp(2.0 * (z(i, k) - z(i, top)) / t);
      c[i] = 2.0 * lp[top] + std::log1p(s2);
      break;
    }
    case logit_score::max_logit:
      c[i] = z(i, top);
      break;
    case logit_score::energy: {
      double s1 = 0.0;
      for (Eigen::Index k = 0; k < z.cols(); ++k)
        if (k != top)
          s1 += std::exp((z(i, k) - z(i, top)) / t);
      c[i] = z(i, top) + t * std::log1p(s1);
      break;
    }
    case logit_score::negative_entropy: {
      detail::log_softmax_row(z, i, t, lp);
      double h = 0.0;
      for (Eigen::Index k = 0; k < z.cols(); ++k)
        h += std::exp(lp[k]) * lp[k]; // exp(lp) = 0 only where lp = −inf is impossible here
      c[i] = h;
      break;
    }
    case logit_score::margin: {
      double second = -std::numeric_limits<double>::infinity();
      for (Eigen::Index k = 0; k < z.cols(); ++k)
        if (k != top)
          second = std::max(second, z(i, k));
      c[i] = z(i, top) - second;
      break;
    }
    }
  }
  return c;
}

namespace detail {
/// Row i of ∇_z log C (msr, doctor), ∇_z C (the others), divided by a positive factor of the
/// row's own; returns the log of that factor. The factor is the runner-up probability p_m
/// (times the score's constants) for the softmax scores, so that the entries are O(1) at any
/// logit gap: the top class's entry is formed from the other classes' probabilities
/// (1 − p_top = Σ_{k≠top} p_k), never as a difference that cancels once p_top rounds to 1.
inline double confidence_upstream_row(logit_score s, const host_matrix& z, Eigen::Index i, double t,
                                      Eigen::VectorXd& lp, host_matrix& g) {
  const Eigen::Index kk = z.cols(), top = argmax_row(z, i);
  g.row(i).setZero();
  if (s == logit_score::max_logit) {
    g(i, top) = 1.0;
    return 0.0;
  }
  if (s == logit_score::margin) {
    Eigen::Index second = top == 0 ? 1 : 0;
    for (Eigen::Index k = 0; k < kk; ++k)
      if (k != top && z(i, k) > z(i, second))
        second = k;
    g(i, top) = 1.0;
    g(i, second) = -1.0;
    return 0.0;
  }
  log_softmax_row(z, i, t, lp);
  if (s == logit_score::energy) { // ∇ C = p
    for (Eigen::Index k = 0; k < kk; ++k)
      g(i, k) = std::exp(lp[k]);
    return 0.0;
  }
  // q_k = p_k / p_m with m the runner-up: q_m = 1.
  double lp_m = -std::numeric_limits<double>::infinity();
  for (Eigen::Index k = 0; k < kk; ++k)
    if (k != top)
      lp_m = std::max(lp_m, lp[k]);
  auto q = [&](Eigen::Index k) { return std::exp(lp[k] - lp_m); };
  const double p_top = std::exp(lp[top]);
  switch (s) {
  case logit_score::msr: { // ∇ log p_top = (e_top − p) / T
    double rest = 0.0;
    for (Eigen::Index k = 0; k < kk; ++k)
      if (k != top)
        rest += (g(i, k) = -q(k));
    g(i, top) = -rest;
    return lp_m - std::log(t);
  }
  case logit_score::doctor: { // ∇ log S = (2/T) p_j (p_j − S) / S, S = Σ p², over (2/T) p_top p_m /
                              // S
    double sq = 0.0;
    for (Eigen::Index k = 0; k < kk; ++k)
      sq += std::exp(2.0 * lp[k]);
    double top_entry = 0.0; // (p_top − S) / p_m = Σ_{k≠top} q_k (p_top − p_k)
    for (Eigen::Index k = 0; k < kk; ++k)
      if (k != top) {
        const double pk = std::exp(lp[k]);
        top_entry += q(k) * (p_top - pk);
        g(i, k) = q(k) * (pk - sq) / p_top;
      }
    g(i, top) = top_entry;
    return std::log(2.0 / t) + lp[top] + lp_m - std::log(sq);
  }
  case logit_score::negative_entropy: { // p_j (log p_j − h) / T, h = Σ p log p, over p_m / T
    double h = 0.0;
    for (Eigen::Index k = 0; k < kk; ++k)
      h += std::exp(lp[k]) * lp[k];
    double top_entry = 0.0; // log p_top − h = Σ_{k≠top} p_k (log p_top − log p_k)
    for (Eigen::Index k = 0; k < kk; ++k)
      if (k != top) {
        top_entry += q(k) * (lp[top] - lp[k]);
        g(i, k) = q(k) * (lp[k] - h);
      }
    g(i, top) = p_top * top_entry;
    return lp_m - std::log(t);
  }
  default:
    return 0.0;
  }
}
} // namespace detail

namespace detail {
/// Rows of confidence_upstream_row; `unscaled` multiplies each back by its factor.
inline host_matrix confidence_rows(logit_score s, const host_matrix& z, double temperature,
                                   bool unscaled) {
  require_temperature(temperature, name(s));
  check_logits(z, name(s));
  host_matrix g(z.rows(), z.cols());
  Eigen::VectorXd lp;
  for (Eigen::Index i = 0; i < z.rows(); ++i) {
    const double log_factor = confidence_upstream_row(s, z, i, temperature, lp, g);
    if (unscaled)
      g.row(i) *= std::exp(log_factor);
  }
  return g;
}
} // namespace detail

/// Per row, the gradient of the confidence with respect to the logits (∇_z log C for msr and
/// doctor, ∇_z C otherwise), exact at any logit gap (entries below the double range are 0).
inline host_matrix confidence_gradient(logit_score s, const host_matrix& z,
                                       double temperature = 1.0) {
  return detail::confidence_rows(s, z, temperature, true);
}

/// A positive per-row multiple of confidence_gradient whose entries are O(1) at any logit
/// gap. Input preprocessing uses only the sign of its vector–Jacobian product, which that
/// factor does not change, and which confidence_gradient's rows lose once they underflow
/// in a float model.
inline host_matrix confidence_direction_upstream(logit_score s, const host_matrix& z,
                                                 double temperature = 1.0) {
  return detail::confidence_rows(s, z, temperature, false);
}

} // namespace misd::score
