// misd/score/method.hpp -- every confidence score and robust-radius estimator behind one
// interface, so that an evaluation loops over "methods" without caring what each one is.
//
//   auto m = misd::score::make_method<Model>("odin");
//   for (const auto& p : m.grid())
//     std::vector<double> c = m.confidence(model, x, p);
//
// A method's work is split in two so that a protocol can compute it once per grid point
// over a whole set and then reuse it for every split:
//   compute(model, x, p)            the model-dependent part (forward/backward passes);
//   confidence(output, fit, fit_correct)  the confidences; only methods learned from a
//                                    labelled set (RelU, pnorm-softmax) use the fit output
//                                    and correctness.
// Registry names (docs/cli.md): msr, odin, doctor, energy, max-logit, entropy, margin, relu,
// maxlogit-pnorm, pnorm-softmax, gen, rr-bs, rr-bs-pgd, rr-fast, rr-refine, deepfool, rr-iter.
// Default grids: the paper's T x ε grid for odin and doctor, its T grid for relu and the rr-*
// estimators, T = 1 for deepfool and rr-iter (their steps use logit differences, in which T
// cancels), the MSR fallback then p = 0 … 9 for maxlogit-pnorm and pnorm-softmax (whose fit then
// searches T on the validation part), γ x M for gen, T = 1 (ε = 0) for the plain baselines.
#pragma once

#include "misd/metric/aurc.hpp"
#include "misd/radius/deepfool.hpp"
#include "misd/radius/rr_bs.hpp"
#include "misd/radius/rr_fast.hpp"
#include "misd/radius/rr_iter.hpp"
#include "misd/radius/rr_refine.hpp"
#include "misd/score/posthoc.hpp"
#include "misd/score/preprocess.hpp"
#include "misd/score/relu.hpp"

#include <array>
#include <cstdint>
#include <functional>
#include <limits>
#include <optional>
#include <span>
#include <sstream>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

