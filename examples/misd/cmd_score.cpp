// examples/misd/cmd_score.cpp -- 'misd score': one confidence per input
// (the robust radius for rr-*) from a model directory (sequential or MLP format), written as
// float64 NPY with --out (atomically), the radius statuses with --out-status; with --labels,
// the accuracy and the metrics too.
#include "cli.hpp"
#include "progress.hpp"
#include "score_output.hpp"

// --- LibTorch adapter hook: TorchScript models (*.pt) go to score_torch.cpp ---
#ifdef MISD_WITH_TORCH
#include "score_torch.hpp"
#endif

#include "misd/data/npy.hpp"
#include "misd/eigen/sequential_io.hpp"
#include "misd/error.hpp"
#include "misd/metric/summary.hpp"
#include "misd/score/method.hpp"

#include <nlohmann/json.hpp>

#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <iostream>
#include <optional>
#include <string>
#include <vector>

namespace misd_cli {
namespace {
constexpr const char* score_usage =
    "usage: misd score --model M --inputs X.npy --method METHOD [--labels Y.npy] [--out S.npy]\n"
    "                  [--out-status F.npy] [--temperature T] [--epsilon E] [--box LO,HI]\n"
    "                  [--budget L] [--steps-per-pass S] [--fd-step A] [--pgd-steps K]\n"
    "                  [--seed S] [--threads N] [--device cpu] [--format table|json] [--quiet]\n"
    "  M: a model directory (model.json + layer_<j>.*.npy, or weights_<i>.npy/biases_<i>.npy)\n"
    "  X.npy: float32/float64, N x D or N x C x H x W\n"
    "  METHOD: msr, odin, doctor, energy, max-logit, entropy, margin, rr-bs, rr-bs-pgd, rr-fast,\n"
    "          rr-refine\n"
    "Defaults: T = 1, epsilon 0, no box, budget 25, fd-step 1e-3, pgd-steps 10 (rr-bs-pgd;\n"
    "--seed adds a random start), 1 thread (rr-*). --steps-per-pass S (rr-bs, 1..8): S steps\n"
    "of the search per forward pass over up to 2^S - 1 points per input, the same radii in\n"
    "fewer, larger passes (for GPUs). Progress on stderr when it is a terminal, then a summary\n"
    "line (method, inputs, inputs/s, statuses); --quiet prints neither. Without --labels and\n"
    "--out the scores\n"
    "are printed one per line. S.npy is float64. F.npy (rr-* only): one uint8 per input,\n"
    "0 bracketed, 1 not_bracketed (the radius is a lower bound), 2 linear_estimate (rr-fast),\n"
    "3 zero_direction (the input gradient vanishes: radius 0 is not a measurement).\n";

using model_type = misd::eigen::sequential<float>;
using batch = misd::eigen::batch<float>;

constexpr Eigen::Index rows_per_call = 512;
} // namespace

int cmd_score(int argc, char** argv) {
#ifdef MISD_WITH_TORCH
  if (wants_torchscript(argc, argv)) // --- LibTorch adapter hook (score_torch.cpp) ---
    return cmd_score_torch(argc, argv);
#endif
  const args a(argc, argv, 2,
               {"model", "inputs", "method", "labels", "out", "out-status", "temperature",
                "epsilon", "box", "budget", "steps-per-pass", "fd-step", "pgd-steps", "seed",
                "threads", "device", "format"},
               {"help", "quiet"});
  if (a.has("help")) {
    std::cout << score_usage;
    return 0;
  }
  // Usage first: every option is checked before any file is read.
  const std::string model_dir = a.required("model"), inputs = a.required("inputs"),
                    method_name = a.required("method");
  const std::string format = a.get("format").value_or("table");
  if (format != "table" && format != "json")
    throw usage_error("--format must be 'table' or 'json', got '" + format + "'");
  const std::string device = a.get("device").value_or("cpu");
  if (device != "cpu")
    throw usage_error("--device " + device + " is not available in this build (only 'cpu')");
  bool known = false;
  for (const auto& n : misd::score::method_names())
    known = known || n == method_name;
  if (!known || method_name == "relu")
    throw usage_error(
        "--method '" + method_name +
        "' is not available here; known: msr, odin, "
        "doctor, energy, max-logit, entropy, margin, rr-bs, rr-bs-pgd, rr-fast, rr-refine");
  check_out_status_usage(a, method_name);
  misd::score::hyper_parameters p;
  p.temperature = a.number("temperature", 1.0);
  if (!(p.temperature > 0) || !std::isfinite(p.temperature))
    throw usage_error("--temperature must be a finite number > 0");
  p.epsilon = a.number("epsilon", 0.0);
  if (!(p.epsilon >= 0) || !std::isfinite(p.epsilon))
    throw usage_error("--epsilon must be a finite number >= 0");
  misd::score::method_options o;
  if (auto box = a.get("box")) {
    const auto parts = args::split(*box);
    if (parts.size() != 2)
      throw usage_error("--box expects LO,HI, got '" + *box + "'");
    const double lo = args::parse_double("box", parts[0]), hi = args::parse_double("box", parts[1]);
    if (!(lo < hi) || !std::isfinite(lo) || !std::isfinite(hi))
      throw usage_error("--box needs finite LO < HI, got '" + *box + "'");
    o.box = misd::input_box{lo, hi};
  }
  const long long budget = a.integer("budget", 25);
  if (budget < 1)
    throw usage_error("--budget must be >= 1");
  o.radius.budget = static_cast<decltype(o.radius.budget)>(budget);
  o.radius.steps_per_pass = steps_per_pass(a);
  o.radius.fd_step = a.number("fd-step", o.radius.fd_step);
  if (!(o.radius.fd_step > 0) || !std::isfinite(o.radius.fd_step))
    throw usage_error("--fd-step must be a finite number > 0");
  if (a.has("pgd-steps")) {
    const long long k = a.integer("pgd-steps", 10);
    if (k < 1)
      throw usage_error("--pgd-steps must be >= 1");
    o.radius.pgd_steps = static_cast<decltype(o.radius.pgd_steps)>(k);
  }
  if (a.has("seed")) { // rr-bs-pgd: a random start drawn from this seed
    o.radius.seed = static_cast<std::uint64_t>(a.integer("seed", 0));
    o.radius.pgd_random_start = true;
  }
  const long long threads = a.integer("threads", 1);
  if (threads < 1)
    throw usage_error("--threads must be >= 1");
  o.radius.threads = static_cast<int>(threads); // sequential models are safe to share
  auto method = misd::score::make_method<model_type>(method_name, o);

  // Data: every problem is exit status 1 with the file named.
  auto model = misd::eigen::load_model_directory<float>(model_dir);
  const auto m = misd::data::read_npy_matrix<float>(inputs);
  const auto n = static_cast<Eigen::Index>(m.values.shape(0));
  const auto d = static_cast<Eigen::Index>(m.values.shape(1));
  if (n == 0)
    throw misd::data_error(misd::detail::message("input file '", inputs, "' holds 0 examples"));
  const auto& shape = model.input_shape();
  if (d != shape.size() ||
      (m.shape.size() == 4 && !shape.flat &&
       (Eigen::Index(m.shape[1]) != shape.c || Eigen::Index(m.shape[2]) != shape.h ||
        Eigen::Index(m.shape[3]) != shape.w)))
    throw misd::data_error(
        misd::detail::message("input file '", inputs, "': examples of ", d, " numbers (file shape ",
                              misd::detail::npy_shape_text(m.shape), "), the model in '", model_dir,
                              "' takes ", shape.text()));
  batch x(n, d);
  std::copy(m.values.begin(), m.values.end(), x.data());
  if (!x.allFinite())
    throw misd::data_error(
        misd::detail::message("input file '", inputs, "' holds non-finite values"));
  std::vector<int> labels;
  if (auto lp = a.get("labels")) {
    labels = misd::data::read_npy_labels(*lp);
    if (static_cast<Eigen::Index>(labels.size()) != n)
      throw misd::data_error(misd::detail::message("label file '", *lp, "' has ", labels.size(),
                                                   " labels, the inputs ", n, " examples"));
    for (std::size_t i = 0; i < labels.size(); ++i)
      if (labels[i] >= static_cast<int>(model.classes()))
        throw misd::data_error(misd::detail::message("label file '", *lp, "': label ", labels[i],
                                                     " at index ", i, " but the model has ",
                                                     model.classes(), " classes"));
  }

  // Scores in slices of rows (bounded memory), with progress on a terminal.
  std::vector<double> conf(static_cast<std::size_t>(n));
  std::vector<misd::radius_status> status;
  std::vector<std::uint8_t> correct;
  progress_line progress("misd score: " + method_name, double(n), progress_wanted(a.has("quiet")));
  for (Eigen::Index first = 0; first < n; first += rows_per_call) {
    const Eigen::Index rows = std::min(rows_per_call, n - first);
    const batch xs = x.middleRows(first, rows);
    const auto out = method.compute(model, xs, p);
    const auto c = method.confidence(out);
    std::copy(c.begin(), c.end(), conf.begin() + first);
    status.insert(status.end(), out.status.begin(), out.status.end());
    if (!labels.empty()) {
      const batch z = model.logits(xs);
      for (Eigen::Index i = 0; i < rows; ++i) {
        Eigen::Index k = 0;
        z.row(i).maxCoeff(&k);
        correct.push_back(k == labels[static_cast<std::size_t>(first + i)] ? 1 : 0);
      }
    }
    progress.update(double(first + rows));
  }
  progress.finish();

  const auto counts = finish_scores(a, method_name, conf, status, progress.seconds());
  if (labels.empty()) {
    if (!a.has("out"))
      for (double c : conf)
        std::printf("%.17g\n", c);
    if (format == "json" && counts) // the counts still reach a JSON reader
      std::cout << "{\"method\": \"" << method_name << "\", \"n\": " << n
                << ", \"status\": " << status_counts_json(*counts) << "}\n";
    return 0;
  }
  const auto s = misd::metric::evaluate(conf, correct);
  using mv = misd::metric::metric_value;
  const std::vector<std::pair<const char*, mv>> rows{
      {"accuracy", mv::of(s.accuracy)}, {"auroc", s.auroc},         {"fpr95", s.fpr95},
      {"aurc", mv::of(s.aurc)},         {"eaurc", mv::of(s.eaurc)}, {"aupr_error", s.aupr_error},
      {"aupr_success", s.aupr_success}};
  for (const auto& [name, v] : rows)
    if (!v.defined())
      std::cerr << "misd score: " << name << " is undefined: " << v.reason << "\n";
  if (format == "json") {
    nlohmann::json j;
    j["method"] = method_name;
    j["n"] = s.n;
    j["errors"] = s.errors;
    for (const auto& [name, v] : rows)
      j[name] = v.defined() ? nlohmann::json(*v.value) : nlohmann::json(nullptr);
    if (counts)
      j["status"] = nlohmann::json::parse(status_counts_json(*counts));
    std::cout << j.dump() << "\n";
  } else {
    std::printf("| metric | value |\n|---|---|\n| method | %s |\n", method_name.c_str());
    std::printf("| n | %zu |\n| errors | %zu |\n", s.n, s.errors);
    for (const auto& [name, v] : rows) {
      if (v.defined())
        std::printf("| %s | %.6f |\n", name, *v.value);
      else
        std::printf("| %s | undefined |\n", name);
    }
    std::printf("| aurc x1000 | %.4f |\n", s.aurc * 1000.0);
    if (counts)
      for (std::size_t k = 0; k < misd::radius_status_count; ++k)
        std::printf("| status %s | %zu |\n",
                    std::string(misd::name(static_cast<misd::radius_status>(k))).c_str(),
                    (*counts)[k]);
  }
  return 0;
}
} // namespace misd_cli
