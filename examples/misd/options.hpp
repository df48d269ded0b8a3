// examples/misd/options.hpp -- what each subcommand of the misd tool is given: its options,
// parsed, typed and range-checked by the command line (command_line.hpp), and the usage error
// a subcommand raises for what only it can check. Exit status: 0 success, 1 bad data,
// 2 bad usage.
#pragma once

#include "misd/box.hpp"

#include <cstddef>
#include <cstdint>
#include <limits>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace misd_cli {

/// Bad usage: exit status 2.
struct usage_error : std::runtime_error {
  using std::runtime_error::runtime_error;
};

/// 'misd metrics'
struct metrics_options {
  std::string confidence, correct;
  std::string format = "table";
};

/// 'misd threshold'
struct threshold_options {
  std::string confidence, correct;
  std::optional<std::string> test_confidence, test_correct;
  double risk = 0.02, delta = 0.001;
  std::string method = "sgr";           ///< sgr | ltt
  std::optional<std::string> p_value;   ///< ltt: binomial | hoeffding-bentkus
  std::optional<long long> grid_points; ///< ltt: quantiles of the calibration scores
  std::string format = "table";
};

/// 'misd score' (the options from --tf32 on only for TorchScript models).
struct score_options {
  std::string model, inputs, method;
  std::optional<std::string> labels, out, out_status;
  double temperature = 1.0, epsilon = 0.0;
  double norm_p = 2.0;       ///< maxlogit-pnorm, pnorm-softmax: --p
  bool centre = false;       ///< maxlogit-pnorm, pnorm-softmax: --centre
  double gen_gamma = 0.1;    ///< gen: --gamma
  long long gen_top_m = 100; ///< gen: --top-m (capped at the number of classes)
  std::optional<misd::input_box> box;
  int budget = 25;
  int steps_per_pass = 1;
  double fd_step = 1e-3;
  int pgd_steps = 10;
  int refine_probes = 10;  // deepfool, rr-iter: bisection probes
  int deepfool_steps = 50; // deepfool
  int candidates = 10;     // deepfool
  double overshoot = 0.02; // deepfool
  int iter_steps = 10;     // rr-iter
  double trust_radius = std::numeric_limits<double>::infinity(); // rr-iter
  std::string select = "per_step";                               // rr-iter: per_step | linear
  int fab_iterations = 100;                                      // fab: iterations per run
  int fab_targets = 9;                                           // fab: target classes (runs)
  int fab_restarts = 1;                                          // fab: runs per target
  double fab_epsilon = 0.3; // fab: the restarts' random starts lie within ½·min(best, ε)
  bool fab_untargeted = false;
  std::optional<std::uint64_t> seed;
  std::optional<int> threads; ///< model directories only
  std::string device = "cpu";
  std::string format = "table";
  bool quiet = false;
  std::optional<bool> tf32; ///< TorchScript only: --tf32 on|off
  bool bf16 = false;        ///< TorchScript only
  int batch_size = 256;     ///< TorchScript only
  /// Which TorchScript-only options were given, by name (for the model-directory path).
  std::vector<std::string> torchscript_only_given;
};

/// 'misd train'
struct train_options {
  std::string dataset, objective, out;
  std::optional<std::string> data_dir;
  std::string arch = "mlp";
  std::size_t epochs = 10, batch = 128, warmup = 1;
  bool hidden_given = false;
  std::vector<std::size_t> hidden{512, 256}; ///< empty: a linear softmax model
  double lr = 0.05, momentum = 0.9, weight_decay = 5e-4, epsilon = 1e-3;
  std::string inner = "fgsm";
  int pgd_steps = 5;
  double lambda_ori = 1.0, lambda = 1.0, mixup = 0.0;
  std::size_t mixup_off_last = 0, train_subset = 0;
  std::uint64_t seed = 0;
  int threads = 1; ///< --arch cnn
};

/// 'misd demo'
struct demo_options {
  bool quick = false, quiet = false;
  std::string out_dir = "misd-demo";
  std::optional<std::string> cache_dir, data_dir;
  int seeds = 3;
  int threads = 2;
};

/// 'misd corrupt'
struct corrupt_options {
  std::string inputs, kind, out;
  int severity = 1;
  std::uint64_t seed = 0;
  std::string preset = "cifar";
  bool quantize8 = false;
  std::optional<std::size_t> height, width;
  int threads = 1;
};

// One function per subcommand, each in its own source file; each returns the exit code.
int cmd_metrics(const metrics_options& o);
int cmd_threshold(const threshold_options& o);
int cmd_score(const score_options& o);
int cmd_train(const train_options& o);
int cmd_demo(const demo_options& o);
int cmd_corrupt(const corrupt_options& o);

} // namespace misd_cli
