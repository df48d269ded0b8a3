// bench/bench_refine_fmnist.cpp -- RR-Refine against RR-BS on a trained Fashion-MNIST MLP.
// Trains the MLP 784-512-256-10 with misd's own mlp and a plain SGD loop (batch 128,
// learning rate 0.1, EPOCHS epochs, fixed seed), then scores the 10,000 test images with
// RR-BS (budget 25) and RR-Refine (box [0, 1]) and reports: the share of examples whose
// RR-Refine radius lies in RR-BS's final bracket, forward passes per example, images/s of
// each, and AUROC / AURC×1000 of each (mid-rank AUROC and tie-grouped AURC, as
// misd/metric computes them, written out here).
//   ./bench_refine_fmnist [epochs=3] [threads=1]
#include "bench_common.hpp"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <numeric>
#include <string>

using namespace misd_bench;

namespace {

double auroc(const std::vector<double>& c, const std::vector<int>& ok) {
  const std::size_t n = c.size();
  std::vector<std::size_t> idx(n);
  std::iota(idx.begin(), idx.end(), 0);
  std::sort(idx.begin(), idx.end(), [&](auto a, auto b) { return c[a] < c[b]; });
  double rank_sum = 0, pos = 0;
  for (std::size_t i = 0; i < n;) {
    std::size_t j = i;
    while (j < n && c[idx[j]] == c[idx[i]])
      ++j;
    const double mid = (double(i + 1) + double(j)) / 2;
    for (std::size_t k = i; k < j; ++k)
      if (ok[idx[k]]) {
        rank_sum += mid;
        ++pos;
      }
    i = j;
  }
  const double neg = double(n) - pos;
  return (rank_sum - pos * (pos + 1) / 2) / (pos * neg);
}

double aurc(const std::vector<double>& c, const std::vector<int>& ok) {
  const std::size_t n = c.size();
  std::vector<std::size_t> idx(n);
  std::iota(idx.begin(), idx.end(), 0);
  std::sort(idx.begin(), idx.end(), [&](auto a, auto b) { return c[a] > c[b]; });
  std::vector<std::pair<double, double>> pts; // (coverage, risk), coverage increasing
  double wrong = 0;
  for (std::size_t i = 0; i < n;) {
    std::size_t j = i;
    while (j < n && c[idx[j]] == c[idx[i]]) {
      wrong += ok[idx[j]] ? 0 : 1;
      ++j;
    }
    pts.emplace_back(double(j) / double(n), wrong / double(j));
    i = j;
  }
  double area = pts.front().first * pts.front().second; // to coverage 0, risk repeated
  for (std::size_t k = 1; k < pts.size(); ++k)
    area += (pts[k].first - pts[k - 1].first) * (pts[k].second + pts[k - 1].second) / 2;
  return area;
}

void train(model_type& m, const misd::data::dataset& d, int epochs) {
  const Eigen::Index n = d.images.rows(), bs = 128;
  std::vector<Eigen::Index> order(static_cast<std::size_t>(n));
  std::iota(order.begin(), order.end(), 0);
  misd::detail::splitmix64 rng{12345};
  batch x(bs, 784);
  misd::host_matrix z, g;
  misd::label_vector y(bs);
  for (int e = 0; e < epochs; ++e) {
    for (std::size_t i = order.size() - 1; i > 0; --i) // Fisher-Yates
      std::swap(order[i], order[rng.next() % (i + 1)]);
    for (Eigen::Index b0 = 0; b0 + bs <= n; b0 += bs) {
      for (Eigen::Index k = 0; k < bs; ++k) {
        x.row(k) = d.images.row(order[std::size_t(b0 + k)]);
        y[std::size_t(k)] = d.labels[std::size_t(order[std::size_t(b0 + k)])];
      }
      z = m.logits(x).cast<double>();
      misd::detail::ce_gradient(z, y, 1.0, 1.0, g);
      m.zero_gradients();
      m.accumulate_gradients(x, (g / double(bs)).cast<float>());
      auto p = m.parameters();
      auto gr = m.gradients();
      for (std::size_t t = 0; t < p.size(); ++t)
        for (std::size_t j = 0; j < p[t].size(); ++j)
          p[t][j] -= 0.1f * gr[t][j];
    }
  }
}

} // namespace

int main(int argc, char** argv) {
  const int epochs = argc > 1 ? std::stoi(argv[1]) : 3;
  const int threads = argc > 2 ? std::stoi(argv[2]) : 1;
  const auto tr = misd::data::load_fashion_mnist(misd::data::split::train);
  const auto te = misd::data::load_fashion_mnist(misd::data::split::test);
  model_type m = anchor_mlp();
  auto t0 = std::chrono::steady_clock::now();
  train(m, tr, epochs);
  const double train_s =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();

  misd::rr_refine_options o;
  o.box = misd::input_box{0, 1};
  o.threads = threads;
  const misd::rr_bs_options bs_o{o};
  const Eigen::Index n = te.images.rows(), bs = 1000;
  std::vector<double> r_bs, r_ref;
  std::vector<int> ok;
  std::size_t inside = 0, fw_bs = 0, fw_ref = 0;
  double s_bs = 0, s_ref = 0;
  misd::radius_workspace<model_type> ws;
  misd::radius_result a, b;
  for (Eigen::Index b0 = 0; b0 < n; b0 += bs) {
    const batch x = te.images.middleRows(b0, std::min(bs, n - b0));
    auto t1 = std::chrono::steady_clock::now();
    misd::rr_bs(m, x, bs_o, ws, a);
    auto t2 = std::chrono::steady_clock::now();
    misd::rr_refine(m, x, o, ws, b);
    auto t3 = std::chrono::steady_clock::now();
    s_bs += std::chrono::duration<double>(t2 - t1).count();
    s_ref += std::chrono::duration<double>(t3 - t2).count();
    fw_bs += a.example_forwards;
    fw_ref += b.example_forwards;
    for (std::size_t i = 0; i < a.size(); ++i) {
      const auto e = static_cast<Eigen::Index>(i);
      r_bs.push_back(a.radius[e]);
      r_ref.push_back(b.radius[e]);
      ok.push_back(a.prediction[i] == te.labels[std::size_t(b0) + i]);
      const bool in = a.bracketed(i) ? (b.radius[e] >= a.lower[e] && b.radius[e] <= a.upper[e])
                                     : (!b.bracketed(i) && b.radius[e] == a.radius[e]);
      inside += in;
    }
  }
  const double acc = double(std::accumulate(ok.begin(), ok.end(), 0)) / double(n);
  std::printf("trained %d epochs in %.1f s; test accuracy %.4f; threads %d\n", epochs, train_s, acc,
              threads);
  std::printf("radius within RR-BS's final bracket: %.4f of %ld examples\n",
              double(inside) / double(n), long(n));
  std::printf("%-10s %12s %14s %10s %12s\n", "method", "images/s", "forwards/img", "AUROC",
              "AURCx1000");
  std::printf("%-10s %12.1f %14.3f %10.5f %12.4f\n", "rr-bs", double(n) / s_bs,
              double(fw_bs) / double(n), auroc(r_bs, ok), 1000 * aurc(r_bs, ok));
  std::printf("%-10s %12.1f %14.3f %10.5f %12.4f\n", "rr-refine", double(n) / s_ref,
              double(fw_ref) / double(n), auroc(r_ref, ok), 1000 * aurc(r_ref, ok));
  std::printf("rr-refine / rr-bs images/s: %.2f\n", s_bs / s_ref);
}
