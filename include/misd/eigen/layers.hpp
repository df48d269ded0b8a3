// misd/eigen/layers.hpp -- the layers of sequential models on the Eigen backend (namespace
// misd::eigen::nn, named after their torch.nn counterparts): conv2d, maxpool2d,
// global_avgpool2d, relu, flatten, linear and normalize (per channel, fixed).
//
// A layer maps a batch N x (C·H·W) (row-major, each row one example in NCHW order, the layout
// of PyTorch and NPY) to a batch N x (C'·H'·W'). Each layer offers:
//   tensor_shape output_shape(const tensor_shape& in) const   throws invalid_argument when the
//                                                             input does not fit the layer
//   void forward(const batch& x, batch& y, const tensor_shape& in) const
//   void backward(const batch& x, const batch& y, const batch& dy, batch* dx,
//                 const tensor_shape& in, bool parameter_gradients)
//       dx (when not null) := dL/dx; with parameter_gradients, adds dL/dθ to the stored gradients
//   append_parameters / append_gradients (flat spans, weight then bias), zero_gradients()
// Convolutions go through im2col and Eigen matrix products, one example at a time, with a
// (C·kh·kw) x (Ho·Wo) column buffer. Layers hold no scratch (a model can be used from several
// threads at once for logits and input gradients): conv2d's forward/backward take an optional
// conv_scratch (column buffers and GEMM packing buffers kept between calls by
// misd::eigen::sequential), and its forward can apply a following ReLU while the output of
// one example is still in cache.
#pragma once

#include "misd/detail/eigen_gemm.hpp"
#include "misd/detail/random.hpp"
#include "misd/eigen/ops.hpp"
#include "misd/error.hpp"

#include <Eigen/Core>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <limits>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace misd::detail {

/// x[0] + ... + x[n-1] with the same rounding wherever x lies in memory: element j goes to
/// partial sum j mod 16 (the compiler vectorises these sixteen independent chains, and no
/// alignment enters the order), then the partial sums are added left to right.
template <class S>
S sum_in_order(const S* x, Eigen::Index n) {
  constexpr Eigen::Index lanes = 16;
  std::array<S, lanes> part{};
  Eigen::Index j = 0;
  for (; j + lanes <= n; j += lanes)
    for (Eigen::Index k = 0; k < lanes; ++k)
      part[std::size_t(k)] += x[j + k];
  for (Eigen::Index k = 0; j < n; ++j, ++k)
    part[std::size_t(k)] += x[j];
  S s(0);
  for (const S v : part)
    s += v;
  return s;
}
template <class S>
using row_matrix = Eigen::Matrix<S, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

template <class... Args>
[[noreturn]] void layer_fail(std::string_view type, Args&&... args) {
  throw invalid_argument(message(type, ": ", std::forward<Args>(args)...));
}

template <class S>
void resize_batch(eigen::batch<S>& b, Eigen::Index rows, Eigen::Index cols) {
  if (b.rows() != rows || b.cols() != cols)
    b.resize(rows, cols);
}

/// Uniform in ±bound from splitmix64 (the numbers of batch_ops::uniform_noise).
template <class S>
void fill_uniform(S* p, Eigen::Index n, double bound, std::uint64_t seed) {
  splitmix64 rng{seed};
  for (Eigen::Index j = 0; j < n; ++j) // rounded to S first, as uniform_noise gives it
    p[j] = static_cast<S>(bound * double(static_cast<S>(rng.symmetric())));
}

/// A buffer of at least n scalars (grows only, so steady-state calls allocate nothing).
template <class S>
S* grow_buffer(std::vector<S>& v, Eigen::Index n) {
  if (v.size() < static_cast<std::size_t>(n))
    v.resize(static_cast<std::size_t>(n));
  return v.data();
}

/// Layers without parameters.
template <class S>
struct parameterless_layer {
  void zero_gradients() {}
  void append_parameters(std::vector<std::span<S>>&) {}
  void append_gradients(std::vector<std::span<S>>&) {}
};

/// A weight (rows x cols, row-major) and a bias, with their gradients.
template <class S>
struct affine_layer_parameters {
  eigen::batch<S> weight;
  eigen::vector<S> bias;
  eigen::batch<S> weight_gradient;
  eigen::vector<S> bias_gradient;

  void zero_gradients() {
    weight_gradient.setZero(weight.rows(), weight.cols());
    bias_gradient.setZero(bias.size());
  }
  void append_parameters(std::vector<std::span<S>>& out) {
    out.emplace_back(weight.data(), static_cast<std::size_t>(weight.size()));
    out.emplace_back(bias.data(), static_cast<std::size_t>(bias.size()));
  }
  void append_gradients(std::vector<std::span<S>>& out) {
    if (weight_gradient.rows() != weight.rows() || bias_gradient.size() != bias.size())
      zero_gradients();
    out.emplace_back(weight_gradient.data(), static_cast<std::size_t>(weight_gradient.size()));
    out.emplace_back(bias_gradient.data(), static_cast<std::size_t>(bias_gradient.size()));
  }
};
} // namespace misd::detail

namespace misd::eigen::nn {

/// The shape of one example: C x H x W, or a flat vector of D features (c = D, h = w = 1).
struct tensor_shape {
  Eigen::Index c = 0, h = 1, w = 1;
  bool flat = false;

