// misd/concepts.hpp -- what a model and its batches must provide.
//
// A model is anything that, for a batch X of N inputs, gives its N x K logits and the
// vector-Jacobian product with respect to the input:
//
//   struct my_model {
//     using batch_type = ...;                          // inputs and logits alike
//     batch_type logits(const batch_type& x);          // N x K
//     batch_type input_gradient(const batch_type& x,   // dL/dX for G = dL/dZ (N x K)
//                               const batch_type& g);
//   };
//
// A model may offer more (one forward pass for logits and gradient; calls that write into
// buffers it keeps): every algorithm calls it through misd::model_adapter, which takes the
// richest form the model has (misd/model_adapter.hpp, docs/model_types.md). Optional
// batch_ops members (all_finite, zero_rows, the row operations of detail/batch_rows.hpp)
// let a backend answer on its own device instead of copying to the host.
//
// The element-wise batch arithmetic the algorithms need is reached through one
// customisation point, misd::batch_ops<B>, which each backend specialises (see
// eigen/ops.hpp for the reference). Algorithms never name a backend type.
#pragma once

#include <Eigen/Core>

#include <concepts>
#include <cstddef>
#include <cstdint>
#include <type_traits>
#include <vector>

namespace misd {

/// Host-side per-example reals (radii, scales) and N x K logits, always double.
using host_vector = Eigen::VectorXd;
using host_matrix = Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
/// Class labels, one per example.
using label_vector = std::vector<int>;

/// Customisation point: specialise for a batch type B with these static members
///   std::size_t  rows(const B&)                     examples in the batch (N)
///   std::size_t  cols(const B&)                     numbers per example (D or K)
///   B            sign(const B& g)                   element-wise sign, sign(0) = 0,
///                                                   sign(NaN) = NaN
///   B            add_scaled_rows(const B& x, const host_vector& t, const B& d)
///                                                   x_i + t_i d_i for every example i
///   void         clamp(B& x, double lo, double hi)  element-wise clamp into a box
///   void         project_linf(B& x, const B& x0, const host_vector& eps)
///                                                   clamp x_i into [x0_i - eps_i, x0_i + eps_i]
///   B            uniform_noise(const B& like, std::uint64_t seed)
///                                                   i.i.d. uniform in [-1, 1], same shape
///   void         to_host(const B& z, host_matrix& out)  N x cols copy to the host
///   B            from_host(const host_matrix& g, const B& like)
///                                                   host N x K matrix as a batch like `like`
///
/// Training members, required by misd::train::fit and misd::train::mixup only (checked
/// there, not by the Batch concept):
///   B            gather_rows(const B& x, const std::size_t* idx, std::size_t n)
///                                                   rows idx[0..n) of x, in that order
///   B            mix_rows(const B& x, const std::size_t* perm, double lambda)
///                                                   row i: l·x_i + m·x_perm[i], with l = λ and
///                                                   m = 1 − λ rounded to the batch's scalar
/// and, for a model trained on host data of another type, optionally
///   B            from_host_batch(const H& h)        a row-major host Eigen batch H of float or
///                                                   double as a B, without a detour through
///                                                   double (the trainer converts each minibatch
///                                                   once)
template <class B>
struct batch_ops;

namespace detail {
template <class B>
concept has_batch_ops = requires {
  sizeof(batch_ops<B>);
};
} // namespace detail

/// A batch type whose arithmetic misd knows (batch_ops<B> is specialised and complete).
template <class B>
concept Batch = std::copy_constructible<B> && detail::has_batch_ops<B> &&
    requires(const B& x, B& y, const host_vector& t, const host_matrix& h, host_matrix& out) {
  { batch_ops<B>::rows(x) } -> std::convertible_to<std::size_t>;
  { batch_ops<B>::cols(x) } -> std::convertible_to<std::size_t>;
  { batch_ops<B>::sign(x) } -> std::convertible_to<B>;
  { batch_ops<B>::add_scaled_rows(x, t, x) } -> std::convertible_to<B>;
  batch_ops<B>::clamp(y, 0.0, 1.0);
  batch_ops<B>::project_linf(y, x, t);
  { batch_ops<B>::uniform_noise(x, std::uint64_t{}) } -> std::convertible_to<B>;
  batch_ops<B>::to_host(x, out);
  { batch_ops<B>::from_host(h, x) } -> std::convertible_to<B>;
};

/// The batch type of a model.
template <class M>
using batch_t = typename std::remove_cvref_t<M>::batch_type;

namespace detail {
template <class M>
concept has_batch_type = requires {
  typename std::remove_cvref_t<M>::batch_type;
};
template <class M>
concept has_logits = has_batch_type<M> && requires(M& m, const batch_t<M>& x) {
  { m.logits(x) } -> std::convertible_to<batch_t<M>>;
};
template <class M>
concept has_input_gradient = has_batch_type<M> && requires(M& m, const batch_t<M>& x) {
  { m.input_gradient(x, x) } -> std::convertible_to<batch_t<M>>;
};
} // namespace detail

/// batch -> logits.
template <class M>
concept Classifier = detail::has_batch_type<M> && Batch<batch_t<M>> && detail::has_logits<M>;

/// Classifier + vector-Jacobian product with respect to the input.
template <class M>
concept Differentiable = Classifier<M> && detail::has_input_gradient<M>;

namespace detail {
// Checked at every algorithm's entry, one requirement at a time, so that a model that
// lacks a member fails with a message naming that member rather than a wall of
// template diagnostics (the practice of ensmallen's static_checks.hpp).
template <class M>
constexpr bool check_classifier() {
  static_assert(has_batch_type<M>,
                "misd: the model type lacks the member type 'batch_type' (see misd/concepts.hpp)");
  if constexpr (has_batch_type<M>) {
    static_assert(has_batch_ops<batch_t<M>>,
                  "misd: no misd::batch_ops<batch_type> specialisation for the model's "
                  "batch_type; include the backend's ops header (e.g. misd/eigen/ops.hpp)");
    static_assert(has_logits<M>, "misd: the model type lacks the member function "
                                 "'batch_type logits(const batch_type&)'");
    static_assert(!has_batch_ops<batch_t<M>> || Batch<batch_t<M>>,
                  "misd: misd::batch_ops<batch_type> lacks a required operation "
                  "(rows, cols, sign, add_scaled_rows, clamp, project_linf, uniform_noise, "
                  "to_host, from_host)");
  }
  return true;
}
template <class M>
constexpr bool check_differentiable() {
  check_classifier<M>();
  if constexpr (has_batch_type<M>) {
    static_assert(has_input_gradient<M>,
                  "misd: the model type lacks the member function 'batch_type "
                  "input_gradient(const batch_type& x, const batch_type& g)'");
  }
  return true;
}
} // namespace detail

} // namespace misd
