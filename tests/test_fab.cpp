// FAB-L∞ against closed forms on linear models, and its invariants on an MLP.
//
// For z = W x + b the L∞ distance from x to the region where class k beats ŷ is the least t
// at which max over {‖d‖∞ ≤ t, x + d in the box} of f_k(x + d) = (w_k − w_ŷ)·(x + d) +
// b_k − b_ŷ reaches 0. That maximum is separable (each feature to whichever end of its
// interval raises f_k), so it is found here by bisection on t alone, independently of FAB's
// sorted-room projection. The exact radius is the least of it over k ≠ ŷ.
#include "test_support.hpp"

#include "misd/radius/fab.hpp"
#include "misd/xtensor.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <optional>
#include <string>
#include <vector>

using misd::host_matrix;
using misd::host_vector;
using dbatch = misd::eigen::batch<double>;
using fbatch = misd::eigen::batch<float>;
using dops = misd::batch_ops<dbatch>;

namespace {

constexpr double inf = std::numeric_limits<double>::infinity();

host_matrix uniform(Eigen::Index n, Eigen::Index d, std::uint64_t seed, double lo, double hi) {
  const dbatch u = dops::uniform_noise(dbatch(n, d), seed); // [-1, 1)
  return (lo + (hi - lo) * (u.array() + 1.0) / 2.0).matrix();
}

/// max of a·(x + d) over ‖d‖∞ ≤ t and the box, minus a·x.
double best_gain(const Eigen::RowVectorXd& a, const Eigen::RowVectorXd& x, double t,
                 const std::optional<misd::input_box>& box) {
  double s = 0;
  for (Eigen::Index i = 0; i < a.size(); ++i) {
    const double up = box ? std::min(x[i] + t, box->hi) : x[i] + t;
    const double down = box ? std::max(x[i] - t, box->lo) : x[i] - t;
    s += std::max(a[i] * (up - x[i]), a[i] * (down - x[i]));
  }
  return s;
}

/// The exact L∞ radius of row x for z = W x + b (see the top of this file).
double exact_radius(const host_matrix& w, const Eigen::VectorXd& b, const Eigen::RowVectorXd& x,
                    const std::optional<misd::input_box>& box) {
  const Eigen::VectorXd z = w * x.transpose() + b;
  Eigen::Index y;
  z.maxCoeff(&y);
  double best = inf;
  for (Eigen::Index k = 0; k < w.rows(); ++k) {
    if (k == y)
      continue;
    const Eigen::RowVectorXd a = w.row(k) - w.row(y);
    const double gap = z[y] - z[k];
    if (!box) {
      if (a.cwiseAbs().sum() > 0)
        best = std::min(best, gap / a.cwiseAbs().sum());
      continue;
    }
    double hi = 0;
    for (Eigen::Index i = 0; i < x.size(); ++i)
      hi = std::max({hi, x[i] - box->lo, box->hi - x[i]});
    if (best_gain(a, x, hi, box) < gap)
      continue; // class k cannot win inside the box
    double lo = 0;
    for (int it = 0; it < 200; ++it) {
      const double t = (lo + hi) / 2;
      (best_gain(a, x, t, box) >= gap ? hi : lo) = t;
    }
    best = std::min(best, hi);
  }
  return best;
}

int argmax(const Eigen::RowVectorXd& z) {
  Eigen::Index k;
  z.maxCoeff(&k);
  return static_cast<int>(k);
}

misd::fab_options fast_options() {
  misd::fab_options o;
  o.iterations = 40;
  return o;
}

/// The exact radii are reached: exact ≤ upper (a witnessed flip) and, without a box,
/// upper − exact within twice the bisection's resolution of the segment (a part in
/// 2^probes of its length): FAB's iterates then move along the optimal direction, so the
/// segment to them crosses the boundary at the exact radius. With a box that binds they do
/// not: scaling the segment down pulls the features that sit at the box's edge away from it,
/// and FAB's overshoot (eta) leaves its least flip a little beyond the boundary; the
/// measured excess is below 0.4% (docs/algorithms.md), checked here against 1%.
void check_exact(const misd::radius_result& r, const host_matrix& w, const Eigen::VectorXd& b,
                 const host_matrix& x, const std::optional<misd::input_box>& box, int refine_probes,
                 double slack = 0.0) {
  const double rel = box ? 1e-2 : 2 * std::ldexp(1.0, -refine_probes);
  double worst = 0;
  for (Eigen::Index i = 0; i < x.rows(); ++i) {
    const double exact = exact_radius(w, b, x.row(i), box);
    CAPTURE(i);
    CAPTURE(exact);
    CAPTURE(r.upper[i]);
    REQUIRE(std::isfinite(exact));
    CHECK(r.status[static_cast<std::size_t>(i)] == misd::radius_status::bracketed);
    CHECK(r.radius[i] == r.upper[i]);
    CHECK(r.upper[i] >= exact * (1 - 1e-12));
    CHECK(r.upper[i] <= exact * (1 + rel) + slack);
    CHECK(r.lower[i] <= r.upper[i]);
    worst = std::max(worst, r.upper[i] / exact - 1);
  }
  MESSAGE("largest relative excess of upper over the exact radius: ", worst,
          std::string(box ? " (box)" : " (no box)"));
}

} // namespace

