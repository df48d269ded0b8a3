// misd/xtensor/ops.hpp -- batch arithmetic for xtensor batches (N x D xt::xtensor).
// Proves the algorithms are backend-independent: nothing in them names Eigen batches.
#pragma once

#include "misd/concepts.hpp"
#include "misd/detail/random.hpp"

#include <xtensor/xtensor.hpp>

#include <algorithm>
#include <cstdint>

namespace misd {
namespace xtensor {
template <class Scalar>
using batch = xt::xtensor<Scalar, 2>;
}

template <class Scalar>
struct batch_ops<xt::xtensor<Scalar, 2>> {
  using B = xt::xtensor<Scalar, 2>;
  static std::size_t rows(const B& x) { return x.shape()[0]; }
  static std::size_t cols(const B& x) { return x.shape()[1]; }
  static B sign(const B& g) {
    B out(g.shape());
    std::transform(g.begin(), g.end(), out.begin(),
                   [](Scalar v) { return v != v ? v : Scalar((v > 0) - (v < 0)); });
    return out;
  }
  static B add_scaled_rows(const B& x, const host_vector& t, const B& d) {
    B out(x.shape());
    for (std::size_t i = 0; i < rows(x); ++i)
      for (std::size_t j = 0; j < cols(x); ++j)
        out(i, j) = x(i, j) + static_cast<Scalar>(t[static_cast<Eigen::Index>(i)]) * d(i, j);
    return out;
  }
  static void clamp(B& x, double lo, double hi) {
    for (auto& v : x)
      v = std::clamp(v, static_cast<Scalar>(lo), static_cast<Scalar>(hi));
  }
  static void project_linf(B& x, const B& x0, const host_vector& eps) {
    for (std::size_t i = 0; i < rows(x); ++i) {
      const auto e = static_cast<Scalar>(eps[static_cast<Eigen::Index>(i)]);
      for (std::size_t j = 0; j < cols(x); ++j)
        x(i, j) = std::clamp(x(i, j), x0(i, j) - e, x0(i, j) + e);
    }
  }
  static B uniform_noise(const B& like, std::uint64_t seed) {
    B out(like.shape());
    detail::splitmix64 rng{seed}; // the Eigen backend's numbers
    for (auto& v : out)
      v = static_cast<Scalar>(rng.symmetric());
    return out;
  }
  static void to_host(const B& z, host_matrix& out) {
    out.resize(static_cast<Eigen::Index>(rows(z)), static_cast<Eigen::Index>(cols(z)));
    std::copy(z.begin(), z.end(), out.data()); // both row-major
  }
  static B from_host(const host_matrix& g, const B&) {
    B out({static_cast<std::size_t>(g.rows()), static_cast<std::size_t>(g.cols())});
    std::copy(g.data(), g.data() + g.size(), out.begin());
    return out;
  }

  // Training operations (misd::train::fit and misd::train::mixup), in the Eigen backend's
  // arithmetic so that both give the same numbers.

  /// Rows idx[0], ..., idx[n - 1] of x, in that order.
  static B gather_rows(const B& x, const std::size_t* idx, std::size_t n) {
    const auto d = cols(x);
    B out({n, d});
    for (std::size_t i = 0; i < n; ++i)
      std::copy_n(x.data() + idx[i] * d, d, out.data() + i * d);
    return out;
  }
  /// Row i is l·x_i + m·x_perm[i] with l = λ and m = 1 − λ rounded to Scalar (Mixup). The
  /// rows are combined by the Eigen backend's expression over the same memory, so that the
  /// compiler rounds (and contracts into fused multiply-adds) exactly as it does there.
  static B mix_rows(const B& x, const std::size_t* perm, double lambda) {
    using matrix = Eigen::Matrix<Scalar, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
    const auto n = static_cast<Eigen::Index>(rows(x)), d = static_cast<Eigen::Index>(cols(x));
    B out(x.shape());
    const Eigen::Map<const matrix> in(x.data(), n, d);
    Eigen::Map<matrix> mixed(out.data(), n, d);
    const auto l = static_cast<Scalar>(lambda), m = static_cast<Scalar>(1.0 - lambda);
    for (Eigen::Index i = 0; i < n; ++i)
      mixed.row(i) = l * in.row(i) + m * in.row(static_cast<Eigen::Index>(perm[i]));
    return out;
  }
  /// A row-major host Eigen batch (float or double) as an xtensor batch, each number
  /// rounded once.
  template <class S>
  static B
  from_host_batch(const Eigen::Matrix<S, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>& h) {
    B out({static_cast<std::size_t>(h.rows()), static_cast<std::size_t>(h.cols())});
    std::transform(h.data(), h.data() + h.size(), out.begin(),
                   [](S v) { return static_cast<Scalar>(v); });
    return out;
  }
};

} // namespace misd
