// misd/train/trainable.hpp -- the Trainable role: a Differentiable model whose parameters
// an optimiser can update.
//
//   struct my_model {                                  // everything Differentiable has, plus
//     batch_type accumulate_gradients(const batch_type& x,   // adds dL/dθ for G = dL/dZ to the
//                                     const batch_type& g);  // stored gradients, returns dL/dX
//     void zero_gradients();                           // stored gradients := 0
//     std::vector<std::span<float>> parameters();      // θ as flat spans, and the gradients
//     std::vector<std::span<float>> gradients();       // in the same order and sizes
//   };
//
// parameters() and gradients() may return any sized range of std::span<S> (S float or
// double); the optimiser updates the spans in place. misd::eigen::mlp is the reference.
#pragma once

#include "misd/concepts.hpp"

#include <concepts>
#include <functional>
#include <ranges>
#include <span>
#include <type_traits>

namespace misd {

namespace detail {
template <class T>
struct is_mutable_float_span : std::false_type {};
template <class S, std::size_t E>
struct is_mutable_float_span<std::span<S, E>>
    : std::bool_constant<std::is_floating_point_v<S> && !std::is_const_v<S>> {};

/// A range of std::span<S> with S a mutable floating-point type.
template <class R>
concept span_range = std::ranges::input_range<R> &&
    is_mutable_float_span<std::remove_cvref_t<std::ranges::range_value_t<R>>>::value;

template <class M>
concept has_accumulate_gradients = has_batch_type<M> && requires(M& m, const batch_t<M>& x) {
  { m.accumulate_gradients(x, x) } -> std::convertible_to<batch_t<M>>;
};
/// Optional: `batch_type forward_backward(const batch_type& x, F upstream, bool input_gradient)`
/// computes z = f(x) once, takes G = upstream(z), accumulates dL/dθ and returns dL/dX (or an
/// empty batch when input_gradient is false). Models that offer it save a forward pass per
/// training step; misd::eigen::mlp does.
template <class M>
concept has_forward_backward = has_batch_type<M> &&
    requires(M& m, const batch_t<M>& x,
             const std::function<batch_t<M>(const batch_t<M>&)>& upstream) {
  { m.forward_backward(x, upstream, true) } -> std::convertible_to<batch_t<M>>;
};
template <class M>
concept has_zero_gradients = requires(M& m) {
  m.zero_gradients();
};
template <class M>
concept has_parameters = requires(M& m) {
  { m.parameters() } -> span_range;
};
template <class M>
concept has_gradients = requires(M& m) {
  { m.gradients() } -> span_range;
};
} // namespace detail

/// Differentiable + parameter gradients for an upstream gradient of the logits + access to
/// the parameters for an optimiser.
template <class M>
concept Trainable = Differentiable<M> && detail::has_accumulate_gradients<M> &&
    detail::has_zero_gradients<M> && detail::has_parameters<M> && detail::has_gradients<M>;

namespace detail {
/// Checked at the entry of every training algorithm; names the first missing member.
template <class M>
constexpr bool check_trainable() {
  check_differentiable<M>();
  if constexpr (has_batch_type<M>) {
    static_assert(has_accumulate_gradients<M>,
                  "misd: the model type lacks the member function 'batch_type "
                  "accumulate_gradients(const batch_type& x, const batch_type& g)' (see "
                  "misd/train/trainable.hpp)");
  }
  static_assert(has_zero_gradients<M>,
                "misd: the model type lacks the member function 'void zero_gradients()'");
  static_assert(has_parameters<M>,
                "misd: the model type lacks the member function 'parameters()' returning a "
                "range of std::span<float or double>");
  static_assert(has_gradients<M>,
                "misd: the model type lacks the member function 'gradients()' returning a "
                "range of std::span<float or double>");
  return true;
}
} // namespace detail

} // namespace misd
