// misd/model_adapter.hpp -- one adapter between the algorithms and a model, whatever form
// the model has.
//
// A model is at least a Differentiable one (misd/concepts.hpp): logits(x) and
// input_gradient(x, g). It may offer more, and the adapter then uses it:
//
//  * fused: one forward pass for the logits and their input gradient
//      batch_type logits_and_input_gradient(const batch_type& x,
//          const std::function<batch_type(const batch_type&)>& upstream);
//    passes the logits of x to `upstream` and returns the input gradient of what it
//    returns (the LibTorch adapter has it: a second forward pass costs as much as the first).
//  * in place: buffers of the model's own, and calls that write into existing batches
//      struct scratch_type { ... };   // default-constructible
//      void logits_into(const batch_type& x, Eigen::Index rows, batch_type& z, scratch_type& s);
//          // logits of the first `rows` examples of x into the first `rows` rows of z
//      void input_gradient_into(const batch_type& x, const batch_type& g, batch_type& dx,
//                               scratch_type& s);
//          // called right after logits_into(x, rows(x), z, s) with the same x and s, so
//          // that a model may reuse what its forward pass left in s
//    Taken when the backend has the row operations too (detail/batch_rows.hpp); then an
//    estimator called again with the same batch shape and workspace allocates nothing.
//
// `model_form_of<M>` says which form the adapter takes for M, so that a user can check at
// compile time that a model takes the path they wrote it for:
//
//   static_assert(misd::model_form_of<my_model> == misd::model_form::in_place);
//
// A model that declares part of a form with a signature that does not match (a
// scratch_type without logits_into, a logits_and_input_gradient of another signature)
// is rejected at compile time rather than silently run through the plain form.
#pragma once

#include "misd/concepts.hpp"
#include "misd/detail/batch_rows.hpp"
#include "misd/detail/model_calls.hpp"

#include <functional>
#include <optional>
#include <string_view>
#include <type_traits>

namespace misd {

/// The fused form: logits_and_input_gradient (see the top of this file).
template <class M>
concept FusedModel = Differentiable<M> &&
    requires(M& m, const batch_t<M>& x, const std::function<batch_t<M>(const batch_t<M>&)>& f) {
  { m.logits_and_input_gradient(x, f) } -> std::convertible_to<batch_t<M>>;
};

/// The in-place form: scratch_type, logits_into, input_gradient_into (see the top of this file).
template <class M>
concept InPlaceModel = Differentiable<M> && requires {
  typename std::remove_cvref_t<M>::scratch_type;
} && std::default_initializable<typename std::remove_cvref_t<M>::scratch_type> &&
    requires(M& m, const batch_t<M>& x, batch_t<M>& z,
             typename std::remove_cvref_t<M>::scratch_type& s, Eigen::Index n) {
  m.logits_into(x, n, z, s);
  m.input_gradient_into(x, x, z, s);
};

/// How the adapter calls a model.
enum class model_form {
  plain,    ///< logits, then input_gradient (a second forward inside the model, if it needs one)
  fused,    ///< logits_and_input_gradient: one forward for both
  in_place, ///< logits_into / input_gradient_into on buffers kept between calls
};

/// The form model_adapter<M> takes: in_place for an InPlaceModel whose backend has the row
/// operations, else fused for a FusedModel, else plain.
template <class M>
inline constexpr model_form model_form_of =
    InPlaceModel<M>&& detail::has_row_ops<batch_t<M>> ? model_form::in_place
    : FusedModel<M>                                   ? model_form::fused
                                                      : model_form::plain;

namespace detail {
template <class M>
concept declares_scratch = requires {
  typename std::remove_cvref_t<M>::scratch_type;
};
template <class M>
concept declares_logits_into = requires {
  &std::remove_cvref_t<M>::logits_into;
};
template <class M>
concept declares_fused = requires {
  &std::remove_cvref_t<M>::logits_and_input_gradient;
};

/// A model that declares part of a form must declare all of it, with the right signatures.
template <class M>
constexpr bool check_model_form() {
  static_assert(!(declares_scratch<M> || declares_logits_into<M>) || InPlaceModel<M>,
                "misd: the model declares scratch_type or logits_into but not the whole in-place "
                "form: void logits_into(const batch_type&, Eigen::Index, batch_type&, "
                "scratch_type&) and void input_gradient_into(const batch_type&, const "
                "batch_type&, batch_type&, scratch_type&), with a default-constructible "
                "scratch_type, and const member functions where the model is const (see "
                "misd/model_adapter.hpp)");
  static_assert(!declares_fused<M> || FusedModel<M>,
                "misd: the model's logits_and_input_gradient does not have the signature "
                "batch_type logits_and_input_gradient(const batch_type&, const "
                "std::function<batch_type(const batch_type&)>&) (see misd/model_adapter.hpp)");
  return true;
}

struct no_scratch {};
template <class M, bool = model_form_of<M> == model_form::in_place>
struct scratch_of {
  using type = no_scratch;
};
template <class M>
struct scratch_of<M, true> {
  using type = typename std::remove_cvref_t<M>::scratch_type;
};
} // namespace detail

/// Batches the adapter writes into, kept between calls (one per thread of the caller).
/// `clean_logits` serves logits_and_input_gradient, `logits` the other forward passes, so
/// that alternating two batch shapes reallocates neither.
template <class M>
struct model_buffers {
  using batch_type = batch_t<M>;
  typename detail::scratch_of<M>::type scratch;
  // Optional: a backend's batch need not be default-constructible.
  std::optional<batch_type> clean_logits, logits, upstream, gradient, rows;
};

/// The full interface over any Differentiable model: every algorithm calls the model
/// through it and never asks which form the model has. Every call checks what the model
/// returns (logits N x K with K >= 2 and finite; gradients of the input's shape and finite)
/// and throws misd::invalid_argument / misd::data_error naming `what`.
template <class M>
class model_adapter {
public:
  using batch_type = batch_t<M>;
  static constexpr model_form form = model_form_of<M>;

