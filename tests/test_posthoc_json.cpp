// tests/test_posthoc_json.cpp -- prints misd's post-hoc scores, their grid selection and the
// combined score as JSON, for tests/python/posthoc_reference.py to compare with NumPy and
// scikit-learn. Input files are whitespace-separated text written by that script.
//
//   test_posthoc_json scores FILE P TAU GAMMA M T CENTRE
//       FILE: n k, then n·k logits. Prints the p-norms, MaxLogit-pNorm, p-NormSoftmax (τ) and
//       GEN (γ, M, T) of every row; CENTRE 0/1.
//   test_posthoc_json select FILE SEED
//       FILE: n k, n·k logits, n correctness flags. Runs the registry's maxlogit-pnorm,
//       pnorm-softmax and gen (classes = k) through the protocol (one seed) on a linear model
//       whose logits are the rows, and prints the validation rows and each method's choice.
//   test_posthoc_json combine FILE RIDGE
//       FILE: n m, then n first, n second, n correctness (validation), m first, m second (test).
//       Prints the fitted combination and the test confidences.
#include "json_io.hpp"
#include "misd/eigen/linear.hpp"
#include "misd/eval/protocol.hpp"
#include "misd/score/combined.hpp"
#include "misd/score/posthoc.hpp"

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

misd::host_matrix read_matrix(std::istream& in, Eigen::Index n, Eigen::Index k) {
  misd::host_matrix z(n, k);
  for (Eigen::Index i = 0; i < n; ++i)
    for (Eigen::Index j = 0; j < k; ++j)
      z(i, j) = read_double(in);
  return z;
}

std::vector<double> read_vector(std::istream& in, std::size_t n) {
  std::vector<double> v(n);
  for (auto& x : v)
    x = read_double(in);
  return v;
}

std::string point_json(const misd::score::hyper_parameters& h) {
  return "{\"msr_fallback\":" + std::string(h.msr_fallback ? "true" : "false") +
         ",\"temperature\":" + json_number(h.temperature) +
         ",\"p\":" + (h.norm_order ? json_number(*h.norm_order) : "null") +
         ",\"gamma\":" + (h.gen_gamma ? json_number(*h.gen_gamma) : "null") +
         ",\"M\":" + (h.gen_top_m ? json_number(double(*h.gen_top_m)) : "null") + "}";
}

int scores(char** argv) {
  std::ifstream in(argv[2]);
  Eigen::Index n = 0, k = 0;
  in >> n >> k;
  const auto z = read_matrix(in, n, k);
  const double p = std::atof(argv[3]), tau = std::atof(argv[4]), gamma = std::atof(argv[5]);
  const long long m = std::atoll(argv[6]);
  const double t = std::atof(argv[7]);
  const bool centre = std::atoi(argv[8]) != 0;
  namespace sc = misd::score;
  std::cout << "{\"norm\":" << json_array(sc::logit_pnorm(z, p, centre))
            << ",\"maxlogit_pnorm\":" << json_array(sc::maxlogit_pnorm(z, p, centre))
            << ",\"pnorm_softmax\":" << json_array(sc::pnorm_softmax(z, p, tau, centre))
            << ",\"gen\":" << json_array(sc::gen(z, gamma, m, t)) << "}\n";
  return 0;
}

int select_command(char** argv) {
  std::ifstream in(argv[2]);
  Eigen::Index n = 0, k = 0;
  in >> n >> k;
  const auto z = read_matrix(in, n, k);
  std::vector<std::uint8_t> correct(static_cast<std::size_t>(n));
  for (auto& c : correct)
    c = static_cast<std::uint8_t>(read_double(in));
  const std::uint64_t seed = std::strtoull(argv[3], nullptr, 10);
  using model_t = misd::eigen::linear<double>;
  model_t model(misd::eigen::batch<double>::Identity(k, k), Eigen::VectorXd::Zero(k));
  misd::score::method_options mo;
  mo.classes = static_cast<std::size_t>(k);
  misd::eval::protocol_options po;
  po.seeds = {seed};
  const auto split = misd::eval::random_split(static_cast<std::size_t>(n), seed);
  std::cout << "{\"validation\":" << json_array(split.validation);
  for (const char* name : {"maxlogit-pnorm", "pnorm-softmax", "gen"}) {
    const auto m = misd::score::make_method<model_t>(name, mo);
    std::vector<misd::score::method_output> outs;
    for (const auto& h : m.grid())
      outs.push_back(m.compute(model, z, h));
    misd::score::fit_function fit;
    if (m.needs_fit())
      fit = [&m](const misd::score::method_output& on, std::span<const std::uint8_t> c,
                 const misd::score::method_output& target) { return m.fitted(target, &on, c); };
    const auto rep = misd::eval::evaluate_outputs(name, m.grid(), outs, fit, correct, po);
    const auto& run = rep.runs.at(0);
    std::cout << ",\"" << name << "\":{\"chosen\":" << point_json(run.chosen)
              << ",\"validation_aurc\":" << json_number(run.validation_aurc)
              << ",\"test_aurc\":" << json_number(run.test.aurc) << ",\"grid\":[";
    for (std::size_t g = 0; g < m.grid().size(); ++g)
      std::cout << (g ? "," : "") << point_json(m.grid()[g]);
    std::cout << "]}";
  }
  std::cout << "}\n";
  return 0;
}

int combine(char** argv) {
  std::ifstream in(argv[2]);
  std::size_t n = 0, m = 0;
  in >> n >> m;
  const auto va = read_vector(in, n), vb = read_vector(in, n), vc = read_vector(in, n);
  const auto ta = read_vector(in, m), tb = read_vector(in, m);
  std::vector<std::uint8_t> correct(n);
  for (std::size_t i = 0; i < n; ++i)
    correct[i] = static_cast<std::uint8_t>(vc[i]);
  misd::score::combine_options o;
  o.ridge = std::atof(argv[3]);
  const auto model = misd::score::fit_combined(va, vb, correct, o);
  const auto c = misd::score::combined_confidence(model, ta, tb);
  std::cout << "{\"fitted\":" << (model.fitted ? "true" : "false")
            << ",\"iterations\":" << model.iterations
            << ",\"intercept\":" << json_number(model.intercept)
            << ",\"weight\":" << json_array(model.weight) << ",\"mean\":" << json_array(model.mean)
            << ",\"sd\":" << json_array(model.sd) << ",\"low\":" << json_array(model.low)
            << ",\"high\":" << json_array(model.high) << ",\"test\":" << json_array(c) << "}\n";
  return 0;
}

} // namespace

int main(int argc, char** argv) {
  const std::string cmd = argc > 1 ? argv[1] : "";
  try {
    if (cmd == "scores" && argc == 9)
      return scores(argv);
    if (cmd == "select" && argc == 4)
      return select_command(argv);
    if (cmd == "combine" && argc == 4)
      return combine(argv);
  } catch (const std::exception& e) {
    std::cerr << "test_posthoc_json: " << e.what() << "\n";
    return 1;
  }
  std::cerr << "usage: test_posthoc_json scores FILE P TAU GAMMA M T CENTRE | select FILE SEED | "
               "combine FILE RIDGE\n";
  return 2;
}
