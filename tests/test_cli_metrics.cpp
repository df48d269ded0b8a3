// 'misd metrics' run as a child process (docs/cli.md): its JSON equals the library's numbers,
// bad data exits 1 naming the file and index, bad usage exits 2.
#include <doctest/doctest.h>

#include "misd/data/npy.hpp"
#include "misd/metric/summary.hpp"
#include "temp_dir.hpp"

#include <nlohmann/json.hpp>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <limits>
#include <sstream>
#include <string>
#include <sys/wait.h>
#include <vector>

#ifndef MISD_TOOL_PATH
#error "MISD_TOOL_PATH must name the misd executable"
#endif

namespace fs = std::filesystem;

namespace {
struct run_result {
  int status = -1;
  std::string out, err;
};

std::string slurp(const fs::path& p) {
  std::ifstream f(p);
  std::stringstream s;
  s << f.rdbuf();
  return s.str();
}

struct scratch {
  misd_test::temp_dir dir{"misd-test-cli-metrics-"};
  run_result run(const std::string& args) const {
    const std::string cmd = std::string("'") + MISD_TOOL_PATH + "' " + args + " >'" +
                            (dir.path() / "out").string() + "' 2>'" +
                            (dir.path() / "err").string() + "'";
    const int rc = std::system(cmd.c_str());
    run_result r;
    r.status = WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
    r.out = slurp(dir.path() / "out");
    r.err = slurp(dir.path() / "err");
    return r;
  }
  template <class T>
  std::string write(const std::string& name, const std::vector<T>& v) const {
    const auto p = dir.path() / name;
    const std::size_t shape[1] = {v.size()};
    misd::data::write_npy<T>(p, std::span<const T>(v), std::span<const std::size_t>(shape));
    return p.string();
  }
};

std::vector<double> sample_confidence(std::size_t n) {
  std::vector<double> c(n);
  std::uint64_t s = 99;
  for (auto& x : c) {
    s = s * 6364136223846793005ull + 1442695040888963407ull;
    x = std::round(double(s >> 11) * 0x1.0p-53 * 50) / 50; // ties on purpose
  }
  return c;
}
std::vector<std::uint8_t> sample_correct(const std::vector<double>& c) {
  std::vector<std::uint8_t> y(c.size());
  for (std::size_t i = 0; i < c.size(); ++i)
    y[i] = (c[i] + 0.3 * std::sin(double(i))) > 0.4 ? 1 : 0;
  return y;
}

void check_equal(const nlohmann::json& j, const char* key, const misd::metric::metric_value& v) {
  CAPTURE(key);
  if (v.defined())
    CHECK(j.at(key).get<double>() == *v.value); // exact: JSON doubles round-trip
  else
    CHECK(j.at(key).is_null());
}
} // namespace

TEST_CASE("misd metrics --format json equals misd::metric::evaluate") {
  scratch t;
  const auto conf = sample_confidence(500);
  const auto correct = sample_correct(conf);
  const auto cp = t.write("conf.npy", conf);
  const auto yp = t.write("correct.npy", correct);
  const auto r = t.run("metrics --confidence '" + cp + "' --correct '" + yp + "' --format json");
  REQUIRE(r.status == 0);
  CHECK(r.err.empty());
  const auto j = nlohmann::json::parse(r.out);
  const auto s = misd::metric::evaluate(conf, correct);
  CHECK(j.at("n").get<std::size_t>() == 500);
  CHECK(j.at("errors").get<std::size_t>() == s.errors);
  CHECK(j.at("accuracy").get<double>() == s.accuracy);
  CHECK(j.at("aurc").get<double>() == s.aurc);
  CHECK(j.at("eaurc").get<double>() == s.eaurc);
  check_equal(j, "auroc", s.auroc);
  check_equal(j, "fpr95", s.fpr95);
  check_equal(j, "aupr_error", s.aupr_error);
  check_equal(j, "aupr_success", s.aupr_success);
  CHECK(j.size() == 9);

  SUBCASE("float32 confidences and bool / int64 correctness are accepted") {
    std::vector<float> cf(conf.begin(), conf.end());
    std::vector<std::int64_t> yi(correct.begin(), correct.end());
    const auto r2 = t.run("metrics --confidence '" + t.write("c32.npy", cf) + "' --correct '" +
                          t.write("y64.npy", yi) + "' --format=json");
    REQUIRE(r2.status == 0);
    std::vector<double> back(cf.begin(), cf.end());
    CHECK(nlohmann::json::parse(r2.out).at("aurc").get<double>() ==
          misd::metric::evaluate(back, correct).aurc);
  }
  SUBCASE("table format") {
    const auto r3 = t.run("metrics --confidence '" + cp + "' --correct '" + yp + "'");
    CHECK(r3.status == 0);
    CHECK(r3.out.find("| auroc |") != std::string::npos);
  }
}

