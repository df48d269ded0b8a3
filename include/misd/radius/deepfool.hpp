// misd/radius/deepfool.hpp -- DeepFool-L∞ (Moosavi-Dezfooli et al., 2016, in the form of
// Foolbox's LinfDeepFoolAttack) followed by the bisection of radius/boundary_refine.hpp.
//
// Candidates i_0 = ŷ, i_1, ..., i_{C−1}: the C = min(candidates, K) classes with the
// largest logits at x, fixed for all steps. From p = 0, x_0 = x, each step, for the
// examples not yet flipped at their iterate x_t (checked at the step's start):
//   f_k = z_{i_k}(x_t) − z_{i_0}(x_t),  w_k = ∇f_k (one input gradient per k, upstream
//   e_{i_k} − e_{i_0}),  d_k = |f_k| / (‖w_k‖₁ + 1e−8),  l = argmin_k d_k,
//   p += (d_l + 1e−4)·sign(w_l),  x_{t+1} = clamp(x + (1 + overshoot)·p)
// (overshoot scales the accumulated step; clamp into options.box, none without one).
// Flipped examples stop; after `steps` steps the last iterates are checked once more, and
// refine_along bisects [x, x_a] for the flipped ones.
//
// Statuses: bracketed (a flip found: radius = the bisection's upper end), not_bracketed
// (none within the steps: radius = max_radius, +inf by default), zero_direction (every w_k
// is zero at x: the model is flat there). An example whose w_k all vanish at a later iterate
// cannot move again and stops (not_bracketed unless it flipped).
//
// Cost: per step 1 forward + C − 1 input gradients over the examples still searching; in
// all at most steps·C + 1 forwards and backwards, plus refine_probes forwards.
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
void deepfool_block(M& model, const batch_t<M>& x, const deepfool_options& o,
                    radius_workspace<M>& ws, radius_result& res) {
  using B = batch_t<M>;
  const std::size_t n = batch_ops<B>::rows(x);
  init_result(res, n);
  attack_iterates<M> it;
  it.start(x);
  const auto D = it.x0.cols();

  std::size_t K = 0, C = 0;
  std::vector<std::vector<int>> classes(n);
  host_matrix p = host_matrix::Zero(static_cast<Eigen::Index>(n), D);
  host_matrix step_sign(static_cast<Eigen::Index>(n), D);
  std::vector<double> best(n);
  std::vector<unsigned char> moved(n);
  it.collect_rows();
  int step = 0;
  for (; step < o.steps && !it.rows.empty(); ++step) {
    const bool clean = step == 0; // the clean batch serves the first step
    if (!clean)
      it.gather(x);
    for (const std::size_t i : it.rows) {
      best[i] = std::numeric_limits<double>::infinity();
      moved[i] = 0;
    }
    for (std::size_t c = 1; c == 1 || c < C; ++c) {
      // The first pass of a step also checks for flips (and, at x, finds ŷ and the classes).
      it.fused_pass(model, ws.model, x, clean, res, "deepfool: logits",
                    [&](const host_matrix& z, host_matrix& g) {
                      if (clean && c == 1) {
                        argmax_rows(z, res.prediction);
                        K = static_cast<std::size_t>(z.cols());
                        C = std::min(static_cast<std::size_t>(o.candidates), K);
                        for (std::size_t i = 0; i < n; ++i)
                          top_classes(z, static_cast<Eigen::Index>(i), C, classes[i]);
                      }
                      for (std::size_t j = 0; j < it.rows.size(); ++j) {
                        const std::size_t i = it.rows[j];
                        const auto r = static_cast<Eigen::Index>(j);
                        if (c == 1 && argmax_row(z, r) != res.prediction[i]) {
                          it.flipped[i] = 1;
                          it.active[i] = 0;
                          continue;
                        }
                        g(r, classes[i][c]) = 1;
                        g(r, classes[i][0]) = -1;
                      }
                    });
      for (std::size_t j = 0; j < it.rows.size(); ++j) {
        const std::size_t i = it.rows[j];
        if (!it.active[i])
          continue;
        const auto r = static_cast<Eigen::Index>(j), e = static_cast<Eigen::Index>(i);
        const auto& cl = classes[i];
        const double l1 = it.w.row(r).cwiseAbs().sum();
        const double d = std::abs(it.z(r, cl[c]) - it.z(r, cl[0])) / (l1 + 1e-8);
        if (l1 > 0)
          moved[i] = 1;
        if (d < best[i]) { // ties: the earlier candidate, as argmin
          best[i] = d;
          for (Eigen::Index f = 0; f < D; ++f)
            step_sign(e, f) = sign_of(it.w(r, f));
        }
      }
      if (c == 1) {
        it.compact(x);
        if (it.rows.empty())
          break;
      }
    }
    for (const std::size_t i : it.rows) {
      const auto e = static_cast<Eigen::Index>(i);
      if (!moved[i]) { // every w_k is zero: no step can move this example
        it.active[i] = 0;
        if (step == 0)
          write_zero_direction(res, i);
        continue;
      }
      p.row(e) += (best[i] + 1e-4) * step_sign.row(e);
      it.x.row(e) = it.x0.row(e) + (1 + o.overshoot) * p.row(e);
      clamp_row(it.x, e, o.box);
    }
    it.collect_rows();
  }
  finish_attack(model, x, it, step == o.steps, o, ws, res, "deepfool: logits at an iterate");
}
} // namespace detail

/// DeepFool-L∞ writing into `res` and reusing `ws` (see the top of this file).
template <class M>
void deepfool(M& model, const batch_t<M>& x, const deepfool_options& o, radius_workspace<M>& ws,
              radius_result& res) {
  static_assert(detail::check_differentiable<M>());
  detail::validate(o);
  detail::require_input(x, "deepfool");
  detail::over_row_blocks(x, o, ws, res,
                          [&](const batch_t<M>& xb, radius_workspace<M>& w, radius_result& r) {
                            detail::deepfool_block(model, xb, o, w, r);
                          });
}

/// DeepFool-L∞: the radius as the L∞ length to the first flip on [x, x_a], x_a DeepFool's
/// attack point (see the top of this file).
template <class M>
radius_result deepfool(M& model, const batch_t<M>& x, const deepfool_options& o = {}) {
  radius_workspace<M> ws;
  radius_result res;
  deepfool(model, x, o, ws, res);
  return res;
}

} // namespace misd
