// Tests of misd/data/corruption.hpp that need no Python: names, errors, reproducibility
// (seed, batch, threads), quantisation, and closed forms. The values of every kind against
// NumPy/SciPy/PIL are tests/python/check_corruption.py's (CTest test corruption_numpy).
#include "misd/data/corruption.hpp"

#include <doctest/doctest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

namespace md = misd::data;

namespace {

/// rows images of h x w: a smooth ramp plus a pattern that differs per image.
std::vector<float> sample_images(std::size_t rows, std::size_t h, std::size_t w) {
  std::vector<float> x(rows * h * w);
  for (std::size_t i = 0; i < rows; ++i)
    for (std::size_t y = 0; y < h; ++y)
      for (std::size_t c = 0; c < w; ++c)
        x[(i * h + y) * w + c] =
            float(0.5 + 0.4 * std::sin(0.3 * double(y + 2 * i) + 0.5 * double(c * (i + 1))));
  return x;
}

md::corruption_options options(md::corruption_kind k, int severity = 3, std::uint64_t seed = 1) {
  md::corruption_options o;
  o.kind = k;
  o.severity = severity;
  o.seed = seed;
  return o;
}

bool is_random(md::corruption_kind k) {
  using enum md::corruption_kind;
  return k == gaussian_noise || k == shot_noise || k == impulse_noise || k == speckle_noise ||
         k == motion_blur || k == elastic;
}

template <class F>
std::string message_of(F&& f) {
  try {
    f();
  } catch (const misd::error& e) {
    return e.what();
  }
  return "(no exception)";
}

} // namespace

TEST_CASE("corruption names: 12 kinds in order, each name parsed back") {
  const auto kinds = md::all_corruption_kinds();
  REQUIRE(kinds.size() == 12);
  CHECK(md::corruption_name(kinds[0]) == "gaussian_noise");
  CHECK(md::corruption_name(kinds[10]) == "jpeg");
  CHECK(md::corruption_name(kinds[11]) == "elastic");
  for (std::size_t i = 0; i < kinds.size(); ++i) {
    CHECK(int(kinds[i]) == int(i));
    CHECK(md::parse_corruption_kind(md::corruption_name(kinds[i])) == kinds[i]);
  }
  CHECK_THROWS_AS(md::parse_corruption_kind("fog"), misd::invalid_argument);
  const std::string m = message_of([] { md::parse_corruption_kind("fog"); });
  CHECK(m.find("'fog'") != std::string::npos);
  CHECK(m.find("gaussian_noise, shot_noise") != std::string::npos);
  CHECK(m.find("jpeg, elastic") != std::string::npos);
}

TEST_CASE("corrupt_images: bad options, sizes and pixels name the value") {
  const auto x = sample_images(2, 5, 4);
  auto o = options(md::corruption_kind::contrast);
  o.severity = 0;
  CHECK_THROWS_AS(md::corrupt_images(x, 2, 5, 4, o), misd::invalid_argument);
  CHECK(message_of([&] { md::corrupt_images(x, 2, 5, 4, o); }).find("severity 0") !=
        std::string::npos);
  o.severity = 6;
  CHECK(message_of([&] { md::corrupt_images(x, 2, 5, 4, o); }).find("severity 6") !=
        std::string::npos);
  o = options(md::corruption_kind(12));
  CHECK(message_of([&] { md::corrupt_images(x, 2, 5, 4, o); }).find("unknown corruption kind 12") !=
        std::string::npos);
  o = options(md::corruption_kind::contrast);
  CHECK(message_of([&] {
          md::corrupt_images(x, 3, 5, 4, o);
        }).find("40 pixels for 3 images of 5 x 4") != std::string::npos);
  CHECK(message_of([&] { md::corrupt_images(x, 2, 0, 4, o); }).find("0 x 4") != std::string::npos);
  CHECK_THROWS_AS(md::corrupt_images(x, 2, 0, 4, o), misd::invalid_argument);
  for (const float bad : {std::numeric_limits<float>::quiet_NaN(), 1.5f, -0.25f}) {
    auto y = x;
    y[27] = bad; // image 1, pixel 7
    CHECK_THROWS_AS(md::corrupt_images(y, 2, 5, 4, o), misd::data_error);
    const std::string m = message_of([&] { md::corrupt_images(y, 2, 5, 4, o); });
    CHECK(m.find("pixel 7 of image 1") != std::string::npos);
  }
  CHECK(md::corrupt_images({}, 0, 5, 4, o).empty()); // no images: nothing to do
  const std::size_t huge = std::size_t(1) << 40; // huge x huge overflows: a mismatch, not a crash
  CHECK(message_of([&] {
          md::corrupt_images({}, 0, huge, huge, o);
        }).find("0 pixels for 0 images") != std::string::npos);
}

