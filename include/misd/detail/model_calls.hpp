// misd/detail/model_calls.hpp -- checked calls into user models, and the host-side
// softmax arithmetic every algorithm shares. Not for direct inclusion.
#pragma once

#include "misd/concepts.hpp"
#include "misd/error.hpp"

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <functional>
#include <limits>
#include <string_view>

namespace misd::detail {

template <class B>
void require_batch(const B& x, std::string_view what) {
  if (batch_ops<B>::rows(x) == 0)
    throw invalid_argument(message(what, ": empty batch (0 examples)"));
  if (batch_ops<B>::cols(x) == 0)
    throw invalid_argument(
        message(what, ": batch of ", batch_ops<B>::rows(x), " examples with 0 numbers each"));
}

/// Throws data_error naming the first non-finite entry in the first `rows` rows of a host
/// matrix.
inline void require_finite_rows(const host_matrix& z, std::size_t rows, std::string_view what) {
  const auto n = static_cast<Eigen::Index>(rows);
  if (z.topRows(n).allFinite())
    return;
  for (Eigen::Index i = 0; i < n; ++i)
    for (Eigen::Index k = 0; k < z.cols(); ++k)
      if (!std::isfinite(z(i, k)))
        throw data_error(
            message(what, " of example ", i, " is not finite (column ", k, " = ", z(i, k), ")"));
}

/// require_finite_rows over every row.
inline void require_finite(const host_matrix& z, std::string_view what) {
  require_finite_rows(z, static_cast<std::size_t>(z.rows()), what);
}

/// A temperature (of a softmax, of an attack's loss): finite and > 0.
inline void require_temperature(double t, std::string_view what) {
  if (!(t > 0) || !std::isfinite(t))
    throw invalid_argument(message(what, ": temperature = ", t, " must be finite and > 0"));
}

/// Logits returned for a batch of `rows` examples: N x K with N = rows and K >= 2.
template <class B>
void require_logits_shape(const B& z, std::size_t rows, std::string_view what) {
  using ops = batch_ops<B>;
  if (ops::rows(z) != rows || ops::cols(z) < 2)
    throw invalid_argument(message(what, ": model returned logits of ", ops::rows(z), " x ",
                                   ops::cols(z), " for a batch of ", rows, " examples (expected ",
                                   rows, " x K with K >= 2)"));
}

/// Throws data_error naming the first example with a non-finite entry in a batch (`noun`:
/// "input", "input gradient"). A backend whose batch_ops has `all_finite` answers on its own
/// device first, so a finite batch is never copied to the host (on a GPU that copy would cost
/// more than the check).
template <class B>
void require_finite_batch(const B& x, std::string_view what, std::string_view noun) {
  if constexpr (requires {
                  { batch_ops<B>::all_finite(x) } -> std::convertible_to<bool>;
                }) {
    if (batch_ops<B>::all_finite(x))
      return;
  }
  host_matrix h;
  batch_ops<B>::to_host(x, h);
  if (h.allFinite())
    return;
  for (Eigen::Index i = 0; i < h.rows(); ++i)
    for (Eigen::Index j = 0; j < h.cols(); ++j)
      if (!std::isfinite(h(i, j)))
        throw data_error(message(what, ": ", noun, " of example ", i, " is not finite (feature ", j,
                                 " = ", h(i, j), ")"));
}

/// Throws data_error naming the first example with a non-finite input.
template <class B>
void require_finite_input(const B& x, std::string_view what) {
  require_finite_batch(x, what, "input");
}

/// A model's input gradient with a NaN or ±inf is an error on every backend: its sign would
/// read NaN as 0 (no step in that feature) and report a radius from a broken computation.
template <class B>
void require_finite_gradient(const B& dx, std::string_view what) {
  require_finite_batch(dx, what, "input gradient");
}

/// Logits of a batch of n examples to the host, checked: N x K with K >= 2, all finite.
template <class B>
void logits_to_host(const B& logits, std::size_t n, host_matrix& z, std::string_view what) {
  require_logits_shape(logits, n, what);
  batch_ops<B>::to_host(logits, z);
  require_finite(z, what);
}

/// Forward pass with the checks every caller needs: N x K with K >= 2, all finite.
template <class M>
void checked_logits(M& model, const batch_t<M>& x, host_matrix& z, std::string_view what) {
  logits_to_host(model.logits(x), batch_ops<batch_t<M>>::rows(x), z, what);
}

/// What a model returned for an input batch (an input gradient) has the input's shape.
template <class B>
void require_input_shape(const B& dx, const B& x, std::string_view what) {
  using ops = batch_ops<B>;
  if (ops::rows(dx) != ops::rows(x) || ops::cols(dx) != ops::cols(x))
    throw invalid_argument(message(what, " returned ", ops::rows(dx), " x ", ops::cols(dx),
                                   " for an input batch of ", ops::rows(x), " x ", ops::cols(x),
                                   " (it must match the input)"));
}

/// Vector-Jacobian product with its size checked against the input.
template <class M>
batch_t<M> checked_input_gradient(M& model, const batch_t<M>& x, const host_matrix& g) {
  auto dx = model.input_gradient(x, batch_ops<batch_t<M>>::from_host(g, x));
  require_input_shape(dx, x, "input_gradient");
  require_finite_gradient(dx, "input_gradient");
  return dx;
}

/// Index of the largest entry of row j; ties go to the lowest index.
inline int argmax_row(const host_matrix& z, Eigen::Index j) {
  Eigen::Index best = 0;
  for (Eigen::Index k = 1; k < z.cols(); ++k)
    if (z(j, k) > z(j, best))
      best = k;
  return static_cast<int>(best);
}

/// argmax of each row (argmax_row).
inline void argmax_rows(const host_matrix& z, label_vector& out) {
  out.resize(static_cast<std::size_t>(z.rows()));
  for (Eigen::Index i = 0; i < z.rows(); ++i)
    out[static_cast<std::size_t>(i)] = argmax_row(z, i);
}

/// Row i of the upstream gradient of CE(softmax(z_i / T), t) with respect to z_i / T, for the
/// target t = w·e_a + (1 − w)·e_b (a hard label: a = b, w = 1), divided by a positive factor
/// σ of the row's own: writes (p − t) / σ into row i of g and returns log σ.
///
/// Exact at any logit gap. At the top class c, p_c − t_c is formed as
/// (1 − t_c) − Σ_{j≠c} p_j, which does not cancel when p_c rounds to 1; and σ is the largest
/// of the small quantities of the row (p_j for j ≠ c, t_j for j ≠ c, 1 − t_c), taken in log
/// space, so that the entries are O(1) and nothing underflows before the logits themselves
/// leave the float range. The sign of the row's vector–Jacobian product — all an attack
/// uses — does not depend on σ.
inline double ce_upstream_row(const host_matrix& z, Eigen::Index i, int a, int b, double w,
                              double temperature, host_matrix& g) {
  const Eigen::Index kk = z.cols(), c = argmax_row(z, i);
  auto target = [&](Eigen::Index k) { return (k == a ? w : 0.0) + (k == b ? 1.0 - w : 0.0); };
  // 1 − t_c without rounding t_c first (a = b = c gives exactly 0).
  const double deficit = c == a ? (c == b ? 0.0 : 1.0 - w) : (c == b ? w : 1.0);
  double rest = 0.0; // Σ_{j≠c} exp((z_j − z_c)/T) = (1 − p_c) / p_c
  for (Eigen::Index k = 0; k < kk; ++k)
    if (k != c)
      rest += std::exp((z(i, k) - z(i, c)) / temperature);
  const double log_pc = -std::log1p(rest); // log p_c
  double log_sigma = -std::numeric_limits<double>::infinity();
  for (Eigen::Index k = 0; k < kk; ++k) {
    if (k == c)
      continue;
    log_sigma = std::max(log_sigma, (z(i, k) - z(i, c)) / temperature + log_pc);
    if (const double tk = target(k); tk > 0)
      log_sigma = std::max(log_sigma, std::log(tk));
  }
  if (deficit > 0)
    log_sigma = std::max(log_sigma, std::log(deficit));
  double others = 0.0; // Σ_{j≠c} p_j / σ
  for (Eigen::Index k = 0; k < kk; ++k) {
    if (k == c)
      continue;
    const double pk = std::exp((z(i, k) - z(i, c)) / temperature + log_pc - log_sigma);
    const double tk = target(k);
    others += pk;
    g(i, k) = tk > 0 ? pk - std::exp(std::log(tk) - log_sigma) : pk;
  }
  g(i, c) = (deficit > 0 ? std::exp(std::log(deficit) - log_sigma) : 0.0) - others;
  return log_sigma;
}

/// Rows of ce_upstream_row for hard labels, times `sign`; `unscaled` multiplies each back by
/// its factor σ_i / T (ce_gradient), else leaves it O(1) (ce_direction_upstream).
inline void ce_rows(const host_matrix& z, const label_vector& y, double temperature, double sign,
                    bool unscaled, host_matrix& g) {
  g.resize(z.rows(), z.cols());
  for (Eigen::Index i = 0; i < z.rows(); ++i) {
    const int yi = y[static_cast<std::size_t>(i)];
    const double log_sigma = ce_upstream_row(z, i, yi, yi, 1.0, temperature, g);
    const double factor = unscaled ? sign * std::exp(log_sigma) / temperature : sign;
    if (factor != 1.0)
      g.row(i) *= factor;
  }
}

/// Upstream gradient of sum_i CE(z_i / T, y_i) with respect to z:
/// sign · (softmax(z_i / T) − onehot(y_i)) / T, exact (no cancellation at the top class;
/// entries below the double range are 0).
inline void ce_gradient(const host_matrix& z, const label_vector& y, double temperature,
                        double sign, host_matrix& g) {
  ce_rows(z, y, temperature, sign, true, g);
}

/// A positive per-row multiple of ce_gradient: sign · (p_i − onehot(y_i)) / σ_i with the
/// row's largest small quantity as σ_i (ce_upstream_row). Its vector–Jacobian product has
/// the exact sign of the loss's input gradient at any logit gap, where ce_gradient's rows
/// vanish or underflow once cast to float (gap / T beyond about 87 in float, 708 in double).
inline void ce_direction_upstream(const host_matrix& z, const label_vector& y, double temperature,
                                  double sign, host_matrix& g) {
  ce_rows(z, y, temperature, sign, false, g);
}

inline void require_labels(const label_vector& y, std::size_t n, std::size_t k,
                           std::string_view what) {
  if (y.size() != n)
    throw invalid_argument(
        message(what, ": ", y.size(), " labels for a batch of ", n, " examples"));
  for (std::size_t i = 0; i < n; ++i)
    if (y[i] < 0 || static_cast<std::size_t>(y[i]) >= k)
      throw invalid_argument(
          message(what, ": label ", y[i], " of example ", i, " is outside [0, ", k, ")"));
}

} // namespace misd::detail
