// bench/bench_torch.cpp -- throughput of misd's generic algorithms on a TorchScript model
// through the LibTorch adapter: forward, MSR with input preprocessing, RR-Fast, RR-BS (FGSM,
// budget 25), in images/s, as JSON (one object per line, then a summary object).
//
//   bench_torch --model wrn.pt --device cuda --batch 128,512 --shape 3,32,32 --reps 10
//               [--steps 2,3] [--tf32 on|off] [--channels-last] [--bf16] [--jit-noopt]
//
// One JSON line per batch size. --steps adds RR-BS with steps_per_pass = s for each s
// (rr_bs_s<s>, with its passes and whether its brackets equal the one-step search's).
//
// Also reports the cost of the host round trip the generic algorithms make per forward pass
// (the N x K logits to the host as doubles: to_host), measured on its own.
#include "misd/radius/rr_bs.hpp"
#include "misd/radius/rr_fast.hpp"
#include "misd/score/preprocess.hpp"
#include "misd/torch.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <functional>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

namespace {

struct cli {
  std::string model, device = "cpu", shape = "3,32,32", tf32;
  std::vector<long> batches{512}, steps;
  long reps = 10, budget = 25;
  bool channels_last = false, bf16 = false, jit_noopt = false;
};

[[noreturn]] void usage(const std::string& why) {
  std::cerr << "bench_torch: " << why
            << "\nusage: bench_torch --model M.pt [--device cpu|cuda] [--batch N] "
               "[--shape C,H,W] [--reps R] [--budget L] [--steps S,...] [--tf32 on|off] "
               "[--channels-last] [--bf16] [--jit-noopt]\n";
  std::exit(2);
}

std::vector<long> numbers(const std::string& list) {
  std::vector<long> v;
  std::stringstream ss(list);
  for (std::string part; std::getline(ss, part, ',');)
    v.push_back(std::stol(part));
  if (v.empty())
    usage("empty list '" + list + "'");
  return v;
}

cli parse(int argc, char** argv) {
  cli c;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc)
        usage("option " + a + " needs a value");
      return argv[++i];
    };
    if (a == "--model")
      c.model = value();
    else if (a == "--device")
      c.device = value();
    else if (a == "--shape")
      c.shape = value();
    else if (a == "--batch")
      c.batches = numbers(value());
    else if (a == "--steps")
      c.steps = numbers(value());
    else if (a == "--tf32") {
      c.tf32 = value();
      if (c.tf32 != "on" && c.tf32 != "off")
        usage("--tf32 takes on or off");
    } else if (a == "--reps")
      c.reps = std::stol(value());
    else if (a == "--budget")
      c.budget = std::stol(value());
    else if (a == "--channels-last")
      c.channels_last = true;
    else if (a == "--bf16")
      c.bf16 = true;
    else if (a == "--jit-noopt") // TorchScript's interpreter without graph optimisation
      c.jit_noopt = true;
    else
      usage("unknown option " + a);
  }
  if (c.model.empty())
    usage("--model is required");
  return c;
}

} // namespace

