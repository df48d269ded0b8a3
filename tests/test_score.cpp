// Tests of misd/score: closed forms of every score, log-space ordering of saturated
// predictions, ODIN preprocessing against a hand computation, RelU against NumPy, and
// the method registry.
#include <doctest/doctest.h>

#include "misd/eigen/linear.hpp"
#include "misd/eigen/mlp.hpp"
#include "misd/score.hpp"
#include "misd/xtensor/linear.hpp"
#include "radius_settings.hpp"

#include "test_support.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <utility>
#include <vector>

using misd::host_matrix;
using misd::score::logit_score;
namespace sc = misd::score;

namespace {
host_matrix rows(std::initializer_list<std::initializer_list<double>> r) {
  host_matrix m(static_cast<Eigen::Index>(r.size()), static_cast<Eigen::Index>(r.begin()->size()));
  Eigen::Index i = 0;
  for (const auto& row : r) {
    Eigen::Index k = 0;
    for (double v : row)
      m(i, k++) = v;
    ++i;
  }
  return m;
}
double conf1(logit_score s, const host_matrix& z, double t = 1.0) {
  return sc::confidence(s, z, t)[0];
}
} // namespace

TEST_CASE("uniform logits: every score's closed form") {
  const double c = 0.7, k = 5;
  const host_matrix z = host_matrix::Constant(1, 5, c);
  for (double t : {0.2, 1.0, 3.0}) {
    CHECK(conf1(logit_score::msr, z, t) == doctest::Approx(-std::log(k)).epsilon(1e-14));
    CHECK(conf1(logit_score::doctor, z, t) == doctest::Approx(-std::log(k)).epsilon(1e-14));
    CHECK(conf1(logit_score::max_logit, z, t) == c);
    CHECK(conf1(logit_score::energy, z, t) == doctest::Approx(c + t * std::log(k)).epsilon(1e-14));
    CHECK(conf1(logit_score::negative_entropy, z, t) ==
          doctest::Approx(-std::log(k)).epsilon(1e-14));
    CHECK(conf1(logit_score::margin, z, t) == 0.0);
  }
}

TEST_CASE("one dominant logit: every score's closed form") {
  // z = (0, L, 0, 0): p_top = 1 / (1 + 3 e^{-L/T}), p_other = e^{-L/T} p_top.
  const double l = 2.5, t = 1.3, e = std::exp(-l / t);
  const host_matrix z = rows({{0, l, 0, 0}});
  const double pt = 1 / (1 + 3 * e), po = e * pt;
  CHECK(conf1(logit_score::msr, z, t) == doctest::Approx(std::log(pt)).epsilon(1e-14));
  CHECK(conf1(logit_score::doctor, z, t) ==
        doctest::Approx(std::log(pt * pt + 3 * po * po)).epsilon(1e-14));
  CHECK(conf1(logit_score::max_logit, z, t) == l);
  CHECK(conf1(logit_score::energy, z, t) ==
        doctest::Approx(t * std::log(std::exp(l / t) + 3)).epsilon(1e-14));
  CHECK(conf1(logit_score::negative_entropy, z, t) ==
        doctest::Approx(pt * std::log(pt) + 3 * po * std::log(po)).epsilon(1e-14));
  CHECK(conf1(logit_score::margin, z, t) == l);
}

TEST_CASE("temperature limits") {
  const host_matrix z = rows({{1.0, 3.0, -2.0}});
  // T -> 0: the softmax is one-hot: MSR, DOCTOR, entropy -> 0, energy -> max logit.
  CHECK(conf1(logit_score::msr, z, 1e-3) == 0.0);
  CHECK(conf1(logit_score::doctor, z, 1e-3) == 0.0);
  CHECK(conf1(logit_score::negative_entropy, z, 1e-3) == doctest::Approx(0.0));
  CHECK(conf1(logit_score::energy, z, 1e-3) == 3.0);
  // T -> inf: the softmax is uniform; energy − T log K -> mean logit.
  const double big = 1e7;
  CHECK(conf1(logit_score::msr, z, big) == doctest::Approx(-std::log(3.0)).epsilon(1e-6));
  CHECK(conf1(logit_score::doctor, z, big) == doctest::Approx(-std::log(3.0)).epsilon(1e-6));
  CHECK(conf1(logit_score::negative_entropy, z, big) ==
        doctest::Approx(-std::log(3.0)).epsilon(1e-6));
  CHECK(conf1(logit_score::energy, z, big) - big * std::log(3.0) ==
        doctest::Approx(2.0 / 3.0).epsilon(1e-6));
  // margin and max-logit do not depend on T.
  CHECK(conf1(logit_score::margin, z, 0.2) == 2.0);
  CHECK(conf1(logit_score::max_logit, z, 1000) == 3.0);
}

