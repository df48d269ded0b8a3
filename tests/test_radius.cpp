// Tests of RR-BS and RR-Fast against closed forms, typed over the Eigen and xtensor
// backends, plus the MLP, cost and bad-input checks.
#include "misd/xtensor.hpp"
#include "radius_settings.hpp"
#include "test_support.hpp"

#include <doctest/doctest.h>

#include <cmath>
#include <limits>
#include <string>
#include <utility>
#include <vector>

using misd::host_matrix;
using misd::host_vector;

namespace {

// A K x D linear model with a fixed weight matrix and bias, built for each backend.
const host_matrix& weights() {
  static const host_matrix w = [] {
    host_matrix m(4, 6);
    m << 0.9, -0.3, 0.5, 0.1, -0.7, 0.2, //
        -0.4, 0.8, 0.3, -0.6, 0.5, -0.1, //
        0.2, 0.1, -0.9, 0.7, 0.3, 0.6,   //
        -0.5, -0.2, 0.4, 0.3, 0.1, -0.8;
    return m;
  }();
  return w;
}
const Eigen::VectorXd& bias() {
  static const Eigen::VectorXd b = (Eigen::VectorXd(4) << 0.1, -0.2, 0.05, 0.0).finished();
  return b;
}
host_matrix inputs() {
  host_matrix x(5, 6);
  x << 0.2, 0.7, 0.1, 0.9, 0.4, 0.3, //
      0.8, 0.1, 0.5, 0.2, 0.6, 0.9,  //
      0.5, 0.5, 0.5, 0.5, 0.5, 0.5,  //
      0.1, 0.9, 0.8, 0.3, 0.2, 0.4,  //
      0.6, 0.3, 0.2, 0.7, 0.9, 0.1;
  return x;
}

struct eigen_backend {
  using model_type = misd::eigen::linear<double>;
  using batch_type = misd::eigen::batch<double>;
  static model_type model() { return model_type(weights(), bias()); }
  static batch_type batch(const host_matrix& x) { return x; }
};
struct xtensor_backend {
  using model_type = misd::xtensor::linear<double>;
  using batch_type = misd::xtensor::batch<double>;
  static batch_type batch(const host_matrix& x) {
    return misd::batch_ops<batch_type>::from_host(x, batch_type{});
  }
  static model_type model() {
    xt::xtensor<double, 1> b = xt::zeros<double>({std::size_t(bias().size())});
    for (Eigen::Index i = 0; i < bias().size(); ++i)
      b(std::size_t(i)) = bias()[i];
    return model_type(batch(weights()), b);
  }
};

template <class B>
host_matrix host(const B& b) {
  host_matrix h;
  misd::batch_ops<B>::to_host(b, h);
  return h;
}

} // namespace

TEST_CASE_TEMPLATE("linear model: RR-Fast is the exact crossing, RR-BS brackets it", Backend,
                   eigen_backend, xtensor_backend) {
  auto model = Backend::model();
  const auto x = Backend::batch(inputs());
  const misd_test::radius_settings opts; // budget 25, r0 1e-6, no box
  const auto fast = misd::rr_fast(model, x, opts);
  const auto bs = misd::rr_bs(model, x, opts);

  const host_matrix z = host(model.logits(x));
  const host_matrix xh = inputs();
  misd::label_vector yhat;
  misd::detail::argmax_rows(z, yhat);
  const host_matrix d = host(misd::attack_direction(model, x, yhat, misd::attack_options{}));
  for (Eigen::Index i = 0; i < xh.rows(); ++i) {
    CAPTURE(i);
    const double t = misd_test::linear_crossing(weights(), z.row(i).transpose(),
                                                d.row(i).transpose(), yhat[std::size_t(i)]);
    REQUIRE(std::isfinite(t));
    CHECK(fast.status[std::size_t(i)] == misd::radius_status::linear_estimate);
    CHECK(fast.radius[i] == doctest::Approx(t).epsilon(1e-5));
    // RR-BS: the bracket contains t, and is exactly as narrow as the budget implies:
    // m doublings from r0 to the first flip (flip iff r > t), then 24 - m bisections.
    REQUIRE(bs.bracketed(std::size_t(i)));
    CHECK(bs.lower[i] <= t);
    CHECK(bs.upper[i] >= t);
    int m = 1;
    while (opts.r0 * std::ldexp(1.0, m) <= t)
      ++m;
    const double expected_width =
        opts.r0 * std::ldexp(1.0, m - 1) / std::ldexp(1.0, opts.budget - 1 - m);
    CHECK(bs.width()[i] == doctest::Approx(expected_width).epsilon(1e-9));
    CHECK(bs.radius[i] == doctest::Approx((bs.lower[i] + bs.upper[i]) / 2));
  }
  CHECK(bs.forwards == 25);
  CHECK(bs.backwards == 1);
  CHECK(fast.forwards == 2);
  CHECK(fast.backwards == 1);
}

