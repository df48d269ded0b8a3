// examples/misd/score_output.hpp -- what 'misd score' writes besides its metrics, shared by
// the Eigen and the TorchScript paths: the scores as float64 NPY (--out), one status code per
// example (--out-status), the count of each status, and a warning for radii that are not
// measurements.
#pragma once

#include "distributed.hpp"
#include "options.hpp"

#include "misd/data/npy.hpp"
#include "misd/radius/options.hpp"
#include "misd/score/method.hpp"

#include <cstdint>
#include <exception>
#include <iostream>
#include <optional>
#include <span>
#include <sstream>
#include <string>
#include <vector>

namespace misd_cli {

/// --out-status is only meaningful for the radius estimators.
/// The estimators' options from the flags: --budget (rr-bs, rr-bs-pgd, rr-refine),
/// --steps-per-pass (rr-bs), --fd-step (rr-fast, rr-refine), --pgd-steps (rr-bs-pgd),
/// --refine-probes (deepfool, rr-iter), --deepfool-steps, --candidates, --overshoot
/// (deepfool), --iter-steps, --trust-radius, --select (rr-iter), --refine-probes and the
/// --fab-* flags (fab).
inline void set_radius_options(const score_options& opt, misd::score::radius_method_options& r) {
  r.rr_bs.budget = r.rr_bs_pgd.budget = r.rr_refine.budget = opt.budget;
  r.rr_bs.steps_per_pass = opt.steps_per_pass;
  r.rr_fast.fd_step = r.rr_refine.fd_step = opt.fd_step;
  r.rr_bs_pgd.pgd_steps = opt.pgd_steps;
  r.deepfool.refine_probes = r.rr_iter.refine_probes = opt.refine_probes;
  r.deepfool.steps = opt.deepfool_steps;
  r.deepfool.candidates = opt.candidates;
  r.deepfool.overshoot = opt.overshoot;
  r.rr_iter.steps = opt.iter_steps;
  r.rr_iter.trust_radius = opt.trust_radius;
  r.rr_iter.select =
      opt.select == "linear" ? misd::rr_iter_select::linear : misd::rr_iter_select::per_step;
  r.fab.refine_probes = opt.refine_probes;
  r.fab.iterations = opt.fab_iterations;
  r.fab.target_classes = opt.fab_targets;
  r.fab.restarts = opt.fab_restarts;
  r.fab.epsilon = opt.fab_epsilon;
  r.fab.targeted = !opt.fab_untargeted;
  r.fab.seed = opt.seed.value_or(0);
}

/// Every estimator's threads.
/// The hyper-parameters of one 'misd score' run, and the options of the post-hoc methods.
inline misd::score::hyper_parameters score_point(const score_options& opt) {
  misd::score::hyper_parameters p;
  p.temperature = opt.temperature;
  p.epsilon = opt.epsilon;
  if (opt.method == "maxlogit-pnorm" || opt.method == "pnorm-softmax")
    p.norm_order = opt.norm_p;
  if (opt.method == "gen") {
    p.gen_gamma = opt.gen_gamma;
    p.gen_top_m = opt.gen_top_m;
  }
  return p;
}

/// Scores of one computed slice. 'misd score' has no labelled set to fit on: pnorm-softmax then
/// uses τ = T (no ν̄ rescaling); other fitted methods (relu) are rejected before this.
template <class Method>
std::vector<double> score_confidence(const Method& method, const misd::score::method_output& out) {
  if (!method.needs_fit())
    return method.confidence(out);
  const misd::score::method_output no_fit_set{};
  return method.confidence(out, &no_fit_set, {});
}

inline void set_radius_threads(int threads, misd::score::radius_method_options& r) {
  r.rr_bs.threads = r.rr_bs_pgd.threads = r.rr_fast.threads = r.rr_refine.threads = threads;
  r.deepfool.threads = r.rr_iter.threads = threads;
  r.fab.threads = threads;
}

inline void check_out_status_usage(const score_options& o, const std::string& method) {
  if (o.out_status && method.rfind("rr-", 0) != 0 && method != "deepfool" && method != "fab")
    throw usage_error(
        "--out-status is only for the radius estimators (rr-*, deepfool, fab), not '" + method +
        "'");
  if (o.out_correct && !o.labels)
    throw usage_error("--out-correct needs --labels (correctness is the prediction against them)");
}

/// Scores as float64 NPY: a float32 file would tie the log-space MSR of confident inputs
/// again (its values are within 1e-8 of 0) and round radii.
inline void write_scores(const std::string& path, const std::vector<double>& scores) {
  const std::vector<std::size_t> shape{scores.size()};
  misd::data::write_npy<double>(path, std::span<const double>(scores),
                                std::span<const std::size_t>(shape));
}

/// One uint8 per example: 1 where the prediction was correct (misd threshold's --correct).
inline void write_correct(const std::string& path, const std::vector<std::uint8_t>& correct) {
  const std::vector<std::size_t> shape{correct.size()};
  misd::data::write_npy<std::uint8_t>(path, std::span<const std::uint8_t>(correct),
                                      std::span<const std::size_t>(shape));
}

/// One uint8 per example: the radius_status code (0 bracketed, 1 not_bracketed,
/// 2 linear_estimate, 3 zero_direction).
inline void write_statuses(const std::string& path, const std::vector<misd::radius_status>& st) {
  std::vector<std::uint8_t> codes(st.size());
  for (std::size_t i = 0; i < st.size(); ++i)
    codes[i] = static_cast<std::uint8_t>(st[i]);
  const std::vector<std::size_t> shape{codes.size()};
  misd::data::write_npy<std::uint8_t>(path, std::span<const std::uint8_t>(codes),
                                      std::span<const std::size_t>(shape));
}

/// {"bracketed": n0, "not_bracketed": n1, ...} as JSON text.
inline std::string status_counts_json(const misd::radius_status_counts& c) {
  std::ostringstream os;
  os << '{';
  for (std::size_t k = 0; k < misd::radius_status_count; ++k)
    os << (k ? ", " : "") << '"' << misd::name(static_cast<misd::radius_status>(k))
       << "\": " << c[k];
  os << '}';
  return os.str();
}

/// On stderr: how many radii are not measurements (zero direction) or only lower bounds.
inline void warn_statuses(const std::string& method, const misd::radius_status_counts& c) {
  const auto zd = c[static_cast<std::size_t>(misd::radius_status::zero_direction)];
  const auto nb = c[static_cast<std::size_t>(misd::radius_status::not_bracketed)];
  if (zd > 0)
    std::cerr << "misd score: " << method << ": " << zd
              << " examples have a zero attack direction (the model's input gradient vanishes "
                 "there): their radius 0 is not a measurement; --out-status marks them (code 3)\n";
  // The ray searches report the largest radius verified not to flip; the attacks that end
  // in a bisection (deepfool, fab, rr-iter) report max_radius, +inf here.
  const bool attack = method == "deepfool" || method == "fab" || method == "rr-iter";
  if (nb > 0)
    std::cerr << "misd score: " << method << ": " << nb
              << " radii are not bracketed (no flip within the budget): "
              << (attack ? "their radius is +inf (no flip was found to bisect towards)"
                         : "they are lower bounds")
              << "; --out-status marks them (code 1)\n";
}

/// The summary line on stderr: "misd score: rr-fast, 10000 inputs in 61.8 s (162 inputs/s);
/// bracketed 0, not_bracketed 0, linear_estimate 10000, zero_direction 0".
inline void print_summary(const std::string& method, std::size_t n, double seconds,
                          const std::optional<misd::radius_status_counts>& counts) {
  std::ostringstream os;
  os.setf(std::ios::fixed);
  os.precision(seconds < 1 ? 3 : 1);
  os << "misd score: " << method << ", " << n << " inputs in " << seconds << " s (";
  os.precision(0);
  os << (seconds > 0 ? double(n) / seconds : 0.0) << " inputs/s)";
  if (counts) {
    os << ';';
    for (std::size_t k = 0; k < misd::radius_status_count; ++k)
      os << (k ? ", " : " ") << misd::name(static_cast<misd::radius_status>(k)) << ' '
         << (*counts)[k];
  }
  std::cerr << os.str() << '\n';
}

/// After scoring: the summary line and, for a radius estimator, the warnings about its
/// statuses (all on stderr, none with --quiet), then the --out / --out-status / --out-correct
/// files.
inline std::optional<misd::radius_status_counts>
finish_scores(const score_options& o, const std::string& method, const std::vector<double>& scores,
              const std::vector<misd::radius_status>& status,
              const std::vector<std::uint8_t>& correct, double seconds) {
  std::optional<misd::radius_status_counts> counts;
  if (!status.empty())
    counts = misd::count_statuses(status);
  if (!o.quiet) {
    print_summary(method, scores.size(), seconds, counts);
    if (counts)
      warn_statuses(method, *counts);
  }
  if (o.out)
    write_scores(*o.out, scores);
  if (o.out_status)
    write_statuses(*o.out_status, status);
  if (o.out_correct)
    write_correct(*o.out_correct, correct);
  return counts;
}

/// A rank's scores of its rows (every row in one process), gathered on rank 0 in row order.
struct shard_scores {
  std::vector<double> confidence;
  std::vector<std::uint8_t> status_codes, correct;
  std::vector<double> passes = std::vector<double>(3, 0.0); ///< forwards, backwards, example ones

