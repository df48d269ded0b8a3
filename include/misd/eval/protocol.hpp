// misd/eval/protocol.hpp -- the paper's evaluation protocol (§5.1–5.2; docs/algorithms.md,
// "Evaluation protocol"): split the set at random into 20% validation and 80% test, choose each
// method's hyper-parameters on the validation part by lowest AURC, measure on the test part, repeat
// over seeds, and summarise each metric as mean ± std.
//
// Cost: each method is computed once per grid point over the whole set; the splits only
// select rows of those results (fitted methods such as RelU refit on each validation part,
// which is arithmetic on the stored outputs, not model passes).
#pragma once

#include "misd/detail/random.hpp"
#include "misd/metric/aurc.hpp"
#include "misd/metric/summary.hpp"
#include "misd/score/method.hpp"

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <optional>
#include <span>
#include <string>
#include <vector>

namespace misd::eval {

using score::hyper_parameters;
using score::method_output;

/// Disjoint validation and test rows covering 0 .. n−1, each list sorted ascending.
struct split {
  std::vector<std::size_t> validation;
  std::vector<std::size_t> test;
};

namespace detail {
template <class T>
std::vector<T> gather(std::span<const T> v, std::span<const std::size_t> rows) {
  std::vector<T> out;
  out.reserve(rows.size());
  for (auto r : rows)
    out.push_back(v[r]);
  return out;
}

inline host_matrix gather_rows(const host_matrix& m, std::span<const std::size_t> rows) {
  host_matrix out(static_cast<Eigen::Index>(rows.size()), m.cols());
  for (std::size_t i = 0; i < rows.size(); ++i)
    out.row(static_cast<Eigen::Index>(i)) = m.row(static_cast<Eigen::Index>(rows[i]));
  return out;
}
} // namespace detail

/// A seeded random split: round(validation_fraction · n) rows for validation, the rest
/// for test. Fisher–Yates with splitmix64, so a seed gives the same split everywhere.
inline split random_split(std::size_t n, std::uint64_t seed, double validation_fraction = 0.2) {
  if (!(validation_fraction > 0 && validation_fraction < 1))
    throw invalid_argument(misd::detail::message("random_split: validation fraction ",
                                                 validation_fraction, " must be in (0, 1)"));
  const auto n_val = static_cast<std::size_t>(std::llround(validation_fraction * double(n)));
  if (n < 2 || n_val == 0 || n_val == n)
    throw invalid_argument(misd::detail::message(
        "random_split: ", n, " examples cannot be split ", validation_fraction, " / ",
        1 - validation_fraction, " with both parts non-empty"));
  std::vector<std::size_t> idx(n);
  for (std::size_t i = 0; i < n; ++i)
    idx[i] = i;
  misd::detail::splitmix64 rng{seed};
  for (std::size_t i = n - 1; i > 0; --i)
    std::swap(idx[i], idx[rng.below(i + 1)]);
  split s;
  s.validation.assign(idx.begin(), idx.begin() + static_cast<std::ptrdiff_t>(n_val));
  s.test.assign(idx.begin() + static_cast<std::ptrdiff_t>(n_val), idx.end());
  std::sort(s.validation.begin(), s.validation.end());
  std::sort(s.test.begin(), s.test.end());
  return s;
}

struct protocol_options {
  std::vector<std::uint64_t> seeds{0, 1, 2};
  double validation_fraction = 0.2;
};

/// One method on one split.
struct method_run {
  std::uint64_t seed = 0;
  /// Lowest validation AURC (first such grid point on ties); a fitted method that chose a
  /// hyper-parameter on the validation part itself (pnorm-softmax's T) reports its choice.
  hyper_parameters chosen;
  double validation_aurc = 0.0;
  metric::summary test; ///< the metrics on the test part at `chosen`
  /// Radius estimators: the statuses of the test part's examples at `chosen` (empty for
  /// the other methods).
  std::optional<radius_status_counts> test_status;
};

/// One method over all splits.
struct method_report {
  std::string name;
  std::vector<method_run> runs;
};

/// The whole evaluation.
struct protocol_report {
  std::size_t n = 0;      ///< examples in the set that was split
  std::size_t errors = 0; ///< misclassified examples in it
  protocol_options options;
  std::vector<method_report> methods;
};

using score::fit_function;

/// Index of the grid point with the lowest AURC on `rows` (the first on ties).
inline std::size_t best_by_aurc(const std::vector<std::span<const double>>& confidences,
                                std::span<const std::uint8_t> correct,
                                std::span<const std::size_t> rows, double* best_aurc = nullptr) {
  if (confidences.empty())
    throw invalid_argument("misd: best_by_aurc: no grid points");
  const auto c = detail::gather(correct, rows);
  std::size_t best = 0;
  double best_value = std::numeric_limits<double>::infinity();
  for (std::size_t g = 0; g < confidences.size(); ++g) {
    if (confidences[g].size() != correct.size())
      throw invalid_argument(misd::detail::message("best_by_aurc: grid point ", g, " has ",
                                                   confidences[g].size(), " confidences for ",
                                                   correct.size(), " examples"));
    const auto conf = detail::gather(confidences[g], rows);
    const double a = metric::aurc(conf, c);
    if (a < best_value) {
      best_value = a;
      best = g;
    }
  }
  if (best_aurc)
    *best_aurc = best_value;
  return best;
}

/// The protocol for one method whose outputs over the whole set are already computed, one
/// per grid point. `fit` is empty for methods that need no fitting.
inline method_report evaluate_outputs(std::string name, const std::vector<hyper_parameters>& grid,
                                      const std::vector<method_output>& outputs,
                                      const fit_function& fit,
                                      std::span<const std::uint8_t> correct,
                                      const protocol_options& o = {}) {
  if (grid.size() != outputs.size() || grid.empty())
    throw invalid_argument(misd::detail::message("evaluate '", name, "': ", grid.size(),
                                                 " grid points but ", outputs.size(), " outputs"));
  if (o.seeds.empty())
    throw invalid_argument("misd: evaluation protocol: no seeds");
  const std::size_t n = correct.size();
  for (std::size_t g = 0; g < outputs.size(); ++g) {
    const std::size_t rows =
        fit ? static_cast<std::size_t>(outputs[g].features.rows()) : outputs[g].confidence.size();
    if (rows != n)
      throw invalid_argument(misd::detail::message("evaluate '", name, "': grid point ", g, " has ",
                                                   rows, " results for ", n, " examples"));
  }
  method_report rep{std::move(name), {}};
  for (auto seed : o.seeds) {
    const split s = random_split(n, seed, o.validation_fraction);
    // Views of the stored confidences; only fitted methods produce new ones per split.
    std::vector<std::vector<double>> fitted(fit ? outputs.size() : 0);
    std::vector<std::optional<hyper_parameters>> fit_chosen(outputs.size());
    std::vector<std::span<const double>> conf(outputs.size());
    for (std::size_t g = 0; g < outputs.size(); ++g) {
      if (fit) {
        method_output on{{}, detail::gather_rows(outputs[g].features, s.validation), {}};
        on.point = outputs[g].point;
        auto r = fit(on, detail::gather(correct, s.validation), outputs[g]);
        fitted[g] = std::move(r.confidence);
        fit_chosen[g] = std::move(r.chosen);
        conf[g] = fitted[g];
      } else {
        conf[g] = outputs[g].confidence;
      }
    }
    method_run run;
    run.seed = seed;
    const std::size_t b = best_by_aurc(conf, correct, s.validation, &run.validation_aurc);
    run.chosen = fit_chosen[b] ? *fit_chosen[b] : grid[b];
    const auto tc = detail::gather(conf[b], s.test);
    const auto ty = detail::gather(correct, s.test);
    run.test = metric::evaluate(tc, ty);
    if (const auto& st = outputs[b].status; !st.empty()) {
      if (st.size() != n)
        throw invalid_argument(misd::detail::message("evaluate '", rep.name, "': grid point ", b,
                                                     " has ", st.size(), " statuses for ", n,
                                                     " examples"));
      run.test_status = count_statuses(detail::gather(std::span<const radius_status>(st), s.test));
    }
    rep.runs.push_back(std::move(run));
  }
  return rep;
}

/// 0/1 correctness of the model's predictions (argmax of the logits, ties to the lowest
/// index) against `labels`: 1 forward pass.
template <class M>
std::vector<std::uint8_t> correctness(M& model, const batch_t<M>& x, const label_vector& labels) {
  static_assert(misd::detail::check_classifier<M>());
  misd::detail::require_batch(x, "correctness");
  host_matrix z;
  misd::detail::checked_logits(model, x, z, "logits");
  misd::detail::require_labels(labels, static_cast<std::size_t>(z.rows()),
                               static_cast<std::size_t>(z.cols()), "correctness");
  label_vector yhat;
  misd::detail::argmax_rows(z, yhat);
  std::vector<std::uint8_t> c(yhat.size());
  for (std::size_t i = 0; i < c.size(); ++i)
    c[i] = yhat[i] == labels[i] ? 1 : 0;
  return c;
}

/// The full protocol for every method on the labelled set (x, labels).
template <class M>
protocol_report evaluate_protocol(M& model, const batch_t<M>& x, const label_vector& labels,
                                  const std::vector<score::method<M>>& methods,
                                  const protocol_options& o = {}) {
  const auto correct = correctness(model, x, labels);
  protocol_report rep;
  rep.n = correct.size();
  for (auto c : correct)
    rep.errors += c ? 0 : 1;
  rep.options = o;
  for (const auto& m : methods) {
    std::vector<method_output> outputs;
    outputs.reserve(m.grid().size());
    for (const auto& p : m.grid())
      outputs.push_back(m.compute(model, x, p));
    fit_function fit;
    if (m.needs_fit())
      fit = [&m](const method_output& on, std::span<const std::uint8_t> c,
                 const method_output& target) { return m.confidence(target, &on, c); };
    rep.methods.push_back(evaluate_outputs(m.name(), m.grid(), outputs, fit, correct, o));
  }
  return rep;
}

} // namespace misd::eval
