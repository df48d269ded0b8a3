// Checks shared by every backend (test_saturation.cpp: Eigen, xtensor; test_torch.cpp: torch
// on CPU): linear models whose softmax saturates, against closed forms computed here in
// double from the model's own (rounded) parameters.
//
// The model is z = W x + b with K = 3 classes. Row i of the inputs is x_i = g_i u, with u
// chosen so that W u = (0.5, -0.5, -0.5): logit gap g_i between the prediction (class 0)
// and the runner-up (class 1), and b_2 = -20 puts class 2 further away still. For each
// gap g in 1 .. 1000 and each temperature T in {0.2, 0.5, 1, 2} (g / T up to 5,000, far
// beyond where softmax(z / T) rounds to one-hot in double):
//   * the attack direction is sign(Σ_{k≠0} q_k (w_k − w_0)), q_k = exp((z_k − z_1)/T);
//   * RR-Fast is the crossing of the (exactly linear) logits along it;
//   * RR-BS brackets that crossing;
//   * FGSM steps by ε times that sign pattern; ODIN's preprocessing by minus it;
//   * RAT's perturbed inputs are x ± ε times it.
#pragma once

#include "misd/attack/fgsm.hpp"
#include "misd/radius/rr_bs.hpp"
#include "misd/radius/rr_fast.hpp"
#include "misd/radius/rr_refine.hpp"
#include "misd/score/preprocess.hpp"
#include "misd/train/rat.hpp"
#include "radius_settings.hpp"

#include <Eigen/Cholesky>
#include <doctest/doctest.h>

#include <cmath>
#include <limits>
#include <string>
#include <vector>

