// examples/misd/command_line.hpp -- the misd tool's command line, on CLI11: one subcommand
// per task, each option typed and range-checked as it is parsed, and --help generated from
// the same definitions (so it cannot drift from what is accepted). CLI11's parse errors are
// reported in the tool's own words ("unknown option --x", "missing required option --x",
// "option --x needs a value", "option --x given twice", "--x must be ..."), as usage errors
// (exit status 2). Only the tool includes this header; the library does not need CLI11.
#pragma once

#include "options.hpp"

#include "misd/data/corruption.hpp"
#include "misd/radius/options.hpp"

#include <CLI/CLI.hpp>

#include <charconv>
#include <cmath>
#include <iostream>
#include <limits>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

namespace misd_cli {

namespace cli_detail {

inline std::string in_quotes(const std::string& s) {
  return "'" + s + "'";
}

/// A base-10 integer, the whole text, or nothing.
inline std::optional<long long> parse_integer(const std::string& s) {
  long long v = 0;
  const char* end = s.data() + s.size();
  const auto [p, ec] = std::from_chars(s.data(), end, v);
  if (ec != std::errc() || p != end || s.empty())
    return std::nullopt;
  return v;
}

/// A number, the whole text, or nothing.
inline std::optional<double> parse_number(const std::string& s) {
  std::size_t pos = 0;
  double r = 0;
  try {
    r = std::stod(s, &pos);
  } catch (const std::exception&) {
    return std::nullopt;
  }
  if (pos != s.size() || s.empty())
    return std::nullopt;
  return r;
}

/// An integer in [lo, hi]. The text is rewritten in base 10, so that CLI11's conversion (which
/// reads "010" as octal) sees what was checked.
inline CLI::Validator integer_in(long long lo,
                                 long long hi = std::numeric_limits<long long>::max()) {
  const std::string range = hi == std::numeric_limits<long long>::max()
                                ? ">= " + std::to_string(lo)
                                : "in [" + std::to_string(lo) + ", " + std::to_string(hi) + "]";
  return CLI::Validator(
      [lo, hi, range](std::string& s) -> std::string {
        const auto v = parse_integer(s);
        if (!v)
          return "expects an integer, got " + in_quotes(s);
        if (*v < lo || *v > hi)
          return "must be " + range + ", got " + s;
        s = std::to_string(*v);
        return {};
      },
      range);
}

/// A finite number in a range: `above` (> lo) or at least lo, and below hi when given.
inline CLI::Validator number_in(double lo, bool above, std::optional<double> below = {}) {
  std::ostringstream r;
  r << (above ? "> " : ">= ") << lo;
  if (below)
    r << " and < " << *below;
  const std::string range = r.str();
  return CLI::Validator(
      [lo, above, below, range](std::string& s) -> std::string {
        const auto v = parse_number(s);
        if (!v)
          return "expects a number, got " + in_quotes(s);
        if (!std::isfinite(*v) || (above ? !(*v > lo) : !(*v >= lo)) || (below && !(*v < *below)))
          return "must be a finite number " + range + ", got " + s;
        return {};
      },
      range);
}

/// One word of a fixed set; the message lists them as `listed` does.
inline CLI::Validator one_of(std::vector<std::string> words, std::string listed) {
  std::string set;
  for (const auto& w : words)
    set += (set.empty() ? "" : "|") + w;
  return CLI::Validator(
      [words, listed](std::string& s) -> std::string {
        for (const auto& w : words)
          if (s == w)
            return {};
        return listed + ", got " + in_quotes(s);
      },
      set);
}

inline std::vector<std::string> split(const std::string& s, char sep = ',') {
  std::vector<std::string> out;
  std::string cur;
  for (char c : s) {
    if (c == sep) {
      out.push_back(cur);
      cur.clear();
    } else {
      cur += c;
    }
  }
  out.push_back(cur);
  return out;
}

/// --box LO,HI: two finite numbers, LO < HI.
inline std::optional<misd::input_box> parse_box(const std::string& s) {
  const auto parts = split(s);
  if (parts.size() != 2)
    return std::nullopt;
  const auto lo = parse_number(parts[0]), hi = parse_number(parts[1]);
  if (!lo || !hi || !std::isfinite(*lo) || !std::isfinite(*hi) || !(*lo < *hi))
    return std::nullopt;
  return misd::input_box{*lo, *hi};
}

/// --hidden 512,256: widths >= 1; empty parts are skipped ("" is a linear softmax model).
inline std::optional<std::vector<std::size_t>> parse_widths(const std::string& s) {
  std::vector<std::size_t> widths;
  for (const auto& h : split(s)) {
    if (h.empty())
      continue;
    const auto w = parse_integer(h);
    if (!w || *w < 1)
      return std::nullopt;
    widths.push_back(static_cast<std::size_t>(*w));
  }
  return widths;
}

/// A validator from a parser: the text must parse.
template <class Parse>
CLI::Validator parses_as(Parse parse, std::string expected, std::string description) {
  return CLI::Validator(
      [parse, expected](std::string& s) -> std::string {
        return parse(s) ? std::string() : "expects " + expected + ", got " + in_quotes(s);
      },
      std::move(description));
}

/// An option whose absence matters: the value lands in `target` only when given.
template <class T>
CLI::Option* add_optional(CLI::App& app, const std::string& name, std::optional<T>& target,
                          const std::string& description) {
  return app.add_option_function<T>(
      name, [&target](const T& v) { target = v; }, description);
}

/// The option of `app` whose name ("--x") `message` starts with, or whose name it contains.
inline const CLI::Option* option_named_in(const CLI::App& app, const std::string& message) {
  const CLI::Option* best = nullptr;
  std::size_t best_len = 0;
  for (const CLI::Option* o : app.get_options()) {
    const std::string n = o->get_name();
    if (n.size() > best_len && message.find(n) != std::string::npos) {
      best = o;
      best_len = n.size();
    }
  }
  return best;
}

/// The help's layout: each option's value as its type and the range its check admits
/// ("INT in [1, 8]", "FLOAT > 0", "table|json" for a set of words), and its default at the end
/// of its description.
class help_formatter : public CLI::Formatter {
public:
  std::string make_option_opts(const CLI::Option* opt) const override {
    if (opt->get_type_size() == 0)
      return {};
    std::string type = opt->get_type_name();
    if (const auto colon = type.find(':'); colon != std::string::npos)
      type = type.substr(0, colon) == "TEXT" ? type.substr(colon + 1)
                                             : type.substr(0, colon) + " " + type.substr(colon + 1);
    return " " + type + (opt->get_required() ? " (required)" : "");
  }
  std::string make_option_desc(const CLI::Option* opt) const override {
    const std::string d = opt->get_default_str();
    return opt->get_description() + (d.empty() ? "" : " (default " + d + ")");
  }
};

} // namespace cli_detail

/// The whole command line: parses argv into the options of one subcommand.
class command_line {
public:
  metrics_options metrics;
  threshold_options threshold;
  score_options score;
  train_options train;
  demo_options demo;
  corrupt_options corrupt;

