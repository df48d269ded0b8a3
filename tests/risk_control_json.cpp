// tests/risk_control_json.cpp -- prints misd's risk-controlling thresholds as JSON, for
// tests/python/check_risk_control.py to compare with SciPy and a NumPy re-implementation.
// Input files are whitespace-separated text written by that script.
//
//   risk_control_json bounds FILE
//       FILE: t, then t triples "errors n delta". Prints [B*(errors, n, delta), ...].
//   risk_control_json sgr FILE TARGET_RISK DELTA
//   risk_control_json ltt FILE TARGET_RISK DELTA GRID_POINTS MIN_ACCEPTED binomial|hb
//       FILE: m, then m confidences, then m correctness flags. Prints the chosen threshold.
#include "json_io.hpp"
#include "misd/metric/risk_control.hpp"

#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <string>
#include <vector>

namespace {
using misd_test::json_array;
using misd_test::json_number;
using misd_test::read_double;

std::string json_of(const misd::metric::risk_threshold& t) {
  return std::string("{\"threshold\":") + json_number(t.threshold) +
         ",\"inclusive\":" + (t.inclusive ? "true" : "false") +
         ",\"abstains\":" + (t.abstains ? "true" : "false") +
         ",\"accepted\":" + std::to_string(t.accepted) + ",\"errors\":" + std::to_string(t.errors) +
         ",\"risk_bound\":" + json_number(t.risk_bound) + ",\"p_value\":" + json_number(t.p_value) +
         "}";
}

} // namespace

int main(int argc, char** argv) {
  const std::string cmd = argc > 2 ? argv[1] : "";
  std::ifstream in(argc > 2 ? argv[2] : "");
  if (cmd == "bounds" && argc == 3) {
    std::size_t t = 0;
    in >> t;
    std::cout << "[";
    for (std::size_t i = 0; i < t; ++i) {
      std::size_t e = 0, n = 0;
      in >> e >> n;
      const double delta = read_double(in);
      std::cout << (i ? "," : "") << json_number(misd::metric::binomial_upper_bound(e, n, delta));
    }
    std::cout << "]\n";
    return 0;
  }
  if ((cmd == "sgr" && argc == 5) || (cmd == "ltt" && argc == 8)) {
    std::size_t m = 0;
    in >> m;
    std::vector<double> conf(m);
    std::vector<std::uint8_t> correct(m);
    for (auto& c : conf)
      c = read_double(in);
    for (auto& c : correct)
      c = static_cast<std::uint8_t>(read_double(in));
    const double risk = std::atof(argv[3]), delta = std::atof(argv[4]);
    if (cmd == "sgr") {
      std::cout << json_of(misd::metric::sgr_threshold(conf, correct, {risk, delta})) << "\n";
      return 0;
    }
    misd::metric::ltt_options o;
    o.target_risk = risk;
    o.delta = delta;
    o.grid_points = std::strtoull(argv[5], nullptr, 10);
    o.min_accepted = std::strtoull(argv[6], nullptr, 10);
    o.p_value = std::string(argv[7]) == "hb" ? misd::metric::ltt_p_value::hoeffding_bentkus
                                             : misd::metric::ltt_p_value::binomial;
    std::cout << json_of(misd::metric::ltt_threshold(conf, correct, o)) << "\n";
    return 0;
  }
  std::cerr << "usage: risk_control_json bounds FILE | sgr FILE R DELTA | "
               "ltt FILE R DELTA GRID_POINTS MIN_ACCEPTED binomial|hb\n";
  return 2;
}