  static tensor_shape image(Eigen::Index c, Eigen::Index h, Eigen::Index w) {
    return {c, h, w, false};
  }
  static tensor_shape vector(Eigen::Index d) { return {d, 1, 1, true}; }
  Eigen::Index size() const { return c * h * w; }
  std::string text() const {
    // Appended piece by piece: GCC 12 warns (-Wrestrict, a false positive) on "[" + string.
    std::string t = "[";
    t += std::to_string(c);
    if (!flat) {
      t += ", ";
      t += std::to_string(h);
      t += ", ";
      t += std::to_string(w);
    }
    t += "]";
    return t;
  }
  friend bool operator==(const tensor_shape&, const tensor_shape&) = default;
};

/// Buffers of one conv2d layer kept between calls: im2col columns, their gradient, the
/// transposed weight, and packing buffers for the three products. One per layer and thread.
template <class S>
struct conv_scratch {
  std::vector<S> columns, column_gradient, weight_transposed;
  /// 1 where output column p (of P) reads inside its input row for kernel column kj, at
  /// [kj·P, (kj + 1)·P): the "same"-width im2col's masks, made for keep_shape.
  std::vector<S> column_keep;
  std::array<Eigen::Index, 4> keep_shape{}; // width, P, kernel width, padding
  misd::detail::gemm_buffers<S> forward_product, weight_product, input_product;
};

/// 2-D convolution, PyTorch's nn.Conv2d (no dilation, no groups): weight out x in x kh x kw
/// stored as an out x (in·kh·kw) row-major matrix, bias out.
template <class S>
struct conv2d : misd::detail::affine_layer_parameters<S> {
  static constexpr std::string_view type = "conv2d";
  Eigen::Index in_channels = 0, out_channels = 0;
  Eigen::Index kernel_h = 0, kernel_w = 0, stride_h = 1, stride_w = 1, padding_h = 0, padding_w = 0;

  conv2d() = default;
  /// Zero weights; see random() for PyTorch's default initialisation.
  conv2d(Eigen::Index in, Eigen::Index out, Eigen::Index kh, Eigen::Index kw, Eigen::Index sh = 1,
         Eigen::Index sw = 1, Eigen::Index ph = 0, Eigen::Index pw = 0)
      : in_channels(in), out_channels(out), kernel_h(kh), kernel_w(kw), stride_h(sh), stride_w(sw),
        padding_h(ph), padding_w(pw) {
    if (in < 1 || out < 1 || kh < 1 || kw < 1 || sh < 1 || sw < 1 || ph < 0 || pw < 0)
      misd::detail::layer_fail(type, "in ", in, ", out ", out, ", kernel ", kh, "x", kw,
                               ", stride ", sh, "x", sw, ", padding ", ph, "x", pw,
                               ": channels, kernel and stride must be >= 1, padding >= 0");
    this->weight.setZero(out, in * kh * kw);
    this->bias.setZero(out);
    this->zero_gradients();
  }
  /// Square kernel, stride and padding; PyTorch's default initialisation (uniform in
  /// ±1/sqrt(in·k·k) for weight and bias) from `seed`.
  static conv2d random(Eigen::Index in, Eigen::Index out, Eigen::Index k, Eigen::Index stride,
                       Eigen::Index padding, std::uint64_t seed) {
    conv2d c(in, out, k, k, stride, stride, padding, padding);
    const double bound = 1.0 / std::sqrt(double(in * k * k));
    misd::detail::fill_uniform(c.weight.data(), c.weight.size(), bound, seed);
    misd::detail::fill_uniform(c.bias.data(), c.bias.size(), bound, seed + 1);
    return c;
  }

  Eigen::Index patch_size() const { return in_channels * kernel_h * kernel_w; }

  tensor_shape output_shape(const tensor_shape& in) const {
    if (in.flat)
      misd::detail::layer_fail(type, "takes C x H x W images, got a flat vector ", in.text());
    if (in.c != in_channels)
      misd::detail::layer_fail(type, "takes ", in_channels, " channels, got ", in.text());
    if (this->weight.rows() != out_channels || this->weight.cols() != patch_size() ||
        this->bias.size() != out_channels)
      misd::detail::layer_fail(type, "weight is ", this->weight.rows(), " x ", this->weight.cols(),
                               " and bias ", this->bias.size(), ", expected ", out_channels, " x ",
                               patch_size(), " and ", out_channels);
    const Eigen::Index ho = (in.h + 2 * padding_h - kernel_h),
                       wo = (in.w + 2 * padding_w - kernel_w);
    if (ho < 0 || wo < 0)
      misd::detail::layer_fail(type, "kernel ", kernel_h, "x", kernel_w, " with padding ",
                               padding_h, "x", padding_w, " does not fit the input ", in.text());
    return tensor_shape::image(out_channels, ho / stride_h + 1, wo / stride_w + 1);
  }

  void forward(const batch<S>& x, batch<S>& y, const tensor_shape& in) const {
    conv_scratch<S> scratch;
    forward(x, y, in, scratch, false);
  }
  /// y := conv(x), then max(y, 0) when `fused_relu`; `scratch` keeps the buffers.
  void forward(const batch<S>& x, batch<S>& y, const tensor_shape& in, conv_scratch<S>& scratch,
               bool fused_relu) const {
    const tensor_shape out = output_shape(in);
    misd::detail::resize_batch(y, x.rows(), out.size());
    for (Eigen::Index i = 0; i < x.rows(); ++i)
      forward_one(x.data() + i * x.cols(), y.data() + i * y.cols(), in, out, scratch, fused_relu);
  }
  /// One example: image (in) -> y (out, out_channels x Ho·Wo), then max(y, 0) when
  /// `fused_relu`. `out` must be output_shape(in) (sequential checks the chain once).
  void forward_one(const S* image, S* y, const tensor_shape& in, const tensor_shape& out,
                   conv_scratch<S>& scratch, bool fused_relu) const {
    const Eigen::Index P = out.h * out.w, K = patch_size();
    S* cols = direct() ? nullptr : misd::detail::grow_buffer(scratch.columns, K * P);
    for (Eigen::Index o = 0; o < out_channels; ++o)
      std::fill(y + o * P, y + (o + 1) * P, this->bias[o]);
    // y (out x P) += W (out x K) * columns (K x P)
    scratch.forward_product.template multiply_add<false>(out_channels, P, K, this->weight.data(), K,
                                                         columns(image, in, out, cols, scratch), P,
                                                         y, P);
    if (fused_relu)
      for (Eigen::Index k = 0; k < out_channels * P; ++k)
        y[k] = std::max(y[k], S(0)); // as Eigen's cwiseMax (NaN stays NaN)
  }

