// misd/eigen/sequential.hpp -- a chain of layers (misd/eigen/layers.hpp) on the Eigen
// backend: convolutional networks and MLPs alike (misd/eigen/mlp.hpp builds MLPs). Classifier,
// Differentiable and Trainable, so every attack, estimator, score and training objective works on
// it unchanged.
//
//   using namespace misd::eigen;
//   sequential<float> m(nn::tensor_shape::image(1, 28, 28),
//                       {nn::conv2d<float>::random(1, 16, 3, 1, 1, seed), nn::relu<float>{},
//                        nn::maxpool2d<float>(2, 2), nn::flatten<float>{},
//                        nn::linear<float>::random(16 * 14 * 14, 10, seed + 2)});
//
// Inputs are N x (C·H·W) batches in NCHW order. accumulate_gradients works through large
// batches in chunks of chunk_rows rows, logits and input_gradient of convolutional models in
// blocks of block_rows (bounded memory); forward_backward takes the batch whole. Buffers
// (activations, im2col columns, GEMM packing) are kept between calls: logits and input_gradient are
// const and take theirs from a pool guarded by a mutex, so one model may serve several threads at
// once; the gradient members use the model's own and modify the stored parameter gradients. Copies
// of a model start with no buffers.
//
// set_threads(T) splits every call's rows over T threads (default 1: the calling thread and
// the process's persistent workers, detail/worker_pool.hpp). Training stays
// bit-reproducible for a fixed T: each thread accumulates the parameter gradients of its rows
// separately and they are added to the stored gradients in thread order. Leave it at 1 when
// the caller already runs several threads (the estimators' `threads` option).
#pragma once

#include "misd/detail/worker_pool.hpp"
#include "misd/eigen/layers.hpp"
#include "misd/eigen/ops.hpp"
#include "misd/error.hpp"

