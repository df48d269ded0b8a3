// misd/eigen/sequential.hpp -- a chain of layers (misd/eigen/layers.hpp) on the Eigen
// backend: convolutional networks and MLPs alike. Classifier, Differentiable and Trainable,
// so every attack, estimator, score and training objective works on it unchanged.
//
//   using namespace misd::eigen;
//   sequential<float> m(nn::tensor_shape::image(1, 28, 28),
//                       {nn::conv2d<float>::random(1, 16, 3, 1, 1, seed), nn::relu<float>{},
//                        nn::maxpool2d<float>(2, 2), nn::flatten<float>{},
//                        nn::linear<float>::random(16 * 14 * 14, 10, seed + 2)});
//
// Inputs are N x (C·H·W) batches in NCHW order. logits, input_gradient and
// accumulate_gradients work through large batches in chunks of rows (bounded memory);
// forward_backward takes the batch whole. logits and input_gradient are const and keep
// their buffers per call, so one model may serve several threads at once; the gradient
// members modify the stored parameter gradients.
#pragma once

#include "misd/eigen/layers.hpp"
#include "misd/eigen/mlp.hpp"
#include "misd/eigen/ops.hpp"
#include "misd/error.hpp"

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

namespace misd::eigen {

namespace nn {
/// Any layer of a sequential model.
template <class S>
using layer = std::variant<conv2d<S>, maxpool2d<S>, global_avgpool2d<S>, relu<S>, flatten<S>,
                           linear<S>, normalize<S>>;

template <class S>
std::string_view type_of(const layer<S>& l) {
  return std::visit([](const auto& v) { return std::decay_t<decltype(v)>::type; }, l);
}
} // namespace nn

template <class Scalar = float>
class sequential {
public:
  using scalar_type = Scalar;
  using batch_type = batch<Scalar>;
  using layer_type = nn::layer<Scalar>;

  /// Throws misd::invalid_argument naming the layer (index and type) whose input does not
  /// fit, when the last layer does not give a flat vector, or when there is no layer.
  sequential(nn::tensor_shape input, std::vector<layer_type> layers) : layers_(std::move(layers)) {
    if (input.c < 1 || input.h < 1 || input.w < 1)
      throw invalid_argument(
          detail::message("sequential: input shape ", input.text(), " has a size < 1"));
    if (layers_.empty())
      throw invalid_argument(detail::message("sequential: a model needs at least one layer"));
    shapes_.push_back(input);
    for (std::size_t j = 0; j < layers_.size(); ++j) {
      try {
        shapes_.push_back(
            std::visit([&](const auto& l) { return l.output_shape(shapes_.back()); }, layers_[j]));
      } catch (const invalid_argument& e) {
        throw invalid_argument(detail::message("sequential: layer ", j, " (",
                                               nn::type_of(layers_[j]), ") after ",
                                               describe_input(j), ": ", strip(e.what())));
      }
    }
    if (!shapes_.back().flat)
      throw invalid_argument(detail::message("sequential: the last layer (", layers_.size() - 1,
                                             ", ", nn::type_of(layers_.back()), ") gives ",
                                             shapes_.back().text(),
                                             ", expected a flat vector of logits (add flatten "
                                             "and linear layers)"));
    zero_gradients();
  }

  batch_type logits(const batch_type& x) const {
    check_input(x);
    batch_type z(x.rows(), static_cast<Eigen::Index>(classes()));
    std::vector<batch_type> acts;
    batch_type xt;
    for_chunks(x.rows(), [&](Eigen::Index first, Eigen::Index n) {
      forward(chunk(x, first, n, xt), acts);
      z.middleRows(first, n) = acts.back();
    });
    return z;
  }

  /// dL/dX for the upstream gradient G = dL/dZ (N x K).
  batch_type input_gradient(const batch_type& x, const batch_type& g) const {
    check_input(x);
    check_upstream(x, g);
    batch_type dx(x.rows(), x.cols());
    std::vector<batch_type> acts;
    batch_type xt, gt;
    // backward() without parameter gradients touches no member: the const_cast is safe.
    auto& self = const_cast<sequential&>(*this);
    for_chunks(x.rows(), [&](Eigen::Index first, Eigen::Index n) {
      const batch_type& xc = chunk(x, first, n, xt);
      forward(xc, acts);
      dx.middleRows(first, n) = self.backward(xc, acts, chunk(g, first, n, gt), false, true);
    });
    return dx;
  }

