// misd/radius/ray.hpp -- the ray x + t·d of the estimators: its direction from the clean
// pass, the logits at points along it, and the arithmetic of margins on it. Not for direct
// inclusion.
#pragma once

#include "misd/box.hpp"
#include "misd/detail/batch_rows.hpp"
#include "misd/detail/model_calls.hpp"
#include "misd/model_adapter.hpp"
#include "misd/radius/result.hpp"
#include "misd/radius/workspace.hpp"

#include <algorithm>
#include <cstddef>
#include <limits>
#include <optional>
#include <string_view>
#include <vector>

namespace misd::detail {

/// Non-empty, finite input (require_finite_input asks the backend first, so a finite batch
/// is not copied to the host: that copy would allocate).
template <class B>
void require_input(const B& x, std::string_view what) {
  require_batch(x, what);
  require_finite_input(x, what);
}

/// Clean logits (ws.z0), predictions, the FGSM direction for ŷ (ws.direction) and the rows
/// whose direction is zero (ws.zero): 1 forward + 1 backward.
template <class M>
void clean_pass(M& model, const batch_t<M>& x, double temperature, radius_workspace<M>& ws,
                radius_result& res, std::string_view what) {
  require_batch(x, what);
  const std::size_t n = batch_ops<batch_t<M>>::rows(x);
  model_adapter<M> m(model, ws.model);
  const auto& dx = m.logits_and_input_gradient(
      x, ws.z0, "logits", [&](const host_matrix& z) -> const host_matrix& {
        argmax_rows(z, res.prediction);
        ce_direction_upstream(z, res.prediction, temperature, 1.0, ws.g);
        return ws.g;
      });
  sign_to(dx, ws.direction);
  zero_rows_of(*ws.direction, ws.zero);
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
  constexpr std::string_view what = "logits at a ray point";
  model_adapter<M> m(model, ws.model);
  if constexpr (has_ray_points<B>) {
    if (!ws.probe)
      ws.probe.emplace(x);
    ops::ray_points(x, *ws.direction, ws.owner.data(), ws.at.data(), count, capacity,
                    box ? &box->lo : nullptr, box ? &box->hi : nullptr, *ws.probe);
    m.logits(*ws.probe, count, ws.z_probe, what);
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
      m.logits(xp, n, z, what);
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

/// h_y − max_{k≠y} h_k of row j.
inline double margin_row(const host_matrix& z, Eigen::Index j, int y) {
  double other = -std::numeric_limits<double>::infinity();
  for (Eigen::Index k = 0; k < z.cols(); ++k)
    if (k != y)
      other = std::max(other, z(j, k));
  return z(j, y) - other;
}

/// min over k ≠ y of gap_k / slope_k, where the gaps z_y − z_k linearised from row j0 of
/// z0 (t = 0) and row j1 of z1 (t = α) close (slope > 0); +inf when none closes.
inline double linear_crossing(const host_matrix& z0, Eigen::Index j0, const host_matrix& z1,
                              Eigen::Index j1, int y, double alpha) {
  double q = std::numeric_limits<double>::infinity();
  const double dy = z1(j1, y) - z0(j0, y);
  for (Eigen::Index k = 0; k < z0.cols(); ++k) {
    if (k == y)
      continue;
    const double slope = ((z1(j1, k) - z0(j0, k)) - dy) / alpha;
    if (slope > 0)
      q = std::min(q, (z0(j0, y) - z0(j0, k)) / slope);
  }
  return q;
}

} // namespace misd::detail