  void backward(const batch<S>& x, const batch<S>& y, const batch<S>& dy, batch<S>* dx,
                const tensor_shape& in, bool parameter_gradients) {
    conv_scratch<S> scratch;
    backward(x, y, dy, dx, in, parameter_gradients, scratch);
  }
  void backward(const batch<S>& x, const batch<S>&, const batch<S>& dy, batch<S>* dx,
                const tensor_shape& in, bool parameter_gradients, conv_scratch<S>& scratch) {
    const tensor_shape out = output_shape(in);
    prepare_backward(dx != nullptr, parameter_gradients, scratch);
    if (dx)
      misd::detail::resize_batch(*dx, x.rows(), in.size());
    for (Eigen::Index i = 0; i < x.rows(); ++i)
      backward_one(x.data() + i * x.cols(), dy.data() + i * dy.cols(),
                   dx ? dx->data() + i * dx->cols() : nullptr, in, out, parameter_gradients,
                   scratch);
  }
  /// Before backward_one: the transposed weight (for input gradients) and gradient storage.
  void prepare_backward(bool input_gradient, bool parameter_gradients, conv_scratch<S>& scratch) {
    if (parameter_gradients && this->weight_gradient.rows() != out_channels)
      this->zero_gradients();
    if (input_gradient) {
      const Eigen::Index K = patch_size();
      S* wt = misd::detail::grow_buffer(scratch.weight_transposed, K * out_channels);
      Eigen::Map<misd::detail::row_matrix<S>>(wt, K, out_channels) = this->weight.transpose();
    }
  }
  /// One example, after prepare_backward: with parameter_gradients adds dL/dθ for the
  /// upstream dy (out) to the stored gradients; dx (when not null) := dL/dimage.
  void backward_one(const S* image, const S* dy, S* dx, const tensor_shape& in,
                    const tensor_shape& out, bool parameter_gradients, conv_scratch<S>& scratch) {
    using misd::detail::row_matrix;
    const Eigen::Index P = out.h * out.w, K = patch_size();
    if (parameter_gradients) {
      S* cols = direct() ? nullptr : misd::detail::grow_buffer(scratch.columns, K * P);
      // dW (out x K) += dy (out x P) * columnsᵀ (P x K)
      scratch.weight_product.template multiply_add<true>(out_channels, K, P, dy, P,
                                                         columns(image, in, out, cols, scratch), P,
                                                         this->weight_gradient.data(), K);
      // In a fixed order: Eigen's vectorised sum over a mapped row starts its packets at the
      // row's address, so its rounding (and a trained model) would depend on where the heap
      // put the buffer.
      for (Eigen::Index o = 0; o < out_channels; ++o)
        this->bias_gradient[o] += misd::detail::sum_in_order(dy + o * P, P);
    }
    if (dx) {
      // dcolumns (K x P) = Wᵀ (K x out) * dy (out x P), then back onto the pixels
      S* target = direct() ? dx : misd::detail::grow_buffer(scratch.column_gradient, K * P);
      std::fill(target, target + K * P, S(0));
      scratch.input_product.template multiply_add<false>(
          K, P, out_channels, scratch.weight_transposed.data(), out_channels, dy, P, target, P);
      if (!direct()) {
        std::fill(dx, dx + in.size(), S(0));
        scatter_columns(target, in, out, dx, scratch);
      }
    }
  }

private:
  /// A 1x1 kernel with stride 1 and no padding reads the image itself as its columns.
  bool direct() const {
    return kernel_h == 1 && kernel_w == 1 && stride_h == 1 && stride_w == 1 && padding_h == 0 &&
           padding_w == 0;
  }

  /// The (C·kh·kw) x (Ho·Wo) patch matrix of one image (im2col) written to cols, or the
  /// image itself.
  const S* columns(const S* image, const tensor_shape& in, const tensor_shape& out, S* cols,
                   conv_scratch<S>& scratch) const {
    const Eigen::Index P = out.h * out.w;
    if (direct())
      return image;
    if (same_width(in, out)) {
      same_width_rows(in, out, scratch,
                      [&](Eigen::Index row, Eigen::Index c, Eigen::Index shift, Eigen::Index lo,
                          Eigen::Index hi, const S* keep) {
                        S* __restrict d = cols + row * P;
                        const S* __restrict plane = image + c * in.h * in.w;
                        std::fill(d, d + lo, S(0));
                        // The load is unconditional: a conditional one vectorised into masked
                        // loads with a stack round trip.
                        for (Eigen::Index p = lo; p < hi; ++p) {
                          const S v = plane[p + shift];
                          d[p] = keep[p] != S(0) ? v : S(0);
                        }
                        std::fill(d + hi, d + P, S(0));
                      });
      return cols;
    }
    walk(in, out,
         [&](Eigen::Index row, Eigen::Index oh, Eigen::Index ow_lo, Eigen::Index ow_hi,
             Eigen::Index offset) {
           S* d = cols + row * P + oh * out.w;
           std::fill(d, d + ow_lo, S(0));
           if (stride_w == 1)
             std::copy(image + (offset + ow_lo), image + (offset + ow_hi), d + ow_lo);
           else
             for (Eigen::Index ow = ow_lo; ow < ow_hi; ++ow)
               d[ow] = image[offset + ow * stride_w];
           std::fill(d + ow_hi, d + out.w, S(0));
         });
    return cols;
  }