TEST_CASE_TEMPLATE("two-class linear model: both estimators give |z0 - z1| / ||w0 - w1||_1",
                   Backend, eigen_backend, xtensor_backend) {
  using B = typename Backend::batch_type;
  host_matrix w(2, 3);
  w << 1.0, -2.0, 0.5, -0.5, 1.0, 1.5;
  host_matrix xh(3, 3);
  xh << 0.3, 0.1, 0.2, 0.9, 0.4, 0.1, 0.2, 0.2, 0.8;
  typename Backend::model_type model = [&] {
    if constexpr (std::is_same_v<Backend, eigen_backend>)
      return misd::eigen::linear<double>(w, Eigen::VectorXd::Zero(2));
    else
      return misd::xtensor::linear<double>(Backend::batch(w), xt::zeros<double>({2}));
  }();
  const B x = Backend::batch(xh);
  misd_test::radius_settings opts;
  opts.budget = 60; // enough bisections to pin the radius to ~1e-12
  const auto bs = misd::rr_bs(model, x, opts);
  const auto fast = misd::rr_fast(model, x, opts);
  const double l1 = (w.row(0) - w.row(1)).cwiseAbs().sum();
  for (Eigen::Index i = 0; i < 3; ++i) {
    const double zgap = std::abs((w.row(0) - w.row(1)).dot(xh.row(i)));
    CAPTURE(i);
    CHECK(fast.radius[i] == doctest::Approx(zgap / l1).epsilon(1e-5));
    CHECK(bs.radius[i] == doctest::Approx(zgap / l1).epsilon(1e-5));
  }
}

TEST_CASE("MLP: the prediction flips at the RR-BS upper end and not at the lower end") {
  const auto model = misd::eigen::mlp<float>::random({20, 32, 16, 5}, 7);
  const misd::eigen::batch<float> x =
      (misd::eigen::batch<float>::Random(64, 20).array() + 1.0f) / 2.0f;
  misd_test::radius_settings opts;
  opts.box = misd::input_box{0.0, 1.0};
  const auto bs = misd::rr_bs(model, x, opts);
  misd::attack_options ao;
  const auto d = misd::attack_direction(model, x, bs.prediction, ao);
  using ops = misd::batch_ops<misd::eigen::batch<float>>;
  misd::label_vector at_lo, at_hi;
  auto probe = [&](const host_vector& r) {
    auto xp = ops::add_scaled_rows(x, r, d);
    ops::clamp(xp, 0.0, 1.0);
    misd::label_vector p;
    misd::detail::argmax_rows(model.logits(xp).cast<double>(), p);
    return p;
  };
  const host_vector hi_finite =
      bs.upper.unaryExpr([](double v) { return std::isfinite(v) ? v : 0.0; });
  at_lo = probe(bs.lower);
  at_hi = probe(hi_finite);
  std::size_t bracketed = 0;
  for (std::size_t i = 0; i < bs.size(); ++i) {
    CAPTURE(i);
    CHECK(at_lo[i] == bs.prediction[i]);
    if (bs.bracketed(i)) {
      ++bracketed;
      CHECK(at_hi[i] != bs.prediction[i]);
      CHECK(bs.lower[i] < bs.upper[i]);
    }
  }
  CHECK(bracketed > 32); // most random-MLP predictions flip within the box
}

