// Tests of misd/eval: seeded splits, grid search by validation AURC, the per-seed runs,
// RelU refitted per split, and the mean ± std reports (Markdown, CSV, JSON).
#include <doctest/doctest.h>

#include "misd/eigen/linear.hpp"
#include "misd/eval.hpp"
#include "misd/eval/report_io.hpp"
#include "misd/metric/aurc.hpp"
#include "temp_dir.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <set>

namespace ev = misd::eval;
namespace sc = misd::score;
using model_t = misd::eigen::linear<double>;

TEST_CASE("random_split: disjoint, covering, 20/80, reproducible by seed") {
  for (std::size_t n : {7u, 10u, 1000u, 10001u}) {
    CAPTURE(n);
    const auto s = ev::random_split(n, 3);
    CHECK(s.validation.size() == static_cast<std::size_t>(std::llround(0.2 * double(n))));
    CHECK(s.validation.size() + s.test.size() == n);
    std::set<std::size_t> all(s.validation.begin(), s.validation.end());
    all.insert(s.test.begin(), s.test.end());
    CHECK(all.size() == n); // disjoint and covering
    CHECK(*all.rbegin() == n - 1);
    CHECK(std::is_sorted(s.validation.begin(), s.validation.end()));
    const auto again = ev::random_split(n, 3);
    CHECK(again.validation == s.validation);
    CHECK(again.test == s.test);
  }
  CHECK(ev::random_split(1000, 0).validation != ev::random_split(1000, 1).validation);
  // Not the first 20%: the rows are shuffled.
  CHECK(ev::random_split(1000, 0).validation.back() > 200);
  CHECK_THROWS_AS(ev::random_split(1, 0), misd::invalid_argument);
  CHECK_THROWS_AS(ev::random_split(100, 0, 1.0), misd::invalid_argument);
}

namespace {
// Examples with logits x = (1, 0, u) (correct for label 0) or (0, 1, u) (wrong); a custom
// method scores c = x_0 + 10 |T − 1.3| u, which separates right from wrong perfectly only
// at T = 1.3: grid search must pick it.
struct constructed_case {
  misd::eigen::batch<double> x;
  misd::label_vector labels;
  std::vector<std::uint8_t> correct;
};
constructed_case make_case(std::size_t n) {
  constructed_case c;
  c.x.resize(static_cast<Eigen::Index>(n), 3);
  std::uint64_t s = 12345;
  for (std::size_t i = 0; i < n; ++i) {
    s = s * 6364136223846793005ull + 1442695040888963407ull;
    const double u = 1.8 * (double(s >> 11) * 0x1.0p-53) - 0.9;
    const bool ok = (s >> 7) % 10 < 7; // ~70% correct
    c.x.row(static_cast<Eigen::Index>(i)) << (ok ? 1.0 : 0.0), (ok ? 0.0 : 1.0), u;
    c.labels.push_back(0);
    c.correct.push_back(ok ? 1 : 0);
  }
  return c;
}
} // namespace

TEST_CASE("grid search picks the known-best T; scores are computed once per grid point") {
  const auto c = make_case(600);
  model_t model(misd::eigen::batch<double>::Identity(3, 3), Eigen::VectorXd::Zero(3));
  int computes = 0;
  sc::method<model_t> custom(
      "constructed", sc::make_grid(sc::paper_temperature_grid()),
      [&computes](model_t& m, const misd::eigen::batch<double>& x, const sc::hyper_parameters& p) {
        ++computes;
        const auto z = m.logits(x);
        sc::method_output out;
        for (Eigen::Index i = 0; i < z.rows(); ++i)
          out.confidence.push_back(z(i, 0) + 10 * std::abs(p.temperature - 1.3) * z(i, 2));
        return out;
      });
  const ev::protocol_options o{{0, 1, 2}, 0.2};
  const auto rep = ev::evaluate_protocol(model, c.x, c.labels, {custom}, o);
  CHECK(computes == 15); // not 15 x 3 seeds
  CHECK(rep.n == 600);
  REQUIRE(rep.methods.size() == 1);
  REQUIRE(rep.methods[0].runs.size() == 3);
  for (const auto& run : rep.methods[0].runs) {
    CAPTURE(run.seed);
    // Independently: T = 1.3 is the unique minimum of validation AURC on this split.
    const auto s = ev::random_split(600, run.seed);
    std::vector<std::uint8_t> vc;
    for (auto r : s.validation)
      vc.push_back(c.correct[r]);
    std::vector<double> aurcs;
    for (double t : sc::paper_temperature_grid()) {
      std::vector<double> conf;
      for (auto r : s.validation) {
        const auto i = static_cast<Eigen::Index>(r);
        conf.push_back(c.x(i, 0) + 10 * std::abs(t - 1.3) * c.x(i, 2));
      }
      aurcs.push_back(misd::metric::aurc(conf, vc));
    }
    const auto best = std::min_element(aurcs.begin(), aurcs.end()) - aurcs.begin();
    REQUIRE(sc::paper_temperature_grid()[static_cast<std::size_t>(best)] == 1.3);
    REQUIRE(std::count(aurcs.begin(), aurcs.end(), aurcs[static_cast<std::size_t>(best)]) == 1);
    CHECK(run.chosen.temperature == 1.3);
    CHECK(run.validation_aurc == aurcs[static_cast<std::size_t>(best)]);
    // Test metrics are those of the chosen confidences on the test rows.
    std::vector<double> tc;
    std::vector<std::uint8_t> ty;
    for (auto r : s.test) {
      tc.push_back(c.x(static_cast<Eigen::Index>(r), 0));
      ty.push_back(c.correct[r]);
    }
    const auto expect = misd::metric::evaluate(tc, ty);
    CHECK(run.test.n == s.test.size());
    CHECK(run.test.aurc == expect.aurc);
    CHECK(*run.test.auroc == 1.0);
    CHECK(*run.test.fpr95 == 0.0);
  }
}