  command_line() : app_("misd: misclassification detection by robust radius", "misd") {
    app_.require_subcommand(0, 1);
    app_.footer("Run 'misd <command> --help' for a command's options. Exit status: 0 success, "
                "1 bad data or I/O failure, 2 bad usage.");
    auto formatter = std::make_shared<cli_detail::help_formatter>();
    formatter->column_width(30);
    app_.formatter(formatter);
    add_metrics();
    add_threshold();
    add_score();
    add_train();
    add_demo();
    add_corrupt();
    // Every option may be given once: a repeated option is a usage error, flags included.
    for (CLI::App* sub : app_.get_subcommands({}))
      for (CLI::Option* o : sub->get_options())
        if (o->get_name() != "--help")
          o->multi_option_policy(CLI::MultiOptionPolicy::Throw);
  }
  command_line(const command_line&) = delete;
  command_line& operator=(const command_line&) = delete;

  /// Parses argv. Returns the exit status when parsing alone decides it (--help: 0 with the
  /// help on `out`; no command at all: 2 with the help on `out`), nothing when command()
  /// should run. Throws usage_error (without the "misd <command>: " prefix) on bad usage.
  std::optional<int> parse(int argc, char** argv, std::ostream& out) {
    if (argc < 2) {
      out << app_.help();
      return 2;
    }
    const std::string first = argv[1];
    if (first.rfind("-", 0) != 0 &&
        !app_.get_subcommands([&](const CLI::App* s) { return s->get_name() == first; }).size())
      throw usage_error("unknown command " + cli_detail::in_quotes(first));
    try {
      app_.parse(argc, argv);
    } catch (const CLI::CallForHelp&) {
      out << app_.help(); // the help of the subcommand given, if any
      return 0;
    } catch (const CLI::ParseError& e) {
      throw usage_error(describe(e));
    }
    if (command().empty()) {
      out << app_.help();
      return 2;
    }
    return std::nullopt;
  }

