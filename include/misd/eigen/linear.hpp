// misd/eigen/linear.hpp -- a linear softmax model z = W x + b on the Eigen backend.
#pragma once

#include "misd/detail/eigen_gemm.hpp"
#include "misd/eigen/ops.hpp"
#include "misd/error.hpp"

namespace misd::eigen {

/// z = x Wᵀ + b, with W of shape K x D (the layout of PyTorch's nn.Linear.weight).
template <class Scalar = float>
class linear {
public:
  using scalar_type = Scalar;
  using batch_type = batch<Scalar>;

  linear(batch<Scalar> weight, vector<Scalar> bias) : w_(std::move(weight)), b_(std::move(bias)) {
    if (w_.rows() != b_.size() || w_.rows() < 1 || w_.cols() < 1)
      throw invalid_argument(detail::message("linear: weight ", w_.rows(), " x ", w_.cols(),
                                             " and bias of ", b_.size(), " do not agree"));
  }

  batch_type logits(const batch_type& x) const {
    check(x);
    batch_type z = x * w_.transpose();
    z.rowwise() += b_.transpose();
    return z;
  }
  batch_type input_gradient(const batch_type& x, const batch_type& g) const {
    check(x);
    if (g.rows() != x.rows() || g.cols() != w_.rows())
      throw invalid_argument(detail::message("linear: upstream gradient is ", g.rows(), " x ",
                                             g.cols(), ", expected ", x.rows(), " x ", w_.rows()));
    return g * w_;
  }

  /// Buffers of the in-place path, owned by the caller (one per thread).
  struct scratch_type {
    detail::gemm_buffers<Scalar> forward_gemm, backward_gemm;
  };

  /// Logits of the first `rows` examples of x into the first `rows` rows of z (z takes the
  /// shape x.rows() x K). Allocates only when a shape changes.
  void logits_into(const batch_type& x, Eigen::Index rows, batch_type& z, scratch_type& s) const {
    check(x);
    if (rows < 0 || rows > x.rows())
      throw invalid_argument(
          detail::message("linear: logits_into of ", rows, " rows of a batch of ", x.rows()));
    if (z.rows() != x.rows() || z.cols() != w_.rows())
      z.resize(x.rows(), w_.rows());
    z.topRows(rows).rowwise() = b_.transpose();
    s.forward_gemm.template multiply_add<true>(rows, w_.rows(), w_.cols(), x.data(), x.cols(),
                                               w_.data(), w_.cols(), z.data(), z.cols());
  }
  /// dL/dX = G W into dx (shape of x).
  void input_gradient_into(const batch_type& x, const batch_type& g, batch_type& dx,
                           scratch_type& s) const {
    check(x);
    if (g.rows() != x.rows() || g.cols() != w_.rows())
      throw invalid_argument(detail::message("linear: upstream gradient is ", g.rows(), " x ",
                                             g.cols(), ", expected ", x.rows(), " x ", w_.rows()));
    if (dx.rows() != x.rows() || dx.cols() != x.cols())
      dx.resize(x.rows(), x.cols());
    dx.setZero();
    s.backward_gemm.template multiply_add<false>(x.rows(), w_.cols(), w_.rows(), g.data(), g.cols(),
                                                 w_.data(), w_.cols(), dx.data(), dx.cols());
  }

  const batch<Scalar>& weight() const { return w_; }
  const vector<Scalar>& bias() const { return b_; }
  std::size_t input_size() const { return static_cast<std::size_t>(w_.cols()); }
  std::size_t classes() const { return static_cast<std::size_t>(w_.rows()); }

private:
  void check(const batch_type& x) const {
    if (x.cols() != w_.cols())
      throw invalid_argument(detail::message("linear: batch has ", x.cols(),
                                             " numbers per example, the model takes ", w_.cols()));
  }
  batch<Scalar> w_;
  vector<Scalar> b_;
};

} // namespace misd::eigen
