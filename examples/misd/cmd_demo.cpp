// examples/misd/cmd_demo.cpp -- 'misd demo': the paper's experiments on Fashion-MNIST in
// two regimes: a regularised MLP and an over-confident CNN, each
// trained with Standard, RAT, AT and ReverseAT; the paper's Tables 1, 2, 4 and 5 and its
// Figures 2 and 3, plus risk-coverage curves. Everything is computed first and then
// written into the output directory in one atomic replacement: a failed run leaves no
// partial outputs.
#include "demo_estimators.hpp"
#include "demo_models.hpp"
#include "demo_shift.hpp"
#include "gnuplot.hpp"
#include "options.hpp"
#include "progress.hpp"

#include "misd/eigen/mlp.hpp"
#include "misd/eigen/mlp_io.hpp"
#include "misd/eigen/sequential_io.hpp"
#include "misd/eval.hpp"
#include "misd/metric.hpp"
#include "misd/score.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <array>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

namespace misd_cli {
namespace {
namespace fs = std::filesystem;
using misd::eigen::batch;
using misd::score::hyper_parameters;
using misd::score::method_output;

/// What the demo's settings are, for --quick and for the full run.
struct settings {
  bool quick = false;
  bool quiet = false; ///< --quiet: nothing on stderr but errors
  std::size_t train_images = 60000, test_images = 10000;
  std::size_t mlp_epochs = 10;
  /// The over-confident regime trains without weight decay to zero training error: 50
  /// epochs on 3,000 images get there (100% from epoch ~35, measured) at a twentieth of the
  /// cost of 50 epochs on all 60,000, so that four CNNs train within the 30-minute budget;
  /// the price is test accuracy.
  std::size_t cnn_train_images = 3000, cnn_epochs = 50, cnn_test_images = 2000;
  // The CNN's RAT/AT objectives double the loss at the start (CE(x) + CE(x')): at lr 0.05
  // with few steps they diverged to a constant predictor; lr 0.02 with small batches
  // trains all four objectives.
  std::size_t cnn_batch = 32;
  double cnn_learning_rate = 0.02;
  // A part of the paper's grids (docs/algorithms.md), so that the full run fits in 30 minutes
  // on two cores: ODIN/DOCTOR cost 3 passes per grid point, RR-BS 26.
  std::vector<double> temperatures{0.5, 1.0, 2.0, 1000.0};
  std::vector<double> epsilons{0.0, 2.5e-4, 1e-3};
  std::vector<double> radius_temperatures{0.5, 1.0, 2.0};
  int pgd_steps = 3;
  int threads = 1; ///< CNN training and evaluation, and the MLP's radius estimators
  /// The estimator study (Table 4 and the tightness table) runs every estimator, FAB-L∞'s
  /// 9 x 100 iterations included, on the first images of the test set: FAB costs ~100x
  /// RR-BS's passes, so the whole set would not fit in the budget.
  std::size_t mlp_study_images = 1000, cnn_study_images = 200;
  int fab_iterations = 100;
  /// Figure 4 (covariate shift): the first images of each test set corrupted by every kind at
  /// every severity, the rest of the test set the clean calibration set of the threshold.
  std::size_t mlp_shift_images = 2000, cnn_shift_images = 500;
  std::vector<int> shift_severities{1, 2, 3, 4, 5};
  std::vector<std::uint64_t> seeds{0, 1, 2};
};

/// Every output of one model's evaluation.
struct evaluation {
  misd::eval::protocol_report report;
  std::map<std::string, std::vector<method_output>> outputs; ///< per grid point
  std::map<std::string, std::vector<hyper_parameters>> grids;
  std::map<std::string, double> images_per_second; ///< at T = 1, ε = 0
  std::vector<std::uint8_t> correct;
  double accuracy = 0;
};

/// Index of T = 1, ε = 0 in a grid (the paper's default setting).
std::size_t default_point(const std::vector<hyper_parameters>& g) {
  for (std::size_t i = 0; i < g.size(); ++i)
    if (g[i].temperature == 1.0 && g[i].epsilon == 0.0)
      return i;
  return 0;
}

/// MSR from a float32 softmax, as most code computes it: saturates at 1.0 and ties.
template <class M>
misd::score::method<M> msr_float32() {
  auto compute = [](M& model, const batch<float>& x, const hyper_parameters& p) {
    const batch<float> z = model.logits(x);
    std::vector<double> c(static_cast<std::size_t>(z.rows()));
    for (Eigen::Index i = 0; i < z.rows(); ++i) {
      const Eigen::RowVectorXf e =
          ((z.row(i).array() - z.row(i).maxCoeff()) / float(p.temperature)).exp();
      c[static_cast<std::size_t>(i)] = double(e.maxCoeff() / e.sum());
    }
    return method_output{std::move(c), {}, {}};
  };
  return misd::score::method<M>("msr (float32 softmax)", misd::score::make_grid({1.0}), compute);
}

/// The methods' options in the demo: inputs in the [0, 1] box, Fashion-MNIST's 10 classes.
template <class M>
misd::score::method_options demo_method_options(const settings& s) {
  misd::score::method_options mo;
  mo.box = misd::input_box{0.0, 1.0};
  mo.classes = 10; // Fashion-MNIST: GEN's M grid capped at K
  mo.radius.rr_bs_pgd.pgd_steps = s.pgd_steps;
  // A model that splits rows over threads itself (the sequential CNN) gets one caller.
  if constexpr (!requires(M & m) { m.set_threads(2); })
    for (int* t : {&mo.radius.rr_bs.threads, &mo.radius.rr_bs_pgd.threads,
                   &mo.radius.rr_fast.threads, &mo.radius.rr_refine.threads})
      *t = s.threads;
  return mo;
}

template <class M>
evaluation evaluate(M& model, const misd::data::dataset& test, const settings& s,
                    const std::vector<std::string>& names, const std::string& what) {
  // The models called directly (the sequential model works in chunks of rows itself), so
  // that the estimators use their allocation-free fast paths and Table 4 shows real speed.
  using C = M;
  evaluation ev;
  ev.correct = misd::eval::correctness(model, test.images, test.labels);
  std::size_t right = 0;
  for (auto c : ev.correct)
    right += c;
  ev.accuracy = double(right) / double(ev.correct.size());
  ev.report.n = ev.correct.size();
  ev.report.errors = ev.correct.size() - right;
  ev.report.options.seeds = s.seeds;

  const auto mo = demo_method_options<M>(s);
  for (const auto& name : names) {
    auto m = name == "msr-float32" ? msr_float32<C>() : misd::score::make_method<C>(name, mo);
    if (name == "odin" || name == "doctor")
      m.set_grid(misd::score::make_grid(s.temperatures, s.epsilons));
    else if (name.rfind("rr-", 0) == 0)
      m.set_grid(misd::score::make_grid(name == "rr-bs-pgd" ? std::vector<double>{1.0}
                                                            : s.radius_temperatures));
    std::vector<method_output> outs;
    std::vector<double> seconds;
    const double n = double(ev.correct.size());
    progress_line bar("misd demo: " + what + ": " + m.name(), n * double(m.grid().size()),
                      progress_wanted(s.quiet));
    for (const auto& p : m.grid()) {
      const auto t0 = std::chrono::steady_clock::now();
      outs.push_back(m.compute(model, test.images, p));
      seconds.push_back(
          std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
      bar.update(n * double(outs.size()));
    }
    bar.finish();
    const auto d = default_point(m.grid());
    ev.images_per_second[m.name()] = n / seconds[d];
    if (!s.quiet)
      std::cerr << "misd demo: " << what << ": " << m.name() << " (" << m.grid().size()
                << " grid points, " << std::fixed << std::setprecision(0)
                << ev.images_per_second[m.name()] << " images/s)\n"
                << std::defaultfloat;
    misd::eval::fit_function fit;
    if (m.needs_fit())
      fit = [&m](const method_output& on, std::span<const std::uint8_t> c,
                 const method_output& target) { return m.fitted(target, &on, c); };
    ev.report.methods.push_back(
        misd::eval::evaluate_outputs(m.name(), m.grid(), outs, fit, ev.correct, ev.report.options));
    ev.grids[m.name()] = m.grid();
    ev.outputs[m.name()] = std::move(outs);
  }
  return ev;
}

const misd::eval::method_report& find_method(const evaluation& ev, const std::string& name) {
  for (const auto& m : ev.report.methods)
    if (m.name == name)
      return m;
  throw misd::invalid_argument("misd demo: no method '" + name + "' in the evaluation");
}

double median(std::vector<double> v) {
  if (v.empty())
    return std::nan("");
  const auto mid = v.begin() + static_cast<std::ptrdiff_t>(v.size() / 2);
  std::nth_element(v.begin(), mid, v.end());
  if (v.size() % 2)
    return *mid;
  return (*mid + *std::max_element(v.begin(), mid)) / 2;
}

/// Radii of the correct and the wrong examples, at T = 1.
std::pair<std::vector<double>, std::vector<double>> radii_by_correctness(const evaluation& ev,
                                                                         const std::string& m) {
  const auto& out = ev.outputs.at(m)[default_point(ev.grids.at(m))].confidence;
  std::vector<double> right, wrong;
  for (std::size_t i = 0; i < out.size(); ++i)
    (ev.correct[i] ? right : wrong).push_back(out[i]);
  return {right, wrong};
}

std::string fmt(double v, int digits) {
  std::ostringstream os;
  os << std::fixed << std::setprecision(digits) << v;
  return os.str();
}

/// A table as Markdown, CSV and JSON at once.
struct table {
  std::string name, title;
  std::vector<std::string> columns;
  std::vector<std::vector<std::string>> rows;    ///< formatted cells (Markdown)
  nlohmann::json json = nlohmann::json::array(); ///< one object per row, numbers unformatted

  std::string markdown() const {
    std::ostringstream os;
    os << "### " << title << "\n\n|";
    for (const auto& c : columns)
      os << ' ' << c << " |";
    os << "\n|";
    for (std::size_t i = 0; i < columns.size(); ++i)
      os << "---|";
    os << "\n";
    for (const auto& r : rows) {
      os << "|";
      for (const auto& c : r)
        os << ' ' << c << " |";
      os << "\n";
    }
    return os.str();
  }
  std::string csv() const {
    auto quote = [](const std::string& s) {
      std::string o = "\"";
      for (char c : s)
        o += c == '"' ? std::string("\"\"") : std::string(1, c);
      return o + "\"";
    };
    std::ostringstream os;
    for (std::size_t i = 0; i < columns.size(); ++i)
      os << (i ? "," : "") << quote(columns[i]);
    os << "\n";
    for (const auto& r : rows) {
      for (std::size_t i = 0; i < r.size(); ++i)
        os << (i ? "," : "") << quote(r[i]);
      os << "\n";
    }
    return os.str();
  }
};

std::string pm(const misd::eval::mean_std& a, double scale, int digits) {
  if (!a.mean.defined())
    return "undefined";
  return fmt(*a.mean.value * scale, digits) + " ± " + fmt(*a.std.value * scale, digits);
}

nlohmann::json num(const misd::metric::metric_value& v) {
  return v.defined() ? nlohmann::json(*v.value) : nlohmann::json(nullptr);
}

/// A row of the paper's Table 2 layout for one method.
void metrics_row(table& t, const std::string& label, const misd::eval::method_report& m,
                 nlohmann::json extra = nlohmann::json::object()) {
  using misd::eval::aggregate;
  const auto au = aggregate(m, "auroc"), fp = aggregate(m, "fpr95"), ar = aggregate(m, "aurc"),
             ac = aggregate(m, "accuracy");
  // A radius estimator's examples that were not measured, or only bounded, are named next
  // to its metrics (summed over the splits' test parts); nothing is added where there are none.
  std::string shown = label;
  if (const auto st = misd::eval::status_totals(m)) {
    const auto nb = (*st)[static_cast<std::size_t>(misd::radius_status::not_bracketed)];
    const auto zd = (*st)[static_cast<std::size_t>(misd::radius_status::zero_direction)];
    if (nb + zd > 0)
      shown +=
          " (" + std::to_string(nb) + " not bracketed, " + std::to_string(zd) + " zero direction)";
    for (std::size_t k = 0; k < misd::radius_status_count; ++k)
      extra["status"][std::string(misd::name(static_cast<misd::radius_status>(k)))] = (*st)[k];
  }
  t.rows.push_back({shown, pm(au, 1, 4), pm(fp, 100, 2), pm(ar, 1000, 2), pm(ac, 100, 2)});
  extra["method"] = label;
  extra["auroc"] = {{"mean", num(au.mean)}, {"std", num(au.std)}};
  extra["fpr95"] = {{"mean", num(fp.mean)}, {"std", num(fp.std)}};
  extra["aurc"] = {{"mean", num(ar.mean)}, {"std", num(ar.std)}};
  extra["accuracy"] = {{"mean", num(ac.mean)}, {"std", num(ac.std)}};
  t.json.push_back(extra);
}

const std::vector<std::string> table2_methods{
    "msr",    "msr-float32", "odin",           "doctor",        "relu",
    "energy", "max-logit",   "maxlogit-pnorm", "pnorm-softmax", "gen",
    "rr-bs",  "rr-bs-pgd",   "rr-fast",        "rr-refine"};
/// The radius and the softmax score that the combined score joins (docs/algorithms.md).
const std::string combined_name = "combined (rr-bs + msr)";
const std::vector<std::string> objectives{"standard", "rat", "at", "reverse-at"};

/// Tables and plots of one regime.
struct regime_result {
  std::string regime, arch;
  std::vector<table> tables;
  std::vector<table> data_tables; ///< written as CSV and JSON only (not in results.md)
  std::vector<std::pair<std::string, std::function<void(const fs::path&)>>> plots;
};

/// A figure to draw once the regime's tables are written: its file name, layout and data.
void add_plot(regime_result& out, std::string name, plot_spec spec, std::vector<series> data) {
  out.plots.emplace_back(std::move(name), [spec = std::move(spec), data = std::move(data)](
                                              const fs::path& p) { plot_png(p, spec, data); });
}

/// The combined score of `ev` (rr-bs at T = 1 with log-space MSR), fitted per split.
void add_combined(evaluation& ev) {
  const auto& r = ev.outputs.at("rr-bs")[default_point(ev.grids.at("rr-bs"))].confidence;
  const auto& m = ev.outputs.at("msr")[default_point(ev.grids.at("msr"))].confidence;
  ev.report.methods.push_back(
      demo::evaluate_combined(combined_name, r, m, ev.correct, ev.report.options));
}

/// Table 4 and the tightness table: every estimator on the first `n` test images of the
/// Standard model, timed in this run.
template <class Model>
void estimator_study(regime_result& out, Model& model, const misd::data::dataset& test,
                     std::size_t n, const settings& s, const std::string& tag) {
  n = std::min(n, test.labels.size());
  const batch<float> x = test.images.topRows(static_cast<Eigen::Index>(n));
  const misd::label_vector y(test.labels.begin(),
                             test.labels.begin() + static_cast<std::ptrdiff_t>(n));
  const auto correct = misd::eval::correctness(model, x, y);
  misd::eval::protocol_options po;
  po.seeds = s.seeds;
  demo::study_settings ss;
  ss.threads = s.threads;
  ss.fab_iterations = s.fab_iterations;
  double msr_seconds = 0;
  if (!s.quiet)
    std::cerr << "misd demo: " << tag << ": estimator study on " << n << " images\n";
  const auto runs = demo::run_estimators(model, x, ss, msr_seconds);
  const auto tightest = demo::tightest_radius(runs);
  const std::string on = std::to_string(n) + " test images";

  table speed{"table4_" + out.arch,
              "Table 4 (" + tag + ", standard, first " + on +
                  "): estimators, their passes per image and speed (images/s, this run)",
              {"Method", "AUROC ↑", "FPR95 % ↓", "AURC×1000 ↓", "Accuracy %", "forwards/image",
               "backward passes", "images/s"},
              {},
              nlohmann::json::array()};
  {
    misd::host_matrix z;
    misd::detail::checked_logits(model, x, z, "logits");
    misd::score::method_output mo{
        misd::score::detail::to_std(misd::score::confidence(misd::score::logit_score::msr, z)),
        {},
        {}};
    const auto rep =
        misd::eval::evaluate_outputs("msr", misd::score::make_grid({1.0}), {mo}, {}, correct, po);
    const double ips = double(n) / msr_seconds;
    metrics_row(speed, "msr", rep,
                {{"images_per_second", ips}, {"forwards_per_image", 1.0}, {"backward_passes", 0}});
    speed.rows.back().push_back(fmt(1.0, 1));
    speed.rows.back().push_back("0");
    speed.rows.back().push_back(fmt(ips, 0));
  }
  table tight{"tightness_" + out.arch,
              "Tightness (" + tag + ", standard, first " + on +
                  "): each radius over the least radius with a flip any estimator witnessed",
              {"Method", "median ratio", "90th pct ratio", "within 5 % of least", "AUROC ↑",
               "AURC×1000 ↓", "forwards/image"},
              {},
              nlohmann::json::array()};
  for (const auto& r : runs) {
    const auto rep = misd::eval::evaluate_outputs(r.name, misd::score::make_grid({1.0}),
                                                  {demo::as_output(r.result)}, {}, correct, po);
    // Forwards per image: the rows every forward pass evaluated (early stopping shows
    // there) over the images; backward passes: input-gradient passes over (part of) the batch.
    const double passes = double(r.result.example_forwards) / double(n);
    const double ips = double(n) / r.seconds;
    metrics_row(speed, r.name, rep,
                {{"images_per_second", ips},
                 {"forwards_per_image", passes},
                 {"backward_passes", r.result.backwards}});
    speed.rows.back().push_back(fmt(passes, 1));
    speed.rows.back().push_back(std::to_string(r.result.backwards));
    speed.rows.back().push_back(fmt(ips, 0));

    auto q = demo::tightness_ratios(r, tightest);
    std::vector<double> sorted = q;
    std::sort(sorted.begin(), sorted.end());
    const double p90 =
        sorted.empty() ? std::nan("")
                       : sorted[std::min(sorted.size() - 1,
                                         static_cast<std::size_t>(0.9 * double(sorted.size())))];
    const double least = sorted.empty() ? std::nan("") : sorted.front();
    const double within =
        q.empty() ? std::nan("")
                  : double(std::count_if(q.begin(), q.end(), [](double v) { return v <= 1.05; })) /
                        double(q.size());
    const auto au = misd::eval::aggregate(rep, "auroc"), ar = misd::eval::aggregate(rep, "aurc");
    tight.rows.push_back({r.name + (r.verified ? "" : " (not verified)"), fmt(median(q), 3),
                          fmt(p90, 3), fmt(100 * within, 1) + " % of " + std::to_string(q.size()),
                          pm(au, 1, 4), pm(ar, 1000, 2), fmt(passes, 1)});
    tight.json.push_back({{"method", r.name},
                          {"verified", r.verified},
                          {"median_ratio", median(q)},
                          {"p90_ratio", p90},
                          {"min_ratio", least},
                          {"within_5_percent", within},
                          {"compared", q.size()},
                          {"auroc", {{"mean", num(au.mean)}, {"std", num(au.std)}}},
                          {"aurc", {{"mean", num(ar.mean)}, {"std", num(ar.std)}}},
                          {"forwards_per_image", passes},
                          {"images_per_second", ips}});
  }
  out.tables.push_back(std::move(speed));
  out.tables.push_back(std::move(tight));
}

/// Figure 4 and its tables: the Standard model's scores on every corrupted set (AUROC, AURC
/// against severity, mean over the corruption kinds; each kind in the data table), and the
/// SGR threshold calibrated on clean test images applied to every set.
template <class Model>
void shift_figures(regime_result& out, Model& model, const misd::data::dataset& test,
                   std::size_t images, const settings& s, const std::string& tag) {
  demo::shift_settings ss;
  ss.images = std::min(images, test.labels.size() / 2);
  ss.severities = s.shift_severities;
  const std::size_t sets = 1 + misd::data::all_corruption_kinds().size() * ss.severities.size();
  progress_line bar("misd demo: " + tag + ": scores on " + std::to_string(sets) +
                        " corrupted test sets",
                    double(sets), progress_wanted(s.quiet));
  const auto r =
      demo::shift_study(model, test, test.rows, test.cols, demo_method_options<Model>(s), ss,
                        [&](std::size_t done, std::size_t) { bar.update(double(done)); });
  bar.finish();
  std::vector<int> severities{0};
  severities.insert(severities.end(), ss.severities.begin(), ss.severities.end());
  const std::string on = "first " + std::to_string(r.shifted_size) + " test images, " +
                         std::to_string(misd::data::all_corruption_kinds().size()) +
                         " corruption kinds";
  const auto mean = [&](const std::string& score, int sev, auto field) {
    return demo::mean_over_kinds(r, score, sev, field);
  };
  const auto auroc_of = [](const demo::shift_cell& c) {
    return c.auroc.defined() ? *c.auroc.value : std::nan("");
  };
  const auto aurc_of = [](const demo::shift_cell& c) { return c.aurc; };
  const auto risk_of = [](const demo::shift_cell& c) { return c.kept.risk; };
  const auto coverage_of = [](const demo::shift_cell& c) { return c.kept.coverage; };
  const auto accuracy_of = [](const demo::shift_cell& c) { return c.accuracy; };

  table t{"fig4_shift_" + out.arch,
          "Figure 4 (" + tag + ", standard, " + on +
              "): detection against corruption severity, mean over kinds (0 = clean)",
          {"Severity", "Accuracy %"},
          {},
          nlohmann::json::array()};
  for (const auto& sc : r.scores)
    t.columns.push_back("AUROC " + sc);
  for (const auto& sc : r.scores)
    t.columns.push_back("AURC×1000 " + sc);
  for (const int sev : severities) {
    std::vector<std::string> row{std::to_string(sev),
                                 fmt(100 * mean(r.scores[0], sev, accuracy_of), 2)};
    nlohmann::json j{{"severity", sev}, {"accuracy", mean(r.scores[0], sev, accuracy_of)}};
    for (const auto& sc : r.scores) {
      row.push_back(fmt(mean(sc, sev, auroc_of), 4));
      j["auroc"][sc] = mean(sc, sev, auroc_of);
    }
    for (const auto& sc : r.scores) {
      row.push_back(fmt(1000 * mean(sc, sev, aurc_of), 2));
      j["aurc"][sc] = mean(sc, sev, aurc_of);
    }
    t.rows.push_back(std::move(row));
    t.json.push_back(std::move(j));
  }
  out.tables.push_back(std::move(t));

  table th{"fig4_threshold_" + out.arch,
           "Figure 4 (" + tag + ", standard): SGR threshold (target risk " +
               fmt(100 * ss.target_risk, 0) + " %, δ = " + fmt(ss.delta, 2) + ") calibrated on " +
               std::to_string(r.calibration_size) +
               " clean test images; on each severity: realised risk % / coverage %, mean over "
               "kinds [kinds whose risk exceeds the target]",
           {"Set"},
           {},
           nlohmann::json::array()};
  for (const auto& sc : r.scores)
    th.columns.push_back(sc);
  {
    std::vector<std::string> row{"calibration (clean)"};
    nlohmann::json j{{"set", "calibration"}, {"size", r.calibration_size}};
    for (std::size_t k = 0; k < r.scores.size(); ++k) {
      const auto& c = r.thresholds[k];
      row.push_back(c.abstains ? "abstains (least bound " + fmt(100 * c.risk_bound, 2) + " %)"
                               : fmt(100 * c.empirical_risk, 2) + " / " + fmt(100 * c.coverage, 1) +
                                     " (bound " + fmt(100 * c.risk_bound, 2) + ")");
      j["scores"][r.scores[k]] = {
          {"threshold", c.abstains ? nlohmann::json(nullptr) : nlohmann::json(c.threshold)},
          {"abstains", c.abstains},
          {"risk", c.empirical_risk},
          {"coverage", c.coverage},
          {"bound", c.risk_bound}};
    }
    th.rows.push_back(std::move(row));
    th.json.push_back(std::move(j));
  }
  for (const int sev : severities) {
    std::vector<std::string> row{sev == 0 ? "clean (first " + std::to_string(r.shifted_size) + ")"
                                          : "severity " + std::to_string(sev)};
    nlohmann::json j{{"set", sev == 0 ? "clean" : "severity"}, {"severity", sev}};
    for (const auto& sc : r.scores) {
      std::size_t over = 0, kinds = 0;
      for (const auto& c : r.cells)
        if (c.score == sc && c.severity == sev) {
          ++kinds;
          over += c.kept.risk > ss.target_risk ? 1 : 0;
        }
      const double risk = mean(sc, sev, risk_of), cov = mean(sc, sev, coverage_of);
      row.push_back(fmt(100 * risk, 2) + " / " + fmt(100 * cov, 1) + " [" + std::to_string(over) +
                    " of " + std::to_string(kinds) + "]");
      j["scores"][sc] = {
          {"risk", risk}, {"coverage", cov}, {"kinds_over_target", over}, {"kinds", kinds}};
    }
    th.rows.push_back(std::move(row));
    th.json.push_back(std::move(j));
  }
  out.tables.push_back(std::move(th));

  table kinds{"fig4_shift_kinds_" + out.arch,
              "Figure 4 (" + tag + "): every corruption kind and severity",
              {"kind", "severity", "score", "accuracy", "auroc", "aurc", "threshold_risk",
               "threshold_coverage", "accepted"},
              {},
              nlohmann::json::array()};
  for (const auto& c : r.cells) {
    kinds.rows.push_back({c.kind, std::to_string(c.severity), c.score, fmt(c.accuracy, 4),
                          c.auroc.defined() ? fmt(*c.auroc.value, 4) : "undefined", fmt(c.aurc, 5),
                          fmt(c.kept.risk, 4), fmt(c.kept.coverage, 4),
                          std::to_string(c.kept.accepted)});
    kinds.json.push_back({{"kind", c.kind},
                          {"severity", c.severity},
                          {"score", c.score},
                          {"accuracy", c.accuracy},
                          {"auroc", num(c.auroc)},
                          {"aurc", c.aurc},
                          {"threshold_risk", c.kept.risk},
                          {"threshold_coverage", c.kept.coverage},
                          {"accepted", c.kept.accepted}});
  }
  out.data_tables.push_back(std::move(kinds));

  const std::array<std::string, 2> groups{"softmax scores:", "robust radius:"};
  auto lines = [&](auto field, double scale) {
    std::vector<series> v;
    for (const auto& sc : r.scores) {
      series l{sc, {}, {}, sc.rfind("rr-", 0) == 0 ? 1 : 0};
      for (const int sev : severities) {
        l.x.push_back(sev);
        l.y.push_back(scale * mean(sc, sev, field));
      }
      v.push_back(std::move(l));
    }
    return v;
  };
  const std::string x_label = "corruption severity (0 = clean; mean over kinds)";
  add_plot(out, "fig4_auroc_" + out.arch + ".png",
           {"AUROC against corruption severity (" + tag + ", standard)", x_label,
            "AUROC (higher is better)", false, false, groups},
           lines(auroc_of, 1.0));
  add_plot(out, "fig4_aurc_" + out.arch + ".png",
           {"AURC against corruption severity (" + tag + ", standard)", x_label,
            "AURC x 1000 (lower is better)", false, false, groups},
           lines(aurc_of, 1000.0));
  auto risk = lines(risk_of, 100.0);
  risk.push_back({"target risk",
                  {0.0, double(severities.back())},
                  {100 * ss.target_risk, 100 * ss.target_risk},
                  0});
  add_plot(out, "fig4_threshold_risk_" + out.arch + ".png",
           {"Risk of the clean-calibrated SGR threshold under corruption (" + tag + ")", x_label,
            "selective risk % among the inputs kept", false, false, groups},
           std::move(risk));
  add_plot(out, "fig4_threshold_coverage_" + out.arch + ".png",
           {"Coverage of the clean-calibrated SGR threshold under corruption (" + tag + ")",
            x_label, "coverage % (inputs kept)", false, false, groups},
           lines(coverage_of, 100.0));
}

template <class Model>
regime_result run_regime(const std::string& regime, const std::string& arch,
                         const demo::model_kind<Model>& kind, demo::recipe base,
                         const misd::data::dataset& train, const misd::data::dataset& test,
                         const settings& s, const fs::path& cache, std::size_t study_images,
                         std::size_t shift_images) {
  regime_result out{regime, arch, {}, {}, {}};
  std::map<std::string, evaluation> evals;
  std::map<std::string, double> train_accuracy; // shows whether a regime is over-confident
  for (const auto& obj : objectives) {
    demo::recipe r = base;
    r.objective = obj;
    Model model = demo::cached_or_trained(r, kind, cache, train, s.quiet);
    const auto fit = misd::eval::correctness(model, train.images, train.labels);
    train_accuracy[obj] = double(std::count(fit.begin(), fit.end(), std::uint8_t{1})) /
                          double(std::max<std::size_t>(fit.size(), 1));
    const bool full_table = obj == "standard" || obj == "rat";
    const auto names = full_table ? table2_methods : std::vector<std::string>{"msr", "rr-bs"};
    evals.emplace(obj, evaluate(model, test, s, names, arch + " " + obj));
    if (full_table)
      add_combined(evals.at(obj));
    if (obj == "standard") {
      estimator_study(out, model, test, study_images, s, regime + " regime, " + arch);
      shift_figures(out, model, test, shift_images, s, regime + " regime, " + arch);
    }
  }
  const std::string tag = regime + " regime, " + arch;

  // Table 2: every method, Standard and RAT.
  for (const auto& obj : {"standard", "rat"}) {
    table t{std::string("table2_") + arch + "_" + obj,
            std::string("Table 2 (") + tag + ", " + obj + "): misclassification detection",
            {"Method", "AUROC ↑", "FPR95 % ↓", "AURC×1000 ↓", "Accuracy %"},
            {},
            nlohmann::json::array()};
    for (const auto& m : evals.at(obj).report.methods)
      metrics_row(t, m.name, m);
    out.tables.push_back(std::move(t));
  }
  // Table 5: training objectives, confidence from RR-BS.
  {
    table t{"table5_" + arch,
            "Table 5 (" + tag + "): training objectives, confidence = RR-BS",
            {"Training", "AUROC ↑", "FPR95 % ↓", "AURC×1000 ↓", "Accuracy %"},
            {},
            nlohmann::json::array()};
    for (const auto& obj : objectives)
      metrics_row(t, obj, find_method(evals.at(obj), "rr-bs"));
    out.tables.push_back(std::move(t));
  }
  // Table 1: median RR-BS radius of correct and of wrong examples.
  {
    table t{"table1_" + arch,
            "Table 1 (" + tag +
                "): median RR-BS radius (T = 1, whole test set), and accuracy on the training "
                "images",
            {"Training", "training accuracy %", "correct", "wrong", "ratio"},
            {},
            nlohmann::json::array()};
    for (const auto& obj : objectives) {
      const auto [right, wrong] = radii_by_correctness(evals.at(obj), "rr-bs");
      const double a = median(right), b = median(wrong);
      t.rows.push_back(
          {obj, fmt(100 * train_accuracy.at(obj), 2), fmt(a, 5), fmt(b, 5), fmt(a / b, 2)});
      t.json.push_back({{"training", obj},
                        {"train_accuracy", train_accuracy.at(obj)},
                        {"median_radius_correct", a},
                        {"median_radius_wrong", b},
                        {"correct", right.size()},
                        {"wrong", wrong.size()}});
    }
    out.tables.push_back(std::move(t));
  }

  // Figure 2: radius histograms of correct and wrong examples, Standard and RAT.
  {
    std::vector<series> hist;
    for (const auto& obj : {"standard", "rat"}) {
      const int g = std::string(obj) == "rat" ? 1 : 0;
      const auto [right, wrong] = radii_by_correctness(evals.at(obj), "rr-bs");
      hist.push_back(log_histogram("correct", right, 1e-4, 1.0, 40, g));
      hist.push_back(log_histogram("wrong", wrong, 1e-4, 1.0, 40, g));
    }
    add_plot(out, "fig2_radius_histogram_" + arch + ".png",
             {"RR-BS radius of correct and wrong test examples (" + tag + ")",
              "RR-BS robust radius (L-inf distance in input units, [0, 1] box; log scale)",
              "fraction of the group's examples per bin",
              true,
              true,
              {"standard training:", "RAT:"}},
             std::move(hist));
  }
  // Risk-coverage curves of every method (Standard model, T = 1 / ε = 0 point), and the
  // same curves minus the oracle's risk (E-AURC is the area under those), where the methods'
  // differences show.
  {
    const auto& ev = evals.at("standard");
    std::vector<series> curves, excess;
    std::size_t errors = 0;
    for (auto c : ev.correct)
      errors += c ? 0 : 1;
    const double e = ev.correct.empty() ? 0.0 : double(errors) / double(ev.correct.size());
    for (const auto& m : ev.report.methods) {
      // Fitted per split (relu, pnorm-softmax, the combined score): no whole-set curve.
      if (!ev.outputs.count(m.name) ||
          ev.outputs.at(m.name)[default_point(ev.grids.at(m.name))].confidence.empty())
        continue;
      const auto& conf = ev.outputs.at(m.name)[default_point(ev.grids.at(m.name))].confidence;
      const auto rc = misd::metric::risk_coverage_curve(conf, ev.correct);
      const int g = m.name.rfind("rr-", 0) == 0 ? 1 : 0;
      curves.push_back({m.name, rc.coverage, rc.risk, g});
      series d{m.name, rc.coverage, rc.risk, g};
      // The oracle keeps every correct example first: risk max(0, 1 - (1 - e) / c).
      for (std::size_t i = 0; i < d.x.size(); ++i)
        d.y[i] -= d.x[i] > 0 ? std::max(0.0, 1.0 - (1.0 - e) / d.x[i]) : 0.0;
      excess.push_back(std::move(d));
    }
    const std::array<std::string, 2> groups{"softmax scores:", "robust radius:"};
    add_plot(out, "risk_coverage_" + arch + ".png",
             {"Risk-coverage, standard training (" + tag + ")",
              "coverage (fraction of test inputs kept)",
              "selective risk (error rate among the inputs kept)", false, false, groups},
             std::move(curves));
    add_plot(out, "excess_risk_coverage_" + arch + ".png",
             {"Excess risk over the oracle, standard training (" + tag + "); area = E-AURC",
              "coverage (fraction of test inputs kept)",
              "selective risk minus the oracle's at that coverage", false, false, groups},
             std::move(excess));
  }
  // Figure 3: AURC (whole test set) against temperature; ODIN and DOCTOR at their best ε.
  {
    const auto& ev = evals.at("standard");
    std::vector<series> lines;
    for (const auto& name : {"odin", "doctor", "rr-bs", "rr-fast", "rr-refine"}) {
      std::map<double, double> best;
      const auto& g = ev.grids.at(name);
      for (std::size_t i = 0; i < g.size(); ++i) {
        const double a = misd::metric::aurc(ev.outputs.at(name)[i].confidence, ev.correct);
        auto it = best.find(g[i].temperature);
        if (it == best.end() || a < it->second)
          best[g[i].temperature] = a;
      }
      series sr{name, {}, {}, std::string(name).rfind("rr-", 0) == 0 ? 1 : 0};
      for (const auto& [t, a] : best) {
        sr.x.push_back(t);
        sr.y.push_back(1000 * a);
      }
      lines.push_back(sr);
    }
    add_plot(out, "fig3_aurc_vs_temperature_" + arch + ".png",
             {"AURC against temperature (" + tag + ", standard)",
              "temperature T of the score (log scale)",
              "AURC x 1000 (lower is better)",
              true,
              false,
              {"softmax scores (best epsilon):", "robust radius:"}},
             std::move(lines));
  }
  return out;
}

fs::path default_cache_dir() {
  if (const char* x = std::getenv("XDG_CACHE_HOME"); x && *x)
    return fs::path(x) / "misd-demo";
  if (const char* h = std::getenv("HOME"); h && *h)
    return fs::path(h) / ".cache" / "misd-demo";
  return fs::path(".misd-demo-cache");
}

/// Fails early, before hours of training, when DIR's parent cannot take the output.
void check_writable(const fs::path& dir) {
  const fs::path parent = fs::absolute(dir).parent_path();
  std::error_code ec;
  fs::create_directories(parent, ec);
  const fs::path probe = parent / (".misd-demo-probe." + std::to_string(::getpid()));
  {
    std::ofstream f(probe);
    if (!f || !(f << "x") || !f.flush()) {
      fs::remove(probe, ec);
      throw misd::data_error(misd::detail::message("output directory ", dir.string(),
                                                   " cannot be written (its parent ",
                                                   parent.string(), " is not writable)"));
    }
  }
  fs::remove(probe, ec);
  if (fs::exists(dir) && !fs::is_directory(dir))
    throw misd::data_error(
        misd::detail::message("output path ", dir.string(), " exists and is not a directory"));
}
} // namespace

int cmd_demo(const demo_options& a) {
  settings s;
  s.quick = a.quick;
  s.quiet = a.quiet;
  const int nseeds = a.seeds;
  s.threads = a.threads;
  s.seeds.clear();
  for (int i = 0; i < nseeds; ++i)
    s.seeds.push_back(static_cast<std::uint64_t>(i));
  if (s.quick) {
    s.train_images = 4000;
    s.test_images = 1000;
    s.mlp_epochs = 3;
    s.cnn_train_images = 2000;
    s.cnn_epochs = 2;
    s.cnn_test_images = 300;
    s.cnn_batch = 32;
    s.temperatures = {1.0, 1000.0};
    s.epsilons = {0.0, 1e-3};
    s.radius_temperatures = {0.5, 1.0};
    s.pgd_steps = 2;
    s.mlp_study_images = 200;
    s.cnn_study_images = 50;
    s.fab_iterations = 20;
    s.mlp_shift_images = 300;
    s.cnn_shift_images = 100;
    s.shift_severities = {1, 3, 5};
  }
  const fs::path out_dir = a.out_dir;
  const fs::path cache = a.cache_dir ? fs::path(*a.cache_dir) : default_cache_dir();
  check_writable(out_dir);
  const auto t_start = std::chrono::steady_clock::now();

  const fs::path data_dir =
      a.data_dir ? fs::path(*a.data_dir) : misd::data::default_fashion_mnist_dir();
  auto train = misd::data::load_fashion_mnist(data_dir, misd::data::split::train);
  auto test = misd::data::load_fashion_mnist(data_dir, misd::data::split::test);
  auto shrink = [](misd::data::dataset& d, std::size_t n) {
    if (n < d.labels.size()) {
      d.images.conservativeResize(static_cast<Eigen::Index>(n), Eigen::NoChange);
      d.labels.resize(n);
    }
  };
  shrink(train, s.train_images);
  shrink(test, s.test_images);

  std::vector<regime_result> results;
  {
    demo::model_kind<misd::eigen::mlp<float>> mlp_kind{
        [](std::uint64_t seed) {
          return misd::eigen::mlp<float>::random({784, 512, 256, 10}, seed);
        },
        [](const fs::path& d, const misd::eigen::mlp<float>& m) { misd::eigen::save_mlp(d, m); },
        [](const fs::path& d) { return misd::eigen::load_mlp<float>(d); }};
    demo::recipe r;
    r.regime = "regularised";
    r.arch = "mlp";
    r.epochs = s.mlp_epochs;
    r.train_images = train.labels.size();
    r.weight_decay = 5e-4;
    results.push_back(run_regime("regularised", "mlp", mlp_kind, r, train, test, s, cache,
                                 s.mlp_study_images, s.mlp_shift_images));
  }
  {
    using cnn = misd::eigen::sequential<float>;
    demo::model_kind<cnn> cnn_kind{
        [&s](std::uint64_t seed) {
          auto m = misd::eigen::default_cnn<float>(seed);
          m.set_threads(s.threads);
          return m;
        },
        [](const fs::path& d, const cnn& m) { misd::eigen::save_sequential(d, m); },
        [&s](const fs::path& d) {
          auto m = misd::eigen::load_sequential<float>(d);
          m.set_threads(s.threads);
          return m;
        }};
    auto cnn_train = train, cnn_test = test;
    shrink(cnn_train, s.cnn_train_images);
    shrink(cnn_test, s.cnn_test_images);
    demo::recipe r;
    r.regime = "over-confident";
    r.arch = "cnn";
    r.epochs = s.cnn_epochs;
    r.train_images = cnn_train.labels.size();
    r.weight_decay = 0.0;
    r.batch = s.cnn_batch;
    r.learning_rate = s.cnn_learning_rate;
    r.threads = s.threads;
    results.push_back(run_regime("over-confident", "cnn", cnn_kind, r, cnn_train, cnn_test, s,
                                 cache, s.cnn_study_images, s.cnn_shift_images));
  }

  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t_start).count();
  std::ostringstream md;
  md << "# misd demo results\n\nFashion-MNIST" << (s.quick ? " (--quick)" : "")
     << ": the MLP trains on " << train.labels.size() << " images (weight decay 5e-4, "
     << s.mlp_epochs << " epochs) and is tested on " << test.labels.size() << "; the CNN trains on "
     << std::min(s.cnn_train_images, train.labels.size()) << " images (no weight decay, "
     << s.cnn_epochs << " epochs) and is tested on "
     << std::min(s.cnn_test_images, test.labels.size()) << "; " << s.seeds.size()
     << " random 20%/80% validation/test splits, hyper-parameters by lowest "
     << "validation AURC, mean ± std over splits. Wall time " << fmt(seconds, 0) << " s.\n\n";
  for (const auto& r : results)
    for (const auto& t : r.tables)
      md << t.markdown() << "\n";
  std::cout << md.str();

  // Everything is written at once: the previous output directory stays until the swap.
  misd::detail::replace_directory_atomically(out_dir, [&](const fs::path& tmp) {
    auto write = [&](const fs::path& p, const std::string& text) {
      misd::detail::write_file_atomically(p, [&](std::ostream& os) { os << text; });
    };
    write(tmp / "results.md", md.str());
    for (const auto& r : results) {
      for (const auto& t : r.tables) {
        write(tmp / (t.name + ".md"), t.markdown());
        write(tmp / (t.name + ".csv"), t.csv());
        write(tmp / (t.name + ".json"), t.json.dump(2) + "\n");
      }
      for (const auto& t : r.data_tables) {
        write(tmp / (t.name + ".csv"), t.csv());
        write(tmp / (t.name + ".json"), t.json.dump(2) + "\n");
      }
      for (const auto& [name, draw] : r.plots)
        draw(tmp / name);
    }
  });
  if (!s.quiet)
    std::cerr << "misd demo: results in " << out_dir.string() << " (" << fmt(seconds, 0) << " s)\n";
  return 0;
}
} // namespace misd_cli
