// examples/misd/cmd_metrics.cpp -- 'misd metrics': the metrics of a
// confidence vector against 0/1 correctness, as a table or one JSON object.
#include "options.hpp"

#include "misd/data/npy.hpp"
#include "misd/error.hpp"
#include "misd/metric/summary.hpp"

#include <nlohmann/json.hpp>

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <iostream>
#include <string>
#include <vector>

namespace misd_cli {
namespace {

struct metric_row {
  const char* name;
  misd::metric::metric_value value;
};

std::vector<metric_row> rows_of(const misd::metric::summary& s) {
  using mv = misd::metric::metric_value;
  return {
      {"accuracy", mv::of(s.accuracy)}, {"auroc", s.auroc},         {"fpr95", s.fpr95},
      {"aurc", mv::of(s.aurc)},         {"eaurc", mv::of(s.eaurc)}, {"aupr_error", s.aupr_error},
      {"aupr_success", s.aupr_success}};
}

} // namespace

int cmd_metrics(const metrics_options& o) {
  const std::string& conf_path = o.confidence;
  const std::string& correct_path = o.correct;
  const std::string& format = o.format;

  // Bad data is exit status 1 with the file and index named (misd::data_error).
  const auto conf_raw = misd::data::read_npy_vector<double>(conf_path);
  const auto correct = misd::data::read_npy_correctness(correct_path);
  if (conf_raw.size() == 0)
    throw misd::data_error(
        misd::detail::message("confidence file '", conf_path, "' is empty (0 examples)"));
  if (conf_raw.size() != correct.size())
    throw misd::data_error(misd::detail::message("confidence file '", conf_path, "' has ",
                                                 conf_raw.size(), " values but correctness file '",
                                                 correct_path, "' has ", correct.size()));
  std::vector<double> conf(conf_raw.begin(), conf_raw.end());
  for (std::size_t i = 0; i < conf.size(); ++i)
    if (std::isnan(conf[i]))
      throw misd::data_error(misd::detail::message("confidence file '", conf_path,
                                                   "': value at index ", i, " is NaN"));

  const auto s = misd::metric::evaluate(conf, correct);
  const auto rows = rows_of(s);
  for (const auto& r : rows)
    if (!r.value.defined())
      std::cerr << "misd metrics: " << r.name << " is undefined: " << r.value.reason << "\n";

  if (format == "json") {
    nlohmann::json j;
    j["n"] = s.n;
    j["errors"] = s.errors;
    for (const auto& r : rows)
      j[r.name] = r.value.defined() ? nlohmann::json(*r.value.value) : nlohmann::json(nullptr);
    std::cout << j.dump() << "\n";
  } else {
    std::printf("| metric | value |\n|---|---|\n");
    std::printf("| n | %zu |\n| errors | %zu |\n", s.n, s.errors);
    for (const auto& r : rows) {
      if (r.value.defined())
        std::printf("| %s | %.6f |\n", r.name, *r.value.value);
      else
        std::printf("| %s | undefined |\n", r.name);
    }
    std::printf("| aurc x1000 | %.4f |\n", s.aurc * 1000.0);
  }
  return 0;
}
} // namespace misd_cli