TEST_CASE("linf_projection without a box: the step |c| / ‖w‖₁ along −sign(c·w)") {
  const host_matrix u = uniform(20, 9, 30, -2, 2), w = uniform(20, 9, 31, -1, 1);
  misd::detail::linf_projection_workspace ws;
  std::vector<double> d(9);
  for (Eigen::Index i = 0; i < u.rows(); ++i) {
    Eigen::RowVectorXd wi = w.row(i);
    if (i % 3 == 0)
      wi[i % 9] = 0; // a feature the hyperplane ignores stays put
    const double b = 0.25 * static_cast<double>(i % 5) - 0.5, c = wi.dot(u.row(i)) - b;
    const auto r =
        misd::detail::linf_projection({u.row(i).data(), 9}, {wi.data(), 9}, b, {}, {}, d, ws);
    const Eigen::Map<const Eigen::RowVectorXd> step(d.data(), 9);
    CHECK(r.reachable);
    CHECK(r.step == doctest::Approx(std::abs(c) / wi.cwiseAbs().sum()).epsilon(1e-14));
    CHECK(wi.dot(u.row(i) + step) == doctest::Approx(b).scale(1).epsilon(1e-13));
    for (Eigen::Index j = 0; j < 9; ++j)
      CHECK(step[j] == (wi[j] == 0 ? 0.0 : (c * wi[j] > 0 ? -r.step : r.step)));
  }
}

TEST_CASE("fab, 2 classes, no box: |margin| / ‖w0 − w1‖₁") {
  const host_matrix w = uniform(2, 12, 1, -1, 1);
  const Eigen::VectorXd b = (Eigen::VectorXd(2) << 0.3, -0.1).finished();
  misd::eigen::linear<double> model(w, b);
  const host_matrix x = uniform(30, 12, 2, 0, 1);
  auto o = fast_options();
  const auto r = misd::fab(model, dbatch(x), o);
  // Two classes: one target, one run. Passes: the clean one, 2 per iteration, the bisection.
  CHECK(r.forwards ==
        1 + 2 * static_cast<std::size_t>(o.iterations) + static_cast<std::size_t>(o.refine_probes));
  CHECK(r.backwards == static_cast<std::size_t>(o.iterations));
  check_exact(r, w, b, x, std::nullopt, o.refine_probes);
  for (Eigen::Index i = 0; i < x.rows(); ++i) {
    const Eigen::VectorXd z = w * x.row(i).transpose() + b;
    CHECK(exact_radius(w, b, x.row(i), std::nullopt) ==
          doctest::Approx(std::abs(z[0] - z[1]) / (w.row(0) - w.row(1)).cwiseAbs().sum())
              .epsilon(1e-12));
  }
}