  /// Stride 1 and the input's width: im2col by shifted planes.
  bool same_width(const tensor_shape& in, const tensor_shape& out) const {
    return stride_h == 1 && stride_w == 1 && out.w == in.w;
  }
  /// For every patch row (c, ki, kj) of a same-width convolution: f(row, c, shift, lo, hi,
  /// keep). Output p (of Ho·Wo) reads plane c at p + shift, shift = (ki - ph)·W + (kj - pw),
  /// where that lies in the plane, p in [lo, hi), and keep[p] != 0 (the input column
  /// p % W + kj - pw is inside its row). Output rows whose input row is padding need no
  /// test of their own: their p + shift leaves the plane unless the column wraps, and then
  /// keep is 0. One long vectorised loop per patch row instead of a short one per image row
  /// (whose fills cost thousands of tiny memset calls per image).
  template <class F>
  void same_width_rows(const tensor_shape& in, const tensor_shape& out, conv_scratch<S>& scratch,
                       F&& f) const {
    const Eigen::Index W = in.w, HW = in.h * in.w, P = out.h * out.w;
    const S* keep = column_keep(W, P, scratch);
    for (Eigen::Index c = 0; c < in_channels; ++c)
      for (Eigen::Index ki = 0; ki < kernel_h; ++ki)
        for (Eigen::Index kj = 0; kj < kernel_w; ++kj) {
          const Eigen::Index shift = (ki - padding_h) * W + (kj - padding_w);
          const Eigen::Index lo = std::clamp<Eigen::Index>(-shift, 0, P),
                             hi = std::clamp<Eigen::Index>(HW - shift, lo, P);
          f((c * kernel_h + ki) * kernel_w + kj, c, shift, lo, hi, keep + kj * P);
        }
  }
  /// The masks of the "same"-width im2col (conv_scratch::column_keep), made when the shape
  /// changes.
  const S* column_keep(Eigen::Index W, Eigen::Index P, conv_scratch<S>& scratch) const {
    const std::array<Eigen::Index, 4> shape{W, P, kernel_w, padding_w};
    if (scratch.keep_shape != shape || scratch.column_keep.size() != std::size_t(kernel_w * P)) {
      scratch.column_keep.assign(static_cast<std::size_t>(kernel_w * P), S(0));
      for (Eigen::Index kj = 0; kj < kernel_w; ++kj)
        for (Eigen::Index p = 0; p < P; ++p) {
          const Eigen::Index iw = p % W + kj - padding_w;
          scratch.column_keep[static_cast<std::size_t>(kj * P + p)] = iw >= 0 && iw < W;
        }
      scratch.keep_shape = shape;
    }
    return scratch.column_keep.data();
  }

  /// The adjoint of columns(): adds each patch entry back to its pixel (col2im).
  void scatter_columns(const S* dcols, const tensor_shape& in, const tensor_shape& out, S* image,
                       conv_scratch<S>& scratch) const {
    const Eigen::Index P = out.h * out.w;
    if (same_width(in, out)) { // the adjoint of columns()' pass
      same_width_rows(in, out, scratch,
                      [&](Eigen::Index row, Eigen::Index c, Eigen::Index shift, Eigen::Index lo,
                          Eigen::Index hi, const S* keep) {
                        const S* __restrict d = dcols + row * P;
                        S* __restrict plane = image + c * in.h * in.w;
                        for (Eigen::Index p = lo; p < hi; ++p) {
                          const S v = d[p];
                          plane[p + shift] += keep[p] != S(0) ? v : S(0);
                        }
                      });
      return;
    }
    walk(in, out,
         [&](Eigen::Index row, Eigen::Index oh, Eigen::Index ow_lo, Eigen::Index ow_hi,
             Eigen::Index offset) {
           const S* d = dcols + row * P + oh * out.w;
           if (stride_w == 1)
             for (Eigen::Index ow = ow_lo; ow < ow_hi; ++ow)
               image[offset + ow] += d[ow];
           else
             for (Eigen::Index ow = ow_lo; ow < ow_hi; ++ow)
               image[offset + ow * stride_w] += d[ow];
         });
  }

