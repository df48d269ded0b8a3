// misd/radius/options.hpp -- the options of each robust-radius estimator. Defaults are the
// paper's settings, and its authors' code where the paper is silent (docs/algorithms.md).
//
//   radius_options              every estimator: temperature, cap, threads
//   ├── rr_fast_options         + the finite-difference step
//   └── ray_search_options      + RR-BS's search along the ray: budget, r0, box, tolerance
//       ├── rr_bs_options       + steps resolved per forward pass
//       ├── rr_bs_pgd_options   + the PGD base's steps, step size, random start
//       └── rr_refine_options   + the finite-difference step, forwards per example
//   └── minimal_perturbation_options  + box, probes of the boundary refinement
//       ├── deepfool_options    + DeepFool-L∞'s steps, candidate classes, overshoot
//       └── rr_iter_options     + rr-iter's steps, trust radius, overshoot, floor, class choice
#pragma once

#include "misd/box.hpp"
#include "misd/detail/model_calls.hpp"
#include "misd/error.hpp"

#include <cmath>
#include <cstdint>
#include <limits>
#include <optional>

namespace misd {

/// Options of every estimator.
struct radius_options {
  double temperature = 1.0; ///< T of the attack direction's loss CE(f(x)/T, ŷ)
  double max_radius = std::numeric_limits<double>::infinity(); ///< cap on every radius
  /// Threads over which the batch is split into row blocks (1 = the calling thread only).
  /// The calling thread takes the first block, the process's persistent workers the
  /// others (detail/worker_pool.hpp: started once, not per call). With more than one, the
  /// model is called from several threads at once: its logits / input_gradient (or
  /// logits_into / input_gradient_into) must be safe to call concurrently, as those of
  /// misd's own Eigen models are.
  int threads = 1;
};

/// RR-Fast: the crossing of the linearised margins along the open ray (never clamped).
struct rr_fast_options : radius_options {
  double fd_step = 1e-3; ///< finite-difference step α (the authors' code)
};

/// RR-BS's search along the ray x + t·d: doubling from r0 until the first flip, then
/// bisection, with every probe clamped into the box.
struct ray_search_options : radius_options {
  int budget = 25;              ///< forward passes, including the first one
  double r0 = 1e-6;             ///< initial lower end of every bracket
  std::optional<input_box> box; ///< probes are clamped into it
  double tolerance = 0.0;       ///< stop an example once (hi − lo) ≤ tolerance · hi
};

/// RR-BS with the FGSM base.
struct rr_bs_options : ray_search_options {
  /// Steps of the search resolved per forward pass. With s > 1 one pass evaluates every
  /// point that the next s sequential steps could probe for each example (at most
  /// 2^s − 1: k-section with k = 2^s − 1 once bisecting), and the s steps are then
  /// replayed from their outcomes: the same brackets as s = 1 (bit for bit where a row's
  /// logits do not depend on the other rows of its batch, as with misd's Eigen models), in
  /// 1 + ⌈(budget − 1)/s⌉ sequential passes instead of budget, for up to (2^s − 1)/s times
  /// the example-forwards. Worth it where a pass over more rows costs little more time (a
  /// GPU at a small batch).
  int steps_per_pass = 1;
};

/// RR-BS with the PGD base: each probe of radius r runs PGD from x against ŷ.
struct rr_bs_pgd_options : ray_search_options {
  int pgd_steps = 10;              ///< k steps per probe
  double pgd_step_fraction = 0.25; ///< α = ε/4
  bool pgd_random_start = false;
  std::uint64_t seed = 0; ///< random starts: probe p uses seed + p
};

/// RR-Refine: RR-BS's answer by root finding on the margin along RR-BS's ray.
struct rr_refine_options : ray_search_options {
  double fd_step = 1e-3;  ///< the first step, as RR-Fast's (taken on the clamped ray)
  int refine_budget = 12; ///< forward passes per example, the clean one and the step included
};

/// Estimators that search for an attack point x_a that flips ŷ and then bisect the segment
/// [x, x_a] (radius/boundary_refine.hpp): the radius is the L∞ length of the part of the
/// segment up to the first verified flip.
struct minimal_perturbation_options : radius_options {
  std::optional<input_box> box; ///< attack points are clamped into it
  int refine_probes = 10;       ///< forward passes of the bisection on [x, x_a]
};

/// DeepFool-L∞ (Foolbox's LinfDeepFoolAttack). The temperature is not used: the steps
/// depend on logit differences only.
struct deepfool_options : minimal_perturbation_options {
  int steps = 50;          ///< iterations (each: 1 forward + candidates − 1 input gradients)
  int candidates = 10;     ///< classes considered: ŷ and the next ones by logit at x, fixed
  double overshoot = 0.02; ///< x = x0 + (1 + overshoot)·p, p the accumulated step
};

/// How rr-iter picks the class k* whose gap it closes.
enum class rr_iter_select {
  per_step, ///< the runner-up at the current point, at every step
  linear,   ///< once at x: the least linearised distance among the next select_classes classes
};

/// rr-iter: steps along sign(∇(z_k* − z_ŷ)) sized by the linearised distance to the boundary
/// (after AttackBench's trust-region attack). The temperature is not used.
struct rr_iter_options : minimal_perturbation_options {
  int steps = 10; ///< S: iterations (each: 1 forward + 1 input gradient)
  double trust_radius = std::numeric_limits<double>::infinity(); ///< cap ε_tr on each step
  double overshoot = 1.02; ///< the step taken is overshoot·(s + floor)
  double floor = 1e-4;     ///< added to each step s
  rr_iter_select select = rr_iter_select::per_step;
  int select_classes = 9; ///< linear: classes after ŷ considered (c)
};

namespace detail {
/// Largest steps_per_pass: 2^8 − 1 = 255 probe points per example and pass.
inline constexpr int max_steps_per_pass = 8;

inline void validate(const radius_options& o) {
  require_temperature(o.temperature, "robust radius");
  if (!(o.max_radius > 0))
    throw invalid_argument(message("robust radius: max_radius = ", o.max_radius, " must be > 0"));
  if (o.threads < 1)
    throw invalid_argument(message("robust radius: threads = ", o.threads, " must be >= 1"));
}

inline void validate_fd_step(double fd_step) {
  if (!(fd_step > 0) || !std::isfinite(fd_step))
    throw invalid_argument(
        message("robust radius: fd_step = ", fd_step, " must be finite and > 0"));
}

inline void validate(const rr_fast_options& o) {
  validate(static_cast<const radius_options&>(o));
  validate_fd_step(o.fd_step);
}

inline void validate(const ray_search_options& o) {
  validate(static_cast<const radius_options&>(o));
  validate(o.box);
  if (o.budget < 1)
    throw invalid_argument(message("robust radius: budget = ", o.budget, " must be >= 1"));
  if (!(o.r0 > 0) || !std::isfinite(o.r0))
    throw invalid_argument(message("robust radius: r0 = ", o.r0, " must be finite and > 0"));
  if (!(o.tolerance >= 0) || !std::isfinite(o.tolerance))
    throw invalid_argument(message("robust radius: tolerance = ", o.tolerance, " must be >= 0"));
}

inline void validate(const rr_bs_options& o) {
  validate(static_cast<const ray_search_options&>(o));
  if (o.steps_per_pass < 1 || o.steps_per_pass > max_steps_per_pass)
    throw invalid_argument(message("robust radius: steps_per_pass = ", o.steps_per_pass,
                                   " must be in [1, ", max_steps_per_pass, "] (up to 2^s - 1 ",
                                   "probe points per example per pass)"));
}

inline void validate(const rr_bs_pgd_options& o) {
  validate(static_cast<const ray_search_options&>(o));
  if (o.pgd_steps < 1)
    throw invalid_argument(message("robust radius: pgd_steps = ", o.pgd_steps, " must be >= 1"));
  if (!(o.pgd_step_fraction > 0) || !std::isfinite(o.pgd_step_fraction))
    throw invalid_argument(message("robust radius: pgd_step_fraction = ", o.pgd_step_fraction,
                                   " must be finite and > 0"));
}

inline void validate(const rr_refine_options& o) {
  validate(static_cast<const ray_search_options&>(o));
  validate_fd_step(o.fd_step);
  if (o.refine_budget < 3)
    throw invalid_argument(message("robust radius: refine_budget = ", o.refine_budget,
                                   " must be >= 3 (clean pass, finite-difference step, a probe)"));
}
inline void validate(const minimal_perturbation_options& o) {
  validate(static_cast<const radius_options&>(o));
  validate(o.box);
  if (o.refine_probes < 1)
    throw invalid_argument(
        message("robust radius: refine_probes = ", o.refine_probes, " must be >= 1"));
}

inline void validate(const deepfool_options& o) {
  validate(static_cast<const minimal_perturbation_options&>(o));
  if (o.steps < 1)
    throw invalid_argument(message("deepfool: steps = ", o.steps, " must be >= 1"));
  if (o.candidates < 2)
    throw invalid_argument(message("deepfool: candidates = ", o.candidates,
                                   " must be >= 2 (the predicted class and at least one other)"));
  if (!(o.overshoot >= 0) || !std::isfinite(o.overshoot))
    throw invalid_argument(
        message("deepfool: overshoot = ", o.overshoot, " must be finite and >= 0"));
}

inline void validate(const rr_iter_options& o) {
  validate(static_cast<const minimal_perturbation_options&>(o));
  if (o.steps < 1)
    throw invalid_argument(message("rr_iter: steps = ", o.steps, " must be >= 1"));
  if (!(o.trust_radius > 0))
    throw invalid_argument(
        message("rr_iter: trust_radius = ", o.trust_radius, " must be > 0 (+inf: no cap)"));
  if (!(o.overshoot >= 1) || !std::isfinite(o.overshoot))
    throw invalid_argument(
        message("rr_iter: overshoot = ", o.overshoot, " must be finite and >= 1"));
  if (!(o.floor >= 0) || !std::isfinite(o.floor))
    throw invalid_argument(message("rr_iter: floor = ", o.floor, " must be finite and >= 0"));
  if (o.select_classes < 1)
    throw invalid_argument(
        message("rr_iter: select_classes = ", o.select_classes, " must be >= 1"));
}
} // namespace detail

} // namespace misd