TEST_CASE("RelU is refitted on each validation part") {
  const auto c = make_case(300);
  misd::eigen::batch<double> w(3, 3);
  w << 1, 0.3, 0, -0.2, 1, 0.5, 0, 0, 0;
  model_t model(w, Eigen::VectorXd::Zero(3));
  const auto relu = sc::make_method<model_t>("relu");
  const auto rep = ev::evaluate_protocol(model, c.x, c.labels, {relu}, {{4, 5}, 0.2});
  REQUIRE(rep.methods[0].runs.size() == 2);
  const auto correct = ev::correctness(model, c.x, c.labels);
  const auto z = model.logits(c.x);
  for (const auto& run : rep.methods[0].runs) {
    const auto s = ev::random_split(300, run.seed);
    misd::host_matrix zv(static_cast<Eigen::Index>(s.validation.size()), 3);
    std::vector<std::uint8_t> cv;
    for (std::size_t i = 0; i < s.validation.size(); ++i) {
      zv.row(static_cast<Eigen::Index>(i)) = z.row(static_cast<Eigen::Index>(s.validation[i]));
      cv.push_back(correct[s.validation[i]]);
    }
    // RelU is tuned over the paper's T grid: refit at the temperature the protocol chose.
    CHECK(run.chosen.epsilon == 0.0);
    const auto grid = sc::paper_temperature_grid();
    CHECK(std::find(grid.begin(), grid.end(), run.chosen.temperature) != grid.end());
    const auto fitted = sc::relu_fit(zv, cv, run.chosen.temperature);
    const auto all = sc::confidence(fitted, z);
    std::vector<double> tc;
    std::vector<std::uint8_t> ty;
    for (auto r : s.test) {
      tc.push_back(all[static_cast<Eigen::Index>(r)]);
      ty.push_back(correct[r]);
    }
    CHECK(run.test.aurc == doctest::Approx(misd::metric::evaluate(tc, ty).aurc).epsilon(1e-14));
  }
}

TEST_CASE("reports: mean ± sample std, Markdown, CSV and JSON written atomically") {
  const auto c = make_case(400);
  model_t model(misd::eigen::batch<double>::Identity(3, 3), Eigen::VectorXd::Zero(3));
  std::vector<sc::method<model_t>> methods{sc::make_method<model_t>("msr"),
                                           sc::make_method<model_t>("margin")};
  const auto rep = ev::evaluate_protocol(model, c.x, c.labels, methods);
  REQUIRE(rep.methods.size() == 2);
  const auto& runs = rep.methods[0].runs;
  double mean = 0, ss = 0;
  for (const auto& r : runs)
    mean += r.test.aurc / 3;
  for (const auto& r : runs)
    ss += (r.test.aurc - mean) * (r.test.aurc - mean);
  const auto a = ev::aggregate(rep.methods[0], "aurc");
  CHECK(*a.mean == doctest::Approx(mean).epsilon(1e-14));
  CHECK(*a.std == doctest::Approx(std::sqrt(ss / 2)).epsilon(1e-12));

  const auto md = ev::markdown_table(rep);
  CHECK(md.find("| Method | AUROC ↑ | FPR95 % ↓ | AURC×1000 ↓ | Accuracy % |") !=
        std::string::npos);
  char cell[64];
  std::snprintf(cell, sizeof cell, "%.2f ± %.2f", mean * 1000, std::sqrt(ss / 2) * 1000);
  CHECK(md.find(std::string("| msr | ")) != std::string::npos);
  CHECK(md.find(cell) != std::string::npos);

  const misd_test::temp_dir tmp("misd-test-protocol-");
  const auto& dir = tmp.path();
  ev::write_json(dir / "r.json", rep);
  ev::write_csv(dir / "r.csv", rep);
  std::ifstream jf(dir / "r.json");
  const auto j = nlohmann::json::parse(jf);
  CHECK(j["methods"][0]["name"] == "msr");
  CHECK(j["methods"][0]["mean"]["aurc"].get<double>() == *a.mean);
  CHECK(j["methods"][0]["runs"].size() == 3);
  CHECK(j["methods"][1]["runs"][2]["test"]["aurc"].get<double>() ==
        rep.methods[1].runs[2].test.aurc);
  std::ifstream cf(dir / "r.csv");
  std::string header, row;
  std::getline(cf, header);
  std::getline(cf, row);
  CHECK(header.rfind("method,runs,auroc_mean,auroc_std,fpr95_mean", 0) == 0);
  CHECK(row.rfind("msr,3,", 0) == 0);
  std::size_t files = 0;
  for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator(dir))
    ++files;
  CHECK(files == 2); // no temporaries left behind
}

TEST_CASE("an undefined metric stays undefined in the summary, with the reason") {
  // Every example correct: AUROC undefined on every test part.
  std::vector<sc::method_output> outs{{{0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0}, {}}};
  const std::vector<std::uint8_t> correct(10, 1);
  const auto m = ev::evaluate_outputs("x", {{1.0, 0.0}}, outs, {}, correct, {{0, 1}, 0.2});
  const auto a = ev::aggregate(m, "auroc");
  CHECK(!a.mean.defined());
  CHECK(a.mean.reason.find("seed 0") != std::string::npos);
  CHECK(*ev::aggregate(m, "accuracy").mean == 1.0);
}
