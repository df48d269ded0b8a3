// Built against the installed misd package with find_package(misd) alone: the core and
// Eigen, with xtensor, nlohmann_json and zlib hidden from CMake (tests/CMakeLists.txt).
// RR-Fast on a model type of the user's own, checked against the closed form.
#include <misd/misd.hpp>

#include <cmath>
#include <cstdio>

// z = x Wᵀ + b with two classes: along the FGSM ray sign(w_k − w_y) the margin
// z_y − z_k closes at rate ‖w_y − w_k‖₁, so the L∞ radius is (z_y − z_k) / ‖w_y − w_k‖₁,
// and RR-Fast's linearisation is exact.
struct user_linear {
  using batch_type = misd::eigen::batch<double>;
  batch_type w{{2.0, -1.0, 0.5}, {-1.0, 1.0, -0.5}};
  Eigen::RowVector2d b{0.1, -0.1};
  batch_type logits(const batch_type& x) const { return (x * w.transpose()).rowwise() + b; }
  batch_type input_gradient(const batch_type&, const batch_type& g) const { return g * w; }
};

int main() {
  static_assert(misd::Differentiable<user_linear>);
  user_linear user;
  const misd::eigen::batch<double> x{{0.5, 0.2, 0.4}, {0.1, 0.9, 0.0}};
  const auto r = misd::rr_fast(user, x);
  const double l1 = (user.w.row(0) - user.w.row(1)).lpNorm<1>(); // 6
  int failures = 0;
  for (Eigen::Index i = 0; i < x.rows(); ++i) {
    const Eigen::RowVector2d z = user.logits(x.row(i));
    const double expected = std::abs(z(0) - z(1)) / l1; // 1.7 / 6 and 1.3 / 6
    const bool ok = std::abs(r.radius[i] - expected) <= 1e-9 * expected;
    std::printf("consumer core: user model, example %d: radius %.9f, closed form %.9f %s\n", int(i),
                r.radius[i], expected, ok ? "ok" : "MISMATCH");
    failures += !ok;
  }

  // The library's own Eigen model, as before: |0.2 - (-0.2)| / 4 = 0.1.
  misd::eigen::linear<double> model(misd::eigen::batch<double>{{1.0, -1.0}, {-1.0, 1.0}},
                                    Eigen::VectorXd::Zero(2));
  const auto s = misd::rr_fast(model, misd::eigen::batch<double>{{0.6, 0.4}});
  std::printf("consumer: radius %g\n", s.radius[0]);
  failures += !(s.radius[0] > 0.0999 && s.radius[0] < 0.1001);
  return failures == 0 ? 0 : 1;
}
