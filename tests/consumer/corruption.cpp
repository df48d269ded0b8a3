// Built against the installed misd with find_package(misd COMPONENTS corruption) and xtensor,
// nlohmann_json and zlib hidden from CMake: the corruptions need libjpeg alone.
#include <misd/data/corruption.hpp>

#include <cmath>
#include <cstdio>
#include <vector>

int main() {
  namespace md = misd::data;
  std::vector<float> x(2 * 28 * 28);
  for (std::size_t i = 0; i < x.size(); ++i)
    x[i] = float(i % 28) / 27.0f;
  md::corruption_options o;
  o.kind = md::corruption_kind::jpeg; // links libjpeg
  const auto j = md::corrupt_images(x, 2, 28, 28, o);
  o.kind = md::corruption_kind::brightness; // cifar severity 1: x + 0.05, clipped
  const auto b = md::corrupt_images(x, 2, 28, 28, o);
  double jpeg_err = 0, bright_err = 0;
  for (std::size_t i = 0; i < x.size(); ++i) {
    jpeg_err = std::fmax(jpeg_err, std::fabs(j[i] - x[i]));
    bright_err = std::fmax(bright_err, std::fabs(b[i] - std::fmin(x[i] + 0.05f, 1.0f)));
  }
  std::printf("consumer corruption: jpeg max change %g, brightness error %g\n", jpeg_err,
              bright_err);
  return jpeg_err > 0 && jpeg_err < 0.1 && bright_err < 1e-6 ? 0 : 1;
}
