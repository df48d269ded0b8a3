// misd/attack/fgsm.hpp -- the FGSM step and the attack direction shared by RR-BS and RR-Fast.
#pragma once

#include "misd/box.hpp"
#include "misd/concepts.hpp"
#include "misd/detail/model_calls.hpp"
#include "misd/model_adapter.hpp"

#include <optional>

namespace misd {

/// Options shared by FGSM and PGD.
struct attack_options {
  double temperature = 1.0;     ///< T in CE(f(x)/T, y)
  std::optional<input_box> box; ///< every evaluated point is clamped into it
  bool targeted = false;        ///< labels are targets: descend their loss
  bool reverse = false;         ///< descend instead of ascend (flips `targeted` too)
};

namespace detail {
inline void validate(const attack_options& o) {
  require_temperature(o.temperature, "attack");
  validate(o.box);
}
inline double ascent_sign(const attack_options& o) {
  return (o.targeted != o.reverse) ? -1.0 : 1.0;
}

inline void validate_eps(const host_vector& eps, std::size_t n, std::string_view what) {
  if (static_cast<std::size_t>(eps.size()) != n)
    throw invalid_argument(
        message(what, ": ", eps.size(), " radii for a batch of ", n, " examples"));
  for (Eigen::Index i = 0; i < eps.size(); ++i)
    if (!(eps[i] >= 0) || !std::isfinite(eps[i]))
      throw invalid_argument(
          message(what, ": radius ", eps[i], " of example ", i, " is not finite and >= 0"));
}

/// z = the logits of x (on the host) and sign(∇_x [s · CE(z/T, y)]) with y = labels_of(z)
/// (given labels, or the predictions read off z): 1 forward + 1 backward pass, the forward
/// shared by both where the model can (model_adapter). The upstream gradient is
/// scaled per row (ce_direction_upstream), so the sign is exact at any logit gap; a
/// non-finite input gradient throws data_error.
template <class M, class Labels>
batch_t<M> logits_and_loss_direction(M& model, const batch_t<M>& x, host_matrix& z,
                                     double temperature, double s, Labels&& labels_of) {
  host_matrix g;
  model_buffers<M> buffers;
  const auto& dx = model_adapter<M>(model, buffers)
                       .logits_and_input_gradient(
                           x, z, "logits", [&](const host_matrix& logits) -> const host_matrix& {
                             ce_direction_upstream(logits, labels_of(logits), temperature, s, g);
                             return g;
                           });
  return batch_ops<batch_t<M>>::sign(dx);
}
} // namespace detail

/// sign(∇_x CE(f(x)/T, y)) (negated when targeted xor reverse): 1 forward + 1 backward.
template <class M>
batch_t<M> attack_direction(M& model, const batch_t<M>& x, const label_vector& y,
                            const attack_options& opts = {}) {
  static_assert(detail::check_differentiable<M>());
  detail::validate(opts);
  detail::require_batch(x, "attack_direction");
  detail::require_finite_input(x, "attack_direction");
  host_matrix z;
  return detail::logits_and_loss_direction(
      model, x, z, opts.temperature, detail::ascent_sign(opts),
      [&](const host_matrix& logits) -> const label_vector& {
        detail::require_labels(y, static_cast<std::size_t>(logits.rows()),
                               static_cast<std::size_t>(logits.cols()), "attack_direction");
        return y;
      });
}

/// FGSM with a radius per example: clamp(x + ε_i · direction_i).
template <class M>
batch_t<M> fgsm(M& model, const batch_t<M>& x, const label_vector& y, const host_vector& eps,
                const attack_options& opts = {}) {
  static_assert(detail::check_differentiable<M>());
  detail::require_batch(x, "fgsm");
  detail::validate_eps(eps, batch_ops<batch_t<M>>::rows(x), "fgsm");
  auto d = attack_direction(model, x, y, opts);
  auto out = batch_ops<batch_t<M>>::add_scaled_rows(x, eps, d);
  if (opts.box)
    batch_ops<batch_t<M>>::clamp(out, opts.box->lo, opts.box->hi);
  return out;
}

/// FGSM with one radius for all examples.
template <class M>
batch_t<M> fgsm(M& model, const batch_t<M>& x, const label_vector& y, double eps,
                const attack_options& opts = {}) {
  static_assert(detail::check_differentiable<M>());
  return fgsm(model, x, y,
              host_vector::Constant(static_cast<Eigen::Index>(batch_ops<batch_t<M>>::rows(x)), eps),
              opts);
}

} // namespace misd
