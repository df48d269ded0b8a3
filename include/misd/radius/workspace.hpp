// misd/radius/workspace.hpp -- the buffers that the ray-based estimators (RR-BS, RR-Fast,
// RR-Refine) reuse between calls: with a model in the in-place form (misd/model_adapter.hpp),
// an estimator called again with the same batch shape and the same workspace allocates
// nothing.
#pragma once

#include "misd/model_adapter.hpp"
#include "misd/radius/result.hpp"

#include <cstddef>
#include <optional>
#include <vector>

namespace misd {

/// Buffers reused by rr_bs / rr_fast / rr_refine across calls. One per thread of the
/// caller; after the first call with a given batch shape, calls allocate nothing (with
/// a model in the in-place form and threads = 1).
template <class M>
struct radius_workspace {
  using batch_type = batch_t<M>;

  model_buffers<M> model; ///< what the model adapter writes into
  // Batches (optional: a backend's batch need not be default-constructible).
  std::optional<batch_type> probe, direction;
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
} // namespace detail

} // namespace misd