TEST_CASE("saturated predictions stay ordered: p_top = 1 - 1e-12 vs 1 - 1e-20") {
  // K = 2, z = (a, 0): 1 − p_top = 1 / (1 + e^a), so a = log(1/δ − 1).
  const double a12 = std::log(1e12 - 1), a20 = std::log(1e20);
  const host_matrix z = rows({{a12, 0.0}, {a20, 0.0}});
  // In float32 both probabilities round to exactly 1: a plain softmax ties them.
  const float f12 = 1.0f / (1.0f + std::exp(-static_cast<float>(a12)));
  const float f20 = 1.0f / (1.0f + std::exp(-static_cast<float>(a20)));
  REQUIRE(f12 == 1.0f);
  REQUIRE(f20 == 1.0f);
  for (auto s : {logit_score::msr, logit_score::doctor, logit_score::negative_entropy,
                 logit_score::energy, logit_score::max_logit, logit_score::margin}) {
    CAPTURE(sc::name(s));
    const auto c = sc::confidence(s, z);
    CHECK(c[1] > c[0]);
  }
  const auto msr = sc::confidence(logit_score::msr, z);
  CHECK(msr[0] == doctest::Approx(-1e-12).epsilon(1e-6));
  CHECK(msr[1] == doctest::Approx(-1e-20).epsilon(1e-6));
  // RelU (zero diagonal) also keeps them apart.
  const sc::relu_model r{host_matrix::Ones(2, 2) - host_matrix::Identity(2, 2), 1.0};
  const auto rc = sc::confidence(r, z);
  CHECK(rc[1] > rc[0]);
}

TEST_CASE("confidence gradients match finite differences of the confidence") {
  const host_matrix z = rows({{0.3, -1.2, 0.8, 0.1}, {2.0, 1.9, -0.5, 0.0}});
  const double t = 1.4, h = 1e-6;
  for (auto s : {logit_score::msr, logit_score::doctor, logit_score::negative_entropy,
                 logit_score::energy, logit_score::max_logit, logit_score::margin}) {
    CAPTURE(sc::name(s));
    const auto g = sc::confidence_gradient(s, z, t);
    const auto c0 = sc::confidence(s, z, t);
    for (Eigen::Index i = 0; i < z.rows(); ++i)
      for (Eigen::Index k = 0; k < z.cols(); ++k) {
        host_matrix zp = z, zm = z;
        zp(i, k) += h;
        zm(i, k) -= h;
        const double fd = (sc::confidence(s, zp, t)[i] - sc::confidence(s, zm, t)[i]) / (2 * h);
        // msr and doctor are already log C; the others are C: ∇ log C = ∇C / C only for
        // C > 0, so those are compared as ∇C directly.
        CHECK(g(i, k) == doctest::Approx(fd).epsilon(1e-6).scale(1.0));
      }
    (void)c0;
  }
}

