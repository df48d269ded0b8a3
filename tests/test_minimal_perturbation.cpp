// The estimators that search for an attack point and bisect the segment to it (DeepFool-L∞,
// rr-iter), and that bisection (refine_along), against closed forms on linear models: the
// L∞ distance from x to the boundary between ŷ and k of z = W x + b is
// (z_ŷ − z_k) / ‖w_ŷ − w_k‖₁, and along a segment the first crossing is linear in t.
#include "test_support.hpp"

#include "misd/radius/boundary_refine.hpp"
#include "misd/radius/deepfool.hpp"
#include "misd/radius/fab.hpp"
#include "misd/radius/rr_iter.hpp"
#include "misd/xtensor.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <optional>
#include <tuple>
#include <vector>

using misd::host_matrix;
using misd::host_vector;
using dbatch = misd::eigen::batch<double>;
using dops = misd::batch_ops<dbatch>;
using fbatch = misd::eigen::batch<float>;

namespace {

dbatch uniform01(Eigen::Index n, Eigen::Index d, std::uint64_t seed) {
  dbatch x = dops::uniform_noise(dbatch(n, d), seed);
  return (x.array() + 1.0) / 2.0;
}

int argmax(const Eigen::RowVectorXd& z) {
  Eigen::Index k;
  z.maxCoeff(&k);
  return static_cast<int>(k);
}

constexpr double inf = std::numeric_limits<double>::infinity();

/// a == b (+inf included), or within a relative rel.
bool close(double a, double b, double rel) {
  return a == b || std::abs(a - b) <= rel * std::max(std::abs(a), std::abs(b));
}

/// The exact L∞ distance from x to the nearest point of the box (none: all of R^D) where
/// z_k ≥ z_y for some k ≠ y, z = W x + b: per k the least u with
/// (z_k − z_y)(x) + Σ_i |a_i| min(u, room_i) ≥ 0, a = w_k − w_y, room_i the way to the box's
/// edge in the direction of sign(a_i).
double exact_radius(const host_matrix& w, const Eigen::VectorXd& b, const Eigen::VectorXd& x, int y,
                    const std::optional<misd::input_box>& box) {
  double best = inf;
  for (Eigen::Index k = 0; k < w.rows(); ++k) {
    if (k == y)
      continue;
    const Eigen::VectorXd a = (w.row(k) - w.row(y)).transpose();
    double need = -((w.row(y) - w.row(k)).dot(x) + b[y] - b[k]); // (z_k − z_y)(x) < 0
    std::vector<std::pair<double, double>> rooms;                // (room, |a_i|)
    for (Eigen::Index i = 0; i < a.size(); ++i)
      if (a[i] != 0)
        rooms.emplace_back(!box ? inf : a[i] > 0 ? box->hi - x[i] : x[i] - box->lo, std::abs(a[i]));
    std::sort(rooms.begin(), rooms.end());
    double slope = 0, u = 0, gain = 0; // gain = Σ|a_i| min(u, room_i)
    for (const auto& r : rooms)
      slope += r.second;
    for (const auto& r : rooms) {
      // On [u, r.first] the gain grows at `slope`.
      if (gain + slope * (r.first - u) >= -need) {
        best = std::min(best, u + (-need - gain) / slope);
        break;
      }
      gain += slope * (r.first - u);
      u = r.first;
      slope -= r.second;
    }
  }
  return best;
}

/// Every forward pass's inputs, so that a test can look for the flip behind a radius.
template <class M>
struct recording_model {
  using batch_type = misd::batch_t<M>;
  const M& inner;
  std::vector<host_matrix> seen;
  batch_type logits(const batch_type& x) {
    host_matrix h;
    misd::batch_ops<batch_type>::to_host(x, h);
    seen.push_back(h);
    return inner.logits(x);
  }
  batch_type input_gradient(const batch_type& x, const batch_type& g) const {
    return inner.input_gradient(x, g);
  }
};

/// For each bracketed example: some point the estimator evaluated flips ŷ (checked with the
/// model itself), lies within upper of x in L∞, and lies in the box.
template <class M>
void check_witnessed(const M& model, const recording_model<M>& rec, const host_matrix& x,
                     const misd::radius_result& r, const std::optional<misd::input_box>& box) {
  for (std::size_t i = 0; i < r.size(); ++i) {
    const auto e = static_cast<Eigen::Index>(i);
    if (r.status[i] != misd::radius_status::bracketed)
      continue;
    CAPTURE(i);
    bool found = false;
    for (const auto& h : rec.seen)
      for (Eigen::Index j = 0; j < h.rows() && !found; ++j) {
        if ((h.row(j) - x.row(e)).cwiseAbs().maxCoeff() > r.upper[e] * (1 + 1e-9))
          continue;
        if (box && (h.row(j).minCoeff() < box->lo || h.row(j).maxCoeff() > box->hi))
          continue;
        const misd::batch_t<M> p = h.row(j).template cast<typename misd::batch_t<M>::Scalar>();
        host_matrix z;
        misd::batch_ops<misd::batch_t<M>>::to_host(model.logits(p), z);
        found = argmax(z.row(0)) != r.prediction[i];
      }
    CHECK(found);
  }
}

host_matrix random_weights(Eigen::Index k, Eigen::Index d, std::uint64_t seed) {
  return dops::uniform_noise(dbatch(k, d), seed);
}

} // namespace

