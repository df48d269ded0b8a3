// bench/bench_threads.cpp -- 2 threads against 1 for the radius estimators, measured so that
// the shared machine's load cancels out: calls with 1 and 2 threads alternate (order
// flipped every pair), each pair gives a ratio t1 / t2, and the median of the pair ratios is
// the speed-up. A slow patch of the host slows both calls of a pair, which a comparison of
// two long runs minutes apart (Google Benchmark's) does not cancel.
//
//   bench_threads [pairs] [batch]     (defaults 40, 1024); one JSON line per estimator
//
// Model and data as bench_radius: the MLP 784-512-256-10, Fashion-MNIST test images, box
// [0, 1], budget 25, workspaces sized by a first call of each.
#include "bench_common.hpp"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <string>

using namespace misd_bench;

int main(int argc, char** argv) {
  const int pairs = argc > 1 ? std::stoi(argv[1]) : 40;
  const Eigen::Index n = argc > 2 ? std::stol(argv[2]) : 1024;
  if (pairs < 1 || n < 2) {
    std::fprintf(stderr, "usage: bench_threads [pairs >= 1] [batch >= 2]\n");
    return 2;
  }
  const model_type model = anchor_mlp();
  const batch x = images(n);
  for (const std::string m : {"rr-fast", "rr-bs", "rr-refine"}) {
    misd::rr_refine_options o[2];
    misd::radius_workspace<const model_type> ws[2];
    misd::radius_result r[2];
    for (int k = 0; k < 2; ++k) {
      o[k].box = misd::input_box{0, 1};
      o[k].threads = k + 1;
    }
    auto call = [&](int k) {
      const auto t0 = std::chrono::steady_clock::now();
      if (m == "rr-fast")
        misd::rr_fast(model, x, misd::rr_fast_options{o[k]}, ws[k], r[k]);
      else if (m == "rr-bs")
        misd::rr_bs(model, x, misd::rr_bs_options{o[k]}, ws[k], r[k]);
      else
        misd::rr_refine(model, x, o[k], ws[k], r[k]);
      return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    };
    call(0);
    call(1);
    std::vector<double> ratio, t1, t2;
    for (int p = 0; p < pairs; ++p) {
      double a, b;
      if (p % 2 == 0) {
        a = call(0);
        b = call(1);
      } else {
        b = call(1);
        a = call(0);
      }
      t1.push_back(a);
      t2.push_back(b);
      ratio.push_back(a / b);
    }
    auto median = [](std::vector<double> v) {
      std::sort(v.begin(), v.end());
      const auto h = v.size() / 2;
      return v.size() % 2 ? v[h] : (v[h - 1] + v[h]) / 2;
    };
    auto quantile = [](std::vector<double> v, double q) {
      std::sort(v.begin(), v.end());
      return v[static_cast<std::size_t>(q * double(v.size() - 1) + 0.5)];
    };
    std::printf("{\"estimator\": \"%s\", \"batch\": %ld, \"pairs\": %d, \"t1_ms_median\": %.2f, "
                "\"t2_ms_median\": %.2f, \"speedup_median\": %.3f, \"speedup_q25\": %.3f, "
                "\"speedup_q75\": %.3f, \"t1_ms_min\": %.2f, \"t2_ms_min\": %.2f}\n",
                m.c_str(), long(n), pairs, 1e3 * median(t1), 1e3 * median(t2), median(ratio),
                quantile(ratio, 0.25), quantile(ratio, 0.75),
                1e3 * *std::min_element(t1.begin(), t1.end()),
                1e3 * *std::min_element(t2.begin(), t2.end()));
    std::fflush(stdout);
  }
}
