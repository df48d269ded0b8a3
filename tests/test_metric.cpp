// tests/test_metric.cpp -- misd/metric.hpp: hand-computed cases with ties, properties,
// degenerate inputs and errors. The cross-check against scikit-learn is
// tests/python/check_metrics_sklearn.py driving tests/test_metric_json.cpp.
#include "misd/metric.hpp"
#include "thrown_message.hpp"

#include <doctest/doctest.h>

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <random>
#include <string>
#include <vector>

namespace m = misd::metric;
using bytes = std::vector<std::uint8_t>;
using reals = std::vector<double>;

using misd_test::thrown_message;

namespace {

void check_vectors(const reals& got, const reals& want, double tol = 1e-15) {
  REQUIRE(got.size() == want.size());
  for (std::size_t i = 0; i < got.size(); ++i) {
    CAPTURE(i);
    CHECK(got[i] == doctest::Approx(want[i]).epsilon(tol));
  }
}

// Confidences on a small integer grid (heavy ties), correctness depending on them.
void make_random_data(std::size_t n, unsigned seed, reals& conf, bytes& correct) {
  std::mt19937 gen(seed);
  std::uniform_int_distribution<int> level(0, 20);
  std::uniform_real_distribution<double> u(0.0, 1.0);
  conf.resize(n);
  correct.resize(n);
  for (std::size_t i = 0; i < n; ++i) {
    conf[i] = level(gen);
    correct[i] = u(gen) < 0.3 + 0.03 * conf[i] ? 1 : 0;
  }
}

} // namespace

// The worked example used by most cases below. n = 7, 4 correct, 3 wrong.
//   confidence  0.9  0.8  0.8  0.7  0.7  0.5  0.3
//   correct       1    1    0    1    0    0    1
// Tie groups, descending: 0.9 {1c}, 0.8 {1c,1w}, 0.7 {1c,1w}, 0.5 {1w}, 0.3 {1c}.
const reals ex_conf{0.9, 0.8, 0.8, 0.7, 0.7, 0.5, 0.3};
const bytes ex_correct{1, 1, 0, 1, 0, 0, 1};

TEST_CASE("auroc: Mann-Whitney with mid-ranks on ties") {
  // 12 (correct, wrong) pairs. Correct at 0.9 beats all 3 wrong: 3. Correct at 0.8 beats
  // the wrong at 0.7 and 0.5 and ties the wrong at 0.8: 2.5. Correct at 0.7 beats 0.5 and
  // ties 0.7: 1.5. Correct at 0.3 beats none: 0. AUROC = 7 / 12.
  const auto a = m::auroc(ex_conf, ex_correct);
  REQUIRE(a.defined());
  CHECK(a.reason.empty());
  CHECK(*a == doctest::Approx(7.0 / 12.0).epsilon(1e-15));

  // Infinities rank normally and tie with each other. inf {1c,1w}, 0.5 {1c}, -inf {1w}:
  // correct at inf: 1 + 0.5, correct at 0.5: 1 -> 2.5 / 4.
  const double inf = std::numeric_limits<double>::infinity();
  CHECK(*m::auroc(reals{inf, inf, -inf, 0.5}, bytes{1, 0, 0, 1}) == 0.625);
  // All tied: every pair a tie -> 1/2.
  CHECK(*m::auroc(reals{1, 1, 1, 1}, bytes{1, 0, 1, 0}) == 0.5);
  // -0.0 and +0.0 are one tie group.
  CHECK(*m::auroc(reals{-0.0, 0.0}, bytes{1, 0}) == 0.5);
}

TEST_CASE("fpr_at_tpr: rejection at or below a threshold, tie groups whole") {
  // Thresholds from the bottom (reject confidence <= t), rejected wrong / correct:
  //   t = 0.3: 0/3, 1/4    t = 0.5: 1/3, 1/4    t = 0.7: 2/3, 2/4    t = 0.8: 3/3, 3/4
  // TPR >= 0.95 is first reached at t = 0.8 (the 0.8 tie group cannot be split): 3/4.
  CHECK(*m::fpr_at_tpr(ex_conf, ex_correct, 0.95) == 0.75);
  CHECK(*m::fpr_at_tpr(ex_conf, ex_correct) == 0.75);            // 0.95 is the default
  CHECK(*m::fpr_at_tpr(ex_conf, ex_correct, 0.5) == 0.5);        // t = 0.7
  CHECK(*m::fpr_at_tpr(ex_conf, ex_correct, 1.0 / 3.0) == 0.25); // t = 0.5, exactly 1/3
  CHECK(*m::fpr_at_tpr(ex_conf, ex_correct, 0.34) == 0.5);       // needs 2/3: t = 0.7
  CHECK(*m::fpr_at_tpr(ex_conf, ex_correct, 1.0) == 0.75);

  CHECK_THROWS_AS(m::fpr_at_tpr(ex_conf, ex_correct, 0.0), misd::invalid_argument);
  CHECK_THROWS_AS(m::fpr_at_tpr(ex_conf, ex_correct, 1.5), misd::invalid_argument);
  CHECK_THROWS_AS(m::fpr_at_tpr(ex_conf, ex_correct, std::nan("")), misd::invalid_argument);
}