TEST_CASE("ODIN preprocessing on a linear model equals x ± ε sign(∇ log C), hand-computed") {
  // W = [[1, -1], [0, 2]]: ∇_x log p_top = Wᵀ (e_top − p) / T, which for K = 2 is
  // p_other (W_top − W_other) / T, so its sign is sign(W_top − W_other):
  //   top = 0: sign((1, -3)) = (+1, -1);  top = 1: (-1, +1).
  misd::eigen::batch<double> w(2, 2);
  w << 1, -1, 0, 2;
  misd::eigen::linear<double> model(w, Eigen::VectorXd::Zero(2));
  misd::eigen::batch<double> x(2, 2);
  x << 1, 0, 0, 1; // logits (1, 0): top 0; (-1, 2): top 1
  const double eps = 0.01, t = 2.0;
  sc::preprocess_options o{t, eps, sc::preprocess_direction::raise_confidence, std::nullopt};
  const auto xp = sc::preprocess_input(model, x, logit_score::msr, o);
  CHECK(xp(0, 0) == 1 + eps);
  CHECK(xp(0, 1) == -eps);
  CHECK(xp(1, 0) == -eps);
  CHECK(xp(1, 1) == 1 + eps);
  // Score at x': logits (1 + 2ε, −2ε) and (−1 − 2ε, 2 + 2ε): gaps 1 + 4ε and 3 + 4ε.
  const auto c = sc::odin(model, x, o);
  CHECK(c[0] == doctest::Approx(-std::log1p(std::exp(-(1 + 4 * eps) / t))).epsilon(1e-14));
  CHECK(c[1] == doctest::Approx(-std::log1p(std::exp(-(3 + 4 * eps) / t))).epsilon(1e-14));
  // The step raises the confidence over the clean score.
  const auto clean = sc::confidence(model, x, logit_score::msr, t);
  CHECK(c[0] > clean[0]);
  CHECK(c[1] > clean[1]);

  SUBCASE("the sign option flips the step") {
    o.direction = sc::preprocess_direction::lower_confidence;
    const auto xm = sc::preprocess_input(model, x, logit_score::msr, o);
    CHECK(xm(0, 0) == 1 - eps);
    CHECK(xm(0, 1) == eps);
    CHECK(xm(1, 0) == eps);
    CHECK(xm(1, 1) == 1 - eps);
    const auto cm = sc::odin(model, x, o);
    CHECK(cm[0] == doctest::Approx(-std::log1p(std::exp(-(1 - 4 * eps) / t))).epsilon(1e-14));
    CHECK(cm[1] == doctest::Approx(-std::log1p(std::exp(-(3 - 4 * eps) / t))).epsilon(1e-14));
  }
  SUBCASE("the box clamps the preprocessed input") {
    o.box = misd::input_box{0.0, 1.0};
    const auto xb = sc::preprocess_input(model, x, logit_score::msr, o);
    CHECK(xb(0, 0) == 1.0);
    CHECK(xb(0, 1) == 0.0);
  }
  SUBCASE("the same on the xtensor backend") {
    misd::xtensor::linear<double> xm(misd::xtensor::batch<double>{{1, -1}, {0, 2}},
                                     xt::xtensor<double, 1>{0, 0});
    const misd::xtensor::batch<double> xx{{1, 0}, {0, 1}};
    const auto xp2 = sc::preprocess_input(xm, xx, logit_score::msr, o);
    CHECK(xp2(0, 0) == 1 + eps);
    CHECK(xp2(0, 1) == -eps);
    CHECK(xp2(1, 0) == -eps);
    CHECK(xp2(1, 1) == 1 + eps);
    const auto c2 = sc::odin(xm, xx, o);
    CHECK(c2[0] == doctest::Approx(c[0]).epsilon(1e-15));
    CHECK(c2[1] == doctest::Approx(c[1]).epsilon(1e-15));
  }
}

TEST_CASE("preprocessing with every score raises that score on an MLP (small ε)") {
  auto model = misd::eigen::mlp<double>::random({6, 8, 4}, 7);
  misd::eigen::batch<double> x = misd::eigen::batch<double>::Random(5, 6);
  for (auto s : {logit_score::msr, logit_score::doctor, logit_score::negative_entropy,
                 logit_score::energy, logit_score::max_logit, logit_score::margin}) {
    CAPTURE(sc::name(s));
    const sc::preprocess_options o{1.5, 1e-5, sc::preprocess_direction::raise_confidence, {}};
    const auto up = sc::preprocessed_confidence(model, x, s, o);
    const auto clean = sc::confidence(model, x, s, 1.5);
    for (Eigen::Index i = 0; i < x.rows(); ++i)
      CHECK(up[i] > clean[i]);
  }
}

TEST_CASE("RelU fit against NumPy (tests/python/relu_reference.py)") {
  const host_matrix z = rows({{2.0, 0.5, -1.0},
                              {0.1, 0.3, 0.2},
                              {-0.5, 1.5, 1.4},
                              {3.0, -2.0, 0.0},
                              {0.0, 0.0, 0.9},
                              {1.0, 1.1, -0.3}});
  const std::vector<std::uint8_t> correct{1, 0, 0, 1, 1, 0};
  const auto m = sc::relu_fit(z, correct, 1.5, 0.5);
  const double expected[9] = {0, 0.23000149256775934, 0, 0.23000149256775934, 0, 0.6686548537299366,
                              0, 0.6686548537299366,  0};
  for (int i = 0; i < 3; ++i)
    for (int j = 0; j < 3; ++j)
      CHECK(m.weight(i, j) == doctest::Approx(expected[3 * i + j]).epsilon(1e-12));
  const auto c = sc::confidence(m, rows({{0.2, -0.1, 0.4}, {5.0, 0.0, 0.0}}));
  CHECK(c[0] == doctest::Approx(-0.18560363032371652).epsilon(1e-12));
  CHECK(c[1] == doctest::Approx(-0.01577998071278504).epsilon(1e-12));

  SUBCASE("all-zero matrix falls back to ones off the diagonal") {
    const std::vector<std::uint8_t> all_correct(6, 1);
    const auto f = sc::relu_fit(z, all_correct, 1.0);
    const double v = 1 / std::sqrt(6.0);
    for (int i = 0; i < 3; ++i)
      for (int j = 0; j < 3; ++j)
        CHECK(f.weight(i, j) == doctest::Approx(i == j ? 0.0 : v));
  }
  SUBCASE("bad correctness names the index") {
    std::vector<std::uint8_t> bad = correct;
    bad[4] = 2;
    CHECK_THROWS_WITH_AS(sc::relu_fit(z, bad), doctest::Contains("correct[4] = 2"),
                         misd::data_error);
  }
}

