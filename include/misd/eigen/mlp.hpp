// misd/eigen/mlp.hpp -- multi-layer perceptron on the Eigen backend: ReLU between
// layers, none after the last, optional input normalisation (x - mean) / std inside the
// model so that radii are measured in the user's input space. Exact input gradients and
// parameter gradients.
#pragma once

#include "misd/detail/eigen_gemm.hpp"
#include "misd/eigen/ops.hpp"
#include "misd/error.hpp"

#include <cmath>
#include <cstdint>
#include <optional>
#include <span>
#include <type_traits>
#include <utility>
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
class mlp {
public:
  using scalar_type = Scalar;
  using batch_type = batch<Scalar>;
  using layer_type = dense_layer<Scalar>;

  explicit mlp(std::vector<layer_type> layers, std::optional<normalization<Scalar>> norm = {})
      : layers_(std::move(layers)), norm_(std::move(norm)) {
    if (layers_.empty())
      throw invalid_argument(detail::message("mlp: a model needs at least one layer"));
    for (std::size_t l = 0; l < layers_.size(); ++l) {
      const auto& L = layers_[l];
      if (L.weight.rows() < 1 || L.weight.cols() < 1 || L.bias.size() != L.weight.rows())
        throw invalid_argument(detail::message("mlp: layer ", l, " has weight ", L.weight.rows(),
                                               " x ", L.weight.cols(), " and bias of ",
                                               L.bias.size(), " (expected out x in and out)"));
      if (l > 0 && L.weight.cols() != layers_[l - 1].weight.rows())
        throw invalid_argument(detail::message(
            "mlp: layer ", l, " takes ", L.weight.cols(), " inputs but layer ", l - 1,
            " gives ", layers_[l - 1].weight.rows()));
    }
    if (norm_) {
      const auto d = layers_.front().weight.cols();
      if (norm_->mean.size() != d || norm_->std.size() != d)
        throw invalid_argument(detail::message("mlp: normalisation mean/std have ",
                                               norm_->mean.size(), "/", norm_->std.size(),
                                               " entries, the input has ", d));
      for (Eigen::Index j = 0; j < d; ++j)
        if (!(norm_->std[j] > 0) || !std::isfinite(norm_->std[j]) ||
            !std::isfinite(norm_->mean[j]))
          throw invalid_argument(detail::message("mlp: normalisation entry ", j, " (mean ",
                                                 norm_->mean[j], ", std ", norm_->std[j],
                                                 ") is not finite with std > 0"));
    }
    zero_gradients();
  }

  /// Widths {D, h1, ..., K}; PyTorch's default nn.Linear initialisation
  /// (uniform in ±1/sqrt(fan_in)) from a deterministic seed.
  static mlp random(const std::vector<std::size_t>& widths, std::uint64_t seed) {
    if (widths.size() < 2)
      throw invalid_argument(detail::message("mlp::random: need at least input and output widths"));
    std::vector<layer_type> layers;
    std::uint64_t s = seed;
    for (std::size_t l = 0; l + 1 < widths.size(); ++l) {
      const auto in = static_cast<Eigen::Index>(widths[l]);
      const auto out = static_cast<Eigen::Index>(widths[l + 1]);
      const double bound = 1.0 / std::sqrt(double(in));
      layer_type L{batch<Scalar>(out, in), vector<Scalar>(out)};
      auto fill = [&](Scalar* p, Eigen::Index n) {
        const auto u = batch_ops<batch<Scalar>>::uniform_noise(batch<Scalar>(1, n), s++);
        for (Eigen::Index j = 0; j < n; ++j)
          p[j] = static_cast<Scalar>(bound * u(0, j));
      };
      fill(L.weight.data(), L.weight.size());
      fill(L.bias.data(), L.bias.size());
      layers.push_back(std::move(L));
    }
    return mlp(std::move(layers));
  }

  batch_type logits(const batch_type& x) const {
    check_input(x);
    batch_type a = normalized(x);
    for (std::size_t l = 0; l < layers_.size(); ++l) {
      batch_type p = a * layers_[l].weight.transpose();
      p.rowwise() += layers_[l].bias.transpose();
      if (l + 1 < layers_.size())
        a = p.cwiseMax(Scalar(0));
      else
        return p;
    }
    return a; // unreachable: there is at least one layer
  }

  /// dL/dX for the upstream gradient G = dL/dZ (N x K).
  batch_type input_gradient(const batch_type& x, const batch_type& g) const {
    return backward(x, g, nullptr);
  }

