// misd/data/detail/corruption_filters.hpp -- the image operations behind misd::data's
// corruptions (misd/data/corruption.hpp): border index rules, Gaussian kernels, separable and
// 2-D correlation, bilinear sampling, 8-bit rounding, and the Poisson and normal samplers on
// misd's one generator. Every image is one grey channel, row-major, in double precision.
// Not for direct inclusion.
#pragma once

#include "misd/detail/random.hpp"

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <numbers>
#include <vector>

namespace misd::detail::corruption {

/// How an index outside [0, n) is read.
enum class border {
  replicate,  ///< a a a | a b c d | d d d (edge pixel)
  reflect,    ///< b a | a b c d | d c (the edge pixel repeated; scipy's 'reflect')
  reflect101, ///< c b | a b c d | c b (the edge pixel not repeated; OpenCV's default)
  constant0   ///< 0 outside
};

/// The index in [0, n) that i reads under b, or -1 for a zero (constant0 outside).
inline std::ptrdiff_t border_index(std::ptrdiff_t i, std::ptrdiff_t n, border b) {
  if (i >= 0 && i < n)
    return i;
  switch (b) {
  case border::replicate:
    return i < 0 ? 0 : n - 1;
  case border::constant0:
    return -1;
  case border::reflect: { // period 2n
    const std::ptrdiff_t p = 2 * n;
    std::ptrdiff_t m = i % p;
    if (m < 0)
      m += p;
    return m < n ? m : p - 1 - m;
  }
  case border::reflect101: { // period 2n - 2
    if (n == 1)
      return 0;
    const std::ptrdiff_t p = 2 * n - 2;
    std::ptrdiff_t m = i % p;
    if (m < 0)
      m += p;
    return m < n ? m : p - m;
  }
  }
  return 0;
}

/// exp(-t²/2σ²) for t = -radius..radius, summing to 1.
inline std::vector<double> gaussian_kernel(double sigma, std::ptrdiff_t radius) {
  std::vector<double> k(std::size_t(2 * radius + 1));
  double sum = 0;
  for (std::ptrdiff_t t = -radius; t <= radius; ++t)
    sum += k[std::size_t(t + radius)] = std::exp(-0.5 * double(t * t) / (sigma * sigma));
  for (double& v : k)
    v /= sum;
  return k;
}

/// Correlates every row, then every column, of the h x w image with the odd-length kernel k.
inline std::vector<double> separable_filter(const std::vector<double>& img, std::size_t h,
                                            std::size_t w, const std::vector<double>& k, border b) {
  const auto r = std::ptrdiff_t(k.size() / 2);
  const auto H = std::ptrdiff_t(h), W = std::ptrdiff_t(w);
  std::vector<double> tmp(img.size()), out(img.size());
  for (std::ptrdiff_t y = 0; y < H; ++y) // along each column (axis 0) first, as scipy does
    for (std::ptrdiff_t x = 0; x < W; ++x) {
      double s = 0;
      for (std::ptrdiff_t t = -r; t <= r; ++t) {
        const auto yy = border_index(y + t, H, b);
        if (yy >= 0)
          s += k[std::size_t(t + r)] * img[std::size_t(yy * W + x)];
      }
      tmp[std::size_t(y * W + x)] = s;
    }
  for (std::ptrdiff_t y = 0; y < H; ++y)
    for (std::ptrdiff_t x = 0; x < W; ++x) {
      double s = 0;
      for (std::ptrdiff_t t = -r; t <= r; ++t) {
        const auto xx = border_index(x + t, W, b);
        if (xx >= 0)
          s += k[std::size_t(t + r)] * tmp[std::size_t(y * W + xx)];
      }
      out[std::size_t(y * W + x)] = s;
    }
  return out;
}

/// out(y, x) = Σ k(i, j) in(y + i - kr, x + j - kc) for the kh x kw kernel k (correlation).
inline std::vector<double> correlate2d(const std::vector<double>& img, std::size_t h, std::size_t w,
                                       const std::vector<double>& k, std::size_t kh, std::size_t kw,
                                       border b) {
  const auto H = std::ptrdiff_t(h), W = std::ptrdiff_t(w);
  const auto rh = std::ptrdiff_t(kh / 2), rw = std::ptrdiff_t(kw / 2);
  std::vector<double> out(img.size());
  for (std::ptrdiff_t y = 0; y < H; ++y)
    for (std::ptrdiff_t x = 0; x < W; ++x) {
      double s = 0;
      for (std::ptrdiff_t i = 0; i < std::ptrdiff_t(kh); ++i) {
        const auto yy = border_index(y + i - rh, H, b);
        if (yy < 0)
          continue;
        for (std::ptrdiff_t j = 0; j < std::ptrdiff_t(kw); ++j) {
          const auto xx = border_index(x + j - rw, W, b);
          if (xx >= 0)
            s += k[std::size_t(i) * kw + std::size_t(j)] * img[std::size_t(yy * W + xx)];
        }
      }
      out[std::size_t(y * W + x)] = s;
    }
  return out;
}

/// Bilinear value of the image at row r, column c (pixel centres at integers); neighbours
/// outside the image are read through b.
inline double bilinear(const std::vector<double>& img, std::size_t h, std::size_t w, double r,
                       double c, border b) {
  const double fr = std::floor(r), fc = std::floor(c);
  const double tr = r - fr, tc = c - fc;
  const auto r0 = std::ptrdiff_t(fr), c0 = std::ptrdiff_t(fc);
  const auto H = std::ptrdiff_t(h), W = std::ptrdiff_t(w);
  auto at = [&](std::ptrdiff_t y, std::ptrdiff_t x) {
    const auto yy = border_index(y, H, b), xx = border_index(x, W, b);
    return yy < 0 || xx < 0 ? 0.0 : img[std::size_t(yy * W + xx)];
  };
  return (1 - tr) * ((1 - tc) * at(r0, c0) + tc * at(r0, c0 + 1)) +
         tr * ((1 - tc) * at(r0 + 1, c0) + tc * at(r0 + 1, c0 + 1));
}

/// x in [0, 1] as an 8-bit level: round(255 x), halves up.
inline int to_8bit(double x) {
  return int(std::floor(255.0 * std::clamp(x, 0.0, 1.0) + 0.5));
}

/// Standard normal draws, two per pair of uniforms (Box-Muller).
inline void fill_normal(misd::detail::splitmix64& rng, std::vector<double>& out) {
  for (std::size_t i = 0; i < out.size(); i += 2) {
    const double u1 = 1.0 - rng.uniform(); // (0, 1]: the logarithm stays finite
    const double u2 = rng.uniform();
    const double r = std::sqrt(-2.0 * std::log(u1));
    out[i] = r * std::cos(2 * std::numbers::pi * u2);
    if (i + 1 < out.size())
      out[i + 1] = r * std::sin(2 * std::numbers::pi * u2);
  }
}

/// log k! (exact sum below 16, Stirling's series above: error < 1e-12). std::lgamma is not
/// used: it writes the global signgam, a data race when images run on several threads.
inline double log_factorial(double k) {
  if (k < 16) {
    double s = 0;
    for (int i = 2; i <= int(k); ++i)
      s += std::log(double(i));
    return s;
  }
  const double n = k + 1; // lgamma(n)
  return (n - 0.5) * std::log(n) - n + 0.5 * std::log(2 * std::numbers::pi) + 1 / (12 * n) -
         1 / (360 * n * n * n) + 1 / (1260 * n * n * n * n * n);
}

/// A Poisson(mean) draw: multiplication below 10, Hörmann's transformed rejection (PTRS,
/// 1993) from 10 on; both exact.
inline double poisson(misd::detail::splitmix64& rng, double mean) {
  if (mean <= 0)
    return 0;
  if (mean < 10) {
    const double limit = std::exp(-mean);
    double prod = rng.uniform();
    double k = 0;
    while (prod > limit) {
      prod *= rng.uniform();
      k += 1;
    }
    return k;
  }
  const double slam = std::sqrt(mean), loglam = std::log(mean);
  const double b = 0.931 + 2.53 * slam;
  const double a = -0.059 + 0.02483 * b;
  const double inv_alpha = 1.1239 + 1.1328 / (b - 3.4);
  const double vr = 0.9277 - 3.6224 / (b - 2);
  for (;;) {
    const double u = rng.uniform() - 0.5;
    const double v = rng.uniform();
    const double us = 0.5 - std::abs(u);
    const double k = std::floor((2 * a / us + b) * u + mean + 0.43);
    if (us >= 0.07 && v <= vr)
      return k;
    if (k < 0 || (us < 0.013 && v > us))
      continue;
    if (std::log(v) + std::log(inv_alpha) - std::log(a / (us * us) + b) <=
        -mean + k * loglam - log_factorial(k))
      return k;
  }
}

} // namespace misd::detail::corruption
