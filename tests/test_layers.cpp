// Layers of sequential models (misd/eigen/layers.hpp): every layer's input gradient and
// parameter gradients against central finite differences in double, for odd sizes, strides
// and paddings; convolution and pooling against direct loop implementations.
#include "misd/eigen/layers.hpp"

#include <doctest/doctest.h>

#include <cmath>
#include <cstdint>
#include <functional>
#include <limits>
#include <string>
#include <vector>

using namespace misd::eigen;
using nn::tensor_shape;
using B = batch<double>;

namespace {
B random_batch(Eigen::Index n, Eigen::Index d, std::uint64_t seed) {
  return misd::batch_ops<B>::uniform_noise(B(n, d), seed);
}

/// L(x, θ) = Σ G ∘ layer(x): dL/dx and dL/dθ from backward() against central differences.
template <class L>
void check_gradients(L layer, const tensor_shape& in, Eigen::Index n, std::uint64_t seed) {
  const tensor_shape out = layer.output_shape(in);
  B x = random_batch(n, in.size(), seed);
  const B g = random_batch(n, out.size(), seed + 7);
  auto loss = [&](const L& l, const B& xx) {
    B y;
    l.forward(xx, y, in);
    REQUIRE(y.rows() == n);
    REQUIRE(y.cols() == out.size());
    return (y.array() * g.array()).sum();
  };
  B y, dx;
  layer.forward(x, y, in);
  layer.zero_gradients();
  layer.backward(x, y, g, &dx, in, true);
  REQUIRE(dx.rows() == n);
  REQUIRE(dx.cols() == in.size());
  const double h = 1e-6;
  double worst = 0;
  for (Eigen::Index k = 0; k < x.size(); ++k) {
    B xp = x, xm = x;
    xp.data()[k] += h;
    xm.data()[k] -= h;
    const double fd = (loss(layer, xp) - loss(layer, xm)) / (2 * h);
    worst = std::max(worst, std::abs(fd - dx.data()[k]));
  }
  CHECK(worst < 1e-7);
  CHECK(dx.cwiseAbs().maxCoeff() > 1e-3); // not vacuous
  // Parameter gradients, in the order of append_parameters.
  std::vector<std::span<double>> params, grads;
  layer.append_parameters(params);
  layer.append_gradients(grads);
  REQUIRE(params.size() == grads.size());
  for (std::size_t p = 0; p < params.size(); ++p) {
    REQUIRE(params[p].size() == grads[p].size());
    double worst_p = 0, largest = 0;
    for (std::size_t k = 0; k < params[p].size(); ++k) {
      const double v = params[p][k];
      params[p][k] = v + h;
      const double lp = loss(layer, x);
      params[p][k] = v - h;
      const double lm = loss(layer, x);
      params[p][k] = v;
      const double fd = (lp - lm) / (2 * h);
      worst_p = std::max(worst_p, std::abs(fd - grads[p][k]));
      largest = std::max(largest, std::abs(fd));
    }
    CHECK(worst_p < 1e-7);
    CHECK(largest > 1e-3);
  }
  // Accumulation: a second backward doubles the parameter gradients.
  if (!grads.empty()) {
    const std::vector<double> first(grads[0].begin(), grads[0].end());
    B dx2;
    layer.backward(x, y, g, &dx2, in, true);
    for (std::size_t k = 0; k < first.size(); ++k)
      CHECK(grads[0][k] == doctest::Approx(2 * first[k]));
    CHECK((dx2 - dx).cwiseAbs().maxCoeff() == 0.0);
  }
}

/// Direct 7-loop convolution (PyTorch's definition) for one example.
B direct_conv(const nn::conv2d<double>& c, const B& x, const tensor_shape& in) {
  const tensor_shape out = c.output_shape(in);
  B y(x.rows(), out.size());
  for (Eigen::Index i = 0; i < x.rows(); ++i)
    for (Eigen::Index o = 0; o < c.out_channels; ++o)
      for (Eigen::Index oh = 0; oh < out.h; ++oh)
        for (Eigen::Index ow = 0; ow < out.w; ++ow) {
          double s = c.bias[o];
          for (Eigen::Index ch = 0; ch < in.c; ++ch)
            for (Eigen::Index ki = 0; ki < c.kernel_h; ++ki)
              for (Eigen::Index kj = 0; kj < c.kernel_w; ++kj) {
                const Eigen::Index ih = oh * c.stride_h - c.padding_h + ki,
                                   iw = ow * c.stride_w - c.padding_w + kj;
                if (ih < 0 || iw < 0 || ih >= in.h || iw >= in.w)
                  continue;
                s += c.weight(o, (ch * c.kernel_h + ki) * c.kernel_w + kj) *
                     x(i, (ch * in.h + ih) * in.w + iw);
              }
          y(i, (o * out.h + oh) * out.w + ow) = s;
        }
  return y;
}

nn::conv2d<double> random_conv(Eigen::Index in, Eigen::Index out, Eigen::Index kh, Eigen::Index kw,
                               Eigen::Index sh, Eigen::Index sw, Eigen::Index ph, Eigen::Index pw,
                               std::uint64_t seed) {
  nn::conv2d<double> c(in, out, kh, kw, sh, sw, ph, pw);
  c.weight = random_batch(c.weight.rows(), c.weight.cols(), seed);
  c.bias = random_batch(1, out, seed + 1).row(0).transpose();
  return c;
}
} // namespace