TEST_CASE("refine_along on a linear model: the bracket holds the exact crossing of the segment") {
  const host_matrix w = dops::uniform_noise(dbatch(5, 16), 3);
  const Eigen::VectorXd b = Eigen::VectorXd::LinSpaced(5, -0.1, 0.2);
  misd::eigen::linear<double> model(w, b);
  const dbatch x0 = uniform01(40, 16, 9);
  const dbatch v = dops::sign(dops::uniform_noise(x0, 11)); // a random corner direction
  const dbatch z0 = model.logits(x0);
  // xa = x0 + 2 v: far enough that most rows flip somewhere on the segment.
  const dbatch xa = x0 + 2.0 * v;
  const dbatch za = model.logits(xa);
  std::vector<unsigned char> flipped(40);
  misd::radius_result res;
  misd::detail::init_result(res, 40);
  misd::detail::argmax_rows(z0, res.prediction);
  std::size_t flips = 0;
  for (std::size_t i = 0; i < 40; ++i) {
    flipped[i] = argmax(za.row(static_cast<Eigen::Index>(i))) != res.prediction[i];
    flips += flipped[i];
  }
  REQUIRE(flips > 10);
  REQUIRE(flips < 40); // some rows do not flip: their answer is checked too
  misd::minimal_perturbation_options o;
  o.refine_probes = 12;
  misd::radius_workspace<misd::eigen::linear<double>> ws;
  misd::refine_along(model, x0, xa, flipped, o, ws, res);
  CHECK(res.forwards == 12);
  CHECK(res.example_forwards == 12 * flips);
  for (std::size_t i = 0; i < 40; ++i) {
    const auto e = static_cast<Eigen::Index>(i);
    CAPTURE(i);
    if (!flipped[i]) {
      CHECK(res.status[i] == misd::radius_status::not_bracketed);
      CHECK(res.radius[e] == std::numeric_limits<double>::infinity());
      CHECK(res.upper[e] == std::numeric_limits<double>::infinity());
      CHECK(res.lower[e] == 0);
      continue;
    }
    // ‖xa − x0‖∞ = 2; the first crossing t* in (0, 1) in closed form.
    const double t = misd_test::linear_crossing(
        w, z0.row(e).transpose(), (xa.row(e) - x0.row(e)).transpose(), res.prediction[i]);
    REQUIRE(t > 0);
    REQUIRE(t < 1);
    CHECK(res.status[i] == misd::radius_status::bracketed);
    CHECK(res.lower[e] <= 2 * t);
    CHECK(res.upper[e] >= 2 * t);
    CHECK(res.upper[e] - res.lower[e] == doctest::Approx(2.0 / 4096));
    CHECK(res.radius[e] == res.upper[e]);
    // The upper end is a verified flip.
    const dbatch at = x0.row(e) + (res.upper[e] / 2) * (xa.row(e) - x0.row(e));
    CHECK(argmax(model.logits(at).row(0)) != res.prediction[i]);
  }

  // A cap on the radius, and bad shapes.
  o.max_radius = 0.1;
  misd::detail::init_result(res, 40);
  misd::detail::argmax_rows(z0, res.prediction);
  misd::refine_along(model, x0, xa, flipped, o, ws, res);
  for (std::size_t i = 0; i < 40; ++i)
    CHECK(res.radius[static_cast<Eigen::Index>(i)] <= 0.1);
  CHECK_THROWS_WITH_AS(misd::refine_along(model, x0, dbatch(xa.topRows(39)), flipped, o, ws, res),
                       doctest::Contains("same shape"), misd::invalid_argument);
  std::vector<unsigned char> short_flags(39);
  CHECK_THROWS_WITH_AS(misd::refine_along(model, x0, xa, short_flags, o, ws, res),
                       doctest::Contains("39 flip flags"), misd::invalid_argument);
}