  /// The subcommand given ("score"), empty when none was.
  std::string command() const {
    for (const CLI::App* s : app_.get_subcommands())
      return s->get_name();
    return {};
  }

  std::string help() const { return app_.help(); }

private:
  CLI::App app_;

  /// The app whose arguments failed: the subcommand given, if any.
  const CLI::App& failed_app() const {
    for (const CLI::App* s : app_.get_subcommands())
      return *s;
    return app_;
  }

  /// A CLI11 parse error in the tool's words.
  std::string describe(const CLI::ParseError& e) const {
    const CLI::App& app = failed_app();
    const std::string what = e.what();
    // Arguments that no option took are reported first, whatever CLI11 stopped at (it checks
    // required options before them).
    for (const std::string& x : app_.remaining(true)) {
      if (x.rfind("-", 0) == 0)
        return "unknown option " + x.substr(0, x.find('='));
      return "unexpected argument " + cli_detail::in_quotes(x);
    }
    const CLI::Option* opt = cli_detail::option_named_in(app, what);
    const std::string name = opt ? opt->get_name() : std::string();
    if (opt && dynamic_cast<const CLI::RequiredError*>(&e))
      return "missing required option " + name;
    if (opt && dynamic_cast<const CLI::ArgumentMismatch*>(&e))
      return "option " + name + (opt->count() > 1 ? " given twice" : " needs a value");
    if (opt && dynamic_cast<const CLI::ValidationError*>(&e)) {
      // "--x: must be ..." -> "--x must be ..."
      const auto colon = what.find(": ");
      return colon == std::string::npos ? what : name + " " + what.substr(colon + 2);
    }
    return what;
  }

  CLI::App* subcommand(const std::string& name, const std::string& description,
                       const std::string& footer) {
    CLI::App* s = app_.add_subcommand(name, description);
    s->footer(footer);
    s->formatter(app_.get_formatter());
    return s;
  }

  static CLI::Option* format_option(CLI::App* s, std::string& target) {
    return s->add_option("--format", target, "table or one JSON object")
        ->capture_default_str()
        ->check(cli_detail::one_of({"table", "json"}, "must be 'table' or 'json'"));
  }

  void add_metrics() {
    CLI::App* s =
        subcommand("metrics", "the metrics of a confidence vector against 0/1 correctness",
                   "C.npy: 1-D float32/float64 confidences (higher = more likely correct)\n"
                   "Y.npy: 1-D bool/uint8/integer, 1 = the prediction was correct");
    s->add_option("--confidence", metrics.confidence, "confidences")
        ->type_name("C.npy")
        ->required();
    s->add_option("--correct", metrics.correct, "correctness")->type_name("Y.npy")->required();
    format_option(s, metrics.format);
  }

  void add_threshold() {
    threshold_options& o = threshold;
    CLI::App* s = subcommand(
        "threshold",
        "a reject threshold whose selective risk is at most --risk with probability 1 - --delta",
        "C.npy: 1-D float32/float64 calibration confidences (higher = more likely correct)\n"
        "Y.npy: 1-D bool/uint8/integer, 1 = the prediction was correct\n"
        "The guarantee holds for new inputs exchangeable with the calibration set.");
    s->add_option("--confidence", o.confidence, "calibration confidences")
        ->type_name("C.npy")
        ->required();
    s->add_option("--correct", o.correct, "calibration correctness")
        ->type_name("Y.npy")
        ->required();
    s->add_option("--risk", o.risk, "target selective risk r")
        ->type_name("FLOAT")
        ->required()
        ->check(cli_detail::number_in(0.0, true, 1.0));
    s->add_option("--delta", o.delta, "probability that the risk bound fails")
        ->type_name("FLOAT")
        ->required()
        ->check(cli_detail::number_in(0.0, true, 1.0));
    s->add_option("--method", o.method, "sgr (accept >= t) or ltt (Learn-then-Test, accept > t)")
        ->capture_default_str()
        ->check(cli_detail::one_of({"sgr", "ltt"}, "must be 'sgr' or 'ltt'"));
    cli_detail::add_optional(*s, "--p-value", o.p_value,
                             "ltt only: binomial (default) or hoeffding-bentkus")
        ->check(cli_detail::one_of({"binomial", "hoeffding-bentkus"},
                                   "must be 'binomial' or 'hoeffding-bentkus'"));
    cli_detail::add_optional(*s, "--grid-points", o.grid_points,
                             "ltt only: quantiles of the calibration confidences tested "
                             "(default 1000)")
        ->type_name("INT")
        ->check(cli_detail::integer_in(1, 10000000));
    cli_detail::add_optional(*s, "--test-confidence", o.test_confidence,
                             "test confidences: adds the test coverage and risk")
        ->type_name("T.npy");
    cli_detail::add_optional(*s, "--test-correct", o.test_correct, "test correctness")
        ->type_name("TY.npy");
    format_option(s, o.format);
  }

