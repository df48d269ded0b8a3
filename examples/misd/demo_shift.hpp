// examples/misd/demo_shift.hpp -- the demo's Figure 4: misclassification detection under
// covariate shift. The first `images` test images are corrupted by every kind at every
// severity (misd/data/corruption.hpp); each score is measured on each corrupted set (AUROC,
// AURC), and a reject threshold with a guaranteed risk (SGR, misd/metric/risk_control.hpp)
// calibrated on the remaining clean test images is applied to it, which shows how far the
// clean-data guarantee carries under shift.
#pragma once

#include "misd/data/corruption.hpp"
#include "misd/eval.hpp"
#include "misd/metric.hpp"
#include "misd/metric/risk_control.hpp"
#include "misd/score.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>
#include <vector>

namespace misd_cli::demo {

/// What the shift study corrupts and which threshold it calibrates.
struct shift_settings {
  std::size_t images = 1000; ///< corrupted: the first `images` test images; calibration: the rest
  std::vector<int> severities{1, 2, 3, 4, 5};
  std::uint64_t seed = 0;
  double target_risk = 0.05; ///< r*: the SGR threshold's target selective risk
  double delta = 0.01;       ///< the guarantee holds with probability >= 1 - delta
};

/// One score on one set: severity 0 is the clean subsample (kind "none").
struct shift_cell {
  std::string kind;
  int severity = 0;
  std::string score;
  double accuracy = 0;
  misd::metric::metric_value auroc;
  double aurc = 0;
  misd::metric::selective_outcome kept; ///< the clean-calibrated threshold on this set
};

struct shift_result {
  /// The scores compared: "msr", the best post-hoc score, "rr-bs", "rr-fast".
  std::vector<std::string> scores;
  /// Why the post-hoc score was chosen: its AURC on the clean calibration set, and the others'.
  std::vector<std::pair<std::string, double>> posthoc_calibration_aurc;
  std::vector<misd::metric::risk_threshold> thresholds; ///< per score, on the calibration set
  std::size_t calibration_size = 0, shifted_size = 0;
  std::vector<shift_cell> cells;
};

/// The post-hoc scores the study picks its "best" from, each at T = 1 (and ε = 0): those
/// whose default setting needs no fitting.
inline const std::vector<std::string>& shift_posthoc_candidates() {
  static const std::vector<std::string> c{"doctor", "energy", "max-logit", "gen"};
  return c;
}

namespace detail {
template <class M>
std::vector<double> score_at_default(misd::score::method<M>& m, M& model,
                                     const misd::batch_t<M>& x) {
  return m.compute(model, x, misd::score::hyper_parameters{}).confidence;
}
} // namespace detail

/// Runs the study on `model` (rows of `test.images` in [0, 1], `height` x `width` pixels).
/// `progress(done, total)` is called after each corrupted set.
template <class M, class Progress>
shift_result shift_study(M& model, const misd::data::dataset& test, std::size_t height,
                         std::size_t width, const misd::score::method_options& mo,
                         const shift_settings& s, Progress&& progress) {
  using misd::data::corruption_kind;
  const std::size_t n = test.labels.size();
  if (s.images == 0 || s.images >= n)
    throw misd::invalid_argument(misd::detail::message(
        "shift study: ", s.images, " corrupted images leave no calibration set among ", n));
  const auto rows = [&](std::size_t from, std::size_t to) {
    return misd::batch_t<M>(test.images.middleRows(static_cast<Eigen::Index>(from),
                                                   static_cast<Eigen::Index>(to - from)));
  };
  const misd::batch_t<M> clean = rows(0, s.images), calib = rows(s.images, n);
  const misd::label_vector y(test.labels.begin(),
                             test.labels.begin() + static_cast<std::ptrdiff_t>(s.images));
  const misd::label_vector y_cal(test.labels.begin() + static_cast<std::ptrdiff_t>(s.images),
                                 test.labels.end());
  const auto correct_cal = misd::eval::correctness(model, calib, y_cal);

  shift_result out;
  out.calibration_size = n - s.images;
  out.shifted_size = s.images;
  // The best post-hoc score: the lowest AURC on the clean calibration set.
  std::string best;
  double best_aurc = std::numeric_limits<double>::infinity();
  for (const auto& name : shift_posthoc_candidates()) {
    auto m = misd::score::make_method<M>(name, mo);
    const double a = misd::metric::aurc(detail::score_at_default(m, model, calib), correct_cal);
    out.posthoc_calibration_aurc.emplace_back(name, a);
    if (a < best_aurc) {
      best_aurc = a;
      best = name;
    }
  }
  out.scores = {"msr", best, "rr-bs", "rr-fast"};
  std::vector<misd::score::method<M>> methods;
  for (const auto& name : out.scores)
    methods.push_back(misd::score::make_method<M>(name, mo));

  misd::metric::sgr_options so;
  so.target_risk = s.target_risk;
  so.delta = s.delta;
  for (auto& m : methods)
    out.thresholds.push_back(
        misd::metric::sgr_threshold(detail::score_at_default(m, model, calib), correct_cal, so));

  const auto kinds = misd::data::all_corruption_kinds();
  const std::size_t total = 1 + kinds.size() * s.severities.size();
  std::size_t done = 0;
  auto measure = [&](const std::string& kind, int severity, const misd::batch_t<M>& x) {
    const auto correct = misd::eval::correctness(model, x, y);
    const double right = double(std::count(correct.begin(), correct.end(), std::uint8_t{1}));
    for (std::size_t k = 0; k < methods.size(); ++k) {
      const auto conf = detail::score_at_default(methods[k], model, x);
      out.cells.push_back({kind, severity, out.scores[k], right / double(correct.size()),
                           misd::metric::auroc(conf, correct), misd::metric::aurc(conf, correct),
                           misd::metric::apply_threshold(out.thresholds[k], conf, correct)});
    }
    progress(++done, total);
  };
  measure("none", 0, clean);
  const std::span<const float> pixels(clean.data(), static_cast<std::size_t>(clean.size()));
  for (const corruption_kind kind : kinds)
    for (const int severity : s.severities) {
      misd::data::corruption_options co;
      co.kind = kind;
      co.severity = severity;
      co.seed = s.seed;
      const auto shifted = misd::data::corrupt_images(pixels, s.images, height, width, co);
      misd::batch_t<M> x(clean.rows(), clean.cols());
      std::copy(shifted.begin(), shifted.end(), x.data());
      measure(std::string(misd::data::corruption_name(kind)), severity, x);
    }
  return out;
}

/// The mean over corruption kinds of `field` for one score at one severity (severity 0: the
/// clean subsample alone); metrics undefined on a set (AUROC with one class) are left out.
template <class Field>
double mean_over_kinds(const shift_result& r, const std::string& score, int severity,
                       Field&& field) {
  double sum = 0;
  std::size_t count = 0;
  for (const auto& c : r.cells)
    if (c.score == score && c.severity == severity)
      if (const auto v = field(c); std::isfinite(v)) {
        sum += v;
        ++count;
      }
  return count ? sum / double(count) : std::numeric_limits<double>::quiet_NaN();
}

} // namespace misd_cli::demo
