// examples/misd/score_torch.cpp -- 'misd score --model M.pt' through the
// LibTorch adapter: a TorchScript model on --device cpu|cuda scores an NPY file of inputs
// (N x D or N x C x H x W, passed to the model in that shape) with any registry method.
#include "score_torch.hpp"

#include "distributed.hpp"
#include "options.hpp"
#include "progress.hpp"
#include "score_output.hpp"

#include "misd/data/npy.hpp"
#include "misd/detail/shard.hpp"
#include "misd/metric/summary.hpp"
#include "misd/score/method.hpp"
#include "misd/torch.hpp"

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <iomanip>
#include <iostream>
#include <optional>
#include <string>
#include <vector>

namespace misd_cli {

bool is_torchscript(const std::string& path) {
  for (const char* ext : {".pt", ".pth", ".ts"}) {
    const std::string e(ext);
    if (path.size() > e.size() && path.compare(path.size() - e.size(), e.size(), e) == 0)
      return true;
  }
  return false;
}

namespace {

std::string json_number(const misd::metric::metric_value& v) {
  if (!v.defined())
    return "null";
  std::ostringstream s;
  s << std::setprecision(17) << *v;
  return s.str();
}

} // namespace

int cmd_score_torch(const score_options& opt) {
  if (opt.threads)
    throw usage_error("--threads applies to model directories only, not TorchScript models");
  namespace tb = misd::torch_backend;
  using model_type = tb::script_model;

  const std::string& method_name = opt.method;
  const auto& names = misd::score::method_names();
  if (std::find(names.begin(), names.end(), method_name) == names.end())
    throw usage_error("unknown method '" + method_name + "'");
  check_out_status_usage(opt, method_name);
  const std::string& format = opt.format;
  const std::int64_t batch_size = opt.batch_size;

  misd::score::method_options mo;
  mo.box = opt.box;
  set_radius_options(opt, mo.radius);
  mo.radius.rr_bs_pgd.seed = opt.seed.value_or(0);
  mo.pnorm_centre = opt.centre;
  auto method = misd::score::make_method<model_type>(method_name, mo);
  if (method_name == "relu")
    throw usage_error("method '" + method_name +
                      "' is learned from labelled data and is not available with a TorchScript "
                      "model in 'misd score'");
  const misd::score::hyper_parameters p = score_point(opt);

  // Device first (a usage error), then the files (data errors).
  torch::Device device = tb::parse_device(opt.device);
  // Under a launcher each rank scores its whole slices of --batch-size rows (on cuda:LOCAL_RANK
  // when --device cuda names no index); rank 0 gathers and writes.
  cluster ranks;
  if (device.is_cuda() && !device.has_index() && ranks.size() > 1)
    if (const char* lr = std::getenv("LOCAL_RANK"))
      device = tb::require_device(torch::Device(torch::kCUDA, c10::DeviceIndex(std::atoi(lr))));
  shard_scores scores;
  std::int64_t n = 0;
  std::string device_name;
  auto scoring_start = std::chrono::steady_clock::now();
  std::exception_ptr failure;
  try {
    tb::options to;
    if (opt.tf32)
      to.tf32 = *opt.tf32;
    to.bf16_autocast = opt.bf16;
    auto model = tb::load_torchscript(opt.model, device, to);
    const std::string& inputs_path = opt.inputs;
    const auto xs = misd::data::read_npy_matrix<float>(inputs_path);
    n = static_cast<std::int64_t>(xs.shape.at(0));
    device_name = model.device().str();
    if (n == 0)
      throw misd::data_error(misd::detail::message("'", inputs_path, "': no examples (N = 0)"));
    std::vector<std::int64_t> shape(xs.shape.begin(), xs.shape.end());
    const auto x_all = torch::from_blob(const_cast<float*>(xs.values.data()), shape, torch::kFloat);
    std::vector<int> labels;
    if (const auto& lp = opt.labels) {
      labels = misd::data::read_npy_labels(*lp);
      if (static_cast<std::int64_t>(labels.size()) != n)
        throw misd::data_error(misd::detail::message("'", *lp, "': ", labels.size(), " labels for ",
                                                     n, " inputs in '", inputs_path, "'"));
    }

    const auto shard =
        misd::detail::slice_aligned_shard(std::size_t(n), std::size_t(batch_size),
                                          std::size_t(ranks.rank()), std::size_t(ranks.size()));
    const auto shard_first = static_cast<std::int64_t>(shard.first);
    const auto shard_end = static_cast<std::int64_t>(shard.end());
    scoring_start = std::chrono::steady_clock::now();
    progress_line progress("misd score: " + method_name, double(shard.count),
                           ranks.root() && progress_wanted(opt.quiet));
    for (std::int64_t first = shard_first; first < shard_end; first += batch_size) {
      const auto count = std::min<std::int64_t>(batch_size, shard_end - first);
      const auto xb =
          x_all.narrow(0, first, count).to(device, /*non_blocking=*/false, /*copy=*/true);
      const auto out = method.compute(model, xb, p);
      scores.add(score_confidence(method, out), out);
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
          scores.correct.push_back(yhat[static_cast<std::size_t>(i)] == y ? 1 : 0);
        }
      }
      progress.update(double(first + count - shard_first));
    }
    progress.finish();
  } catch (...) {
    failure = std::current_exception();
  }
  if (!scores.gather(ranks, failure))
    return 0;
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - scoring_start).count();
  const auto& confidence = scores.confidence;
  const auto& correct = scores.correct;
  const auto status = scores.statuses();
  const auto counts = finish_scores(opt, method_name, confidence, status, correct, seconds);

  if (format == "json") {
    std::cout << "{\"n\": " << n << ", \"method\": \"" << method_name << "\", \"device\": \""
              << device_name << "\"";
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
              << device_name << "\n";
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
