// examples/misd/cmd_score.cpp -- 'misd score': one confidence per input
// (the robust radius for rr-*) from a model directory (sequential or MLP format), written as
// float64 NPY with --out (atomically), the radius statuses with --out-status; with --labels,
// the accuracy and the metrics too.
#include "distributed.hpp"
#include "options.hpp"
#include "progress.hpp"
#include "score_output.hpp"

#include "misd/data/npy.hpp"
#include "misd/detail/shard.hpp"
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
using model_type = misd::eigen::sequential<float>;
using batch = misd::eigen::batch<float>;

constexpr Eigen::Index rows_per_call = 512;
} // namespace

int cmd_score(const score_options& opt) {
  // Usage first: every option is checked before any file is read.
  if (!opt.torchscript_only_given.empty())
    throw usage_error(opt.torchscript_only_given.front() +
                      " applies to TorchScript models (--model M.pt) only");
  const std::string &model_dir = opt.model, &inputs = opt.inputs, &method_name = opt.method;
  const std::string& format = opt.format;
  if (opt.device != "cpu")
    throw usage_error("--device " + opt.device + " is not available in this build (only 'cpu')");
  bool known = false;
  for (const auto& n : misd::score::method_names())
    known = known || n == method_name;
  if (!known || method_name == "relu")
    throw usage_error("--method '" + method_name +
                      "' is not available here; known: msr, odin, doctor, energy, max-logit, "
                      "entropy, margin, maxlogit-pnorm, pnorm-softmax, gen, rr-bs, rr-bs-pgd, "
                      "rr-fast, rr-refine, deepfool, rr-iter, fab");
  check_out_status_usage(opt, method_name);
  const misd::score::hyper_parameters p = score_point(opt);
  misd::score::method_options o;
  o.box = opt.box;
  o.pnorm_centre = opt.centre;
  set_radius_options(opt, o.radius);
  if (opt.seed) { // rr-bs-pgd: a random start drawn from this seed
    o.radius.rr_bs_pgd.seed = *opt.seed;
    o.radius.rr_bs_pgd.pgd_random_start = true;
  }
  set_radius_threads(opt.threads.value_or(1), o.radius); // sequential models are safe to share
  auto method = misd::score::make_method<model_type>(method_name, o);

  // Under a launcher each rank scores its whole slices of rows; rank 0 gathers and writes.
  cluster ranks;
  shard_scores scores;
  std::vector<int> labels;
  Eigen::Index n = 0;
  auto scoring_start = std::chrono::steady_clock::now();
  std::exception_ptr failure;
  try {
    auto model = misd::eigen::load_model_directory<float>(model_dir);
    const auto m = misd::data::read_npy_matrix<float>(inputs);
    n = static_cast<Eigen::Index>(m.values.shape(0));
    const auto d = static_cast<Eigen::Index>(m.values.shape(1));
    if (n == 0)
      throw misd::data_error(misd::detail::message("input file '", inputs, "' holds 0 examples"));
    const auto& shape = model.input_shape();
    if (d != shape.size() ||
        (m.shape.size() == 4 && !shape.flat &&
         (Eigen::Index(m.shape[1]) != shape.c || Eigen::Index(m.shape[2]) != shape.h ||
          Eigen::Index(m.shape[3]) != shape.w)))
      throw misd::data_error(
          misd::detail::message("input file '", inputs, "': examples of ", d,
                                " numbers (file shape ", misd::detail::npy_shape_text(m.shape),
                                "), the model in '", model_dir, "' takes ", shape.text()));
    batch x(n, d);
    std::copy(m.values.begin(), m.values.end(), x.data());
    if (!x.allFinite())
      throw misd::data_error(
          misd::detail::message("input file '", inputs, "' holds non-finite values"));
    if (const auto& lp = opt.labels) {
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

    // Scores in slices of rows (bounded memory), with progress on a terminal. A rank takes
    // whole slices, so every slice holds the rows it holds in one process.
    const auto shard =
        misd::detail::slice_aligned_shard(std::size_t(n), std::size_t(rows_per_call),
                                          std::size_t(ranks.rank()), std::size_t(ranks.size()));
    const auto shard_first = static_cast<Eigen::Index>(shard.first);
    const auto shard_end = static_cast<Eigen::Index>(shard.end());
    scoring_start = std::chrono::steady_clock::now();
    progress_line progress("misd score: " + method_name, double(shard.count),
                           ranks.root() && progress_wanted(opt.quiet));
    for (Eigen::Index first = shard_first; first < shard_end; first += rows_per_call) {
      const Eigen::Index rows = std::min(rows_per_call, shard_end - first);
      const batch xs = x.middleRows(first, rows);
      const auto out = method.compute(model, xs, p);
      scores.add(score_confidence(method, out), out);
      if (!labels.empty()) {
        const batch z = model.logits(xs);
        for (Eigen::Index i = 0; i < rows; ++i) {
          Eigen::Index k = 0;
          z.row(i).maxCoeff(&k);
          scores.correct.push_back(k == labels[static_cast<std::size_t>(first + i)] ? 1 : 0);
        }
      }
      progress.update(double(first + rows - shard_first));
    }
    progress.finish();
  } catch (...) {
    failure = std::current_exception();
  }
  if (!scores.gather(ranks, failure))
    return 0;
  // On rank 0 the time to the last gather, so inputs/s is the whole run's.
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - scoring_start).count();
  const auto& conf = scores.confidence;
  const auto& correct = scores.correct;
  const auto status = scores.statuses();
  const auto forwards = static_cast<std::size_t>(scores.passes[0]);
  const auto backwards = static_cast<std::size_t>(scores.passes[1]);
  const auto example_forwards = static_cast<std::size_t>(scores.passes[2]);

  const auto counts = finish_scores(opt, method_name, conf, status, correct, seconds);
  if (labels.empty()) {
    if (!opt.out)
      for (double c : conf)
        std::printf("%.17g\n", c);
    if (format == "json" && counts) // the counts still reach a JSON reader
      std::cout << "{\"method\": \"" << method_name << "\", \"n\": " << n
                << ", \"status\": " << status_counts_json(*counts)
                << ", \"passes\": " << passes_json(forwards, backwards, example_forwards) << "}\n";
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
    if (counts)
      j["passes"] = nlohmann::json::parse(passes_json(forwards, backwards, example_forwards));
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
