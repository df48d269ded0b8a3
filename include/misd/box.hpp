// misd/box.hpp -- the optional input domain [lo, hi] shared by attacks and estimators.
#pragma once

#include "misd/error.hpp"

#include <cmath>
#include <optional>

namespace misd {

/// Element-wise input domain; images are usually [0, 1].
struct input_box {
  double lo = 0.0;
  double hi = 1.0;
};

namespace detail {
inline void validate(const std::optional<input_box>& box) {
  if (box && !(std::isfinite(box->lo) && std::isfinite(box->hi) && box->lo < box->hi))
    throw invalid_argument(message("input box [", box->lo, ", ", box->hi,
                                   "] is not a finite interval with lo < hi"));
}
} // namespace detail

} // namespace misd