TEST_CASE("counting wrapper: RR-BS = 1 backward + 25 forwards, RR-Fast = 1 backward + 2 forwards") {
  auto inner = misd::eigen::mlp<float>::random({10, 8, 3}, 3);
  misd_test::counting_model<misd::eigen::mlp<float>> model{inner};
  const misd::eigen::batch<float> x = misd::eigen::batch<float>::Random(16, 10);
  const auto bs = misd::rr_bs(model, x);
  CHECK(model.forwards == 25);
  CHECK(model.backwards == 1);
  CHECK(bs.forwards == 25);
  model.forwards = model.backwards = 0;
  misd::rr_fast(model, x);
  CHECK(model.forwards == 2);
  CHECK(model.backwards == 1);
  model.forwards = model.backwards = 0;
  misd_test::radius_settings o;
  o.budget = 5;
  o.pgd_steps = 3;
  const auto pg = misd::rr_bs_pgd(model, x, o);
  // 1 clean forward, then 4 probes of (3 forward+backward steps + 1 forward).
  CHECK(model.forwards == 1 + 4 * 4);
  CHECK(model.backwards == 4 * 3);
  CHECK(pg.forwards == model.forwards);
  CHECK(pg.backwards == model.backwards);
}

namespace {
// A model offering logits_and_input_gradient (the LibTorch adapter's one-forward path),
// built from an Eigen MLP's logits and input_gradient so that its answers must equal the
// plain model's exactly; `forgetful` returns without calling the upstream function.
template <class M>
struct fused_model {
  using batch_type = misd::batch_t<M>;
  M& inner;
  bool forgetful = false;
  std::size_t logits_calls = 0, gradient_calls = 0, fused_calls = 0;
  batch_type logits(const batch_type& x) {
    ++logits_calls;
    return inner.logits(x);
  }
  batch_type input_gradient(const batch_type& x, const batch_type& g) {
    ++gradient_calls;
    return inner.input_gradient(x, g);
  }
  batch_type
  logits_and_input_gradient(const batch_type& x,
                            const std::function<batch_type(const batch_type&)>& upstream) {
    ++fused_calls;
    if (forgetful)
      return inner.input_gradient(x, batch_type::Zero(x.rows(), 3));
    return inner.input_gradient(x, upstream(inner.logits(x)));
  }
};
} // namespace

