// misd/data/corruption.hpp -- common corruptions of grey images with values in [0, 1]: four
// noises, three blurs, brightness, contrast, pixelation, JPEG and an elastic warp, each at
// five severities, with the parameter tables of CIFAR-10-C (preset cifar, the default) or
// MNIST-C (preset mnistc). docs/algorithms.md gives each definition and both tables.
//
// Image i's random numbers come from a splitmix64 stream of its own, derived from (seed, i,
// kind) and nothing else, so a result depends neither on the batch it is in nor on the number
// of threads. The JPEG kind goes through libjpeg: link the CMake target misd::corruption.
#pragma once

#include "misd/data/detail/corruption_filters.hpp"
#include "misd/data/detail/corruption_jpeg.hpp"
#include "misd/detail/random.hpp"
#include "misd/detail/worker_pool.hpp"
#include "misd/error.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <numbers>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace misd::data {

enum class corruption_kind {
  gaussian_noise,
  shot_noise,
  impulse_noise,
  speckle_noise,
  gaussian_blur,
  defocus_blur,
  motion_blur,
  brightness,
  contrast,
  pixelate,
  jpeg,
  elastic
};

/// Whose parameter table: CIFAR-10-C's (made for 32-px images) or MNIST-C's (ImageNet-C's
/// 224-px blurs and noises, with elastic and pixelate rescaled to 28 px).
enum class corruption_preset { cifar, mnistc };

struct corruption_options {
  corruption_kind kind = corruption_kind::gaussian_noise;
  int severity = 1; ///< 1 (mildest) to 5
  std::uint64_t seed = 0;
  corruption_preset preset = corruption_preset::cifar;
  bool quantize8 = false;  ///< round the result down to a multiple of 1/255, as 8-bit files do
  std::size_t threads = 1; ///< images are split across this many threads (0 counts as 1)
};

} // namespace misd::data

