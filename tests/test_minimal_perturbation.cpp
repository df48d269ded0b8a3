// The estimators that search for an attack point and bisect the segment to it (DeepFool-L∞,
// rr-iter), and that bisection (refine_along), against closed forms on linear models: the
// L∞ distance from x to the boundary between ŷ and k of z = W x + b is
// (z_ŷ − z_k) / ‖w_ŷ − w_k‖₁, and along a segment the first crossing is linear in t.
#include "test_support.hpp"

#include "misd/radius/boundary_refine.hpp"

#include <doctest/doctest.h>

#include <cmath>
#include <limits>
#include <vector>

using misd::host_matrix;
using misd::host_vector;
using dbatch = misd::eigen::batch<double>;
using dops = misd::batch_ops<dbatch>;

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