TEST_CASE("misd metrics: undefined metrics are null with the reason on stderr") {
  scratch t;
  const std::vector<double> conf{0.1, 0.5, 0.9};
  const std::vector<std::uint8_t> all_correct{1, 1, 1};
  const auto r = t.run("metrics --confidence '" + t.write("c.npy", conf) + "' --correct '" +
                       t.write("y.npy", all_correct) + "' --format json");
  REQUIRE(r.status == 0);
  const auto j = nlohmann::json::parse(r.out);
  CHECK(j.at("auroc").is_null());
  CHECK(j.at("fpr95").is_null());
  CHECK(j.at("accuracy").get<double>() == 1.0);
  CHECK(r.err.find("auroc is undefined") != std::string::npos);
}

TEST_CASE("misd metrics: bad data exits 1 naming the file and index") {
  scratch t;
  const std::vector<double> conf{0.1, 0.5, 0.9, 0.3};
  const std::vector<std::uint8_t> y{1, 0, 1, 1};
  const auto cp = t.write("conf.npy", conf);
  const auto yp = t.write("correct.npy", y);
  auto metrics = [&](const std::string& c, const std::string& yy) {
    return t.run("metrics --confidence '" + c + "' --correct '" + yy + "' --format json");
  };

  SUBCASE("length mismatch") {
    const auto r = metrics(cp, t.write("short.npy", std::vector<std::uint8_t>{1, 0, 1}));
    CHECK(r.status == 1);
    CHECK(r.err.find("conf.npy' has 4 values") != std::string::npos);
    CHECK(r.err.find("short.npy' has 3") != std::string::npos);
  }
  SUBCASE("NaN confidence") {
    const auto r =
        metrics(t.write("nan.npy", std::vector<double>{0.1, 0.2, std::nan(""), 0.4}), yp);
    CHECK(r.status == 1);
    CHECK(r.err.find("nan.npy") != std::string::npos);
    CHECK(r.err.find("index 2 is NaN") != std::string::npos);
  }
  SUBCASE("empty input") {
    const auto r = metrics(t.write("empty.npy", std::vector<double>{}),
                           t.write("empty_y.npy", std::vector<std::uint8_t>{}));
    CHECK(r.status == 1);
    CHECK(r.err.find("empty.npy' is empty") != std::string::npos);
  }
  SUBCASE("correctness other than 0/1") {
    const auto r = metrics(cp, t.write("bad_y.npy", std::vector<std::int32_t>{1, 0, 2, 1}));
    CHECK(r.status == 1);
    CHECK(r.err.find("bad_y.npy") != std::string::npos);
    CHECK(r.err.find("index 2") != std::string::npos);
  }
  SUBCASE("missing file") {
    const auto r = metrics((t.dir.path() / "missing.npy").string(), yp);
    CHECK(r.status == 1);
    CHECK(r.err.find("missing.npy") != std::string::npos);
  }
}

TEST_CASE("misd metrics: bad usage exits 2") {
  scratch t;
  const auto cp = t.write("c.npy", std::vector<double>{0.1, 0.9});
  const auto yp = t.write("y.npy", std::vector<std::uint8_t>{0, 1});
  CHECK(t.run("metrics --confidence '" + cp + "' --correct '" + yp + "' --bogus 1").status == 2);
  CHECK(t.run("metrics --confidence '" + cp + "'").status == 2);
  CHECK(t.run("metrics --confidence '" + cp + "' --correct '" + yp + "' --format xml").status == 2);
  const auto ok = t.run("metrics --confidence '" + cp + "' --correct '" + yp + "' --format json");
  CHECK(ok.status == 0);
}
