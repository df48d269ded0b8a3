// Built against the installed misd package only.
#include <misd/misd.hpp>
#include <iostream>

int main() {
  misd::eigen::batch<double> w{{1.0, -1.0}, {-1.0, 1.0}};
  misd::eigen::linear<double> model(w, Eigen::VectorXd::Zero(2));
  misd::eigen::batch<double> x{{0.6, 0.4}};
  const auto r = misd::rr_fast(model, x); // exact here: |0.2 - (-0.2)| / 4 = 0.1
  std::cout << "consumer: radius " << r.radius[0] << "\n";
  return r.radius[0] > 0.0999 && r.radius[0] < 0.1001 ? 0 : 1;
}
