// misd/train/rat.hpp -- training objectives: Standard, adversarial training (AT), reverse
// AT and Radius Aware Training (RAT), as the paper defines it.
//
// Per mini-batch with targets y (hard labels, or Mixup's soft targets):
//   1. z = f(x); CE(x) and g = ∇_x [λ_ori · mean_i CE_i(x)] from one backward, which also
//      accumulates λ_ori·∇_θ mean CE(x).
//   2. s_i = +1 (AT), −1 (ReverseAT), or for RAT +1 when ŷ(x_i) is the target and −1 when
//      not; x' = clamp(x + s_i · ε · sign(g_i)) (FGSM) or k projected steps of
//      x ← Π(x + s_i · α · sign(∇_x CE_i)) onto the ε-ball and the box (PGD, α = ε · fraction).
//   3. z' = f(x'); accumulates λ·∇_θ mean CE(x').
//   Loss = λ_ori · mean CE(x) + λ · mean CE(x').  Standard stops after step 1.
// Under Mixup an example counts as correct when its prediction is its dominant label (the
// one with the larger mixing weight), and CE is the mixed λ·CE(y_a) + (1−λ)·CE(y_b).
// When λ_ori = 0 the direction comes from a separate input-gradient pass.
#pragma once

#include "misd/box.hpp"
#include "misd/detail/model_calls.hpp"
#include "misd/train/mixup.hpp"
#include "misd/train/trainable.hpp"

#include <cmath>
#include <cstddef>
#include <limits>
#include <optional>
#include <string_view>

namespace misd::train {

enum class objective { standard, at, reverse_at, rat };
enum class inner_solver { fgsm, pgd };

inline std::string_view name(objective o) {
  switch (o) {
  case objective::standard:
    return "standard";
  case objective::at:
    return "at";
  case objective::reverse_at:
    return "reverse-at";
  case objective::rat:
    return "rat";
  }
  return "?";
}

struct objective_options {
  objective kind = objective::rat;
  inner_solver solver = inner_solver::fgsm;
  double epsilon = 1e-3;                      ///< L∞ radius of the inner step
  double lambda_ori = 1.0;                    ///< weight of CE(x)
  double lambda = 1.0;                        ///< weight of CE(x')
  int pgd_steps = 5;                          ///< k for the PGD inner solver
  double pgd_step_fraction = 0.25;            ///< α = fraction · ε
  std::optional<input_box> box = input_box{}; ///< x' is clamped into it ([0, 1] by default)
};

/// What one objective step computed, for the batch.
struct step_result {
  double loss = 0;           ///< λ_ori · mean CE(x) + λ · mean CE(x')
  double clean_loss = 0;     ///< mean CE(x)
  double perturbed_loss = 0; ///< mean CE(x') (0 for Standard)
  std::size_t correct = 0;   ///< examples whose clean prediction is their (dominant) target
  std::size_t examples = 0;
};

} // namespace misd::train