TEST_CASE("conv2d: forward equals the direct definition for odd sizes, strides, paddings") {
  struct cfg {
    Eigen::Index c, o, kh, kw, sh, sw, ph, pw, h, w;
  };
  for (const cfg& k : {cfg{3, 4, 3, 3, 1, 1, 1, 1, 7, 5}, cfg{2, 3, 3, 2, 2, 1, 1, 0, 9, 8},
                       cfg{1, 2, 5, 5, 3, 3, 2, 2, 11, 13}, cfg{4, 2, 1, 1, 1, 1, 0, 0, 3, 3},
                       cfg{2, 2, 1, 1, 2, 2, 1, 1, 5, 4}, cfg{2, 3, 4, 3, 2, 3, 3, 2, 6, 7},
                       // stride 1 with the input's width (im2col by shifted planes)
                       cfg{2, 3, 3, 5, 1, 1, 0, 2, 6, 7}, cfg{1, 2, 5, 3, 1, 1, 3, 1, 4, 9}}) {
    CAPTURE(k.kh);
    CAPTURE(k.sh);
    CAPTURE(k.ph);
    const auto c = random_conv(k.c, k.o, k.kh, k.kw, k.sh, k.sw, k.ph, k.pw, 11);
    const tensor_shape in = tensor_shape::image(k.c, k.h, k.w);
    const B x = random_batch(3, in.size(), 5);
    B y;
    c.forward(x, y, in);
    const B ref = direct_conv(c, x, in);
    REQUIRE(y.cols() == ref.cols());
    CHECK((y - ref).cwiseAbs().maxCoeff() < 1e-12);
  }
}

TEST_CASE("conv2d's bias gradient and global_avgpool2d: the same bits wherever a row lies") {
  // One example in row j of an 8-row batch (rows of odd length: each j starts at another
  // alignment) gives the bits it gives alone: a vectorised sum that starts its packets at the
  // row's address would round differently, and a trained model would depend on the heap.
  using F = misd::eigen::batch<float>;
  nn::conv2d<float> c(2, 3, 3, 3, 1, 1, 1, 1);
  c.weight = random_batch(c.weight.rows(), c.weight.cols(), 41).cast<float>();
  const tensor_shape in = tensor_shape::image(2, 12, 13);
  const F x1 = random_batch(1, in.size(), 42).cast<float>();
  const F dy1 = random_batch(1, c.output_shape(in).size(), 43).cast<float>();
  c.zero_gradients();
  F y;
  c.backward(x1, y, dy1, nullptr, in, true);
  const Eigen::VectorXf alone = c.bias_gradient;
  nn::global_avgpool2d<float> pool;
  F pooled_alone;
  pool.forward(dy1, pooled_alone, c.output_shape(in));
  for (Eigen::Index j = 0; j < 8; ++j) {
    CAPTURE(j);
    F x = F::Zero(8, x1.cols()), dy = F::Zero(8, dy1.cols());
    x.row(j) = x1.row(0);
    dy.row(j) = dy1.row(0);
    c.zero_gradients();
    c.backward(x, y, dy, nullptr, in, true);
    CHECK(c.bias_gradient == alone);
    F pooled;
    pool.forward(dy, pooled, c.output_shape(in));
    CHECK(pooled.row(j) == pooled_alone.row(0));
  }
}