#include <algorithm>
#include <cstdint>
#include <limits>
#include <memory>
#include <mutex>
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
    for_threads(x.rows(), [&](int, Eigen::Index first, Eigen::Index n) {
      pooled ws(*this);
      for_blocks(first, n, value_block_rows(), [&](Eigen::Index f, Eigen::Index m) {
        z.middleRows(f, m) = forward(layers_, chunk(x, f, m, ws->x), *ws, false);
      });
    });
    return z;
  }

  /// dL/dX for the upstream gradient G = dL/dZ (N x K).
  batch_type input_gradient(const batch_type& x, const batch_type& g) const {
    check_input(x);
    check_upstream(x, g);
    batch_type dx(x.rows(), x.cols());
    // backward() without parameter gradients touches no member: the const_cast is safe.
    auto& layers = const_cast<std::vector<layer_type>&>(layers_);
    for_threads(x.rows(), [&](int, Eigen::Index first, Eigen::Index n) {
      pooled ws(*this);
      for_blocks(first, n, value_block_rows(), [&](Eigen::Index f, Eigen::Index m) {
        const batch_type& xc = chunk(x, f, m, ws->x);
        forward(layers_, xc, *ws, true);
        dx.middleRows(f, m) = backward(layers, xc, *ws, chunk(g, f, m, ws->g), false, true);
      });
    });
    return dx;
  }

  /// Adds dL/dθ for G = dL/dZ to the stored parameter gradients; returns dL/dX.
  batch_type accumulate_gradients(const batch_type& x, const batch_type& g) {
    check_input(x);
    check_upstream(x, g);
    batch_type dx(x.rows(), x.cols());
    batch_type gt;
    for_blocks(0, x.rows(), chunk_rows, [&](Eigen::Index first, Eigen::Index n) {
      batch_type xt;
      const batch_type& xc = chunk(x, first, n, xt);
      const batch_type& gc = chunk(g, first, n, gt);
      dx.middleRows(first, n) = train(
          xc, [&](const batch_type&) -> const batch_type& { return gc; }, true);
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
    return train(x, upstream, input_gradient);
  }

  /// Threads that each call splits its rows over (>= 1; default 1).
  void set_threads(int threads) {
    if (threads < 1)
      throw invalid_argument(detail::message(kind_, ": threads must be >= 1, got ", threads));
    threads_ = threads;
  }
  int threads() const { return threads_; }

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

  /// Rows per chunk in accumulate_gradients.
  static constexpr Eigen::Index chunk_rows = 256;
  /// Rows per block in logits / input_gradient of models with image layers (activations of
  /// a block stay small). Models of flat layers only (MLPs) take each thread's rows whole:
  /// their activations are small, and each block would pack the weights for its products
  /// anew.
  static constexpr Eigen::Index block_rows = 32;

protected:
  void check_input(const batch_type& x) const {
    if (x.cols() != shapes_.front().size())
      throw invalid_argument(
          detail::message(kind_, ": batch has ", x.cols(), " numbers per example, the model takes ",
                          shapes_.front().size(), " (", shapes_.front().text(), ")"));
  }
  void check_upstream(const batch_type& x, const batch_type& g) const {
    if (g.rows() != x.rows() || g.cols() != static_cast<Eigen::Index>(classes()))
      throw invalid_argument(detail::message(kind_, ": upstream gradient is ", g.rows(), " x ",
                                             g.cols(), ", expected ", x.rows(), " x ", classes()));
  }

  /// The model's name in error messages ("mlp" for misd::eigen::mlp).
  std::string_view kind_ = "sequential";

private:
  Eigen::Index value_block_rows() const {
    for (const auto& s : shapes_)
      if (!s.flat)
        return block_rows;
    return std::numeric_limits<Eigen::Index>::max();
  }

  std::string describe_input(std::size_t j) const {
    return j == 0 ? "the input " + shapes_[0].text() : "an output " + shapes_[j].text();
  }
  static std::string strip(const std::string& m) {
    return m.rfind("misd: ", 0) == 0 ? m.substr(6) : m;
  }

  /// Buffers of one thread's pass: activations, gradients, im2col and packing buffers, and
  /// (training, threads after the first) a copy of the layers that takes its rows' gradients.
  struct workspace {
    std::vector<batch_type> acts;
    std::vector<nn::conv_scratch<Scalar>> conv;
    std::vector<std::vector<Eigen::Index>> argmax; // fused blocks: the pooling's choices
    std::vector<Scalar> block;                     // fused blocks: one example's conv output
    batch_type x, g, d, prev;
    std::vector<layer_type> replica;
  };
  /// Workspaces kept between calls; a copied model starts with none.
  struct workspaces {
    std::mutex mutex;
    std::vector<std::unique_ptr<workspace>> idle;     // for the const members
    std::vector<std::unique_ptr<workspace>> training; // one per thread
    workspaces() = default;
    workspaces(const workspaces&) {}
    workspaces& operator=(const workspaces&) { return *this; }
  };
  /// A workspace taken from the pool for the duration of a const call.
  class pooled {
  public:
    explicit pooled(const sequential& m) : pool_(m.buffers_) {
      std::lock_guard<std::mutex> lock(pool_.mutex);
      if (pool_.idle.empty()) {
        ws_ = std::make_unique<workspace>();
      } else {
        ws_ = std::move(pool_.idle.back());
        pool_.idle.pop_back();
      }
    }
    ~pooled() {
      std::lock_guard<std::mutex> lock(pool_.mutex);
      pool_.idle.push_back(std::move(ws_));
    }
    pooled(const pooled&) = delete;
    pooled& operator=(const pooled&) = delete;
    workspace* operator->() { return ws_.get(); }
    workspace& operator*() { return *ws_; }

  private:
    workspaces& pool_;
    std::unique_ptr<workspace> ws_;
  };

  template <class F>
  static void for_blocks(Eigen::Index first, Eigen::Index rows, Eigen::Index block, F&& f) {
    for (Eigen::Index b = 0; b < rows; b += block)
      f(first + b, std::min(block, rows - b));
  }
  /// Threads used for `rows` rows: at most threads_, each with at least 4 rows.
  int threads_for(Eigen::Index rows) const {
    return static_cast<int>(std::max<Eigen::Index>(1, std::min<Eigen::Index>(threads_, rows / 4)));
  }
  /// f(t, first, n) for the T contiguous row ranges of [0, rows), side by side.
  template <class F>
  static void run_parallel(int T, Eigen::Index rows, F&& f) {
    auto range = [&](int t, auto&& g) {
      const Eigen::Index first = rows * t / T, last = rows * (t + 1) / T;
      g(t, first, last - first);
    };
    if (T == 1) {
      range(0, f);
      return;
    }
    auto one = [&](std::size_t t) { range(static_cast<int>(t), f); };
    misd::detail::worker_pool::shared().run(static_cast<std::size_t>(T), one);
  }
  template <class F>
  void for_threads(Eigen::Index rows, F&& f) const {
    run_parallel(threads_for(rows), rows, f);
  }

  /// Rows [first, first + n) of b: b itself when that is all of it, else a copy in tmp.
  static const batch_type& chunk(const batch_type& b, Eigen::Index first, Eigen::Index n,
                                 batch_type& tmp) {
    if (first == 0 && n == b.rows())
      return b;
    tmp = b.middleRows(first, n);
    return tmp;
  }

  /// One forward and backward pass over x (rows split over the threads): z = f(x),
  /// G = upstream(z), parameter gradients added to the stored ones; returns dL/dX (empty
  /// without input_gradient).
  template <class F>
  batch_type train(const batch_type& x, F&& upstream, bool input_gradient) {
    const Eigen::Index rows = x.rows();
    const int T = threads_for(rows);
    auto& wss = buffers_.training;
    while (wss.size() < static_cast<std::size_t>(T))
      wss.push_back(std::make_unique<workspace>());
    batch_type z(rows, static_cast<Eigen::Index>(classes()));
    run_parallel(T, rows, [&](int t, Eigen::Index first, Eigen::Index n) {
      workspace& ws = *wss[static_cast<std::size_t>(t)];
      z.middleRows(first, n) = forward(layers_, chunk(x, first, n, ws.x), ws, true);
    });
    const auto& g = upstream(static_cast<const batch_type&>(z));
    check_upstream(x, g);
    for (int t = 1; t < T; ++t) { // the other threads' gradients start at zero
      auto& replica = wss[static_cast<std::size_t>(t)]->replica;
      replica = layers_;
      for (auto& l : replica)
        std::visit([](auto& v) { v.zero_gradients(); }, l);
    }
    batch_type dx(input_gradient ? rows : 0, input_gradient ? x.cols() : 0);
    run_parallel(T, rows, [&](int t, Eigen::Index first, Eigen::Index n) {
      workspace& ws = *wss[static_cast<std::size_t>(t)];
      const batch_type& xc = first == 0 && n == rows ? x : ws.x;
      const batch_type& d = backward(t == 0 ? layers_ : ws.replica, xc, ws,
                                     chunk(g, first, n, ws.g), true, input_gradient);
      if (input_gradient)
        dx.middleRows(first, n) = d;
    });
    if (T > 1) {
      auto total = gradients();
      for (int t = 1; t < T; ++t) {
        std::vector<std::span<Scalar>> part;
        for (auto& l : wss[static_cast<std::size_t>(t)]->replica)
          std::visit([&](auto& v) { v.append_gradients(part); }, l);
        for (std::size_t k = 0; k < total.size(); ++k)
          for (std::size_t i = 0; i < total[k].size(); ++i)
            total[k][i] += part[k][i];
      }
    }
    return dx;
  }

  bool fused_relu_after(std::size_t j) const {
    return std::holds_alternative<nn::conv2d<Scalar>>(layers_[j]) && j + 1 < layers_.size() &&
           std::holds_alternative<nn::relu<Scalar>>(layers_[j + 1]);
  }
  /// conv2d, relu, maxpool2d from layer j: run one example at a time, so that the
  /// convolution's output stays in cache and only the pooled output is stored.
  bool fused_block_at(std::size_t j) const {
    return fused_relu_after(j) && j + 2 < layers_.size() &&
           std::holds_alternative<nn::maxpool2d<Scalar>>(layers_[j + 2]);
  }

  /// ws.acts[j] := output of layer j; returns the last. A convolution followed by a ReLU
  /// applies it in place and hands its buffer to the ReLU's slot (neither backward reads
  /// the convolution's own output). A convolution, ReLU and max pooling (fused block) store
  /// only the pooled output and, `for_backward`, the positions it took (ws.argmax[j]).
  const batch_type& forward(const std::vector<layer_type>& layers, const batch_type& x,
                            workspace& ws, bool for_backward) const {
    ws.acts.resize(layers.size());
    ws.conv.resize(layers.size());
    ws.argmax.resize(layers.size());
    for (std::size_t j = 0; j < layers.size(); ++j) {
      const batch_type& in = j == 0 ? x : ws.acts[j - 1];
      if (fused_block_at(j)) {
        const auto& conv = std::get<nn::conv2d<Scalar>>(layers[j]);
        const auto& pool = std::get<nn::maxpool2d<Scalar>>(layers[j + 2]);
        const nn::tensor_shape &s_in = shapes_[j], &s_conv = shapes_[j + 1],
                               &s_pool = shapes_[j + 3];
        batch_type& y = ws.acts[j + 2];
        misd::detail::resize_batch(y, in.rows(), s_pool.size());
        auto& idx = ws.argmax[j];
        if (for_backward)
          idx.resize(static_cast<std::size_t>(y.size()));
        if (ws.block.size() < static_cast<std::size_t>(s_conv.size()))
          ws.block.resize(static_cast<std::size_t>(s_conv.size()));
        // ReLU after the pooling, on a quarter of the entries: max pooling commutes with
        // the (monotone, NaN-keeping) ReLU, and where the positions differ (all of a window
        // <= 0) the pooled value is 0 and the backward pass sends nothing.
        for (Eigen::Index i = 0; i < in.rows(); ++i) {
          conv.forward_one(in.data() + i * in.cols(), ws.block.data(), s_in, s_conv, ws.conv[j],
                           false);
          Scalar* yi = y.data() + i * y.cols();
          pool.forward_one(ws.block.data(), yi, for_backward ? idx.data() + i * y.cols() : nullptr,
                           s_conv, s_pool);
          for (Eigen::Index k = 0; k < y.cols(); ++k)
            yi[k] = std::max(yi[k], Scalar(0)); // as Eigen's cwiseMax (NaN stays NaN)
        }
        j += 2;
        continue;
      }
      if (fused_relu_after(j)) {
        std::get<nn::conv2d<Scalar>>(layers[j]).forward(in, ws.acts[j], shapes_[j], ws.conv[j],
                                                        true);
        std::swap(ws.acts[j], ws.acts[j + 1]);
        ++j;
        continue;
      }
      std::visit([&](const auto& l) { l.forward(in, ws.acts[j], shapes_[j]); }, layers[j]);
    }
    return ws.acts.back();
  }

  /// The backward pass of the fused block at j (conv2d, relu, maxpool2d) for the upstream
  /// ws.d (pooled outputs): each pooled gradient goes to the position the pooling took when
  /// its value is positive (the ReLU's derivative there), then through the convolution one
  /// example at a time. dx (when not null) := dL/d(block input).
  void backward_block(std::vector<layer_type>& layers, std::size_t j, const batch_type& x,
                      workspace& ws, batch_type* dx, bool parameter_gradients) const {
    auto& conv = std::get<nn::conv2d<Scalar>>(layers[j]);
    const nn::tensor_shape &s_in = shapes_[j], &s_conv = shapes_[j + 1];
    const batch_type& in = j == 0 ? x : ws.acts[j - 1];
    const batch_type& y = ws.acts[j + 2];
    const auto& idx = ws.argmax[j];
    conv.prepare_backward(dx != nullptr, parameter_gradients, ws.conv[j]);
    if (dx)
      misd::detail::resize_batch(*dx, in.rows(), in.cols());
    Scalar* dconv = ws.block.data();
    for (Eigen::Index i = 0; i < in.rows(); ++i) {
      std::fill(dconv, dconv + s_conv.size(), Scalar(0));
      const Scalar* yi = y.data() + i * y.cols();
      const Scalar* gi = ws.d.data() + i * ws.d.cols();
      const Eigen::Index* ai = idx.data() + i * y.cols();
      for (Eigen::Index k = 0; k < y.cols(); ++k)
        dconv[ai[k]] += yi[k] > Scalar(0) ? gi[k] : Scalar(0);
      conv.backward_one(in.data() + i * in.cols(), dconv,
                        dx ? dx->data() + i * dx->cols() : nullptr, s_in, s_conv,
                        parameter_gradients, ws.conv[j]);
    }
  }

  /// Backpropagates g through the layers (activations from forward()); returns dL/dX in ws
  /// (empty without input_gradient).
  const batch_type& backward(std::vector<layer_type>& layers, const batch_type& x, workspace& ws,
                             const batch_type& g, bool parameter_gradients,
                             bool input_gradient) const {
    ws.d = g;
    // Below the first layer with parameters nothing needs a gradient unless dL/dX is wanted.
    std::size_t first_needed = 0;
    if (!input_gradient) {
      first_needed = layers.size();
      for (std::size_t j = 0; j < layers.size(); ++j)
        if (has_parameters(layers[j])) {
          first_needed = j;
          break;
        }
    }
    for (std::size_t j = layers.size(); j-- > first_needed;) {
      if (j >= 2 && fused_block_at(j - 2)) { // layers j-2 .. j are one block
        j -= 2;
        const bool want_dx = j > first_needed || input_gradient;
        backward_block(layers, j, x, ws, want_dx ? &ws.prev : nullptr, parameter_gradients);
        if (!want_dx)
          break;
        std::swap(ws.d, ws.prev);
        continue;
      }
      const batch_type& in = j == 0 ? x : ws.acts[j - 1];
      const bool want_dx = j > first_needed || input_gradient;
      batch_type* dx = want_dx ? &ws.prev : nullptr;
      if (auto* c = std::get_if<nn::conv2d<Scalar>>(&layers[j]))
        c->backward(in, ws.acts[j], ws.d, dx, shapes_[j], parameter_gradients, ws.conv[j]);
      else
        std::visit(
            [&](auto& l) { l.backward(in, ws.acts[j], ws.d, dx, shapes_[j], parameter_gradients); },
            layers[j]);
      if (!want_dx)
        break;
      std::swap(ws.d, ws.prev);
    }
    return ws.d;
  }

  static bool has_parameters(const layer_type& l) {
    return std::holds_alternative<nn::conv2d<Scalar>>(l) ||
           std::holds_alternative<nn::linear<Scalar>>(l);
  }

  std::vector<layer_type> layers_;
  std::vector<nn::tensor_shape> shapes_;
  int threads_ = 1;
  mutable workspaces buffers_;
};

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
