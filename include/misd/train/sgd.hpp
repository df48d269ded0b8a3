// misd/train/sgd.hpp -- stochastic gradient descent with momentum and weight decay, over
// any ranges of parameter and gradient spans (PyTorch's torch.optim.SGD update rule).
#pragma once

#include "misd/error.hpp"
#include "misd/train/trainable.hpp"

#include <cmath>
#include <cstddef>
#include <ranges>
#include <span>
#include <vector>

namespace misd::train {

struct sgd_options {
  double momentum = 0.9;
  double weight_decay = 5e-4; ///< L2 coefficient, applied to every parameter
  bool nesterov = false;
};

/// Per parameter element, with learning rate `lr`:
///   g ← grad + wd·θ;  v ← μ·v + g (v = g on the first step);  θ ← θ − lr·(nesterov ? g + μ·v : v)
/// The momentum buffers are sized on the first step and must keep their sizes afterwards.
template <class Scalar>
class sgd {
public:
  explicit sgd(sgd_options o = {}) : o_(o) {
    if (!(o_.momentum >= 0 && o_.momentum < 1) || !(o_.weight_decay >= 0) ||
        !std::isfinite(o_.weight_decay))
      throw invalid_argument(detail::message("sgd: momentum ", o_.momentum,
                                             " must be in [0, 1) and weight decay ",
                                             o_.weight_decay, " finite and >= 0"));
  }

  template <detail::span_range P, detail::span_range G>
  void step(P&& parameters, G&& gradients, double lr) {
    if (!(lr >= 0) || !std::isfinite(lr))
      throw invalid_argument(
          detail::message("sgd: learning rate ", lr, " must be finite and >= 0"));
    std::size_t k = 0;
    auto g_it = std::ranges::begin(gradients);
    const auto g_end = std::ranges::end(gradients);
    for (std::span<Scalar> p : parameters) {
      if (g_it == g_end)
        throw invalid_argument(
            detail::message("sgd: ", k + 1, " parameter spans but only ", k, " gradient spans"));
      std::span<Scalar> g = *g_it++;
      if (g.size() != p.size())
        throw invalid_argument(detail::message("sgd: parameter span ", k, " has ", p.size(),
                                               " elements, its gradient ", g.size()));
      if (velocity_.size() == k)
        velocity_.emplace_back();
      auto& v = velocity_[k];
      const bool first = v.empty();
      if (first)
        v.resize(p.size());
      else if (v.size() != p.size())
        throw invalid_argument(detail::message("sgd: parameter span ", k, " changed size from ",
                                               v.size(), " to ", p.size()));
      const Scalar mu = static_cast<Scalar>(o_.momentum), wd = static_cast<Scalar>(o_.weight_decay),
                   rate = static_cast<Scalar>(lr);
      for (std::size_t j = 0; j < p.size(); ++j) {
        const Scalar gj = g[j] + wd * p[j];
        v[j] = first ? gj : mu * v[j] + gj;
        p[j] -= rate * (o_.nesterov ? gj + mu * v[j] : v[j]);
      }
      ++k;
    }
    if (g_it != g_end)
      throw invalid_argument(
          detail::message("sgd: more gradient spans than the ", k, " parameter spans"));
  }

  const sgd_options& options() const { return o_; }

private:
  sgd_options o_;
  std::vector<std::vector<Scalar>> velocity_;
};

} // namespace misd::train
