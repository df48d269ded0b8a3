// misd/radius/rr_bs.hpp -- RR-BS: robust radius by boundary search (paper Algorithm 1).
#pragma once

#include "misd/attack/pgd.hpp"
#include "misd/radius/options.hpp"
#include "misd/radius/workspace.hpp"

#include <algorithm>
#include <limits>

namespace misd {

namespace detail {
/// The shared search: `probe(r, p)` returns the batch to evaluate at radii r on probe p
/// and adds its own cost to `res`. Examples flagged in `skip` (a zero attack direction) are
/// not searched and end as zero_direction; `skip` is read again after every probe, so the
/// first probe may fill it in (rr_bs_pgd does, from PGD's first step).
template <class M, class Probe>
void boundary_search(M& model, const robust_radius_options& o, const std::vector<bool>& skip,
                     radius_result& res, Probe&& probe) {
  const auto n = static_cast<Eigen::Index>(res.prediction.size());
  host_vector lo = host_vector::Constant(n, o.r0);
  host_vector hi = host_vector::Constant(n, std::numeric_limits<double>::infinity());
  std::vector<bool> active(static_cast<std::size_t>(n));
  for (Eigen::Index i = 0; i < n; ++i)
    active[i] = !skip[i];
  host_vector r(n);
  host_matrix z;
  label_vector pred;
  for (int p = 1; p < o.budget; ++p) {
    bool any = false;
    for (Eigen::Index i = 0; i < n; ++i) {
      r[i] = next_probe(lo[i], hi[i], o);
      any = any || active[i];
    }
    if (!any)
      break;
    checked_logits(model, probe(r, p), z, "logits at an RR-BS probe");
    res.forwards += 1;
    res.example_forwards += static_cast<std::size_t>(n);
    argmax_rows(z, pred);
    for (Eigen::Index i = 0; i < n; ++i) {
      if (skip[i])
        active[i] = false;
      if (!active[i])
        continue;
      (pred[i] == res.prediction[i] ? lo[i] : hi[i]) = r[i];
      active[i] = search_goes_on(lo[i], hi[i], o);
    }
  }
  for (Eigen::Index i = 0; i < n; ++i) {
    if (skip[i]) {
      res.status[i] = radius_status::zero_direction;
      continue; // radius 0, lower 0, upper inf
    }
    res.lower[i] = lo[i];
    res.upper[i] = hi[i];
    const bool found = std::isfinite(hi[i]);
    res.status[i] = found ? radius_status::bracketed : radius_status::not_bracketed;
    res.radius[i] = found ? (lo[i] + hi[i]) / 2 : lo[i];
  }
}

/// RR-BS (FGSM base) on one block of rows with a workspace. Each pass evaluates only the
/// examples still searching: those with a bracket narrower than the tolerance or capped
/// at max_radius are left out, so their probes cost nothing.
///
/// With o.steps_per_pass = s > 1, a pass resolves s steps of the search at once: for each
/// example it evaluates the tree of every point the next s steps could probe (the probe
/// after a "same class" outcome and the one after a flip, down to depth s; branches where
/// the search would stop are not grown), then walks the tree along the outcomes. Every
/// step uses next_probe / search_goes_on as the one-step search does, so the brackets are
/// the same bit for bit.
template <class M>
void rr_bs_block(M& model, const batch_t<M>& x, const robust_radius_options& o,
                 radius_workspace<M>& ws, radius_result& res) {
  constexpr std::size_t none = static_cast<std::size_t>(-1);
  const std::size_t n = batch_ops<batch_t<M>>::rows(x);
  init_result(res, n);
  clean_pass(model, x, o.temperature, ws, res, "rr_bs");
  const int steps = o.steps_per_pass;
  const std::size_t tree = (std::size_t{1} << steps) - 1; // most points per example per pass
  size_to(ws.lo, n);
  size_to(ws.hi, n);
  size_to(ws.active, n);
  size_to(ws.first_node, n);
  size_to(ws.owner, n * tree);
  size_to(ws.at, n * tree);
  size_to(ws.node_same, n * tree);
  size_to(ws.node_flip, n * tree);
  ws.lo.setConstant(o.r0);
  ws.hi.setConstant(std::numeric_limits<double>::infinity());
  for (std::size_t i = 0; i < n; ++i)
    ws.active[i] = !ws.zero[i];
  std::size_t count = 0;
  // Adds the probe the search takes next from [lo, hi] and, with more than one step left,
  // the subtrees after either outcome; returns the probe's index.
  auto grow = [&](auto& self, std::size_t i, double lo, double hi, int left) -> std::size_t {
    const std::size_t j = count++;
    const double r = next_probe(lo, hi, o);
    ws.owner[j] = i;
    ws.at[j] = r;
    ws.node_same[j] = ws.node_flip[j] = none;
    if (left > 1) {
      if (search_goes_on(r, hi, o))
        ws.node_same[j] = self(self, i, r, hi, left - 1);
      if (search_goes_on(lo, r, o))
        ws.node_flip[j] = self(self, i, lo, r, left - 1);
    }
    return j;
  };
  for (int done = 0; done < o.budget - 1; done += steps) {
    const int left = std::min(steps, o.budget - 1 - done);
    count = 0;
    for (std::size_t i = 0; i < n; ++i) {
      const auto e = static_cast<Eigen::Index>(i);
      ws.first_node[i] = ws.active[i] ? grow(grow, i, ws.lo[e], ws.hi[e], left) : none;
    }
    if (count == 0)
      break;
    evaluate_ray_points(model, x, o.box, count, n * tree, ws, res);
    for (std::size_t i = 0; i < n; ++i) {
      const auto e = static_cast<Eigen::Index>(i);
      for (std::size_t j = ws.first_node[i]; j != none;) {
        const bool same = argmax_row(ws.z_probe, static_cast<Eigen::Index>(j)) == res.prediction[i];
        (same ? ws.lo[e] : ws.hi[e]) = ws.at[j];
        ws.active[i] = search_goes_on(ws.lo[e], ws.hi[e], o);
        j = same ? ws.node_same[j] : ws.node_flip[j];
      }
    }
  }
  for (std::size_t i = 0; i < n; ++i) {
    const auto e = static_cast<Eigen::Index>(i);
    if (ws.zero[i]) {
      res.status[i] = radius_status::zero_direction;
      continue; // radius 0, lower 0, upper inf
    }
    res.lower[e] = ws.lo[e];
    res.upper[e] = ws.hi[e];
    const bool found = std::isfinite(ws.hi[e]);
    res.status[i] = found ? radius_status::bracketed : radius_status::not_bracketed;
    res.radius[e] = found ? (ws.lo[e] + ws.hi[e]) / 2 : ws.lo[e];
  }
}
} // namespace detail

/// RR-BS with the FGSM base, writing into `res` and reusing `ws` (no allocation once the
/// batch shape has been seen, for models with the in-place path and threads = 1). The
/// direction does not depend on the radius, so it is computed once: cost 1 backward +
/// `budget` forwards, and fewer example-forwards (res.example_forwards) with a tolerance.
template <class M>
void rr_bs(M& model, const batch_t<M>& x, const robust_radius_options& o, radius_workspace<M>& ws,
           radius_result& res) {
  static_assert(detail::check_differentiable<M>());
  detail::validate(o);
  detail::require_input(x, "rr_bs");
  detail::over_row_blocks(x, o, ws, res,
                          [&](const batch_t<M>& xb, radius_workspace<M>& w, radius_result& r) {
                            detail::rr_bs_block(model, xb, o, w, r);
                          });
}

/// RR-BS with the FGSM base: cost 1 backward + `budget` forwards (fewer with a tolerance;
/// 1 + ⌈(budget − 1)/steps_per_pass⌉ passes over more rows with steps_per_pass > 1).
template <class M>
radius_result rr_bs(M& model, const batch_t<M>& x, const robust_radius_options& o = {}) {
  radius_workspace<M> ws;
  radius_result res;
  rr_bs(model, x, o, ws, res);
  return res;
}

/// RR-BS with the PGD base: each probe runs PGD of radius r from x against ŷ
/// (k forwards + k backwards), then one forward to read the prediction.
///
/// An example whose attack direction at x, sign(∇_x CE(f(x)/T, ŷ)), is entirely zero is
/// flagged zero_direction (radius 0, as rr_bs and rr_fast do): PGD started at x would never
/// move from it. That direction is the first step of the first probe's PGD, read from it at
/// no extra cost; with pgd_random_start (PGD then never evaluates the gradient at x itself)
/// or a budget of 1 (no probe), one backward pass at x is spent on it instead.
template <class M>
radius_result rr_bs_pgd(M& model, const batch_t<M>& x, const robust_radius_options& o = {}) {
  static_assert(detail::check_differentiable<M>());
  using ops = batch_ops<batch_t<M>>;
  detail::validate(o);
  radius_result res;
  detail::init_result(res, ops::rows(x));
  detail::require_batch(x, "rr_bs_pgd");
  detail::require_finite_input(x, "rr_bs_pgd");
  host_matrix z;
  const bool direction_from_pgd = !o.pgd_random_start && o.budget > 1;
  std::vector<bool> zero(ops::rows(x), false);
  if (direction_from_pgd) {
    detail::checked_logits(model, x, z, "logits");
    detail::argmax_rows(z, res.prediction);
  } else {
    zero = detail::zero_rows(detail::logits_and_loss_direction(
        model, x, z, o.temperature, 1.0, [&](const host_matrix& logits) -> const label_vector& {
          detail::argmax_rows(logits, res.prediction);
          return res.prediction;
        }));
    res.backwards += 1;
  }
  res.forwards += 1;
  res.example_forwards += ops::rows(x);
  pgd_options po;
  po.temperature = o.temperature;
  po.box = o.box;
  po.steps = o.pgd_steps;
  po.step_fraction = o.pgd_step_fraction;
  po.random_start = o.pgd_random_start;
  batch_t<M> first_direction;
  detail::boundary_search(model, o, zero, res, [&](const host_vector& r, int p) {
    po.seed = o.seed + static_cast<std::uint64_t>(p);
    res.forwards += static_cast<std::size_t>(o.pgd_steps);
    res.example_forwards += static_cast<std::size_t>(o.pgd_steps) * res.prediction.size();
    res.backwards += static_cast<std::size_t>(o.pgd_steps);
    if (p > 1 || !direction_from_pgd)
      return pgd(model, x, res.prediction, r, po);
    // PGD from x (no random start): its first step's direction is the one at x.
    auto out = detail::pgd_run(model, x, res.prediction, r, po, &first_direction);
    zero = detail::zero_rows(first_direction);
    return out;
  });
  return res;
}

} // namespace misd