TEST_CASE("risk-coverage curve, AURC and E-AURC") {
  // Keeping whole tie groups from the top, (kept, wrong kept):
  //   0.9: (1, 0)  0.8: (3, 1)  0.7: (5, 2)  0.5: (6, 3)  0.3: (7, 3)
  // Points from coverage 1 down, then the last risk repeated at coverage 0.
  const auto rc = m::risk_coverage_curve(ex_conf, ex_correct);
  check_vectors(rc.coverage, {1.0, 6.0 / 7, 5.0 / 7, 3.0 / 7, 1.0 / 7, 0.0});
  check_vectors(rc.risk, {3.0 / 7, 1.0 / 2, 2.0 / 5, 1.0 / 3, 0.0, 0.0});

  // Trapezoids, ascending coverage:
  //   [0,1/7]: 0   [1/7,3/7]: 2/7 (0+1/3)/2 = 1/21   [3/7,5/7]: 2/7 (1/3+2/5)/2 = 11/105
  //   [5/7,6/7]: 1/7 (2/5+1/2)/2 = 9/140   [6/7,1]: 1/7 (1/2+3/7)/2 = 13/196
  //   sum = (140 + 308 + 189 + 195) / 2940 = 208/735.
  const double aurc = 208.0 / 735.0;
  CHECK(m::aurc(ex_conf, ex_correct) == doctest::Approx(aurc).epsilon(1e-15));
  // err = 3/7: optimum 3/7 + 4/7 ln(4/7).
  const double opt = 3.0 / 7 + 4.0 / 7 * std::log(4.0 / 7);
  CHECK(m::aurc_optimal(ex_conf, ex_correct) == doctest::Approx(opt).epsilon(1e-15));
  CHECK(m::eaurc(ex_conf, ex_correct) == doctest::Approx(aurc - opt).epsilon(1e-14));

  // One tie group: the curve is flat at the error rate, AURC = err.
  CHECK(m::aurc(reals{2, 2, 2, 2}, bytes{1, 0, 1, 1}) == 0.25);
  const auto flat = m::risk_coverage_curve(reals{2, 2, 2, 2}, bytes{1, 0, 1, 1});
  check_vectors(flat.coverage, {1.0, 0.0});
  check_vectors(flat.risk, {0.25, 0.25});
}

TEST_CASE("risk_at_coverage and coverage_at_risk use curve points only") {
  // Curve (coverage: risk): 1: 3/7, 6/7: 1/2, 5/7: 2/5, 3/7: 1/3, 1/7: 0, 0: 0.
  CHECK(m::risk_at_coverage(ex_conf, ex_correct, 1.0) == 3.0 / 7);
  CHECK(m::risk_at_coverage(ex_conf, ex_correct, 0.5) == 2.0 / 5);     // 5/7 >= 0.5
  CHECK(m::risk_at_coverage(ex_conf, ex_correct, 3.0 / 7) == 1.0 / 3); // a point exactly
  CHECK(m::risk_at_coverage(ex_conf, ex_correct, 0.2) == 1.0 / 3);     // 3/7 >= 0.2
  CHECK(m::risk_at_coverage(ex_conf, ex_correct, 0.0) == 0.0);         // the repeated point
  CHECK_THROWS_AS(m::risk_at_coverage(ex_conf, ex_correct, 1.01), misd::invalid_argument);

  CHECK(*m::coverage_at_risk(ex_conf, ex_correct, 0.0) == 1.0 / 7);
  CHECK(*m::coverage_at_risk(ex_conf, ex_correct, 0.4) == 5.0 / 7); // 2/5 <= 0.4
  // Risk is not monotone in coverage: 3/7 <= 0.45 at full coverage although 1/2 at 6/7 is not.
  CHECK(*m::coverage_at_risk(ex_conf, ex_correct, 0.45) == 1.0);
  CHECK_THROWS_AS(m::coverage_at_risk(ex_conf, ex_correct, -0.1), misd::invalid_argument);

  // The most confident example is wrong: no threshold reaches risk 0.
  const auto none = m::coverage_at_risk(reals{3, 2, 1}, bytes{0, 1, 1}, 0.0);
  CHECK_FALSE(none.defined());
  CHECK(none.reason.find("lowest selective risk") != std::string::npos);
  CHECK_THROWS_AS((void)*none, misd::undefined_metric);
}

