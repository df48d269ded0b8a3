// FGSM and PGD against hand computations on a linear model (whose gradient is known).
#include "test_support.hpp"

#include <doctest/doctest.h>

using misd::eigen::batch;

namespace {
// Two classes, z = x Wᵀ: ∇_x CE(z, y) = Σ_k (p_k − [k = y]) w_k, so for y = 0 its sign is
// sign(w_1 − w_0) wherever p_1 > 0.
misd::eigen::linear<double> two_class() {
  batch<double> w(2, 3);
  w << 1.0, -1.0, 0.0, -1.0, 1.0, 2.0;
  return {w, Eigen::VectorXd::Zero(2)};
}
} // namespace

TEST_CASE("FGSM steps by eps along the sign of the loss gradient, clamped to the box") {
  auto m = two_class();
  batch<double> x(2, 3);
  x << 0.5, 0.5, 0.5, 0.99, 0.01, 0.5;
  const misd::label_vector y{0, 0};
  misd::attack_options o;
  o.box = misd::input_box{0, 1};
  const auto adv = misd::fgsm(m, x, y, 0.1, o);
  batch<double> expected(2, 3); // sign(w1 − w0) = (−1, +1, +1)
  expected << 0.4, 0.6, 0.6, 0.89, 0.11, 0.6;
  CHECK((adv - expected).cwiseAbs().maxCoeff() < 1e-15);

  SUBCASE("per-example eps and reverse mode") {
    o.reverse = true;
    const auto rev = misd::fgsm(m, x, y, Eigen::Vector2d(0.2, 0.05), o);
    batch<double> e2(2, 3);
    e2 << 0.7, 0.3, 0.3, 1.0, 0.0, 0.45; // clamped at the box edges
    CHECK((rev - e2).cwiseAbs().maxCoeff() < 1e-15);
  }
  SUBCASE("targeted descends the target's loss") {
    o.targeted = true;
    const auto t = misd::fgsm(m, x, misd::label_vector{1, 1}, 0.1, o);
    // descending CE(·,1) moves along sign(w1 − w0) as well
    CHECK((t - expected).cwiseAbs().maxCoeff() < 1e-15);
  }
}

TEST_CASE("PGD stays in the eps-ball and the box, and random start is reproducible") {
  const auto m = misd::eigen::mlp<double>::random({5, 7, 3}, 2);
  const batch<double> x = (batch<double>::Random(8, 5).array() + 1) / 2;
  misd::label_vector y(8, 1);
  misd::pgd_options o;
  o.box = misd::input_box{0, 1};
  o.steps = 7;
  o.random_start = true;
  o.seed = 42;
  const auto a = misd::pgd(m, x, y, 0.05, o);
  const auto b = misd::pgd(m, x, y, 0.05, o);
  CHECK(a == b);
  CHECK((a - x).cwiseAbs().maxCoeff() <= 0.05 + 1e-15);
  CHECK(a.minCoeff() >= 0.0);
  CHECK(a.maxCoeff() <= 1.0);
  o.seed = 43;
  CHECK(misd::pgd(m, x, y, 0.05, o) != a);
}

TEST_CASE("PGD with one step and no random start equals FGSM with the step size") {
  auto m = two_class();
  batch<double> x(1, 3);
  x << 0.5, 0.5, 0.5;
  misd::pgd_options o;
  o.steps = 1;
  o.step_fraction = 1.0;
  CHECK(misd::pgd(m, x, {0}, 0.1, o) == misd::fgsm(m, x, {0}, 0.1));
}

TEST_CASE("PGD increases the loss on a linear model more than a single small step") {
  auto m = two_class();
  batch<double> x(1, 3);
  x << 0.5, 0.5, 0.5;
  misd::pgd_options o;
  o.steps = 4; // α = ε/4: four steps walk exactly to the ball's corner
  const auto adv = misd::pgd(m, x, {0}, 0.2, o);
  batch<double> corner(1, 3);
  corner << 0.3, 0.7, 0.7;
  CHECK((adv - corner).cwiseAbs().maxCoeff() < 1e-12);
}