TEST_CASE("DeepFool and rr-iter on linear models: the exact L-inf radius, bracketed") {
  for (const Eigen::Index K : {2, 6}) {
    CAPTURE(K);
    const host_matrix w = random_weights(K, 20, 5 + static_cast<std::uint64_t>(K));
    const Eigen::VectorXd b = Eigen::VectorXd::LinSpaced(K, -0.2, 0.3);
    misd::eigen::linear<double> model(w, b);
    const dbatch x = uniform01(60, 20, 13);
    misd::deepfool_options df;
    misd::rr_iter_options it;
    misd::rr_iter_options lin;
    lin.select = misd::rr_iter_select::linear;
    const auto r_df = misd::deepfool(model, x, df);
    const auto r_it = misd::rr_iter(model, x, it);
    const auto r_lin = misd::rr_iter(model, x, lin);
    for (std::size_t i = 0; i < 60; ++i) {
      const auto e = static_cast<Eigen::Index>(i);
      CAPTURE(i);
      const double exact =
          exact_radius(w, b, x.row(e).transpose(), r_df.prediction[i], std::nullopt);
      REQUIRE(std::isfinite(exact));
      for (const auto* r : {&r_df, &r_it, &r_lin}) {
        CHECK(r->status[i] == misd::radius_status::bracketed);
        CHECK(r->radius[e] == r->upper[e]);
        CHECK(r->upper[e] >= exact * (1 - 1e-12)); // a witnessed flip: never below the exact
      }
      // DeepFool and rr-iter with the linear class choice step straight onto the nearest
      // boundary: the bisection's bracket holds the exact radius, and is 2^-10 of the step
      // 1.02 (exact + 1e-4) wide.
      for (const auto* r : {&r_df, &r_lin}) {
        CHECK(r->lower[e] <= exact * (1 + 1e-12));
        CHECK(r->upper[e] - r->lower[e] <= 1.03 * (exact + 1e-4) / 1024);
      }
      if (K == 2) { // the runner-up is the only other class
        CHECK(r_it.lower[e] <= exact * (1 + 1e-12));
        CHECK(r_it.upper[e] - r_it.lower[e] <= 1.03 * (exact + 1e-4) / 1024);
      }
    }
    // One step flips every example: C − 1 fused passes at x, the second step's first fused
    // pass finds every example flipped, then the bisection.
    const auto C = static_cast<std::size_t>(std::min<Eigen::Index>(10, K));
    CHECK(r_df.forwards == C + 10);
    CHECK(r_df.backwards == C);
    CHECK(r_df.example_forwards == 60 * C + 60 * 10);
    CHECK(r_it.forwards == 2 + 10);
    CHECK(r_it.backwards == 2);
    CHECK(r_lin.backwards == static_cast<std::size_t>(K));
  }
}