namespace misd::detail::corruption {

using misd::data::corruption_kind;
using misd::data::corruption_options;
using misd::data::corruption_preset;

inline constexpr std::array<corruption_kind, 12> corruption_kinds{
    corruption_kind::gaussian_noise, corruption_kind::shot_noise,    corruption_kind::impulse_noise,
    corruption_kind::speckle_noise,  corruption_kind::gaussian_blur, corruption_kind::defocus_blur,
    corruption_kind::motion_blur,    corruption_kind::brightness,    corruption_kind::contrast,
    corruption_kind::pixelate,       corruption_kind::jpeg,          corruption_kind::elastic};

inline constexpr std::array<std::string_view, 12> corruption_names{
    "gaussian_noise", "shot_noise",   "impulse_noise", "speckle_noise",
    "gaussian_blur",  "defocus_blur", "motion_blur",   "brightness",
    "contrast",       "pixelate",     "jpeg",          "elastic"};

/// Up to three parameters of one kind at one severity (see the tables in docs/algorithms.md).
using corruption_params = std::array<double, 3>;

// [preset][kind][severity - 1]
inline constexpr corruption_params corruption_table[2][12][5] = {
    {
        // cifar (CIFAR-10-C's make_cifar_c.py, with its image side set to 28)
        {{.04}, {.06}, {.08}, {.09}, {.10}},                // gaussian σ
        {{500}, {250}, {100}, {75}, {50}},                  // shot λ
        {{.01}, {.02}, {.03}, {.05}, {.07}},                // impulse amount
        {{.06}, {.1}, {.12}, {.16}, {.2}},                  // speckle σ
        {{.4}, {.6}, {.7}, {.8}, {1}},                      // blur σ px
        {{.3, .4}, {.4, .5}, {.5, .6}, {1, .2}, {1.5, .1}}, // defocus r, σa
        {{6, 1}, {6, 1.5}, {6, 2}, {8, 2}, {9, 2.5}},       // motion r, σ
        {{.05}, {.1}, {.15}, {.2}, {.3}},                   // brightness c
        {{.75}, {.5}, {.4}, {.3}, {.15}},                   // contrast c
        {{.95}, {.9}, {.85}, {.75}, {.65}},                 // pixelate c
        {{80}, {65}, {58}, {50}, {40}},                     // jpeg quality
        {{0, 0, .08}, {.05, .2, .07}, {.08, .06, .06}, {.1, .04, .05}, {.1, .03, .03}}, // elastic
    },
    {
        // mnistc (MNIST-C's corruptions.py)
        {{.08}, {.12}, {.18}, {.26}, {.38}},
        {{60}, {25}, {12}, {5}, {3}},
        {{.03}, {.06}, {.09}, {.17}, {.27}},
        {{.15}, {.2}, {.35}, {.45}, {.6}},
        {{1}, {2}, {3}, {4}, {6}},
        {{3, .1}, {4, .5}, {6, .5}, {8, .5}, {10, .5}},
        {{10, 3}, {15, 5}, {15, 8}, {15, 12}, {20, 15}},
        {{.1}, {.2}, {.3}, {.4}, {.5}},
        {{.4}, {.3}, {.2}, {.1}, {.05}},
        {{.6}, {.5}, {.4}, {.3}, {.25}},
        {{25}, {18}, {15}, {10}, {7}},
        {{2, .7, .1}, {2, .08, .2}, {.05, .01, .02}, {.07, .01, .02}, {.12, .01, .02}},
    }};

/// The random draws one image's corruption used, in the order drawn (a test hook):
/// gaussian and speckle noise: the h*w standard normals; shot noise: the h*w Poisson counts;
/// impulse noise: per pixel -1 (kept), 0 or 1 (set to that); motion blur: the angle in
/// degrees; elastic: the 6 affine offsets (x, y of three points), then the h*w uniform
/// fields of dx and of dy. Empty for the deterministic kinds.
struct corruption_draws {
  std::vector<double> values;
};

/// The stream of image `index` for `kind`: a function of (seed, index, kind) only.
inline misd::detail::splitmix64 corruption_stream(std::uint64_t seed, std::uint64_t index,
                                                  corruption_kind kind) {
  misd::detail::splitmix64 s{seed};
  misd::detail::splitmix64 t{s.next() ^ index};
  misd::detail::splitmix64 u{t.next() ^ (std::uint64_t(kind) + 1) * 0xD1B54A32D192ED03ull};
  return misd::detail::splitmix64{u.next()};
}

/// Mean over the input pixels whose centres lie in each of s cells along an axis of n pixels:
/// pixel r belongs to cell i iff i·n/s < r + ½ <= (i + 1)·n/s (exact integer arithmetic).
inline std::vector<std::size_t> pixelate_cell_of(std::size_t n, std::size_t s) {
  std::vector<std::size_t> cell(n);
  for (std::size_t r = 0; r < n; ++r) {
    std::size_t i = ((2 * r + 1) * s) / (2 * n); // largest i with 2in <= (2r+1)s ...
    if (i > 0 && 2 * i * n == (2 * r + 1) * s)
      --i; // ... but the lower edge is open
    cell[r] = std::min(i, s - 1);
  }
  return cell;
}

inline std::vector<double> pixelate(const std::vector<double>& img, std::size_t h, std::size_t w,
                                    double c) {
  const std::size_t sh = std::max<std::size_t>(1, std::size_t(double(h) * c));
  const std::size_t sw = std::max<std::size_t>(1, std::size_t(double(w) * c));
  const auto row_cell = pixelate_cell_of(h, sh), col_cell = pixelate_cell_of(w, sw);
  std::vector<double> sum(sh * sw, 0.0), count(sh * sw, 0.0);
  for (std::size_t y = 0; y < h; ++y)
    for (std::size_t x = 0; x < w; ++x) {
      const std::size_t k = row_cell[y] * sw + col_cell[x];
      sum[k] += to_8bit(img[y * w + x]);
      count[k] += 1;
    }
  std::vector<double> small(sh * sw);
  for (std::size_t k = 0; k < small.size(); ++k)
    small[k] = std::floor(sum[k] / count[k] + 0.5);
  // Back up: each output pixel takes the cell under its centre.
  std::vector<double> out(h * w);
  for (std::size_t y = 0; y < h; ++y) {
    const std::size_t cy = ((2 * y + 1) * sh) / (2 * h);
    for (std::size_t x = 0; x < w; ++x) {
      const std::size_t cx = ((2 * x + 1) * sw) / (2 * w);
      out[y * w + x] = small[cy * sw + cx] / 255.0;
    }
  }
  return out;
}

/// The disk kernel of the defocus blur: 1[X² + Y² <= r²] / count on [-R, R]² (R = 8, or r
/// when r > 8), then smoothed by a k x k Gaussian σa (k = 3, or 5 when r > 8) with
/// reflect-101 borders and not renormalised.
inline std::vector<double> defocus_kernel(double r, double sigma_a, std::size_t& side) {
  const std::ptrdiff_t R = r <= 8 ? 8 : std::ptrdiff_t(std::floor(r));
  side = std::size_t(2 * R + 1);
  std::vector<double> disk(side * side, 0.0);
  double count = 0;
  for (std::ptrdiff_t y = -R; y <= R; ++y)
    for (std::ptrdiff_t x = -R; x <= R; ++x)
      if (double(x * x + y * y) <= r * r) {
        disk[std::size_t((y + R) * (2 * R + 1) + (x + R))] = 1;
        count += 1;
      }
  for (double& v : disk)
    v /= count;
  const auto g = gaussian_kernel(sigma_a, r <= 8 ? 1 : 2);
  return separable_filter(disk, side, side, g, border::reflect101);
}

inline std::vector<double> motion_blur(const std::vector<double>& img, std::size_t h, std::size_t w,
                                       double radius, double sigma, double angle_deg) {
  const std::size_t taps = 2 * std::size_t(std::ceil(radius)) + 1;
  std::vector<double> k(taps);
  double sum = 0;
  for (std::size_t j = 0; j < taps; ++j)
    sum += k[j] = std::exp(-double(j * j) / (2 * sigma * sigma));
  const double theta = angle_deg * std::numbers::pi / 180;
  std::vector<std::ptrdiff_t> dx(taps), dy(taps);
  for (std::size_t j = 0; j < taps; ++j) {
    dx[j] = std::ptrdiff_t(std::ceil(double(j) * std::cos(theta) - 0.5));
    dy[j] = std::ptrdiff_t(std::ceil(double(j) * std::sin(theta) - 0.5));
  }
  const auto H = std::ptrdiff_t(h), W = std::ptrdiff_t(w);
  std::vector<double> out(h * w);
  for (std::ptrdiff_t y = 0; y < H; ++y)
    for (std::ptrdiff_t x = 0; x < W; ++x) {
      double s = 0;
      for (std::size_t j = 0; j < taps; ++j) {
        const auto yy = border_index(y + dy[j], H, border::replicate);
        const auto xx = border_index(x + dx[j], W, border::replicate);
        s += k[j] / sum * to_8bit(img[std::size_t(yy * W + xx)]);
      }
      out[std::size_t(y * W + x)] = std::floor(s + 0.5) / 255.0;
    }
  return out;
}

/// Elastic warp: a random affine map (three points moved by U(-a, a)), then a displacement
/// field of smoothed uniform noise; (α, σ, a) are fractions of the shorter side.
inline std::vector<double> elastic(const std::vector<double>& img, std::size_t h, std::size_t w,
                                   const corruption_params& p, corruption_preset preset,
                                   misd::detail::splitmix64& rng, corruption_draws* record) {
  const double side = double(std::min(h, w));
  const double alpha = p[0] * side, sigma = p[1] * side, a = p[2] * side;
  const border b = preset == corruption_preset::mnistc ? border::constant0 : border::reflect101;
  const border b2 = preset == corruption_preset::mnistc ? border::constant0 : border::reflect;
  // The affine map sending the three points (x, y) to their moved copies.
  const double cx = double(w / 2), cy = double(h / 2), sq = double(std::min(h, w) / 3);
  const double src[3][2] = {{cx + sq, cy + sq}, {cx + sq, cy - sq}, {cx - sq, cy - sq}};
  double dst[3][2];
  for (int i = 0; i < 3; ++i)
    for (int j = 0; j < 2; ++j) {
      const double d = a * rng.symmetric();
      if (record)
        record->values.push_back(d);
      dst[i][j] = src[i][j] + d;
    }
  // Inverse map (output pixel -> where it reads in the input): solve the affine map that sends
  // dst to src, from the three point pairs, by Cramer's rule.
  const double det = (dst[0][0] - dst[2][0]) * (dst[1][1] - dst[2][1]) -
                     (dst[1][0] - dst[2][0]) * (dst[0][1] - dst[2][1]);
  double m[2][3];
  for (int j = 0; j < 2; ++j) {
    const double s0 = src[0][j] - src[2][j], s1 = src[1][j] - src[2][j];
    m[j][0] = (s0 * (dst[1][1] - dst[2][1]) - s1 * (dst[0][1] - dst[2][1])) / det;
    m[j][1] = ((dst[0][0] - dst[2][0]) * s1 - (dst[1][0] - dst[2][0]) * s0) / det;
    m[j][2] = src[2][j] - m[j][0] * dst[2][0] - m[j][1] * dst[2][1];
  }
  std::vector<double> warped(h * w);
  for (std::size_t y = 0; y < h; ++y)
    for (std::size_t x = 0; x < w; ++x) {
      const double sx = m[0][0] * double(x) + m[0][1] * double(y) + m[0][2];
      const double sy = m[1][0] * double(x) + m[1][1] * double(y) + m[1][2];
      warped[y * w + x] = bilinear(img, h, w, sy, sx, b);
    }
  // Displacements: U(-1, 1) fields, Gaussian-smoothed (truncated at 3σ, reflected), times α.
  std::vector<double> field[2];
  for (auto& f : field) {
    f.resize(h * w);
    for (double& v : f) {
      v = rng.symmetric();
      if (record)
        record->values.push_back(v);
    }
    if (sigma > 0)
      f = separable_filter(f, h, w, gaussian_kernel(sigma, std::ptrdiff_t(3 * sigma + 0.5)),
                           border::reflect);
  }
  std::vector<double> out(h * w);
  for (std::size_t y = 0; y < h; ++y)
    for (std::size_t x = 0; x < w; ++x) {
      const std::size_t k = y * w + x;
      out[k] = bilinear(warped, h, w, double(y) + alpha * field[1][k],
                        double(x) + alpha * field[0][k], b2);
    }
  return out;
}

/// One image's corruption (before clipping and quantisation).
inline std::vector<double> corrupt_one(const std::vector<double>& img, std::size_t h, std::size_t w,
                                       const corruption_options& o, std::uint64_t index,
                                       corruption_draws* record) {
  const corruption_params& p =
      corruption_table[int(o.preset)][int(o.kind)][std::size_t(o.severity - 1)];
  auto rng = corruption_stream(o.seed, index, o.kind);
  std::vector<double> out(img.size());
  switch (o.kind) {
  case corruption_kind::gaussian_noise:
  case corruption_kind::speckle_noise: {
    std::vector<double> n(img.size());
    fill_normal(rng, n);
    const bool speckle = o.kind == corruption_kind::speckle_noise;
    for (std::size_t k = 0; k < img.size(); ++k)
      out[k] = img[k] + (speckle ? img[k] : 1.0) * p[0] * n[k];
    if (record)
      record->values = n;
    return out;
  }
  case corruption_kind::shot_noise:
    for (std::size_t k = 0; k < img.size(); ++k) {
      const double count = poisson(rng, p[0] * img[k]);
      if (record)
        record->values.push_back(count);
      out[k] = count / p[0];
    }
    return out;
  case corruption_kind::impulse_noise:
    for (std::size_t k = 0; k < img.size(); ++k) {
      const double hit = rng.uniform(), level = rng.uniform() < 0.5 ? 0.0 : 1.0;
      out[k] = hit < p[0] ? level : img[k];
      if (record)
        record->values.push_back(hit < p[0] ? level : -1.0);
    }
    return out;
  case corruption_kind::gaussian_blur:
    return separable_filter(img, h, w, gaussian_kernel(p[0], std::ptrdiff_t(4 * p[0] + 0.5)),
                            border::replicate);
  case corruption_kind::defocus_blur: {
    std::size_t side = 0;
    const auto k = defocus_kernel(p[0], p[1], side);
    return correlate2d(img, h, w, k, side, side, border::reflect101);
  }
  case corruption_kind::motion_blur: {
    const double angle = -45 + 90 * rng.uniform();
    if (record)
      record->values.push_back(angle);
    return motion_blur(img, h, w, p[0], p[1], angle);
  }
  case corruption_kind::brightness:
    for (std::size_t k = 0; k < img.size(); ++k)
      out[k] = img[k] + p[0];
    return out;
  case corruption_kind::contrast: {
    double mean = 0;
    for (double v : img)
      mean += v;
    mean /= double(img.size());
    for (std::size_t k = 0; k < img.size(); ++k)
      out[k] = (img[k] - mean) * p[0] + mean;
    return out;
  }
  case corruption_kind::pixelate:
    return pixelate(img, h, w, p[0]);
  case corruption_kind::jpeg: {
    std::vector<unsigned char> bytes(img.size());
    for (std::size_t k = 0; k < img.size(); ++k)
      bytes[k] = static_cast<unsigned char>(to_8bit(img[k]));
    const auto decoded = jpeg_round_trip(bytes, h, w, int(p[0]));
    for (std::size_t k = 0; k < img.size(); ++k)
      out[k] = decoded[k] / 255.0;
    return out;
  }
  case corruption_kind::elastic:
    return elastic(img, h, w, p, o.preset, rng, record);
  }
  return out;
}

inline void check_corruption_options(const corruption_options& o) {
  if (std::size_t(o.kind) >= corruption_kinds.size())
    throw invalid_argument(misd::detail::message("corrupt_images: unknown corruption kind ",
                                                 int(o.kind), " (valid: 0 to 11)"));
  if (o.severity < 1 || o.severity > 5)
    throw invalid_argument(
        misd::detail::message("corrupt_images: severity ", o.severity, " is outside 1 to 5"));
  if (o.preset != corruption_preset::cifar && o.preset != corruption_preset::mnistc)
    throw invalid_argument(misd::detail::message("corrupt_images: unknown preset ", int(o.preset)));
}

/// Image `index` (h x w floats at `in`) corrupted into `out`: clipped to [0, 1], quantised
/// when asked. `record`, when given, receives the random draws (a test hook).
inline void corrupt_image(const float* in, float* out, std::size_t h, std::size_t w,
                          const corruption_options& o, std::uint64_t index,
                          corruption_draws* record = nullptr) {
  std::vector<double> img(in, in + h * w);
  const auto result = corrupt_one(img, h, w, o, index, record);
  for (std::size_t k = 0; k < h * w; ++k) {
    double v = std::clamp(result[k], 0.0, 1.0);
    if (o.quantize8)
      v = std::floor(255.0 * v) / 255.0;
    out[k] = float(v);
  }
}

} // namespace misd::detail::corruption