TEST_CASE("models with logits_and_input_gradient: one call instead of logits + input_gradient") {
  auto inner = misd::eigen::mlp<double>::random({10, 8, 3}, 3);
  fused_model<misd::eigen::mlp<double>> fused{inner};
  misd_test::counting_model<misd::eigen::mlp<double>> plain{inner};
  const misd::eigen::batch<double> x = misd::eigen::batch<double>::Random(16, 10);
  static_assert(misd::FusedModel<decltype(fused)>);
  static_assert(!misd::FusedModel<decltype(plain)>);

  const auto fast = misd::rr_fast(fused, x), fast_plain = misd::rr_fast(plain, x);
  CHECK(fused.fused_calls == 1);
  CHECK(fused.logits_calls == 1); // the finite-difference point only
  CHECK(fused.gradient_calls == 0);
  CHECK(plain.forwards == 2);
  CHECK((fast.radius.array() == fast_plain.radius.array()).all());
  CHECK(fast.prediction == fast_plain.prediction);
  CHECK(fast.forwards == 2); // counted passes are the same: 1 forward + 1 backward, then 1
  CHECK(fast.backwards == 1);

  fused.fused_calls = fused.logits_calls = 0;
  const auto bs = misd::rr_bs(fused, x), bs_plain = misd::rr_bs(plain, x);
  CHECK(fused.fused_calls == 1);
  CHECK(fused.logits_calls == 24);
  CHECK((bs.radius.array() == bs_plain.radius.array()).all());

  misd_test::radius_settings o;
  o.budget = 4;
  o.pgd_steps = 2;
  fused.fused_calls = fused.logits_calls = 0;
  const auto pg = misd::rr_bs_pgd(fused, x, o), pg_plain = misd::rr_bs_pgd(plain, x, o);
  CHECK(fused.fused_calls == 3 * 2);  // the clean pass is a forward only: PGD's first step
  CHECK(fused.logits_calls == 1 + 3); // gives the direction; 3 probes of 2 steps + 1 forward
  CHECK((pg.radius.array() == pg_plain.radius.array()).all());

  const misd::label_vector y(16, 1);
  fused.fused_calls = 0;
  const auto d = misd::attack_direction(fused, x, y);
  CHECK(fused.fused_calls == 1);
  CHECK((d.array() == misd::attack_direction(plain, x, y).array()).all());

  misd::score::preprocess_options po;
  po.epsilon = 1e-3;
  fused.fused_calls = 0;
  const auto c = misd::score::preprocessed_confidence(fused, x, misd::score::logit_score::msr, po);
  CHECK(fused.fused_calls == 1);
  CHECK((c.array() ==
         misd::score::preprocessed_confidence(plain, x, misd::score::logit_score::msr, po).array())
            .all());

  fused.forgetful = true;
  CHECK_THROWS_WITH_AS(misd::rr_fast(fused, x),
                       doctest::Contains("returned without calling its upstream function"),
                       misd::invalid_argument);
}

TEST_CASE("RR-BS with PGD base: bracket ends verified against the PGD attack") {
  const auto model = misd::eigen::mlp<double>::random({6, 12, 3}, 11);
  const misd::eigen::batch<double> x = (misd::eigen::batch<double>::Random(20, 6).array() + 1) / 2;
  misd_test::radius_settings o;
  o.box = misd::input_box{0, 1};
  const auto r = misd::rr_bs_pgd(model, x, o);
  const auto fgsm_r = misd::rr_bs(model, x, o);
  // Without random start PGD is deterministic and each example's attack is independent
  // of the others, so the bracket ends can be re-attacked one radius at a time.
  misd::pgd_options po;
  po.box = o.box;
  po.steps = o.pgd_steps;
  auto flips = [&](const misd::host_vector& radii) {
    misd::label_vector p;
    misd::detail::argmax_rows(model.logits(misd::pgd(model, x, r.prediction, radii, po)), p);
    return p;
  };
  const auto at_lo = flips(r.lower);
  const auto at_hi = flips(r.upper.unaryExpr([](double v) { return std::isfinite(v) ? v : 0.0; }));
  std::size_t bracketed = 0, no_larger = 0;
  for (std::size_t i = 0; i < r.size(); ++i) {
    CAPTURE(i);
    CHECK(at_lo[i] == r.prediction[i]);
    if (r.bracketed(i)) {
      ++bracketed;
      CHECK(at_hi[i] != r.prediction[i]);
    }
    // PGD searches a ball that contains the FGSM ray's points: it should rarely need a
    // larger radius than the FGSM ray's verified flip. It is not guaranteed (a 10-step
    // PGD need not reach the ray's point), so this is a majority property.
    no_larger += r.radius[Eigen::Index(i)] <= fgsm_r.upper[Eigen::Index(i)];
  }
  CHECK(bracketed == r.size());
  CHECK(no_larger >= r.size() * 9 / 10);
}

