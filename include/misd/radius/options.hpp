// misd/radius/options.hpp -- options and result shared by the robust-radius estimators.
#pragma once

#include "misd/box.hpp"
#include "misd/concepts.hpp"
#include "misd/error.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <optional>
#include <span>
#include <string_view>
#include <vector>

namespace misd {

/// Options of RR-BS, RR-Fast and the further estimators. Defaults: the paper's settings, and
/// its authors' code where the paper is silent (docs/algorithms.md).
struct robust_radius_options {
  int budget = 25;              ///< RR-BS: forward passes, including the first one
  double r0 = 1e-6;             ///< RR-BS: initial lower end of every bracket
  double fd_step = 1e-3;        ///< RR-Fast: finite-difference step α (authors' code)
  double temperature = 1.0;     ///< T of the attack direction's loss
  std::optional<input_box> box; ///< RR-BS: probes are clamped into it (RR-Fast never clamps)
  double max_radius = std::numeric_limits<double>::infinity(); ///< cap on every radius
  double tolerance = 0.0; ///< RR-BS: stop an example once (hi − lo) ≤ tolerance · hi
  /// RR-BS (FGSM base): steps of the search resolved per forward pass. With s > 1 one pass
  /// evaluates every point that the next s sequential steps could probe for each example
  /// (at most 2^s − 1: k-section with k = 2^s − 1 once bisecting), and the s steps are then
  /// replayed from their outcomes: the same brackets as s = 1 (bit for bit where a row's
  /// logits do not depend on the other rows of its batch, as with misd's Eigen models), in
  /// 1 + ⌈(budget − 1)/s⌉ sequential passes instead of budget, for up to (2^s − 1)/s times
  /// the example-forwards. Worth it where a pass over more rows costs little more time (a
  /// GPU at a small batch). rr_bs_pgd and rr_refine search one step per pass.
  int steps_per_pass = 1;
  // RR-BS with the PGD base:
  int pgd_steps = 10;              ///< k steps per probe
  double pgd_step_fraction = 0.25; ///< α = ε/4
  bool pgd_random_start = false;
  std::uint64_t seed = 0;
  /// Threads over which the batch is split into row blocks (1 = the calling thread only).
  /// The calling thread takes the first block, the process's persistent workers the
  /// others (detail/worker_pool.hpp: started once, not per call). With more than one, the
  /// model is called from several threads at once: its logits / input_gradient (or
  /// logits_into / input_gradient_into) must be safe to call concurrently, as those of
  /// misd's own Eigen models are.
  int threads = 1;
  /// RR-Refine: cap on forward passes per example, the clean one and the
  /// finite-difference step included.
  int refine_budget = 12;
};

/// What an estimator could say about one example. The numeric values are stable: they are
/// the codes `misd score --out-status` writes.
enum class radius_status : std::uint8_t {
  bracketed = 0,       ///< a flip was found: the radius lies in [lower, upper]
  not_bracketed = 1,   ///< no flip within the budget (or the cap): the radius is a lower bound
  linear_estimate = 2, ///< RR-Fast: the crossing of the linearised margins, not verified
  zero_direction = 3,  ///< the attack direction is exactly zero in every feature: the model
                       ///< is locally flat at x (its input gradient vanishes), so nothing
                       ///< was measured; radius = lower = 0, upper = +inf (docs/error_policy.md R8)
};

/// Number of radius_status values.
inline constexpr std::size_t radius_status_count = 4;

/// The status's name as reports print it ("bracketed", "not_bracketed", ...).
inline std::string_view name(radius_status s) {
  switch (s) {
  case radius_status::bracketed:
    return "bracketed";
  case radius_status::not_bracketed:
    return "not_bracketed";
  case radius_status::linear_estimate:
    return "linear_estimate";
  case radius_status::zero_direction:
    return "zero_direction";
  }
  return "?";
}

/// How many examples have each status, indexed by the status's code.
using radius_status_counts = std::array<std::size_t, radius_status_count>;

inline radius_status_counts count_statuses(std::span<const radius_status> status) {
  radius_status_counts c{};
  for (auto s : status)
    ++c[static_cast<std::size_t>(s)];
  return c;
}

/// Per-example result of an estimator.
struct radius_result {
  host_vector radius; ///< the estimate (the confidence score)
  host_vector lower;  ///< largest radius verified not to flip (0 when none was probed)
  host_vector upper;  ///< smallest radius verified to flip (+inf when none was found)
  std::vector<radius_status> status;
  label_vector prediction;   ///< ŷ(x), argmax of the clean logits
  std::size_t forwards = 0;  ///< forward passes over the batch
  std::size_t backwards = 0; ///< backward (input-gradient) passes over the batch
  /// Forward evaluations of single examples (a pass over m rows counts m): what the
  /// estimators' early stopping saves shows here, not in `forwards`.
  std::size_t example_forwards = 0;