TEST_CASE("fab, 5 classes: the least over k, without and with a box that binds") {
  const host_matrix w = uniform(5, 8, 3, -1, 1);
  const Eigen::VectorXd b = Eigen::VectorXd::LinSpaced(5, -0.2, 0.2);
  misd::eigen::linear<double> model(w, b);
  const host_matrix x = uniform(40, 8, 4, 0, 1);
  for (const bool boxed : {false, true}) {
    CAPTURE(boxed);
    auto o = fast_options();
    if (boxed)
      o.box = misd::input_box{0.0, 1.0};
    const auto r = misd::fab(model, dbatch(x), o);
    CHECK(r.backwards == 4 * static_cast<std::size_t>(o.iterations)); // targets: K − 1 = 4
    check_exact(r, w, b, x, o.box, o.refine_probes);
    if (boxed) { // the box changes the answer for some rows, else it was not tested
      int binds = 0;
      for (Eigen::Index i = 0; i < x.rows(); ++i)
        binds += exact_radius(w, b, x.row(i), o.box) >
                 exact_radius(w, b, x.row(i), std::nullopt) * (1 + 1e-3);
      CHECK(binds >= 5);
    }
  }
}

TEST_CASE("fab untargeted: exact without a box; one target: never below exact") {
  const host_matrix w = uniform(4, 10, 5, -1, 1);
  const Eigen::VectorXd b = Eigen::VectorXd::Zero(4);
  misd::eigen::linear<double> model(w, b);
  const host_matrix x = uniform(30, 10, 6, 0, 1);
  auto o = fast_options();
  o.targeted = false;
  const auto r = misd::fab(model, dbatch(x), o);
  CHECK(r.backwards == 3 * static_cast<std::size_t>(o.iterations)); // K − 1 per iteration
  check_exact(r, w, b, x, o.box, o.refine_probes);
  // With a box the untargeted choice of class (by the linearised distance without the box,
  // as AutoAttack's) may follow a class the box puts farther away: still never below exact.
  o.box = misd::input_box{0.0, 1.0};
  const auto rb = misd::fab(model, dbatch(x), o);
  for (Eigen::Index i = 0; i < x.rows(); ++i)
    CHECK(rb.upper[i] >= exact_radius(w, b, x.row(i), o.box) * (1 - 1e-12));
  // One target (the runner-up) can only be worse or equal: never below the exact radius.
  auto o1 = fast_options();
  o1.target_classes = 1;
  const auto r1 = misd::fab(model, dbatch(x), o1);
  CHECK(r1.backwards == static_cast<std::size_t>(o1.iterations));
  for (Eigen::Index i = 0; i < x.rows(); ++i)
    CHECK(r1.upper[i] >= exact_radius(w, b, x.row(i), std::nullopt) * (1 - 1e-12));
}

