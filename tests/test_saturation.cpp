// The radius, the attacks, input preprocessing and RAT's inner step where the softmax
// saturates (logit gap / T from 0.5 to 5,000), on the Eigen backend (float and double; the
// in-place path of misd::eigen::linear and the value-returning path of a plain model) and
// the xtensor backend; test_torch.cpp runs the same checks on torch. And: a NaN or ±inf in
// a model's input gradient is an error on every path, naming the example.
#include "saturation_cases.hpp"

#include "misd/eigen/linear.hpp"
#include "misd/xtensor/linear.hpp"
#include "misd/xtensor/ops.hpp"

#include <doctest/doctest.h>

#include <limits>
#include <utility>

using misd::host_matrix;

namespace {

template <class S>
misd::eigen::batch<S> eigen_batch(const host_matrix& h) {
  return h.cast<S>();
}
template <class S>
host_matrix rounded(const host_matrix& h) { // what a model of scalar S holds
  return h.cast<S>().template cast<double>();
}

/// The same model without the in-place path: the estimators take the value-returning calls.
template <class S>
struct plain_linear {
  using batch_type = misd::eigen::batch<S>;
  misd::eigen::linear<S> m;
  batch_type logits(const batch_type& x) const { return m.logits(x); }
  batch_type input_gradient(const batch_type& x, const batch_type& g) const {
    return m.input_gradient(x, g);
  }
};

template <class S>
misd::eigen::linear<S> eigen_model(const host_matrix& w, const Eigen::VectorXd& b) {
  return {w.cast<S>(), b.cast<S>()};
}

template <class S>
misd::xtensor::batch<S> xt_batch(const host_matrix& h) {
  auto out = misd::xtensor::batch<S>::from_shape(
      {static_cast<std::size_t>(h.rows()), static_cast<std::size_t>(h.cols())});
  for (Eigen::Index i = 0; i < h.rows(); ++i)
    for (Eigen::Index j = 0; j < h.cols(); ++j)
      out(static_cast<std::size_t>(i), static_cast<std::size_t>(j)) = static_cast<S>(h(i, j));
  return out;
}
template <class S>
misd::xtensor::linear<S> xt_model(const host_matrix& w, const Eigen::VectorXd& b) {
  auto bias = xt::xtensor<S, 1>::from_shape({static_cast<std::size_t>(b.size())});
  for (Eigen::Index k = 0; k < b.size(); ++k)
    bias(static_cast<std::size_t>(k)) = static_cast<S>(b[k]);
  return {xt_batch<S>(w), bias};
}

host_matrix two_class_w() {
  host_matrix w(2, 2);
  w << 1000, 0, -1000, 0;
  return w;
}

} // namespace

TEST_CASE_TEMPLATE("saturated linear model, Eigen in-place path: exact direction and radius", S,
                   float, double) {
  const host_matrix w = rounded<S>(saturation::weights());
  const Eigen::VectorXd b = saturation::biases();
  const host_matrix x = rounded<S>(saturation::inputs());
  auto model = eigen_model<S>(w, b);
  // float: finite differences over a step of 0.5 (the logits are linear; a smaller step
  // would measure float rounding, not the model)
  saturation::check_linear_model(model, w, b, x, eigen_batch<S>,
                                 std::is_same_v<S, float> ? 1e-5 : 1e-9,
                                 std::is_same_v<S, float> ? 0.5 : 1e-3);
  auto two = eigen_model<S>(two_class_w(), Eigen::VectorXd::Zero(2));
  saturation::check_two_class_model(two, eigen_batch<S>, std::is_same_v<S, float> ? 1e-5 : 1e-9);
}

TEST_CASE_TEMPLATE("saturated linear model, Eigen value path: exact direction and radius", S, float,
                   double) {
  const host_matrix w = rounded<S>(saturation::weights());
  const Eigen::VectorXd b = saturation::biases();
  const host_matrix x = rounded<S>(saturation::inputs());
  plain_linear<S> model{eigen_model<S>(w, b)};
  saturation::check_linear_model(model, w, b, x, eigen_batch<S>,
                                 std::is_same_v<S, float> ? 1e-5 : 1e-9,
                                 std::is_same_v<S, float> ? 0.5 : 1e-3);
}