TEST_CASE("method registry") {
  using model_t = misd::eigen::linear<double>;
  misd::eigen::batch<double> w(3, 2);
  w << 1, 0, 0, 1, -1, -1;
  model_t model(w, Eigen::VectorXd::Zero(3));
  misd::eigen::batch<double> x(4, 2);
  x << 1, 0.2, 0.1, 0.9, -0.3, -0.4, 0.5, 0.45;

  for (const auto& n : sc::method_names()) {
    CAPTURE(n);
    auto m = sc::make_method<model_t>(n);
    CHECK(m.name() == n);
    CHECK(!m.grid().empty());
    if (m.needs_fit()) {
      CHECK_THROWS_AS(m.confidence(model, x, m.grid().front()), misd::invalid_argument);
      m.fit(model, x, {0, 1, 2, 1}, m.grid().front());
    }
    CHECK(m.confidence(model, x, m.grid().back()).size() == 4);
  }
  SUBCASE("grids: paper T x ε for odin/doctor, T for rr-*, T = 1 for baselines") {
    CHECK(sc::make_method<model_t>("odin").grid().size() == 15 * 12);
    CHECK(sc::make_method<model_t>("doctor").grid().size() == 15 * 12);
    CHECK(sc::make_method<model_t>("rr-fast").grid().size() == 15);
    CHECK(sc::make_method<model_t>("msr").grid() == std::vector<sc::hyper_parameters>{{1.0, 0.0}});
  }
  SUBCASE("a registry method equals the direct call") {
    const auto m = sc::make_method<model_t>("odin");
    const sc::hyper_parameters p{2.0, 0.01};
    const auto c = m.confidence(model, x, p);
    const auto d = sc::odin(model, x, {2.0, 0.01, sc::preprocess_direction::raise_confidence, {}});
    for (Eigen::Index i = 0; i < 4; ++i)
      CHECK(c[static_cast<std::size_t>(i)] == d[i]);
    const auto r = sc::make_method<model_t>("rr-fast").confidence(model, x, {1.0, 0.0});
    const auto rd = misd::rr_fast(model, x);
    for (Eigen::Index i = 0; i < 4; ++i)
      CHECK(r[static_cast<std::size_t>(i)] == rd.radius[i]);
  }
  SUBCASE("unknown name lists the known names") {
    CHECK_THROWS_WITH_AS(sc::make_method<model_t>("softmax"),
                         doctest::Contains("unknown method 'softmax'; known methods: msr, odin"),
                         misd::invalid_argument);
  }
}

namespace {
// Independent closed forms for the registry test below, on one row of logits.
std::vector<double> softmax_row(const std::vector<double>& z, double t) {
  double m = z[0];
  for (double v : z)
    m = std::max(m, v);
  std::vector<double> p(z.size());
  double s = 0;
  for (std::size_t k = 0; k < z.size(); ++k)
    s += p[k] = std::exp((z[k] - m) / t);
  for (double& v : p)
    v /= s;
  return p;
}
std::size_t top_of(const std::vector<double>& v) {
  return static_cast<std::size_t>(std::max_element(v.begin(), v.end()) - v.begin());
}
// Logits of W = [[1, 0], [0, 1], [-1, -1]] (zero bias) at x: (x0, x1, -x0 - x1).
std::vector<double> lin_logits(double x0, double x1) {
  return {x0, x1, -x0 - x1};
}
// sign(Wᵀ v) for that W: (v0 - v2, v1 - v2).
std::array<double, 2> sign_wt(const std::vector<double>& v) {
  auto sg = [](double a) { return a > 0 ? 1.0 : a < 0 ? -1.0 : 0.0; };
  return {sg(v[0] - v[2]), sg(v[1] - v[2])};
}
} // namespace

