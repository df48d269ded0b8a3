// misd/gradient_check.hpp -- a finite-difference check of any Differentiable model's
// input_gradient, for users to run on their own model types (as dlib's test_layer).
//
//   auto report = misd::check_input_gradient(model, x);
//   if (!report.passed) std::cerr << report.message();
#pragma once

#include "misd/concepts.hpp"
#include "misd/detail/model_calls.hpp"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <sstream>
#include <string>

namespace misd {

struct gradient_check_options {
  double step = 1e-3;           ///< central-difference step h (use ~1e-6 for double models)
  double tolerance = 1e-2;      ///< maximum allowed relative error
  double absolute_floor = 1e-6; ///< errors below this are not relative
  std::size_t samples = 64;     ///< input coordinates checked (all when fewer exist)
  std::uint64_t seed = 1;       ///< picks the upstream gradient and the coordinates
};

struct gradient_check_report {
  bool passed = true;
  double max_relative_error = 0.0;
  std::size_t worst_example = 0, worst_feature = 0;
  double analytic = 0.0, numeric = 0.0; ///< at the worst coordinate
  std::string message() const {
    std::ostringstream os;
    os << "misd: input_gradient " << (passed ? "agrees" : "DISAGREES")
       << " with central differences: max relative error " << max_relative_error
       << " at example " << worst_example << ", feature " << worst_feature << " (analytic "
       << analytic << ", numeric " << numeric << ")";
    return os.str();
  }
};

/// Compares input_gradient(x, G) with central differences of Σ G ⊙ logits for a random
/// G, at `samples` coordinates. Models with kinks (ReLU) may disagree at a coordinate
/// that crosses a kink within ±step; use a small step and a few samples.
template <class M>
gradient_check_report check_input_gradient(M& model, const batch_t<M>& x,
                                           const gradient_check_options& o = {}) {
  static_assert(detail::check_differentiable<M>());
  using ops = batch_ops<batch_t<M>>;
  detail::require_batch(x, "check_input_gradient");
  host_matrix z;
  detail::checked_logits(model, x, z, "logits");
  host_matrix g;
  ops::to_host(ops::uniform_noise(ops::from_host(z, model.logits(x)), o.seed), g);
  host_matrix analytic;
  ops::to_host(detail::checked_input_gradient(model, x, g), analytic);
  host_matrix xh;
  ops::to_host(x, xh);

  const auto total = static_cast<std::uint64_t>(xh.size());
  const auto count = std::min<std::uint64_t>(o.samples, total);
  gradient_check_report rep;
  std::uint64_t state = o.seed * 0x9E3779B97F4A7C15ull + 7;
  for (std::uint64_t s = 0; s < count; ++s) {
    std::uint64_t idx = s;
    if (count < total) { // random coordinate (LCG); repeats are harmless
      state = state * 6364136223846793005ull + 1442695040888963407ull;
      idx = (state >> 17) % total;
    }
    const auto i = static_cast<Eigen::Index>(idx / static_cast<std::uint64_t>(xh.cols()));
    const auto j = static_cast<Eigen::Index>(idx % static_cast<std::uint64_t>(xh.cols()));
    auto f = [&](double delta) {
      host_matrix xp = xh;
      xp(i, j) += delta;
      host_matrix zp;
      detail::checked_logits(model, ops::from_host(xp, x), zp, "logits");
      return (zp.array() * g.array()).sum();
    };
    const double numeric = (f(o.step) - f(-o.step)) / (2 * o.step);
    const double a = analytic(i, j);
    const double err =
        std::abs(numeric - a) / std::max({std::abs(numeric), std::abs(a), o.absolute_floor});
    if (err >= rep.max_relative_error) {
      rep.max_relative_error = err;
      rep.worst_example = static_cast<std::size_t>(i);
      rep.worst_feature = static_cast<std::size_t>(j);
      rep.analytic = a;
      rep.numeric = numeric;
    }
  }
  rep.passed = rep.max_relative_error <= o.tolerance;
  return rep;
}

} // namespace misd
