// RR-Refine against closed forms (linear models) and against the real model (its bracket
// ends are verified flips / non-flips, its radius lies in RR-BS's final bracket); the
// in-place path against the value-returning one; RR-BS's early stopping against the full
// budget; threads against one thread.
#include "radius_settings.hpp"
#include "test_support.hpp"

#include <doctest/doctest.h>

#include <cmath>
#include <limits>

using misd::host_matrix;
using misd::host_vector;
using fbatch = misd::eigen::batch<float>;
using fops = misd::batch_ops<fbatch>;

namespace {

/// Only logits / input_gradient: the estimators take their value-returning fallback.
template <class M>
struct value_only {
  using batch_type = misd::batch_t<M>;
  const M& inner;
  batch_type logits(const batch_type& x) const { return inner.logits(x); }
  batch_type input_gradient(const batch_type& x, const batch_type& g) const {
    return inner.input_gradient(x, g);
  }
};

fbatch uniform01(Eigen::Index n, Eigen::Index d, std::uint64_t seed) {
  fbatch x = fops::uniform_noise(fbatch(n, d), seed);
  return (x.array() + 1.0f) / 2.0f;
}

misd::eigen::mlp<float> small_mlp() {
  return misd::eigen::mlp<float>::random({30, 40, 20, 6}, 17);
}

/// Same predictions, statuses and brackets; radii equal to `rel` (the in-place and value
/// paths sum the products in different orders, which moves a regula-falsi root by ulps).
void check_same(const misd::radius_result& a, const misd::radius_result& b, double rel = 0) {
  REQUIRE(a.size() == b.size());
  CHECK(a.prediction == b.prediction);
  CHECK(a.status == b.status);
  for (std::size_t i = 0; i < a.size(); ++i) {
    const auto e = static_cast<Eigen::Index>(i);
    if (rel == 0)
      CHECK(a.radius[e] == b.radius[e]);
    else
      CHECK(a.radius[e] == doctest::Approx(b.radius[e]).epsilon(rel));
    CHECK(a.lower[e] == b.lower[e]);
    CHECK(a.upper[e] == b.upper[e]);
  }
}

} // namespace

TEST_CASE("RR-Refine on a linear model: the exact crossing after its first step") {
  host_matrix w = fops::uniform_noise(fbatch(4, 12), 3).cast<double>();
  Eigen::VectorXd b = Eigen::VectorXd::LinSpaced(4, -0.1, 0.2);
  misd::eigen::linear<double> model(w, b);
  misd::eigen::batch<double> x = uniform01(50, 12, 9).cast<double>();
  misd_test::radius_settings o; // no box: the ray is straight and the margins linear
  const auto r = misd::rr_refine(model, x, o);
  const auto d = misd::attack_direction(model, x, r.prediction);
  const misd::eigen::batch<double> z = model.logits(x);
  int checked = 0;
  for (std::size_t i = 0; i < r.size(); ++i) {
    const auto e = static_cast<Eigen::Index>(i);
    const double t =
        misd_test::linear_crossing(w, z.row(e).transpose(), d.row(e).transpose(), r.prediction[i]);
    CAPTURE(i);
    REQUIRE(std::isfinite(t));
    CHECK(r.status[i] == misd::radius_status::bracketed);
    CHECK(r.radius[e] == doctest::Approx(t).epsilon(1e-9));
    CHECK(r.lower[e] <= t);
    CHECK(r.upper[e] >= t);
    ++checked;
  }
  CHECK(checked == 50);
  // Clean pass, finite-difference step, then one round of (at most) two probes.
  CHECK(r.example_forwards <= 4 * r.size());
  CHECK(r.backwards == 1);
}