int main(int argc, char** argv) try {
  const cli c = parse(argc, argv);
  namespace tb = misd::torch_backend;
  tb::options o;
  o.channels_last = c.channels_last;
  o.bf16_autocast = c.bf16;
  if (!c.tf32.empty())
    o.tf32 = c.tf32 == "on";
  if (c.jit_noopt)
    torch::jit::setGraphExecutorOptimize(false);
  auto model = tb::load_torchscript(c.model, c.device, o);
  const auto dev = model.device();
  auto sync = [&] {
    if (dev.is_cuda())
      torch::cuda::synchronize();
  };
  auto time_it = [&](const std::function<void()>& f) {
    // Warm-up: cuDNN autotuning, and TorchScript's profiling executor, which profiles the
    // first runs of each specialisation (with and without gradients) and then compiles.
    for (int w = 0; w < 3; ++w)
      f();
    sync();
    const auto t0 = std::chrono::steady_clock::now();
    for (long r = 0; r < c.reps; ++r)
      f();
    sync();
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    return s / double(c.reps);
  };
  for (const long batch : c.batches) {
    std::vector<std::int64_t> shape{batch};
    {
      std::stringstream ss(c.shape);
      for (std::string part; std::getline(ss, part, ',');)
        shape.push_back(std::stol(part));
    }
    torch::manual_seed(0);
    const auto x = torch::rand(shape).to(dev);
    misd::rr_bs_options ro;
    ro.budget = static_cast<int>(c.budget);
    // No box: ref_throughput.py does not clamp either (same algorithm, same radii).
    misd::score::preprocess_options po;
    po.epsilon = 0.0005;
    po.direction = misd::score::preprocess_direction::lower_confidence; // as ref_throughput.py

    const double t_forward = time_it([&] {
      torch::NoGradGuard ng;
      (void)model.logits(x);
    });
    misd::host_matrix z;
    const auto logits = model.logits(x);
    const double t_to_host = time_it([&] { misd::batch_ops<torch::Tensor>::to_host(logits, z); });
    const auto g = torch::ones({batch, logits.size(1)}, logits.options());
    const double t_fwd_bwd = time_it([&] { (void)model.input_gradient(x, g); });
    const double t_msr = time_it([&] {
      (void)misd::score::preprocessed_confidence(model, x, misd::score::logit_score::msr, po);
    });
    misd::radius_result fast, bs;
    const double t_fast =
        time_it([&] { fast = misd::rr_fast(model, x, misd::rr_fast_options{ro}); });
    const double t_bs = time_it([&] { bs = misd::rr_bs(model, x, ro); });

    std::vector<double> rb(bs.radius.data(), bs.radius.data() + bs.radius.size());
    std::nth_element(rb.begin(), rb.begin() + long(rb.size() / 2), rb.end());
    const double n = double(batch);
    std::ostringstream out;
    out.precision(6);
    out << "{\"impl\": \"misd\", \"device\": \"" << dev.str() << "\", \"torch\": \""
        << TORCH_VERSION << "\", \"batch\": " << batch << ", \"budget\": " << c.budget
        << ", \"channels_last\": " << (c.channels_last ? "true" : "false")
        << ", \"bf16\": " << (c.bf16 ? "true" : "false") << ", \"tf32\": \""
        << (c.tf32.empty() ? "default" : c.tf32) << "\""
        << ", \"jit_noopt\": " << (c.jit_noopt ? "true" : "false")
        << ", \"forward\": " << n / t_forward << ", \"msr_pre\": " << n / t_msr
        << ", \"rr_fast\": " << n / t_fast << ", \"rr_bs_once\": " << n / t_bs
        << ", \"to_host_ms\": " << t_to_host * 1e3 << ", \"forward_ms\": " << t_forward * 1e3
        << ", \"forward_backward_ms\": " << t_fwd_bwd * 1e3
        << ", \"rr_bs_forwards\": " << bs.forwards
        << ", \"median_radius_bs\": " << rb[rb.size() / 2];
    // Brackets against the one-step search's: examples with another status or an end moved
    // by more than the final bracket width, and the largest move in widths. Equal, unless
    // a GPU kernel chosen for another batch size rounds a logit differently near the boundary.
    auto compare = [&](const misd::radius_result& r, long& differ, double& worst) {
      differ = 0;
      worst = 0;
      for (Eigen::Index i = 0; i < bs.radius.size(); ++i) {
        const double w = bs.upper[i] - bs.lower[i];
        const double d =
            std::max(std::abs(r.lower[i] - bs.lower[i]),
                     std::isfinite(bs.upper[i]) ? std::abs(r.upper[i] - bs.upper[i]) : 0.0);
        if (r.status[std::size_t(i)] != bs.status[std::size_t(i)] || (std::isfinite(w) && d > w))
          ++differ;
        if (std::isfinite(w) && w > 0)
          worst = std::max(worst, d / w);
      }
    };
    for (const long s : c.steps) {
      auto rs = ro;
      rs.steps_per_pass = static_cast<int>(s);
      misd::radius_result r;
      const double t = time_it([&] { r = misd::rr_bs(model, x, rs); });
      long differ = 0;
      double worst = 0;
      compare(r, differ, worst);
      // Control: the one-step search itself on the batch repeated 2^s − 1 times (passes of
      // as many rows as steps_per_pass's): how far batch-size arithmetic alone moves it.
      const auto reps = (std::int64_t{1} << s) - 1;
      std::vector<std::int64_t> times(static_cast<std::size_t>(x.dim()), 1);
      times[0] = reps;
      auto control = misd::rr_bs(model, x.repeat(times), ro);
      control.lower.conservativeResize(batch);
      control.upper.conservativeResize(batch);
      control.radius.conservativeResize(batch);
      control.status.resize(std::size_t(batch));
      long c_differ = 0;
      double c_worst = 0;
      compare(control, c_differ, c_worst);
      out << ", \"rr_bs_s" << s << "\": " << n / t << ", \"rr_bs_s" << s
          << "_forwards\": " << r.forwards << ", \"rr_bs_s" << s
          << "_examples_outside_bracket\": " << differ << ", \"rr_bs_s" << s
          << "_max_end_shift_in_widths\": " << worst << ", \"rr_bs_s" << s
          << "_control_outside_bracket\": " << c_differ << ", \"rr_bs_s" << s
          << "_control_max_end_shift_in_widths\": " << c_worst;
    }
    out << "}";
    std::cout << out.str() << std::endl;
  }
  return 0;
} catch (const std::exception& e) {
  std::cerr << "bench_torch: " << e.what() << "\n";
  return 1;
}