TEST_CASE("aupr: step-wise average precision for both positive classes") {
  // Errors positive, score -c: groups by ascending confidence, (flagged, wrong flagged):
  //   0.3: (1, 0)  0.5: (2, 1)  0.7: (4, 2)  0.8: (6, 3)  0.9: (7, 3)
  // Recall steps by 1/3 at 0.5, 0.7, 0.8 with precision 1/2, 2/4, 3/6: AP = 1/2.
  CHECK(*m::aupr_error(ex_conf, ex_correct) == doctest::Approx(0.5).epsilon(1e-15));
  // Correct positive, score c: (flagged, correct flagged) by descending confidence:
  //   0.9: (1, 1)  0.8: (3, 2)  0.7: (5, 3)  0.5: (6, 3)  0.3: (7, 4)
  // AP = 1/4 (1 + 2/3 + 3/5 + 4/7) = 149/210.
  CHECK(*m::aupr_success(ex_conf, ex_correct) == doctest::Approx(149.0 / 210).epsilon(1e-15));
}

TEST_CASE("roc_curve: every point, scikit-learn's convention") {
  // roc_curve(wrong, -c, drop_intermediate=False): scores -0.3 > -0.5 > -0.7 > -0.8 > -0.9;
  // first point (0, 0) with threshold = highest score + 1 = 0.7.
  const auto e = m::roc_curve(ex_conf, ex_correct);
  check_vectors(e.fpr, {0, 0.25, 0.25, 0.5, 0.75, 1});
  check_vectors(e.tpr, {0, 0, 1.0 / 3, 2.0 / 3, 1, 1});
  check_vectors(e.thresholds, {0.7, -0.3, -0.5, -0.7, -0.8, -0.9});
  // roc_curve(correct, c, drop_intermediate=False).
  const auto s = m::roc_curve(ex_conf, ex_correct, m::positive::success);
  check_vectors(s.fpr, {0, 0, 1.0 / 3, 2.0 / 3, 1, 1});
  check_vectors(s.tpr, {0, 0.25, 0.5, 0.75, 0.75, 1});
  check_vectors(s.thresholds, {1.9, 0.9, 0.8, 0.7, 0.5, 0.3});

  // FPR95 is the smallest fpr among the error-positive ROC points with tpr >= 0.95.
  double best = 1.0;
  for (std::size_t i = 0; i < e.fpr.size(); ++i)
    if (e.tpr[i] >= 0.95)
      best = std::min(best, e.fpr[i]);
  CHECK(best == *m::fpr_at_tpr(ex_conf, ex_correct));
}

