// misd/eigen/ops.hpp -- batch arithmetic for the Eigen CPU backend.
//
// A batch is a row-major Eigen matrix: one example per row, N x D (images flattened in
// NCHW order, the layout of PyTorch and NPY); logits are N x K of the same type.
#pragma once

#include "misd/concepts.hpp"

#include <Eigen/Core>

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
    return g.unaryExpr([](Scalar v) { return Scalar((v > 0) - (v < 0)); });
  }
  static B add_scaled_rows(const B& x, const host_vector& t, const B& d) {
    return x + (t.cast<Scalar>().asDiagonal() * d);
  }
  static void clamp(B& x, double lo, double hi) {
    x = x.cwiseMax(Scalar(lo)).cwiseMin(Scalar(hi));
  }
  static void project_linf(B& x, const B& x0, const host_vector& eps) {
    for (Eigen::Index i = 0; i < x.rows(); ++i) {
      const auto e = static_cast<Scalar>(eps[i]);
      x.row(i) = x.row(i).array().max(x0.row(i).array() - e).min(x0.row(i).array() + e).matrix();
    }
  }
  static B uniform_noise(const B& like, std::uint64_t seed) {
    // splitmix64: the same numbers on every platform and standard library.
    B out(like.rows(), like.cols());
    std::uint64_t s = seed;
    for (Eigen::Index i = 0; i < out.size(); ++i) {
      std::uint64_t z = (s += 0x9E3779B97F4A7C15ull);
      z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
      z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
      z ^= z >> 31;
      out.data()[i] = static_cast<Scalar>(2.0 * (double(z >> 11) * 0x1.0p-53) - 1.0);
    }
    return out;
  }
  static void to_host(const B& z, host_matrix& out) { out = z.template cast<double>(); }
  static B from_host(const host_matrix& g, const B&) { return g.cast<Scalar>(); }
};

} // namespace misd