  void add_score() {
    using namespace cli_detail;
    CLI::App* s = subcommand(
        "score", "one confidence per input (the robust radius for rr-*), with the metrics",
        "M: a model directory (model.json + layer_<j>.*.npy, or weights_<i>.npy/biases_<i>.npy)"
#ifdef MISD_WITH_TORCH
        ",\n   or a TorchScript model (M.pt, .pth, .ts: torch.jit.script(model).save('M.pt'))"
#endif
        "\nX.npy: float32/float64, N x D or N x C x H x W\n"
        "METHOD: msr, odin, doctor, energy, max-logit, entropy, margin, maxlogit-pnorm,\n"
        "        pnorm-softmax, gen, rr-bs, rr-bs-pgd, rr-fast, rr-refine,\n"
        "        deepfool, rr-iter, fab\n"
        "pnorm-softmax scores at tau = T (no validation set here to rescale T by).\n"
        "--steps-per-pass S (rr-bs): S steps of the search per forward pass over up to 2^S - 1\n"
        "points per input, the same radii in fewer, larger passes (for GPUs). Progress on\n"
        "stderr when it is a terminal, then a summary line (method, inputs, inputs/s,\n"
        "statuses); --quiet prints neither. Without --labels and --out the scores are printed\n"
        "one per line. S.npy is float64. F.npy (rr-* only): one uint8 per input, 0 bracketed,\n"
        "1 not_bracketed (the radius is a lower bound), 2 linear_estimate (rr-fast),\n"
        "3 zero_direction (the input gradient vanishes: radius 0 is not a measurement).");
    score_options& o = score;
    s->add_option("--model", o.model, "the model")->type_name("M")->required();
    s->add_option("--inputs", o.inputs, "the inputs")->type_name("X.npy")->required();
    s->add_option("--method", o.method, "the scoring method")->type_name("METHOD")->required();
    add_optional(*s, "--labels", o.labels, "labels: adds the accuracy and the metrics")
        ->type_name("Y.npy");
    add_optional(*s, "--out", o.out, "write the scores (atomically)")->type_name("S.npy");
    add_optional(*s, "--out-status", o.out_status, "write the radius statuses")->type_name("F.npy");
    s->add_option("--temperature", o.temperature, "softmax temperature T")
        ->capture_default_str()
        ->check(number_in(0, true));
    s->add_option("--epsilon", o.epsilon, "input perturbation (odin, doctor)")
        ->capture_default_str()
        ->check(number_in(0, false));
    s->add_option("--p", o.norm_p,
                  "norm order p, 0 = no normalisation (maxlogit-pnorm, pnorm-softmax)")
        ->capture_default_str()
        ->check(number_in(0, false));
    s->add_flag("--centre", o.centre,
                "subtract each input's mean logit before the norm (maxlogit-pnorm, pnorm-softmax)");
    s->add_option("--gamma", o.gen_gamma, "exponent gamma (gen)")
        ->capture_default_str()
        ->check(number_in(0, true));
    s->add_option("--top-m", o.gen_top_m, "the M most probable classes, capped at K (gen)")
        ->type_name("M")
        ->capture_default_str()
        ->check(integer_in(1));
    s->add_option_function<std::string>(
         "--box", [&o](const std::string& v) { o.box = parse_box(v); },
         "the valid input range LO,HI (default: none)")
        ->type_name("LO,HI")
        ->check(parses_as(parse_box, "finite LO,HI with LO < HI", ""));
    s->add_option("--budget", o.budget, "forward passes per input (rr-bs)")
        ->capture_default_str()
        ->check(integer_in(1));
    s->add_option("--steps-per-pass", o.steps_per_pass, "search steps per forward pass (rr-bs)")
        ->capture_default_str()
        ->check(integer_in(1, misd::detail::max_steps_per_pass));
    s->add_option("--fd-step", o.fd_step, "finite-difference step (rr-fast)")
        ->capture_default_str()
        ->check(number_in(0, true));
    s->add_option("--pgd-steps", o.pgd_steps, "PGD steps per probe (rr-bs-pgd)")
        ->capture_default_str()
        ->check(integer_in(1));
    s->add_option("--refine-probes", o.refine_probes,
                  "bisection probes on [x, attack point] (deepfool, rr-iter, fab)")
        ->capture_default_str()
        ->check(integer_in(1, 60));
    s->add_option("--deepfool-steps", o.deepfool_steps, "DeepFool steps (deepfool)")
        ->capture_default_str()
        ->check(integer_in(1, 100000));
    s->add_option("--candidates", o.candidates, "classes DeepFool considers (deepfool)")
        ->capture_default_str()
        ->check(integer_in(2, 100000));
    s->add_option("--overshoot", o.overshoot, "DeepFool's overshoot (deepfool)")
        ->capture_default_str()
        ->check(number_in(0, false));
    s->add_option("--iter-steps", o.iter_steps, "steps S (rr-iter)")
        ->capture_default_str()
        ->check(integer_in(1, 100000));
    s->add_option("--trust-radius", o.trust_radius, "cap on each step, inf = none (rr-iter)")
        ->capture_default_str()
        ->check(CLI::Validator(
            [](std::string& v) -> std::string {
              const auto x = parse_number(v);
              if (v == "inf" || (x && std::isfinite(*x) && *x > 0))
                return {};
              return "must be a finite number > 0 or inf, got " + v;
            },
            "> 0 or inf"));
    s->add_option("--select", o.select, "class to step towards: per_step or linear (rr-iter)")
        ->capture_default_str()
        ->check(one_of({"per_step", "linear"}, "must be 'per_step' or 'linear'"));
    s->add_option("--fab-iterations", o.fab_iterations, "iterations per run (fab)")
        ->capture_default_str()
        ->check(integer_in(1, 100000));
    s->add_option("--fab-targets", o.fab_targets,
                  "target classes, one run each, capped at K - 1 (fab)")
        ->capture_default_str()
        ->check(integer_in(1, 100000));
    s->add_option("--fab-restarts", o.fab_restarts,
                  "runs per target, random starts after the "
                  "first (fab; --seed draws them)")
        ->capture_default_str()
        ->check(integer_in(1, 100000));
    s->add_option("--fab-epsilon", o.fab_epsilon,
                  "restarts start within 1/2 min(best, E) of x (fab)")
        ->capture_default_str()
        ->check(number_in(0, true));
    s->add_flag("--fab-untargeted", o.fab_untargeted,
                "every class each iteration (K - 1 input gradients) instead of one target per "
                "run (fab)");
    add_optional(*s, "--seed", o.seed,
#ifdef MISD_WITH_TORCH
                 "rr-bs-pgd: a random start drawn from this seed (model directories); fab: "
                 "its restarts' random starts"
#else
                 "rr-bs-pgd: a random start drawn from this seed; fab: its restarts' random "
                 "starts"
#endif
                 )
        ->check(integer_in(0));
    add_optional(*s, "--threads", o.threads, "threads for rr-* (model directories; default 1)")
        ->check(integer_in(1));
#ifdef MISD_WITH_TORCH
    s->add_option("--device", o.device, "cuda for a TorchScript model only")
        ->type_name("cpu|cuda")
        ->capture_default_str();
#else
    s->add_option("--device", o.device, "the only device of this build")
        ->type_name("cpu")
        ->capture_default_str();
#endif
    format_option(s, o.format);
    s->add_flag("--quiet", o.quiet, "no progress and no summary on stderr");
#ifdef MISD_WITH_TORCH
    s->add_option_function<std::string>(
         "--tf32", [&o](const std::string& v) { o.tf32 = v == "on"; },
         "TF32 convolutions and matrix products on CUDA (default: LibTorch's, convolutions "
         "only; TorchScript)")
        ->check(one_of({"on", "off"}, "expects on or off"));
    s->add_flag("--bf16", o.bf16,
                "forward passes under bfloat16 autocast (TorchScript; rr-fast then needs a "
                "larger --fd-step: bf16 rounding swamps a 1e-3 step)");
    s->add_option("--batch-size", o.batch_size, "inputs per call of the model (TorchScript)")
        ->capture_default_str()
        ->check(integer_in(1));
    s->final_callback([s, &o] {
      for (const char* name : {"--tf32", "--bf16", "--batch-size"})
        if (s->count(name) > 0)
          o.torchscript_only_given.push_back(name);
    });
#endif
  }