TEST_CASE("conv2d: input and parameter gradients against finite differences") {
  check_gradients(random_conv(3, 4, 3, 3, 1, 1, 1, 1, 1), tensor_shape::image(3, 6, 5), 2, 21);
  check_gradients(random_conv(2, 3, 3, 2, 2, 1, 1, 0, 2), tensor_shape::image(2, 7, 6), 3, 22);
  check_gradients(random_conv(1, 2, 5, 5, 3, 3, 2, 2, 3), tensor_shape::image(1, 9, 11), 2, 23);
  check_gradients(random_conv(3, 2, 1, 1, 1, 1, 0, 0, 4), tensor_shape::image(3, 4, 3), 2, 24);
  check_gradients(random_conv(2, 3, 4, 3, 2, 3, 3, 2, 5), tensor_shape::image(2, 6, 7), 2, 25);
  check_gradients(random_conv(2, 3, 3, 5, 1, 1, 0, 2, 6), tensor_shape::image(2, 6, 7), 2, 26);
  check_gradients(random_conv(1, 2, 5, 3, 1, 1, 3, 1, 7), tensor_shape::image(1, 4, 9), 2, 27);
}

namespace {
/// Every pooled value of `p` on x (rows of `in` images) against the definition: the largest
/// entry of its window, padding left out.
void check_pool_values(const nn::maxpool2d<double>& p, const tensor_shape& in, const B& x) {
  const tensor_shape out = p.output_shape(in);
  B y;
  p.forward(x, y, in);
  for (Eigen::Index i = 0; i < x.rows(); ++i)
    for (Eigen::Index c = 0; c < in.c; ++c)
      for (Eigen::Index oh = 0; oh < out.h; ++oh)
        for (Eigen::Index ow = 0; ow < out.w; ++ow) {
          double m = -std::numeric_limits<double>::infinity();
          const Eigen::Index h0 = oh * p.stride_h - p.padding_h, w0 = ow * p.stride_w - p.padding_w;
          for (Eigen::Index h = h0; h < h0 + p.kernel_h; ++h)
            for (Eigen::Index w = w0; w < w0 + p.kernel_w; ++w)
              if (h >= 0 && h < in.h && w >= 0 && w < in.w)
                m = std::max(m, x(i, (c * in.h + h) * in.w + w));
          CHECK(y(i, (c * out.h + oh) * out.w + ow) == m);
        }
}
} // namespace

TEST_CASE("maxpool2d: forward, and input gradient against finite differences") {
  const nn::maxpool2d<double> p(3, 2, 2, 1, 1, 0);
  const tensor_shape in = tensor_shape::image(2, 7, 5);
  CHECK(p.output_shape(in) == tensor_shape::image(2, 4, 4)); // (7+2-3)/2+1, (5-2)/1+1
  check_pool_values(p, in, random_batch(2, in.size(), 3));
  // The vectorised 2x2 / stride 2 path (even width; odd height: floor drops the last row),
  // with ties from small integers.
  const nn::maxpool2d<double> p2(2, 2);
  const tensor_shape in2 = tensor_shape::image(3, 7, 8);
  CHECK(p2.output_shape(in2) == tensor_shape::image(3, 3, 4));
  check_pool_values(p2, in2, random_batch(2, in2.size(), 4).unaryExpr([](double v) {
    return std::round(3 * v);
  }));
  // Random inputs have no ties, so max pooling is differentiable there.
  check_gradients(nn::maxpool2d<double>(2, 2), tensor_shape::image(3, 6, 5), 2, 31);
  check_gradients(nn::maxpool2d<double>(2, 2), tensor_shape::image(2, 5, 6), 2, 33);
  check_gradients(nn::maxpool2d<double>(3, 2, 2, 1, 1, 0), tensor_shape::image(2, 7, 5), 2, 32);
}

TEST_CASE("maxpool2d 2x2: values and positions against the definition, ties and NaNs") {
  // The vectorised path at the widths of the default CNN (28, 14) and others: each output
  // is its window's first maximum in row-major order, or its NaN (no window here holds
  // two), with and without positions.
  const nn::maxpool2d<float> p(2, 2);
  for (const Eigen::Index w : {8, 14, 28, 32}) {
    CAPTURE(w);
    const tensor_shape in = tensor_shape::image(3, w, w), out = p.output_shape(in);
    std::vector<float> x(static_cast<std::size_t>(in.size()));
    std::uint64_t st = 77 + static_cast<std::uint64_t>(w);
    for (auto& v : x) {
      st = st * 6364136223846793005ull + 1442695040888963407ull;
      v = float((st >> 40) % 4); // ties everywhere
    }
    for (std::size_t k = 5; k < x.size(); k += 37) // NaNs in every window position
      x[k] = std::numeric_limits<float>::quiet_NaN();
    std::vector<float> y(static_cast<std::size_t>(out.size())), y2(y.size());
    std::vector<Eigen::Index> at(y.size());
    p.forward_one(x.data(), y.data(), at.data(), in, out);
    p.forward_one(x.data(), y2.data(), nullptr, in, out);
    for (Eigen::Index c = 0; c < in.c; ++c)
      for (Eigen::Index oh = 0; oh < out.h; ++oh)
        for (Eigen::Index ow = 0; ow < out.w; ++ow) {
          Eigen::Index best = -1;
          for (Eigen::Index dh = 0; dh < 2; ++dh)
            for (Eigen::Index dw = 0; dw < 2; ++dw) {
              const Eigen::Index k = (c * in.h + 2 * oh + dh) * in.w + 2 * ow + dw;
              const float v = x[static_cast<std::size_t>(k)];
              if (best < 0 || (!std::isnan(x[static_cast<std::size_t>(best)]) &&
                               (std::isnan(v) || v > x[static_cast<std::size_t>(best)])))
                best = k;
            }
          const auto o = static_cast<std::size_t>((c * out.h + oh) * out.w + ow);
          const float m = x[static_cast<std::size_t>(best)];
          CHECK(at[o] == best);
          CHECK((std::isnan(m) ? std::isnan(y[o]) && std::isnan(y2[o]) : y[o] == m && y2[o] == m));
        }
  }
}

