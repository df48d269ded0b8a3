// misd/radius/fab.hpp -- FAB-L∞: the fast adaptive boundary attack (Croce & Hein), as
// AutoAttack runs it (its fab-t by default), as a robust-radius estimator: the least L∞
// distance at which it finds a flip, refined by bisection on the segment to that point
// (radius/boundary_refine.hpp). docs/algorithms.md, "FAB-L∞".
#pragma once

#include "misd/detail/random.hpp"
#include "misd/radius/boundary_refine.hpp"
#include "misd/radius/bracket.hpp"
#include "misd/radius/linf_projection.hpp"
#include "misd/radius/options.hpp"
#include "misd/radius/ray.hpp"
#include "misd/radius/result.hpp"
#include "misd/radius/threads.hpp"
#include "misd/radius/workspace.hpp"

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <numeric>
#include <span>
#include <vector>

namespace misd {

/// FAB-L∞. The defaults are AutoAttack's fab-t: targeted at the 9 classes with the next
/// largest logits at x (fewer when K − 1 < 9), one run of 100 iterations each. The
/// temperature is not used: the steps depend on logit differences only.
struct fab_options : minimal_perturbation_options {
  bool targeted = true;   ///< false: untargeted (every class ≠ ŷ linearised each step)
  int target_classes = 9; ///< targeted: runs, one per class after ŷ by logit at x
  int restarts = 1;       ///< runs per target (untargeted: in all); the first starts at x
  int iterations = 100;   ///< per run; each: 2 forwards + 1 input gradient (K − 1 untargeted)
  double alpha_max = 0.1; ///< cap on the weight of the step from x in each update
  double eta = 1.05;      ///< overshoot of the projected steps
  double beta = 0.9;      ///< after a flip, x1 ← x + β (x1 − x)
  double epsilon = 0.3;   ///< restarts start within ½·min(best, ε) of x (L∞)
  std::uint64_t seed = 0; ///< random starts of the restarts
};

namespace detail {
inline void validate(const fab_options& o) {
  validate(static_cast<const minimal_perturbation_options&>(o));
  if (o.iterations < 1)
    throw invalid_argument(message("fab: iterations = ", o.iterations, " must be >= 1"));
  if (o.restarts < 1)
    throw invalid_argument(message("fab: restarts = ", o.restarts, " must be >= 1"));
  if (o.target_classes < 1)
    throw invalid_argument(message("fab: target_classes = ", o.target_classes, " must be >= 1"));
  if (!(o.alpha_max >= 0 && o.alpha_max <= 1))
    throw invalid_argument(message("fab: alpha_max = ", o.alpha_max, " must be in [0, 1]"));
  if (!(o.eta >= 1) || !std::isfinite(o.eta))
    throw invalid_argument(message("fab: eta = ", o.eta,
                                   " must be finite and >= 1 (the step must reach the "
                                   "linearised boundary)"));
  if (!(o.beta > 0 && o.beta <= 1))
    throw invalid_argument(message("fab: beta = ", o.beta, " must be in (0, 1]"));
  if (!(o.epsilon > 0) || !std::isfinite(o.epsilon))
    throw invalid_argument(message("fab: epsilon = ", o.epsilon, " must be finite and > 0"));
}

/// The seed of example `row`'s random start in run (target, restart): one splitmix64 stream
/// per example, so a row gets the same start whatever block or thread it runs in.
inline std::uint64_t fab_start_seed(std::uint64_t seed, std::size_t row, int target, int restart) {
  splitmix64 g{seed};
  g.state = g.next() ^ static_cast<std::uint64_t>(row);
  g.state = g.next() ^ static_cast<std::uint64_t>(target);
  g.state = g.next() ^ static_cast<std::uint64_t>(restart);
  return g.next();
}

/// What FAB's search found before the refinement, per example.
struct fab_search_result {
  host_vector best;                    ///< least ‖x_a − x‖∞ of a flip found (+inf: none)
  host_matrix attack;                  ///< x_a (rows without a flip: x)
  std::vector<unsigned char> flipped;  ///< whether a flip was found
  std::vector<unsigned char> gradient; ///< whether any input gradient was nonzero
};

/// FAB's search on one block of rows (first_row: the block's first row in the batch, which
/// seeds the random starts). Fills res.prediction and the pass counters.
template <class M>
void fab_search(M& model, const batch_t<M>& x, std::size_t first_row, const fab_options& o,
                radius_workspace<M>& ws, radius_result& res, fab_search_result& out) {
  using B = batch_t<M>;
  using ops = batch_ops<B>;
  constexpr double inf = std::numeric_limits<double>::infinity();
  const std::size_t n = ops::rows(x);
  const auto rows = static_cast<Eigen::Index>(n);
  model_adapter<M> m(model, ws.model);
  host_matrix x0;
  ops::to_host(x, x0);
  const auto dim = static_cast<std::size_t>(x0.cols());
  host_matrix& z = ws.z0;
  m.logits(x, n, z, "fab: logits");
  res.forwards += 1;
  res.example_forwards += n;
  argmax_rows(z, res.prediction);
  const auto classes = static_cast<std::size_t>(z.cols());
  // Classes by logit at x, largest first (ties: lowest index first, as argmax): row i's
  // target j is ranked(i, j + 1).
  std::vector<int> ranked(n * classes);
  for (std::size_t i = 0; i < n; ++i) {
    auto r = ranked.begin() + static_cast<std::ptrdiff_t>(i * classes);
    std::iota(r, r + static_cast<std::ptrdiff_t>(classes), 0);
    const auto e = static_cast<Eigen::Index>(i);
    std::stable_sort(r, r + static_cast<std::ptrdiff_t>(classes),
                     [&](int a, int b) { return z(e, a) > z(e, b); });
  }
  const int runs = o.targeted ? std::min(o.target_classes, static_cast<int>(classes) - 1) : 1;

  out.best.setConstant(rows, inf);
  out.attack = x0;
  out.flipped.assign(n, 0);
  out.gradient.assign(n, 0);
  std::vector<double> lo, hi;
  if (o.box) {
    lo.assign(dim, o.box->lo);
    hi.assign(dim, o.box->hi);
  }
  host_matrix x1(rows, x0.cols()), w(rows, x0.cols()), grad;
  host_matrix& g = ws.g;
  host_vector f(rows);
  std::vector<double> d1(dim), d2(dim);
  linf_projection_workspace pw;
  label_vector target(n), pred;
  // x1 as a batch, and back: the host copy holds exactly what the model evaluates.
  std::optional<B> xb;
  auto to_batch = [&] {
    xb.emplace(ops::from_host(x1, x));
    ops::to_host(*xb, x1);
  };
  auto upstream = [&](const label_vector& k) -> const host_matrix& {
    g.setZero(rows, static_cast<Eigen::Index>(classes));
    for (std::size_t i = 0; i < n; ++i) {
      g(static_cast<Eigen::Index>(i), k[i]) += 1.0;
      g(static_cast<Eigen::Index>(i), res.prediction[i]) -= 1.0;
    }
    return g;
  };

  for (int run = 0; run < runs; ++run) {
    if (o.targeted)
      for (std::size_t i = 0; i < n; ++i)
        target[i] = ranked[i * classes + static_cast<std::size_t>(run) + 1];
    for (int restart = 0; restart < o.restarts; ++restart) {
      x1 = x0;
      if (restart > 0)
        for (std::size_t i = 0; i < n; ++i) {
          const auto e = static_cast<Eigen::Index>(i);
          splitmix64 gen{fab_start_seed(o.seed, first_row + i, run, restart)};
          auto row = x1.row(e);
          double vmax = 0;
          for (Eigen::Index j = 0; j < row.size(); ++j) {
            row[j] = gen.symmetric();
            vmax = std::max(vmax, std::abs(row[j]));
          }
          const double scale = vmax > 0 ? 0.5 * std::min(out.best[e], o.epsilon) / vmax : 0.0;
          row = x0.row(e) + scale * row;
          if (o.box)
            row = row.cwiseMax(o.box->lo).cwiseMin(o.box->hi);
        }
      for (int it = 0; it < o.iterations; ++it) {
        to_batch();
        // w = ∇(z_t − z_ŷ) at x1, f = z_t − z_ŷ; untargeted: the class k ≠ ŷ of least
        // linearised distance |f_k| / ‖∇f_k‖₁.
        if (o.targeted) {
          const auto& dx = m.logits_and_input_gradient(
              *xb, z,
              "fab: logits", [&](const host_matrix&) -> const auto& { return upstream(target); });
          ops::to_host(dx, w);
          res.backwards += 1;
          for (std::size_t i = 0; i < n; ++i) {
            const auto e = static_cast<Eigen::Index>(i);
            f[e] = z(e, target[i]) - z(e, res.prediction[i]);
          }
        } else {
          host_vector least = host_vector::Constant(rows, inf);
          label_vector k(n);
          for (std::size_t c = 0; c + 1 < classes; ++c) {
            for (std::size_t i = 0; i < n; ++i) // the c-th class other than ŷ
              k[i] = static_cast<int>(c) + (static_cast<int>(c) >= res.prediction[i] ? 1 : 0);
            if (c == 0)
              ops::to_host(m.logits_and_input_gradient(
                               *xb, z, "fab: logits",
                               [&](const host_matrix&) -> const auto& { return upstream(k); }),
                           grad);
            else
              ops::to_host(m.input_gradient(*xb, upstream(k)), grad);
            res.backwards += 1;
            for (std::size_t i = 0; i < n; ++i) {
              const auto e = static_cast<Eigen::Index>(i);
              const double fk = z(e, k[i]) - z(e, res.prediction[i]);
              const double dist = std::abs(fk) / (grad.row(e).cwiseAbs().sum() + 1e-12);
              if (c == 0 || dist < least[e]) {
                least[e] = dist;
                f[e] = fk;
                w.row(e) = grad.row(e);
              }
            }
          }
        }
        res.forwards += 1;
        res.example_forwards += n;
        for (std::size_t i = 0; i < n; ++i) {
          const auto e = static_cast<Eigen::Index>(i);
          const auto wi = w.row(e);
          if (!out.gradient[i] && (wi.array() != 0).any())
            out.gradient[i] = 1;
          // H = {u : w·u = w·x1 − f}, the zero of f linearised at x1.
          const std::span<const double> ws_w(wi.data(), dim), u1(x1.row(e).data(), dim),
              u0(x0.row(e).data(), dim);
          const double b = wi.dot(x1.row(e)) - f[e];
          const double a1 = std::max(linf_projection(u1, ws_w, b, lo, hi, d1, pw).step, 1e-8);
          const double a2 = std::max(linf_projection(u0, ws_w, b, lo, hi, d2, pw).step, 1e-8);
          const double alpha = std::min(a1 / (a1 + a2), o.alpha_max);
          auto row = x1.row(e);
          for (std::size_t j = 0; j < dim; ++j) {
            const auto c = static_cast<Eigen::Index>(j);
            double v = (1 - alpha) * (row[c] + o.eta * d1[j]) + alpha * (u0[j] + o.eta * d2[j]);
            if (o.box)
              v = std::clamp(v, o.box->lo, o.box->hi);
            row[c] = v;
          }
        }
        to_batch();
        m.logits(*xb, n, z, "fab: logits at an iterate");
        res.forwards += 1;
        res.example_forwards += n;
        argmax_rows(z, pred);
        for (std::size_t i = 0; i < n; ++i) {
          if (pred[i] == res.prediction[i])
            continue;
          const auto e = static_cast<Eigen::Index>(i);
          const double r = (x1.row(e) - x0.row(e)).cwiseAbs().maxCoeff();
          if (r < out.best[e]) {
            out.best[e] = r;
            out.attack.row(e) = x1.row(e);
            out.flipped[i] = 1;
          }
          x1.row(e) = x0.row(e) + o.beta * (x1.row(e) - x0.row(e));
        }
      }
    }
  }
}

/// FAB on one block of rows: the search, then the bisection on [x, x_a].
template <class M>
void fab_block(M& model, const batch_t<M>& x, std::size_t first_row, const fab_options& o,
               radius_workspace<M>& ws, radius_result& res) {
  const std::size_t n = batch_ops<batch_t<M>>::rows(x);
  init_result(res, n);
  fab_search_result found;
  fab_search(model, x, first_row, o, ws, res, found);
  for (std::size_t i = 0; i < n; ++i)
    if (!found.flipped[i] && !found.gradient[i])
      write_zero_direction(res, i);
  const batch_t<M> xa = batch_ops<batch_t<M>>::from_host(found.attack, x);
  refine_along(model, x, xa, found.flipped, o, ws, res);
}
} // namespace detail

/// FAB-L∞ (docs/algorithms.md): per example the least-L∞ flip found over the targets and
/// restarts, then bisected on the segment from x (o.refine_probes forwards). Cost per
/// iteration over the batch: 2 forwards + 1 input gradient (K − 1 untargeted); runs
/// min(target_classes, K − 1) · restarts · iterations targeted, restarts · iterations not.
/// An example whose input gradient was zero at every iterate and that never flipped (a
/// locally constant model) is zero_direction.
template <class M>
void fab(M& model, const batch_t<M>& x, const fab_options& o, radius_workspace<M>& ws,
         radius_result& res) {
  static_assert(detail::check_differentiable<M>());
  detail::validate(o);
  detail::require_input(x, "fab");
  detail::over_row_blocks(x, o, ws, res,
                          [&](const batch_t<M>& xb, radius_workspace<M>& w, radius_result& r,
                              std::size_t first) { detail::fab_block(model, xb, first, o, w, r); });
}

/// FAB-L∞ (above).
template <class M>
radius_result fab(M& model, const batch_t<M>& x, const fab_options& o = {}) {
  radius_workspace<M> ws;
  radius_result res;
  fab(model, x, o, ws, res);
  return res;
}

} // namespace misd
