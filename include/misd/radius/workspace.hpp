// misd/radius/workspace.hpp -- buffers that the ray-based estimators (RR-BS, RR-Fast,
// RR-Refine) reuse between calls, the in-place model interface they use when a model
// offers it, and the split of a batch over threads.
//
// A model may offer, besides logits / input_gradient, an in-place path (detected, optional):
//
//   struct scratch_type { ... };                         // default-constructible buffers
//   void logits_into(const batch_type& x, Eigen::Index rows, batch_type& z, scratch_type& s);
//        // logits of the first `rows` examples of x into the first `rows` rows of z
//   void input_gradient_into(const batch_type& x, const batch_type& g, batch_type& dx,
//                            scratch_type& s);
//        // called right after logits_into(x, x.rows(), z, s) with the same x and s, so a
//        // model may reuse what its forward pass left in s
//
// With that path and a backend whose batch_ops has the in-place row operations (the Eigen
// backend does: ray_points, copy_rows, sign_into, from_host_into, to_host_rows, zero_rows),
// an estimator called again with the same batch shape and the same workspace allocates
// nothing, and examples whose search is over are left out of later probes. Otherwise the
// estimators fall back to the value-returning calls on the whole batch.
#pragma once

#include "misd/attack/fgsm.hpp"
#include "misd/detail/model_calls.hpp"
#include "misd/detail/worker_pool.hpp"
#include "misd/radius/options.hpp"

#include <algorithm>
#include <cstddef>
#include <optional>
#include <string_view>
#include <type_traits>
#include <vector>

namespace misd {

namespace detail {
template <class M>
concept has_inplace_path = has_batch_type<M> && requires {
  typename std::remove_cvref_t<M>::scratch_type;
} && std::default_initializable<typename std::remove_cvref_t<M>::scratch_type> &&
    requires(M& m, const batch_t<M>& x, batch_t<M>& z,
             typename std::remove_cvref_t<M>::scratch_type& s, Eigen::Index n) {
  m.logits_into(x, n, z, s);
  m.input_gradient_into(x, x, z, s);
};

/// Backend operations that gather probe points of any rows, each row any number of times,
/// into one batch: a pass over several points per example (RR-BS's steps_per_pass, RR-Refine's
/// pairs) is then one forward pass. The LibTorch adapter has these, not the in-place rest.
template <class B>
concept has_ray_points = requires(const B& x, B& out, const std::size_t* rows, const double* t,
                                  std::size_t n) {
  batch_ops<B>::ray_points(x, x, rows, t, n, n, t, t, out);
  batch_ops<B>::copy_rows(x, n, n, out);
};

template <class B>
concept has_row_ops = has_ray_points<B> &&
    requires(const B& x, B& out, const std::size_t* rows, const double* t, std::size_t n,
             const host_matrix& h, host_matrix& ho, unsigned char* flags) {
  batch_ops<B>::ray_points(x, x, rows, t, n, n, t, t, out);
  batch_ops<B>::copy_rows(x, n, n, out);
  batch_ops<B>::sign_into(x, out);
  batch_ops<B>::from_host_into(h, out);
  batch_ops<B>::to_host_rows(x, n, ho);
  batch_ops<B>::zero_rows(x, flags);
};

struct no_scratch {};
template <class M, bool = has_inplace_path<M>>
struct scratch_of {
  using type = no_scratch;
};
template <class M>
struct scratch_of<M, true> {
  using type = typename std::remove_cvref_t<M>::scratch_type;
};
} // namespace detail

/// Buffers reused by rr_bs / rr_fast / rr_refine across calls. One per thread of the
/// caller; after the first call with a given batch shape, calls allocate nothing (with
/// a model that has the in-place path and threads = 1).
template <class M>
struct radius_workspace {
  using batch_type = batch_t<M>;