  void add_train() {
    using namespace cli_detail;
    CLI::App* s = subcommand(
        "train", "trains a Fashion-MNIST model (MLP or CNN) with Standard, RAT, AT or ReverseAT",
        "The learning rate follows a cosine schedule after the warm-up; --epsilon is the\n"
        "training attack's radius (FGSM by default). The data directory defaults to\n"
        "$MISD_FASHION_MNIST_DIR or /usr/share/datasets/fashion-mnist.");
    train_options& o = train;
    s->add_option("--dataset", o.dataset, "the data set")
        ->required()
        ->check(one_of({"fashion-mnist"}, "only 'fashion-mnist' is available"));
    add_optional(*s, "--data-dir", o.data_dir, "the data set's IDX files");
    s->add_option("--objective", o.objective, "training objective")
        ->required()
        ->check(one_of({"standard", "rat", "at", "reverse-at"},
                       "must be standard, rat, at or reverse-at"));
    s->add_option("--arch", o.arch,
                  "mlp: 784-H...-10 with ReLU, written as an MLP directory; cnn: "
                  "conv16-conv32-pool-conv64-pool-fc128-fc10, written as a sequential model "
                  "directory (model.json)")
        ->capture_default_str()
        ->check(one_of({"mlp", "cnn"}, "must be mlp or cnn"));
    s->add_option("--epochs", o.epochs, "epochs")->capture_default_str()->check(integer_in(1));
    s->add_option_function<std::string>(
         "--hidden",
         [&o](const std::string& v) {
           o.hidden = *parse_widths(v);
           o.hidden_given = true;
         },
         "hidden widths of the MLP (default 512,256; '' is a linear softmax model)")
        ->type_name("W,W,...")
        ->check(parses_as(parse_widths, "comma-separated widths >= 1", ""));
    s->add_option("--batch", o.batch, "batch size")->capture_default_str()->check(integer_in(1));
    s->add_option("--lr", o.lr, "peak learning rate")
        ->capture_default_str()
        ->check(number_in(0, true));
    s->add_option("--momentum", o.momentum, "SGD momentum")
        ->capture_default_str()
        ->check(number_in(0, false, 1.0));
    s->add_option("--weight-decay", o.weight_decay, "weight decay")
        ->capture_default_str()
        ->check(number_in(0, false));
    s->add_option("--warmup", o.warmup, "warm-up epochs (at most --epochs)")
        ->capture_default_str()
        ->check(integer_in(0));
    s->add_option("--epsilon", o.epsilon, "attack radius of the objective")
        ->capture_default_str()
        ->check(number_in(0, false));
    s->add_option("--inner", o.inner, "the objective's attack")
        ->capture_default_str()
        ->check(one_of({"fgsm", "pgd"}, "must be fgsm or pgd"));
    s->add_option("--pgd-steps", o.pgd_steps, "steps of --inner pgd")
        ->capture_default_str()
        ->check(integer_in(1));
    s->add_option("--lambda-ori", o.lambda_ori, "weight of the clean loss")
        ->capture_default_str()
        ->check(number_in(0, false));
    s->add_option("--lambda", o.lambda, "weight of the adversarial loss")
        ->capture_default_str()
        ->check(number_in(0, false));
    s->add_option("--mixup", o.mixup, "Mixup's Beta(alpha, alpha); 0 = no Mixup")
        ->capture_default_str()
        ->check(number_in(0, false));
    s->add_option("--mixup-off-last", o.mixup_off_last, "the last epochs train without Mixup")
        ->capture_default_str()
        ->check(integer_in(0));
    s->add_option("--train-subset", o.train_subset, "train on the first N images (0 = all)")
        ->capture_default_str()
        ->check(integer_in(0));
    s->add_option("--seed", o.seed, "initialisation, shuffling and Mixup")
        ->capture_default_str()
        ->check(integer_in(0));
    s->add_option("--threads", o.threads, "cnn: rows split over T threads")
        ->capture_default_str()
        ->check(integer_in(1));
    s->add_option("--out", o.out, "the model directory to write")->required();
  }

