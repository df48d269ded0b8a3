// misd/eval/report_io.hpp -- a protocol report as JSON, and the report's CSV and JSON written
// to files atomically (a reader sees the old file or the complete new one). Component
// misd::io (nlohmann_json); the summaries and the stream CSV are in misd/eval/report.hpp.
#pragma once

#include "misd/detail/atomic_write.hpp"
#include "misd/eval/report.hpp"

#include <nlohmann/json.hpp>

#include <filesystem>
#include <ostream>
#include <string>
#include <utility>

namespace misd::eval {

namespace detail {
inline nlohmann::json status_json(const radius_status_counts& c) {
  nlohmann::json j;
  for (std::size_t k = 0; k < radius_status_count; ++k)
    j[std::string(name(static_cast<radius_status>(k)))] = c[k];
  return j;
}

inline nlohmann::json to_json(const metric::metric_value& v) {
  return v.defined() ? nlohmann::json(*v.value) : nlohmann::json(nullptr);
}
inline nlohmann::json to_json(const metric::summary& s) {
  nlohmann::json j;
  j["n"] = s.n;
  j["errors"] = s.errors;
  for (auto k : report_metrics)
    j[std::string(k)] = to_json(metric_of(s, k));
  return j;
}
} // namespace detail

/// JSON: the protocol, and per method its runs (chosen hyper-parameters, validation AURC,
/// test metrics) and the mean and std of every metric (null when undefined, with the reason).
inline nlohmann::json to_json(const protocol_report& r) {
  nlohmann::json j;
  j["n"] = r.n;
  j["errors"] = r.errors;
  j["seeds"] = r.options.seeds;
  j["validation_fraction"] = r.options.validation_fraction;
  j["selection"] = "lowest validation AURC";
  j["methods"] = nlohmann::json::array();
  for (const auto& m : r.methods) {
    nlohmann::json jm;
    jm["name"] = m.name;
    jm["runs"] = nlohmann::json::array();
    for (const auto& run : m.runs) {
      nlohmann::json jr{{"seed", run.seed},
                        {"temperature", run.chosen.temperature},
                        {"epsilon", run.chosen.epsilon},
                        {"validation_aurc", run.validation_aurc},
                        {"test", detail::to_json(run.test)}};
      if (run.chosen.msr_fallback)
        jr["msr_fallback"] = true;
      if (run.chosen.norm_order)
        jr["p"] = *run.chosen.norm_order;
      if (run.chosen.gen_gamma)
        jr["gamma"] = *run.chosen.gen_gamma;
      if (run.chosen.gen_top_m)
        jr["M"] = *run.chosen.gen_top_m;
      if (run.test_status)
        jr["test_status"] = detail::status_json(*run.test_status);
      jm["runs"].push_back(std::move(jr));
    }
    if (const auto t = status_totals(m))
      jm["test_status"] = detail::status_json(*t);
    for (auto k : report_metrics) {
      const auto a = aggregate(m, k);
      jm["mean"][std::string(k)] = detail::to_json(a.mean);
      jm["std"][std::string(k)] = detail::to_json(a.std);
      if (!a.mean.defined())
        jm["undefined"][std::string(k)] = a.mean.reason;
    }
    j["methods"].push_back(std::move(jm));
  }
  return j;
}

/// Writes the CSV atomically.
inline void write_csv(const std::filesystem::path& path, const protocol_report& r) {
  misd::detail::write_file_atomically(path, [&](std::ostream& os) { write_csv(os, r); });
}

/// Writes the JSON atomically.
inline void write_json(const std::filesystem::path& path, const protocol_report& r) {
  misd::detail::write_file_atomically(path,
                                      [&](std::ostream& os) { os << to_json(r).dump(2) << '\n'; });
}

} // namespace misd::eval