namespace saturation {

using misd::host_matrix;
using misd::host_vector;

inline host_matrix weights() { // K x D = 3 x 4, times 100 (L1 norms of differences ~ 1,000)
  host_matrix w(3, 4);
  w << 1.0, -2.0, 0.5, 3.0, //
      -1.0, 1.0, 2.0, -0.5, //
      0.5, 0.5, -1.0, 1.0;
  return 100.0 * w;
}
inline Eigen::VectorXd biases() {
  Eigen::VectorXd b(3);
  b << 0.0, 0.0, -20.0;
  return b;
}
inline std::vector<double> gaps() {
  return {1, 3, 10, 30, 100, 300, 1000};
}
inline std::vector<double> temperatures() {
  return {0.2, 0.5, 1.0, 2.0};
}

/// x_i = g_i u with W u = (0.5, -0.5, -0.5) (minimum-norm u).
inline host_matrix inputs() {
  const host_matrix w = weights();
  Eigen::VectorXd target(3);
  target << 0.5, -0.5, -0.5;
  const Eigen::VectorXd u = w.transpose() * (w * w.transpose()).ldlt().solve(target);
  const auto g = gaps();
  host_matrix x(static_cast<Eigen::Index>(g.size()), 4);
  for (std::size_t i = 0; i < g.size(); ++i)
    x.row(static_cast<Eigen::Index>(i)) = g[i] * u.transpose();
  return x;
}

/// The expected attack direction of every row of x (host copies of what the model holds),
/// the loss's input gradient's exact sign: sign(Σ_{k≠c} q_k (w_k − w_c)), c the prediction.
inline host_matrix exact_direction(const host_matrix& w, const Eigen::VectorXd& b,
                                   const host_matrix& x, double t) {
  host_matrix d(x.rows(), x.cols());
  for (Eigen::Index i = 0; i < x.rows(); ++i) {
    const Eigen::VectorXd z = w * x.row(i).transpose() + b;
    Eigen::Index c = 0;
    z.maxCoeff(&c);
    double second = -std::numeric_limits<double>::infinity();
    for (Eigen::Index k = 0; k < z.size(); ++k)
      if (k != c)
        second = std::max(second, z[k]);
    Eigen::VectorXd g = Eigen::VectorXd::Zero(x.cols());
    for (Eigen::Index k = 0; k < z.size(); ++k)
      if (k != c)
        g += std::exp((z[k] - second) / t) * (w.row(k) - w.row(c)).transpose();
    for (Eigen::Index j = 0; j < x.cols(); ++j)
      d(i, j) = double((g[j] > 0) - (g[j] < 0));
  }
  return d;
}

/// First crossing of the prediction along x + s d for a linear model (exact).
inline double crossing(const host_matrix& w, const Eigen::VectorXd& b, const Eigen::VectorXd& x,
                       const Eigen::VectorXd& d) {
  const Eigen::VectorXd z = w * x + b, s = w * d;
  Eigen::Index c = 0;
  z.maxCoeff(&c);
  double t = std::numeric_limits<double>::infinity();
  for (Eigen::Index k = 0; k < z.size(); ++k)
    if (k != c && s[k] > s[c])
      t = std::min(t, (z[c] - z[k]) / (s[k] - s[c]));
  return t;
}

/// Every check above on one model. `w`, `b`: the parameters as the model holds them (float
/// models: rounded to float); `x`: the inputs as the model sees them; `to_batch` makes a
/// batch of the model's type from a host matrix; `rel`: relative tolerance of RR-Fast.
template <class Model, class ToBatch>
void check_linear_model(Model& model, const host_matrix& w, const Eigen::VectorXd& b,
                        const host_matrix& x, ToBatch&& to_batch, double rel, double fd_step) {
  using ops = misd::batch_ops<misd::batch_t<Model>>;
  const auto xb = to_batch(x);
  const auto n = x.rows();
  misd::label_vector pred(static_cast<std::size_t>(n), 0);
  for (double t : temperatures()) {
    CAPTURE(t);
    const host_matrix d = exact_direction(w, b, x, t);
    // FGSM's step: ε times the exact sign pattern.
    misd::attack_options ao;
    ao.temperature = t;
    host_matrix step;
    ops::to_host(misd::fgsm(model, xb, pred, 0.25, ao), step);
    // ODIN's preprocessing: the step that raises log p_top is the opposite one.
    misd::score::preprocess_options po;
    po.temperature = t;
    po.epsilon = 0.25;
    host_matrix pre;
    ops::to_host(misd::score::preprocess_input(model, xb, misd::score::logit_score::msr, po), pre);
    // RAT (correct predictions: towards the boundary), AT (the same) and ReverseAT (away).
    host_matrix rat, reverse;
    misd::train::objective_options oo;
    oo.epsilon = 0.25;
    oo.box.reset();
    oo.kind = misd::train::objective::rat;
    ops::to_host(misd::train::perturbed_inputs(model, xb, pred, oo), rat);
    oo.kind = misd::train::objective::reverse_at;
    ops::to_host(misd::train::perturbed_inputs(model, xb, pred, oo), reverse);

    misd_test::radius_settings ro;
    ro.temperature = t;
    ro.budget = 40;
    ro.fd_step = fd_step;
    const auto fast = misd::rr_fast(model, xb, ro);
    const auto bs = misd::rr_bs(model, xb, ro);
    ro.refine_budget = 40;
    const auto refine = misd::rr_refine(model, xb, ro);
    for (Eigen::Index i = 0; i < n; ++i) {
      CAPTURE(i);
      const double radius = crossing(w, b, x.row(i).transpose(), d.row(i).transpose());
      REQUIRE(std::isfinite(radius));
      for (Eigen::Index j = 0; j < x.cols(); ++j) {
        CAPTURE(j);
        CHECK((step(i, j) - x(i, j)) / 0.25 == doctest::Approx(d(i, j)).epsilon(1e-4));
        CHECK((pre(i, j) - x(i, j)) / 0.25 == doctest::Approx(-d(i, j)).epsilon(1e-4));
        CHECK((rat(i, j) - x(i, j)) / 0.25 == doctest::Approx(d(i, j)).epsilon(1e-4));
        CHECK((reverse(i, j) - x(i, j)) / 0.25 == doctest::Approx(-d(i, j)).epsilon(1e-4));
      }
      CHECK(fast.status[i] == misd::radius_status::linear_estimate);
      CHECK(fast.radius[i] == doctest::Approx(radius).epsilon(rel));
      CHECK(bs.status[i] == misd::radius_status::bracketed);
      CHECK(bs.lower[i] <= radius * (1 + rel));
      CHECK(bs.upper[i] >= radius * (1 - rel));
      CHECK(refine.status[i] == misd::radius_status::bracketed);
      CHECK(refine.lower[i] <= radius * (1 + rel));
      CHECK(refine.upper[i] >= radius * (1 - rel));
    }
  }
}

/// The model: W = [[1000, 0], [-1000, 0]], x = (x1, 0.5): the exact L∞ radius is x1
/// (gap 2000 x1), the direction (-1, 0).
template <class Model, class ToBatch>
void check_two_class_model(Model& model, ToBatch&& to_batch, double rel) {
  const std::vector<double> x1{0.001, 0.01, 0.03, 0.05, 0.1, 0.2, 0.3};
  host_matrix x(static_cast<Eigen::Index>(x1.size()), 2);
  for (std::size_t i = 0; i < x1.size(); ++i)
    x.row(static_cast<Eigen::Index>(i)) << x1[i], 0.5;
  const auto xb = to_batch(x);
  misd_test::radius_settings ro;
  ro.budget = 40;
  const auto fast = misd::rr_fast(model, xb, ro);
  const auto bs = misd::rr_bs(model, xb, ro);
  for (std::size_t i = 0; i < x1.size(); ++i) {
    CAPTURE(i);
    const auto e = static_cast<Eigen::Index>(i);
    CHECK(fast.status[i] == misd::radius_status::linear_estimate);
    CHECK(fast.radius[e] == doctest::Approx(x1[i]).epsilon(rel));
    CHECK(bs.status[i] == misd::radius_status::bracketed);
    CHECK(bs.lower[e] <= x1[i] * (1 + rel));
    CHECK(bs.upper[e] >= x1[i] * (1 - rel));
  }
}

/// Wraps a model so that its input gradient holds `bad` at (row, col): every estimator,
/// attack, preprocessing and RAT step must throw data_error naming the example.
template <class Base>
struct poisoned_gradient {
  using batch_type = misd::batch_t<Base>;
  Base base;
  double bad;
  Eigen::Index row = 1, col = 0;
  batch_type logits(const batch_type& x) const { return base.logits(x); }
  batch_type input_gradient(const batch_type& x, const batch_type& g) const {
    using ops = misd::batch_ops<batch_type>;
    host_matrix h;
    ops::to_host(base.input_gradient(x, g), h);
    h(row, col) = bad;
    return ops::from_host(h, x);
  }
};

template <class Model, class Batch>
void check_non_finite_gradient_throws(Model& model, const Batch& x) {
  const auto n = misd::batch_ops<Batch>::rows(x);
  const misd::label_vector y(n, 0);
  const std::string needle = "input gradient of example 1 is not finite";
  auto throws = [&](auto&& call, const char* what) {
    CAPTURE(what);
    CHECK_THROWS_WITH_AS(call(), doctest::Contains(needle.c_str()), misd::data_error);
  };
  misd_test::radius_settings ro;
  ro.budget = 4;
  throws([&] { return misd::rr_fast(model, x, ro); }, "rr_fast");
  throws([&] { return misd::rr_bs(model, x, ro); }, "rr_bs");
  throws([&] { return misd::rr_refine(model, x, ro); }, "rr_refine");
  ro.pgd_steps = 2;
  throws([&] { return misd::rr_bs_pgd(model, x, ro); }, "rr_bs_pgd");
  throws([&] { return misd::attack_direction(model, x, y); }, "attack_direction");
  throws([&] { return misd::fgsm(model, x, y, 0.1); }, "fgsm");
  misd::pgd_options pg;
  pg.steps = 2;
  throws([&] { return misd::pgd(model, x, y, 0.1, pg); }, "pgd");
  misd::score::preprocess_options po;
  po.epsilon = 0.01;
  throws([&] { return misd::score::preprocess_input(model, x, misd::score::logit_score::msr, po); },
         "preprocess_input");
  misd::train::objective_options oo;
  oo.box.reset();
  throws([&] { return misd::train::perturbed_inputs(model, x, y, oo); }, "perturbed_inputs");
}

} // namespace saturation