TEST_CASE("method registry: each name computes its method, by values on a fixed input") {
  // A linear model whose logits, softmax, gradients and first crossings are written out
  // here independently of misd; each registered name must give its own method's values.
  using model_t = misd::eigen::linear<double>;
  misd::eigen::batch<double> w(3, 2);
  w << 1, 0, 0, 1, -1, -1;
  model_t model(w, Eigen::VectorXd::Zero(3));
  const double xs[4][2] = {{1, 0.2}, {0.1, 0.9}, {-0.3, -0.4}, {0.5, 0.45}};
  misd::eigen::batch<double> x(4, 2);
  for (int i = 0; i < 4; ++i)
    x.row(i) << xs[i][0], xs[i][1];
  const double t = 1.3;
  const sc::hyper_parameters p{t, 0.0};
  auto method_values = [&](const std::string& name, const sc::hyper_parameters& hp) {
    return sc::make_method<model_t>(name).confidence(model, x, hp);
  };
  auto each_row = [&](const std::string& name, auto&& want) {
    CAPTURE(name);
    const auto c = method_values(name, p);
    REQUIRE(c.size() == 4);
    for (int i = 0; i < 4; ++i) {
      CAPTURE(i);
      const auto z = lin_logits(xs[i][0], xs[i][1]);
      CHECK(c[static_cast<std::size_t>(i)] == doctest::Approx(want(z)).epsilon(1e-13));
    }
  };
  each_row("msr", [&](const std::vector<double>& z) {
    const auto q = softmax_row(z, t);
    return std::log(q[top_of(q)]);
  });
  each_row("doctor", [&](const std::vector<double>& z) {
    double s = 0;
    for (double v : softmax_row(z, t))
      s += v * v;
    return std::log(s);
  });
  each_row("energy", [&](const std::vector<double>& z) {
    double s = 0;
    for (double v : z)
      s += std::exp(v / t);
    return t * std::log(s);
  });
  each_row("max-logit", [&](const std::vector<double>& z) { return z[top_of(z)]; });
  each_row("entropy", [&](const std::vector<double>& z) {
    double s = 0;
    for (double v : softmax_row(z, t))
      s += v * std::log(v);
    return s;
  });
  each_row("margin", [&](const std::vector<double>& z) {
    std::vector<double> v = z;
    std::sort(v.begin(), v.end());
    return v[2] - v[1];
  });

  SUBCASE("odin: log p_top at x + ε sign(∇ log p_top)") {
    const double eps = 0.01, t2 = 2.0;
    const auto c = method_values("odin", {t2, eps});
    for (int i = 0; i < 4; ++i) {
      CAPTURE(i);
      const auto z = lin_logits(xs[i][0], xs[i][1]);
      auto q = softmax_row(z, t2);
      const std::size_t top = top_of(q);
      for (auto& v : q)
        v = -v;
      q[top] += 1; // e_top − p: ∇_x log p_top = Wᵀ (e_top − p) / T
      const auto d = sign_wt(q);
      REQUIRE(d[0] != 0.0);
      REQUIRE(d[1] != 0.0);
      const auto qp = softmax_row(lin_logits(xs[i][0] + eps * d[0], xs[i][1] + eps * d[1]), t2);
      CHECK(c[static_cast<std::size_t>(i)] ==
            doctest::Approx(std::log(qp[top_of(qp)])).epsilon(1e-13));
    }
  }
  SUBCASE("relu: −pᵀ W p, W fitted from the labelled set (λ = 0.5)") {
    auto m = sc::make_method<model_t>("relu");
    const misd::label_vector labels{0, 1, 2, 1}; // predictions 0, 1, 2, 0: the last is wrong
    m.fit(model, x, labels, p);
    const auto c = m.confidence(model, x, p);
    double a[3][3] = {};
    for (int i = 0; i < 4; ++i) {
      const auto q = softmax_row(lin_logits(xs[i][0], xs[i][1]), t);
      const bool right = top_of(q) == static_cast<std::size_t>(labels[static_cast<std::size_t>(i)]);
      // λ E_wrong[p pᵀ] − (1 − λ) E_correct[p pᵀ], 1 wrong and 3 correct examples.
      for (int r = 0; r < 3; ++r)
        for (int k = 0; k < 3; ++k)
          a[r][k] += right ? -0.5 * q[r] * q[k] / 3 : 0.5 * q[r] * q[k];
    }
    double wm[3][3], norm = 0;
    for (int r = 0; r < 3; ++r)
      for (int k = 0; k < 3; ++k) {
        wm[r][k] = r == k ? 0.0 : std::max(0.0, (a[r][k] + a[k][r]) / 2);
        norm += wm[r][k] * wm[r][k];
      }
    REQUIRE(norm > 0); // else RelU falls back to ones off the diagonal
    for (int i = 0; i < 4; ++i) {
      CAPTURE(i);
      const auto q = softmax_row(lin_logits(xs[i][0], xs[i][1]), t);
      double v = 0;
      for (int r = 0; r < 3; ++r)
        for (int k = 0; k < 3; ++k)
          v -= q[r] * wm[r][k] / std::sqrt(norm) * q[k];
      CHECK(c[static_cast<std::size_t>(i)] == doctest::Approx(v).epsilon(1e-12));
    }
  }
  SUBCASE("rr-*: the first crossing along the FGSM ray; each name its own estimator") {
    // FGSM direction for ŷ: sign(∇_x CE(z/T, ŷ)) = sign(Wᵀ (p − e_ŷ)); the exact crossing
    // along it is misd_test::linear_crossing.
    std::vector<double> crossing(4);
    for (int i = 0; i < 4; ++i) {
      const auto z = lin_logits(xs[i][0], xs[i][1]);
      auto q = softmax_row(z, t);
      const std::size_t y = top_of(z);
      q[y] -= 1;
      const auto d = sign_wt(q);
      Eigen::VectorXd zv(3), dv(2);
      zv << z[0], z[1], z[2];
      dv << d[0], d[1];
      crossing[static_cast<std::size_t>(i)] =
          misd_test::linear_crossing(w, zv, dv, static_cast<int>(y));
      REQUIRE(std::isfinite(crossing[static_cast<std::size_t>(i)]));
    }
    const auto run = [&](const std::string& name) {
      return sc::make_method<model_t>(name).compute(model, x, p);
    };
    const auto fast = run("rr-fast"), refine = run("rr-refine"), bs = run("rr-bs"),
               pgd = run("rr-bs-pgd");
    for (std::size_t i = 0; i < 4; ++i) {
      CAPTURE(i);
      // RR-Fast's linearisation and RR-Refine's regula falsi are exact on a linear model;
      // RR-BS's bisection (25 passes from r0 = 1e-6) ends within 1/16 of the crossing.
      CHECK(fast.confidence[i] == doctest::Approx(crossing[i]).epsilon(1e-9));
      CHECK(fast.status[i] == misd::radius_status::linear_estimate);
      CHECK(refine.confidence[i] == doctest::Approx(crossing[i]).epsilon(1e-9));
      CHECK(refine.status[i] == misd::radius_status::bracketed);
      CHECK(bs.confidence[i] == doctest::Approx(crossing[i]).epsilon(1.0 / 16));
      CHECK(bs.status[i] == misd::radius_status::bracketed);
      CHECK(pgd.status[i] == misd::radius_status::bracketed);
    }
    // On an MLP the four estimators differ; each name gives its own one's values.
    auto mlp = misd::eigen::mlp<double>::random({6, 8, 4}, 7);
    using mlp_t = misd::eigen::mlp<double>;
    const misd::eigen::batch<double> xm = misd::eigen::batch<double>::Random(5, 6);
    misd_test::radius_settings ro;
    ro.temperature = t;
    const std::pair<const char*, misd::radius_result> direct[] = {
        {"rr-fast", misd::rr_fast(mlp, xm, ro)},
        {"rr-bs", misd::rr_bs(mlp, xm, ro)},
        {"rr-bs-pgd", misd::rr_bs_pgd(mlp, xm, ro)},
        {"rr-refine", misd::rr_refine(mlp, xm, ro)}};
    for (std::size_t a = 0; a < 4; ++a) {
      CAPTURE(direct[a].first);
      for (std::size_t b = 0; b < a; ++b)
        REQUIRE(direct[a].second.radius !=
                direct[b].second.radius); // the check can tell them apart
      const auto c = sc::make_method<mlp_t>(direct[a].first).confidence(mlp, xm, p);
      for (Eigen::Index i = 0; i < xm.rows(); ++i)
        CHECK(c[static_cast<std::size_t>(i)] == direct[a].second.radius[i]);
    }
  }
}

