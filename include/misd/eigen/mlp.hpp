// misd/eigen/mlp.hpp -- multi-layer perceptrons on the Eigen backend: sequential models
// (misd/eigen/sequential.hpp) of the form normalize (optional), linear, relu, linear, ...,
// linear. The input normalisation (x - mean) / std sits inside the model so that radii are
// measured in the user's input space.
//
//   auto m = misd::eigen::mlp<float>::random({784, 512, 256, 10}, seed);
//
// An mlp is a sequential model: logits, input gradients, training and model directories
// (save_sequential) are the sequential model's. It adds the in-place path that the ray-based
// estimators use (misd/radius/workspace.hpp): logits_into / input_gradient_into over the
// first rows of a batch, with activations and matrix-product packing buffers in a
// caller-owned scratch_type, so that steady-state calls allocate nothing.
#pragma once

#include "misd/detail/eigen_gemm.hpp"
#include "misd/eigen/layers.hpp"
#include "misd/eigen/ops.hpp"
#include "misd/eigen/sequential.hpp"
#include "misd/error.hpp"

#include <cmath>
#include <cstdint>
#include <optional>
#include <utility>
#include <variant>
#include <vector>

namespace misd::eigen {

/// Per-feature input normalisation applied inside a model.
template <class Scalar>
struct normalization {
  vector<Scalar> mean;
  vector<Scalar> std;
};

/// One affine layer, weight in PyTorch's nn.Linear layout (out x in).
template <class Scalar>
struct dense_layer {
  batch<Scalar> weight;
  vector<Scalar> bias;
};

template <class Scalar = float>
class mlp : public sequential<Scalar> {
  using base = sequential<Scalar>;

public:
  using scalar_type = Scalar;
  using batch_type = batch<Scalar>;

  /// The layers' weights in order (each layer's inputs are the previous one's outputs) and
  /// an optional normalisation of the input. Throws misd::invalid_argument naming the layer
  /// or normalisation entry that does not fit.
  explicit mlp(std::vector<dense_layer<Scalar>> layers,
               std::optional<normalization<Scalar>> norm = {})
      : mlp(chain(std::move(layers), std::move(norm))) {
    this->kind_ = "mlp";
    index_layers();
  }

  /// Widths {D, h1, ..., K}; PyTorch's default nn.Linear initialisation (uniform in
  /// ±1/sqrt(fan_in)) from a deterministic seed: layer l draws its weight from seed + 2l and
  /// its bias from seed + 2l + 1.
  static mlp random(const std::vector<std::size_t>& widths, std::uint64_t seed) {
    if (widths.size() < 2)
      throw invalid_argument(detail::message("mlp::random: need at least input and output widths"));
    std::vector<dense_layer<Scalar>> layers;
    for (std::size_t l = 0; l + 1 < widths.size(); ++l) {
      auto L = nn::linear<Scalar>::random(static_cast<Eigen::Index>(widths[l]),
                                          static_cast<Eigen::Index>(widths[l + 1]), seed + 2 * l);
      layers.push_back({std::move(L.weight), std::move(L.bias)});
    }
    return mlp(std::move(layers));
  }

  /// The affine layers' weights and biases (copies), first layer first.
  std::vector<dense_layer<Scalar>> dense_layers() const {
    std::vector<dense_layer<Scalar>> out;
    for (const std::size_t j : linear_at_) {
      const auto& L = linear(j);
      out.push_back({L.weight, L.bias});
    }
    return out;
  }
  /// The input normalisation (a copy), if the model has one.
  std::optional<normalization<Scalar>> input_normalization() const {
    if (!has_norm_)
      return std::nullopt;
    const auto& n = std::get<nn::normalize<Scalar>>(this->layers().front());
    return normalization<Scalar>{n.mean, n.std};
  }

  /// Buffers of the in-place path, owned by the caller (one per thread), so that the model
  /// itself stays const and can be shared between threads.
  struct scratch_type {
    std::vector<batch_type> acts;   ///< input of each affine layer (acts[0]: normalised input)
    std::vector<batch_type> deltas; ///< dL/d(input of affine layer l), l >= 1
    std::vector<misd::detail::gemm_buffers<Scalar>> forward_gemm, backward_gemm;
    batch_type recomputed_logits;
    const Scalar* tape_input = nullptr; ///< the x whose activations acts holds
    Eigen::Index tape_rows = -1;
  };

