// misd/detail/first_pass.hpp -- the pass every ray-based estimator starts with: clean
// logits, predictions, and the FGSM direction for the predicted label (no ground truth).
#pragma once

#include "misd/attack/fgsm.hpp"
#include "misd/radius/options.hpp"

namespace misd::detail {

template <class B>
struct first_pass {
  host_matrix logits;       ///< N x K clean logits
  label_vector prediction;  ///< ŷ
  B direction;              ///< sign(∇_x CE(f(x)/T, ŷ))
  std::vector<bool> zero;   ///< examples whose direction is entirely zero
};

/// 1 forward + 1 backward; counts them into `r`.
template <class M>
first_pass<batch_t<M>> clean_pass(M& model, const batch_t<M>& x, double temperature,
                                  radius_result& r, std::string_view what) {
  require_batch(x, what);
  require_finite_input(x, what);
  host_matrix z;
  checked_logits(model, x, z, "logits");
  label_vector yhat;
  argmax_rows(z, yhat);
  auto d = loss_direction(model, x, z, yhat, temperature, 1.0);
  r.forwards += 1;
  r.backwards += 1;
  r.example_forwards += batch_ops<batch_t<M>>::rows(x);
  auto zero = zero_rows(d);
  return {std::move(z), std::move(yhat), std::move(d), std::move(zero)};
}

} // namespace misd::detail