  std::size_t size() const { return prediction.size(); }
  /// upper − lower, per example (+inf when not bracketed).
  host_vector width() const { return upper - lower; }
  bool bracketed(std::size_t i) const { return status[i] == radius_status::bracketed; }
};

namespace detail {
/// Largest steps_per_pass: 2^8 − 1 = 255 probe points per example and pass.
inline constexpr int max_steps_per_pass = 8;

inline void validate(const robust_radius_options& o) {
  validate(o.box);
  if (o.budget < 1)
    throw invalid_argument(message("robust radius: budget = ", o.budget, " must be >= 1"));
  if (!(o.r0 > 0) || !std::isfinite(o.r0))
    throw invalid_argument(message("robust radius: r0 = ", o.r0, " must be finite and > 0"));
  if (!(o.fd_step > 0) || !std::isfinite(o.fd_step))
    throw invalid_argument(
        message("robust radius: fd_step = ", o.fd_step, " must be finite and > 0"));
  if (!(o.temperature > 0) || !std::isfinite(o.temperature))
    throw invalid_argument(
        message("robust radius: temperature = ", o.temperature, " must be finite and > 0"));
  if (!(o.max_radius > 0))
    throw invalid_argument(message("robust radius: max_radius = ", o.max_radius, " must be > 0"));
  if (!(o.tolerance >= 0) || !std::isfinite(o.tolerance))
    throw invalid_argument(message("robust radius: tolerance = ", o.tolerance, " must be >= 0"));
  if (o.threads < 1)
    throw invalid_argument(message("robust radius: threads = ", o.threads, " must be >= 1"));
  if (o.refine_budget < 3)
    throw invalid_argument(message("robust radius: refine_budget = ", o.refine_budget,
                                   " must be >= 3 (clean pass, finite-difference step, a probe)"));
  if (o.pgd_steps < 1)
    throw invalid_argument(message("robust radius: pgd_steps = ", o.pgd_steps, " must be >= 1"));
  if (o.steps_per_pass < 1 || o.steps_per_pass > max_steps_per_pass)
    throw invalid_argument(message("robust radius: steps_per_pass = ", o.steps_per_pass,
                                   " must be in [1, ", max_steps_per_pass, "] (up to 2^s - 1 ",
                                   "probe points per example per pass)"));
}

/// RR-BS's next probe from the bracket [lo, hi]: doubling until the first flip, then
/// bisection; capped at max_radius. The one formula of every RR-BS search and replay, so
/// that they probe the same radii bit for bit.
inline double next_probe(double lo, double hi, const robust_radius_options& o) {
  return std::min({(lo + hi) / 2, 2 * lo, o.max_radius});
}

/// Whether RR-BS goes on searching [lo, hi]: not once the search is capped at max_radius
/// with no flip found, nor once the bracket is narrower than the tolerance (only after a
/// flip bounds it: inf − lo <= tol · inf would hold trivially).
inline bool search_goes_on(double lo, double hi, const robust_radius_options& o) {
  const bool capped = !std::isfinite(hi) && lo >= o.max_radius;
  const bool narrow = o.tolerance > 0 && std::isfinite(hi) && hi - lo <= o.tolerance * hi;
  return !(capped || narrow);
}

inline void init_result(radius_result& r, std::size_t n) {
  const auto m = static_cast<Eigen::Index>(n);
  r.radius.setZero(m);
  r.lower.setZero(m);
  r.upper.setConstant(m, std::numeric_limits<double>::infinity());
  r.status.assign(n, radius_status::not_bracketed);
  r.forwards = r.backwards = r.example_forwards = 0;
}

/// Rows of a direction batch that are entirely zero (flat model at that example).
template <class B>
std::vector<bool> zero_rows(const B& d) {
  if constexpr (requires(unsigned char* flags) { batch_ops<B>::zero_rows(d, flags); }) {
    // The backend answers on its own device: no copy of the batch to the host.
    std::vector<unsigned char> flags(batch_ops<B>::rows(d));
    batch_ops<B>::zero_rows(d, flags.data());
    return {flags.begin(), flags.end()};
  }
  host_matrix h;
  batch_ops<B>::to_host(d, h);
  std::vector<bool> out(static_cast<std::size_t>(h.rows()));
  for (Eigen::Index i = 0; i < h.rows(); ++i)
    out[static_cast<std::size_t>(i)] = (h.row(i).array() == 0.0).all();
  return out;
}
} // namespace detail

} // namespace misd