TEST_CASE("fab on an MLP: every radius is a witnessed flip; restarts never make it worse") {
  auto model = misd::eigen::mlp<double>::random({6, 16, 4}, 11);
  const host_matrix x = uniform(24, 6, 12, 0, 1);
  auto o = fast_options();
  o.box = misd::input_box{0.0, 1.0};
  o.iterations = 30;
  const auto r = misd::fab(model, dbatch(x), o);
  // The same search gives the attack points: the upper end of each bracket flips.
  misd::radius_workspace<misd::eigen::mlp<double>> ws;
  misd::radius_result scratch;
  misd::detail::init_result(scratch, 24);
  misd::detail::fab_search_result one;
  misd::detail::fab_search(model, dbatch(x), 0, o, ws, scratch, one);
  int found = 0;
  for (Eigen::Index i = 0; i < x.rows(); ++i) {
    const auto s = static_cast<std::size_t>(i);
    if (r.status[s] != misd::radius_status::bracketed) {
      CHECK(r.status[s] == misd::radius_status::not_bracketed);
      CHECK(!one.flipped[s]);
      continue;
    }
    ++found;
    REQUIRE(one.flipped[s]);
    const Eigen::RowVectorXd d = one.attack.row(i) - x.row(i);
    const double length = d.cwiseAbs().maxCoeff();
    CHECK(length == one.best[i]);
    CHECK(r.upper[i] <= length);
    const Eigen::RowVectorXd at = x.row(i) + (r.upper[i] / length) * d;
    CHECK(argmax(model.logits(dbatch(at)).row(0)) != r.prediction[s]);
    CHECK(argmax(model.logits(dbatch(one.attack.row(i))).row(0)) != r.prediction[s]);
  }
  CHECK(found >= 20);
  // More restarts: the least flip found is never farther (the search before the bisection).
  // Few iterations, so that the first run stops short and the restarts have room to do better.
  o.iterations = 3;
  misd::detail::fab_search(model, dbatch(x), 0, o, ws, scratch, one);
  o.restarts = 3;
  misd::detail::fab_search_result three;
  misd::detail::fab_search(model, dbatch(x), 0, o, ws, scratch, three);
  int better = 0;
  for (Eigen::Index i = 0; i < x.rows(); ++i) {
    CHECK(three.best[i] <= one.best[i]);
    better += three.best[i] < one.best[i];
  }
  MESSAGE(better, " of 24 rows closer with 3 restarts");
  CHECK(better >= 1); // the random starts do move the search
}

TEST_CASE("fab: same seed, same result; threads bit-identical to one thread") {
  auto model = misd::eigen::mlp<double>::random({6, 16, 4}, 13);
  const host_matrix x = uniform(17, 6, 14, 0, 1);
  auto o = fast_options();
  o.iterations = 20;
  o.restarts = 2;
  o.seed = 42;
  o.box = misd::input_box{0.0, 1.0};
  const auto a = misd::fab(model, dbatch(x), o);
  const auto b = misd::fab(model, dbatch(x), o);
  CHECK(a.radius == b.radius);
  CHECK(a.lower == b.lower);
  o.threads = 3;
  const auto t = misd::fab(model, dbatch(x), o);
  CHECK(t.radius == a.radius);
  CHECK(t.lower == a.lower);
  CHECK(t.upper == a.upper);
  CHECK(t.status == a.status);
  CHECK(t.prediction == a.prediction);
}

TEST_CASE("fab: Eigen float and double and xtensor agree with the closed form") {
  const host_matrix w = uniform(3, 8, 15, -1, 1);
  const Eigen::VectorXd b = Eigen::VectorXd::LinSpaced(3, -0.1, 0.1);
  const host_matrix x = uniform(20, 8, 16, 0, 1);
  auto o = fast_options();
  o.box = misd::input_box{0.0, 1.0};
  misd::eigen::linear<double> md(w, b);
  misd::eigen::linear<float> mf(w.cast<float>(), b.cast<float>());
  using xbatch = misd::xtensor::batch<double>;
  xt::xtensor<double, 1> xb = xt::zeros<double>({std::size_t(3)});
  for (std::size_t k = 0; k < 3; ++k)
    xb(k) = b[static_cast<Eigen::Index>(k)];
  misd::xtensor::linear<double> mx(misd::batch_ops<xbatch>::from_host(w, xbatch{}), xb);
  const auto rd = misd::fab(md, dbatch(x), o);
  const auto rx = misd::fab(mx, misd::batch_ops<xbatch>::from_host(x, xbatch{}), o);
  const auto rf = misd::fab(mf, fbatch(x.cast<float>()), o);
  check_exact(rd, w, b, x, o.box, o.refine_probes);
  check_exact(rx, w, b, x, o.box, o.refine_probes);
  // float: the model and its inputs in single precision move the boundary by ~1e-6.
  check_exact(rf, w, b, x, o.box, o.refine_probes, 1e-5);
  for (Eigen::Index i = 0; i < x.rows(); ++i)
    CHECK(rx.upper[i] == doctest::Approx(rd.upper[i]).epsilon(1e-9));
}

