// Checks misd's sequential models against PyTorch: tests/python/export_torch_sequential.py
// writes nn.Sequential models in the sequential directory format with inputs, an upstream
// gradient G and torch's logits and input gradients d(sum(G * logits))/dx; this program loads
// each model (float64 and float32) and compares.
//   usage: test_sequential_torch DIR     (exit 0: all agree, 1: a mismatch, 77: no DIR data)
#include "misd/data/npy.hpp"
#include "misd/eigen/sequential_io.hpp"

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>

namespace {
template <class S>
misd::eigen::batch<S> read(const std::filesystem::path& p) {
  const auto m = misd::data::read_npy_matrix<S>(p);
  misd::eigen::batch<S> b(static_cast<Eigen::Index>(m.values.shape(0)),
                          static_cast<Eigen::Index>(m.values.shape(1)));
  std::copy(m.values.begin(), m.values.end(), b.data());
  return b;
}

/// max |a - b| <= tol * max |b| (relative to the array's scale), same shape, b not trivial.
bool agree(const std::string& what, const Eigen::MatrixXd& a, const Eigen::MatrixXd& b,
           double tol) {
  if (a.rows() != b.rows() || a.cols() != b.cols()) {
    std::printf("FAIL %s: shape %ldx%ld vs torch %ldx%ld\n", what.c_str(), long(a.rows()),
                long(a.cols()), long(b.rows()), long(b.cols()));
    return false;
  }
  const double scale = b.cwiseAbs().maxCoeff(), err = (a - b).cwiseAbs().maxCoeff();
  const bool ok = scale > 1e-3 && err <= tol * scale;
  std::printf("%s %s: max |misd - torch| = %.3g, max |torch| = %.3g, relative %.3g (tol %g)\n",
              ok ? "ok  " : "FAIL", what.c_str(), err, scale, err / scale, tol);
  return ok;
}

template <class S>
bool check(const std::filesystem::path& d, const char* suffix, double tol) {
  const auto model = misd::eigen::load_model_directory<S>(d / "model");
  const auto x = read<S>(d / "x.npy");
  const auto g = read<S>(d / "g.npy");
  const Eigen::MatrixXd z = model.logits(x).template cast<double>();
  const Eigen::MatrixXd dx = model.input_gradient(x, g).template cast<double>();
  const Eigen::MatrixXd zt = read<double>(d / ("logits_" + std::string(suffix) + ".npy"));
  const Eigen::MatrixXd dxt = read<double>(d / ("grad_" + std::string(suffix) + ".npy"));
  const std::string name = d.filename().string() + " " + suffix;
  const bool a = agree(name + " logits", z, zt, tol);
  const bool b = agree(name + " input gradient", dx, dxt, tol);
  return a && b;
}
} // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: test_sequential_torch DIR\n");
    return 2;
  }
  const std::filesystem::path dir = argv[1];
  std::ifstream cases(dir / "cases.txt");
  if (!cases) {
    std::printf("no %s: the exporter was skipped (torch missing)\n",
                (dir / "cases.txt").string().c_str());
    return 77;
  }
  bool ok = true;
  int count = 0;
  try {
    for (std::string name; std::getline(cases, name);) {
      if (name.empty())
        continue;
      ++count;
      // float64: the same float32-valued weights and inputs as torch's float64 run, so any
      // disagreement beyond rounding is a bug; float32 against torch's float32.
      ok = check<double>(dir / name, "f64", 1e-10) && ok;
      ok = check<float>(dir / name, "f32", 1e-5) && ok;
    }
  } catch (const std::exception& e) {
    std::printf("FAIL: %s\n", e.what());
    return 1;
  }
  if (count < 4) {
    std::printf("FAIL: expected at least 4 cases, found %d\n", count);
    return 1;
  }
  return ok ? 0 : 1;
}