  model_adapter(M& model, model_buffers<M>& buffers) : model_(model), buf_(buffers) {
    static_assert(detail::check_differentiable<M>());
    static_assert(detail::check_model_form<M>());
  }

  M& model() { return model_; }

  /// Logits of the first `rows` examples of x into the first `rows` rows of z (host).
  void logits(const batch_type& x, std::size_t rows, host_matrix& z, std::string_view what) {
    using ops = batch_ops<batch_type>;
    if constexpr (form == model_form::in_place) {
      if (!buf_.logits)
        buf_.logits.emplace();
      model_.logits_into(x, static_cast<Eigen::Index>(rows), *buf_.logits, buf_.scratch);
      detail::require_logits_shape(*buf_.logits, ops::rows(x), what);
      detail::rows_to_host(*buf_.logits, rows, z);
      detail::require_finite_rows(z, rows, what);
    } else {
      if constexpr (detail::has_ray_points<batch_type>) {
        if (rows != ops::rows(x)) {
          if (!buf_.rows)
            buf_.rows.emplace(x);
          ops::copy_rows(x, 0, rows, *buf_.rows);
          detail::logits_to_host(model_.logits(*buf_.rows), rows, z, what);
          return;
        }
      }
      if (rows != ops::rows(x)) // unreachable: only backends with copy_rows ask for fewer rows
        throw invalid_argument(detail::message(what, ": a forward pass over ", rows, " of ",
                                               ops::rows(x), " rows needs batch_ops::copy_rows"));
      detail::logits_to_host(model_.logits(x), rows, z, what);
    }
  }

  /// z = the logits of x (host, checked) and the input gradient of `upstream(z)` (a host
  /// matrix N x K): one forward and one backward pass in every form. The result lives in
  /// the buffers until the next call.
  template <class Upstream>
  const batch_type& logits_and_input_gradient(const batch_type& x, host_matrix& z,
                                              std::string_view what, Upstream&& upstream) {
    using B = batch_type;
    using ops = batch_ops<B>;
    const std::size_t n = ops::rows(x);
    if constexpr (form == model_form::in_place) {
      if (!buf_.clean_logits)
        buf_.clean_logits.emplace();
      if (!buf_.gradient)
        buf_.gradient.emplace();
      model_.logits_into(x, static_cast<Eigen::Index>(n), *buf_.clean_logits, buf_.scratch);
      detail::require_logits_shape(*buf_.clean_logits, n, what);
      detail::rows_to_host(*buf_.clean_logits, n, z);
      detail::require_finite_rows(z, n, what);
      detail::host_to(upstream(static_cast<const host_matrix&>(z)), *buf_.clean_logits,
                      buf_.upstream);
      model_.input_gradient_into(x, *buf_.upstream, *buf_.gradient, buf_.scratch);
      detail::require_input_shape(*buf_.gradient, x, "input_gradient_into");
      detail::require_finite_gradient(*buf_.gradient, "input_gradient_into");
    } else if constexpr (form == model_form::fused) {
      bool called = false;
      const std::function<B(const B&)> f = [&](const B& logits) -> B {
        detail::logits_to_host(logits, n, z, what);
        called = true;
        return ops::from_host(upstream(static_cast<const host_matrix&>(z)), logits);
      };
      buf_.gradient.emplace(model_.logits_and_input_gradient(x, f));
      if (!called)
        throw invalid_argument(detail::message(
            what, ": logits_and_input_gradient returned without calling its upstream "
                  "function (it must pass the logits to it)"));
      detail::require_input_shape(*buf_.gradient, x, "logits_and_input_gradient");
      detail::require_finite_gradient(*buf_.gradient, "logits_and_input_gradient");
    } else {
      detail::logits_to_host(model_.logits(x), n, z, what);
      buf_.gradient.emplace(input_gradient_value(x, upstream(static_cast<const host_matrix&>(z))));
    }
    return *buf_.gradient;
  }

  /// The input gradient of a host upstream gradient g (N x K) at x, checked.
  batch_type input_gradient(const batch_type& x, const host_matrix& g) {
    return input_gradient_value(x, g);
  }

private:
  batch_type input_gradient_value(const batch_type& x, const host_matrix& g) {
    auto dx = model_.input_gradient(x, batch_ops<batch_type>::from_host(g, x));
    detail::require_input_shape(dx, x, "input_gradient");
    detail::require_finite_gradient(dx, "input_gradient");
    return dx;
  }

  M& model_;
  model_buffers<M>& buf_;
};

} // namespace misd
