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

std::string num(double x) {
  if (std::isnan(x))
    return "NaN";
  if (std::isinf(x))
    return x > 0 ? "Infinity" : "-Infinity";
  char buf[64];
  const auto r = std::to_chars(buf, buf + sizeof buf, x);
  return std::string(buf, r.ptr);
}

template <class V>
std::string array(const V& xs) {
  std::string s = "[";
  for (Eigen::Index i = 0; i < static_cast<Eigen::Index>(xs.size()); ++i) {
    if (i)
      s += ',';
    s += num(static_cast<double>(xs[static_cast<std::size_t>(i)]));
  }
  return s + "]";
}

std::string array(const misd::host_vector& xs) {
  std::string s = "[";
  for (Eigen::Index i = 0; i < xs.size(); ++i) {
    if (i)
      s += ',';
    s += num(xs[i]);
  }
  return s + "]";
}

double read_double(std::istream& in) {
  std::string t;
  in >> t;
  return std::strtod(t.c_str(), nullptr); // strtod reads "inf" and "nan", unlike >> double
}

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
         ",\"temperature\":" + num(h.temperature) +
         ",\"p\":" + (h.norm_order ? num(*h.norm_order) : "null") +
         ",\"gamma\":" + (h.gen_gamma ? num(*h.gen_gamma) : "null") +
         ",\"M\":" + (h.gen_top_m ? num(double(*h.gen_top_m)) : "null") + "}";
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
  std::cout << "{\"norm\":" << array(sc::logit_pnorm(z, p, centre))
            << ",\"maxlogit_pnorm\":" << array(sc::maxlogit_pnorm(z, p, centre))
            << ",\"pnorm_softmax\":" << array(sc::pnorm_softmax(z, p, tau, centre))
            << ",\"gen\":" << array(sc::gen(z, gamma, m, t)) << "}\n";
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
  std::cout << "{\"validation\":" << array(split.validation);
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
              << ",\"validation_aurc\":" << num(run.validation_aurc)
              << ",\"test_aurc\":" << num(run.test.aurc) << ",\"grid\":[";
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
            << ",\"iterations\":" << model.iterations << ",\"intercept\":" << num(model.intercept)
            << ",\"weight\":" << array(model.weight) << ",\"mean\":" << array(model.mean)
            << ",\"sd\":" << array(model.sd) << ",\"low\":" << array(model.low)
            << ",\"high\":" << array(model.high) << ",\"test\":" << array(c) << "}\n";
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
