// bench/bench_common.hpp -- the model, data and raw product chain shared by the benchmarks.
#pragma once

#include "misd/data/idx.hpp"
#include "misd/misd.hpp"

#include <Eigen/Core>

#include <cstdlib>
#include <vector>

namespace misd_bench {

using batch = misd::eigen::batch<float>;
using model_type = misd::eigen::mlp<float>;

/// The anchors' MLP 784-512-256-10 (random weights: throughput does not depend on them).
inline model_type anchor_mlp() {
  return model_type::random({784, 512, 256, 10}, 1);
}

/// The first n Fashion-MNIST test images, or uniform noise in [0, 1] when the data is absent.
inline batch images(Eigen::Index n) {
  try {
    auto d = misd::data::load_fashion_mnist(misd::data::split::test);
    return d.images.topRows(n);
  } catch (const std::exception&) {
    batch x = misd::batch_ops<batch>::uniform_noise(batch(n, 784), 42);
    return (x.array() + 1.0f) / 2.0f;
  }
}

/// The forward pass as plain Eigen products into preallocated buffers, no library code:
/// what an Eigen user would write by hand (the floor to compare misd's forward with).
struct raw_chain {
  std::vector<batch> w; // out x in
  std::vector<Eigen::RowVectorXf> b;
  batch a1, a2, z;
  explicit raw_chain(const model_type& m, Eigen::Index n) {
    for (const auto& L : m.dense_layers()) {
      w.push_back(L.weight);
      b.push_back(L.bias.transpose());
    }
    a1.resize(n, 512);
    a2.resize(n, 256);
    z.resize(n, 10);
  }
  void run(const batch& x) {
    a1.noalias() = x * w[0].transpose();
    a1 = (a1.rowwise() + b[0]).cwiseMax(0.0f);
    a2.noalias() = a1 * w[1].transpose();
    a2 = (a2.rowwise() + b[1]).cwiseMax(0.0f);
    z.noalias() = a2 * w[2].transpose();
    z.rowwise() += b[2];
  }
};

} // namespace misd_bench
