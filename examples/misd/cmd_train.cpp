// examples/misd/cmd_train.cpp -- 'misd train': trains an MLP (--arch mlp, the default) or
// misd's default CNN (--arch cnn) on Fashion-MNIST with Standard, AT, ReverseAT or RAT, and
// writes it as an MLP directory or a sequential model directory (docs/cli.md, "Files").
#include "distributed.hpp"
#include "options.hpp"
#include "progress.hpp"

#include "misd/data/idx.hpp"
#include "misd/eigen/mlp.hpp"
#include "misd/eigen/mlp_io.hpp"
#include "misd/eigen/sequential_io.hpp"
#include "misd/train.hpp"

#include <chrono>
#include <cmath>
#include <cstdio>
#include <iostream>
#include <string>
#include <tuple>
#include <vector>

namespace misd_cli {
namespace {
misd::train::objective parse_objective(const std::string& s) {
  using misd::train::objective;
  if (s == "standard")
    return objective::standard;
  if (s == "rat")
    return objective::rat;
  if (s == "at")
    return objective::at;
  if (s == "reverse-at")
    return objective::reverse_at;
  throw usage_error("--objective must be standard, rat, at or reverse-at, got '" + s + "'");
}
} // namespace

int cmd_train(const train_options& a) {
  // Usage first: every option is checked before any data is read.
  const std::string& arch = a.arch;
  if (arch == "cnn" && a.hidden_given)
    throw usage_error("--hidden applies to --arch mlp only");
  const std::string& out = a.out;

  misd::train::train_options o;
  o.objective.kind = parse_objective(a.objective);
  o.epochs = a.epochs;
  o.batch_size = a.batch;
  o.learning_rate = a.lr;
  o.sgd.momentum = a.momentum;
  o.sgd.weight_decay = a.weight_decay;
  o.warmup_epochs = a.warmup;
  if (o.warmup_epochs > o.epochs)
    throw usage_error("--warmup (" + std::to_string(o.warmup_epochs) + ") exceeds --epochs (" +
                      std::to_string(o.epochs) + ")");
  o.objective.epsilon = a.epsilon;
  o.objective.lambda_ori = a.lambda_ori;
  o.objective.lambda = a.lambda;
  if (a.inner == "pgd")
    o.objective.solver = misd::train::inner_solver::pgd;
  o.objective.pgd_steps = a.pgd_steps;
  o.mixup_alpha = a.mixup;
  o.mixup_off_last_epochs = a.mixup_off_last;
  const std::size_t subset = a.train_subset;
  o.seed = a.seed;
  // Under a launcher: data-parallel, each rank a share of every batch (the same seed and
  // data everywhere); rank 0 reports and writes the model.
  cluster ranks;
  o.parallel.rank = std::size_t(ranks.rank());
  o.parallel.world_size = std::size_t(ranks.size());
  if (ranks.size() > 1)
    o.parallel.all_reduce_sum = [&ranks](std::vector<double>& v) { ranks.all_reduce_sum(v); };

  std::vector<std::size_t> widths{784};
  widths.insert(widths.end(), a.hidden.begin(), a.hidden.end());
  widths.push_back(10);

  const auto dir =
      a.data_dir ? std::filesystem::path(*a.data_dir) : misd::data::default_fashion_mnist_dir();
  auto train = misd::data::load_fashion_mnist(dir, misd::data::split::train);
  const auto test = misd::data::load_fashion_mnist(dir, misd::data::split::test);
  if (subset > 0 && subset < train.labels.size()) {
    train.images.conservativeResize(static_cast<Eigen::Index>(subset), Eigen::NoChange);
    train.labels.resize(subset);
  }

  // One training path for both architectures: everything below is generic.
  auto run = [&](auto model, const std::string& description, auto save) {
    if (ranks.root())
      std::cerr << "misd train: " << misd::train::name(o.objective.kind) << ", " << description
                << ", " << train.labels.size() << " training images, " << o.epochs << " epochs"
                << (ranks.size() > 1 ? ", " + std::to_string(ranks.size()) + " processes" : "")
                << "\n";
    const auto t0 = std::chrono::steady_clock::now();
    std::vector<misd::train::progress> history;
    std::exception_ptr failure;
    try {
      history = misd::train::fit(model, {train.images, train.labels}, o,
                                 ranks.root() ? misd::train::progress_callback(training_progress())
                                              : misd::train::progress_callback{});
    } catch (...) {
      failure = std::current_exception();
    }
    ranks.check_all(failure, "training");
    const double secs =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    double test_accuracy = 0;
    if (ranks.root()) {
      test_accuracy = misd::train::accuracy(model, {test.images, test.labels});
      save(model);
    }
    return std::tuple{std::move(history), secs, test_accuracy};
  };
  std::vector<misd::train::progress> history;
  double seconds = 0, acc = 0;
  if (arch == "cnn") {
    auto cnn = misd::eigen::default_cnn<float>(o.seed);
    cnn.set_threads(a.threads);
    std::tie(history, seconds, acc) =
        run(std::move(cnn), "CNN conv16-conv32-pool-conv64-pool-fc128-fc10",
            [&](const auto& m) { misd::eigen::save_sequential(out, m); });
  } else {
    std::string description = "MLP";
    for (auto w : widths)
      description += (w == 784 ? " " : "-") + std::to_string(w);
    std::tie(history, seconds, acc) =
        run(misd::eigen::mlp<float>::random(widths, o.seed), description,
            [&](const auto& m) { misd::eigen::save_mlp(out, m); });
  }

  if (!ranks.root())
    return 0;
  double train_seconds = 0;
  for (const auto& h : history)
    train_seconds += h.seconds;
  const double images = double(train.labels.size()) * double(history.size());
  char line[256];
  std::snprintf(line, sizeof line,
                "objective %s: test accuracy %.2f%% (%zu images), final training loss %.4f, "
                "%.0f images/s, %.1f s\nmodel written to %s\n",
                std::string(misd::train::name(o.objective.kind)).c_str(), 100 * acc,
                test.labels.size(), history.back().loss, images / train_seconds, seconds,
                out.c_str());
  std::cout << line;
  return 0;
}
} // namespace misd_cli