TEST_CASE("evaluate: every field against independent values") {
  SUBCASE("the worked example, by hand (the values derived in the cases above)") {
    const auto x = m::evaluate(ex_conf, ex_correct);
    CHECK(x.n == 7);
    CHECK(x.errors == 3);
    CHECK(x.accuracy == 4.0 / 7);
    CHECK(*x.auroc == doctest::Approx(7.0 / 12).epsilon(1e-15));
    CHECK(*x.fpr95 == 0.75);
    const double aurc = 208.0 / 735.0;
    CHECK(x.aurc == doctest::Approx(aurc).epsilon(1e-15));
    CHECK(x.eaurc ==
          doctest::Approx(aurc - (3.0 / 7 + 4.0 / 7 * std::log(4.0 / 7))).epsilon(1e-14));
    CHECK(*x.aupr_error == doctest::Approx(0.5).epsilon(1e-15));
    CHECK(*x.aupr_success == doctest::Approx(149.0 / 210).epsilon(1e-15));
  }
  SUBCASE("20 examples with ties, against scikit-learn") {
    // tests/python/metric_reference.py prints these: roc_auc_score, average_precision_score
    // and min(fpr[tpr >= 0.95]) of roc_curve from scikit-learn, AURC and E-AURC from the
    // NumPy transcription of their definitions in tests/python/check_metrics_sklearn.py.
    const reals conf{0.95, 0.9,  0.9, 0.85, 0.8, 0.8, 0.8, 0.7, 0.65, 0.6,
                     0.6,  0.55, 0.5, 0.4,  0.4, 0.3, 0.2, 0.2, 0.1,  0.05};
    const bytes correct{1, 1, 0, 1, 1, 1, 0, 1, 0, 1, 0, 1, 1, 0, 0, 1, 0, 1, 0, 0};
    const auto s = m::evaluate(conf, correct);
    CHECK(s.n == 20);
    CHECK(s.errors == 9);
    CHECK(s.accuracy == doctest::Approx(0.55).epsilon(1e-15));
    CHECK(*s.auroc == doctest::Approx(0.691919191919192).epsilon(1e-14));  // 137 / 198
    CHECK(*s.fpr95 == doctest::Approx(0.9090909090909091).epsilon(1e-15)); // 10 / 11
    CHECK(s.aurc == doctest::Approx(0.3026820438333596).epsilon(1e-13));
    CHECK(s.eaurc == doctest::Approx(0.18149239424895086).epsilon(1e-13));
    CHECK(*s.aupr_error == doctest::Approx(0.6978937242095138).epsilon(1e-14));
    CHECK(*s.aupr_success == doctest::Approx(0.7115170183352001).epsilon(1e-14));
  }
  SUBCASE("500 random examples: the same values as the individual metrics") {
    // One sort shared by all fields must not change any of them (metric_sklearn compares
    // evaluate's fields with scikit-learn on larger sets as well).
    reals conf;
    bytes correct;
    make_random_data(500, 7, conf, correct);
    const auto s = m::evaluate(conf, correct);
    std::size_t errors = 0;
    for (auto c : correct)
      errors += c == 0;
    CHECK(s.n == 500);
    CHECK(s.errors == errors);
    CHECK(s.accuracy == static_cast<double>(500 - errors) / 500);
    CHECK(*s.auroc == *m::auroc(conf, correct));
    CHECK(*s.fpr95 == *m::fpr_at_tpr(conf, correct, 0.95));
    CHECK(s.aurc == m::aurc(conf, correct));
    CHECK(s.eaurc == m::eaurc(conf, correct));
    CHECK(*s.aupr_error == *m::aupr_error(conf, correct));
    CHECK(*s.aupr_success == *m::aupr_success(conf, correct));
  }
}

TEST_CASE("properties: invariance under strictly increasing transforms") {
  reals conf;
  bytes correct;
  make_random_data(2000, 11, conf, correct);
  const auto base = m::evaluate(conf, correct);
  const auto base_rc = m::risk_coverage_curve(conf, correct);
  const auto base_roc = m::roc_curve(conf, correct);
  // Integer levels 0..20 stay distinct and ordered under each of these.
  for (int t = 0; t < 3; ++t) {
    CAPTURE(t);
    reals y(conf.size());
    for (std::size_t i = 0; i < conf.size(); ++i)
      y[i] = t == 0 ? std::exp(conf[i]) : t == 1 ? 0.001 * conf[i] - 7 : std::atan(conf[i]);
    const auto s = m::evaluate(y, correct);
    CHECK(*s.auroc == *base.auroc);
    CHECK(*s.fpr95 == *base.fpr95);
    CHECK(s.aurc == base.aurc);
    CHECK(s.eaurc == base.eaurc);
    CHECK(*s.aupr_error == *base.aupr_error);
    CHECK(*s.aupr_success == *base.aupr_success);
    const auto rc = m::risk_coverage_curve(y, correct);
    CHECK(rc.coverage == base_rc.coverage);
    CHECK(rc.risk == base_rc.risk);
    const auto roc = m::roc_curve(y, correct);
    CHECK(roc.fpr == base_roc.fpr);
    CHECK(roc.tpr == base_roc.tpr);
  }
}

TEST_CASE("properties: AUROC(-c) = 1 - AUROC(c)") {
  for (unsigned seed = 1; seed <= 5; ++seed) {
    reals conf;
    bytes correct;
    make_random_data(300 * seed, seed, conf, correct);
    reals neg(conf.size());
    for (std::size_t i = 0; i < conf.size(); ++i)
      neg[i] = -conf[i];
    CHECK(*m::auroc(neg, correct) ==
          doctest::Approx(1.0 - *m::auroc(conf, correct)).epsilon(1e-14));
  }
  // The hand example: 1 - 7/12.
  reals neg(ex_conf.size());
  for (std::size_t i = 0; i < ex_conf.size(); ++i)
    neg[i] = -ex_conf[i];
  CHECK(*m::auroc(neg, ex_correct) == doctest::Approx(5.0 / 12).epsilon(1e-15));
}

