// examples/misd/cmd_corrupt.cpp -- 'misd corrupt': grey images in [0, 1] with one of the
// common corruptions at a severity (misd/data/corruption.hpp), written atomically with the
// input's shape and dtype.
#include "options.hpp"

#include "misd/data/corruption.hpp"
#include "misd/data/npy.hpp"
#include "misd/error.hpp"

#include <cmath>
#include <string>
#include <vector>

namespace misd_cli {

int cmd_corrupt(const corrupt_options& opt) {
  namespace md = misd::data;
  md::corruption_options o;
  o.kind = md::parse_corruption_kind(opt.kind); // checked by the command line already
  o.severity = opt.severity;
  o.seed = opt.seed;
  o.preset = opt.preset == "mnistc" ? md::corruption_preset::mnistc : md::corruption_preset::cifar;
  o.quantize8 = opt.quantize8;
  o.threads = std::size_t(opt.threads);

  const md::npy_header h = md::read_npy_header(opt.inputs);
  if (h.dtype != md::npy_dtype::float32 && h.dtype != md::npy_dtype::float64)
    misd::detail::npy_fail(opt.inputs, "images must be float32 or float64, found '", h.descr, "'");
  const std::vector<std::size_t>& shape = h.shape;
  const std::size_t n = shape.empty() ? 0 : shape[0];
  std::size_t height = 0, width = 0;
  if (shape.size() == 3 || (shape.size() == 4 && shape[1] == 1)) {
    height = shape[shape.size() - 2];
    width = shape.back();
    if ((opt.height && *opt.height != height) || (opt.width && *opt.width != width))
      throw usage_error("--height/--width " + std::to_string(opt.height.value_or(height)) + " x " +
                        std::to_string(opt.width.value_or(width)) + " disagree with the images' " +
                        std::to_string(height) + " x " + std::to_string(width));
  } else if (shape.size() == 2) {
    const std::size_t d = shape[1];
    if (opt.height && opt.width) {
      height = *opt.height;
      width = *opt.width;
    } else if (opt.height || opt.width) {
      const std::size_t given = opt.height ? *opt.height : *opt.width;
      if (d % given != 0)
        throw usage_error((opt.height ? "--height " : "--width ") + std::to_string(given) +
                          " does not divide the " + std::to_string(d) + " values per image");
      height = opt.height ? given : d / given;
      width = opt.width ? given : d / given;
    } else {
      const auto side = std::size_t(std::llround(std::sqrt(double(d))));
      if (side * side != d)
        throw usage_error(std::to_string(d) +
                          " values per image are not a square: give --height and --width");
      height = width = side;
    }
    if (height * width != d)
      throw usage_error("--height " + std::to_string(height) + " x --width " +
                        std::to_string(width) + " is not the " + std::to_string(d) +
                        " values per image");
  } else {
    misd::detail::npy_fail(opt.inputs,
                           "expected N x H x W, N x 1 x H x W or N x D images, found a ",
                           shape.size(), "-D array");
  }

  const auto x = md::read_npy<float>(opt.inputs);
  const auto y =
      md::corrupt_images(std::span<const float>(x.data(), x.size()), n, height, width, o);
  if (h.dtype == md::npy_dtype::float32) {
    md::write_npy<float>(opt.out, y, shape);
  } else {
    const std::vector<double> y64(y.begin(), y.end());
    md::write_npy<double>(opt.out, y64, shape);
  }
  return 0;
}

} // namespace misd_cli
