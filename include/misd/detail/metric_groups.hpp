// misd/detail/metric_groups.hpp -- validation and tie grouping shared by the metrics.
//
// Every metric is a function of the examples sorted by confidence with ties grouped,
// so each public metric does one O(n log n) sort here and then one linear pass over
// the groups; evaluate() reuses one grouping for all of them.
#pragma once

#include "misd/error.hpp"

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <utility>
#include <vector>

namespace misd::detail {

/// Examples sharing one confidence value.
struct metric_group {
  double value;        // the shared confidence
  std::size_t correct; // correct examples in the group
  std::size_t wrong;   // misclassified examples in the group
};

/// Tie groups in descending order of confidence, with class totals.
struct metric_groups {
  std::vector<metric_group> groups;
  std::size_t n = 0;
  std::size_t correct = 0;
  std::size_t wrong = 0;
};

/// Checks sizes and data; throws invalid_argument / data_error naming sizes or index.
inline void check_metric_input(std::span<const double> confidence,
                               std::span<const std::uint8_t> correct) {
  if (confidence.size() != correct.size())
    throw invalid_argument(message("metric: confidence has ", confidence.size(),
                                   " elements but correct has ", correct.size()));
  if (confidence.empty())
    throw invalid_argument(message("metric: empty input (confidence has ", confidence.size(),
                                   " elements, correct has ", correct.size(), ")"));
  for (std::size_t i = 0; i < confidence.size(); ++i) {
    if (std::isnan(confidence[i]))
      throw data_error(message("metric: confidence[", i, "] is NaN"));
    if (correct[i] > 1)
      throw data_error(message("metric: correct[", i, "] = ", static_cast<unsigned>(correct[i]),
                               ", expected 0 or 1"));
  }
}

/// Validates, sorts by confidence descending and groups equal confidences.
/// -0.0 and +0.0 compare equal and so share a group; infinities rank normally.
inline metric_groups make_metric_groups(std::span<const double> confidence,
                                        std::span<const std::uint8_t> correct) {
  check_metric_input(confidence, correct);
  const std::size_t n = confidence.size();
  std::vector<std::pair<double, std::uint8_t>> items(n);
  for (std::size_t i = 0; i < n; ++i)
    items[i] = {confidence[i], correct[i]};
  std::sort(items.begin(), items.end(),
            [](const auto& a, const auto& b) { return a.first > b.first; });

  metric_groups out;
  out.n = n;
  for (std::size_t i = 0; i < n; ++i) {
    if (out.groups.empty() || items[i].first != out.groups.back().value)
      out.groups.push_back({items[i].first, 0, 0});
    if (items[i].second != 0) {
      ++out.groups.back().correct;
      ++out.correct;
    } else {
      ++out.groups.back().wrong;
      ++out.wrong;
    }
  }
  return out;
}

/// Reasons are plain text (no "misd: " prefix); the thrower adds it.
/// Why `name` is undefined when it needs misclassified examples and there are none.
inline std::string no_errors_reason(const char* name, const metric_groups& g) {
  return std::string(name) + " is undefined: no misclassified examples (all " +
         std::to_string(g.n) + " correct)";
}

/// Why `name` is undefined when it needs correct examples and there are none.
inline std::string no_correct_reason(const char* name, const metric_groups& g) {
  return std::string(name) + " is undefined: no correct examples (all " + std::to_string(g.n) +
         " misclassified)";
}

} // namespace misd::detail