TEST_CASE("K = 1000 classes: DeepFool, rr-iter and FAB never below the exact radius; DeepFool "
          "with every class as a candidate finds it") {
  const Eigen::Index K = 1000;
  const host_matrix w = random_weights(K, 16, 21);
  const Eigen::VectorXd b = Eigen::VectorXd::LinSpaced(K, -0.5, 0.5);
  misd::eigen::linear<double> model(w, b);
  const dbatch x = uniform01(6, 16, 22);
  misd::deepfool_options df; // the 10 classes with the largest logits
  misd::deepfool_options all;
  all.candidates = 1000;
  misd::rr_iter_options it;
  misd::fab_options fab; // 9 target classes, capped at K - 1 only for small K
  fab.iterations = 20;
  const auto r_df = misd::deepfool(model, x, df), r_all = misd::deepfool(model, x, all),
             r_it = misd::rr_iter(model, x, it), r_fab = misd::fab(model, x, fab);
  for (std::size_t i = 0; i < 6; ++i) {
    const auto e = static_cast<Eigen::Index>(i);
    CAPTURE(i);
    const double exact = exact_radius(w, b, x.row(e).transpose(), r_df.prediction[i], std::nullopt);
    REQUIRE(std::isfinite(exact));
    for (const auto* r : {&r_df, &r_all, &r_it, &r_fab}) {
      CHECK(r->status[i] == misd::radius_status::bracketed);
      CHECK(r->upper[e] >= exact * (1 - 1e-12));
    }
    // Every class linearised: one step onto the nearest boundary (a linear model).
    CHECK(r_all.lower[e] <= exact * (1 + 1e-12));
    CHECK(r_all.upper[e] - r_all.lower[e] <= 1.03 * (exact + 1e-4) / 1024);
  }
  CHECK(r_all.backwards == 1000); // 999 input gradients at x, one more pass finds every flip
}

TEST_CASE("DeepFool and rr-iter in a box: every radius is a witnessed flip inside the box") {
  const host_matrix w = random_weights(5, 12, 21);
  const Eigen::VectorXd b = Eigen::VectorXd::LinSpaced(5, -0.1, 0.1);
  misd::eigen::linear<double> model(w, b);
  // Inputs near the box's edges, so that clamping binds.
  const dbatch x = (uniform01(80, 12, 4).array() * 1.4 - 0.2).cwiseMax(0.0).cwiseMin(1.0);
  const misd::input_box box{0, 1};
  misd::deepfool_options df;
  df.box = box;
  misd::rr_iter_options it;
  it.box = box;
  it.steps = 30;
  recording_model<misd::eigen::linear<double>> rec_df{model, {}}, rec_it{model, {}};
  const auto r_df = misd::deepfool(rec_df, x, df);
  const auto r_it = misd::rr_iter(rec_it, x, it);
  check_witnessed(model, rec_df, x, r_df, box);
  check_witnessed(model, rec_it, x, r_it, box);
  std::size_t bracketed = 0;
  for (std::size_t i = 0; i < 80; ++i) {
    const auto e = static_cast<Eigen::Index>(i);
    CAPTURE(i);
    const double exact = exact_radius(w, b, x.row(e).transpose(), r_df.prediction[i], box);
    for (const auto* r : {&r_df, &r_it}) {
      if (r->status[i] == misd::radius_status::bracketed) {
        CHECK(r->upper[e] >= exact * (1 - 1e-12));
        ++bracketed;
      } else {
        CHECK(r->status[i] == misd::radius_status::not_bracketed);
        CHECK(r->radius[e] == inf);
      }
    }
    for (const auto& h : rec_df.seen)
      CHECK(((h.array() >= 0).all() && (h.array() <= 1).all()));
  }
  CHECK(bracketed > 100);
}

