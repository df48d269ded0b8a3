// Eigen models: exact input gradients (finite differences), concepts, normalisation.
#include "misd/xtensor.hpp"
#include "test_support.hpp"

#include <doctest/doctest.h>

using misd::eigen::batch;

static_assert(misd::Differentiable<misd::eigen::mlp<float>>);
static_assert(misd::Differentiable<misd::eigen::linear<double>>);
static_assert(misd::Differentiable<misd::xtensor::linear<double>>);
static_assert(misd::Differentiable<misd_test::counting_model<misd::eigen::mlp<float>>>);

namespace {
struct logits_only {
  using batch_type = misd::eigen::batch<float>;
  batch_type logits(const batch_type& x) const { return x; }
};
struct no_batch_type {
  misd::eigen::batch<float> logits(const misd::eigen::batch<float>& x) const { return x; }
};
} // namespace
static_assert(misd::Classifier<logits_only>);
static_assert(!misd::Differentiable<logits_only>);
static_assert(!misd::Classifier<no_batch_type>);
static_assert(!misd::Batch<std::vector<float>>);

TEST_CASE("MLP input gradient matches central differences, with and without normalisation") {
  auto plain = misd::eigen::mlp<double>::random({12, 9, 7, 4}, 5);
  const batch<double> x = batch<double>::Random(6, 12);
  misd::gradient_check_options o;
  o.step = 1e-6;
  o.tolerance = 1e-6;
  o.samples = 72; // every coordinate
  auto rep = misd::check_input_gradient(plain, x, o);
  CHECK_MESSAGE(rep.passed, rep.message());

  misd::eigen::normalization<double> n{Eigen::VectorXd::Constant(12, 0.3),
                                       Eigen::VectorXd::LinSpaced(12, 0.2, 2.0)};
  misd::eigen::mlp<double> normed(plain.dense_layers(), n);
  rep = misd::check_input_gradient(normed, x, o);
  CHECK_MESSAGE(rep.passed, rep.message());
  // Normalising inside the model equals normalising outside it.
  const batch<double> xn =
      ((x.rowwise() - n.mean.transpose()).array().rowwise() / n.std.transpose().array()).matrix();
  CHECK((normed.logits(x) - plain.logits(xn)).cwiseAbs().maxCoeff() < 1e-12);
}

TEST_CASE("the gradient checker catches a wrong gradient") {
  struct wrong {
    using batch_type = batch<double>;
    batch_type w = batch_type::Random(3, 4);
    batch_type logits(const batch_type& x) const { return x * w.transpose(); }
    batch_type input_gradient(const batch_type&, const batch_type& g) const { return 1.01 * g * w; }
  } m;
  const batch<double> x = batch<double>::Random(2, 4);
  misd::gradient_check_options o;
  o.step = 1e-6;
  o.tolerance = 1e-4;
  const auto rep = misd::check_input_gradient(m, x, o);
  CHECK_FALSE(rep.passed);
  CHECK(rep.max_relative_error == doctest::Approx(0.01 / 1.01).epsilon(1e-3));
}

TEST_CASE("MLP parameter gradients equal input-gradient algebra on the last layer") {
  auto m = misd::eigen::mlp<double>::random({3, 2}, 9); // linear: dW = Gᵀ X, db = Σ G
  const batch<double> x = batch<double>::Random(4, 3);
  const batch<double> g = batch<double>::Random(4, 2);
  m.zero_gradients();
  m.accumulate_gradients(x, g);
  const auto grads = m.gradients();
  const batch<double> dw = g.transpose() * x;
  for (std::size_t j = 0; j < 6; ++j)
    CHECK(grads[0][j] == doctest::Approx(dw.data()[j]).epsilon(1e-14));
  CHECK(grads[1][0] == doctest::Approx(g.col(0).sum()));
}

TEST_CASE("MLP constructor rejects layers that do not chain, naming them") {
  std::vector<misd::eigen::dense_layer<float>> ls{
      {batch<float>::Zero(4, 3), Eigen::VectorXf::Zero(4)},
      {batch<float>::Zero(2, 5), Eigen::VectorXf::Zero(2)}};
  CHECK_THROWS_WITH_AS(misd::eigen::mlp<float>{ls},
                       doctest::Contains("layer 1 takes 5 inputs but layer 0 gives 4"),
                       misd::invalid_argument);
}