TEST_CASE("global_avgpool2d, relu, flatten, linear, normalize: gradients") {
  check_gradients(nn::global_avgpool2d<double>{}, tensor_shape::image(3, 4, 5), 2, 41);
  check_gradients(nn::relu<double>{}, tensor_shape::image(2, 3, 3), 3, 42);
  check_gradients(nn::flatten<double>{}, tensor_shape::image(2, 3, 3), 2, 43);
  nn::linear<double> l(random_batch(4, 6, 44), random_batch(1, 4, 45).row(0).transpose());
  check_gradients(l, tensor_shape::vector(6), 3, 46);
  vector<double> mean(3), sd(3);
  mean << 0.5, -1, 2;
  sd << 0.25, 3, 1;
  check_gradients(nn::normalize<double>(mean, sd), tensor_shape::image(3, 2, 3), 2, 47);
  check_gradients(nn::normalize<double>(mean, sd), tensor_shape::vector(3), 2, 48);
}

TEST_CASE("layers: closed forms") {
  B x(1, 4);
  x << 1, 2, 3, 6;
  B y;
  nn::global_avgpool2d<double>{}.forward(x, y, tensor_shape::image(1, 2, 2));
  CHECK(y(0, 0) == 3.0);
  vector<double> m(1), s(1);
  m << 1;
  s << 2;
  nn::normalize<double>(m, s).forward(x, y, tensor_shape::image(1, 2, 2));
  CHECK(y(0, 3) == 2.5);
  nn::relu<double>{}.forward(-x, y, tensor_shape::vector(4));
  CHECK(y.cwiseAbs().maxCoeff() == 0.0);
}

TEST_CASE("layers: bad sizes and shapes are clear errors") {
  CHECK_THROWS_WITH_AS(nn::conv2d<double>(0, 4, 3, 3), doctest::Contains("conv2d"),
                       misd::invalid_argument);
  CHECK_THROWS_AS(nn::conv2d<double>(1, 4, 3, 3, 0, 1), misd::invalid_argument);
  CHECK_THROWS_AS(nn::conv2d<double>(1, 4, 3, 3, 1, 1, -1, 0), misd::invalid_argument);
  CHECK_THROWS_AS(nn::linear<double>(-3, 4), misd::invalid_argument);
  CHECK_THROWS_AS(nn::maxpool2d<double>(0, 2), misd::invalid_argument);
  CHECK_THROWS_AS(nn::maxpool2d<double>(2, 2, 2, 2, 2, 0), misd::invalid_argument); // pad > k/2
  vector<double> m(2), s(2);
  m << 0, 0;
  s << 1, 0;
  CHECK_THROWS_WITH_AS(nn::normalize<double>(m, s), doctest::Contains("entry 1"),
                       misd::invalid_argument);
  const nn::conv2d<double> c(3, 4, 5, 5);
  CHECK_THROWS_WITH_AS(c.output_shape(tensor_shape::image(2, 8, 8)),
                       doctest::Contains("takes 3 channels"), misd::invalid_argument);
  CHECK_THROWS_WITH_AS(c.output_shape(tensor_shape::image(3, 4, 8)),
                       doctest::Contains("does not fit"), misd::invalid_argument);
  CHECK_THROWS_AS(c.output_shape(tensor_shape::vector(12)), misd::invalid_argument);
  CHECK_THROWS_WITH_AS(nn::linear<double>(10, 2).output_shape(tensor_shape::image(10, 1, 1)),
                       doctest::Contains("flatten"), misd::invalid_argument);
}