TEST_CASE("properties: a perfect separator") {
  // n = 4, one error, distinct confidences, the error least confident. Curve points:
  // coverage 1/4, 2/4, 3/4 at risk 0 and coverage 1 at risk 1/4, so
  // AURC = 1/4 * (0 + 1/4) / 2 = 1/32 exactly.
  const reals c4{0.9, 0.8, 0.7, 0.1};
  const bytes y4{1, 1, 1, 0};
  CHECK(*m::auroc(c4, y4) == 1.0);
  CHECK(*m::fpr_at_tpr(c4, y4) == 0.0);
  CHECK(m::aurc(c4, y4) == 1.0 / 32);
  // The continuous optimum err + (1-err) ln(1-err) = 0.25 + 0.75 ln 0.75 = 0.03424 is the
  // continuous (n -> infinity) limit; the discrete curve of a perfect ranking lies below
  // it, so E-AURC of a perfect separator is slightly negative, here 1/32 - 0.03424.
  const double cont = 0.25 + 0.75 * std::log(0.75);
  CHECK(m::eaurc(c4, y4) == doctest::Approx(1.0 / 32 - cont).epsilon(1e-14));
  CHECK(m::eaurc(c4, y4) < 0.0);

  // General discrete optimum, P correct above W wrong, all distinct: the risk is 0 up to
  // coverage P/n and (m - P)/m at coverage m/n beyond, so the trapezoids sum to
  //   (1/n) [ sum_{m=P+1..n} (1 - P/m) - W/(2n) ] = (1/n) [W - P (H_n - H_P) - W/(2n)].
  // AURC must equal it exactly (up to rounding), for several error rates.
  for (std::size_t n : {10u, 97u, 1000u}) {
    for (std::size_t w : {std::size_t{1}, n / 3, n - 1}) {
      CAPTURE(n);
      CAPTURE(w);
      const std::size_t p = n - w;
      reals conf(n);
      bytes correct(n);
      for (std::size_t i = 0; i < n; ++i) {
        conf[i] = static_cast<double>(n - i); // descending, distinct
        correct[i] = i < p ? 1 : 0;
      }
      double harmonic = 0.0; // H_n - H_P
      for (std::size_t k = p + 1; k <= n; ++k)
        harmonic += 1.0 / static_cast<double>(k);
      const double nd = static_cast<double>(n);
      const double wd = static_cast<double>(w);
      const double discrete = (wd - static_cast<double>(p) * harmonic - wd / (2.0 * nd)) / nd;
      const auto s = m::evaluate(conf, correct);
      CHECK(*s.auroc == 1.0);
      CHECK(*s.fpr95 == 0.0);
      CHECK(*s.aupr_error == 1.0);
      CHECK(*s.aupr_success == 1.0);
      CHECK(s.aurc == doctest::Approx(discrete).epsilon(1e-13));
      const double err = wd / nd;
      CHECK(s.eaurc ==
            doctest::Approx(discrete - (err + (1 - err) * std::log(1 - err))).epsilon(1e-12));
    }
  }
}