  /// Calls f(row, oh, ow_lo, ow_hi, offset) for every patch row (c, ki, kj) and output row
  /// oh: output columns [ow_lo, ow_hi) read input pixel offset + ow·stride_w; the others
  /// fall into the padding (ow_lo = ow_hi = Wo when the whole input row is padding).
  template <class F>
  void walk(const tensor_shape& in, const tensor_shape& out, F&& f) const {
    for (Eigen::Index c = 0; c < in_channels; ++c)
      for (Eigen::Index ki = 0; ki < kernel_h; ++ki)
        for (Eigen::Index kj = 0; kj < kernel_w; ++kj) {
          const Eigen::Index row = (c * kernel_h + ki) * kernel_w + kj;
          // iw = ow·sw − pw + kj must lie in [0, W).
          const Eigen::Index shift = kj - padding_w;
          const Eigen::Index lo =
              shift >= 0 ? 0 : std::min(out.w, (-shift + stride_w - 1) / stride_w);
          const Eigen::Index hi =
              in.w - 1 - shift < 0
                  ? lo
                  : std::max(lo, std::min(out.w, (in.w - 1 - shift) / stride_w + 1));
          for (Eigen::Index oh = 0; oh < out.h; ++oh) {
            const Eigen::Index ih = oh * stride_h - padding_h + ki;
            if (ih < 0 || ih >= in.h)
              f(row, oh, out.w, out.w, Eigen::Index(0));
            else
              f(row, oh, lo, hi, (c * in.h + ih) * in.w + shift);
          }
        }
  }
};

/// Max pooling, PyTorch's nn.MaxPool2d (padding counts as -inf, floor mode). The gradient
/// goes to the first maximum of each window in row-major order, as in PyTorch's CPU kernel.
/// backward() reads the maxima from its output y.
template <class S>
struct maxpool2d : misd::detail::parameterless_layer<S> {
  static constexpr std::string_view type = "maxpool2d";
  Eigen::Index kernel_h = 0, kernel_w = 0, stride_h = 0, stride_w = 0, padding_h = 0, padding_w = 0;

  maxpool2d() = default;
  /// stride 0 means stride = kernel (PyTorch's default).
  maxpool2d(Eigen::Index kh, Eigen::Index kw, Eigen::Index sh = 0, Eigen::Index sw = 0,
            Eigen::Index ph = 0, Eigen::Index pw = 0)
      : kernel_h(kh), kernel_w(kw), stride_h(sh ? sh : kh), stride_w(sw ? sw : kw), padding_h(ph),
        padding_w(pw) {
    if (kh < 1 || kw < 1 || stride_h < 1 || stride_w < 1 || ph < 0 || pw < 0 || 2 * ph > kh ||
        2 * pw > kw)
      misd::detail::layer_fail(type, "kernel ", kh, "x", kw, ", stride ", stride_h, "x", stride_w,
                               ", padding ", ph, "x", pw,
                               ": kernel and stride must be >= 1, padding in [0, kernel/2]");
  }

  tensor_shape output_shape(const tensor_shape& in) const {
    if (in.flat)
      misd::detail::layer_fail(type, "takes C x H x W images, got a flat vector ", in.text());
    const Eigen::Index ho = in.h + 2 * padding_h - kernel_h, wo = in.w + 2 * padding_w - kernel_w;
    if (ho < 0 || wo < 0)
      misd::detail::layer_fail(type, "kernel ", kernel_h, "x", kernel_w, " does not fit the input ",
                               in.text());
    return tensor_shape::image(in.c, ho / stride_h + 1, wo / stride_w + 1);
  }

  void forward(const batch<S>& x, batch<S>& y, const tensor_shape& in) const {
    const tensor_shape out = output_shape(in);
    misd::detail::resize_batch(y, x.rows(), out.size());
    for (Eigen::Index i = 0; i < x.rows(); ++i)
      forward_one(x.data() + i * x.cols(), y.data() + i * y.cols(), nullptr, in, out);
  }

  /// One example: x (in) -> y (out, = output_shape(in)). With `argmax`, also writes for
  /// each output the index into x of the entry it took: the first maximum of its window in
  /// row-major order (a NaN wins, as in PyTorch), the entry backward() sends the gradient to.
  void forward_one(const S* x, S* y, Eigen::Index* argmax, const tensor_shape& in,
                   const tensor_shape& out) const {
    // Running maximum: replace when strictly greater or NaN (so the first maximum stays).
    const auto take = [](S v, S m) { return (v > m) | (v != v); };
    if (kernel_h == 2 && kernel_w == 2 && stride_h == 2 && stride_w == 2 && padding_h == 0 &&
        padding_w == 0 && in.w % 2 == 0 && in.w <= chunk) {
      // The common case, vectorised: the larger of each vertical pair over whole rows, then
      // of neighbouring columns over a block of rows at once (rows alone are too short).
      // Positions (lower row?, window code 0..3) are kept as S, the data's own width, so
      // that the compiler vectorises both passes with one vector per 16 floats; `logits`
      // (argmax == nullptr) skips them.
      S column_max[chunk + lanes], lower[chunk + lanes], code[chunk / 2];
      const Eigen::Index group = chunk / in.w;
      for (Eigen::Index c = 0; c < in.c; ++c)
        for (Eigen::Index oh0 = 0; oh0 < out.h; oh0 += group) {
          const Eigen::Index rows = std::min(group, out.h - oh0);
          const Eigen::Index x0 = (c * in.h + 2 * oh0) * in.w, y0 = (c * out.h + oh0) * out.w;
          for (Eigen::Index r = 0; r < rows; ++r) {
            // Whole vectors (reading on into the next rows) where the input extends that far:
            // the extra maxima land where the next row's are written, or in the spare tail.
            const Eigen::Index top = x0 + 2 * r * in.w;
            const Eigen::Index whole = (in.w + lanes - 1) / lanes * lanes;
            const Eigen::Index count = top + in.w + whole <= in.size() ? whole : in.w;
            if (argmax)
              vertical_max<true>(x + top, in.w, count, column_max + r * in.w, lower + r * in.w);
            else
              vertical_max<false>(x + top, in.w, count, column_max + r * in.w, nullptr);
          }
          if (!argmax) {
            horizontal_max<false>(column_max, nullptr, y + y0, nullptr, rows * out.w);
            continue;
          }
          horizontal_max<true>(column_max, lower, y + y0, code, rows * out.w);
          for (Eigen::Index r = 0; r < rows; ++r)
            for (Eigen::Index ow = 0; ow < out.w; ++ow) {
              const auto at = static_cast<Eigen::Index>(code[r * out.w + ow]);
              argmax[y0 + r * out.w + ow] =
                  x0 + 2 * r * in.w + 2 * ow + (at >> 1) * in.w + (at & 1);
            }
        }
      return;
    }
    for (Eigen::Index c = 0; c < in.c; ++c)
      for (Eigen::Index oh = 0; oh < out.h; ++oh) {
        const Eigen::Index h0 = std::max<Eigen::Index>(oh * stride_h - padding_h, 0),
                           h1 = std::min(oh * stride_h - padding_h + kernel_h, in.h);
        for (Eigen::Index ow = 0; ow < out.w; ++ow) {
          const Eigen::Index w0 = std::max<Eigen::Index>(ow * stride_w - padding_w, 0),
                             w1 = std::min(ow * stride_w - padding_w + kernel_w, in.w);
          // padding counts as -inf; 2·padding <= kernel, so a window always has an entry
          S m = -std::numeric_limits<S>::infinity();
          Eigen::Index at = (c * in.h + h0) * in.w + w0;
          for (Eigen::Index h = h0; h < h1; ++h)
            for (Eigen::Index w = w0; w < w1; ++w) {
              const Eigen::Index k = (c * in.h + h) * in.w + w;
              const bool t = take(x[k], m);
              m = t ? x[k] : m;
              at = t ? k : at;
            }
          const Eigen::Index yo = (c * out.h + oh) * out.w + ow;
          y[yo] = m;
          if (argmax)
            argmax[yo] = at;
        }
      }
  }