  /// Appends one slice of rows: its confidences and the method's statuses and passes.
  void add(const std::vector<double>& c, const misd::score::method_output& out) {
    confidence.insert(confidence.end(), c.begin(), c.end());
    for (const auto st : out.status)
      status_codes.push_back(static_cast<std::uint8_t>(st));
    passes[0] += double(out.forwards);
    passes[1] += double(out.backwards);
    passes[2] += double(out.example_forwards);
  }

  /// After each rank's scoring (failure: its exception, or null): every rank fails when one
  /// did; else rank 0 gathers the others' rows and sums the passes. False on the other ranks,
  /// which are then done.
  bool gather(cluster& ranks, const std::exception_ptr& failure) {
    ranks.check_all(failure, "scoring");
    if (ranks.size() > 1) {
      confidence = ranks.gather(confidence);
      status_codes = ranks.gather(status_codes);
      correct = ranks.gather(correct);
      ranks.all_reduce_sum(passes);
    }
    return ranks.root();
  }

  std::vector<misd::radius_status> statuses() const {
    std::vector<misd::radius_status> s(status_codes.size());
    for (std::size_t i = 0; i < s.size(); ++i)
      s[i] = static_cast<misd::radius_status>(status_codes[i]);
    return s;
  }
};

/// {"forwards": f, "backwards": b, "example_forwards": e} as JSON text: the radius
/// estimators' passes, summed over the slices of rows.
inline std::string passes_json(std::size_t forwards, std::size_t backwards,
                               std::size_t example_forwards) {
  std::ostringstream os;
  os << "{\"forwards\": " << forwards << ", \"backwards\": " << backwards
     << ", \"example_forwards\": " << example_forwards << '}';
  return os.str();
}

} // namespace misd_cli