TEST_CASE("corrupt_images: one seed, one result, whatever the batch and the threads") {
  const std::size_t rows = 7, h = 28, w = 28;
  const auto x = sample_images(rows, h, w);
  for (const auto preset : {md::corruption_preset::cifar, md::corruption_preset::mnistc})
    for (const md::corruption_kind k : md::all_corruption_kinds()) {
      CAPTURE(md::corruption_name(k));
      auto o = options(k, 4, 42);
      o.preset = preset;
      const auto a = md::corrupt_images(x, rows, h, w, o);
      o.threads = 3;
      const auto b = md::corrupt_images(x, rows, h, w, o);
      CHECK(std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0);
      // The first 3 images alone: the same as in the batch of 7.
      o.threads = 1;
      const auto c = md::corrupt_images(std::span(x).first(3 * h * w), 3, h, w, o);
      CHECK(std::memcmp(a.data(), c.data(), c.size() * sizeof(float)) == 0);
      o.seed = 43;
      const auto d = md::corrupt_images(x, rows, h, w, o);
      CHECK((std::memcmp(a.data(), d.data(), a.size() * sizeof(float)) != 0) == is_random(k));
      // Different images of one batch draw different numbers: images 0 and 1 made equal
      // still come out different under the random kinds.
      auto twins = x;
      std::copy(x.begin(), x.begin() + long(h * w), twins.begin() + long(h * w));
      const auto t = md::corrupt_images(std::span(twins).first(2 * h * w), 2, h, w, o);
      CHECK((std::memcmp(t.data(), t.data() + h * w, h * w * sizeof(float)) != 0) == is_random(k));
    }
}

TEST_CASE("quantize8 rounds the result down to a multiple of 1/255") {
  const auto x = sample_images(3, 28, 28);
  for (const md::corruption_kind k : md::all_corruption_kinds()) {
    CAPTURE(md::corruption_name(k));
    auto o = options(k, 2, 5);
    const auto plain = md::corrupt_images(x, 3, 28, 28, o);
    o.quantize8 = true;
    const auto q = md::corrupt_images(x, 3, 28, 28, o);
    for (std::size_t i = 0; i < q.size(); ++i) {
      const double level = 255.0 * double(q[i]);
      REQUIRE(std::abs(level - std::round(level)) < 1e-3);
      REQUIRE(double(q[i]) <= double(plain[i]) + 1e-6);
      REQUIRE(double(plain[i]) < double(q[i]) + 1.0 / 255 + 1e-6);
    }
  }
}

TEST_CASE("closed forms: brightness, contrast, and blurs of a constant image") {
  const std::size_t h = 9, w = 13;
  const auto x = sample_images(1, h, w);
  auto o = options(md::corruption_kind::brightness, 5); // cifar: c = 0.3
  auto y = md::corrupt_images(x, 1, h, w, o);
  for (std::size_t i = 0; i < x.size(); ++i)
    CHECK(y[i] == doctest::Approx(std::min(double(x[i]) + 0.3, 1.0)).epsilon(1e-6));
  o = options(md::corruption_kind::contrast, 2); // cifar: c = 0.5
  y = md::corrupt_images(x, 1, h, w, o);
  double mean = 0;
  for (float v : x)
    mean += v;
  mean /= double(x.size());
  for (std::size_t i = 0; i < x.size(); ++i)
    CHECK(y[i] == doctest::Approx((double(x[i]) - mean) * 0.5 + mean).epsilon(1e-6));
  // A constant image (a multiple of 1/255) stays itself under the normalised blurs, pixelation
  // and the cifar elastic warp (reflecting borders).
  const std::vector<float> flat(h * w, 51.0f / 255);
  using enum md::corruption_kind;
  for (const md::corruption_kind k : {gaussian_blur, motion_blur, pixelate, elastic})
    for (int s = 1; s <= 5; ++s) {
      CAPTURE(md::corruption_name(k));
      CAPTURE(s);
      const auto z = md::corrupt_images(flat, 1, h, w, options(k, s));
      for (float v : z)
        REQUIRE(v == doctest::Approx(51.0 / 255).epsilon(1e-6));
    }
  // JPEG keeps only the DC coefficient of a constant block: 8·(51 - 128) quantised by the
  // DC step of the scaled luminance table (16 at quality 50), decoded as 128 + DC / 8.
  const int quality[5] = {80, 65, 58, 50, 40};
  for (int s = 1; s <= 5; ++s) {
    const int scale = quality[s - 1] < 50 ? 5000 / quality[s - 1] : 200 - 2 * quality[s - 1];
    const int q = std::clamp((16 * scale + 50) / 100, 1, 255);
    const double dc = std::round(8.0 * (51 - 128) / q) * q;
    const double expected = std::floor(128 + dc / 8 + 0.5) / 255;
    const auto z = md::corrupt_images(flat, 1, h, w, options(jpeg, s));
    CAPTURE(s);
    for (float v : z)
      REQUIRE(v == doctest::Approx(expected).epsilon(1e-6));
  }
}

TEST_CASE("a 1 x 1 image and a one-row image go through every kind") {
  for (const auto& [h, w] : {std::pair<std::size_t, std::size_t>{1, 1}, {1, 17}, {17, 1}})
    for (const md::corruption_kind k : md::all_corruption_kinds())
      for (const auto preset : {md::corruption_preset::cifar, md::corruption_preset::mnistc}) {
        CAPTURE(md::corruption_name(k));
        auto o = options(k, 5);
        o.preset = preset;
        const std::vector<float> x(h * w, 0.25f);
        const auto y = md::corrupt_images(x, 1, h, w, o);
        for (float v : y)
          REQUIRE((v >= 0.0f && v <= 1.0f));
      }
}