  /// The gradient goes to the first entry of each window (row-major) equal to its maximum y.
  void backward(const batch<S>& x, const batch<S>& y, const batch<S>& dy, batch<S>* dx,
                const tensor_shape& in, bool) {
    if (!dx)
      return;
    const tensor_shape out = output_shape(in);
    dx->setZero(x.rows(), in.size());
    if (padding_h == 0 && padding_w == 0 && stride_h >= kernel_h && stride_w >= kernel_w) {
      // Windows do not overlap: scan each window for its first maximum.
      for (Eigen::Index i = 0; i < x.rows(); ++i)
        for (Eigen::Index c = 0; c < in.c; ++c) {
          const Eigen::Index xo = i * x.cols() + c * in.h * in.w,
                             yo = i * y.cols() + c * out.h * out.w;
          const S* xc = x.data() + xo;
          S* dc = dx->data() + xo;
          for (Eigen::Index oh = 0; oh < out.h; ++oh)
            for (Eigen::Index ow = 0; ow < out.w; ++ow) {
              const S m = y.data()[yo + oh * out.w + ow];
              const Eigen::Index base = oh * stride_h * in.w + ow * stride_w;
              // The first window entry (row-major) equal to the maximum, without branches.
              Eigen::Index at = base;
              bool hit = false;
              for (Eigen::Index ki = kernel_h; ki-- > 0;)
                for (Eigen::Index kj = kernel_w; kj-- > 0;) {
                  const Eigen::Index k = base + ki * in.w + kj;
                  const bool eq = xc[k] == m;
                  at = eq ? k : at;
                  hit |= eq;
                }
              dc[at] += hit ? dy.data()[yo + oh * out.w + ow] : S(0);
            }
        }
      return;
    }
    std::vector<unsigned char> found(static_cast<std::size_t>(out.w));
    visit_rows(
        x.rows(), in, out,
        [&](Eigen::Index i, Eigen::Index c, Eigen::Index oh, Eigen::Index h) {
          const Eigen::Index yo = i * y.cols() + (c * out.h + oh) * out.w;
          const S* yr = y.data() + yo;
          const S* gr = dy.data() + yo;
          const Eigen::Index xo = i * x.cols() + (c * in.h + h) * in.w;
          const S* xr = x.data() + xo;
          S* dr = dx->data() + xo;
          for (Eigen::Index kj = 0; kj < kernel_w; ++kj) {
            const auto [lo, hi, shift] = columns(in, out, kj);
            for (Eigen::Index ow = lo; ow < hi; ++ow) {
              const Eigen::Index k = ow * stride_w + shift;
              const bool hit = !found[std::size_t(ow)] && xr[k] == yr[ow];
              dr[k] += hit ? gr[ow] : S(0);
              found[std::size_t(ow)] |= hit;
            }
          }
        },
        [&](Eigen::Index, Eigen::Index, Eigen::Index) {
          std::fill(found.begin(), found.end(), 0);
        });
  }

private:
  static constexpr Eigen::Index chunk = 1024; ///< input entries per block of the 2x2 path
  static constexpr Eigen::Index lanes = 16;   ///< row lengths round up to this many entries
  /// m[k] := the first maximum of top[k], top[width + k] (a NaN winning) and, with
  /// Positions, low[k] := 1 where it is the lower one, for k < count. One plain loop: GCC
  /// vectorises it 16 floats at a time (blocks of 16 nested in an outer loop made it
  /// vectorise the outer loop four blocks at a time, which rows of 28 never reach, and run
  /// scalar code: 17% of the forward pass).
  template <bool Positions>
  static void vertical_max(const S* __restrict top, Eigen::Index width, Eigen::Index count,
                           S* __restrict m, S* __restrict low) {
    for (Eigen::Index k = 0; k < count; ++k) {
      const S a = top[k], b = top[width + k];
      const bool t = (b > a) | (b != b);
      m[k] = t ? b : a;
      if constexpr (Positions)
        low[k] = t ? S(1) : S(0);
    }
  }
  /// y[k] := the window maximum from the column maxima m[2k] (left) and m[2k + 1] (right);
  /// with Positions, code[k] := its position 0..3 in row-major order, and on a tie the
  /// row-major first wins: the right one only when it lies in the upper row and the left one
  /// in the lower (without positions a tie's value is the same either way).
  template <bool Positions>
  static void horizontal_max(const S* __restrict m, const S* __restrict low, S* __restrict y,
                             S* __restrict code, Eigen::Index n) {
    for (Eigen::Index k = 0; k < n; ++k) {
      const S l = m[2 * k], r = m[2 * k + 1];
      if constexpr (Positions) {
        const S ll = low[2 * k], lr = low[2 * k + 1];
        const bool t = (r > l) | ((r == l) & (lr < ll)) | (r != r);
        y[k] = t ? r : l;
        code[k] = t ? 2 * lr + 1 : 2 * ll;
      } else {
        const bool t = (r > l) | (r != r);
        y[k] = t ? r : l;
      }
    }
  }