TEST_CASE("zero attack direction is flagged and least confident") {
  // A model whose logits do not depend on the input: gradient zero everywhere.
  misd::eigen::linear<double> flat(misd::eigen::batch<double>::Zero(3, 4),
                                   Eigen::VectorXd::LinSpaced(3, 0, 1));
  const misd::eigen::batch<double> x = misd::eigen::batch<double>::Constant(2, 4, 0.5);
  for (const auto& r : {misd::rr_bs(flat, x), misd::rr_fast(flat, x)}) {
    for (std::size_t i = 0; i < 2; ++i) {
      CHECK(r.status[i] == misd::radius_status::zero_direction);
      CHECK(r.radius[Eigen::Index(i)] == 0.0);
    }
  }
}

/// Logits (0, max(x_0, 0)): flat (zero gradient) where x_0 <= 0; elsewhere ŷ = 1, and the
/// prediction flips once x_0 is lowered to 0 (a tie goes to class 0), at radius x_0.
struct hinge_model {
  using batch_type = misd::eigen::batch<double>;
  batch_type logits(const batch_type& x) const {
    batch_type z = batch_type::Zero(x.rows(), 2);
    z.col(1) = x.col(0).cwiseMax(0.0);
    return z;
  }
  batch_type input_gradient(const batch_type& x, const batch_type& g) const {
    batch_type d = batch_type::Zero(x.rows(), x.cols());
    d.col(0) = (g.col(1).array() * (x.col(0).array() > 0).cast<double>()).matrix();
    return d;
  }
};

TEST_CASE("RR-BS with PGD base flags a zero attack direction like RR-BS, at no extra cost") {
  hinge_model inner;
  misd_test::counting_model<hinge_model> model{inner};
  misd::eigen::batch<double> x = misd::eigen::batch<double>::Constant(4, 3, 0.25);
  x.col(0) << -0.5, 0.3, -1.0, 0.7; // rows 0 and 2 flat, rows 1 and 3 flip at x_0
  const auto bs = misd::rr_bs(inner, x);
  const double inf = std::numeric_limits<double>::infinity();
  auto check = [&](const misd::radius_result& r, bool random_start) {
    for (std::size_t i = 0; i < 4; ++i) {
      CAPTURE(i);
      const auto e = Eigen::Index(i);
      CHECK((r.status[i] == misd::radius_status::zero_direction) == (x(e, 0) <= 0));
      CHECK(r.status[i] == bs.status[i]); // the same examples as RR-BS
      if (x(e, 0) <= 0) {
        CHECK(r.prediction[i] == 0);
        CHECK(r.radius[e] == 0.0); // least confident, as RR-BS and RR-Fast
        CHECK(r.lower[e] == 0.0);
        CHECK(r.upper[e] == inf);
      } else {
        CHECK(r.prediction[i] == 1);
        CHECK(r.status[i] == misd::radius_status::bracketed);
        CHECK(r.upper[e] > x(e, 0) - 1e-12); // nothing in a smaller ball flips
        if (!random_start)
          CHECK(r.lower[e] < x(e, 0) + 1e-12); // PGD from x reaches x_0 - r
      }
    }
  };
  misd_test::radius_settings o;
  const auto steps = std::size_t(o.pgd_steps);
  SUBCASE("PGD from x: the direction is its first step's, no extra backward") {
    const auto r = misd::rr_bs_pgd(model, x, o);
    check(r, false);
    CHECK(model.backwards == std::size_t(o.budget - 1) * steps);
    CHECK(r.backwards == model.backwards);
    CHECK(r.forwards == model.forwards);
  }
  SUBCASE("random start: the direction at x itself, one backward pass for it") {
    o.pgd_random_start = true;
    o.seed = 5;
    const auto r = misd::rr_bs_pgd(model, x, o);
    check(r, true);
    CHECK(model.backwards == 1 + std::size_t(o.budget - 1) * steps);
    CHECK(r.backwards == model.backwards);
  }
  SUBCASE("budget 1 (no probe): one backward pass for the direction") {
    o.budget = 1;
    const auto r = misd::rr_bs_pgd(model, x, o);
    CHECK(model.forwards == 1);
    CHECK(model.backwards == 1);
    for (std::size_t i = 0; i < 4; ++i)
      CHECK(r.status[i] == (x(Eigen::Index(i), 0) <= 0 ? misd::radius_status::zero_direction
                                                       : misd::radius_status::not_bracketed));
  }
}