namespace misd::score {

/// One point of a method's hyper-parameter grid.
struct hyper_parameters {
  double temperature = 1.0;
  double epsilon = 0.0; ///< input-preprocessing magnitude (odin, doctor)
  /// maxlogit-pnorm, pnorm-softmax: the norm's order p (0: no normalisation); unset: 2.
  std::optional<double> norm_order = {};
  /// maxlogit-pnorm, pnorm-softmax: this point is the MSR fallback (log MSR at T = 1), which
  /// the grid lists first so that a tie in validation AURC keeps MSR.
  bool msr_fallback = false;
  std::optional<double> gen_gamma = {};    ///< gen: γ; unset: 0.1
  std::optional<long long> gen_top_m = {}; ///< gen: M (capped at K); unset: 100
  friend bool operator==(const hyper_parameters&, const hyper_parameters&) = default;
};

/// The point as text: "T=… ε=…", with the fields a method set ("p=…", "γ=…", "M=…", "MSR").
inline std::string describe(const hyper_parameters& h) {
  if (h.msr_fallback)
    return "MSR";
  std::ostringstream os;
  os << "T=" << h.temperature;
  if (h.epsilon != 0.0)
    os << " ε=" << h.epsilon;
  if (h.norm_order)
    os << " p=" << *h.norm_order;
  if (h.gen_gamma)
    os << " γ=" << *h.gen_gamma;
  if (h.gen_top_m)
    os << " M=" << *h.gen_top_m;
  return os.str();
}

/// The paper's temperature grid (docs/algorithms.md, "Confidence scores").
inline std::vector<double> paper_temperature_grid() {
  return {0.2, 0.4, 0.6, 0.8, 1, 1.1, 1.2, 1.3, 1.4, 1.5, 2, 2.5, 3, 100, 1000};
}
/// The paper's preprocessing-magnitude grid (docs/algorithms.md, "Confidence scores").
inline std::vector<double> paper_epsilon_grid() {
  return {0, 5e-5, 1e-4, 1.5e-4, 2e-4, 2.5e-4, 3e-4, 3.5e-4, 4e-4, 6e-4, 8e-4, 1e-3};
}
/// Every (T, ε) pair, T outermost.
inline std::vector<hyper_parameters> make_grid(const std::vector<double>& temperatures,
                                               const std::vector<double>& epsilons = {0.0}) {
  std::vector<hyper_parameters> g;
  for (double t : temperatures)
    for (double e : epsilons)
      g.push_back({t, e});
  return g;
}

/// What a method computed over a set at one grid point.
struct method_output {
  std::vector<double> confidence; ///< the confidences (methods that need no fitting)
  host_matrix features;           ///< fitted methods: what they are fitted on and applied to
                                  ///< (RelU: N x K softmax probabilities)
  /// The radius estimators: each example's status, to be read next to its confidence
  /// (a zero_direction radius of 0 means "not measured", not "least confident").
  /// Empty for the other methods. (Default-initialised, so that `{confidence, features}`
  /// stays a complete initialiser.)
  std::vector<radius_status> status = {};
  /// The radius estimators' passes (radius_result's forwards, backwards, example_forwards).
  std::size_t forwards = 0, backwards = 0, example_forwards = 0;
  /// The grid point it was computed at (method::compute sets it; fitted methods read it).
  hyper_parameters point = {};
};

/// What a fitted method returns: the target's confidences and, when the fit itself chose a
/// hyper-parameter on the labelled set (pnorm-softmax's T), the point it used.
struct fitted_confidence {
  std::vector<double> confidence;
  std::optional<hyper_parameters> chosen;
  fitted_confidence(std::vector<double> c, std::optional<hyper_parameters> h = {}) // NOLINT
      : confidence(std::move(c)), chosen(std::move(h)) {}
};

/// How a method learned from labelled data (RelU, pnorm-softmax) scores: (output on the fit
/// set, its 0/1 correctness, output to score) -> confidences. A function returning just a
/// std::vector<double> converts to it.
using fit_function = std::function<fitted_confidence(const method_output& fit,
                                                     std::span<const std::uint8_t> fit_correct,
                                                     const method_output& target)>;

/// The options of each radius estimator the registry makes (rr-bs, rr-bs-pgd, rr-fast,
/// rr-refine); the temperature comes from the grid.
struct radius_method_options {
  rr_bs_options rr_bs;
  rr_bs_pgd_options rr_bs_pgd;
  rr_fast_options rr_fast;
  rr_refine_options rr_refine;
  deepfool_options deepfool;
  rr_iter_options rr_iter;
};

/// Options shared by the methods the registry makes.
struct method_options {
  /// Preprocessed inputs and RR-BS's probes (rr-bs, rr-bs-pgd, rr-refine) are clamped into
  /// it (overrides the estimators' own box when set).
  std::optional<input_box> box;
  preprocess_direction direction = preprocess_direction::raise_confidence;
  radius_method_options radius;
  double relu_lambda = 0.5;
  /// maxlogit-pnorm, pnorm-softmax: subtract each row's mean logit before the norm.
  bool pnorm_centre = false;
  /// pnorm-softmax: the T values searched on the fit set (τ = T / ν̄, lowest AURC); empty:
  /// the grid point's T.
  std::vector<double> pnorm_temperatures = pnorm_temperature_grid();
  /// gen: the number of classes K, to cap its M grid at K and drop the repeats (0: not capped;
  /// M is still capped at K when scoring).
  std::size_t classes = 0;
};

/// A confidence method, type-erased over how it computes: see the header comment.
template <class M>
class method {
public:
  using compute_function =
      std::function<method_output(M& model, const batch_t<M>& x, const hyper_parameters& p)>;
  using fit_function = score::fit_function;