TEST_CASE("fab: a constant model is zero_direction; K = 1 and bad options are rejected") {
  const host_matrix x = uniform(5, 4, 17, 0, 1);
  {
    misd::eigen::linear<double> flat(host_matrix::Zero(3, 4),
                                     (Eigen::VectorXd(3) << 0.0, 1.0, 0.5).finished());
    auto o = fast_options();
    o.iterations = 5;
    const auto r = misd::fab(flat, dbatch(x), o);
    for (std::size_t i = 0; i < 5; ++i) {
      CHECK(r.status[i] == misd::radius_status::zero_direction);
      CHECK(r.radius[static_cast<Eigen::Index>(i)] == 0);
      CHECK(r.upper[static_cast<Eigen::Index>(i)] == inf);
    }
  }
  {
    misd::eigen::linear<double> one_class(host_matrix::Ones(1, 4), Eigen::VectorXd::Zero(1));
    CHECK_THROWS_WITH_AS(misd::fab(one_class, dbatch(x)), doctest::Contains("K >= 2"),
                         misd::invalid_argument);
  }
  misd::eigen::linear<double> model(uniform(3, 4, 18, -1, 1), Eigen::VectorXd::Zero(3));
  auto bad = [&](auto set, const std::string& says) {
    misd::fab_options o;
    set(o);
    CHECK_THROWS_WITH_AS(misd::fab(model, dbatch(x), o), doctest::Contains(says.c_str()),
                         misd::invalid_argument);
  };
  bad([](auto& o) { o.iterations = 0; }, "iterations = 0");
  bad([](auto& o) { o.restarts = 0; }, "restarts = 0");
  bad([](auto& o) { o.target_classes = 0; }, "target_classes = 0");
  bad([](auto& o) { o.alpha_max = 1.5; }, "alpha_max = 1.5");
  bad([](auto& o) { o.eta = 0.5; }, "eta = 0.5");
  bad([](auto& o) { o.beta = 0; }, "beta = 0");
  bad([](auto& o) { o.beta = 1.2; }, "beta = 1.2");
  bad([](auto& o) { o.epsilon = -1; }, "epsilon = -1");
  bad([](auto& o) { o.refine_probes = 0; }, "refine_probes = 0");
  bad([](auto& o) { o.threads = 0; }, "threads = 0");
  bad([](auto& o) { o.box = misd::input_box{1, 0}; }, "input box");
}

TEST_CASE("fab in the method registry: the direct call with the registry's box, grid T = 1") {
  namespace sc = misd::score;
  using model_t = misd::eigen::linear<double>;
  const host_matrix w = uniform(4, 5, 19, -1, 1);
  model_t model(w, Eigen::VectorXd::Zero(4));
  const host_matrix x = uniform(6, 5, 20, 0, 1);
  sc::method_options mo;
  mo.box = misd::input_box{0.0, 1.0};
  mo.radius.fab.iterations = 10;
  mo.radius.fab.target_classes = 2;
  const auto m = sc::make_method<model_t>("fab", mo);
  CHECK(m.grid() == std::vector<sc::hyper_parameters>{{1.0, 0.0}});
  const auto out = m.compute(model, dbatch(x), m.grid().front());
  auto o = mo.radius.fab;
  o.box = mo.box;
  const auto r = misd::fab(model, dbatch(x), o);
  for (Eigen::Index i = 0; i < x.rows(); ++i)
    CHECK(out.confidence[static_cast<std::size_t>(i)] == r.radius[i]);
  CHECK(out.status == r.status);
  CHECK(out.backwards == 2 * 10);
  // Without the box the radii differ for some rows: the registry did pass it on.
  o.box.reset();
  const auto unboxed = misd::fab(model, dbatch(x), o);
  CHECK(unboxed.radius != r.radius);
}