TEST_CASE("DeepFool and rr-iter on an MLP: witnessed flips, and threads change nothing") {
  const auto model = misd::eigen::mlp<double>::random({16, 24, 5}, 3);
  const dbatch x = uniform01(90, 16, 8);
  misd::deepfool_options df;
  df.box = misd::input_box{0, 1};
  misd::rr_iter_options it;
  it.box = df.box;
  recording_model<misd::eigen::mlp<double>> rec_df{model, {}}, rec_it{model, {}};
  const auto r_df = misd::deepfool(rec_df, x, df);
  const auto r_it = misd::rr_iter(rec_it, x, it);
  check_witnessed(model, rec_df, x, r_df, df.box);
  check_witnessed(model, rec_it, x, r_it, df.box);
  const auto counts = misd::count_statuses(r_df.status);
  CHECK(counts[0] > 60);

  // threads = 3 against threads = 1. Row blocks are smaller GEMMs whose float32 logits may
  // differ from the whole batch's in the last bits (tests/test_concurrency.cpp): decisions
  // agree exactly, radii to a relative 1e-3.
  const auto fmodel = misd::eigen::mlp<float>::random({16, 24, 5}, 3);
  const fbatch xf = x.cast<float>();
  auto df3 = df;
  auto it3 = it;
  df3.threads = it3.threads = 3;
  for (const auto& [p, q] :
       {std::pair{misd::deepfool(fmodel, xf, df), misd::deepfool(fmodel, xf, df3)},
        std::pair{misd::rr_iter(fmodel, xf, it), misd::rr_iter(fmodel, xf, it3)}}) {
    CHECK(p.prediction == q.prediction);
    CHECK(p.status == q.status);
    for (Eigen::Index i = 0; i < p.radius.size(); ++i)
      CHECK(close(p.radius[i], q.radius[i], 1e-3));
  }
}

TEST_CASE("threads: row blocks give the one-thread answer on a dyadic linear model") {
  // Weights and inputs on coarse dyadic grids, in double: the clean logits are exact whatever
  // the block; later iterates are not, so radii agree to 1e-12 and decisions exactly.
  const host_matrix w = (random_weights(5, 16, 3) * 8).array().round() / 8;
  misd::eigen::linear<double> model(w, Eigen::VectorXd::Zero(5));
  const dbatch x = (uniform01(101, 16, 2) * 16).array().round() / 16;
  misd::deepfool_options df;
  df.box = misd::input_box{0, 1};
  misd::rr_iter_options it;
  it.box = df.box;
  it.trust_radius = 0.02; // several steps
  auto df3 = df;
  auto it3 = it;
  df3.threads = it3.threads = 3;
  for (const auto& [p, q] :
       {std::pair{misd::deepfool(model, x, df), misd::deepfool(model, x, df3)},
        std::pair{misd::rr_iter(model, x, it), misd::rr_iter(model, x, it3)}}) {
    CHECK(p.prediction == q.prediction);
    CHECK(p.status == q.status);
    CHECK(p.example_forwards == q.example_forwards);
    for (Eigen::Index i = 0; i < p.radius.size(); ++i) {
      CHECK(close(p.radius[i], q.radius[i], 1e-12));
      CHECK(close(p.lower[i], q.lower[i], 1e-12));
    }
  }
}

