// examples/misd/score_torch.cpp -- 'misd score --model M.pt' through the
// LibTorch adapter: a TorchScript model on --device cpu|cuda scores an NPY file of inputs
// (N x D or N x C x H x W, passed to the model in that shape) with any registry method.
#include "score_torch.hpp"

#include "cli.hpp"
#include "progress.hpp"
#include "score_output.hpp"

#include "misd/data/npy.hpp"
#include "misd/metric/summary.hpp"
#include "misd/score/method.hpp"
#include "misd/torch.hpp"

#include <algorithm>
#include <cstdint>
#include <iomanip>
#include <iostream>
#include <optional>
#include <string>
#include <vector>

namespace misd_cli {

bool wants_torchscript(int argc, char** argv) {
  for (int i = 2; i < argc; ++i) {
    std::string a = argv[i], path;
    if (a == "--model" && i + 1 < argc)
      path = argv[i + 1];
    else if (a.rfind("--model=", 0) == 0)
      path = a.substr(8);
    else
      continue;
    for (const char* ext : {".pt", ".pth", ".ts"}) {
      const std::string e(ext);
      if (path.size() > e.size() && path.compare(path.size() - e.size(), e.size(), e) == 0)
        return true;
    }
    return false;
  }
  return false;
}

namespace {

constexpr const char* help_text =
    "usage: misd score --model M.pt --inputs X.npy --method METHOD [--labels Y.npy]\n"
    "                  [--out S.npy] [--out-status F.npy] [--temperature T] [--epsilon E]\n"
    "                  [--box LO,HI]\n"
    "                  [--budget L] [--steps-per-pass S] [--fd-step A] [--pgd-steps K]\n"
    "                  [--seed S] [--tf32 on|off] [--bf16] [--quiet]\n"
    "                  [--device cpu|cuda] [--batch-size B] [--format table|json]\n"
    "A TorchScript model (torch.jit.script(model).save('M.pt')) scored through LibTorch.\n"
    "--steps-per-pass S (rr-bs, 1..8): S search steps per forward pass, the same radii in\n"
    "fewer, larger passes. --tf32 on|off: TF32 convolutions and matrix products on CUDA\n"
    "(default: LibTorch's, convolutions only). --bf16: forward passes under bfloat16\n"
    "autocast (rr-fast then needs a larger --fd-step: bf16 rounding swamps a 1e-3 step).\n"
    "S.npy is float64; F.npy (rr-* only) one uint8 status code per input (see 'misd score\n"
    "--help' without a .pt model).\n";

std::string json_number(const misd::metric::metric_value& v) {
  if (!v.defined())
    return "null";
  std::ostringstream s;
  s << std::setprecision(17) << *v;
  return s.str();
}

} // namespace

int cmd_score_torch(int argc, char** argv) {
  for (int i = 2; i < argc; ++i)
    if (std::string(argv[i]) == "--help") {
      std::cout << help_text;
      return 0;
    }
  const args a(argc, argv, 2,
               {"model", "inputs", "method", "labels", "out", "out-status", "temperature",
                "epsilon", "box", "budget", "steps-per-pass", "fd-step", "tf32", "pgd-steps",
                "seed", "device", "batch-size", "format"},
               {"bf16", "quiet"});
  namespace tb = misd::torch_backend;
  using model_type = tb::script_model;

  const std::string method_name = a.required("method");
  const auto& names = misd::score::method_names();
  if (std::find(names.begin(), names.end(), method_name) == names.end())
    throw usage_error("unknown method '" + method_name + "'");
  check_out_status_usage(a, method_name);
  const std::string format = a.get("format").value_or("table");
  if (format != "table" && format != "json")
    throw usage_error("--format must be table or json, got '" + format + "'");
  const long long batch_size = a.integer("batch-size", 256);
  if (batch_size < 1)
    throw usage_error("--batch-size must be >= 1");

  misd::score::method_options mo;
  if (auto box = a.get("box")) {
    const auto parts = args::split(*box);
    if (parts.size() != 2)
      throw usage_error("--box expects LO,HI, got '" + *box + "'");
    mo.box =
        misd::input_box{args::parse_double("box", parts[0]), args::parse_double("box", parts[1])};
  }
  mo.radius.budget = static_cast<int>(a.integer("budget", mo.radius.budget));
  mo.radius.steps_per_pass = steps_per_pass(a);
  mo.radius.fd_step = a.number("fd-step", mo.radius.fd_step);
  mo.radius.pgd_steps = static_cast<int>(a.integer("pgd-steps", mo.radius.pgd_steps));
  mo.radius.seed = static_cast<std::uint64_t>(a.integer("seed", 0));
  auto method = misd::score::make_method<model_type>(method_name, mo);
  if (method.needs_fit())
    throw usage_error("method '" + method_name +
                      "' is learned from labelled data and is not available with a TorchScript "
                      "model in 'misd score'");
  const misd::score::hyper_parameters p{a.number("temperature", 1.0), a.number("epsilon", 0.0)};

  // Device first (a usage error), then the files (data errors).
  const torch::Device device = tb::parse_device(a.get("device").value_or("cpu"));
  tb::options to;
  if (auto tf32 = a.get("tf32")) {
    if (*tf32 != "on" && *tf32 != "off")
      throw usage_error("--tf32 expects on or off, got '" + *tf32 + "'");
    to.tf32 = *tf32 == "on";
  }
  to.bf16_autocast = a.has("bf16");
  auto model = tb::load_torchscript(a.required("model"), device, to);
  const std::string inputs_path = a.required("inputs");
  const auto xs = misd::data::read_npy_matrix<float>(inputs_path);
  const auto n = static_cast<std::int64_t>(xs.shape.at(0));
  if (n == 0)
    throw misd::data_error(misd::detail::message("'", inputs_path, "': no examples (N = 0)"));
  std::vector<std::int64_t> shape(xs.shape.begin(), xs.shape.end());
  const auto x_all = torch::from_blob(const_cast<float*>(xs.values.data()), shape, torch::kFloat);
  std::vector<int> labels;
  if (auto lp = a.get("labels")) {
    labels = misd::data::read_npy_labels(*lp);
    if (static_cast<std::int64_t>(labels.size()) != n)
      throw misd::data_error(misd::detail::message("'", *lp, "': ", labels.size(), " labels for ",
                                                   n, " inputs in '", inputs_path, "'"));
  }

  std::vector<double> confidence;
  std::vector<misd::radius_status> status;
  std::vector<std::uint8_t> correct;
  confidence.reserve(static_cast<std::size_t>(n));
  progress_line progress("misd score: " + method_name, double(n), progress_wanted(a.has("quiet")));
  for (std::int64_t first = 0; first < n; first += batch_size) {
    const auto count = std::min<std::int64_t>(batch_size, n - first);
    const auto xb = x_all.narrow(0, first, count).to(device, /*non_blocking=*/false, /*copy=*/true);
    const auto out = method.compute(model, xb, p);
    const auto c = method.confidence(out);
    confidence.insert(confidence.end(), c.begin(), c.end());
    status.insert(status.end(), out.status.begin(), out.status.end());
    if (!labels.empty()) {
      misd::host_matrix z;
      misd::detail::checked_logits(model, xb, z, "logits");
      misd::label_vector yhat;
      misd::detail::argmax_rows(z, yhat);
      for (std::int64_t i = 0; i < count; ++i) {
        const int y = labels[static_cast<std::size_t>(first + i)];
        if (y >= z.cols())
          throw misd::data_error(misd::detail::message("label ", y, " of example ", first + i,
                                                       " is outside [0, ", z.cols(), ")"));
        correct.push_back(yhat[static_cast<std::size_t>(i)] == y ? 1 : 0);
      }
    }
    progress.update(double(first + count));
  }

  progress.finish();
  const auto counts = finish_scores(a, method_name, confidence, status, progress.seconds());

  if (format == "json") {
    std::cout << "{\"n\": " << n << ", \"method\": \"" << method_name << "\", \"device\": \""
              << model.device().str() << "\"";
    if (!correct.empty()) {
      const auto s = misd::metric::evaluate(confidence, correct);
      std::cout << std::setprecision(17) << ", \"errors\": " << s.errors
                << ", \"accuracy\": " << s.accuracy << ", \"auroc\": " << json_number(s.auroc)
                << ", \"fpr95\": " << json_number(s.fpr95) << ", \"aurc\": " << s.aurc
                << ", \"eaurc\": " << s.eaurc << ", \"aupr_error\": " << json_number(s.aupr_error)
                << ", \"aupr_success\": " << json_number(s.aupr_success);
    }
    if (counts)
      std::cout << ", \"status\": " << status_counts_json(*counts);
    std::cout << "}\n";
  } else {
    std::cout << "misd score: " << n << " inputs, method " << method_name << ", device "
              << model.device().str() << "\n";
    if (!correct.empty()) {
      const auto s = misd::metric::evaluate(confidence, correct);
      auto show = [](const misd::metric::metric_value& v) {
        return v.defined() ? std::to_string(*v) : std::string("undefined");
      };
      std::cout << "accuracy " << s.accuracy << "  AUROC " << show(s.auroc) << "  FPR95 "
                << show(s.fpr95) << "  AURC " << s.aurc << "\n";
    }
    if (counts)
      std::cout << "status " << status_counts_json(*counts) << "\n";
  }
  return 0;
}

} // namespace misd_cli