namespace misd::data {

/// The 12 kinds, in the order of corruption_kind.
inline std::span<const corruption_kind> all_corruption_kinds() {
  return misd::detail::corruption::corruption_kinds;
}

/// "gaussian_noise", "shot_noise", ..., "jpeg", "elastic" (the enumerator's name).
inline std::string_view corruption_name(corruption_kind kind) {
  if (std::size_t(kind) >= misd::detail::corruption::corruption_names.size())
    throw invalid_argument(
        misd::detail::message("corruption_name: unknown corruption kind ", int(kind)));
  return misd::detail::corruption::corruption_names[std::size_t(kind)];
}

/// The kind named `name` (as corruption_name writes it).
inline corruption_kind parse_corruption_kind(std::string_view name) {
  std::string valid;
  for (std::size_t i = 0; i < misd::detail::corruption::corruption_names.size(); ++i) {
    if (misd::detail::corruption::corruption_names[i] == name)
      return misd::detail::corruption::corruption_kinds[i];
    valid += (i ? ", " : "") + std::string(misd::detail::corruption::corruption_names[i]);
  }
  throw invalid_argument(
      misd::detail::message("unknown corruption kind '", name, "' (valid: ", valid, ")"));
}

/// The corrupted copy of `rows` images of height x width floats each (row-major, values in
/// [0, 1]). Throws invalid_argument for options out of range or sizes that do not agree,
/// data_error for a pixel outside [0, 1] or NaN.
inline std::vector<float> corrupt_images(std::span<const float> pixels, std::size_t rows,
                                         std::size_t height, std::size_t width,
                                         const corruption_options& o) {
  misd::detail::corruption::check_corruption_options(o);
  if (height == 0 || width == 0)
    throw invalid_argument(misd::detail::message("corrupt_images: images of ", height, " x ", width,
                                                 " pixels (need at least 1 x 1)"));
  const bool fits = width <= std::numeric_limits<std::size_t>::max() / height;
  const std::size_t n = fits ? height * width : 0;
  if (!fits || rows > pixels.size() / n || rows * n != pixels.size())
    throw invalid_argument(misd::detail::message("corrupt_images: ", pixels.size(), " pixels for ",
                                                 rows, " images of ", height, " x ", width));
  if (o.kind == corruption_kind::jpeg && (height > 65500 || width > 65500))
    throw invalid_argument(misd::detail::message("corrupt_images: jpeg takes images of at most ",
                                                 "65500 x 65500 pixels, not ", height, " x ",
                                                 width));
  for (std::size_t k = 0; k < pixels.size(); ++k)
    if (!(pixels[k] >= 0.0f && pixels[k] <= 1.0f))
      throw data_error(misd::detail::message("corrupt_images: pixel ", k % n, " of image ", k / n,
                                             " is ", pixels[k], ", outside [0, 1]"));
  std::vector<float> out(pixels.size());
  const std::size_t threads = std::clamp<std::size_t>(o.threads, 1, std::max<std::size_t>(rows, 1));
  auto task = [&](std::size_t t) {
    for (std::size_t i = t; i < rows; i += threads)
      misd::detail::corruption::corrupt_image(pixels.data() + i * n, out.data() + i * n, height,
                                              width, o, i);
  };
  misd::detail::worker_pool::shared().run(threads, task);
  return out;
}

} // namespace misd::data
