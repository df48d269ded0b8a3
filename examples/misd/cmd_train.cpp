// examples/misd/cmd_train.cpp -- 'misd train': trains an MLP (--arch mlp, the default) or
// misd's default CNN (--arch cnn) on Fashion-MNIST with Standard, AT, ReverseAT or RAT, and
// writes it as an MLP directory or a sequential model directory (docs/cli.md, "Files").
#include "cli.hpp"
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
constexpr const char* train_usage =
    "usage: misd train --dataset fashion-mnist [--data-dir DIR]\n"
    "                  --objective standard|rat|at|reverse-at [--arch mlp|cnn]\n"
    "                  [--epochs E] [--hidden 512,256] [--batch B] [--lr LR] [--momentum M]\n"
    "                  [--weight-decay WD] [--warmup EPOCHS] [--epsilon E] [--inner fgsm|pgd]\n"
    "                  [--pgd-steps K] [--lambda-ori W] [--lambda W] [--mixup ALPHA]\n"
    "                  [--mixup-off-last EPOCHS] [--train-subset N] [--seed S]\n"
    "                  [--threads T (cnn: rows split over T threads; default 1)] --out M\n"
    "Trains on Fashion-MNIST and writes the model to directory M: --arch mlp (default), an\n"
    "MLP 784-H...-10 with ReLU, written as an MLP directory; --arch cnn, the CNN\n"
    "conv16-conv32-pool-conv64-pool-fc128-fc10 (3x3 convolutions, ReLU), written as a\n"
    "sequential model directory (model.json).\n"
    "Defaults: 10 epochs, hidden 512,256, batch 128, lr 0.05 (cosine, 1 warm-up epoch),\n"
    "momentum 0.9, weight decay 5e-4, epsilon 1e-3 (FGSM), no Mixup, seed 0. The data\n"
    "directory defaults to $MISD_FASHION_MNIST_DIR or /usr/share/datasets/fashion-mnist.\n";

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

std::size_t positive(const args& a, const std::string& name, long long fallback,
                     bool zero_ok = false) {
  const long long v = a.integer(name, fallback);
  if (v < (zero_ok ? 0 : 1))
    throw usage_error("--" + name + " must be " + (zero_ok ? ">= 0" : ">= 1") + ", got " +
                      std::to_string(v));
  return static_cast<std::size_t>(v);
}
double non_negative(const args& a, const std::string& name, double fallback) {
  const double v = a.number(name, fallback);
  if (!(v >= 0) || !std::isfinite(v))
    throw usage_error("--" + name + " must be a finite number >= 0");
  return v;
}
} // namespace

int cmd_train(int argc, char** argv) {
  const args a(
      argc, argv, 2,
      {"dataset",      "data-dir",  "objective",  "arch",         "epochs", "hidden",
       "batch",        "lr",        "momentum",   "weight-decay", "warmup", "epsilon",
       "inner",        "pgd-steps", "lambda-ori", "lambda",       "mixup",  "mixup-off-last",
       "train-subset", "seed",      "out",        "threads"},
      {"help"});
  if (a.has("help")) {
    std::cout << train_usage;
    return 0;
  }
  // Usage first: every option is checked before any data is read.
  if (a.required("dataset") != "fashion-mnist")
    throw usage_error("--dataset: only 'fashion-mnist' is available, got '" +
                      a.required("dataset") + "'");
  const std::string arch = a.get("arch").value_or("mlp");
  if (arch != "mlp" && arch != "cnn")
    throw usage_error("--arch must be mlp or cnn, got '" + arch + "'");
  if (arch == "cnn" && a.has("hidden"))
    throw usage_error("--hidden applies to --arch mlp only");
  const std::string out = a.required("out");

  misd::train::train_options o;
  o.objective.kind = parse_objective(a.required("objective"));
  o.epochs = positive(a, "epochs", 10);
  o.batch_size = positive(a, "batch", 128);
  o.learning_rate = a.number("lr", 0.05);
  if (!(o.learning_rate > 0) || !std::isfinite(o.learning_rate))
    throw usage_error("--lr must be a finite number > 0");
  o.sgd.momentum = a.number("momentum", 0.9);
  if (!(o.sgd.momentum >= 0 && o.sgd.momentum < 1))
    throw usage_error("--momentum must be in [0, 1)");
  o.sgd.weight_decay = non_negative(a, "weight-decay", 5e-4);
  o.warmup_epochs = positive(a, "warmup", 1, true);
  if (o.warmup_epochs > o.epochs)
    throw usage_error("--warmup (" + std::to_string(o.warmup_epochs) + ") exceeds --epochs (" +
                      std::to_string(o.epochs) + ")");
  o.objective.epsilon = non_negative(a, "epsilon", 1e-3);
  o.objective.lambda_ori = non_negative(a, "lambda-ori", 1.0);
  o.objective.lambda = non_negative(a, "lambda", 1.0);
  const std::string inner = a.get("inner").value_or("fgsm");
  if (inner == "pgd")
    o.objective.solver = misd::train::inner_solver::pgd;
  else if (inner != "fgsm")
    throw usage_error("--inner must be fgsm or pgd, got '" + inner + "'");
  o.objective.pgd_steps = static_cast<int>(positive(a, "pgd-steps", 5));
  o.mixup_alpha = non_negative(a, "mixup", 0.0);
  o.mixup_off_last_epochs = positive(a, "mixup-off-last", 0, true);
  const std::size_t subset = positive(a, "train-subset", 0, true);
  o.seed = static_cast<std::uint64_t>(a.integer("seed", 0));

  std::vector<std::size_t> widths{784};
  for (const auto& h : args::split(a.get("hidden").value_or("512,256"))) {
    if (h.empty())
      continue; // "--hidden ''" gives a linear softmax model
    std::size_t pos = 0;
    long long w = 0;
    try {
      w = std::stoll(h, &pos);
    } catch (const std::exception&) {
      pos = 0;
    }
    if (pos != h.size() || w < 1)
      throw usage_error("--hidden expects comma-separated widths >= 1, got '" + h + "'");
    widths.push_back(static_cast<std::size_t>(w));
  }
  widths.push_back(10);

  const auto dir = a.has("data-dir") ? std::filesystem::path(*a.get("data-dir"))
                                     : misd::data::default_fashion_mnist_dir();
  auto train = misd::data::load_fashion_mnist(dir, misd::data::split::train);
  const auto test = misd::data::load_fashion_mnist(dir, misd::data::split::test);
  if (subset > 0 && subset < train.labels.size()) {
    train.images.conservativeResize(static_cast<Eigen::Index>(subset), Eigen::NoChange);
    train.labels.resize(subset);
  }

  // One training path for both architectures: everything below is generic.
  auto run = [&](auto model, const std::string& description, auto save) {
    std::cerr << "misd train: " << misd::train::name(o.objective.kind) << ", " << description
              << ", " << train.labels.size() << " training images, " << o.epochs << " epochs\n";
    const auto t0 = std::chrono::steady_clock::now();
    auto history = misd::train::fit(model, {train.images, train.labels}, o, training_progress());
    const double secs =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    const double test_accuracy = misd::train::accuracy(model, {test.images, test.labels});
    save(model);
    return std::tuple{std::move(history), secs, test_accuracy};
  };
  std::vector<misd::train::progress> history;
  double seconds = 0, acc = 0;
  if (arch == "cnn") {
    auto cnn = misd::eigen::default_cnn<float>(o.seed);
    cnn.set_threads(static_cast<int>(positive(a, "threads", 1)));
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