  method(std::string name, std::vector<hyper_parameters> grid, compute_function compute,
         fit_function fit = {})
      : name_(std::move(name)), grid_(std::move(grid)), compute_(std::move(compute)),
        fit_(std::move(fit)) {
    if (grid_.empty())
      throw invalid_argument(misd::detail::message("method '", name_, "': empty grid"));
    if (!compute_)
      throw invalid_argument(misd::detail::message("method '", name_, "': no compute function"));
  }

  const std::string& name() const { return name_; }
  const std::vector<hyper_parameters>& grid() const { return grid_; }
  method& set_grid(std::vector<hyper_parameters> g) {
    if (g.empty())
      throw invalid_argument(misd::detail::message("method '", name_, "': empty grid"));
    grid_ = std::move(g);
    return *this;
  }
  /// Whether the method is learned from a labelled set (RelU).
  bool needs_fit() const { return static_cast<bool>(fit_); }

  /// The model-dependent part over the whole batch.
  method_output compute(M& model, const batch_t<M>& x, const hyper_parameters& p) const {
    auto out = compute_(model, x, p);
    out.point = p;
    return out;
  }

  /// Confidences of `target`; fitted methods fit on (`fit`, `fit_correct`) first.
  std::vector<double> confidence(const method_output& target, const method_output* fit = nullptr,
                                 std::span<const std::uint8_t> fit_correct = {}) const {
    return fitted(target, fit, fit_correct).confidence;
  }

  /// As confidence(), with the point a fitted method chose on the fit set (if it chose one).
  fitted_confidence fitted(const method_output& target, const method_output* fit = nullptr,
                           std::span<const std::uint8_t> fit_correct = {}) const {
    if (!fit_)
      return {target.confidence};
    if (!fit)
      throw invalid_argument(
          misd::detail::message("method '", name_,
                                "' is learned from labelled data: call fit(model, x, labels, p) "
                                "first, or pass the output it is fitted on"));
    return fit_(*fit, fit_correct, target);
  }

  /// Fitted methods: remember a labelled set to fit on (correct = argmax logits == label).
  void fit(M& model, const batch_t<M>& x, const label_vector& labels, const hyper_parameters& p) {
    static_assert(misd::detail::check_classifier<M>());
    host_matrix z;
    misd::detail::require_batch(x, name_);
    misd::detail::checked_logits(model, x, z, "logits");
    misd::detail::require_labels(labels, static_cast<std::size_t>(z.rows()),
                                 static_cast<std::size_t>(z.cols()), name_);
    label_vector yhat;
    misd::detail::argmax_rows(z, yhat);
    fitted_correct_.resize(yhat.size());
    for (std::size_t i = 0; i < yhat.size(); ++i)
      fitted_correct_[i] = yhat[i] == labels[i] ? 1 : 0;
    fitted_ = compute(model, x, p);
  }