TEST_CASE("degenerate inputs: undefined metrics say why") {
  const reals conf{0.9, 0.5, 0.5, 0.1};
  SUBCASE("no errors") {
    const bytes all_correct{1, 1, 1, 1};
    const auto s = m::evaluate(conf, all_correct);
    CHECK(s.errors == 0);
    CHECK(s.accuracy == 1.0);
    for (const auto* v : {&s.auroc, &s.fpr95, &s.aupr_error}) {
      CHECK_FALSE(v->defined());
      CHECK(v->reason.find("no misclassified examples") != std::string::npos);
      const auto what = thrown_message<misd::undefined_metric>([&] { (void)**v; });
      CHECK(what.rfind("misd: ", 0) == 0);
      CHECK(what.find("no misclassified examples (all 4 correct)") != std::string::npos);
    }
    // Defined: with only positives, precision is 1 at every threshold.
    CHECK(*s.aupr_success == 1.0);
    CHECK(s.aupr_success.reason.empty());
    CHECK(s.aurc == 0.0);  // every selective risk is 0
    CHECK(s.eaurc == 0.0); // optimum 0 + 1 ln 1 = 0
    CHECK_THROWS_AS(m::roc_curve(conf, all_correct), misd::undefined_metric);
    CHECK(*m::coverage_at_risk(conf, all_correct, 0.0) == 1.0);
  }
  SUBCASE("no correct") {
    const bytes all_wrong{0, 0, 0, 0};
    const auto s = m::evaluate(conf, all_wrong);
    CHECK(s.errors == 4);
    CHECK(s.accuracy == 0.0);
    for (const auto* v : {&s.auroc, &s.fpr95, &s.aupr_success}) {
      CHECK_FALSE(v->defined());
      CHECK(v->reason.find("no correct examples (all 4 misclassified)") != std::string::npos);
      CHECK_THROWS_AS((void)**v, misd::undefined_metric);
    }
    CHECK(*s.aupr_error == 1.0);
    CHECK(s.aurc == 1.0);  // every selective risk is 1
    CHECK(s.eaurc == 0.0); // optimum at its limit err -> 1 is 1
    CHECK_THROWS_AS(m::roc_curve(conf, all_wrong, m::positive::success), misd::undefined_metric);
    CHECK_FALSE(m::coverage_at_risk(conf, all_wrong, 0.5).defined());
  }
  SUBCASE("a single example") {
    CHECK(m::aurc(reals{0.3}, bytes{1}) == 0.0);
    CHECK_FALSE(m::auroc(reals{0.3}, bytes{1}).defined());
  }
}

TEST_CASE("bad input: sizes, NaN, correctness values") {
  const reals conf{0.1, 0.2, 0.3};
  std::string what = thrown_message<misd::invalid_argument>([&] {
    (void)m::auroc(conf, bytes{1, 0});
  });
  CHECK(what.find("3") != std::string::npos);
  CHECK(what.find("2") != std::string::npos);
  CHECK(what.rfind("misd: ", 0) == 0);

  what = thrown_message<misd::invalid_argument>([&] { (void)m::evaluate(reals{}, bytes{}); });
  CHECK(what.find("empty") != std::string::npos);

  what = thrown_message<misd::data_error>([&] {
    (void)m::aurc(reals{0.1, 0.2, std::nan(""), 0.4}, bytes{1, 0, 1, 0});
  });
  CHECK(what.find("confidence[2]") != std::string::npos);

  what = thrown_message<misd::data_error>([&] { (void)m::evaluate(conf, bytes{1, 2, 0}); });
  CHECK(what.find("correct[1]") != std::string::npos);

  // Every entry point validates.
  CHECK_THROWS_AS(m::roc_curve(conf, bytes{1}), misd::invalid_argument);
  CHECK_THROWS_AS(m::risk_coverage_curve(conf, bytes{1}), misd::invalid_argument);
  CHECK_THROWS_AS(m::aupr_error(conf, bytes{1, 0, 3}), misd::data_error);
  CHECK_THROWS_AS(m::fpr_at_tpr(reals{std::nan("")}, bytes{1}), misd::data_error);
}

TEST_CASE("a million examples: one sort, sane values") {
  // No timing assertion here: every metric is one O(n log n) sort plus linear passes
  // (see bench/ and the report for the measured time).
  const std::size_t n = 1'000'000;
  std::mt19937_64 gen(3);
  std::normal_distribution<double> noise(0.0, 1.0);
  std::uniform_real_distribution<double> u(0.0, 1.0);
  reals conf(n);
  bytes correct(n);
  for (std::size_t i = 0; i < n; ++i) {
    correct[i] = u(gen) < 0.8 ? 1 : 0;
    conf[i] = noise(gen) + (correct[i] != 0 ? 1.0 : 0.0); // d' = 1
  }
  const auto s = m::evaluate(conf, correct);
  CHECK(s.n == n);
  // Binormal with d' = 1: AUROC = Phi(1 / sqrt 2) = 0.7602.
  CHECK(*s.auroc == doctest::Approx(0.7602).epsilon(0.005));
  // FPR95: the threshold rejecting 95% of the errors (N(0, 1)) is Phi^-1(0.95) = 1.6449; it
  // rejects Phi(1.6449 - 1) = Phi(0.6449) = 0.7405 of the correct examples (N(1, 1)).
  // Sampling error at n = 10^6 is ~0.002.
  CHECK(*s.fpr95 == doctest::Approx(0.7405).epsilon(0.01));
}
