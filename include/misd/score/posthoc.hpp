// misd/score/posthoc.hpp -- post-hoc confidence scores that re-normalise the logits
// (docs/algorithms.md, "Confidence scores"). Higher = more likely correct.
//
//   z̃ = z, or z − mean_k z_k with centring;   ‖z̃‖_p = a · (Σ_k (|z̃_k| / a)^p)^{1/p}, a = max_k
//   |z̃_k| (no overflow at large p), floored at 1e−12; p = 0 means no normalisation (‖z̃‖_0 := 1).
//   MaxLogit-pNorm = max_k z̃_k / ‖z̃‖_p                        (scale-invariant in z)
//   p-NormSoftmax  = log max_k softmax(z̃ / (τ ‖z̃‖_p))_k       (log space, as MSR)
//   GEN            = −log Σ_{j ∈ top-M(p)} p_j^γ (1 − p_j)^γ,  p = softmax(z / T)  (log space)
// GEN's published confidence is −G; −log G ranks the same way and keeps confident examples apart
// where G underflows.
#pragma once

#include "misd/score/logit_scores.hpp"

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <limits>
#include <vector>

namespace misd::score {

namespace detail {
inline void require_norm_order(double p, std::string_view what) {
  if (!(p >= 0.0) || !std::isfinite(p))
    throw invalid_argument(
        misd::detail::message(what, ": norm order p = ", p, " must be finite and >= 0"));
}

/// z̃ of row i (centred or not) into `out`.
inline void shifted_row(const host_matrix& z, Eigen::Index i, bool centre, Eigen::VectorXd& out) {
  out = z.row(i).transpose();
  if (centre)
    out.array() -= out.mean();
}

/// ‖v‖_p as a · (Σ (|v_k| / a)^p)^{1/p}, floored at 1e−12; 1 for p = 0.
inline double stable_pnorm(const Eigen::VectorXd& v, double p) {
  if (p == 0.0)
    return 1.0;
  const double a = v.cwiseAbs().maxCoeff();
  if (a == 0.0)
    return 1e-12;
  double s = 0.0;
  for (Eigen::Index k = 0; k < v.size(); ++k)
    s += std::pow(std::abs(v[k]) / a, p);
  return std::max(a * std::pow(s, 1.0 / p), 1e-12);
}
} // namespace detail

/// ‖z̃_i‖_p of every row (1 for p = 0).
inline host_vector logit_pnorm(const host_matrix& z, double p, bool centre = false) {
  detail::require_norm_order(p, "logit p-norm");
  detail::check_logits(z, "logit p-norm");
  host_vector n(z.rows());
  Eigen::VectorXd v;
  for (Eigen::Index i = 0; i < z.rows(); ++i) {
    detail::shifted_row(z, i, centre, v);
    n[i] = detail::stable_pnorm(v, p);
  }
  return n;
}

/// The rows z̃_i / ‖z̃_i‖_p (N x K) and, as a last column, ‖z̃_i‖_p (N x (K + 1)).
inline host_matrix pnorm_normalised_logits(const host_matrix& z, double p, bool centre = false) {
  detail::require_norm_order(p, "p-norm");
  detail::check_logits(z, "p-norm");
  host_matrix out(z.rows(), z.cols() + 1);
  Eigen::VectorXd v;
  for (Eigen::Index i = 0; i < z.rows(); ++i) {
    detail::shifted_row(z, i, centre, v);
    const double n = detail::stable_pnorm(v, p);
    out.row(i).head(z.cols()) = (v / n).transpose();
    out(i, z.cols()) = n;
  }
  return out;
}

/// MaxLogit-pNorm: max_k z̃_k / ‖z̃‖_p (p = 0: max_k z̃_k).
inline host_vector maxlogit_pnorm(const host_matrix& z, double p, bool centre = false) {
  const host_matrix u = pnorm_normalised_logits(z, p, centre);
  return u.leftCols(z.cols()).rowwise().maxCoeff();
}

namespace detail {
/// log max_k softmax(u_i / τ) over the first `k` columns of u.
inline host_vector log_msr_of_columns(const host_matrix& u, Eigen::Index k, double tau) {
  const host_matrix v = u.leftCols(k);
  host_vector c(v.rows());
  Eigen::VectorXd lp;
  for (Eigen::Index i = 0; i < v.rows(); ++i) {
    log_softmax_row(v, i, tau, lp);
    c[i] = lp.maxCoeff();
  }
  return c;
}
} // namespace detail

/// p-NormSoftmax: log max_k softmax(z̃ / (τ ‖z̃‖_p))_k, τ > 0 (p = 0: log MSR at temperature τ).
inline host_vector pnorm_softmax(const host_matrix& z, double p, double tau, bool centre = false) {
  misd::detail::require_temperature(tau, "pnorm-softmax");
  return detail::log_msr_of_columns(pnorm_normalised_logits(z, p, centre), z.cols(), tau);
}

/// ν̄ = mean_i ‖z̃_i‖_p, the scale that turns a grid value T into τ = T / ν̄.
inline double mean_logit_pnorm(const host_matrix& z, double p, bool centre = false) {
  return logit_pnorm(z, p, centre).mean();
}

/// p-NormSoftmax's temperature grid: T = 0.01, 0.02, …, 1.99 (τ = T / ν̄).
inline std::vector<double> pnorm_temperature_grid() {
  std::vector<double> t;
  for (int i = 1; i <= 199; ++i)
    t.push_back(i / 100.0);
  return t;
}

/// The norm orders searched: p = 0, 1, …, 9.
inline std::vector<double> pnorm_order_grid() {
  std::vector<double> p;
  for (int i = 0; i <= 9; ++i)
    p.push_back(i);
  return p;
}

namespace detail {
inline void require_gen(double gamma, long long top_m) {
  if (!(gamma > 0.0) || !std::isfinite(gamma))
    throw invalid_argument(
        misd::detail::message("gen: gamma = ", gamma, " must be finite and > 0"));
  if (top_m < 1)
    throw invalid_argument(misd::detail::message("gen: M = ", top_m, " must be >= 1"));
}
} // namespace detail

/// GEN: −log Σ_{j ∈ top-M} p_j^γ (1 − p_j)^γ with p = softmax(z / T) and M capped at K, all in
/// log space: u_j = (z_j − z_ŷ)/T, L = logsumexp_{j≠ŷ} u_j, log p_ŷ = −log1p(e^L),
/// log(1 − p_ŷ) = L − log1p(e^L), log p_j = u_j − log1p(e^L), log(1 − p_j) = log1p(−p_j).
inline host_vector gen(const host_matrix& z, double gamma = 0.1, long long top_m = 100,
                       double temperature = 1.0) {
  detail::require_gen(gamma, top_m);
  misd::detail::require_temperature(temperature, "gen");
  detail::check_logits(z, "gen");
  const Eigen::Index kk = z.cols();
  const auto m = static_cast<Eigen::Index>(std::min<long long>(top_m, kk));
  host_vector c(z.rows());
  std::vector<std::pair<double, double>> terms(static_cast<std::size_t>(kk)); // (log p, ℓ)
  for (Eigen::Index i = 0; i < z.rows(); ++i) {
    const Eigen::Index top = misd::detail::argmax_row(z, i);
    double big = -std::numeric_limits<double>::infinity();
    for (Eigen::Index k = 0; k < kk; ++k)
      if (k != top)
        big = std::max(big, (z(i, k) - z(i, top)) / temperature);
    double s = 0.0;
    for (Eigen::Index k = 0; k < kk; ++k)
      if (k != top)
        s += std::exp((z(i, k) - z(i, top)) / temperature - big);
    const double l = big + std::log(s); // L: finite, as u_j are
    const double log1p_s = std::log1p(std::exp(l));
    for (Eigen::Index k = 0; k < kk; ++k) {
      double lp, l1mp;
      if (k == top) {
        lp = -log1p_s;
        l1mp = l - log1p_s;
      } else {
        lp = (z(i, k) - z(i, top)) / temperature - log1p_s;
        l1mp = std::log1p(-std::exp(lp));
      }
      terms[static_cast<std::size_t>(k)] = {lp, gamma * (lp + l1mp)};
    }
    // The M most probable classes (stable: ties to the lower index, ŷ first among equals).
    std::stable_sort(terms.begin(), terms.end(),
                     [](const auto& a, const auto& b) { return a.first > b.first; });
    double mx = -std::numeric_limits<double>::infinity();
    for (Eigen::Index j = 0; j < m; ++j)
      mx = std::max(mx, terms[static_cast<std::size_t>(j)].second);
    double acc = 0.0;
    for (Eigen::Index j = 0; j < m; ++j)
      acc += std::exp(terms[static_cast<std::size_t>(j)].second - mx);
    c[i] = -(mx + std::log(acc));
  }
  return c;
}

/// GEN's γ grid: {0.01, 0.1, 0.5, 1, 2, 5, 10}.
inline std::vector<double> gen_gamma_grid() {
  return {0.01, 0.1, 0.5, 1, 2, 5, 10};
}

/// GEN's M grid {10, 50, 100, 200, 500, 1000}, capped at `classes` and de-duplicated
/// (classes = 0: not capped).
inline std::vector<long long> gen_top_m_grid(std::size_t classes = 0) {
  std::vector<long long> out;
  for (long long m : {10LL, 50LL, 100LL, 200LL, 500LL, 1000LL}) {
    const long long v = classes ? std::min(m, static_cast<long long>(classes)) : m;
    if (std::find(out.begin(), out.end(), v) == out.end())
      out.push_back(v);
  }
  return out;
}

} // namespace misd::score
