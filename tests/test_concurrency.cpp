// tests/test_concurrency.cpp -- one misd::eigen::mlp<float> scored from two threads at once
// (separate calls, separate results) gives exactly the serial results, for RR-BS and
// RR-Fast, and so does the estimators' own threads option. Also run under ThreadSanitizer
// (CMakePresets.json "tsan", cmake/run-tests.sh), which reports any data race.
#include <doctest/doctest.h>

#include "misd/misd.hpp"

#include <thread>
#include <vector>

namespace {
using fbatch = misd::eigen::batch<float>;

void check_same(const misd::radius_result& a, const misd::radius_result& b) {
  REQUIRE(a.size() == b.size());
  CHECK(a.prediction == b.prediction);
  CHECK(a.status == b.status);
  for (Eigen::Index i = 0; i < a.radius.size(); ++i) {
    CHECK(a.radius[i] == b.radius[i]); // bit-identical: same arithmetic, same order
    CHECK(a.lower[i] == b.lower[i]);
    CHECK(a.upper[i] == b.upper[i]);
  }
}
} // namespace

TEST_CASE("two threads scoring one mlp<float> agree with serial scoring (rr_bs, rr_fast)") {
  const auto model = misd::eigen::mlp<float>::random({20, 32, 16, 5}, 7);
  const fbatch xa = (fbatch::Random(24, 20).array() + 1.0f) / 2.0f;
  const fbatch xb = (fbatch::Random(17, 20).array() + 1.0f) / 2.0f;
  misd::robust_radius_options o;
  o.box = misd::input_box{0, 1};

  const auto bs_a = misd::rr_bs(model, xa, o), bs_b = misd::rr_bs(model, xb, o);
  const auto fast_a = misd::rr_fast(model, xa, o), fast_b = misd::rr_fast(model, xb, o);

  for (int round = 0; round < 3; ++round) {
    misd::radius_result t_bs_a, t_bs_b, t_fast_a, t_fast_b;
    std::thread t1([&] {
      t_bs_a = misd::rr_bs(model, xa, o);
      t_fast_b = misd::rr_fast(model, xb, o);
    });
    std::thread t2([&] {
      t_fast_a = misd::rr_fast(model, xa, o);
      t_bs_b = misd::rr_bs(model, xb, o);
    });
    t1.join();
    t2.join();
    check_same(bs_a, t_bs_a);
    check_same(bs_b, t_bs_b);
    check_same(fast_a, t_fast_a);
    check_same(fast_b, t_fast_b);
  }
}

TEST_CASE("the estimators' threads option agrees with one thread") {
  // Row blocks are separate, smaller GEMMs whose float32 logits may differ from the whole
  // batch's in the last bits, so radii agree to a relative 1e-3 (RR-Fast divides logit
  // differences by fd_step = 1e-3); predictions and flags must agree exactly.
  const auto model = misd::eigen::mlp<float>::random({12, 16, 4}, 3);
  const fbatch x = (fbatch::Random(30, 12).array() + 1.0f) / 2.0f;
  misd::robust_radius_options one, three;
  one.box = three.box = misd::input_box{0, 1};
  three.threads = 3;
  for (bool fast : {false, true}) {
    const auto a = fast ? misd::rr_fast(model, x, one) : misd::rr_bs(model, x, one);
    const auto b = fast ? misd::rr_fast(model, x, three) : misd::rr_bs(model, x, three);
    INFO("estimator: ", (fast ? "rr_fast" : "rr_bs"));
    CHECK(a.prediction == b.prediction);
    CHECK(a.status == b.status);
    for (Eigen::Index i = 0; i < a.radius.size(); ++i)
      CHECK(a.radius[i] == doctest::Approx(b.radius[i]).epsilon(1e-3));
  }
}