  struct column_range {
    Eigen::Index lo, hi, shift;
  };
  /// Output columns [lo, hi) whose window column kj is inside the input: iw = ow·sw + shift.
  column_range columns(const tensor_shape& in, const tensor_shape& out, Eigen::Index kj) const {
    const Eigen::Index shift = kj - padding_w;
    const Eigen::Index lo = shift >= 0 ? 0 : std::min(out.w, (-shift + stride_w - 1) / stride_w);
    const Eigen::Index hi = in.w - 1 - shift < 0
                                ? lo
                                : std::max(lo, std::min(out.w, (in.w - 1 - shift) / stride_w + 1));
    return {lo, hi, shift};
  }

  /// For every example i, channel c and output row oh: start(i, c, oh), then row(i, c, oh, h)
  /// for each input row h of the window (in order) that is inside the input.
  template <class Row, class Start>
  void visit_rows(Eigen::Index n, const tensor_shape& in, const tensor_shape& out, Row&& row,
                  Start&& start) const {
    for (Eigen::Index i = 0; i < n; ++i)
      for (Eigen::Index c = 0; c < in.c; ++c)
        for (Eigen::Index oh = 0; oh < out.h; ++oh) {
          start(i, c, oh);
          const Eigen::Index h0 = std::max<Eigen::Index>(oh * stride_h - padding_h, 0),
                             h1 = std::min(oh * stride_h - padding_h + kernel_h, in.h);
          for (Eigen::Index h = h0; h < h1; ++h)
            row(i, c, oh, h);
        }
  }
};

/// Global average pooling, PyTorch's nn.AdaptiveAvgPool2d(1): C x H x W -> C x 1 x 1.
template <class S>
struct global_avgpool2d : misd::detail::parameterless_layer<S> {
  static constexpr std::string_view type = "global_avgpool2d";

  tensor_shape output_shape(const tensor_shape& in) const {
    if (in.flat)
      misd::detail::layer_fail(type, "takes C x H x W images, got a flat vector ", in.text());
    return tensor_shape::image(in.c, 1, 1);
  }
  void forward(const batch<S>& x, batch<S>& y, const tensor_shape& in) const {
    misd::detail::resize_batch(y, x.rows(), in.c);
    const Eigen::Index hw = in.h * in.w;
    for (Eigen::Index i = 0; i < x.rows(); ++i) // in a fixed order, as conv2d's bias gradient
      for (Eigen::Index c = 0; c < in.c; ++c)
        y(i, c) = misd::detail::sum_in_order(x.data() + i * x.cols() + c * hw, hw) / S(hw);
  }
  void backward(const batch<S>& x, const batch<S>&, const batch<S>& dy, batch<S>* dx,
                const tensor_shape& in, bool) {
    if (!dx)
      return;
    const Eigen::Index hw = in.h * in.w;
    misd::detail::resize_batch(*dx, x.rows(), in.size());
    for (Eigen::Index i = 0; i < x.rows(); ++i)
      Eigen::Map<misd::detail::row_matrix<S>>(dx->data() + i * dx->cols(), in.c, hw).colwise() =
          dy.row(i).transpose() / S(hw);
  }
};

/// max(x, 0), element-wise.
template <class S>
struct relu : misd::detail::parameterless_layer<S> {
  static constexpr std::string_view type = "relu";
  tensor_shape output_shape(const tensor_shape& in) const { return in; }
  void forward(const batch<S>& x, batch<S>& y, const tensor_shape&) const { y = x.cwiseMax(S(0)); }
  void backward(const batch<S>&, const batch<S>& y, const batch<S>& dy, batch<S>* dx,
                const tensor_shape&, bool) {
    if (dx) // ReLU'(p) = [p > 0] = [output > 0]
      *dx = (y.array() > S(0)).select(dy, S(0));
  }
};

/// C x H x W -> a flat vector of C·H·W features (the data is already in that order).
template <class S>
struct flatten : misd::detail::parameterless_layer<S> {
  static constexpr std::string_view type = "flatten";
  tensor_shape output_shape(const tensor_shape& in) const {
    return tensor_shape::vector(in.size());
  }
  void forward(const batch<S>& x, batch<S>& y, const tensor_shape&) const { y = x; }
  void backward(const batch<S>&, const batch<S>&, const batch<S>& dy, batch<S>* dx,
                const tensor_shape&, bool) {
    if (dx)
      *dx = dy;
  }
};

/// Affine map, PyTorch's nn.Linear: weight out x in, bias out. Takes flat vectors.
template <class S>
struct linear : misd::detail::affine_layer_parameters<S> {
  static constexpr std::string_view type = "linear";

