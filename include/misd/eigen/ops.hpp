// misd/eigen/ops.hpp -- batch arithmetic for the Eigen CPU backend.
//
// A batch is a row-major Eigen matrix: one example per row, N x D (images flattened in
// NCHW order, the layout of PyTorch and NPY); logits are N x K of the same type.
#pragma once

#include "misd/concepts.hpp"
#include "misd/detail/random.hpp"

#include <Eigen/Core>

#include <algorithm>
#include <cstdint>

namespace misd {
namespace eigen {
template <class Scalar>
using batch = Eigen::Matrix<Scalar, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
template <class Scalar>
using vector = Eigen::Matrix<Scalar, Eigen::Dynamic, 1>;
} // namespace eigen

template <class Scalar>
struct batch_ops<eigen::batch<Scalar>> {
  using B = eigen::batch<Scalar>;
  static std::size_t rows(const B& x) { return static_cast<std::size_t>(x.rows()); }
  static std::size_t cols(const B& x) { return static_cast<std::size_t>(x.cols()); }
  static B sign(const B& g) {
    return g.unaryExpr([](Scalar v) { return v != v ? v : Scalar((v > 0) - (v < 0)); });
  }
  static B add_scaled_rows(const B& x, const host_vector& t, const B& d) {
    return x + (t.cast<Scalar>().asDiagonal() * d);
  }
  static void clamp(B& x, double lo, double hi) { x = x.cwiseMax(Scalar(lo)).cwiseMin(Scalar(hi)); }
  static void project_linf(B& x, const B& x0, const host_vector& eps) {
    for (Eigen::Index i = 0; i < x.rows(); ++i) {
      const auto e = static_cast<Scalar>(eps[i]);
      x.row(i) = x.row(i).array().max(x0.row(i).array() - e).min(x0.row(i).array() + e).matrix();
    }
  }
  static B uniform_noise(const B& like, std::uint64_t seed) {
    // splitmix64: the same numbers on every platform and standard library.
    B out(like.rows(), like.cols());
    detail::splitmix64 rng{seed};
    for (Eigen::Index i = 0; i < out.size(); ++i)
      out.data()[i] = static_cast<Scalar>(rng.symmetric());
    return out;
  }
  static void to_host(const B& z, host_matrix& out) { out = z.template cast<double>(); }
  static B from_host(const host_matrix& g, const B&) { return g.cast<Scalar>(); }

  // Training operations (misd::train::fit and misd::train::mixup).

  /// Rows idx[0], ..., idx[n - 1] of x, in that order.
  static B gather_rows(const B& x, const std::size_t* idx, std::size_t n) {
    B out(static_cast<Eigen::Index>(n), x.cols());
    for (std::size_t i = 0; i < n; ++i)
      out.row(static_cast<Eigen::Index>(i)) = x.row(static_cast<Eigen::Index>(idx[i]));
    return out;
  }
  /// Row i is l·x_i + m·x_perm[i] with l = λ and m = 1 − λ rounded to Scalar (Mixup).
  static B mix_rows(const B& x, const std::size_t* perm, double lambda) {
    B mixed(x.rows(), x.cols());
    const auto l = static_cast<Scalar>(lambda), m = static_cast<Scalar>(1.0 - lambda);
    for (Eigen::Index i = 0; i < x.rows(); ++i)
      mixed.row(i) = l * x.row(i) + m * x.row(static_cast<Eigen::Index>(perm[i]));
    return mixed;
  }
  /// A host batch of another scalar type as this one (each number rounded once).
  template <class S>
  static B from_host_batch(const eigen::batch<S>& h) {
    return h.template cast<Scalar>();
  }

  // Optional in-place operations (misd/detail/batch_rows.hpp detects them): with these the
  // estimators reuse buffers across calls and evaluate only the examples still searching.
  // A buffer keeps its shape once set, so steady-state calls allocate nothing.

  /// out_j = clamp(x_{rows[j]} + t_j d_{rows[j]}) for j < count (no clamp when box_lo is null).
  /// out has at least max(capacity, count) rows of D (grow only, so that calls of
  /// different sizes settle on one buffer).
  static void ray_points(const B& x, const B& d, const std::size_t* rows, const double* t,
                         std::size_t count, std::size_t capacity, const double* box_lo,
                         const double* box_hi, B& out) {
    const auto cap = static_cast<Eigen::Index>(std::max(capacity, count));
    if (out.rows() < cap || out.cols() != x.cols())
      out.resize(cap, x.cols());
    for (std::size_t j = 0; j < count; ++j) {
      const auto i = static_cast<Eigen::Index>(rows[j]);
      const auto jj = static_cast<Eigen::Index>(j);
      // The same float arithmetic as add_scaled_rows + clamp, so probes agree bit for bit.
      out.row(jj) = x.row(i) + Scalar(t[j]) * d.row(i);
      if (box_lo)
        out.row(jj) = out.row(jj).cwiseMax(Scalar(*box_lo)).cwiseMin(Scalar(*box_hi));
    }
  }
  /// No NaN or ±inf in x: x·0 is 0 for finite entries and NaN otherwise, and that sum
  /// vectorises (Eigen's allFinite does not, and it runs on every input and gradient).
  static bool all_finite(const B& x) { return (x.array() * Scalar(0)).sum() == Scalar(0); }
  /// out[i] = 1 when row i of d is entirely zero, else 0.
  static void zero_rows(const B& d, unsigned char* out) {
    for (Eigen::Index i = 0; i < d.rows(); ++i)
      out[i] = (d.row(i).array() == Scalar(0)).all() ? 1 : 0;
  }
  /// out = rows [first, first + count) of x.
  static void copy_rows(const B& x, std::size_t first, std::size_t count, B& out) {
    const auto n = static_cast<Eigen::Index>(count);
    if (out.rows() != n || out.cols() != x.cols())
      out.resize(n, x.cols());
    out = x.middleRows(static_cast<Eigen::Index>(first), n);
  }
  /// sign(g) for a finite g (the estimators check the gradient first): without sign's NaN
  /// test, so that the loop vectorises.
  static void sign_into(const B& g, B& out) {
    if (out.rows() != g.rows() || out.cols() != g.cols())
      out.resize(g.rows(), g.cols());
    out = g.unaryExpr([](Scalar v) { return Scalar((v > 0) - (v < 0)); });
  }
  static void from_host_into(const host_matrix& g, B& out) {
    if (out.rows() != g.rows() || out.cols() != g.cols())
      out.resize(g.rows(), g.cols());
    out = g.cast<Scalar>();
  }
  /// The first `count` rows of z into out (out keeps z's shape).
  static void to_host_rows(const B& z, std::size_t count, host_matrix& out) {
    if (out.rows() != z.rows() || out.cols() != z.cols())
      out.resize(z.rows(), z.cols());
    const auto n = static_cast<Eigen::Index>(count);
    out.topRows(n) = z.topRows(n).template cast<double>();
  }
};

} // namespace misd
