// bench/bench_cnn.cpp -- the default CNN (misd::eigen::default_cnn: conv16-conv32-pool-
// conv64-pool-fc128-fc10 on 1x28x28, float) on the Eigen backend: a training step (forward,
// softmax cross-entropy, backward with parameter gradients, SGD update), the forward pass,
// and the raw matrix products of the forward pass alone (one W x im2col product per example
// and convolution, as misd does them, on prepared column buffers; the two fc products).
// items_per_second = images/s. Forward efficiency = raw-products time / forward time (both
// one thread). The second argument is the model's thread count (sequential::set_threads).
// Built with -O3 -march=native (bench/CMakeLists.txt).
#include "misd/eigen/sequential.hpp"

#include <benchmark/benchmark.h>

#include <cmath>
#include <vector>

namespace {
using batch = misd::eigen::batch<float>;
using row_matrix = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

batch images(Eigen::Index n) {
  const batch u = misd::batch_ops<batch>::uniform_noise(batch(n, 784), 42);
  return (u.array() + 1.0f) / 2.0f;
}

void BM_cnn_train_step(benchmark::State& st) {
  const auto n = st.range(0);
  auto model = misd::eigen::default_cnn<float>(1);
  model.set_threads(static_cast<int>(st.range(1)));
  const batch x = images(n);
  std::vector<int> y(static_cast<std::size_t>(n));
  for (Eigen::Index i = 0; i < n; ++i)
    y[static_cast<std::size_t>(i)] = int(i % 10);
  // Softmax cross-entropy, mean over the batch: G = (softmax(z) - onehot(y)) / n.
  auto upstream = [&](const batch& z) {
    batch g(z.rows(), z.cols());
    for (Eigen::Index i = 0; i < z.rows(); ++i) {
      const float m = z.row(i).maxCoeff();
      g.row(i) = (z.row(i).array() - m).exp().matrix();
      g.row(i) /= g.row(i).sum();
      g(i, y[static_cast<std::size_t>(i)]) -= 1.0f;
    }
    return batch(g / float(z.rows()));
  };
  for (auto _ : st) {
    model.zero_gradients();
    model.forward_backward(x, upstream, false);
    auto p = model.parameters();
    auto g = model.gradients();
    for (std::size_t k = 0; k < p.size(); ++k)
      for (std::size_t i = 0; i < p[k].size(); ++i)
        p[k][i] -= 0.01f * g[k][i];
    benchmark::DoNotOptimize(p[0].data());
  }
  st.SetItemsProcessed(st.iterations() * n);
}

void BM_cnn_forward(benchmark::State& st) {
  const auto n = st.range(0);
  auto model = misd::eigen::default_cnn<float>(1);
  model.set_threads(static_cast<int>(st.range(1)));
  const batch x = images(n);
  for (auto _ : st) {
    batch z = model.logits(x);
    benchmark::DoNotOptimize(z.data());
  }
  st.SetItemsProcessed(st.iterations() * n);
}

/// The forward pass's products alone: per example W (out x C·9) times its column matrix
/// (C·9 x H·W) for the three convolutions, then the batch's two fc products.
void BM_cnn_forward_raw_products(benchmark::State& st) {
  const auto n = st.range(0);
  struct conv_shape {
    Eigen::Index out, k, p;
  };
  const conv_shape convs[] = {{16, 9, 784}, {32, 144, 784}, {64, 288, 196}};
  std::vector<row_matrix> w, cols, y;
  for (const auto& c : convs) {
    w.push_back(row_matrix::Random(c.out, c.k));
    cols.push_back(row_matrix::Random(c.k, c.p));
    y.push_back(row_matrix(c.out, c.p));
  }
  const row_matrix a1 = row_matrix::Random(n, 3136), w1 = row_matrix::Random(128, 3136),
                   w2 = row_matrix::Random(10, 128);
  row_matrix h(n, 128), z(n, 10);
  for (auto _ : st) {
    for (Eigen::Index i = 0; i < n; ++i)
      for (std::size_t l = 0; l < 3; ++l) {
        y[l].noalias() = w[l] * cols[l];
        benchmark::DoNotOptimize(y[l].data());
      }
    h.noalias() = a1 * w1.transpose();
    z.noalias() = h * w2.transpose();
    benchmark::DoNotOptimize(z.data());
  }
  st.SetItemsProcessed(st.iterations() * n);
}
} // namespace

// Args: batch, threads (sequential::set_threads).
BENCHMARK(BM_cnn_train_step)
    ->Args({128, 1})
    ->Args({128, 2})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();
BENCHMARK(BM_cnn_forward)
    ->Args({128, 1})
    ->Args({128, 2})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();
BENCHMARK(BM_cnn_forward_raw_products)->Arg(128)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK_MAIN();
