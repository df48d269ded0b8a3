// examples/misd/demo_estimators.hpp -- the demo's study of the radius estimators: every
// estimator called directly (timed, with its pass counts) on the same test images at T = 1,
// how tight each one's radius is (its ratio to the least radius with a flip that any of
// them witnessed for that example), and how well each separates right from wrong; plus a
// score that combines the radius with the softmax.
#pragma once

#include "misd/eval.hpp"
#include "misd/metric.hpp"
#include "misd/score.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <limits>
#include <string>
#include <vector>

namespace misd_cli::demo {

/// One estimator's answer on the study's images, and what it cost.
struct estimator_run {
  std::string name;
  misd::radius_result result;
  double seconds = 0;
  bool verified = true; ///< its radius comes with a witnessed flip (not RR-Fast's estimate)
};

/// Settings of the estimators in the study (the library's defaults otherwise).
struct study_settings {
  int threads = 1;     ///< row blocks (models that do not split rows themselves)
  int fab_targets = 9; ///< FAB-L∞ target classes (AutoAttack's fab-t: 9)
  int fab_iterations = 100;
};

/// Runs MSR's forward pass and every estimator on x (inputs in the [0, 1] box).
template <class M>
std::vector<estimator_run> run_estimators(M& model, const misd::batch_t<M>& x,
                                          const study_settings& s, double& msr_seconds) {
  using clock = std::chrono::steady_clock;
  const misd::input_box box{0.0, 1.0};
  // A model that splits rows over threads itself (the sequential CNN) gets one caller.
  const int threads = requires(M & m) {
    m.set_threads(2);
  }
  ? 1 : s.threads;
  {
    const auto t0 = clock::now();
    misd::host_matrix z;
    misd::detail::checked_logits(model, x, z, "logits");
    msr_seconds = std::chrono::duration<double>(clock::now() - t0).count();
  }
  std::vector<estimator_run> runs;
  auto timed = [&](std::string name, bool verified, auto run) {
    const auto t0 = clock::now();
    misd::radius_result r = run();
    runs.push_back({std::move(name), std::move(r),
                    std::chrono::duration<double>(clock::now() - t0).count(), verified});
  };
  misd::rr_fast_options fast;
  fast.threads = threads;
  misd::rr_bs_options bs;
  bs.box = box;
  bs.threads = threads;
  misd::rr_refine_options refine;
  refine.box = box;
  refine.threads = threads;
  misd::deepfool_options deepfool;
  deepfool.box = box;
  deepfool.threads = threads;
  misd::fab_options fab;
  fab.box = box;
  fab.threads = threads;
  fab.target_classes = s.fab_targets;
  fab.iterations = s.fab_iterations;
  misd::rr_iter_options iter;
  iter.box = box;
  iter.threads = threads;
  timed("rr-fast", false, [&] { return misd::rr_fast(model, x, fast); });
  timed("rr-bs", true, [&] { return misd::rr_bs(model, x, bs); });
  timed("rr-refine", true, [&] { return misd::rr_refine(model, x, refine); });
  timed("rr-iter", true, [&] { return misd::rr_iter(model, x, iter); });
  timed("deepfool", true, [&] { return misd::deepfool(model, x, deepfool); });
  timed("fab", true, [&] { return misd::fab(model, x, fab); });
  return runs;
}

/// Per example, the least radius at which some estimator witnessed a flip (its `upper`
/// where bracketed); +inf where none did.
inline std::vector<double> tightest_radius(const std::vector<estimator_run>& runs) {
  const std::size_t n = runs.empty() ? 0 : runs.front().result.size();
  std::vector<double> best(n, std::numeric_limits<double>::infinity());
  for (const auto& r : runs)
    if (r.verified)
      for (std::size_t i = 0; i < n; ++i)
        if (r.result.bracketed(i))
          best[i] = std::min(best[i], r.result.upper[static_cast<Eigen::Index>(i)]);
  return best;
}

/// Ratios radius / tightest of one estimator over the examples where both are finite and
/// positive (bracketed, or RR-Fast's linear estimate).
inline std::vector<double> tightness_ratios(const estimator_run& r,
                                            const std::vector<double>& tightest) {
  std::vector<double> q;
  for (std::size_t i = 0; i < tightest.size(); ++i) {
    const auto st = r.result.status[i];
    const double v = r.result.radius[static_cast<Eigen::Index>(i)];
    if ((st == misd::radius_status::bracketed || st == misd::radius_status::linear_estimate) &&
        std::isfinite(tightest[i]) && tightest[i] > 0 && std::isfinite(v))
      q.push_back(v / tightest[i]);
  }
  return q;
}

/// The radius as a method output (for the evaluation protocol), at its one grid point.
inline misd::score::method_output as_output(const misd::radius_result& r) {
  return {std::vector<double>(r.radius.data(), r.radius.data() + r.radius.size()), {}, r.status};
}

/// The combined score's protocol entry: features (radius, second score) fitted per split on
/// its validation part by misd::score::fit_combined.
inline misd::eval::method_report evaluate_combined(const std::string& name,
                                                   const std::vector<double>& radius,
                                                   const std::vector<double>& second,
                                                   std::span<const std::uint8_t> correct,
                                                   const misd::eval::protocol_options& o) {
  misd::score::method_output out;
  out.features.resize(static_cast<Eigen::Index>(radius.size()), 2);
  for (std::size_t i = 0; i < radius.size(); ++i) {
    out.features(static_cast<Eigen::Index>(i), 0) = radius[i];
    out.features(static_cast<Eigen::Index>(i), 1) = second[i];
  }
  auto column = [](const misd::host_matrix& m, Eigen::Index j) {
    std::vector<double> v(static_cast<std::size_t>(m.rows()));
    for (Eigen::Index i = 0; i < m.rows(); ++i)
      v[static_cast<std::size_t>(i)] = m(i, j);
    return v;
  };
  misd::eval::fit_function fit = [column](const misd::score::method_output& on,
                                          std::span<const std::uint8_t> c,
                                          const misd::score::method_output& target) {
    const auto model = misd::score::fit_combined(column(on.features, 0), column(on.features, 1), c);
    return misd::score::combined_confidence(model, column(target.features, 0),
                                            column(target.features, 1));
  };
  return misd::eval::evaluate_outputs(name, misd::score::make_grid({1.0}), {out}, fit, correct, o);
}

} // namespace misd_cli::demo