  linear() = default;
  /// Zero weights; see random() for PyTorch's default initialisation.
  linear(Eigen::Index in, Eigen::Index out) {
    if (in < 1 || out < 1)
      misd::detail::layer_fail(type, "in ", in, ", out ", out, ": sizes must be >= 1");
    this->weight.setZero(out, in);
    this->bias.setZero(out);
    this->zero_gradients();
  }
  linear(batch<S> weight, vector<S> bias) {
    if (weight.rows() < 1 || weight.cols() < 1 || bias.size() != weight.rows())
      misd::detail::layer_fail(type, "weight ", weight.rows(), " x ", weight.cols(),
                               " and bias of ", bias.size(),
                               " (expected out x in and out, sizes >= 1)");
    this->weight = std::move(weight);
    this->bias = std::move(bias);
    this->zero_gradients();
  }
  /// Uniform in ±1/sqrt(in) for weight and bias, from `seed`.
  static linear random(Eigen::Index in, Eigen::Index out, std::uint64_t seed) {
    linear l(in, out);
    const double bound = 1.0 / std::sqrt(double(in));
    misd::detail::fill_uniform(l.weight.data(), l.weight.size(), bound, seed);
    misd::detail::fill_uniform(l.bias.data(), l.bias.size(), bound, seed + 1);
    return l;
  }

  Eigen::Index in_features() const { return this->weight.cols(); }
  Eigen::Index out_features() const { return this->weight.rows(); }

  tensor_shape output_shape(const tensor_shape& in) const {
    if (!in.flat)
      misd::detail::layer_fail(type, "takes flat vectors, got ", in.text(),
                               " (put a flatten layer before it)");
    if (in.c != in_features())
      misd::detail::layer_fail(type, "takes ", in_features(), " features, got ", in.c);
    if (this->bias.size() != out_features())
      misd::detail::layer_fail(type, "bias has ", this->bias.size(), " entries, weight ",
                               out_features(), " rows");
    return tensor_shape::vector(out_features());
  }
  void forward(const batch<S>& x, batch<S>& y, const tensor_shape&) const {
    misd::detail::resize_batch(y, x.rows(), out_features());
    y.noalias() = x * this->weight.transpose();
    y.rowwise() += this->bias.transpose();
  }
  void backward(const batch<S>& x, const batch<S>&, const batch<S>& dy, batch<S>* dx,
                const tensor_shape&, bool parameter_gradients) {
    if (parameter_gradients) {
      if (this->weight_gradient.rows() != out_features())
        this->zero_gradients();
      this->weight_gradient.noalias() += dy.transpose() * x;
      this->bias_gradient += dy.colwise().sum().transpose();
    }
    if (dx) {
      misd::detail::resize_batch(*dx, x.rows(), in_features());
      dx->noalias() = dy * this->weight;
    }
  }
};

/// (x - mean_c) / std_c per channel (per feature for flat vectors): input normalisation
/// inside the model, so that radii are measured in the user's input space. Not trained.
template <class S>
struct normalize : misd::detail::parameterless_layer<S> {
  static constexpr std::string_view type = "normalize";
  vector<S> mean, std;

  normalize() = default;
  normalize(vector<S> m, vector<S> s) : mean(std::move(m)), std(std::move(s)) {
    if (mean.size() < 1 || mean.size() != std.size())
      misd::detail::layer_fail(type, "mean has ", mean.size(), " entries and std ", std.size(),
                               " (expected the same number >= 1)");
    for (Eigen::Index j = 0; j < mean.size(); ++j)
      if (!(std[j] > 0) || !std::isfinite(std[j]) || !std::isfinite(mean[j]))
        misd::detail::layer_fail(type, "entry ", j, " (mean ", mean[j], ", std ", std[j],
                                 ") is not finite with std > 0");
  }

  tensor_shape output_shape(const tensor_shape& in) const {
    if (mean.size() != in.c)
      misd::detail::layer_fail(type, "has ", mean.size(), " means for ", in.c,
                               in.flat ? " features " : " channels ", "(input ", in.text(), ")");
    return in;
  }
  void forward(const batch<S>& x, batch<S>& y, const tensor_shape& in) const {
    misd::detail::resize_batch(y, x.rows(), x.cols());
    const Eigen::Index hw = in.h * in.w;
    for (Eigen::Index i = 0; i < x.rows(); ++i)
      for (Eigen::Index c = 0; c < in.c; ++c) {
        const S m = mean[c], s = std[c];
        const S* xi = x.data() + i * x.cols() + c * hw;
        S* yi = y.data() + i * y.cols() + c * hw;
        for (Eigen::Index k = 0; k < hw; ++k)
          yi[k] = (xi[k] - m) / s;
      }
  }
  void backward(const batch<S>& x, const batch<S>&, const batch<S>& dy, batch<S>* dx,
                const tensor_shape& in, bool) {
    if (!dx)
      return;
    misd::detail::resize_batch(*dx, x.rows(), x.cols());
    const Eigen::Index hw = in.h * in.w;
    for (Eigen::Index i = 0; i < x.rows(); ++i)
      for (Eigen::Index c = 0; c < in.c; ++c) {
        const S s = std[c];
        const S* d = dy.data() + i * dy.cols() + c * hw;
        S* o = dx->data() + i * dx->cols() + c * hw;
        for (Eigen::Index k = 0; k < hw; ++k)
          o[k] = d[k] / s;
      }
  }
};

} // namespace misd::eigen::nn