  void add_demo() {
    using namespace cli_detail;
    CLI::App* s = subcommand(
        "demo", "the paper's experiments on Fashion-MNIST, tables and plots",
        "Trains (or reuses from the cache) Fashion-MNIST models in two regimes and writes the\n"
        "paper's tables (Markdown, CSV, JSON) and plots (PNG, each with the gnuplot script that\n"
        "draws it) into the output directory. Progress (inputs scored, inputs/s, time left) is\n"
        "redrawn in place when stderr is a terminal; otherwise one line per trained epoch and\n"
        "per scored method.");
    demo_options& o = demo;
    s->add_flag("--quick", o.quick,
                "subset of the data and few epochs (79 s of CPU time with an empty model cache)");
    s->add_option("--out-dir", o.out_dir, "the output directory")->capture_default_str();
    add_optional(*s, "--cache-dir", o.cache_dir,
                 "trained models (default $XDG_CACHE_HOME/misd-demo or ~/.cache/misd-demo)");
    add_optional(*s, "--data-dir", o.data_dir,
                 "Fashion-MNIST IDX files (default $MISD_FASHION_MNIST_DIR or "
                 "/usr/share/datasets/fashion-mnist, Debian package dataset-fashion-mnist)");
    s->add_option("--seeds", o.seeds, "random 20/80 validation/test splits per evaluation")
        ->capture_default_str()
        ->check(integer_in(1, 100));
    s->add_option("--threads", o.threads,
                  "threads for the CNN and the radius estimators (results depend on T in the "
                  "last bits, so the model cache is keyed by it)")
        ->capture_default_str()
        ->check(integer_in(1, 256));
    s->add_flag("--quiet", o.quiet, "no progress and no per-step lines on stderr (errors show)");
  }