  /// Logits of the first `rows` examples of x into the first `rows` rows of z (z takes the
  /// shape x.rows() x K; the other rows are left as they are). Allocates only when a
  /// shape changes. Keeps the activations in s for input_gradient_into.
  void logits_into(const batch_type& x, Eigen::Index rows, batch_type& z, scratch_type& s) const {
    this->check_input(x);
    if (rows < 0 || rows > x.rows())
      throw invalid_argument(
          detail::message("mlp: logits_into of ", rows, " rows of a batch of ", x.rows()));
    reserve(s, x.rows());
    const std::size_t L = linear_at_.size();
    const auto K = static_cast<Eigen::Index>(this->classes());
    if (z.rows() != x.rows() || z.cols() != K)
      z.resize(x.rows(), K);
    const Scalar* a = x.data();
    Eigen::Index lda = x.cols();
    if (has_norm_) {
      const auto& n = std::get<nn::normalize<Scalar>>(this->layers().front());
      s.acts[0].topRows(rows) =
          ((x.topRows(rows).rowwise() - n.mean.transpose()).array().rowwise() /
           n.std.transpose().array())
              .matrix();
      a = s.acts[0].data();
    }
    for (std::size_t l = 0; l < L; ++l) {
      const auto& W = linear(linear_at_[l]);
      batch_type& out = l + 1 < L ? s.acts[l + 1] : z;
      out.topRows(rows).rowwise() = W.bias.transpose();
      s.forward_gemm[l].template multiply_add<true>(rows, W.weight.rows(), W.weight.cols(), a, lda,
                                                    W.weight.data(), W.weight.cols(), out.data(),
                                                    out.cols());
      if (l + 1 < L)
        out.topRows(rows) = out.topRows(rows).cwiseMax(Scalar(0));
      a = out.data();
      lda = out.cols();
    }
    s.tape_input = x.data();
    s.tape_rows = rows;
  }