namespace misd::detail {
inline void validate_objective(const train::objective_options& o) {
  misd::detail::validate(o.box);
  if (!(o.epsilon >= 0) || !std::isfinite(o.epsilon))
    throw invalid_argument(
        misd::detail::message("objective: epsilon ", o.epsilon, " must be finite and >= 0"));
  if (!(o.lambda_ori >= 0) || !(o.lambda >= 0) || !std::isfinite(o.lambda_ori) ||
      !std::isfinite(o.lambda))
    throw invalid_argument(misd::detail::message("objective: weights lambda_ori ", o.lambda_ori,
                                                 " and lambda ", o.lambda,
                                                 " must be finite and >= 0"));
  if (o.solver == train::inner_solver::pgd && (o.pgd_steps < 1 || !(o.pgd_step_fraction > 0)))
    throw invalid_argument(misd::detail::message("objective: PGD needs steps >= 1 (got ",
                                                 o.pgd_steps, ") and step fraction > 0 (got ",
                                                 o.pgd_step_fraction, ")"));
}

inline void require_soft_targets(const train::soft_targets& y, std::size_t n, std::size_t k) {
  misd::detail::require_labels(y.a, n, k, "objective (labels a)");
  misd::detail::require_labels(y.b, n, k, "objective (labels b)");
  if (!(y.weight >= 0 && y.weight <= 1))
    throw invalid_argument(
        misd::detail::message("objective: mixing weight ", y.weight, " is outside [0, 1]"));
}

/// Per-example mixed CE of logits z, and its upstream gradient
/// scale · (softmax(z) − w·onehot(a) − (1 − w)·onehot(b)) into g, exact at any logit gap
/// (misd::detail::ce_upstream_row). Returns Σ loss; `min_log_row` (when given) receives the
/// smallest log of a row's magnitude (the row's largest entry is about that large).
inline double soft_ce(const host_matrix& z, const train::soft_targets& y, double scale,
                      host_matrix& g, double* min_log_row = nullptr) {
  g.resize(z.rows(), z.cols());
  double total = 0;
  double min_log = std::numeric_limits<double>::infinity();
  for (Eigen::Index i = 0; i < z.rows(); ++i) {
    const auto a = y.a[static_cast<std::size_t>(i)], b = y.b[static_cast<std::size_t>(i)];
    const double m = z.row(i).maxCoeff();
    double s = 0;
    for (Eigen::Index k = 0; k < z.cols(); ++k)
      s += std::exp(z(i, k) - m);
    const double lse = m + std::log(s);
    total += y.weight * (lse - z(i, a)) + (1 - y.weight) * (lse - z(i, b));
    const double log_sigma = misd::detail::ce_upstream_row(z, i, a, b, y.weight, 1.0, g);
    g.row(i) *= scale * std::exp(log_sigma);
    min_log = std::min(min_log, log_sigma + std::log(scale));
  }
  if (min_log_row)
    *min_log_row = min_log;
  return total;
}

/// A positive per-row multiple of soft_ce's gradient with O(1) entries: its input gradient
/// has the exact sign of the loss's at any logit gap (the inner step uses only that sign).
inline void soft_ce_direction(const host_matrix& z, const train::soft_targets& y, host_matrix& g) {
  g.resize(z.rows(), z.cols());
  for (Eigen::Index i = 0; i < z.rows(); ++i)
    misd::detail::ce_upstream_row(z, i, y.a[static_cast<std::size_t>(i)],
                                  y.b[static_cast<std::size_t>(i)], y.weight, 1.0, g);
}

/// A training upstream whose smallest row is below e^-69 ≈ 1e-30 would underflow in a
/// float model's backward pass (float's normal range ends at 1.2e-38): the inner step's
/// direction then comes from a pass of its own with soft_ce_direction's rows. Above it the
/// training pass's input gradient is used as it is (no extra pass).
inline constexpr double direction_log_floor = -69.0;

/// s_i of step 2 for the clean logits z.
inline host_vector rat_step_signs(train::objective kind, const host_matrix& z,
                                  const train::soft_targets& y, std::size_t* correct) {
  label_vector pred;
  misd::detail::argmax_rows(z, pred);
  host_vector s(z.rows());
  std::size_t c = 0;
  for (std::size_t i = 0; i < pred.size(); ++i) {
    const bool right = pred[i] == y.dominant(i);
    c += right;
    s[static_cast<Eigen::Index>(i)] = kind == train::objective::at           ? 1.0
                                      : kind == train::objective::reverse_at ? -1.0
                                      : right                                ? 1.0
                                                                             : -1.0;
  }
  if (correct)
    *correct = c;
  return s;
}

/// x' from x, the signs s and the input gradient dx of the clean loss at x (a positive
/// multiple of ∇_x Σ CE_i: only its sign is used).
template <class M>
batch_t<M> rat_inner_step(M& model, const batch_t<M>& x, const train::soft_targets& y,
                          const host_vector& s, const batch_t<M>& dx,
                          const train::objective_options& o) {
  using ops = batch_ops<batch_t<M>>;
  const auto n = static_cast<Eigen::Index>(ops::rows(x));
  auto clamp = [&](batch_t<M>& v) {
    if (o.box)
      ops::clamp(v, o.box->lo, o.box->hi);
  };
  if (o.solver == train::inner_solver::fgsm) {
    batch_t<M> out = ops::add_scaled_rows(x, o.epsilon * s, ops::sign(dx));
    clamp(out);
    return out;
  }
  const host_vector step = (o.epsilon * o.pgd_step_fraction) * s;
  const host_vector radius = host_vector::Constant(n, o.epsilon);
  batch_t<M> cur = ops::add_scaled_rows(x, step, ops::sign(dx));
  ops::project_linf(cur, x, radius);
  clamp(cur);
  host_matrix z, g;
  for (int k = 1; k < o.pgd_steps; ++k) {
    misd::detail::checked_logits(model, cur, z, "logits");
    soft_ce_direction(z, y, g);
    cur = ops::add_scaled_rows(cur, step,
                               ops::sign(misd::detail::checked_input_gradient(model, cur, g)));
    ops::project_linf(cur, x, radius);
    clamp(cur);
  }
  return cur;
}

/// One training pass: z = f(x) into `z`, adds ∇_θ [scale · Σ_i CE_i] to the model's
/// gradients, returns Σ_i CE_i and (when `input_gradient`) ∇_x [scale · Σ_i CE_i] in `dx`.
/// Uses the model's fused forward_backward when it has one (one forward pass less).
template <class M>
double rat_training_pass(M& model, const batch_t<M>& x, const train::soft_targets& y, double scale,
                         bool input_gradient, host_matrix& z, batch_t<M>& dx, std::string_view what,
                         double* min_log_row = nullptr) {
  using ops = batch_ops<batch_t<M>>;
  const std::size_t n = ops::rows(x);
  host_matrix g;
  double ce_sum = 0;
  auto upstream = [&](const batch_t<M>& logits) -> batch_t<M> {
    logits_to_host(logits, n, z, what);
    require_soft_targets(y, n, static_cast<std::size_t>(z.cols()));
    ce_sum = soft_ce(z, y, scale, g, min_log_row);
    return ops::from_host(g, logits);
  };
  if constexpr (misd::detail::has_forward_backward<M>)
    dx = model.forward_backward(x, upstream, input_gradient);
  else
    dx = model.accumulate_gradients(x, upstream(model.logits(x)));
  if (input_gradient && (ops::rows(dx) != n || ops::cols(dx) != ops::cols(x)))
    throw invalid_argument(misd::detail::message(
        "accumulate_gradients returned ", ops::rows(dx), " x ", ops::cols(dx),
        " for an input batch of ", n, " x ", ops::cols(x), " (it must match the input)"));
  if (input_gradient)
    misd::detail::require_finite_gradient(dx, "accumulate_gradients");
  return ce_sum;
}
} // namespace misd::detail

