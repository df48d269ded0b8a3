// misd/eval/report.hpp -- mean ± std of a protocol's metrics per method, printed as the
// paper's Table 2 (AUROC, FPR95 %, AURC×1000, accuracy %) and written as CSV to a stream.
// JSON and the atomic writes to files are in misd/eval/report_io.hpp (component misd::io:
// nlohmann_json); this header needs only Eigen.
//
// std is the sample standard deviation (n − 1 in the denominator; 0 for a single run).
// A metric undefined on any run (e.g. AUROC on a test part without errors) is undefined
// in the summary, with that run's reason.
#pragma once

#include "misd/eval/protocol.hpp"

#include <array>
#include <cmath>
#include <cstdio>
#include <optional>
#include <ostream>
#include <sstream>
#include <string>
#include <string_view>

namespace misd::eval {

/// The metrics a report summarises, in this order; AURC and E-AURC as fractions.
inline constexpr std::array<std::string_view, 7> report_metrics{
    "auroc", "fpr95", "aurc", "eaurc", "aupr_error", "aupr_success", "accuracy"};

/// One metric of a summary by name (see report_metrics).
inline metric::metric_value metric_of(const metric::summary& s, std::string_view name) {
  if (name == "auroc")
    return s.auroc;
  if (name == "fpr95")
    return s.fpr95;
  if (name == "aurc")
    return metric::metric_value::of(s.aurc);
  if (name == "eaurc")
    return metric::metric_value::of(s.eaurc);
  if (name == "aupr_error")
    return s.aupr_error;
  if (name == "aupr_success")
    return s.aupr_success;
  if (name == "accuracy")
    return metric::metric_value::of(s.accuracy);
  throw invalid_argument(misd::detail::message("unknown metric '", name, "'"));
}

struct mean_std {
  metric::metric_value mean, std;
};

/// Mean and sample std of one metric over a method's runs.
inline mean_std aggregate(const method_report& m, std::string_view metric_name) {
  if (m.runs.empty())
    return {metric::metric_value::undefined("no runs"), metric::metric_value::undefined("no runs")};
  double sum = 0.0;
  std::vector<double> v;
  for (const auto& r : m.runs) {
    const auto x = metric_of(r.test, metric_name);
    if (!x.defined()) {
      const std::string why = "seed " + std::to_string(r.seed) + ": " + x.reason;
      return {metric::metric_value::undefined(why), metric::metric_value::undefined(why)};
    }
    v.push_back(*x.value);
    sum += *x.value;
  }
  const double mean = sum / double(v.size());
  double ss = 0.0;
  for (double x : v)
    ss += (x - mean) * (x - mean);
  const double sd = v.size() > 1 ? std::sqrt(ss / double(v.size() - 1)) : 0.0;
  return {metric::metric_value::of(mean), metric::metric_value::of(sd)};
}

/// A radius estimator's statuses summed over its runs' test parts (nullopt for the other
/// methods).
inline std::optional<radius_status_counts> status_totals(const method_report& m) {
  std::optional<radius_status_counts> t;
  for (const auto& r : m.runs)
    if (r.test_status) {
      if (!t)
        t.emplace();
      for (std::size_t k = 0; k < radius_status_count; ++k)
        (*t)[k] += (*r.test_status)[k];
    }
  return t;
}

namespace detail {
inline std::string format_pm(const mean_std& a, double scale, int digits) {
  if (!a.mean.defined())
    return "undefined";
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f ± %.*f", digits, *a.mean.value * scale, digits,
                *a.std.value * scale);
  return buf;
}
inline std::string format_parameters(const method_report& m) {
  std::ostringstream os;
  for (std::size_t i = 0; i < m.runs.size(); ++i) {
    os << (i ? "; " : "") << score::describe(m.runs[i].chosen);
  }
  return os.str();
}
} // namespace detail

/// The paper's Table 2 layout as a Markdown table, one row per method.
inline std::string markdown_table(const protocol_report& r) {
  std::ostringstream os;
  os << "| Method | AUROC ↑ | FPR95 % ↓ | AURC×1000 ↓ | Accuracy % | chosen (per seed) |\n"
     << "|---|---|---|---|---|---|\n";
  for (const auto& m : r.methods)
    os << "| " << m.name << " | " << detail::format_pm(aggregate(m, "auroc"), 1.0, 4) << " | "
       << detail::format_pm(aggregate(m, "fpr95"), 100.0, 2) << " | "
       << detail::format_pm(aggregate(m, "aurc"), 1000.0, 2) << " | "
       << detail::format_pm(aggregate(m, "accuracy"), 100.0, 2) << " | "
       << detail::format_parameters(m) << " |\n";
  os << "\n"
     << r.n << " examples (" << r.errors << " misclassified), " << r.options.seeds.size()
     << " random splits " << std::lround(100 * r.options.validation_fraction) << "% validation / "
     << std::lround(100 * (1 - r.options.validation_fraction))
     << "% test; hyper-parameters by lowest validation AURC; mean ± sample std over splits.\n";
  // Examples whose radius is only a lower bound, or was not measured at all, are named here:
  // their scores are in the table, and a reader must know how many there are.
  for (const auto& m : r.methods)
    if (const auto t = status_totals(m)) {
      const auto nb = (*t)[static_cast<std::size_t>(radius_status::not_bracketed)];
      const auto zd = (*t)[static_cast<std::size_t>(radius_status::zero_direction)];
      if (nb + zd > 0)
        os << "\n"
           << m.name << ": on the test parts (summed over splits), " << nb
           << " radii not bracketed (lower bounds) and " << zd
           << " with a zero attack direction (not measured, scored 0).\n";
    }
  return os.str();
}

/// CSV: one row per method, mean and std of every metric in report_metrics (fractions;
/// an undefined metric is an empty field).
inline void write_csv(std::ostream& os, const protocol_report& r) {
  os << "method,runs";
  for (auto k : report_metrics)
    os << ',' << k << "_mean," << k << "_std";
  os << '\n';
  os.precision(17);
  for (const auto& m : r.methods) {
    os << m.name << ',' << m.runs.size();
    for (auto k : report_metrics) {
      const auto a = aggregate(m, k);
      os << ',';
      if (a.mean.defined())
        os << *a.mean.value;
      os << ',';
      if (a.std.defined())
        os << *a.std.value;
    }
    os << '\n';
  }
}

} // namespace misd::eval
