// misd/radius/result.hpp -- what the robust-radius estimators return.
#pragma once

#include "misd/concepts.hpp"

#include <array>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <span>
#include <string_view>
#include <vector>

namespace misd {

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
inline void init_result(radius_result& r, std::size_t n) {
  const auto m = static_cast<Eigen::Index>(n);
  r.radius.setZero(m);
  r.lower.setZero(m);
  r.upper.setConstant(m, std::numeric_limits<double>::infinity());
  r.status.assign(n, radius_status::not_bracketed);
  r.forwards = r.backwards = r.example_forwards = 0;
}

} // namespace detail

} // namespace misd