  /// The confidences of every example of `x` at hyper-parameters `p`.
  std::vector<double> confidence(M& model, const batch_t<M>& x, const hyper_parameters& p) const {
    const auto out = compute(model, x, p);
    return confidence(out, fitted_ ? &*fitted_ : nullptr, fitted_correct_);
  }

private:
  std::string name_;
  std::vector<hyper_parameters> grid_;
  compute_function compute_;
  fit_function fit_;
  std::optional<method_output> fitted_;
  std::vector<std::uint8_t> fitted_correct_;
};

/// The names make_method knows, in the order of docs/cli.md.
inline const std::vector<std::string>& method_names() {
  static const std::vector<std::string> names{
      "msr",       "odin",    "doctor",         "energy",        "max-logit", "entropy",
      "margin",    "relu",    "maxlogit-pnorm", "pnorm-softmax", "gen",       "rr-bs",
      "rr-bs-pgd", "rr-fast", "rr-refine",      "deepfool",      "rr-iter"};
  return names;
}

namespace detail {
inline std::vector<double> to_std(const host_vector& v) {
  return {v.data(), v.data() + v.size()};
}

inline std::string known_names() {
  std::string s;
  for (const auto& n : method_names())
    s += (s.empty() ? "" : ", ") + n;
  return s;
}

template <class M>
method<M> logit_method(std::string method_name, logit_score s, std::vector<hyper_parameters> grid,
                       const method_options& o) {
  auto compute = [s, o](M& model, const batch_t<M>& x, const hyper_parameters& p) {
    if (p.epsilon == 0.0)
      return method_output{to_std(confidence(model, x, s, p.temperature)), {}, {}};
    if constexpr (Differentiable<M>) {
      const preprocess_options po{p.temperature, p.epsilon, o.direction, o.box};
      return method_output{to_std(preprocessed_confidence(model, x, s, po)), {}, {}};
    } else {
      throw invalid_argument(misd::detail::message(
          score::name(s), ": epsilon ", p.epsilon,
          " needs input preprocessing, which needs a Differentiable model (input_gradient)"));
      return method_output{};
    }
  };
  return method<M>(std::move(method_name), std::move(grid), compute);
}

/// The logits of a whole batch, for the methods computed from them alone.
template <class M>
host_matrix batch_logits(M& model, const batch_t<M>& x, const hyper_parameters& p,
                         std::string_view what) {
  if (p.epsilon != 0.0)
    throw invalid_argument(
        misd::detail::message(what, ": epsilon is not a hyper-parameter of this method"));
  host_matrix z;
  misd::detail::require_batch(x, what);
  misd::detail::checked_logits(model, x, z, "logits");
  return z;
}

/// maxlogit-pnorm and pnorm-softmax: the MSR fallback point first, then p = 0 … 9.
inline std::vector<hyper_parameters> pnorm_grid() {
  hyper_parameters fallback;
  fallback.msr_fallback = true;
  std::vector<hyper_parameters> g{fallback};
  for (double p : pnorm_order_grid()) {
    hyper_parameters h;
    h.norm_order = p;
    g.push_back(h);
  }
  return g;
}

/// pnorm-softmax's fit: τ = T / ν̄ with ν̄ the fit set's mean ‖z̃‖_p, T the first of `temps`
/// with the lowest AURC on the fit set. Features are [z̃ / ‖z̃‖_p | ‖z̃‖_p] (the fallback
/// point: [z | 1], scored at τ = 1). An empty fit set: τ = the point's T (no rescaling).
inline fitted_confidence pnorm_softmax_fit(const method_output& on,
                                           std::span<const std::uint8_t> correct,
                                           const method_output& target,
                                           const std::vector<double>& temps) {
  const Eigen::Index k = target.features.cols() - 1;
  hyper_parameters chosen = target.point;
  if (k < 2)
    throw invalid_argument(misd::detail::message(
        "pnorm-softmax: the output to score has ", target.features.cols(),
        " feature columns, expected K + 1 (the normalised logits and their norm)"));
  if (target.point.msr_fallback)
    return {to_std(log_msr_of_columns(target.features, k, 1.0)), chosen};
  if (on.features.rows() == 0)
    return {to_std(log_msr_of_columns(target.features, k, target.point.temperature)), chosen};
  if (on.features.cols() != target.features.cols())
    throw invalid_argument(misd::detail::message("pnorm-softmax: fit set has ", on.features.cols(),
                                                 " feature columns, target ",
                                                 target.features.cols()));
  const double nu = on.features.col(k).mean();
  const std::vector<double> ts =
      temps.empty() ? std::vector<double>{target.point.temperature} : temps;
  double best_t = ts.front();
  if (ts.size() > 1) {
    if (correct.size() != static_cast<std::size_t>(on.features.rows()))
      throw invalid_argument(misd::detail::message("pnorm-softmax: ", on.features.rows(),
                                                   " fit rows but ", correct.size(),
                                                   " correctness values"));
    double best = std::numeric_limits<double>::infinity();
    for (double t : ts) {
      misd::detail::require_temperature(t, "pnorm-softmax");
      const auto c = to_std(log_msr_of_columns(on.features, k, t / nu));
      const double a = metric::aurc(c, correct);
      if (a < best) {
        best = a;
        best_t = t;
      }
    }
  }
  misd::detail::require_temperature(best_t, "pnorm-softmax");
  chosen.temperature = best_t;
  return {to_std(log_msr_of_columns(target.features, k, best_t / nu)), chosen};
}

/// A radius estimator `run(model, x, options)` with options `base` and the grid's temperature.
template <class M, class Options, class Run>
method<M> radius_method(std::string name, Options base, const method_options& o, Run run) {
  if constexpr (std::is_base_of_v<ray_search_options, Options> ||
                std::is_base_of_v<minimal_perturbation_options, Options>)
    if (o.box)
      base.box = o.box;
  // DeepFool and rr-iter step on logit differences: T cancels, so their grid is T = 1.
  auto grid = std::is_base_of_v<minimal_perturbation_options, Options>
                  ? make_grid({1.0})
                  : make_grid(paper_temperature_grid());
  auto compute = [name, base, run](M& model, const batch_t<M>& x, const hyper_parameters& p) {
    if (p.epsilon != 0.0)
      throw invalid_argument(
          misd::detail::message(name, ": epsilon is not a hyper-parameter of this method"));
    auto ro = base;
    ro.temperature = p.temperature;
    radius_result r = run(model, x, ro);
    return method_output{to_std(r.radius), {},          std::move(r.status),
                         r.forwards,       r.backwards, r.example_forwards};
  };
  return method<M>(name, std::move(grid), compute);
}

template <class M>
method<M> radius_method(const std::string& name, const method_options& o) {
  if (name == "rr-fast")
    return radius_method<M>(
        name, o.radius.rr_fast, o,
        [](M& m, const batch_t<M>& x, const rr_fast_options& ro) { return rr_fast(m, x, ro); });
  if (name == "rr-bs")
    return radius_method<M>(
        name, o.radius.rr_bs, o,
        [](M& m, const batch_t<M>& x, const rr_bs_options& ro) { return rr_bs(m, x, ro); });
  if (name == "deepfool")
    return radius_method<M>(
        name, o.radius.deepfool, o,
        [](M& m, const batch_t<M>& x, const deepfool_options& ro) { return deepfool(m, x, ro); });
  if (name == "rr-iter")
    return radius_method<M>(
        name, o.radius.rr_iter, o,
        [](M& m, const batch_t<M>& x, const rr_iter_options& ro) { return rr_iter(m, x, ro); });
  if (name == "rr-refine")
    return radius_method<M>(
        name, o.radius.rr_refine, o,
        [](M& m, const batch_t<M>& x, const rr_refine_options& ro) { return rr_refine(m, x, ro); });
  return radius_method<M>(
      name, o.radius.rr_bs_pgd, o,
      [](M& m, const batch_t<M>& x, const rr_bs_pgd_options& ro) { return rr_bs_pgd(m, x, ro); });
}
} // namespace detail

/// The method called `name` (see method_names()); unknown names, and methods that need
/// an input gradient the model type lacks, throw misd::invalid_argument.
template <class M>
method<M> make_method(std::string_view name, const method_options& o = {}) {
  static_assert(misd::detail::check_classifier<M>());
  const std::string n(name);
  const auto t1 = make_grid({1.0});
  if (n == "msr")
    return detail::logit_method<M>(n, logit_score::msr, t1, o);
  if (n == "max-logit")
    return detail::logit_method<M>(n, logit_score::max_logit, t1, o);
  if (n == "energy")
    return detail::logit_method<M>(n, logit_score::energy, t1, o);
  if (n == "entropy")
    return detail::logit_method<M>(n, logit_score::negative_entropy, t1, o);
  if (n == "margin")
    return detail::logit_method<M>(n, logit_score::margin, t1, o);
  if (n == "doctor")
    return detail::logit_method<M>(
        n, logit_score::doctor,
        make_grid(paper_temperature_grid(),
                  Differentiable<M> ? paper_epsilon_grid() : std::vector<double>{0.0}),
        o);
  if (n == "maxlogit-pnorm") {
    auto compute = [centre = o.pnorm_centre](M& model, const batch_t<M>& x,
                                             const hyper_parameters& p) {
      const host_matrix z = detail::batch_logits(model, x, p, "maxlogit-pnorm");
      if (p.msr_fallback)
        return method_output{detail::to_std(confidence(logit_score::msr, z)), {}, {}};
      return method_output{
          detail::to_std(maxlogit_pnorm(z, p.norm_order.value_or(2.0), centre)), {}, {}};
    };
    return method<M>(n, detail::pnorm_grid(), compute);
  }
  if (n == "pnorm-softmax") {
    auto compute = [centre = o.pnorm_centre](M& model, const batch_t<M>& x,
                                             const hyper_parameters& p) {
      const host_matrix z = detail::batch_logits(model, x, p, "pnorm-softmax");
      if (!p.msr_fallback)
        return method_output{
            {}, pnorm_normalised_logits(z, p.norm_order.value_or(2.0), centre), {}};
      host_matrix f(z.rows(), z.cols() + 1);
      f << z, host_vector::Ones(z.rows());
      return method_output{{}, std::move(f), {}};
    };
    auto fit = [temps = o.pnorm_temperatures](const method_output& on,
                                              std::span<const std::uint8_t> correct,
                                              const method_output& target) {
      return detail::pnorm_softmax_fit(on, correct, target, temps);
    };
    return method<M>(n, detail::pnorm_grid(), compute, fit);
  }
  if (n == "gen") {
    auto compute = [](M& model, const batch_t<M>& x, const hyper_parameters& p) {
      const host_matrix z = detail::batch_logits(model, x, p, "gen");
      return method_output{detail::to_std(gen(z, p.gen_gamma.value_or(0.1),
                                              p.gen_top_m.value_or(100), p.temperature)),
                           {},
                           {}};
    };
    std::vector<hyper_parameters> grid;
    for (double g : gen_gamma_grid())
      for (long long m : gen_top_m_grid(o.classes)) {
        hyper_parameters h;
        h.gen_gamma = g;
        h.gen_top_m = m;
        grid.push_back(h);
      }
    return method<M>(n, std::move(grid), compute);
  }
  if (n == "relu") {
    auto compute = [](M& model, const batch_t<M>& x, const hyper_parameters& p) {
      const host_matrix z = detail::batch_logits(model, x, p, "relu");
      return method_output{{}, softmax(z, p.temperature), {}};
    };
    auto fit = [lambda = o.relu_lambda](const method_output& on,
                                        std::span<const std::uint8_t> correct,
                                        const method_output& target) {
      const auto w = relu_fit_matrix(on.features, correct, lambda);
      return detail::to_std(relu_confidence_from_probabilities(w, target.features));
    };
    // Tuned over the paper's T grid like the other softmax scores; no input preprocessing
    // (its direction would depend on the matrix fitted per validation part).
    return method<M>(n, make_grid(paper_temperature_grid()), compute, fit);
  }
  const bool is_radius = n == "rr-bs" || n == "rr-bs-pgd" || n == "rr-fast" || n == "rr-refine" ||
                         n == "deepfool" || n == "rr-iter";
  if (n == "odin" || is_radius) {
    if constexpr (Differentiable<M>) {
      if (n == "odin")
        return detail::logit_method<M>(
            n, logit_score::msr, make_grid(paper_temperature_grid(), paper_epsilon_grid()), o);
      return detail::radius_method<M>(n, o);
    } else {
      throw invalid_argument(misd::detail::message(
          "method '", n, "' needs the model's input gradient (a Differentiable model)"));
    }
  }
  throw invalid_argument(
      misd::detail::message("unknown method '", n, "'; known methods: ", detail::known_names()));
}

} // namespace misd::score