  /// Adds dL/dθ for G = dL/dZ to the stored parameter gradients; returns dL/dX.
  batch_type accumulate_gradients(const batch_type& x, const batch_type& g) {
    check_input(x);
    check_upstream(x, g);
    batch_type dx(x.rows(), x.cols());
    std::vector<batch_type> acts;
    batch_type xt, gt;
    for_chunks(x.rows(), [&](Eigen::Index first, Eigen::Index n) {
      const batch_type& xc = chunk(x, first, n, xt);
      forward(xc, acts);
      dx.middleRows(first, n) = backward(xc, acts, chunk(g, first, n, gt), true, true);
    });
    return dx;
  }

  /// Training with one forward pass: z = f(x), G = upstream(z), adds dL/dθ for G to the
  /// stored gradients and returns dL/dX (an empty batch when `input_gradient` is false, which
  /// also skips the first layers' input products).
  template <class F>
  requires std::is_invocable_r_v<batch_type, F&, const batch_type&>
      batch_type forward_backward(const batch_type& x, F&& upstream, bool input_gradient = true) {
    check_input(x);
    std::vector<batch_type> acts;
    forward(x, acts);
    const batch_type g = upstream(static_cast<const batch_type&>(acts.back()));
    check_upstream(x, g);
    return backward(x, acts, g, true, input_gradient);
  }

  void zero_gradients() {
    for (auto& l : layers_)
      std::visit([](auto& v) { v.zero_gradients(); }, l);
  }

  /// Parameters and their gradients as flat spans, in the same order: weight then bias of
  /// each layer that has them, first layer first (for an MLP: W0, b0, W1, b1, ...).
  std::vector<std::span<Scalar>> parameters() {
    std::vector<std::span<Scalar>> out;
    for (auto& l : layers_)
      std::visit([&](auto& v) { v.append_parameters(out); }, l);
    return out;
  }
  std::vector<std::span<Scalar>> gradients() {
    std::vector<std::span<Scalar>> out;
    for (auto& l : layers_)
      std::visit([&](auto& v) { v.append_gradients(out); }, l);
    return out;
  }

  const std::vector<layer_type>& layers() const { return layers_; }
  /// shapes()[0] is the input shape, shapes()[j + 1] the output of layer j.
  const std::vector<nn::tensor_shape>& shapes() const { return shapes_; }
  const nn::tensor_shape& input_shape() const { return shapes_.front(); }
  std::size_t input_size() const { return static_cast<std::size_t>(shapes_.front().size()); }
  std::size_t classes() const { return static_cast<std::size_t>(shapes_.back().size()); }

  /// Rows per chunk in logits / input_gradient / accumulate_gradients.
  static constexpr Eigen::Index chunk_rows = 256;

private:
  std::string describe_input(std::size_t j) const {
    return j == 0 ? "the input " + shapes_[0].text() : "an output " + shapes_[j].text();
  }
  static std::string strip(const std::string& m) {
    return m.rfind("misd: ", 0) == 0 ? m.substr(6) : m;
  }

  void check_input(const batch_type& x) const {
    if (x.cols() != shapes_.front().size())
      throw invalid_argument(detail::message(
          "sequential: batch has ", x.cols(), " numbers per example, the model takes ",
          shapes_.front().size(), " (", shapes_.front().text(), ")"));
  }
  void check_upstream(const batch_type& x, const batch_type& g) const {
    if (g.rows() != x.rows() || g.cols() != static_cast<Eigen::Index>(classes()))
      throw invalid_argument(detail::message("sequential: upstream gradient is ", g.rows(), " x ",
                                             g.cols(), ", expected ", x.rows(), " x ", classes()));
  }

  template <class F>
  static void for_chunks(Eigen::Index rows, F&& f) {
    for (Eigen::Index first = 0; first < rows; first += chunk_rows)
      f(first, std::min(chunk_rows, rows - first));
  }
  /// Rows [first, first + n) of b: b itself when that is all of it, else a copy in tmp.
  static const batch_type& chunk(const batch_type& b, Eigen::Index first, Eigen::Index n,
                                 batch_type& tmp) {
    if (first == 0 && n == b.rows())
      return b;
    tmp = b.middleRows(first, n);
    return tmp;
  }

