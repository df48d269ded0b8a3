// misd/metric/value.hpp -- the result of a scalar metric that may be undefined.
//
// Degenerate inputs (no errors, or no correct predictions) leave some metrics without
// a value. misd never reports a silent number in that case, so such metrics
// return a metric_value: either a value, or no value and the reason why.
#pragma once

#include "misd/error.hpp"

#include <optional>
#include <string>
#include <utility>

namespace misd::metric {

/// A metric that is either a number or undefined with a reason.
/// Invariant: `reason` is non-empty iff `value` is empty.
struct metric_value {
  std::optional<double> value;
  std::string reason;

  bool defined() const { return value.has_value(); }

  /// The value; throws misd::undefined_metric carrying the reason when undefined.
  double operator*() const {
    if (!value)
      throw undefined_metric(misd::detail::message("undefined metric: ", reason));
    return *value;
  }

  static metric_value of(double v) { return metric_value{v, {}}; }
  static metric_value undefined(std::string why) {
    return metric_value{std::nullopt, std::move(why)};
  }
};

/// Which class a curve treats as positive.
/// - error:   misclassified examples are positive, scored by -confidence (misd's
///            convention: detect errors by rejecting low confidence);
/// - success: correct examples are positive, scored by confidence.
enum class positive { error, success };

} // namespace misd::metric