TEST_CASE("RR-Refine on an MLP: bracket ends are verified by the real model") {
  // In double, so that evaluating one example alone (below) rounds like the batch did.
  auto model = misd::eigen::mlp<double>::random({30, 40, 20, 6}, 17);
  const misd::eigen::batch<double> x = uniform01(300, 30, 21).cast<double>();
  misd_test::radius_settings o;
  o.box = misd::input_box{0, 1};
  const auto r = misd::rr_refine(model, x, o);
  const auto bs = misd::rr_bs(model, x, o);
  const auto d = misd::attack_direction(model, x, r.prediction);
  auto predict_at = [&](Eigen::Index i, double t) {
    misd::eigen::batch<double> p = x.row(i) + t * d.row(i);
    p = p.cwiseMax(0.0).cwiseMin(1.0);
    host_matrix z = model.logits(p);
    Eigen::Index k;
    z.row(0).maxCoeff(&k);
    return static_cast<int>(k);
  };
  std::size_t inside = 0, bracketed = 0;
  for (std::size_t i = 0; i < r.size(); ++i) {
    const auto e = static_cast<Eigen::Index>(i);
    CAPTURE(i);
    CHECK(r.prediction[i] == bs.prediction[i]);
    if (r.status[i] != misd::radius_status::bracketed)
      continue;
    ++bracketed;
    CHECK(r.lower[e] < r.upper[e]);
    CHECK(r.radius[e] >= r.lower[e]);
    CHECK(r.radius[e] <= r.upper[e]);
    if (r.lower[e] > 0)
      CHECK(predict_at(e, r.lower[e]) == r.prediction[i]); // verified non-flip
    CHECK(predict_at(e, r.upper[e]) != r.prediction[i]);   // verified flip
    if (bs.status[i] == misd::radius_status::bracketed && r.radius[e] >= bs.lower[e] &&
        r.radius[e] <= bs.upper[e])
      ++inside;
  }
  CHECK(bracketed > 250);
  CHECK(double(inside) >= 0.99 * double(bracketed));
  CHECK(double(r.example_forwards) < 0.5 * double(bs.example_forwards));
  CHECK(r.example_forwards <= static_cast<std::size_t>(o.refine_budget) * r.size());
}

TEST_CASE("RR-Refine's forward cap is honoured") {
  auto model = small_mlp();
  const fbatch x = uniform01(100, 30, 5);
  misd_test::radius_settings o;
  o.box = misd::input_box{0, 1};
  o.refine_budget = 3;
  const auto r = misd::rr_refine(model, x, o);
  CHECK(r.example_forwards <= 3 * r.size());
}

TEST_CASE("the in-place path gives what the value-returning path gives") {
  auto model = small_mlp();
  value_only<misd::eigen::mlp<float>> plain{model};
  const fbatch x = uniform01(120, 30, 8);
  misd_test::radius_settings o;
  o.box = misd::input_box{0, 1};
  check_same(misd::rr_bs(model, x, o), misd::rr_bs(plain, x, o));
  check_same(misd::rr_fast(model, x, o), misd::rr_fast(plain, x, o));
  check_same(misd::rr_refine(model, x, o), misd::rr_refine(plain, x, o), 1e-5);
  // And the MLP's in-place members against its own value members.
  typename misd::eigen::mlp<float>::scratch_type s;
  fbatch z, g, dx;
  model.logits_into(x, x.rows(), z, s);
  CHECK((z - model.logits(x)).cwiseAbs().maxCoeff() <= 1e-5f);
  g = fops::uniform_noise(fbatch(x.rows(), 6), 4);
  model.input_gradient_into(x, g, dx, s);
  CHECK((dx - model.input_gradient(x, g)).cwiseAbs().maxCoeff() <= 1e-5f);
}