  /// acts[j] := output of layer j.
  void forward(const batch_type& x, std::vector<batch_type>& acts) const {
    acts.resize(layers_.size());
    for (std::size_t j = 0; j < layers_.size(); ++j) {
      const batch_type& in = j == 0 ? x : acts[j - 1];
      std::visit([&](const auto& l) { l.forward(in, acts[j], shapes_[j]); }, layers_[j]);
    }
  }

  /// Backpropagates g through the layers (activations from forward()).
  batch_type backward(const batch_type& x, std::vector<batch_type>& acts, const batch_type& g,
                      bool parameter_gradients, bool input_gradient) {
    batch_type d = g, prev;
    // Below the first layer with parameters nothing needs a gradient unless dL/dX is wanted.
    std::size_t first_needed = 0;
    if (!input_gradient) {
      first_needed = layers_.size();
      for (std::size_t j = 0; j < layers_.size(); ++j)
        if (has_parameters(layers_[j])) {
          first_needed = j;
          break;
        }
    }
    for (std::size_t j = layers_.size(); j-- > first_needed;) {
      const batch_type& in = j == 0 ? x : acts[j - 1];
      const bool want_dx = j > first_needed || input_gradient;
      std::visit(
          [&](auto& l) {
            l.backward(in, acts[j], d, want_dx ? &prev : nullptr, shapes_[j], parameter_gradients);
          },
          layers_[j]);
      if (!want_dx)
        return batch_type();
      std::swap(d, prev);
      acts[j] = batch_type(); // free the activation as soon as it has served
    }
    if (!input_gradient)
      return batch_type();
    return d;
  }

  static bool has_parameters(const layer_type& l) {
    return std::holds_alternative<nn::conv2d<Scalar>>(l) ||
           std::holds_alternative<nn::linear<Scalar>>(l);
  }

  std::vector<layer_type> layers_;
  std::vector<nn::tensor_shape> shapes_;
};

/// The sequential model that computes what `m` computes: normalize (when m has an input
/// normalisation), then linear, relu, linear, ..., linear. parameters() come in mlp's order.
template <class Scalar>
sequential<Scalar> to_sequential(const mlp<Scalar>& m) {
  std::vector<nn::layer<Scalar>> layers;
  if (const auto& nz = m.input_normalization())
    layers.emplace_back(nn::normalize<Scalar>(nz->mean, nz->std));
  const auto& ls = m.layers();
  for (std::size_t l = 0; l < ls.size(); ++l) {
    if (l > 0)
      layers.emplace_back(nn::relu<Scalar>{});
    layers.emplace_back(nn::linear<Scalar>(ls[l].weight, ls[l].bias));
  }
  return sequential<Scalar>(nn::tensor_shape::vector(static_cast<Eigen::Index>(m.input_size())),
                            std::move(layers));
}

/// The default CNN for 1 x 28 x 28 images (Fashion-MNIST): conv16-conv32-pool-conv64-pool-
/// fc128-fc10, 3x3 kernels with padding 1, ReLU after every layer but the last, 2x2 max
/// pooling; PyTorch's default initialisation from `seed`.
template <class Scalar = float>
sequential<Scalar> default_cnn(std::uint64_t seed, Eigen::Index classes = 10) {
  using namespace nn;
  const std::uint64_t s = seed * 16; // each layer draws weight (s + k) and bias (s + k + 1)
  std::vector<layer<Scalar>> layers{conv2d<Scalar>::random(1, 16, 3, 1, 1, s),
                                    relu<Scalar>{},
                                    conv2d<Scalar>::random(16, 32, 3, 1, 1, s + 2),
                                    relu<Scalar>{},
                                    maxpool2d<Scalar>(2, 2),
                                    conv2d<Scalar>::random(32, 64, 3, 1, 1, s + 4),
                                    relu<Scalar>{},
                                    maxpool2d<Scalar>(2, 2),
                                    flatten<Scalar>{},
                                    nn::linear<Scalar>::random(64 * 7 * 7, 128, s + 6),
                                    relu<Scalar>{},
                                    nn::linear<Scalar>::random(128, classes, s + 8)};
  return sequential<Scalar>(tensor_shape::image(1, 28, 28), std::move(layers));
}

} // namespace misd::eigen
