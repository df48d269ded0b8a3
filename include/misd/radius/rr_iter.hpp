// misd/radius/rr_iter.hpp -- rr-iter: a few linearised steps towards the boundary of the
// runner-up class (after the trust-region attack of AttackBench), then the bisection of
// radius/boundary_refine.hpp.
//
// From x_0 = x, up to S = options.steps steps, for the examples not yet flipped at x_t:
//   1. a forward pass at x_t (the clean one for t = 0); an example whose argmax left ŷ stops;
//   2. k* = the runner-up argmax_{k≠ŷ} z_k(x_t) (select = per_step), or, with
//      select = linear, the class fixed once at x among the next c = select_classes ones by
//      logit with the least linearised distance (z_ŷ − z_k)/‖∇(z_k − z_ŷ)‖₁ (c input
//      gradients at x, one of which also serves the first step);
//   3. m = z_ŷ − z_k*, g = ∇(z_k* − z_ŷ) (one input gradient, upstream e_k* − e_ŷ),
//      s = min(m / (‖g‖₁ + 1e−6), trust_radius),
//      x_{t+1} = clamp(x_t + overshoot·(s + floor)·sign(g))  (clamp into options.box).
// After S steps the last iterates are checked once more; refine_along bisects [x, x_a] for
// the flipped ones. Statuses as DeepFool's (radius/deepfool.hpp): zero_direction when g is
// zero at x, not_bracketed (radius = max_radius) when no flip is found.
//
// Cost: per step one fused forward + input-gradient pass (model_adapter's
// logits_and_input_gradient: its forward is the step's check for a flip) over the examples
// still searching, then one forward to check the last iterates: at most S + 1 forwards and
// S backwards, plus refine_probes forwards (and c − 1 more fused passes with select = linear).
#pragma once

#include "misd/radius/attack_point.hpp"
#include "misd/radius/boundary_refine.hpp"
#include "misd/radius/bracket.hpp"
#include "misd/radius/options.hpp"
#include "misd/radius/ray.hpp"
#include "misd/radius/result.hpp"
#include "misd/radius/threads.hpp"
#include "misd/radius/workspace.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