namespace {
// A model with logits only: the logit scores work, input preprocessing is refused.
struct logits_only {
  using batch_type = misd::eigen::batch<double>;
  batch_type logits(const batch_type& x) const { return x; }
};
} // namespace

TEST_CASE("Classifier-only models: logit scores yes, gradient methods named as needing one") {
  static_assert(misd::Classifier<logits_only>);
  static_assert(!misd::Differentiable<logits_only>);
  logits_only m;
  misd::eigen::batch<double> x(2, 3);
  x << 1, 2, 3, 0, 0, 5;
  const auto c = sc::make_method<logits_only>("margin").confidence(m, x, {1.0, 0.0});
  CHECK(c == std::vector<double>{1.0, 5.0});
  CHECK(sc::make_method<logits_only>("doctor").grid().size() == 15);
  CHECK_THROWS_WITH_AS(sc::make_method<logits_only>("odin"), doctest::Contains("Differentiable"),
                       misd::invalid_argument);
  CHECK_THROWS_WITH_AS(sc::make_method<logits_only>("rr-bs"), doctest::Contains("Differentiable"),
                       misd::invalid_argument);
}

TEST_CASE("post-hoc scores: closed forms, invariants and bad input") {
  const host_matrix z = rows({{2.0, 0.5, -1.0}, {0.1, 0.3, 0.2}, {-0.5, 1.5, 1.4}, {30, 0, -2}});
  SUBCASE("p = 0, τ = 1 is MSR; MaxLogit-pNorm at p = 0 is the max logit") {
    const auto a = sc::pnorm_softmax(z, 0.0, 1.0), b = sc::confidence(sc::logit_score::msr, z);
    const auto m = sc::maxlogit_pnorm(z, 0.0);
    for (Eigen::Index i = 0; i < z.rows(); ++i) {
      CHECK(a[i] == doctest::Approx(b[i]).epsilon(1e-15));
      CHECK(m[i] == z.row(i).maxCoeff());
    }
  }
  SUBCASE("MaxLogit-pNorm and p-NormSoftmax are scale-invariant in z (p > 0)") {
    for (double p : {1.0, 2.0, 7.0}) {
      const auto a = sc::maxlogit_pnorm(z, p, true), b = sc::maxlogit_pnorm(z * 13.5, p, true);
      const auto c = sc::pnorm_softmax(z, p, 0.1), d = sc::pnorm_softmax(z * 13.5, p, 0.1);
      for (Eigen::Index i = 0; i < z.rows(); ++i) {
        CHECK(a[i] == doctest::Approx(b[i]).epsilon(1e-14));
        CHECK(c[i] == doctest::Approx(d[i]).epsilon(1e-13));
      }
    }
  }
  SUBCASE("GEN with γ = 1, M = K is −log(1 − Σ p²)") {
    const auto g = sc::gen(z, 1.0, 3);
    for (Eigen::Index i = 0; i < 3; ++i) { // row 3 saturates: 1 − Σ p² cancels in a plain sum
      const auto q = softmax_row({z(i, 0), z(i, 1), z(i, 2)}, 1.0);
      CHECK(g[i] ==
            doctest::Approx(-std::log(1 - q[0] * q[0] - q[1] * q[1] - q[2] * q[2])).epsilon(1e-13));
    }
    CHECK(std::isfinite(g[3]));
    CHECK(g[3] > g[0]);
  }
  SUBCASE("bad input names the value") {
    host_matrix bad = z;
    bad(1, 2) = std::nan("");
    CHECK_THROWS_WITH_AS(sc::maxlogit_pnorm(bad, 2.0), doctest::Contains("column 2 = nan"),
                         misd::data_error);
    CHECK_THROWS_WITH_AS(sc::pnorm_softmax(bad, 2.0, 1.0), doctest::Contains("column 2 = nan"),
                         misd::data_error);
    CHECK_THROWS_WITH_AS(sc::gen(bad), doctest::Contains("column 2 = nan"), misd::data_error);
    CHECK_THROWS_WITH_AS(sc::maxlogit_pnorm(z, -1.0), doctest::Contains("p = -1"),
                         misd::invalid_argument);
    CHECK_THROWS_WITH_AS(sc::pnorm_softmax(z, 2.0, 0.0), doctest::Contains("temperature"),
                         misd::invalid_argument);
    CHECK_THROWS_WITH_AS(sc::gen(z, 0.0), doctest::Contains("gamma = 0"), misd::invalid_argument);
    CHECK_THROWS_WITH_AS(sc::gen(z, 0.1, 0), doctest::Contains("M = 0"), misd::invalid_argument);
    CHECK_THROWS_WITH_AS(sc::gen(host_matrix(0, 3)), doctest::Contains("empty"),
                         misd::invalid_argument);
  }
}