TEST_CASE("DeepFool and rr-iter: one class, bad options, a flat model") {
  const dbatch x = uniform01(4, 6, 1);
  misd::eigen::linear<double> one_class(random_weights(1, 6, 2), Eigen::VectorXd::Zero(1));
  CHECK_THROWS_WITH_AS(misd::deepfool(one_class, x), doctest::Contains("K >= 2"),
                       misd::invalid_argument);
  CHECK_THROWS_WITH_AS(misd::rr_iter(one_class, x), doctest::Contains("K >= 2"),
                       misd::invalid_argument);
  misd::eigen::linear<double> model(random_weights(3, 6, 2), Eigen::VectorXd::Zero(3));
  auto bad_df = [&](auto set, const char* what) {
    misd::deepfool_options o;
    set(o);
    CHECK_THROWS_WITH_AS(misd::deepfool(model, x, o), doctest::Contains(what),
                         misd::invalid_argument);
  };
  bad_df([](auto& o) { o.steps = 0; }, "steps = 0");
  bad_df([](auto& o) { o.candidates = 1; }, "candidates = 1");
  bad_df([](auto& o) { o.overshoot = -0.1; }, "overshoot = -0.1");
  bad_df([](auto& o) { o.refine_probes = 0; }, "refine_probes = 0");
  bad_df([](auto& o) { o.box = misd::input_box{1, 0}; }, "input box");
  auto bad_it = [&](auto set, const char* what) {
    misd::rr_iter_options o;
    set(o);
    CHECK_THROWS_WITH_AS(misd::rr_iter(model, x, o), doctest::Contains(what),
                         misd::invalid_argument);
  };
  bad_it([](auto& o) { o.steps = 0; }, "steps = 0");
  bad_it([](auto& o) { o.trust_radius = 0; }, "trust_radius = 0");
  bad_it([](auto& o) { o.overshoot = 0.5; }, "overshoot = 0.5");
  bad_it([](auto& o) { o.floor = -1; }, "floor = -1");
  bad_it([](auto& o) { o.select_classes = 0; }, "select_classes = 0");

  // A constant model: every input gradient is zero.
  misd::eigen::linear<double> flat(host_matrix::Zero(3, 6),
                                   Eigen::VectorXd::LinSpaced(3, -0.2, 0.3));
  misd::rr_iter_options lin;
  lin.select = misd::rr_iter_select::linear;
  for (const auto& r :
       {misd::deepfool(flat, x), misd::rr_iter(flat, x), misd::rr_iter(flat, x, lin)}) {
    for (std::size_t i = 0; i < 4; ++i) {
      CHECK(r.status[i] == misd::radius_status::zero_direction);
      CHECK(r.radius[static_cast<Eigen::Index>(i)] == 0);
    }
    CHECK(r.forwards <= 2); // nothing after the first step
  }
}

TEST_CASE("DeepFool and rr-iter: Eigen float, Eigen double and xtensor agree") {
  const host_matrix w = random_weights(4, 10, 7);
  const Eigen::VectorXd b = Eigen::VectorXd::LinSpaced(4, -0.1, 0.1);
  const dbatch x = uniform01(30, 10, 5);
  misd::eigen::linear<double> md(w, b);
  misd::eigen::linear<float> mf(w.cast<float>(), b.cast<float>());
  using xbatch = misd::xtensor::batch<double>;
  xt::xtensor<double, 1> xb = xt::zeros<double>({4});
  for (std::size_t k = 0; k < 4; ++k)
    xb(k) = b[static_cast<Eigen::Index>(k)];
  misd::xtensor::linear<double> mx(misd::batch_ops<xbatch>::from_host(w, xbatch{}), xb);
  const xbatch xx = misd::batch_ops<xbatch>::from_host(x, xbatch{});
  misd::deepfool_options df;
  df.box = misd::input_box{0, 1};
  misd::rr_iter_options it;
  it.box = df.box;
  it.trust_radius = 0.05;
  const auto d = misd::deepfool(md, x, df), f = misd::deepfool(mf, fbatch(x.cast<float>()), df),
             t = misd::deepfool(mx, xx, df);
  const auto di = misd::rr_iter(md, x, it), fi = misd::rr_iter(mf, fbatch(x.cast<float>()), it),
             ti = misd::rr_iter(mx, xx, it);
  for (const auto& [p, q, rel] : {std::tuple{&d, &t, 1e-12}, std::tuple{&d, &f, 1e-4},
                                  std::tuple{&di, &ti, 1e-12}, std::tuple{&di, &fi, 1e-4}}) {
    CHECK(p->prediction == q->prediction);
    CHECK(p->status == q->status);
    for (Eigen::Index i = 0; i < 30; ++i)
      CHECK(close(p->radius[i], q->radius[i], rel));
  }
}