TEST_CASE("max_radius caps both estimators and RR-BS stops probing at the cap") {
  misd::eigen::linear<double> model(weights(), bias());
  const misd::eigen::batch<double> x = inputs();
  misd_test::radius_settings o;
  o.max_radius = 1e-4; // below every crossing of this model
  const auto bs = misd::rr_bs(model, x, o);
  const auto fast = misd::rr_fast(model, x, o);
  for (Eigen::Index i = 0; i < x.rows(); ++i) {
    CHECK(bs.radius[i] == doctest::Approx(1e-4));
    CHECK(bs.status[std::size_t(i)] == misd::radius_status::not_bracketed);
    CHECK(fast.radius[i] == 1e-4);
  }
  CHECK(bs.forwards < 25); // all examples hit the cap and stopped
}

TEST_CASE("bad input: clear exceptions naming sizes and indices") {
  misd::eigen::linear<double> model(weights(), bias());
  misd::eigen::batch<double> x = inputs();
  SUBCASE("empty batch") {
    CHECK_THROWS_WITH_AS(misd::rr_bs(model, misd::eigen::batch<double>(0, 6)),
                         doctest::Contains("empty batch"), misd::invalid_argument);
  }
  SUBCASE("wrong width") {
    CHECK_THROWS_WITH_AS(misd::rr_fast(model, misd::eigen::batch<double>::Zero(2, 5)),
                         doctest::Contains("5 numbers per example, the model takes 6"),
                         misd::invalid_argument);
  }
  SUBCASE("non-finite input") {
    x(3, 2) = std::numeric_limits<double>::quiet_NaN();
    CHECK_THROWS_WITH_AS(misd::rr_bs(model, x), doctest::Contains("input of example 3"),
                         misd::data_error);
  }
  SUBCASE("non-finite logits") {
    x(2, 0) = 1e308;
    misd::eigen::linear<double> big(weights() * 1e10, bias());
    CHECK_THROWS_WITH_AS(misd::rr_fast(big, x), doctest::Contains("of example 2 is not finite"),
                         misd::data_error);
  }
  SUBCASE("a user model returning a gradient of the wrong size") {
    struct bad_gradient {
      using batch_type = misd::eigen::batch<double>;
      batch_type logits(const batch_type& x) const { return x.leftCols(2); }
      batch_type input_gradient(const batch_type& x, const batch_type&) const {
        return batch_type::Zero(x.rows(), x.cols() + 1);
      }
    } m;
    CHECK_THROWS_WITH_AS(misd::rr_bs(m, x), doctest::Contains("input_gradient returned 5 x 7"),
                         misd::invalid_argument);
  }
  SUBCASE("a user model returning logits for the wrong number of examples") {
    struct bad_logits {
      using batch_type = misd::eigen::batch<double>;
      batch_type logits(const batch_type& x) const { return x.topRows(1); }
      batch_type input_gradient(const batch_type& x, const batch_type&) const { return x; }
    } m;
    CHECK_THROWS_WITH_AS(misd::rr_fast(m, x), doctest::Contains("1 x 6 for a batch of 5"),
                         misd::invalid_argument);
  }
  SUBCASE("bad options") {
    misd_test::radius_settings o;
    o.budget = 0;
    CHECK_THROWS_AS(misd::rr_bs(model, x, o), misd::invalid_argument);
    o = {};
    o.box = misd::input_box{1, 0};
    CHECK_THROWS_WITH_AS(misd::rr_bs(model, x, o), doctest::Contains("lo < hi"),
                         misd::invalid_argument);
  }
}

