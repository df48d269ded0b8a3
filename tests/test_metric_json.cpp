// tests/test_metric_json.cpp -- prints misd's metrics of one data file as JSON, for
// tests/python/check_metrics_sklearn.py to compare with scikit-learn.
//
// Input file (little-endian): int64 n, then n float64 confidences, then n uint8
// correctness flags. Output: one JSON object on stdout; doubles in shortest round-trip
// form, infinities as Infinity / -Infinity (Python's json reads both), undefined
// metrics and curves as null. fpr_at_tpr is taken at tpr = 0.5, 0.8, 0.9, 0.99, 1;
// risk_at_coverage and coverage_at_risk at 0, 0.1, 0.5, 0.9, 1.
#include "json_io.hpp"
#include "misd/metric.hpp"

#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <string>
#include <vector>

namespace {
using misd_test::json_array;
using misd_test::json_number;
using misd_test::read_double;

std::string json_number(const misd::metric::metric_value& v) {
  return v.defined() ? json_number(*v) : "null";
}

std::string roc_json(const std::vector<double>& conf, const std::vector<std::uint8_t>& correct,
                     misd::metric::positive pos) {
  try {
    const auto r = misd::metric::roc_curve(conf, correct, pos);
    return "{\"fpr\":" + json_array(r.fpr) + ",\"tpr\":" + json_array(r.tpr) +
           ",\"thresholds\":" + json_array(r.thresholds) + "}";
  } catch (const misd::undefined_metric&) {
    return "null";
  }
}

} // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::cerr << "usage: test_metric_json DATA_FILE\n";
    return 2;
  }
  std::ifstream in(argv[1], std::ios::binary);
  std::int64_t n = 0;
  in.read(reinterpret_cast<char*>(&n), sizeof n);
  if (!in || n < 0) {
    std::cerr << "test_metric_json: cannot read " << argv[1] << "\n";
    return 1;
  }
  std::vector<double> conf(static_cast<std::size_t>(n));
  std::vector<std::uint8_t> correct(static_cast<std::size_t>(n));
  in.read(reinterpret_cast<char*>(conf.data()), static_cast<std::streamsize>(n * 8));
  in.read(reinterpret_cast<char*>(correct.data()), static_cast<std::streamsize>(n));
  if (!in) {
    std::cerr << "test_metric_json: " << argv[1] << " is truncated\n";
    return 1;
  }

  namespace m = misd::metric;
  try {
    const auto s = m::evaluate(conf, correct);
    std::string out = "{\"n\":" + std::to_string(s.n) + ",\"errors\":" + std::to_string(s.errors) +
                      ",\"accuracy\":" + json_number(s.accuracy) +
                      ",\"auroc\":" + json_number(s.auroc) + ",\"fpr95\":" + json_number(s.fpr95) +
                      ",\"aurc\":" + json_number(s.aurc) + ",\"eaurc\":" + json_number(s.eaurc) +
                      ",\"aupr_error\":" + json_number(s.aupr_error) +
                      ",\"aupr_success\":" + json_number(s.aupr_success);
    // Operating points as arrays, in the order of the fixed arguments below.
    const double tprs[] = {0.5, 0.8, 0.9, 0.99, 1.0};
    const double fractions[] = {0.0, 0.1, 0.5, 0.9, 1.0};
    std::string fpr = "[", risk = "[", coverage = "[";
    for (std::size_t i = 0; i < 5; ++i) {
      const char* sep = i != 0 ? "," : "";
      fpr += sep;
      fpr += json_number(m::fpr_at_tpr(conf, correct, tprs[i]));
      risk += sep;
      risk += json_number(m::risk_at_coverage(conf, correct, fractions[i]));
      coverage += sep;
      coverage += json_number(m::coverage_at_risk(conf, correct, fractions[i]));
    }
    out += ",\"fpr_at_tpr\":" + fpr + "],\"risk_at_coverage\":" + risk +
           "],\"coverage_at_risk\":" + coverage + "]";
    const auto rc = m::risk_coverage_curve(conf, correct);
    out += ",\"risk_coverage\":{\"coverage\":" + json_array(rc.coverage) +
           ",\"risk\":" + json_array(rc.risk) + "}";
    out += ",\"roc_error\":" + roc_json(conf, correct, m::positive::error);
    out += ",\"roc_success\":" + roc_json(conf, correct, m::positive::success) + "}\n";
    std::fwrite(out.data(), 1, out.size(), stdout);
  } catch (const misd::error& e) {
    std::cerr << e.what() << "\n";
    return 1;
  }
  return 0;
}