namespace misd::train {

/// The perturbed inputs x' of step 2 (no parameter gradients are touched). For tests and
/// for inspecting what an objective trains on; Standard returns x unchanged.
template <class M>
batch_t<M> perturbed_inputs(M& model, const batch_t<M>& x, const soft_targets& y,
                            const objective_options& o = {}) {
  static_assert(misd::detail::check_differentiable<M>());
  misd::detail::validate_objective(o);
  misd::detail::require_batch(x, "perturbed_inputs");
  if (o.kind == objective::standard)
    return x;
  host_matrix z, g;
  misd::detail::checked_logits(model, x, z, "logits");
  misd::detail::require_soft_targets(y, static_cast<std::size_t>(z.rows()),
                                     static_cast<std::size_t>(z.cols()));
  // The same upstream gradient as accumulate_objective's, so the same direction bit for bit.
  const double inv_n = 1.0 / double(z.rows());
  double min_log = 0;
  misd::detail::soft_ce(z, y, o.lambda_ori * inv_n, g, &min_log);
  if (!(o.lambda_ori > 0) || min_log < misd::detail::direction_log_floor)
    misd::detail::soft_ce_direction(z, y, g);
  const host_vector s = misd::detail::rat_step_signs(o.kind, z, y, nullptr);
  return misd::detail::rat_inner_step(model, x, y, s,
                                      misd::detail::checked_input_gradient(model, x, g), o);
}

/// One objective step on a batch: adds the gradient of the loss (batch means) to the
/// model's stored parameter gradients (call zero_gradients() before, as with PyTorch's
/// backward()). Cost with a fused forward_backward: Standard 1 forward + 1 backward (no input
/// gradient); AT/RAT with FGSM 2 forwards + 2 backwards (one with the input gradient);
/// without it, one more forward per backward.
template <class M>
step_result accumulate_objective(M& model, const batch_t<M>& x, const soft_targets& y,
                                 const objective_options& o = {}) {
  static_assert(misd::detail::check_trainable<M>());
  misd::detail::validate_objective(o);
  misd::detail::require_batch(x, "accumulate_objective");
  const auto n = batch_ops<batch_t<M>>::rows(x);
  const double inv_n = 1.0 / double(n);
  const bool second = o.kind != objective::standard;
  host_matrix z, g;
  batch_t<M> dx{};
  step_result r;
  r.examples = n;
  if (o.lambda_ori > 0) {
    double min_log = 0;
    r.clean_loss = misd::detail::rat_training_pass(model, x, y, o.lambda_ori * inv_n, second, z, dx,
                                                   "logits", &min_log) *
                   inv_n;
    if (second && min_log < misd::detail::direction_log_floor) { // see direction_log_floor
      misd::detail::soft_ce_direction(z, y, g);
      dx = misd::detail::checked_input_gradient(model, x, g);
    }
  } else { // no clean term: the direction still needs the clean logits and input gradient
    misd::detail::checked_logits(model, x, z, "logits");
    misd::detail::require_soft_targets(y, n, static_cast<std::size_t>(z.cols()));
    r.clean_loss = misd::detail::soft_ce(z, y, inv_n, g) * inv_n;
    if (second) {
      misd::detail::soft_ce_direction(z, y, g);
      dx = misd::detail::checked_input_gradient(model, x, g);
    }
  }
  r.loss = o.lambda_ori * r.clean_loss;
  const host_vector s = misd::detail::rat_step_signs(o.kind, z, y, &r.correct);
  if (!second)
    return r;
  const batch_t<M> xp = misd::detail::rat_inner_step(model, x, y, s, dx, o);
  if (o.lambda > 0) {
    r.perturbed_loss = misd::detail::rat_training_pass(model, xp, y, o.lambda * inv_n, false, z, dx,
                                                       "logits of the perturbed batch") *
                       inv_n;
  } else {
    misd::detail::checked_logits(model, xp, z, "logits of the perturbed batch");
    r.perturbed_loss = misd::detail::soft_ce(z, y, inv_n, g) * inv_n;
  }
  r.loss += o.lambda * r.perturbed_loss;
  return r;
}

/// Hard-label convenience overload.
template <class M>
step_result accumulate_objective(M& model, const batch_t<M>& x, const label_vector& y,
                                 const objective_options& o = {}) {
  return accumulate_objective(model, x, soft_targets::hard(y), o);
}
template <class M>
batch_t<M> perturbed_inputs(M& model, const batch_t<M>& x, const label_vector& y,
                            const objective_options& o = {}) {
  return perturbed_inputs(model, x, soft_targets::hard(y), o);
}

} // namespace misd::train