TEST_CASE("post-hoc methods in the registry: grids and the pnorm-softmax fit") {
  using model_t = misd::eigen::linear<double>;
  CHECK(sc::make_method<model_t>("maxlogit-pnorm").grid().size() == 11);
  CHECK(sc::make_method<model_t>("maxlogit-pnorm").grid().front().msr_fallback);
  CHECK(sc::make_method<model_t>("pnorm-softmax").grid().size() == 11);
  CHECK(sc::make_method<model_t>("relu").grid().size() == 15);
  CHECK(sc::make_method<model_t>("gen").grid().size() == 7 * 6);
  sc::method_options o;
  o.classes = 10;
  CHECK(sc::make_method<model_t>("gen", o).grid().size() == 7); // M = 10 only
  o.classes = 150;
  CHECK(sc::make_method<model_t>("gen", o).grid().size() == 7 * 4); // 10, 50, 100, 150

  // A linear model whose logits are the inputs: the fit's ν̄ and T pick, by hand.
  model_t model(misd::eigen::batch<double>::Identity(3, 3), Eigen::VectorXd::Zero(3));
  const host_matrix x = rows({{2.0, 0.5, -1.0}, {0.1, 0.3, 0.2}, {-0.5, 1.5, 1.4}, {3, 0, -2}});
  auto m = sc::make_method<model_t>("pnorm-softmax");
  sc::hyper_parameters h;
  h.norm_order = 2.0;
  h.temperature = 0.5;
  const auto out = m.compute(model, x, h);
  CHECK(out.point == h);
  const std::vector<double> norms{std::sqrt(4 + 0.25 + 1), std::sqrt(0.01 + 0.09 + 0.04),
                                  std::sqrt(0.25 + 2.25 + 1.96), std::sqrt(9 + 0 + 4.0)};
  SUBCASE("no fit set: τ = T") {
    const sc::method_output none{};
    const auto c = m.confidence(out, &none, {});
    const auto d = sc::pnorm_softmax(x, 2.0, 0.5);
    for (Eigen::Index i = 0; i < 4; ++i)
      CHECK(c[static_cast<std::size_t>(i)] == doctest::Approx(d[i]).epsilon(1e-15));
  }
  SUBCASE("one T: τ = T / ν̄, ν̄ the fit set's mean norm; the fit reports that T") {
    sc::method_options one;
    one.pnorm_temperatures = {0.3};
    const auto m1 = sc::make_method<model_t>("pnorm-softmax", one);
    const auto r = m1.fitted(out, &out, std::vector<std::uint8_t>(4, 1));
    const double nu = (norms[0] + norms[1] + norms[2] + norms[3]) / 4;
    const auto d = sc::pnorm_softmax(x, 2.0, 0.3 / nu);
    for (Eigen::Index i = 0; i < 4; ++i)
      CHECK(r.confidence[static_cast<std::size_t>(i)] == doctest::Approx(d[i]).epsilon(1e-14));
    REQUIRE(r.chosen);
    CHECK(r.chosen->temperature == 0.3);
    CHECK(*r.chosen->norm_order == 2.0);
  }
}