  // Batches (optional: a backend's batch need not be default-constructible).
  std::optional<batch_type> probe, probe_logits, clean_logits, upstream, gradient, direction;
  typename detail::scratch_of<M>::type scratch;
  // Host-side logits and gradients.
  host_matrix z0, z_probe, g;
  // Probe points: example and ray parameter of each row of the probe batch.
  std::vector<std::size_t> owner;
  std::vector<double> at;
  std::vector<unsigned char> zero, active;
  // RR-BS with steps_per_pass > 1: each probe's successor after "same class" and after a
  // flip (an index into owner/at, or none), and each example's first probe of the pass.
  std::vector<std::size_t> node_same, node_flip, first_node;
  // Per-example search state.
  host_vector lo, hi, m_lo, m_hi, estimate, t_a, m_a, t_b, m_b;
  std::vector<int> used;
  // Row blocks for threads > 1.
  std::vector<radius_workspace> parts;
  std::vector<radius_result> part_results;
  std::vector<std::optional<batch_type>> part_inputs;
};

namespace detail {

template <class V>
void size_to(V& v, std::size_t n) {
  if (static_cast<std::size_t>(v.size()) != n)
    v.resize(static_cast<decltype(v.size())>(n));
}

/// h_y − max_{k≠y} h_k of row j.
inline double margin_row(const host_matrix& z, Eigen::Index j, int y) {
  double other = -std::numeric_limits<double>::infinity();
  for (Eigen::Index k = 0; k < z.cols(); ++k)
    if (k != y)
      other = std::max(other, z(j, k));
  return z(j, y) - other;
}

inline void require_finite_rows(const host_matrix& z, std::size_t count, std::string_view what) {
  for (std::size_t j = 0; j < count; ++j)
    for (Eigen::Index k = 0; k < z.cols(); ++k)
      if (!std::isfinite(z(static_cast<Eigen::Index>(j), k)))
        throw data_error(message(what, " of example ", j, " is not finite (column ", k, " = ",
                                 z(static_cast<Eigen::Index>(j), k), ")"));
}

template <class B>
void require_logits_shape(const B& z, std::size_t rows, std::string_view what) {
  using ops = batch_ops<B>;
  if (ops::rows(z) != rows || ops::cols(z) < 2)
    throw invalid_argument(message(what, ": model returned logits of ", ops::rows(z), " x ",
                                   ops::cols(z), " for a batch of ", rows, " examples (expected ",
                                   rows, " x K with K >= 2)"));
}

template <class M>
constexpr bool fast_path = has_inplace_path<M>&& has_row_ops<batch_t<M>>;

/// Non-empty, finite input (require_finite_input asks the backend first, so a finite batch
/// is not copied to the host: that copy would allocate).
template <class B>
void require_input(const B& x, std::string_view what) {
  require_batch(x, what);
  require_finite_input(x, what);
}

/// Clean logits (ws.z0), predictions, FGSM direction for ŷ (ws.direction) and the rows
/// whose direction is zero (ws.zero): 1 forward + 1 backward.
template <class M>
void clean_pass(M& model, const batch_t<M>& x, double temperature, radius_workspace<M>& ws,
                radius_result& res, std::string_view what) {
  using B = batch_t<M>;
  using ops = batch_ops<B>;
  require_batch(x, what);
  const std::size_t n = ops::rows(x);
  if constexpr (fast_path<M>) {
    if (!ws.clean_logits)
      ws.clean_logits.emplace();
    if (!ws.upstream)
      ws.upstream.emplace();
    if (!ws.gradient)
      ws.gradient.emplace();
    if (!ws.direction)
      ws.direction.emplace();
    model.logits_into(x, static_cast<Eigen::Index>(n), *ws.clean_logits, ws.scratch);
    require_logits_shape(*ws.clean_logits, n, "logits");
    ops::to_host_rows(*ws.clean_logits, n, ws.z0);
    require_finite_rows(ws.z0, n, "logits");
    argmax_rows(ws.z0, res.prediction);
    ce_direction_upstream(ws.z0, res.prediction, temperature, 1.0, ws.g);
    ops::from_host_into(ws.g, *ws.upstream);
    model.input_gradient_into(x, *ws.upstream, *ws.gradient, ws.scratch);
    if (ops::rows(*ws.gradient) != n || ops::cols(*ws.gradient) != ops::cols(x))
      throw invalid_argument(message("input_gradient_into returned ", ops::rows(*ws.gradient),
                                     " x ", ops::cols(*ws.gradient), " for an input batch of ", n,
                                     " x ", ops::cols(x), " (it must match the input)"));
    require_finite_gradient(*ws.gradient, "input_gradient_into");
    ops::sign_into(*ws.gradient, *ws.direction);
    size_to(ws.zero, n);
    ops::zero_rows(*ws.direction, ws.zero.data());
  } else {
    ws.direction.emplace(logits_and_loss_direction(
        model, x, ws.z0, temperature, 1.0, [&](const host_matrix& z) -> const label_vector& {
          argmax_rows(z, res.prediction);
          return res.prediction;
        }));
    const auto z = zero_rows(*ws.direction);
    ws.zero.assign(z.begin(), z.end());
  }
  res.forwards += 1;
  res.backwards += 1;
  res.example_forwards += n;
}

/// Logits at the ray points clamp(x_i + t d_i) for (i, t) = (ws.owner[j], ws.at[j]),
/// j < count, into rows 0..count-1 of ws.z_probe. `capacity` (>= count) fixes the probe
/// batch's shape so that calls of different sizes reuse one buffer. No clamp without a box.
template <class M>
void evaluate_ray_points(M& model, const batch_t<M>& x, const std::optional<input_box>& box,
                         std::size_t count, std::size_t capacity, radius_workspace<M>& ws,
                         radius_result& res) {
  using B = batch_t<M>;
  using ops = batch_ops<B>;
  const double* blo = box ? &box->lo : nullptr;
  const double* bhi = box ? &box->hi : nullptr;
  if constexpr (has_ray_points<B>) {
    if (!ws.probe)
      ws.probe.emplace(x);
    ops::ray_points(x, *ws.direction, ws.owner.data(), ws.at.data(), count, capacity, blo, bhi,
                    *ws.probe);
    if constexpr (fast_path<M>) {
      if (!ws.probe_logits)
        ws.probe_logits.emplace();
      model.logits_into(*ws.probe, static_cast<Eigen::Index>(count), *ws.probe_logits, ws.scratch);
      require_logits_shape(*ws.probe_logits, ops::rows(*ws.probe), "logits at a ray point");
      ops::to_host_rows(*ws.probe_logits, count, ws.z_probe);
    } else {
      // Value-returning model: evaluate exactly the `count` points.
      B points = *ws.probe;
      ops::copy_rows(*ws.probe, 0, count, points);
      const B z = model.logits(points);
      require_logits_shape(z, count, "logits at a ray point");
      ops::to_host(z, ws.z_probe);
    }
    require_finite_rows(ws.z_probe, count, "logits at a ray point");
    res.forwards += 1;
    res.example_forwards += count;
  } else {
    // A backend that cannot gather rows: whole batches, each example at most once per pass.
    const std::size_t n = ops::rows(x);
    host_matrix z;
    std::vector<std::size_t> slot_of(n);
    std::vector<char> done(count, 0);
    std::size_t left = count;
    while (left > 0) {
      host_vector t = host_vector::Zero(static_cast<Eigen::Index>(n));
      std::fill(slot_of.begin(), slot_of.end(), count);
      for (std::size_t j = 0; j < count; ++j)
        if (!done[j] && slot_of[ws.owner[j]] == count) {
          slot_of[ws.owner[j]] = j;
          t[static_cast<Eigen::Index>(ws.owner[j])] = ws.at[j];
        }
      auto xp = ops::add_scaled_rows(x, t, *ws.direction);
      if (box)
        ops::clamp(xp, box->lo, box->hi);
      checked_logits(model, xp, z, "logits at a ray point");
      res.forwards += 1;
      res.example_forwards += n;
      if (ws.z_probe.rows() < static_cast<Eigen::Index>(count) || ws.z_probe.cols() != z.cols())
        ws.z_probe.resize(static_cast<Eigen::Index>(std::max(count, n)), z.cols());
      for (std::size_t i = 0; i < n; ++i)
        if (const auto j = slot_of[i]; j < count) {
          ws.z_probe.row(static_cast<Eigen::Index>(j)) = z.row(static_cast<Eigen::Index>(i));
          done[j] = 1;
          --left;
        }
    }
  }
}

/// Runs `one(x_block, ws_block, res_block)` on row blocks of x, on o.threads threads, and
/// merges the results; one thread (or a backend without row operations) runs it directly.
template <class M, class One>
void over_row_blocks(const batch_t<M>& x, const robust_radius_options& o, radius_workspace<M>& ws,
                     radius_result& res, One&& one) {
  using B = batch_t<M>;
  using ops = batch_ops<B>;
  const std::size_t n = ops::rows(x);
  const std::size_t T = std::min<std::size_t>(static_cast<std::size_t>(o.threads), n);
  if constexpr (has_row_ops<B>) {
    if (T > 1) {
      ws.parts.resize(T);
      ws.part_results.resize(T);
      ws.part_inputs.resize(T);
      auto run = [&](std::size_t p) {
        const std::size_t first = n * p / T, last = n * (p + 1) / T;
        if (!ws.part_inputs[p])
          ws.part_inputs[p].emplace(x);
        ops::copy_rows(x, first, last - first, *ws.part_inputs[p]);
        one(*ws.part_inputs[p], ws.parts[p], ws.part_results[p]);
      };
      worker_pool::shared().run(T, run);
      init_result(res, n);
      res.prediction.resize(n);
      for (std::size_t p = 0; p < T; ++p) {
        const std::size_t first = n * p / T, len = n * (p + 1) / T - first;
        const auto& r = ws.part_results[p];
        const auto f = static_cast<Eigen::Index>(first), l = static_cast<Eigen::Index>(len);
        res.radius.segment(f, l) = r.radius;
        res.lower.segment(f, l) = r.lower;
        res.upper.segment(f, l) = r.upper;
        std::copy(r.status.begin(), r.status.end(), res.status.begin() + f);
        std::copy(r.prediction.begin(), r.prediction.end(), res.prediction.begin() + f);
        // Blocks run side by side: batch passes are those of the longest block.
        res.forwards = std::max(res.forwards, r.forwards);
        res.backwards = std::max(res.backwards, r.backwards);
        res.example_forwards += r.example_forwards;
      }
      return;
    }
  }
  one(x, ws, res);
}

} // namespace detail
} // namespace misd
