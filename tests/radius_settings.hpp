// tests/radius_settings.hpp -- one set of settings for tests that run several robust-radius
// estimators alike. Each estimator takes its own options type; this converts to each.
#pragma once

#include "misd/radius/options.hpp"

namespace misd_test {

struct radius_settings : misd::rr_bs_options {
  // rr_bs_pgd
  int pgd_steps = 10;
  double pgd_step_fraction = 0.25;
  bool pgd_random_start = false;
  std::uint64_t seed = 0;
  // rr_fast, rr_refine
  double fd_step = 1e-3;
  int refine_budget = 12;

  operator misd::rr_fast_options() const {
    misd::rr_fast_options o;
    static_cast<misd::radius_options&>(o) = *this;
    o.fd_step = fd_step;
    return o;
  }
  operator misd::rr_bs_pgd_options() const {
    misd::rr_bs_pgd_options o;
    static_cast<misd::ray_search_options&>(o) = *this;
    o.pgd_steps = pgd_steps;
    o.pgd_step_fraction = pgd_step_fraction;
    o.pgd_random_start = pgd_random_start;
    o.seed = seed;
    return o;
  }
  operator misd::rr_refine_options() const {
    misd::rr_refine_options o;
    static_cast<misd::ray_search_options&>(o) = *this;
    o.fd_step = fd_step;
    o.refine_budget = refine_budget;
    return o;
  }
};

} // namespace misd_test
