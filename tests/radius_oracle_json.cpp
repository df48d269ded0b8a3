// tests/radius_oracle_json.cpp -- a small random ReLU network, random points and every
// robust-radius estimator's answer on them, printed as JSON for
// tests/python/check_radius_oracle.py, which computes the exact L∞ radius of each point by a
// mixed-integer program and checks the estimators against it.
//
//   radius_oracle_json WIDTHS SEED N [BOX_LO BOX_HI]
//
// WIDTHS: comma-separated layer widths, e.g. 4,16,16,3 (4,3: a linear model). The network is
// eigen::mlp<double>::random(WIDTHS, SEED); the N points are uniform in [-1, 1]^D from
// splitmix64(SEED + 1000). With BOX_LO BOX_HI every estimator clamps into that box (the
// points lie inside it when it contains [-1, 1]). Output: {"layers": [{"weight": [[...]],
// "bias": [...]}...], "box": null | [lo, hi], "points": [[...]], "prediction": [...],
// "estimators": {name: {"radius", "lower", "upper": [...], "status": [...], "forwards",
// "backwards", "example_forwards"}}}; doubles in shortest round-trip form, infinities as
// Infinity.
#include "json_io.hpp"
#include "misd/detail/random.hpp"
#include "misd/eigen/mlp.hpp"
#include "misd/radius/deepfool.hpp"
#include "misd/radius/fab.hpp"
#include "misd/radius/rr_bs.hpp"
#include "misd/radius/rr_fast.hpp"
#include "misd/radius/rr_iter.hpp"
#include "misd/radius/rr_refine.hpp"

#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

namespace {
using misd_test::json_array;
using misd_test::json_number;
using misd_test::read_double;

std::string matrix(const Eigen::MatrixXd& m) {
  std::string s = "[";
  for (Eigen::Index i = 0; i < m.rows(); ++i)
    s.append(i ? "," : "").append(json_array(Eigen::VectorXd(m.row(i).transpose())));
  return s + "]";
}

std::string result_json(const misd::radius_result& r) {
  std::string s = "{\"radius\":" + json_array(r.radius) + ",\"lower\":" + json_array(r.lower) +
                  ",\"upper\":" + json_array(r.upper) + ",\"status\":[";
  for (std::size_t i = 0; i < r.status.size(); ++i)
    s.append(i ? ",\"" : "\"").append(misd::name(r.status[i])).append("\"");
  return s + "],\"forwards\":" + std::to_string(r.forwards) +
         ",\"backwards\":" + std::to_string(r.backwards) +
         ",\"example_forwards\":" + std::to_string(r.example_forwards) + "}";
}

std::vector<std::size_t> parse_widths(const std::string& text) {
  std::vector<std::size_t> w;
  std::stringstream ss(text);
  for (std::string item; std::getline(ss, item, ',');)
    w.push_back(static_cast<std::size_t>(std::stoul(item)));
  return w;
}

} // namespace

int main(int argc, char** argv) {
  if (argc != 4 && argc != 6) {
    std::cerr << "usage: radius_oracle_json WIDTHS SEED N [BOX_LO BOX_HI]\n";
    return 2;
  }
  const auto widths = parse_widths(argv[1]);
  const auto seed = static_cast<std::uint64_t>(std::stoull(argv[2]));
  const auto n = static_cast<Eigen::Index>(std::stol(argv[3]));
  std::optional<misd::input_box> box;
  if (argc == 6)
    box = misd::input_box{std::stod(argv[4]), std::stod(argv[5])};

  auto model = misd::eigen::mlp<double>::random(widths, seed);
  const auto d = static_cast<Eigen::Index>(widths.front());
  misd::eigen::batch<double> x(n, d);
  misd::detail::splitmix64 rng{seed + 1000};
  for (Eigen::Index i = 0; i < n; ++i)
    for (Eigen::Index j = 0; j < d; ++j)
      x(i, j) = rng.symmetric();

  // Tight settings: the oracle test measures each estimator's gap to the exact radius, so
  // the bisections are resolved far below the gaps it reports.
  misd::rr_bs_options bs;
  bs.budget = 60;
  bs.box = box;
  misd::rr_bs_pgd_options pgd;
  pgd.budget = 40;
  pgd.box = box;
  misd::rr_refine_options refine;
  refine.box = box;
  refine.budget = 60;
  refine.refine_budget = 30;
  misd::rr_fast_options fast;
  misd::deepfool_options deepfool;
  deepfool.box = box;
  deepfool.refine_probes = 40;
  misd::fab_options fab;
  fab.box = box;
  fab.refine_probes = 40;
  misd::rr_iter_options iter;
  iter.box = box;
  iter.refine_probes = 40;

  std::string out = "{\"layers\":[";
  const auto layers = model.dense_layers();
  for (std::size_t l = 0; l < layers.size(); ++l) {
    out.append(l ? "," : "").append("{\"weight\":").append(matrix(layers[l].weight));
    out.append(",\"bias\":").append(json_array(layers[l].bias)).append("}");
  }
  out +=
      "],\"box\":" + (box ? "[" + json_number(box->lo) + "," + json_number(box->hi) + "]" : "null");
  out += ",\"points\":" + matrix(x);
  const auto bs_result = misd::rr_bs(model, x, bs);
  out += ",\"prediction\":[";
  for (std::size_t i = 0; i < bs_result.prediction.size(); ++i)
    out.append(i ? "," : "").append(std::to_string(bs_result.prediction[i]));
  out += "],\"estimators\":{";
  out += "\"rr-bs\":" + result_json(bs_result);
  out += ",\"rr-bs-pgd\":" + result_json(misd::rr_bs_pgd(model, x, pgd));
  out += ",\"rr-refine\":" + result_json(misd::rr_refine(model, x, refine));
  out += ",\"rr-fast\":" + result_json(misd::rr_fast(model, x, fast));
  out += ",\"deepfool\":" + result_json(misd::deepfool(model, x, deepfool));
  out += ",\"fab\":" + result_json(misd::fab(model, x, fab));
  out += ",\"rr-iter\":" + result_json(misd::rr_iter(model, x, iter));
  out += "}}\n";
  std::cout << out;
  return 0;
}
