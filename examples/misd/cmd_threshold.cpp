// examples/misd/cmd_threshold.cpp -- 'misd threshold': a reject threshold whose selective risk
// is at most --risk with probability at least 1 - --delta (SGR or Learn-then-Test, from
// misd/metric/risk_control.hpp), what it does on the calibration set and, optionally, on a
// test set.
#include "options.hpp"

#include "misd/data/npy.hpp"
#include "misd/error.hpp"
#include "misd/metric/risk_control.hpp"

#include <nlohmann/json.hpp>

#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <iostream>
#include <optional>
#include <string>
#include <vector>

namespace misd_cli {
namespace {

struct labelled_set {
  std::vector<double> confidence;
  std::vector<std::uint8_t> correct;
};

/// Reads a confidence and a correctness file; bad data (exit status 1) names file and index.
labelled_set read_set(const std::string& conf_path, const std::string& correct_path) {
  const auto raw = misd::data::read_npy_vector<double>(conf_path);
  labelled_set s{std::vector<double>(raw.begin(), raw.end()),
                 misd::data::read_npy_correctness(correct_path)};
  if (s.confidence.empty())
    throw misd::data_error(
        misd::detail::message("confidence file '", conf_path, "' is empty (0 examples)"));
  if (s.confidence.size() != s.correct.size())
    throw misd::data_error(misd::detail::message(
        "confidence file '", conf_path, "' has ", s.confidence.size(),
        " values but correctness file '", correct_path, "' has ", s.correct.size()));
  for (std::size_t i = 0; i < s.confidence.size(); ++i)
    if (!std::isfinite(s.confidence[i]))
      throw misd::data_error(misd::detail::message("confidence file '", conf_path,
                                                   "': value at index ", i, " is ", s.confidence[i],
                                                   ", not finite"));
  return s;
}

/// The shortest text that reads back as x.
std::string number(double x) {
  char buf[64];
  const auto r = std::to_chars(buf, buf + sizeof buf, x);
  return std::string(buf, r.ptr);
}

} // namespace

int cmd_threshold(const threshold_options& o) {
  const bool ltt = o.method == "ltt";
  if (!ltt && o.p_value)
    throw usage_error("--p-value applies to --method ltt only");
  if (!ltt && o.grid_points)
    throw usage_error("--grid-points applies to --method ltt only");
  if (o.test_confidence.has_value() != o.test_correct.has_value())
    throw usage_error("--test-confidence and --test-correct go together");

  const labelled_set cal = read_set(o.confidence, o.correct);
  std::optional<labelled_set> test;
  if (o.test_confidence)
    test = read_set(*o.test_confidence, *o.test_correct);

  misd::metric::risk_threshold t;
  if (ltt) {
    misd::metric::ltt_options lo;
    lo.target_risk = o.risk;
    lo.delta = o.delta;
    if (o.grid_points)
      lo.grid_points = static_cast<std::size_t>(*o.grid_points);
    if (o.p_value == "hoeffding-bentkus")
      lo.p_value = misd::metric::ltt_p_value::hoeffding_bentkus;
    t = misd::metric::ltt_threshold(cal.confidence, cal.correct, lo);
  } else {
    t = misd::metric::sgr_threshold(cal.confidence, cal.correct, {o.risk, o.delta});
  }
  std::optional<misd::metric::selective_outcome> out;
  if (test)
    out = misd::metric::apply_threshold(t, test->confidence, test->correct);

  if (t.abstains) {
    std::cerr << "misd threshold: warning: no threshold reaches risk " << o.risk << " at delta "
              << o.delta << " on these " << t.calibration_size << " calibration examples";
    if (!ltt)
      std::cerr << " (least bound " << t.risk_bound << ")";
    std::cerr << ": the rule abstains, it accepts no input\n";
  }

  const std::string rule = t.inclusive ? ">=" : ">";
  const std::string p_value_name =
      !ltt ? "" : (o.p_value == "hoeffding-bentkus" ? "hoeffding-bentkus" : "binomial");
  if (o.format == "json") {
    nlohmann::json j;
    j["method"] = o.method;
    if (ltt)
      j["p_value_kind"] = p_value_name;
    j["target_risk"] = o.risk;
    j["delta"] = o.delta;
    j["abstains"] = t.abstains;
    j["threshold"] = t.abstains ? nlohmann::json(nullptr) : nlohmann::json(t.threshold);
    j["rule"] = rule;
    j["calibration_size"] = t.calibration_size;
    j["accepted"] = t.accepted;
    j["errors"] = t.errors;
    j["coverage"] = t.coverage;
    j["empirical_risk"] = t.empirical_risk;
    j["risk_bound"] = t.risk_bound;
    if (ltt)
      j["p_value"] = t.p_value;
    if (out)
      j["test"] = {{"size", out->size},
                   {"accepted", out->accepted},
                   {"errors", out->errors},
                   {"coverage", out->coverage},
                   {"risk", out->risk}};
    std::cout << j.dump() << "\n";
    return 0;
  }
  std::printf("| field | value |\n|---|---|\n");
  const std::string method = ltt ? "ltt (" + p_value_name + " p-value)" : "sgr";
  std::printf("| method | %s |\n", method.c_str());
  std::printf("| target risk | %s |\n| delta | %s |\n", number(o.risk).c_str(),
              number(o.delta).c_str());
  std::printf("| abstains | %s |\n", t.abstains ? "yes" : "no");
  if (t.abstains)
    std::printf("| threshold | none (accept nothing) |\n");
  else
    std::printf("| threshold | %s |\n| rule | accept confidence %s threshold |\n",
                number(t.threshold).c_str(), rule.c_str());
  std::printf("| calibration size | %zu |\n| accepted | %zu |\n| errors | %zu |\n",
              t.calibration_size, t.accepted, t.errors);
  std::printf("| coverage | %.6f |\n| empirical risk | %.6f |\n| risk bound | %.6f |\n", t.coverage,
              t.empirical_risk, t.risk_bound);
  if (ltt)
    std::printf("| p-value | %.6g |\n", t.p_value);
  if (out)
    std::printf("| test size | %zu |\n| test accepted | %zu |\n| test errors | %zu |\n"
                "| test coverage | %.6f |\n| test risk | %.6f |\n",
                out->size, out->accepted, out->errors, out->coverage, out->risk);
  return 0;
}
} // namespace misd_cli
