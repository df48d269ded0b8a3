// misd/xtensor/linear.hpp -- a linear softmax model whose batches are xtensor containers.
#pragma once

#include "misd/error.hpp"
#include "misd/xtensor/ops.hpp"

namespace misd::xtensor {

/// z = x Wᵀ + b, W of shape K x D.
template <class Scalar = double>
class linear {
public:
  using batch_type = batch<Scalar>;

  linear(batch<Scalar> weight, xt::xtensor<Scalar, 1> bias)
      : w_(std::move(weight)), b_(std::move(bias)) {
    if (w_.shape()[0] != b_.shape()[0] || w_.shape()[0] == 0 || w_.shape()[1] == 0)
      throw invalid_argument(detail::message("xtensor::linear: weight ", w_.shape()[0], " x ",
                                             w_.shape()[1], " and bias of ", b_.shape()[0],
                                             " do not agree"));
  }

  batch_type logits(const batch_type& x) const {
    check(x, w_.shape()[1], "input");
    const std::size_t n = x.shape()[0], k = w_.shape()[0], d = w_.shape()[1];
    batch_type z({n, k});
    for (std::size_t i = 0; i < n; ++i)
      for (std::size_t c = 0; c < k; ++c) {
        Scalar s = b_(c);
        for (std::size_t j = 0; j < d; ++j)
          s += x(i, j) * w_(c, j);
        z(i, c) = s;
      }
    return z;
  }
  batch_type input_gradient(const batch_type& x, const batch_type& g) const {
    check(x, w_.shape()[1], "input");
    check(g, w_.shape()[0], "upstream gradient");
    const std::size_t n = x.shape()[0], k = w_.shape()[0], d = w_.shape()[1];
    batch_type dx = xt::zeros<Scalar>({n, d});
    for (std::size_t i = 0; i < n; ++i)
      for (std::size_t c = 0; c < k; ++c)
        for (std::size_t j = 0; j < d; ++j)
          dx(i, j) += g(i, c) * w_(c, j);
    return dx;
  }

private:
  static void check(const batch_type& x, std::size_t cols, const char* what) {
    if (x.shape()[1] != cols)
      throw invalid_argument(detail::message("xtensor::linear: ", what, " has ", x.shape()[1],
                                             " columns, expected ", cols));
  }
  batch<Scalar> w_;
  xt::xtensor<Scalar, 1> b_;
};

} // namespace misd::xtensor
