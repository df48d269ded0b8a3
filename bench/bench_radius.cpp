// bench/bench_radius.cpp -- throughput of the forward pass and of the ray-based estimators
// on the MLP 784-512-256-10 (Eigen, float), batches 256 and 1024, in one binary and one
// run. Wall-clock time (UseRealTime: threads count). items_per_second = images/s; passes_per_image
// = example-forwards / images. Ratios to misd's forward: bench/ratios.py on the JSON output (see
// bench/README.md).
#include "bench_common.hpp"

#include <benchmark/benchmark.h>

using namespace misd_bench;

namespace {

const model_type& model() {
  static const model_type m = anchor_mlp();
  return m;
}
const batch& inputs(Eigen::Index n) {
  static const batch all = images(1024);
  static batch b256 = all.topRows(256), b1024 = all;
  return n == 256 ? b256 : b1024;
}

void BM_raw_chain(benchmark::State& st) {
  const auto n = st.range(0);
  const batch& x = inputs(n);
  raw_chain raw(model(), n);
  for (auto _ : st) {
    raw.run(x);
    benchmark::DoNotOptimize(raw.z.data());
  }
  st.SetItemsProcessed(st.iterations() * n);
  st.counters["passes_per_image"] = 1;
}

void BM_misd_forward(benchmark::State& st) {
  const auto n = st.range(0);
  const batch& x = inputs(n);
  model_type::scratch_type s;
  batch z;
  for (auto _ : st) {
    model().logits_into(x, n, z, s);
    benchmark::DoNotOptimize(z.data());
  }
  st.SetItemsProcessed(st.iterations() * n);
  st.counters["passes_per_image"] = 1;
}

void BM_misd_forward_value(benchmark::State& st) { // the value-returning logits(x)
  const auto n = st.range(0);
  const batch& x = inputs(n);
  for (auto _ : st) {
    batch z = model().logits(x);
    benchmark::DoNotOptimize(z.data());
  }
  st.SetItemsProcessed(st.iterations() * n);
  st.counters["passes_per_image"] = 1;
}

enum class method { rr_fast, rr_bs, rr_refine };

template <method M>
void BM_estimator(benchmark::State& st) {
  const auto n = st.range(0);
  const batch& x = inputs(n);
  misd::rr_refine_options o;
  o.box = misd::input_box{0, 1};
  o.threads = static_cast<int>(st.range(1));
  o.tolerance = static_cast<double>(st.range(2)) * 1e-4; // RR-BS early stopping
  const misd::rr_bs_options bs_o{o};
  const misd::rr_fast_options fast_o{o};
  misd::radius_workspace<const model_type> ws;
  misd::radius_result r;
  for (auto _ : st) {
    if constexpr (M == method::rr_fast)
      misd::rr_fast(model(), x, fast_o, ws, r);
    else if constexpr (M == method::rr_bs)
      misd::rr_bs(model(), x, bs_o, ws, r);
    else
      misd::rr_refine(model(), x, o, ws, r);
    benchmark::DoNotOptimize(r.radius.data());
  }
  st.SetItemsProcessed(st.iterations() * n);
  st.counters["passes_per_image"] = double(r.example_forwards) / double(n);
  st.counters["backwards_per_image"] = double(r.backwards);
  st.counters["batch_forwards"] = double(r.forwards);
}

/// The minimal-perturbation estimators (one options type each, defaults otherwise).
template <class Options, class Run>
void minimal_perturbation(benchmark::State& st, Run run) {
  const auto n = st.range(0);
  const batch& x = inputs(n);
  Options o;
  o.box = misd::input_box{0, 1};
  o.threads = static_cast<int>(st.range(1));
  misd::radius_workspace<const model_type> ws;
  misd::radius_result r;
  for (auto _ : st) {
    run(model(), x, o, ws, r);
    benchmark::DoNotOptimize(r.radius.data());
  }
  st.SetItemsProcessed(st.iterations() * n);
  st.counters["passes_per_image"] = double(r.example_forwards) / double(n);
  st.counters["backwards_per_image"] = double(r.backwards);
  st.counters["batch_forwards"] = double(r.forwards);
}

void BM_deepfool(benchmark::State& st) {
  minimal_perturbation<misd::deepfool_options>(st,
                                               [](auto& m, const batch& x, const auto& o, auto& ws,
                                                  auto& r) { misd::deepfool(m, x, o, ws, r); });
}

void BM_rr_iter(benchmark::State& st) {
  minimal_perturbation<misd::rr_iter_options>(st,
                                              [](auto& m, const batch& x, const auto& o, auto& ws,
                                                 auto& r) { misd::rr_iter(m, x, o, ws, r); });
}

/// FAB-L∞ (AutoAttack's fab-t: 100 iterations per target class, each 2 forwards + 1
/// input gradient, then the 10-probe bisection). Args: batch, threads, target classes.
void BM_fab(benchmark::State& st) {
  const auto n = st.range(0);
  const batch& x = inputs(n);
  misd::fab_options o;
  o.box = misd::input_box{0, 1};
  o.threads = static_cast<int>(st.range(1));
  o.target_classes = static_cast<int>(st.range(2));
  misd::radius_workspace<const model_type> ws;
  misd::radius_result r;
  for (auto _ : st) {
    misd::fab(model(), x, o, ws, r);
    benchmark::DoNotOptimize(r.radius.data());
  }
  st.SetItemsProcessed(st.iterations() * n);
  st.counters["passes_per_image"] = double(r.example_forwards) / double(n);
  st.counters["backwards_per_image"] = double(r.backwards);
  st.counters["batch_forwards"] = double(r.forwards);
}

} // namespace

BENCHMARK(BM_raw_chain)->Arg(256)->Arg(1024)->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK(BM_misd_forward)->Arg(256)->Arg(1024)->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK(BM_misd_forward_value)->Arg(256)->Arg(1024)->UseRealTime()->Unit(benchmark::kMillisecond);
// Args: batch, threads, tolerance x 1e4.
BENCHMARK(BM_estimator<method::rr_fast>)
    ->Name("BM_rr_fast")
    ->Args({256, 1, 0})
    ->Args({1024, 1, 0})
    ->Args({1024, 2, 0})
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);
BENCHMARK(BM_estimator<method::rr_bs>)
    ->Name("BM_rr_bs")
    ->Args({256, 1, 0})
    ->Args({1024, 1, 0})
    ->Args({1024, 2, 0})
    ->Args({1024, 1, 10})
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);
BENCHMARK(BM_estimator<method::rr_refine>)
    ->Name("BM_rr_refine")
    ->Args({256, 1, 0})
    ->Args({1024, 1, 0})
    ->Args({1024, 2, 0})
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);

// Args: batch, threads.
BENCHMARK(BM_deepfool)->Args({256, 1})->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK(BM_rr_iter)
    ->Args({256, 1})
    ->Args({1024, 1})
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);

BENCHMARK(BM_fab)
    ->Args({256, 1, 1})
    ->Args({256, 1, 9})
    ->Args({256, 2, 9})
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);

BENCHMARK_MAIN();