TEST_CASE("DeepFool and rr-iter against a plain re-implementation on one example") {
  // A linear model in a box, started near the edge, so that clamping binds and DeepFool
  // takes several steps; rr-iter with a small trust radius takes several too.
  const host_matrix w = random_weights(4, 8, 31);
  const Eigen::VectorXd b = Eigen::VectorXd::LinSpaced(4, -0.3, 0.2);
  misd::eigen::linear<double> model(w, b);
  const dbatch x = (uniform01(12, 8, 17).array() * 1.6 - 0.3).cwiseMax(0.0).cwiseMin(1.0);
  const misd::input_box box{0, 1};
  auto logits = [&](const Eigen::VectorXd& v) -> Eigen::VectorXd { return w * v + b; };
  auto pred = [&](const Eigen::VectorXd& v) {
    Eigen::Index k;
    logits(v).maxCoeff(&k);
    return static_cast<int>(k);
  };
  auto clamp = [&](Eigen::VectorXd v) { return v.cwiseMax(box.lo).cwiseMin(box.hi).eval(); };
  // §0: bisection of [x0, xa]; returns (lower, upper) or (0, inf) when xa does not flip.
  auto refine = [&](const Eigen::VectorXd& x0, const Eigen::VectorXd& xa, int y) {
    if (pred(xa) == y)
      return std::pair{0.0, inf};
    double lo = 0, hi = 1;
    for (int p = 0; p < 10; ++p) {
      const double t = (lo + hi) / 2;
      (pred(x0 + t * (xa - x0)) != y ? hi : lo) = t;
    }
    const double len = (xa - x0).cwiseAbs().maxCoeff();
    return std::pair{lo * len, hi * len};
  };
  auto sign = [](const Eigen::VectorXd& v) {
    return v.unaryExpr([](double a) { return a > 0 ? 1.0 : a < 0 ? -1.0 : 0.0; }).eval();
  };
  misd::deepfool_options df;
  df.box = box;
  df.candidates = 3;
  misd::rr_iter_options it;
  it.box = box;
  it.trust_radius = 0.03;
  const auto r_df = misd::deepfool(model, x, df);
  const auto r_it = misd::rr_iter(model, x, it);
  int multi_step = 0;
  for (Eigen::Index i = 0; i < 12; ++i) {
    CAPTURE(i);
    const Eigen::VectorXd x0 = x.row(i).transpose();
    const Eigen::VectorXd z0 = logits(x0);
    const int y = pred(x0);
    // DeepFool: candidates by logit at x0; p accumulates; overshoot on the sum.
    std::vector<int> cl(4);
    std::iota(cl.begin(), cl.end(), 0);
    std::stable_sort(cl.begin(), cl.end(), [&](int a, int c) { return z0[a] > z0[c]; });
    Eigen::VectorXd p = Eigen::VectorXd::Zero(8), xt = x0;
    int steps = 0;
    for (; steps < df.steps && pred(xt) == y; ++steps) {
      const Eigen::VectorXd z = logits(xt);
      double best = inf;
      Eigen::VectorXd step;
      for (int k = 1; k < 3; ++k) {
        const Eigen::VectorXd g = (w.row(cl[k]) - w.row(cl[0])).transpose();
        const double d = std::abs(z[cl[k]] - z[cl[0]]) / (g.cwiseAbs().sum() + 1e-8);
        if (d < best) {
          best = d;
          step = sign(g);
        }
      }
      p += (best + 1e-4) * step;
      xt = clamp(x0 + (1 + df.overshoot) * p);
    }
    multi_step += steps > 1;
    const auto [lo, hi] = refine(x0, xt, y);
    CHECK(close(r_df.lower[i], lo, 1e-9));
    CHECK(close(r_df.upper[i], hi, 1e-9));
    // rr-iter: the runner-up at each iterate.
    xt = x0;
    for (int s = 0; s < it.steps && pred(xt) == y; ++s) {
      const Eigen::VectorXd z = logits(xt);
      int k = -1;
      for (int c = 0; c < 4; ++c)
        if (c != y && (k < 0 || z[c] > z[k]))
          k = c;
      const Eigen::VectorXd g = (w.row(k) - w.row(y)).transpose();
      const double step = std::min((z[y] - z[k]) / (g.cwiseAbs().sum() + 1e-6), it.trust_radius);
      xt = clamp(xt + 1.02 * (step + 1e-4) * sign(g));
    }
    const auto [lo2, hi2] = refine(x0, xt, y);
    CHECK(close(r_it.lower[i], lo2, 1e-9));
    CHECK(close(r_it.upper[i], hi2, 1e-9));
  }
  CHECK(multi_step > 2);
}
