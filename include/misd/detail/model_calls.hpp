// misd/detail/model_calls.hpp -- checked calls into user models, and the host-side
// softmax arithmetic every algorithm shares. Not for direct inclusion.
#pragma once

#include "misd/concepts.hpp"
#include "misd/error.hpp"

#include <cmath>
#include <cstddef>
#include <limits>
#include <string_view>

namespace misd::detail {

template <class B>
void require_batch(const B& x, std::string_view what) {
  if (batch_ops<B>::rows(x) == 0)
    throw invalid_argument(message(what, ": empty batch (0 examples)"));
  if (batch_ops<B>::cols(x) == 0)
    throw invalid_argument(message(what, ": batch of ", batch_ops<B>::rows(x),
                                   " examples with 0 numbers each"));
}

/// Throws data_error naming the first non-finite entry of a host matrix.
inline void require_finite(const host_matrix& z, std::string_view what) {
  if (z.allFinite())
    return;
  for (Eigen::Index i = 0; i < z.rows(); ++i)
    for (Eigen::Index k = 0; k < z.cols(); ++k)
      if (!std::isfinite(z(i, k)))
        throw data_error(message(what, " of example ", i, " is not finite (column ", k,
                                 " = ", z(i, k), ")"));
}

/// Throws data_error naming the first example with a non-finite input.
template <class B>
void require_finite_input(const B& x, std::string_view what) {
  host_matrix h;
  batch_ops<B>::to_host(x, h);
  if (h.allFinite())
    return;
  for (Eigen::Index i = 0; i < h.rows(); ++i)
    for (Eigen::Index j = 0; j < h.cols(); ++j)
      if (!std::isfinite(h(i, j)))
        throw data_error(message(what, ": input of example ", i, " is not finite (feature ", j,
                                 " = ", h(i, j), ")"));
}

/// Forward pass with the checks every caller needs: N x K with K >= 2, all finite.
template <class M>
void checked_logits(M& model, const batch_t<M>& x, host_matrix& z, std::string_view what) {
  using ops = batch_ops<batch_t<M>>;
  const auto n = ops::rows(x);
  const auto logits = model.logits(x);
  if (ops::rows(logits) != n || ops::cols(logits) < 2)
    throw invalid_argument(message(what, ": model returned logits of ", ops::rows(logits), " x ",
                                   ops::cols(logits), " for a batch of ", n,
                                   " examples (expected ", n, " x K with K >= 2)"));
  ops::to_host(logits, z);
  require_finite(z, what);
}

/// Vector-Jacobian product with its size checked against the input.
template <class M>
batch_t<M> checked_input_gradient(M& model, const batch_t<M>& x, const host_matrix& g) {
  using ops = batch_ops<batch_t<M>>;
  auto dx = model.input_gradient(x, ops::from_host(g, x));
  if (ops::rows(dx) != ops::rows(x) || ops::cols(dx) != ops::cols(x))
    throw invalid_argument(message("input_gradient returned ", ops::rows(dx), " x ",
                                   ops::cols(dx), " for an input batch of ", ops::rows(x), " x ",
                                   ops::cols(x), " (it must match the input)"));
  return dx;
}

/// argmax of each row; ties go to the lowest index.
inline void argmax_rows(const host_matrix& z, label_vector& out) {
  out.resize(static_cast<std::size_t>(z.rows()));
  for (Eigen::Index i = 0; i < z.rows(); ++i) {
    Eigen::Index best = 0;
    for (Eigen::Index k = 1; k < z.cols(); ++k)
      if (z(i, k) > z(i, best))
        best = k;
    out[static_cast<std::size_t>(i)] = static_cast<int>(best);
  }
}

/// Upstream gradient of sum_i CE(z_i / T, y_i) with respect to z:
/// (softmax(z_i / T) - onehot(y_i)) / T, computed stably. `sign` = -1 descends.
inline void ce_gradient(const host_matrix& z, const label_vector& y, double temperature,
                        double sign, host_matrix& g) {
  g.resize(z.rows(), z.cols());
  for (Eigen::Index i = 0; i < z.rows(); ++i) {
    const double m = z.row(i).maxCoeff();
    double s = 0.0;
    for (Eigen::Index k = 0; k < z.cols(); ++k)
      s += (g(i, k) = std::exp((z(i, k) - m) / temperature));
    for (Eigen::Index k = 0; k < z.cols(); ++k)
      g(i, k) = sign * g(i, k) / s / temperature;
    g(i, y[static_cast<std::size_t>(i)]) -= sign / temperature;
  }
}

inline void require_labels(const label_vector& y, std::size_t n, std::size_t k,
                           std::string_view what) {
  if (y.size() != n)
    throw invalid_argument(message(what, ": ", y.size(), " labels for a batch of ", n,
                                   " examples"));
  for (std::size_t i = 0; i < n; ++i)
    if (y[i] < 0 || static_cast<std::size_t>(y[i]) >= k)
      throw invalid_argument(message(what, ": label ", y[i], " of example ", i,
                                     " is outside [0, ", k, ")"));
}

} // namespace misd::detail