  /// Buffers of the in-place path, owned by the caller (one per thread), so that the model
  /// itself stays const and can be shared between threads.
  struct scratch_type {
    std::vector<batch_type> acts;   ///< input of each layer (acts[0]: normalised input)
    std::vector<batch_type> deltas; ///< dL/d(input of layer l), l >= 1
    std::vector<detail::gemm_buffers<Scalar>> forward_gemm, backward_gemm;
    batch_type recomputed_logits;
    const Scalar* tape_input = nullptr; ///< the x whose activations acts holds
    Eigen::Index tape_rows = -1;
  };

  /// Logits of the first `rows` examples of x into the first `rows` rows of z (z takes the
  /// shape x.rows() x K; the other rows are left as they are). Allocates only when a
  /// shape changes. Keeps the activations in s for input_gradient_into.
  void logits_into(const batch_type& x, Eigen::Index rows, batch_type& z, scratch_type& s) const {
    check_input(x);
    if (rows < 0 || rows > x.rows())
      throw invalid_argument(detail::message("mlp: logits_into of ", rows,
                                             " rows of a batch of ", x.rows()));
    reserve(s, x.rows());
    const auto K = layers_.back().weight.rows();
    if (z.rows() != x.rows() || z.cols() != K)
      z.resize(x.rows(), K);
    const Scalar* a = x.data();
    Eigen::Index lda = x.cols();
    if (norm_) {
      s.acts[0].topRows(rows) = ((x.topRows(rows).rowwise() - norm_->mean.transpose()).array().rowwise() /
                                 norm_->std.transpose().array())
                                    .matrix();
      a = s.acts[0].data();
    }
    for (std::size_t l = 0; l < layers_.size(); ++l) {
      const auto& L = layers_[l];
      batch_type& out = l + 1 < layers_.size() ? s.acts[l + 1] : z;
      out.topRows(rows).rowwise() = L.bias.transpose();
      s.forward_gemm[l].template multiply_add<true>(rows, L.weight.rows(), L.weight.cols(), a, lda,
                                                    L.weight.data(), L.weight.cols(), out.data(),
                                                    out.cols());
      if (l + 1 < layers_.size())
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
    check_input(x);
    const auto n = x.rows();
    if (g.rows() != n || g.cols() != layers_.back().weight.rows())
      throw invalid_argument(detail::message("mlp: upstream gradient is ", g.rows(), " x ",
                                             g.cols(), ", expected ", n, " x ",
                                             layers_.back().weight.rows()));
    if (s.tape_input != x.data() || s.tape_rows != n || s.acts.size() != layers_.size()) {
      logits_into(x, n, s.recomputed_logits, s);
    }
    if (dx.rows() != n || dx.cols() != x.cols())
      dx.resize(n, x.cols());
    const Scalar* d = g.data();
    Eigen::Index ldd = g.cols();
    for (std::size_t l = layers_.size(); l-- > 0;) {
      const auto& L = layers_[l];
      batch_type& prev = l > 0 ? s.deltas[l] : dx;
      prev.topRows(n).setZero();
      s.backward_gemm[l].template multiply_add<false>(n, L.weight.cols(), L.weight.rows(), d, ldd,
                                                      L.weight.data(), L.weight.cols(),
                                                      prev.data(), prev.cols());
      if (l > 0) // ReLU'(p) = [activation > 0]
        prev.topRows(n) =
            (s.acts[l].topRows(n).array() > Scalar(0)).select(prev.topRows(n), Scalar(0));
      d = prev.data();
      ldd = prev.cols();
    }
    if (norm_)
      dx = (dx.array().rowwise() / norm_->std.transpose().array()).matrix();
  }

  /// Adds dL/dθ for G = dL/dZ to the stored parameter gradients; returns dL/dX.
  batch_type accumulate_gradients(const batch_type& x, const batch_type& g) {
    return backward(x, g, &grads_);
  }

  /// Training with one forward pass instead of two: z = f(x), G = upstream(z), then adds
  /// dL/dθ for G to the stored gradients and returns dL/dX, or an empty batch when
  /// `input_gradient` is false (which also skips the first layer's input product).
  template <class F>
    requires std::is_invocable_r_v<batch_type, F&, const batch_type&>
  batch_type forward_backward(const batch_type& x, F&& upstream, bool input_gradient = true) {
    check_input(x);
    std::vector<batch_type> acts = activations(x);
    batch_type z = acts.back() * layers_.back().weight.transpose();
    z.rowwise() += layers_.back().bias.transpose();
    const batch_type g = upstream(static_cast<const batch_type&>(z));
    check_upstream(x, g);
    return backpropagate(acts, g, &grads_, input_gradient);
  }

  void zero_gradients() {
    grads_.resize(layers_.size());
    for (std::size_t l = 0; l < layers_.size(); ++l) {
      grads_[l].weight.setZero(layers_[l].weight.rows(), layers_[l].weight.cols());
      grads_[l].bias.setZero(layers_[l].bias.size());
    }
  }

  /// Parameters and their gradients as flat spans, in the same order (W0, b0, W1, ...).
  std::vector<std::span<Scalar>> parameters() { return spans(layers_); }
  std::vector<std::span<Scalar>> gradients() { return spans(grads_); }

  const std::vector<layer_type>& layers() const { return layers_; }
  const std::optional<normalization<Scalar>>& input_normalization() const { return norm_; }
  std::size_t input_size() const { return static_cast<std::size_t>(layers_.front().weight.cols()); }
  std::size_t classes() const { return static_cast<std::size_t>(layers_.back().weight.rows()); }

private:
  void reserve(scratch_type& s, Eigen::Index n) const {
    const std::size_t L = layers_.size();
    s.acts.resize(L);
    s.deltas.resize(L);
    s.forward_gemm.resize(L);
    s.backward_gemm.resize(L);
    // Grow only: a scratch shared by calls of different sizes settles at the largest.
    auto shape = [](batch_type& b, Eigen::Index r, Eigen::Index c) {
      if (b.rows() < r || b.cols() != c)
        b.resize(r, c);
    };
    shape(s.acts[0], norm_ ? n : 0, layers_.front().weight.cols());
    for (std::size_t l = 0; l < L; ++l) {
      const auto& W = layers_[l].weight;
      if (l > 0) {
        shape(s.acts[l], n, W.cols());
        shape(s.deltas[l], n, W.cols());
      }
      s.forward_gemm[l].reserve(n, W.rows(), W.cols());
      s.backward_gemm[l].reserve(n, W.cols(), W.rows());
    }
  }

  void check_input(const batch_type& x) const {
    if (x.cols() != layers_.front().weight.cols())
      throw invalid_argument(detail::message("mlp: batch has ", x.cols(),
                                             " numbers per example, the model takes ",
                                             layers_.front().weight.cols()));
  }
  batch_type normalized(const batch_type& x) const {
    if (!norm_)
      return x;
    return ((x.rowwise() - norm_->mean.transpose()).array().rowwise() /
            norm_->std.transpose().array())
        .matrix();
  }

  batch_type backward(const batch_type& x, const batch_type& g,
                      std::vector<layer_type>* grads) const {
    check_input(x);
    check_upstream(x, g);
    return backpropagate(activations(x), g, grads, true);
  }

  void check_upstream(const batch_type& x, const batch_type& g) const {
    if (g.rows() != x.rows() || g.cols() != layers_.back().weight.rows())
      throw invalid_argument(detail::message("mlp: upstream gradient is ", g.rows(), " x ",
                                             g.cols(), ", expected ", x.rows(), " x ",
                                             layers_.back().weight.rows()));
  }

  /// Each layer's input: the normalised x, then the post-ReLU activations.
  std::vector<batch_type> activations(const batch_type& x) const {
    std::vector<batch_type> acts(layers_.size());
    acts[0] = normalized(x);
    for (std::size_t l = 0; l + 1 < layers_.size(); ++l) {
      batch_type p = acts[l] * layers_[l].weight.transpose();
      p.rowwise() += layers_[l].bias.transpose();
      acts[l + 1] = p.cwiseMax(Scalar(0));
    }
    return acts;
  }

  batch_type backpropagate(const std::vector<batch_type>& acts, const batch_type& g,
                           std::vector<layer_type>* grads, bool input_gradient) const {
    batch_type d = g;
    for (std::size_t l = layers_.size(); l-- > 0;) {
      if (grads) {
        (*grads)[l].weight.noalias() += d.transpose() * acts[l];
        (*grads)[l].bias += d.colwise().sum().transpose();
      }
      if (l == 0 && !input_gradient)
        return batch_type();
      batch_type prev = d * layers_[l].weight;
      if (l > 0) // ReLU'(p) = [p > 0] = [activation > 0]
        prev = (acts[l].array() > Scalar(0)).select(prev, Scalar(0));
      d = std::move(prev);
    }
    if (norm_)
      d = (d.array().rowwise() / norm_->std.transpose().array()).matrix();
    return d;
  }

  static std::vector<std::span<Scalar>> spans(std::vector<layer_type>& ls) {
    std::vector<std::span<Scalar>> out;
    for (auto& L : ls) {
      out.emplace_back(L.weight.data(), static_cast<std::size_t>(L.weight.size()));
      out.emplace_back(L.bias.data(), static_cast<std::size_t>(L.bias.size()));
    }
    return out;
  }

  std::vector<layer_type> layers_;
  std::optional<normalization<Scalar>> norm_;
  std::vector<layer_type> grads_;
};

} // namespace misd::eigen
