// Built against the installed misd with find_package(misd COMPONENTS xtensor) and
// nlohmann_json and zlib hidden from CMake: the xtensor backend needs xtensor alone.
#include <misd/misd.hpp>
#include <misd/xtensor.hpp>

#include <cstdio>

int main() {
  misd::xtensor::linear<double> model(misd::xtensor::batch<double>{{1.0, -1.0}, {-1.0, 1.0}},
                                      xt::xtensor<double, 1>{0.0, 0.0});
  const misd::xtensor::batch<double> x{{0.6, 0.4}};
  const auto r = misd::rr_fast(model, x); // exact here: |0.2 - (-0.2)| / 4 = 0.1
  std::printf("consumer xtensor: radius %g\n", r.radius[0]);
  return r.radius[0] > 0.0999 && r.radius[0] < 0.1001 ? 0 : 1;
}