TEST_CASE_TEMPLATE("saturated linear model, xtensor: exact direction and radius", S, float,
                   double) {
  const host_matrix w = rounded<S>(saturation::weights());
  const Eigen::VectorXd b = saturation::biases();
  const host_matrix x = rounded<S>(saturation::inputs());
  auto model = xt_model<S>(w, b);
  saturation::check_linear_model(model, w, b, x, xt_batch<S>,
                                 std::is_same_v<S, float> ? 1e-5 : 1e-9,
                                 std::is_same_v<S, float> ? 0.5 : 1e-3);
  auto two = xt_model<S>(two_class_w(), Eigen::VectorXd::Zero(2));
  saturation::check_two_class_model(two, xt_batch<S>, std::is_same_v<S, float> ? 1e-5 : 1e-9);
}

TEST_CASE("a NaN or ±inf input gradient throws on the Eigen and xtensor backends") {
  const host_matrix w = saturation::weights();
  const Eigen::VectorXd b = saturation::biases();
  const host_matrix x = saturation::inputs().topRows(3);
  for (double bad :
       {std::numeric_limits<double>::quiet_NaN(), std::numeric_limits<double>::infinity(),
        -std::numeric_limits<double>::infinity()}) {
    CAPTURE(bad);
    saturation::poisoned_gradient<misd::eigen::linear<float>> ef{eigen_model<float>(w, b), bad};
    saturation::check_non_finite_gradient_throws(ef, eigen_batch<float>(x));
    saturation::poisoned_gradient<misd::eigen::linear<double>> ed{eigen_model<double>(w, b), bad};
    saturation::check_non_finite_gradient_throws(ed, eigen_batch<double>(x));
    saturation::poisoned_gradient<misd::xtensor::linear<double>> xd{xt_model<double>(w, b), bad};
    saturation::check_non_finite_gradient_throws(xd, xt_batch<double>(x));
  }
}

TEST_CASE("the backends' sign keeps NaN (as torch::sign does) and maps ±0 to 0") {
  misd::eigen::batch<float> g(1, 4);
  g << std::numeric_limits<float>::quiet_NaN(), -0.0f, 3.0f, -2.0f;
  const auto s = misd::batch_ops<misd::eigen::batch<float>>::sign(g);
  CHECK(std::isnan(s(0, 0)));
  CHECK(s(0, 1) == 0.0f);
  CHECK(s(0, 2) == 1.0f);
  CHECK(s(0, 3) == -1.0f);
  const auto xs =
      misd::batch_ops<misd::xtensor::batch<float>>::sign(xt_batch<float>(g.cast<double>()));
  CHECK(std::isnan(xs(0, 0)));
  CHECK(xs(0, 3) == -1.0f);
}

TEST_CASE("Eigen all_finite: false for any NaN or ±inf, true for the largest finite values") {
  using ops = misd::batch_ops<misd::eigen::batch<float>>;
  misd::eigen::batch<float> x = misd::eigen::batch<float>::Constant(7, 33, 0.5f);
  x(6, 32) = std::numeric_limits<float>::max();
  x(0, 0) = -std::numeric_limits<float>::max();
  x(3, 3) = std::numeric_limits<float>::denorm_min();
  CHECK(ops::all_finite(x));
  for (float bad : {std::numeric_limits<float>::quiet_NaN(), std::numeric_limits<float>::infinity(),
                    -std::numeric_limits<float>::infinity()})
    for (auto [i, j] : {std::pair{0, 0}, std::pair{6, 32}, std::pair{4, 17}}) {
      CAPTURE(bad);
      CAPTURE(i);
      CAPTURE(j);
      misd::eigen::batch<float> y = x;
      y(i, j) = bad;
      CHECK_FALSE(ops::all_finite(y));
    }
}
