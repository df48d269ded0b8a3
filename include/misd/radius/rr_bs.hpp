// misd/radius/rr_bs.hpp -- RR-BS: robust radius by boundary search (paper Algorithm 1).
#pragma once

#include "misd/attack/pgd.hpp"
#include "misd/radius/bracket.hpp"
#include "misd/radius/options.hpp"
#include "misd/radius/ray.hpp"
#include "misd/radius/result.hpp"
#include "misd/radius/threads.hpp"
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
void boundary_search(M& model, const ray_search_options& o, const std::vector<unsigned char>& skip,
                     radius_result& res, Probe&& probe) {
  const std::size_t n = res.prediction.size();
  std::vector<rr_bs_bracket> bracket(n, rr_bs_bracket::start(o));
  std::vector<bool> active(n);
  for (std::size_t i = 0; i < n; ++i)
    active[i] = !skip[i];
  host_vector r(static_cast<Eigen::Index>(n));
  host_matrix z;
  label_vector pred;
  model_buffers<M> buffers;
  model_adapter<M> m(model, buffers);
  for (int p = 1; p < o.budget; ++p) {
    bool any = false;
    for (std::size_t i = 0; i < n; ++i) {
      r[static_cast<Eigen::Index>(i)] = bracket[i].next(o);
      any = any || active[i];
    }
    if (!any)
      break;
    const auto points = probe(r, p);
    m.logits(points, n, z, "logits at an RR-BS probe");
    res.forwards += 1;
    res.example_forwards += n;
    argmax_rows(z, pred);
    for (std::size_t i = 0; i < n; ++i) {
      if (skip[i])
        active[i] = false;
      if (!active[i])
        continue;
      bracket[i].record(r[static_cast<Eigen::Index>(i)], pred[i] != res.prediction[i]);
      active[i] = bracket[i].goes_on(o);
    }
  }
  for (std::size_t i = 0; i < n; ++i) {
    if (skip[i])
      write_zero_direction(res, i);
    else
      write_bracket(res, i, bracket[i]);
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
void rr_bs_block(M& model, const batch_t<M>& x, const rr_bs_options& o, radius_workspace<M>& ws,
                 radius_result& res) {
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
  auto grow = [&](auto& self, std::size_t i, rr_bs_bracket b, int left) -> std::size_t {
    const std::size_t j = count++;
    const double r = b.next(o);
    ws.owner[j] = i;
    ws.at[j] = r;
    ws.node_same[j] = ws.node_flip[j] = none;
    if (left > 1) {
      for (const bool flipped : {false, true}) {
        rr_bs_bracket after = b;
        after.record(r, flipped);
        if (after.goes_on(o))
          (flipped ? ws.node_flip[j] : ws.node_same[j]) = self(self, i, after, left - 1);
      }
    }
    return j;
  };
  for (int done = 0; done < o.budget - 1; done += steps) {
    const int left = std::min(steps, o.budget - 1 - done);
    count = 0;
    for (std::size_t i = 0; i < n; ++i) {
      const auto e = static_cast<Eigen::Index>(i);
      ws.first_node[i] =
          ws.active[i] ? grow(grow, i, rr_bs_bracket{ws.lo[e], ws.hi[e]}, left) : none;
    }
    if (count == 0)
      break;
    evaluate_ray_points(model, x, o.box, count, n * tree, ws, res);
    for (std::size_t i = 0; i < n; ++i) {
      const auto e = static_cast<Eigen::Index>(i);
      rr_bs_bracket b{ws.lo[e], ws.hi[e]};
      for (std::size_t j = ws.first_node[i]; j != none;) {
        const bool flipped =
            argmax_row(ws.z_probe, static_cast<Eigen::Index>(j)) != res.prediction[i];
        b.record(ws.at[j], flipped);
        ws.active[i] = b.goes_on(o);
        j = flipped ? ws.node_flip[j] : ws.node_same[j];
      }
      ws.lo[e] = b.lo;
      ws.hi[e] = b.hi;
    }
  }
  for (std::size_t i = 0; i < n; ++i) {
    const auto e = static_cast<Eigen::Index>(i);
    if (ws.zero[i])
      write_zero_direction(res, i);
    else
      write_bracket(res, i, rr_bs_bracket{ws.lo[e], ws.hi[e]});
  }
}
/// RR-BS with the PGD base on one block of rows (rr_bs_pgd below).
template <class M>
void rr_bs_pgd_block(M& model, const batch_t<M>& x, const rr_bs_pgd_options& o,
                     radius_result& res) {
  using ops = batch_ops<batch_t<M>>;
  const std::size_t n = ops::rows(x);
  init_result(res, n);
  host_matrix z;
  const bool direction_from_pgd = !o.pgd_random_start && o.budget > 1;
  std::vector<unsigned char> zero(n, 0);
  model_buffers<M> buffers;
  model_adapter<M> m(model, buffers);
  if (direction_from_pgd) {
    m.logits(x, n, z, "logits");
    argmax_rows(z, res.prediction);
  } else {
    zero_rows_of(logits_and_loss_direction(model, x, z, o.temperature, 1.0,
                                           [&](const host_matrix& logits) -> const label_vector& {
                                             argmax_rows(logits, res.prediction);
                                             return res.prediction;
                                           }),
                 zero);
    res.backwards += 1;
  }
  res.forwards += 1;
  res.example_forwards += n;
  pgd_options po;
  po.temperature = o.temperature;
  po.box = o.box;
  po.steps = o.pgd_steps;
  po.step_fraction = o.pgd_step_fraction;
  po.random_start = o.pgd_random_start;
  std::optional<batch_t<M>> first_direction;
  boundary_search(model, o, zero, res, [&](const host_vector& r, int p) {
    po.seed = o.seed + static_cast<std::uint64_t>(p);
    res.forwards += static_cast<std::size_t>(o.pgd_steps);
    res.example_forwards += static_cast<std::size_t>(o.pgd_steps) * n;
    res.backwards += static_cast<std::size_t>(o.pgd_steps);
    if (p > 1 || !direction_from_pgd)
      return pgd(model, x, res.prediction, r, po);
    // PGD from x (no random start): its first step's direction is the one at x.
    auto out = pgd_run(model, x, res.prediction, r, po, &first_direction);
    zero_rows_of(*first_direction, zero);
    return out;
  });
}
} // namespace detail

/// RR-BS with the FGSM base, writing into `res` and reusing `ws` (no allocation once the
/// batch shape has been seen, for models with the in-place path and threads = 1). The
/// direction does not depend on the radius, so it is computed once: cost 1 backward +
/// `budget` forwards, and fewer example-forwards (res.example_forwards) with a tolerance.
template <class M>
void rr_bs(M& model, const batch_t<M>& x, const rr_bs_options& o, radius_workspace<M>& ws,
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
radius_result rr_bs(M& model, const batch_t<M>& x, const rr_bs_options& o = {}) {
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
radius_result rr_bs_pgd(M& model, const batch_t<M>& x, const rr_bs_pgd_options& o = {}) {
  static_assert(detail::check_differentiable<M>());
  detail::validate(o);
  detail::require_input(x, "rr_bs_pgd");
  radius_workspace<M> ws;
  radius_result res;
  detail::over_row_blocks(x, o, ws, res,
                          [&](const batch_t<M>& xb, radius_workspace<M>&, radius_result& r) {
                            detail::rr_bs_pgd_block(model, xb, o, r);
                          });
  return res;
}

} // namespace misd