namespace {
void check_same_search(const misd::radius_result& a, const misd::radius_result& b) {
  REQUIRE(a.size() == b.size());
  CHECK(a.prediction == b.prediction);
  CHECK(a.status == b.status);
  for (Eigen::Index i = 0; i < a.radius.size(); ++i) {
    CAPTURE(i);
    // Bit for bit: the same probes, in the same arithmetic, decided by the same logits.
    CHECK(a.lower[i] == b.lower[i]);
    CHECK(a.upper[i] == b.upper[i]);
    CHECK(a.radius[i] == b.radius[i]);
  }
}
} // namespace

TEST_CASE(
    "RR-BS resolving several steps per pass: the brackets of one step per pass, bit for bit") {
  const auto model = misd::eigen::mlp<float>::random({20, 32, 16, 5}, 7);
  const misd::eigen::batch<float> x =
      (misd::eigen::batch<float>::Random(64, 20).array() + 1.0f) / 2.0f;
  std::vector<std::pair<std::string, misd_test::radius_settings>> cases(7);
  cases[0].first = "defaults";
  cases[1].first = "box [0, 1]";
  cases[1].second.box = misd::input_box{0.0, 1.0};
  cases[2].first = "box and tolerance 1e-3";
  cases[2].second.box = misd::input_box{0.0, 1.0};
  cases[2].second.tolerance = 1e-3;
  cases[3].first = "max_radius 0.05 (some searches capped)";
  cases[3].second.max_radius = 0.05;
  cases[4].first = "budget 7";
  cases[4].second.budget = 7;
  cases[5].first = "budget 2";
  cases[5].second.budget = 2;
  cases[6].first = "two threads";
  cases[6].second.threads = 2;
  for (const auto& [name, base] : cases) {
    CAPTURE(name);
    const auto one = misd::rr_bs(model, x, base);
    for (int s : {2, 3, 4, 8}) {
      CAPTURE(s);
      auto o = base;
      o.steps_per_pass = s;
      const auto many = misd::rr_bs(model, x, o);
      check_same_search(many, one);
      const std::size_t rounds = (std::size_t(o.budget) - 1 + std::size_t(s) - 1) / std::size_t(s);
      CHECK(many.forwards <= 1 + rounds);
      CHECK(many.backwards == 1);
      // Every point the one-step search probes is among those evaluated, and no more
      // than the tree of 2^s - 1 points per example per pass.
      CHECK(many.example_forwards >= one.example_forwards);
      CHECK(many.example_forwards <= x.rows() * (1 + rounds * ((std::size_t{1} << s) - 1)));
    }
  }
  // The defaults keep every example searching to the end: exactly 1 + ⌈24 / s⌉ passes,
  // counted by the model itself.
  auto inner = model;
  misd_test::counting_model<misd::eigen::mlp<float>> counting{inner};
  misd_test::radius_settings o;
  o.steps_per_pass = 3;
  const auto counted = misd::rr_bs(counting, x, o);
  CHECK(counting.forwards == 1 + 8);
  CHECK(counted.forwards == 1 + 8);
  check_same_search(counted, misd::rr_bs(model, x));
}

TEST_CASE_TEMPLATE("RR-BS with several steps per pass on a backend without row operations", Backend,
                   eigen_backend, xtensor_backend) {
  auto model = Backend::model();
  const auto x = Backend::batch(inputs());
  misd_test::radius_settings o;
  o.box = misd::input_box{0.0, 1.0};
  const auto one = misd::rr_bs(model, x, o);
  o.steps_per_pass = 3;
  check_same_search(misd::rr_bs(model, x, o), one);
  for (int bad : {0, misd::detail::max_steps_per_pass + 1}) {
    o.steps_per_pass = bad;
    CHECK_THROWS_WITH_AS(misd::rr_bs(model, x, o), doctest::Contains("steps_per_pass"),
                         misd::invalid_argument);
  }
}