  void add_corrupt() {
    using namespace cli_detail;
    CLI::App* s = subcommand(
        "corrupt", "grey images with a common corruption (noise, blur, JPEG, ...) at a severity",
        "X.npy: float32 or float64 values in [0, 1], N x H x W, N x 1 x H x W, or N x D with\n"
        "--height/--width (square images when neither is given). Y.npy: the same shape and dtype.\n"
        "KIND: gaussian_noise, shot_noise, impulse_noise, speckle_noise, gaussian_blur,\n"
        "      defocus_blur, motion_blur, brightness, contrast, pixelate, jpeg, elastic\n"
        "Image i's random numbers depend on (--seed, i, KIND) only: not on --threads.");
    corrupt_options& o = corrupt;
    s->add_option("--inputs", o.inputs, "the images")->type_name("X.npy")->required();
    std::vector<std::string> kinds;
    std::string listed = "must be one of";
    for (const auto k : misd::data::all_corruption_kinds()) {
      kinds.emplace_back(misd::data::corruption_name(k));
      listed += (kinds.size() == 1 ? " " : ", ") + kinds.back();
    }
    s->add_option("--kind", o.kind, "the corruption")
        ->type_name("KIND")
        ->required()
        ->check(one_of(kinds, listed).description(""));
    s->add_option("--severity", o.severity, "1 (mildest) to 5")
        ->type_name("S")
        ->required()
        ->check(integer_in(1, 5));
    s->add_option("--out", o.out, "write the corrupted images (atomically)")
        ->type_name("Y.npy")
        ->required();
    s->add_option("--seed", o.seed, "the random numbers' seed")
        ->capture_default_str()
        ->check(integer_in(0));
    s->add_option("--preset", o.preset, "parameter tables: cifar (CIFAR-10-C) or mnistc (MNIST-C)")
        ->capture_default_str()
        ->check(one_of({"cifar", "mnistc"}, "must be 'cifar' or 'mnistc'"));
    s->add_flag("--quantize8", o.quantize8, "round down to multiples of 1/255 (8-bit files)");
    add_optional(*s, "--height", o.height, "image height (N x D inputs)")
        ->type_name("H")
        ->check(integer_in(1));
    add_optional(*s, "--width", o.width, "image width (N x D inputs)")
        ->type_name("W")
        ->check(integer_in(1));
    s->add_option("--threads", o.threads, "images split over T threads (same result)")
        ->capture_default_str()
        ->check(integer_in(1, 256));
  }
};

} // namespace misd_cli