  /// dL/dX for G = dL/dZ into dx (shape of x). Reuses the activations that the preceding
  /// logits_into(x, x.rows(), z, s) left in s; recomputes them when s holds another input.
  void input_gradient_into(const batch_type& x, const batch_type& g, batch_type& dx,
                           scratch_type& s) const {
    this->check_input(x);
    this->check_upstream(x, g);
    const auto n = x.rows();
    const std::size_t L = linear_at_.size();
    if (s.tape_input != x.data() || s.tape_rows != n || s.acts.size() != L)
      logits_into(x, n, s.recomputed_logits, s);
    if (dx.rows() != n || dx.cols() != x.cols())
      dx.resize(n, x.cols());
    const Scalar* d = g.data();
    Eigen::Index ldd = g.cols();
    for (std::size_t l = L; l-- > 0;) {
      const auto& W = linear(linear_at_[l]);
      batch_type& prev = l > 0 ? s.deltas[l] : dx;
      prev.topRows(n).setZero();
      s.backward_gemm[l].template multiply_add<false>(n, W.weight.cols(), W.weight.rows(), d, ldd,
                                                      W.weight.data(), W.weight.cols(), prev.data(),
                                                      prev.cols());
      if (l > 0) // ReLU'(p) = [activation > 0]
        prev.topRows(n) =
            (s.acts[l].topRows(n).array() > Scalar(0)).select(prev.topRows(n), Scalar(0));
      d = prev.data();
      ldd = prev.cols();
    }
    if (has_norm_) {
      const auto& nz = std::get<nn::normalize<Scalar>>(this->layers().front());
      dx = (dx.array().rowwise() / nz.std.transpose().array()).matrix();
    }
  }

private:
  /// The sequential layers of an MLP, after checking that the affine layers chain and that
  /// the normalisation fits the input.
  static std::pair<nn::tensor_shape, std::vector<nn::layer<Scalar>>>
  chain(std::vector<dense_layer<Scalar>> layers, std::optional<normalization<Scalar>> norm) {
    if (layers.empty())
      throw invalid_argument(detail::message("mlp: a model needs at least one layer"));
    for (std::size_t l = 0; l < layers.size(); ++l) {
      const auto& L = layers[l];
      if (L.weight.rows() < 1 || L.weight.cols() < 1 || L.bias.size() != L.weight.rows())
        throw invalid_argument(detail::message("mlp: layer ", l, " has weight ", L.weight.rows(),
                                               " x ", L.weight.cols(), " and bias of ",
                                               L.bias.size(), " (expected out x in and out)"));
      if (l > 0 && L.weight.cols() != layers[l - 1].weight.rows())
        throw invalid_argument(detail::message("mlp: layer ", l, " takes ", L.weight.cols(),
                                               " inputs but layer ", l - 1, " gives ",
                                               layers[l - 1].weight.rows()));
    }
    const auto d = layers.front().weight.cols();
    std::vector<nn::layer<Scalar>> out;
    if (norm) {
      if (norm->mean.size() != d || norm->std.size() != d)
        throw invalid_argument(detail::message("mlp: normalisation mean/std have ",
                                               norm->mean.size(), "/", norm->std.size(),
                                               " entries, the input has ", d));
      for (Eigen::Index j = 0; j < d; ++j)
        if (!(norm->std[j] > 0) || !std::isfinite(norm->std[j]) || !std::isfinite(norm->mean[j]))
          throw invalid_argument(detail::message("mlp: normalisation entry ", j, " (mean ",
                                                 norm->mean[j], ", std ", norm->std[j],
                                                 ") is not finite with std > 0"));
      out.emplace_back(nn::normalize<Scalar>(std::move(norm->mean), std::move(norm->std)));
    }
    for (std::size_t l = 0; l < layers.size(); ++l) {
      if (l > 0)
        out.emplace_back(nn::relu<Scalar>{});
      out.emplace_back(nn::linear<Scalar>(std::move(layers[l].weight), std::move(layers[l].bias)));
    }
    return {nn::tensor_shape::vector(d), std::move(out)};
  }
  explicit mlp(std::pair<nn::tensor_shape, std::vector<nn::layer<Scalar>>> p)
      : base(p.first, std::move(p.second)) {}

  void index_layers() {
    const auto& ls = this->layers();
    has_norm_ = std::holds_alternative<nn::normalize<Scalar>>(ls.front());
    for (std::size_t j = 0; j < ls.size(); ++j)
      if (std::holds_alternative<nn::linear<Scalar>>(ls[j]))
        linear_at_.push_back(j);
  }
  const nn::linear<Scalar>& linear(std::size_t j) const {
    return *std::get_if<nn::linear<Scalar>>(&this->layers()[j]);
  }

  void reserve(scratch_type& s, Eigen::Index n) const {
    const std::size_t L = linear_at_.size();
    s.acts.resize(L);
    s.deltas.resize(L);
    s.forward_gemm.resize(L);
    s.backward_gemm.resize(L);
    // Grow only: a scratch shared by calls of different sizes settles at the largest.
    auto shape = [](batch_type& b, Eigen::Index r, Eigen::Index c) {
      if (b.rows() < r || b.cols() != c)
        b.resize(r, c);
    };
    shape(s.acts[0], has_norm_ ? n : 0, linear(linear_at_[0]).weight.cols());
    for (std::size_t l = 0; l < L; ++l) {
      const auto& W = linear(linear_at_[l]).weight;
      if (l > 0) {
        shape(s.acts[l], n, W.cols());
        shape(s.deltas[l], n, W.cols());
      }
      s.forward_gemm[l].reserve(n, W.rows(), W.cols());
      s.backward_gemm[l].reserve(n, W.cols(), W.rows());
    }
  }

  bool has_norm_ = false;
  std::vector<std::size_t> linear_at_; ///< indices of the linear layers in layers()
};

/// The sequential model that computes what `m` computes (the same layers).
template <class Scalar>
sequential<Scalar> to_sequential(const mlp<Scalar>& m) {
  return sequential<Scalar>(m);
}

} // namespace misd::eigen