namespace misd {

namespace detail {

template <class M>
void rr_iter_block(M& model, const batch_t<M>& x, const rr_iter_options& o, radius_workspace<M>& ws,
                   radius_result& res) {
  using B = batch_t<M>;
  const std::size_t n = batch_ops<B>::rows(x);
  init_result(res, n);
  attack_iterates<M> it;
  it.start(x);
  const auto D = it.x0.cols();

  Eigen::Index K = 0;
  // At x: ŷ, and with select = linear the class of each example and its gradient there
  // (which the first step then takes).
  std::vector<int> fixed_class, target(n);
  host_matrix first_gradient, first_logits;
  it.collect_rows();
  if (o.select == rr_iter_select::linear) {
    std::vector<std::vector<int>> classes(n);
    std::size_t c = 1;
    fixed_class.assign(n, -1);
    std::vector<double> best(n, std::numeric_limits<double>::infinity());
    for (std::size_t r = 1; r <= c; ++r) {
      it.fused_pass(model, ws.model, x, true, res, "rr_iter: logits",
                    [&](const host_matrix& z, host_matrix& g) {
                      if (r == 1) {
                        argmax_rows(z, res.prediction);
                        K = z.cols();
                        c = std::min<std::size_t>(static_cast<std::size_t>(o.select_classes),
                                                  static_cast<std::size_t>(K) - 1);
                        for (std::size_t i = 0; i < n; ++i)
                          top_classes(z, static_cast<Eigen::Index>(i), c + 1, classes[i]);
                        first_logits = z;
                        first_gradient.setZero(static_cast<Eigen::Index>(n), D);
                      }
                      for (std::size_t i = 0; i < n; ++i) {
                        g(static_cast<Eigen::Index>(i), classes[i][r]) = 1;
                        g(static_cast<Eigen::Index>(i), classes[i][0]) = -1;
                      }
                    });
      for (std::size_t i = 0; i < n; ++i) {
        const auto e = static_cast<Eigen::Index>(i);
        const double l1 = it.w.row(e).cwiseAbs().sum();
        if (l1 == 0)
          continue;
        const double d = (it.z(e, classes[i][0]) - it.z(e, classes[i][r])) / l1;
        if (fixed_class[i] < 0 || d < best[i]) {
          best[i] = d;
          fixed_class[i] = classes[i][r];
          first_gradient.row(e) = it.w.row(e);
        }
      }
    }
    for (std::size_t i = 0; i < n; ++i)
      if (fixed_class[i] < 0) // the gradient of every gap vanishes at x
        fixed_class[i] = classes[i][1];
  }

  int step = 0;
  for (; step < o.steps && !it.rows.empty(); ++step) {
    const bool clean = step == 0;
    if (clean && o.select == rr_iter_select::linear) {
      it.z = first_logits; // every example is active at the first step
      it.w = first_gradient;
      target = fixed_class;
    } else {
      if (!clean)
        it.gather(x);
      it.fused_pass(model, ws.model, x, clean, res, "rr_iter: logits",
                    [&](const host_matrix& z, host_matrix& g) {
                      if (clean) {
                        argmax_rows(z, res.prediction);
                        K = z.cols();
                      }
                      for (std::size_t j = 0; j < it.rows.size(); ++j) {
                        const std::size_t i = it.rows[j];
                        const auto r = static_cast<Eigen::Index>(j);
                        const int y = res.prediction[i];
                        if (argmax_row(z, r) != y) { // flipped: stops
                          it.flipped[i] = 1;
                          it.active[i] = 0;
                          continue;
                        }
                        int k = fixed_class.empty() ? -1 : fixed_class[i];
                        if (k < 0) // the runner-up at the iterate
                          for (Eigen::Index c = 0; c < K; ++c)
                            if (c != y && (k < 0 || z(r, c) > z(r, k)))
                              k = static_cast<int>(c);
                        target[i] = k;
                        g(r, k) = 1;
                        g(r, y) = -1;
                      }
                    });
    }
    for (std::size_t j = 0; j < it.rows.size(); ++j) {
      const std::size_t i = it.rows[j];
      if (!it.active[i])
        continue;
      const auto e = static_cast<Eigen::Index>(i), r = static_cast<Eigen::Index>(j);
      const double l1 = it.w.row(r).cwiseAbs().sum();
      if (l1 == 0) { // no step can move this example
        it.active[i] = 0;
        if (step == 0)
          write_zero_direction(res, i);
        continue;
      }
      const double margin = it.z(r, res.prediction[i]) - it.z(r, target[i]);
      const double s = std::min(margin / (l1 + 1e-6), o.trust_radius);
      const double size = o.overshoot * (s + o.floor);
      for (Eigen::Index f = 0; f < D; ++f)
        it.x(e, f) += size * sign_of(it.w(r, f));
      clamp_row(it.x, e, o.box);
    }
    it.collect_rows();
  }
  finish_attack(model, x, it, step == o.steps, o, ws, res, "rr_iter: logits at an iterate");
}
} // namespace detail

/// rr-iter writing into `res` and reusing `ws` (see the top of this file).
template <class M>
void rr_iter(M& model, const batch_t<M>& x, const rr_iter_options& o, radius_workspace<M>& ws,
             radius_result& res) {
  static_assert(detail::check_differentiable<M>());
  detail::validate(o);
  detail::require_input(x, "rr_iter");
  detail::over_row_blocks(x, o, ws, res,
                          [&](const batch_t<M>& xb, radius_workspace<M>& w, radius_result& r) {
                            detail::rr_iter_block(model, xb, o, w, r);
                          });
}

/// rr-iter: the radius as the L∞ length to the first flip on [x, x_a], x_a the end of a few
/// linearised steps towards the runner-up's boundary (see the top of this file).
template <class M>
radius_result rr_iter(M& model, const batch_t<M>& x, const rr_iter_options& o = {}) {
  radius_workspace<M> ws;
  radius_result res;
  rr_iter(model, x, o, ws, res);
  return res;
}

} // namespace misd