TEST_CASE("combined score: bad input, the one-class case, extremes stay finite") {
  const std::vector<double> r{0.1, 0.0, std::numeric_limits<double>::infinity(), 0.5, 0.02};
  const std::vector<double> s{-0.1, -2.0, -0.01, -0.3, -1.0};
  const std::vector<std::uint8_t> y{1, 0, 1, 1, 0};
  const auto c = sc::combined_score(r, s, y, r, s);
  for (double v : c)
    CHECK(std::isfinite(v));
  CHECK(c[2] > c[1]); // +inf radius and high MSR above radius 0 and low MSR
  CHECK_THROWS_WITH_AS(sc::combined_score({}, {}, {}, r, s), doctest::Contains("empty"),
                       misd::invalid_argument);
  CHECK_THROWS_WITH_AS(sc::combined_score(r, s, std::vector<std::uint8_t>{1, 0}, r, s),
                       doctest::Contains("2 correctness"), misd::invalid_argument);
  std::vector<double> bad = r;
  bad[3] = std::nan("");
  CHECK_THROWS_WITH_AS(sc::combined_score(bad, s, y, r, s), doctest::Contains("first[3] is NaN"),
                       misd::invalid_argument);
  bad[3] = -1.0;
  CHECK_THROWS_WITH_AS(sc::combined_score(bad, s, y, r, s), doctest::Contains("negative"),
                       misd::invalid_argument);
  CHECK_THROWS_WITH_AS(sc::combined_score(r, s, y, bad, s), doctest::Contains("negative"),
                       misd::invalid_argument);
  sc::combine_options o;
  o.ridge = 0;
  CHECK_THROWS_WITH_AS(sc::combined_score(r, s, y, r, s, o), doctest::Contains("ridge 0"),
                       misd::invalid_argument);
  const std::vector<double> zeros(5, 0.0);
  CHECK_THROWS_WITH_AS(sc::combined_score(zeros, s, y, r, s), doctest::Contains("no finite"),
                       misd::invalid_argument);
  const auto one = sc::fit_combined(r, s, std::vector<std::uint8_t>(5, 1));
  CHECK(!one.fitted);
  CHECK(one.weight == std::array<double, 2>{1.0, 1.0});
}
