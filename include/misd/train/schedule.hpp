// misd/train/schedule.hpp -- learning rate per optimiser step: linear warm-up, then cosine
// annealing to a floor.
#pragma once

#include "misd/error.hpp"

#include <cmath>
#include <cstddef>
#include <numbers>

namespace misd::train {

struct cosine_schedule {
  double base_lr = 0.05;
  std::size_t warmup_steps = 0; ///< lr rises linearly to base_lr over these steps
  std::size_t total_steps = 1;  ///< warm-up included
  double min_lr = 0.0;

  void validate() const {
    if (!(base_lr > 0) || !std::isfinite(base_lr) || !(min_lr >= 0) || !(min_lr <= base_lr))
      throw invalid_argument(detail::message("cosine_schedule: need 0 <= min_lr (", min_lr,
                                             ") <= base_lr (", base_lr, "), base_lr > 0"));
    if (total_steps < 1 || warmup_steps > total_steps)
      throw invalid_argument(detail::message("cosine_schedule: ", warmup_steps,
                                             " warm-up steps for ", total_steps, " steps in all"));
  }

  /// Learning rate of step `t` (0-based): base·(t+1)/warmup during warm-up, then
  /// min + (base − min)·(1 + cos(π·u))/2 with u = (t − warmup)/(total − warmup) in [0, 1).
  double operator()(std::size_t t) const {
    if (t < warmup_steps)
      return base_lr * double(t + 1) / double(warmup_steps);
    const std::size_t span = total_steps - warmup_steps;
    const double u = span == 0 ? 1.0 : double(t - warmup_steps) / double(span);
    return min_lr +
           (base_lr - min_lr) * 0.5 * (1.0 + std::cos(std::numbers::pi * std::min(u, 1.0)));
  }
};

} // namespace misd::train
