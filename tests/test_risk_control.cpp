// tests/test_risk_control.cpp -- misd/metric/risk_control.hpp: closed forms of the binomial
// bound, its defining property, the tie rule, abstention, bad input, and a simulation of the
// guarantee on a score whose true selective risk is known in closed form. The cross-check
// against SciPy and a NumPy re-implementation is tests/python/check_risk_control.py driving
// tests/risk_control_json.cpp.
#include "misd/metric/risk_control.hpp"
#include "thrown_message.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

namespace m = misd::metric;
using bytes = std::vector<std::uint8_t>;
using reals = std::vector<double>;

using misd_test::thrown_message;

namespace {

bool contains(const std::string& s, const std::string& part) {
  return s.find(part) != std::string::npos;
}

/// splitmix64: a small, portable generator, so the simulation is the same everywhere.
struct splitmix {
  std::uint64_t state;
  std::uint64_t next() {
    std::uint64_t z = (state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  }
  double uniform() { return static_cast<double>(next() >> 11) * 0x1.0p-53; }
};

/// P(Bin(n, p) <= e) by the plain sum, for small n.
double direct_cdf(std::size_t e, std::size_t n, double p) {
  double s = 0.0;
  for (std::size_t k = 0; k <= e && k <= n; ++k) {
    double c = 1.0;
    for (std::size_t i = 0; i < k; ++i)
      c = c * static_cast<double>(n - i) / static_cast<double>(i + 1);
    s += c * std::pow(p, static_cast<double>(k)) * std::pow(1.0 - p, static_cast<double>(n - k));
  }
  return s;
}

} // namespace

TEST_CASE("binomial_cdf: the plain sum for small n, (1-p)^n at e = 0, 1 at e >= n") {
  for (std::size_t n : {1u, 2u, 7u, 20u})
    for (std::size_t e = 0; e <= n; ++e)
      for (double p : {0.0, 1e-3, 0.1, 0.37, 0.5, 0.9, 1.0}) {
        CAPTURE(n);
        CAPTURE(e);
        CAPTURE(p);
        CHECK(m::binomial_cdf(e, n, p) == doctest::Approx(direct_cdf(e, n, p)).epsilon(1e-12));
      }
  CHECK(m::binomial_cdf(0, 100000, 1e-4) == doctest::Approx(std::pow(1.0 - 1e-4, 1e5)));
  CHECK(m::binomial_cdf(5, 5, 0.3) == 1.0);
  // Far in the tail the value underflows towards 0 without NaN.
  CHECK(m::binomial_cdf(0, 100000, 0.5) == 0.0);
  CHECK(contains(thrown_message<misd::invalid_argument>([] { m::binomial_cdf(1, 3, 1.5); }),
                 "p = 1.5"));
}

TEST_CASE("binomial_upper_bound: closed forms at e = 0 and e = n") {
  for (std::size_t n : {1u, 2u, 10u, 1000u, 100000u})
    for (double d : {0.5, 0.05, 1e-3, 1e-6}) {
      CAPTURE(n);
      CAPTURE(d);
      CHECK(m::binomial_upper_bound(0, n, d) ==
            doctest::Approx(1.0 - std::pow(d, 1.0 / static_cast<double>(n))).epsilon(1e-13));
      CHECK(m::binomial_upper_bound(n, n, d) == 1.0);
    }
}

TEST_CASE("binomial_upper_bound: the largest b with P(Bin(n, b) <= e) >= delta") {
  for (std::size_t n : {3u, 50u, 1000u, 20000u})
    for (std::size_t e : {std::size_t{1}, n / 10, n / 2, n - 1})
      for (double d : {0.9, 0.1, 1e-3, 1e-6}) {
        if (e == 0 || e >= n)
          continue;
        CAPTURE(n);
        CAPTURE(e);
        CAPTURE(d);
        const double b = m::binomial_upper_bound(e, n, d);
        CHECK(b >= static_cast<double>(e) / static_cast<double>(n) * (d < 0.5 ? 1.0 : 0.0));
        CHECK(m::binomial_cdf(e, n, b - 1e-10) >= d);
        CHECK(m::binomial_cdf(e, n, std::min(1.0, b + 1e-10)) < d);
      }
}

TEST_CASE("binomial_upper_bound: rises with errors, falls with n and with delta") {
  const std::size_t n = 500;
  double last = 0.0;
  for (std::size_t e = 0; e <= n; e += 7) {
    const double b = m::binomial_upper_bound(e, n, 0.01);
    CHECK(b > last);
    last = b;
  }
  last = 1.0;
  for (std::size_t k = 20; k <= 2000; k += 40) {
    const double b = m::binomial_upper_bound(10, k, 0.01);
    CHECK(b < last);
    last = b;
  }
  last = 0.0;
  for (double d : {0.5, 0.1, 0.01, 1e-3, 1e-4, 1e-6}) {
    const double b = m::binomial_upper_bound(10, 300, d);
    CHECK(b > last);
    last = b;
  }
  CHECK(contains(thrown_message<misd::invalid_argument>([] { m::binomial_upper_bound(4, 3, 0.1); }),
                 "4 errors in 3 trials"));
  CHECK(contains(thrown_message<misd::invalid_argument>([] { m::binomial_upper_bound(0, 3, 0.0); }),
                 "delta = 0"));
}

TEST_CASE("minimum_calibration_size: the first m with 1 - (delta/ceil(log2 m))^(1/m) <= r") {
  for (double r : {0.3, 0.05, 0.02, 0.001})
    for (double d : {0.1, 1e-3, 1e-6}) {
      CAPTURE(r);
      CAPTURE(d);
      const std::size_t need = m::minimum_calibration_size(r, d);
      const auto bound = [d](std::size_t k) {
        const double rounds = std::max(1.0, std::ceil(std::log2(static_cast<double>(k))));
        return 1.0 - std::pow(d / rounds, 1.0 / static_cast<double>(k));
      };
      CHECK(bound(need) <= r * (1 + 1e-12));
      for (std::size_t k = 1; k < need; ++k)
        CHECK(bound(k) > r * (1 - 1e-12));
    }
  // r = 0.02, delta = 0.001: (0.98)^m <= 0.001 / 9 at m = 451 (ceil(log2 451) = 9).
  CHECK(m::minimum_calibration_size(0.02, 0.001) == 451);
}

TEST_CASE(
    "T6 sgr_threshold: an error-free tied set of the minimum size reaches the bound; one less "
    "is an error naming that size") {
  const std::size_t need = m::minimum_calibration_size(0.02, 0.001);
  const reals same(need, 0.7);
  const bytes right(need, 1);
  const auto t = m::sgr_threshold(same, right, {});
  CHECK_FALSE(t.abstains);
  CHECK(t.threshold == 0.7);
  CHECK(t.accepted == need);
  CHECK(t.risk_bound <= 0.02);
  const auto msg = thrown_message<misd::data_error>([&] {
    m::sgr_threshold(std::span(same).first(need - 1), std::span(right).first(need - 1), {});
  });
  CHECK(contains(msg, "needs at least " + std::to_string(need)));
  CHECK(contains(msg, std::to_string(need - 1) + " examples"));
}

TEST_CASE("sgr_threshold: ties are never split and the bound is the chosen candidate's") {
  // 3000 examples in 30 tie groups; errors rarer at higher scores.
  splitmix rng{7};
  reals conf;
  bytes correct;
  for (std::size_t i = 0; i < 3000; ++i) {
    const double level = static_cast<double>(rng.next() % 30);
    conf.push_back(level / 30.0);
    correct.push_back(rng.uniform() < 0.15 * std::pow(1.0 - level / 30.0, 2) ? 0 : 1);
  }
  const m::sgr_options o{0.05, 0.01};
  const auto t = m::sgr_threshold(conf, correct, o);
  REQUIRE_FALSE(t.abstains);
  std::size_t accepted = 0, errors = 0;
  for (std::size_t i = 0; i < conf.size(); ++i) {
    CHECK(t.accepts(conf[i]) == (conf[i] >= t.threshold));
    if (conf[i] >= t.threshold) {
      ++accepted;
      errors += correct[i] == 0;
    }
  }
  CHECK(t.inclusive);
  CHECK(t.accepted == accepted);
  CHECK(t.errors == errors);
  CHECK(t.coverage == doctest::Approx(static_cast<double>(accepted) / 3000.0));
  CHECK(t.empirical_risk == doctest::Approx(static_cast<double>(errors) / accepted));
  const double rounds = std::ceil(std::log2(3000.0));
  CHECK(t.risk_bound == m::binomial_upper_bound(errors, accepted, 0.01 / rounds));
  CHECK(t.risk_bound <= 0.05);
  CHECK(t.p_value == 0.0);
  // apply_threshold on the calibration set itself gives the same counts.
  const auto out = m::apply_threshold(t, conf, correct);
  CHECK(out.accepted == accepted);
  CHECK(out.errors == errors);
  CHECK(out.size == 3000);
}

TEST_CASE("T7 sgr_threshold and ltt_threshold abstain, flagged, when errors rule out every "
          "threshold") {
  const std::size_t n = 2000;
  reals conf(n);
  bytes correct(n);
  for (std::size_t i = 0; i < n; ++i) {
    conf[i] = static_cast<double>(i) / n;
    correct[i] = i % 5 == 0 ? 0 : 1; // 20 % errors at every score
  }
  const auto s = m::sgr_threshold(conf, correct, {0.05, 0.01});
  CHECK(s.abstains);
  CHECK(std::isinf(s.threshold));
  CHECK(s.accepted == 0);
  CHECK(s.coverage == 0.0);
  CHECK(s.empirical_risk == 0.0);
  CHECK(s.risk_bound > 0.05);
  CHECK_FALSE(s.accepts(1e300));
  CHECK_FALSE(s.accepts(std::numeric_limits<double>::infinity()));
  const auto out = m::apply_threshold(s, conf, correct);
  CHECK(out.accepted == 0);
  CHECK(out.risk == 0.0);

  for (auto kind : {m::ltt_p_value::binomial, m::ltt_p_value::hoeffding_bentkus}) {
    m::ltt_options lo;
    lo.target_risk = 0.05;
    lo.delta = 0.01;
    lo.p_value = kind;
    const auto l = m::ltt_threshold(conf, correct, lo);
    CHECK(l.abstains);
    CHECK(std::isinf(l.threshold));
    CHECK(l.p_value == 1.0);
    CHECK_FALSE(l.accepts(1e300));
  }
}

TEST_CASE("ltt_threshold: the last grid point of a passing run, accepting score > lambda") {
  splitmix rng{11};
  reals conf;
  bytes correct;
  for (std::size_t i = 0; i < 4000; ++i) {
    const double k = rng.uniform();
    conf.push_back(k);
    correct.push_back(rng.uniform() < 0.3 * (1 - k) * (1 - k) ? 0 : 1);
  }
  for (auto kind : {m::ltt_p_value::binomial, m::ltt_p_value::hoeffding_bentkus}) {
    m::ltt_options o;
    o.target_risk = 0.03;
    o.delta = 0.05;
    o.p_value = kind;
    const auto t = m::ltt_threshold(conf, correct, o);
    REQUIRE_FALSE(t.abstains);
    CHECK_FALSE(t.inclusive);
    CHECK(t.p_value <= 0.05);
    std::size_t accepted = 0, errors = 0;
    for (std::size_t i = 0; i < conf.size(); ++i)
      if (conf[i] > t.threshold) {
        ++accepted;
        errors += correct[i] == 0;
      }
    CHECK(t.accepted == accepted);
    CHECK(t.errors == errors);
    CHECK(t.risk_bound == m::binomial_upper_bound(errors, accepted, 0.05));
    if (kind == m::ltt_p_value::binomial)
      CHECK(t.p_value == doctest::Approx(m::binomial_cdf(errors, accepted, 0.03)));
    // The next lower grid point fails: its p-value is above delta.
    const auto grid = m::ltt_grid(conf, o);
    const auto at = std::find(grid.begin(), grid.end(), t.threshold);
    REQUIRE(at != grid.end());
    REQUIRE(at + 1 != grid.end());
    std::size_t n2 = 0, e2 = 0;
    for (std::size_t i = 0; i < conf.size(); ++i)
      if (conf[i] > *(at + 1)) {
        ++n2;
        e2 += correct[i] == 0;
      }
    CHECK(m::ltt_p_value_of(e2, n2, 0.03, kind) > 0.05);
  }
  // Hoeffding-Bentkus is never below the binomial p-value divided by e, nor above it times e.
  for (std::size_t e : {0u, 3u, 30u, 80u}) {
    const double b = m::ltt_p_value_of(e, 1000, 0.05, m::ltt_p_value::binomial);
    const double hb = m::ltt_p_value_of(e, 1000, 0.05, m::ltt_p_value::hoeffding_bentkus);
    CHECK(hb <= std::exp(1.0) * b * (1 + 1e-12));
    CHECK(hb <= 1.0);
  }
}

TEST_CASE("ltt_threshold: a user grid, and the minimum size") {
  const std::size_t need = m::ltt_minimum_calibration_size(0.02, 0.001);
  CHECK(need == 342);                                     // 0.98^342 = 0.00099 <= 0.001 < 0.98^341
  CHECK(m::ltt_minimum_calibration_size(0.3, 0.1) == 25); // min_accepted dominates
  const reals conf(need, 0.5);
  const bytes right(need, 1);
  m::ltt_options o;
  o.grid = {0.2, 0.9, 0.2};
  const auto t = m::ltt_threshold(conf, right, o);
  CHECK_FALSE(t.abstains);
  CHECK(t.threshold == 0.2);
  CHECK(t.accepted == need);
  o.grid = {0.2, std::numeric_limits<double>::quiet_NaN()};
  CHECK(contains(thrown_message<misd::invalid_argument>([&] { m::ltt_threshold(conf, right, o); }),
                 "grid[1] = nan"));
  const auto msg = thrown_message<misd::data_error>([&] {
    m::ltt_threshold(std::span(conf).first(need - 1), std::span(right).first(need - 1), {});
  });
  CHECK(contains(msg, "needs at least " + std::to_string(need)));
}

TEST_CASE("risk thresholds: a looser target or a larger delta never raises the threshold") {
  // SGR: the bounds do not depend on r and fall with delta, so the first differing step of the
  // bisection turns a fail into a pass and moves to lower candidates. LTT: the p-values do not
  // depend on delta and fall with alpha, so the walk goes at least as far.
  splitmix rng{3};
  reals conf(3000);
  bytes correct(3000);
  for (std::size_t i = 0; i < conf.size(); ++i) {
    conf[i] = std::round(rng.uniform() * 200) / 200; // some ties
    correct[i] = rng.uniform() < 0.4 * (1 - conf[i]) ? 0 : 1;
  }
  const auto check_falls = [](const std::vector<m::risk_threshold>& ts) {
    for (std::size_t i = 1; i < ts.size(); ++i) {
      CAPTURE(i);
      CHECK(ts[i].threshold <= ts[i - 1].threshold); // +inf (abstaining) is the highest
      CHECK(ts[i].coverage >= ts[i - 1].coverage);
    }
  };
  for (auto kind : {m::ltt_p_value::binomial, m::ltt_p_value::hoeffding_bentkus}) {
    std::vector<m::risk_threshold> by_risk_sgr, by_risk_ltt, by_delta_sgr, by_delta_ltt;
    for (double r : {0.01, 0.02, 0.03, 0.05, 0.08, 0.12, 0.2}) {
      by_risk_sgr.push_back(m::sgr_threshold(conf, correct, {r, 0.05}));
      m::ltt_options o;
      o.target_risk = r;
      o.delta = 0.05;
      o.p_value = kind;
      by_risk_ltt.push_back(m::ltt_threshold(conf, correct, o));
    }
    for (double d : {1e-4, 1e-3, 0.01, 0.05, 0.2, 0.5}) {
      by_delta_sgr.push_back(m::sgr_threshold(conf, correct, {0.05, d}));
      m::ltt_options o;
      o.target_risk = 0.05;
      o.delta = d;
      o.p_value = kind;
      by_delta_ltt.push_back(m::ltt_threshold(conf, correct, o));
    }
    check_falls(by_risk_sgr);
    check_falls(by_risk_ltt);
    check_falls(by_delta_sgr);
    check_falls(by_delta_ltt);
    // Not vacuous: the sweep goes from a high threshold (or abstention) to a low one.
    CHECK(by_risk_sgr.front().threshold > by_risk_sgr.back().threshold);
    CHECK(by_risk_ltt.front().threshold > by_risk_ltt.back().threshold);
  }
}

// Rows T1 ... T8 of docs/error_policy.md ("Risk-controlling thresholds"); T6 and T7 are above.
namespace {
const reals three_conf{0.1, 0.2, 0.3};
const bytes three_correct{1, 0, 1};
} // namespace

TEST_CASE("T1 target_risk or delta outside (0, 1): invalid_argument naming the value") {
  using ia = misd::invalid_argument;
  CHECK(contains(thrown_message<ia>([] {
                   m::sgr_threshold(three_conf, three_correct, {0.0, 0.1});
                 }),
                 "sgr_threshold: target_risk = 0 must lie in (0, 1)"));
  CHECK(contains(thrown_message<ia>([] {
                   m::sgr_threshold(three_conf, three_correct, {0.1, 1.0});
                 }),
                 "sgr_threshold: delta = 1 must lie in (0, 1)"));
  CHECK(contains(thrown_message<ia>([] {
                   m::ltt_options o;
                   o.target_risk = std::nan("");
                   m::ltt_threshold(three_conf, three_correct, o);
                 }),
                 "ltt_threshold: target_risk = nan"));
  CHECK(contains(thrown_message<ia>([] { m::minimum_calibration_size(0.1, -1.0); }), "delta = -1"));
}

TEST_CASE("T2 confidence and correctness of different lengths: invalid_argument naming both") {
  using ia = misd::invalid_argument;
  CHECK(contains(thrown_message<ia>([] {
                   m::sgr_threshold(three_conf, bytes{1, 0}, {});
                 }),
                 "confidence has 3 elements but correct has 2"));
  CHECK(contains(
      thrown_message<ia>([] { m::apply_threshold(m::risk_threshold{}, three_conf, bytes{1}); }),
      "apply_threshold: confidence has 3 elements but correct has 1"));
}

TEST_CASE("T3 empty calibration set: invalid_argument") {
  CHECK(contains(
      thrown_message<misd::invalid_argument>([] { m::ltt_threshold(reals{}, bytes{}, {}); }),
      "ltt_threshold: empty input (0 examples)"));
}

TEST_CASE("T4 NaN or infinite confidence: data_error naming the index") {
  using de = misd::data_error;
  CHECK(contains(thrown_message<de>([] {
                   m::sgr_threshold(reals{0.1, std::nan(""), 0.3}, three_correct, {});
                 }),
                 "confidence[1] = nan is not finite"));
  CHECK(contains(thrown_message<de>([] {
                   m::ltt_threshold(reals{0.1, 0.2, -std::numeric_limits<double>::infinity()},
                                    three_correct, {});
                 }),
                 "confidence[2] = -inf is not finite"));
}

TEST_CASE("T5 correctness not 0/1: data_error naming the index and value") {
  CHECK(contains(thrown_message<misd::data_error>([] {
                   m::ltt_threshold(three_conf, bytes{1, 2, 0}, {});
                 }),
                 "correct[1] = 2, expected 0 or 1"));
}

TEST_CASE("T8 Learn-then-Test grid of 0 points or a non-finite grid value: invalid_argument") {
  CHECK(contains(thrown_message<misd::invalid_argument>([] {
                   m::ltt_options o;
                   o.grid_points = 0;
                   m::ltt_threshold(three_conf, three_correct, o);
                 }),
                 "grid_points = 0"));
  CHECK(contains(thrown_message<misd::invalid_argument>([] {
                   m::ltt_options o;
                   o.grid = {0.5, std::numeric_limits<double>::infinity()};
                   m::ltt_threshold(three_conf, three_correct, o);
                 }),
                 "ltt_threshold: grid[1] = inf is not finite"));
}

// The guarantee, simulated. Score k ~ U(0, 1), P(error | k) = 0.3 (1 - k)^2, so accepting
// k >= t (or k > t) has true selective risk R(t) = 0.1 (1 - t)^2 (the best threshold for
// r = 0.05 is 1 - sqrt(0.5), coverage 0.707). Over independent
// calibration sets the fraction whose chosen threshold has R(t) > r must be at most delta,
// up to Monte-Carlo slack (3 binomial standard deviations). The naive rule (least t with
// empirical risk <= r) must violate far more often, which shows the check can see a violation.
TEST_CASE("risk thresholds: simulated violation rate is at most delta") {
  const std::size_t runs = 2000, size = 2000;
  const double r = 0.05, delta = 0.1;
  const auto true_risk = [](double t) { return 0.1 * (1 - t) * (1 - t); };
  const double slack = 3.0 * std::sqrt(delta * (1 - delta) / static_cast<double>(runs));
  splitmix rng{2025};
  std::size_t sgr_viol = 0, ltt_viol = 0, hb_viol = 0, naive_viol = 0;
  std::size_t sgr_abstain = 0, ltt_abstain = 0;
  double sgr_cov = 0, ltt_cov = 0;
  reals conf(size);
  bytes correct(size);
  for (std::size_t run = 0; run < runs; ++run) {
    for (std::size_t i = 0; i < size; ++i) {
      conf[i] = rng.uniform();
      correct[i] = rng.uniform() < 0.3 * (1 - conf[i]) * (1 - conf[i]) ? 0 : 1;
    }
    const auto s = m::sgr_threshold(conf, correct, {r, delta});
    m::ltt_options lo;
    lo.target_risk = r;
    lo.delta = delta;
    const auto l = m::ltt_threshold(conf, correct, lo);
    lo.p_value = m::ltt_p_value::hoeffding_bentkus;
    const auto h = m::ltt_threshold(conf, correct, lo);
    sgr_viol += !s.abstains && true_risk(s.threshold) > r;
    ltt_viol += !l.abstains && true_risk(l.threshold) > r;
    hb_viol += !h.abstains && true_risk(h.threshold) > r;
    sgr_abstain += s.abstains;
    ltt_abstain += l.abstains;
    sgr_cov += s.coverage;
    ltt_cov += l.coverage;
    // Naive: the least threshold whose empirical selective risk is at most r.
    std::vector<std::size_t> order(size);
    for (std::size_t i = 0; i < size; ++i)
      order[i] = i;
    std::sort(order.begin(), order.end(), [&](auto a, auto b) { return conf[a] > conf[b]; });
    std::size_t errors = 0;
    double naive = std::numeric_limits<double>::infinity();
    for (std::size_t j = 0; j < size; ++j) {
      errors += correct[order[j]] == 0;
      if (static_cast<double>(errors) <= r * static_cast<double>(j + 1))
        naive = conf[order[j]];
    }
    naive_viol += std::isfinite(naive) && true_risk(naive) > r;
  }
  const auto rate = [runs](std::size_t k) { return static_cast<double>(k) / runs; };
  MESSAGE("violation rates: sgr ", rate(sgr_viol), ", ltt ", rate(ltt_viol), ", ltt-hb ",
          rate(hb_viol), ", naive ", rate(naive_viol), "; abstain sgr ", rate(sgr_abstain),
          ", ltt ", rate(ltt_abstain), "; mean coverage sgr ", sgr_cov / runs, ", ltt ",
          ltt_cov / runs, " (best possible 0.707)");
  CHECK(rate(sgr_viol) <= delta + slack);
  CHECK(rate(ltt_viol) <= delta + slack);
  CHECK(rate(hb_viol) <= delta + slack);
  CHECK(rate(naive_viol) > 3 * (delta + slack));
  // Not vacuous: the procedures do accept a good share.
  CHECK(rate(sgr_abstain) < 0.01);
  CHECK(rate(ltt_abstain) < 0.01);
  CHECK(sgr_cov / runs > 0.25);
  CHECK(ltt_cov / runs > 0.25);
}
