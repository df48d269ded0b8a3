// misd/eigen/linear.hpp -- a linear softmax model z = W x + b on the Eigen backend.
#pragma once

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
