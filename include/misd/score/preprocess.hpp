// misd/score/preprocess.hpp -- scores of a model's inputs, and ODIN-style input
// preprocessing (paper B.3): x' = clamp(x + s · ε · sign(∇_x log C(x))), then the score at x'.
//
// s = +1 (the default, the paper's choice) takes the step that raises the confidence C;
// s = −1 is the step the authors' evaluation code takes. Preprocessing needs the
// model's input gradient (Differentiable); scoring without it needs only logits (Classifier).
#pragma once

#include "misd/box.hpp"
#include "misd/detail/model_calls.hpp"
#include "misd/model_adapter.hpp"
#include "misd/score/logit_scores.hpp"

#include <optional>

namespace misd::score {

/// Which way the preprocessing step goes.
enum class preprocess_direction {
  raise_confidence, ///< x + ε sign(∇ log C)  (the paper's, the default)
  lower_confidence, ///< x − ε sign(∇ log C)  (the authors' code)
};

struct preprocess_options {
  double temperature = 1.0; ///< T of the score whose gradient is followed
  double epsilon = 0.0;     ///< step size ε (L∞), >= 0
  preprocess_direction direction = preprocess_direction::raise_confidence;
  std::optional<input_box> box; ///< the preprocessed input is clamped into it
};

namespace detail {
inline void validate(const preprocess_options& o) {
  misd::detail::require_temperature(o.temperature, "preprocess");
  if (!(o.epsilon >= 0) || !std::isfinite(o.epsilon))
    throw invalid_argument(
        misd::detail::message("preprocess: epsilon ", o.epsilon, " must be finite and >= 0"));
  misd::detail::validate(o.box);
}
} // namespace detail

/// The logit score `s` of every example of `x`: 1 forward pass.
template <class M>
host_vector confidence(M& model, const batch_t<M>& x, logit_score s, double temperature = 1.0) {
  static_assert(misd::detail::check_classifier<M>());
  misd::detail::require_batch(x, name(s));
  host_matrix z;
  misd::detail::checked_logits(model, x, z, "logits");
  return confidence(s, z, temperature);
}

/// x' = clamp(x ± ε · sign(∇_x log C(x))) for the score `s` at temperature T:
/// 1 forward + 1 backward pass.
template <class M>
batch_t<M> preprocess_input(M& model, const batch_t<M>& x, logit_score s,
                            const preprocess_options& o) {
  static_assert(misd::detail::check_differentiable<M>());
  using ops = batch_ops<batch_t<M>>;
  detail::validate(o);
  misd::detail::require_batch(x, "preprocess");
  host_matrix z;
  model_buffers<M> buffers;
  const auto d =
      ops::sign(model_adapter<M>(model, buffers)
                    .logits_and_input_gradient(x, z, "logits", [&](const host_matrix& logits) {
                      return confidence_direction_upstream(s, logits, o.temperature);
                    }));
  const double step =
      o.direction == preprocess_direction::raise_confidence ? o.epsilon : -o.epsilon;
  auto out = ops::add_scaled_rows(x, host_vector::Constant(z.rows(), step), d);
  if (o.box)
    ops::clamp(out, o.box->lo, o.box->hi);
  return out;
}

/// The score `s` after preprocessing (ε = 0: no preprocessing, 1 forward pass only;
/// otherwise 2 forwards + 1 backward).
template <class M>
host_vector preprocessed_confidence(M& model, const batch_t<M>& x, logit_score s,
                                    const preprocess_options& o) {
  static_assert(misd::detail::check_differentiable<M>());
  detail::validate(o);
  if (o.epsilon == 0.0)
    return confidence(model, x, s, o.temperature);
  return confidence(model, preprocess_input(model, x, s, o), s, o.temperature);
}

/// ODIN (Liang et al. 2018): MSR at temperature T after preprocessing with magnitude ε.
template <class M>
host_vector odin(M& model, const batch_t<M>& x, const preprocess_options& o) {
  return preprocessed_confidence(model, x, logit_score::msr, o);
}

} // namespace misd::score