TEST_CASE("RR-BS early stopping equals the full budget within the tolerance") {
  auto model = small_mlp();
  const fbatch x = uniform01(300, 30, 13);
  misd_test::radius_settings full;
  full.box = misd::input_box{0, 1};
  auto early = full;
  early.tolerance = 1e-3;
  const auto a = misd::rr_bs(model, x, full);
  const auto b = misd::rr_bs(model, x, early);
  CHECK(b.example_forwards < a.example_forwards);
  for (std::size_t i = 0; i < a.size(); ++i) {
    const auto e = static_cast<Eigen::Index>(i);
    CAPTURE(i);
    CHECK(a.status[i] == b.status[i]);
    if (a.status[i] != misd::radius_status::bracketed)
      continue;
    // The same decisions, fewer of them: the early bracket holds the full one ...
    CHECK(b.lower[e] <= a.lower[e]);
    CHECK(b.upper[e] >= a.upper[e]);
    // ... and either it stopped early, narrower than the tolerance, so that the answers
    // differ by less than it, or it ran the whole budget and is the full answer.
    if (b.upper[e] - b.lower[e] <= early.tolerance * b.upper[e]) {
      CHECK(std::abs(a.radius[e] - b.radius[e]) <= early.tolerance * b.upper[e] / 2);
    } else {
      CHECK(a.lower[e] == b.lower[e]);
      CHECK(a.upper[e] == b.upper[e]);
      CHECK(a.radius[e] == b.radius[e]);
    }
  }
}

TEST_CASE("RR-BS early stopping at exactly the tolerance: hi - lo <= tolerance * hi stops") {
  // One feature, logits (x, -x) at x = 0.75: ŷ = 0, the FGSM direction is -1 and the
  // prediction flips for t > 0.75 (at t = 0.75 the tie goes to class 0, the lowest index).
  // From r0 = 0.5 the first probe, 2 r0 = 1, flips: bracket [0.5, 1], whose width 0.5 is
  // exactly tolerance * hi = 0.5 * 1, so RR-BS stops there (all these numbers are exact in
  // binary) with the midpoint 0.75 after 1 probe; searching on would probe 0.75 next.
  misd::eigen::batch<double> w(2, 1);
  w << 1, -1;
  misd::eigen::linear<double> model(w, Eigen::VectorXd::Zero(2));
  misd::eigen::batch<double> x(1, 1);
  x << 0.75;
  misd_test::radius_settings o;
  o.r0 = 0.5;
  o.tolerance = 0.5;
  const auto r = misd::rr_bs(model, x, o);
  REQUIRE(r.status[0] == misd::radius_status::bracketed);
  CHECK(r.lower[0] == 0.5);
  CHECK(r.upper[0] == 1.0);
  CHECK(r.radius[0] == 0.75);
  CHECK(r.example_forwards == 2); // the clean pass and the one probe
}

TEST_CASE("threads: row blocks give the one-thread answer") {
  // A linear model in double with weights and inputs on coarse dyadic grids: blocks of
  // other sizes (which change the kernel's summation order) must take the same decisions. (With
  // float MLPs a row's logits depend on its place in the product by a few ulps, which moves a probe
  // lying on the boundary by one cell.)
  host_matrix w = (fops::uniform_noise(fbatch(5, 16), 3).cast<double>() * 8).array().round() / 8;
  misd::eigen::linear<double> model(w, Eigen::VectorXd::Zero(5));
  misd::eigen::batch<double> x = (uniform01(101, 16, 2).cast<double>() * 16).array().round() / 16;
  misd_test::radius_settings o;
  o.box = misd::input_box{0, 1};
  auto o2 = o;
  o2.threads = 3;
  check_same(misd::rr_bs(model, x, o), misd::rr_bs(model, x, o2));
  check_same(misd::rr_fast(model, x, o), misd::rr_fast(model, x, o2), 1e-12);
  // The ray points themselves are rounded, so the regula-falsi root may move by ulps.
  check_same(misd::rr_refine(model, x, o), misd::rr_refine(model, x, o2), 1e-12);
  const auto one = misd::rr_refine(model, x, o), three = misd::rr_refine(model, x, o2);
  CHECK(one.example_forwards == three.example_forwards);
  CHECK(three.forwards <= one.forwards);
}
