// bench/gpu/quality_torch.cpp -- does fp32, TF32 or bfloat16 arithmetic change what the
// scores detect? Scores a whole test set with MSR, RR-Fast and RR-BS through the LibTorch
// adapter under each arithmetic, and prints per (arithmetic, method) the images/s, AUROC and
// AURC (misd's metrics; correct = that arithmetic's own prediction equals the label) as JSON
// lines. RR-Fast runs at its default finite-difference step and at 0.05: its difference
// quotient divides the logits' rounding by the step.
//
//   quality_torch --model cnn.pt --inputs x.f32 --labels y.i64 --shape 1,28,28
//                 --device cuda --batch 1000
//
// x.f32: N x prod(shape) float32, little-endian, no header; y.i64: N int64 labels (the
// files bench/gpu/train_fmnist_cnn.py writes). Arithmetic: "fp32" forbids TF32, "tf32"
// allows it for convolutions and matrix products, "bf16" runs the forward passes under
// bfloat16 autocast (TF32 forbidden for what autocast leaves in float32).
#include "misd/metric.hpp"
#include "misd/radius/rr_bs.hpp"
#include "misd/radius/rr_fast.hpp"
#include "misd/score/logit_scores.hpp"
#include "misd/torch.hpp"

#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

namespace {

[[noreturn]] void usage(const std::string& why) {
  std::cerr << "quality_torch: " << why
            << "\nusage: quality_torch --model M.pt --inputs X.f32 --labels Y.i64 --shape C,H,W "
               "[--device cpu|cuda] [--batch N] [--budget L]\n";
  std::exit(2);
}

template <class T>
std::vector<T> read_raw(const std::string& path) {
  std::ifstream f(path, std::ios::binary | std::ios::ate);
  if (!f)
    usage("cannot open " + path);
  const auto bytes = static_cast<std::size_t>(f.tellg());
  if (bytes % sizeof(T) != 0)
    usage(path + ": " + std::to_string(bytes) + " bytes is not a whole number of " +
          std::to_string(sizeof(T)) + "-byte values");
  std::vector<T> v(bytes / sizeof(T));
  f.seekg(0);
  f.read(reinterpret_cast<char*>(v.data()), static_cast<std::streamsize>(bytes));
  return v;
}

} // namespace

int main(int argc, char** argv) try {
  std::string model_path, inputs, labels, device = "cpu", shape_s;
  long batch = 1000, budget = 25;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc)
        usage("option " + a + " needs a value");
      return argv[++i];
    };
    if (a == "--model")
      model_path = value();
    else if (a == "--inputs")
      inputs = value();
    else if (a == "--labels")
      labels = value();
    else if (a == "--shape")
      shape_s = value();
    else if (a == "--device")
      device = value();
    else if (a == "--batch")
      batch = std::stol(value());
    else if (a == "--budget")
      budget = std::stol(value());
    else
      usage("unknown option " + a);
  }
  if (model_path.empty() || inputs.empty() || labels.empty() || shape_s.empty())
    usage("--model, --inputs, --labels and --shape are required");
  std::vector<std::int64_t> shape{0};
  std::int64_t per = 1;
  {
    std::stringstream ss(shape_s);
    for (std::string part; std::getline(ss, part, ',');) {
      shape.push_back(std::stol(part));
      per *= shape.back();
    }
  }
  auto xs = read_raw<float>(inputs);
  const auto ys = read_raw<std::int64_t>(labels);
  const auto n = static_cast<std::int64_t>(ys.size());
  if (static_cast<std::int64_t>(xs.size()) != n * per)
    usage(inputs + " holds " + std::to_string(xs.size()) + " floats, expected " +
          std::to_string(n) + " labels x " + std::to_string(per));
  shape[0] = n;
  const auto x_all = torch::from_blob(xs.data(), shape, torch::kFloat).clone();

  namespace tb = misd::torch_backend;
  misd::rr_bs_options ro;
  ro.budget = static_cast<int>(budget);
  ro.box = misd::input_box{0.0, 1.0};
  const misd::rr_fast_options fast_o; // α = 1e-3
  std::vector<std::uint8_t> reference_prediction;
  for (const std::string arith : {"fp32", "tf32", "bf16"}) {
    tb::options o;
    o.tf32 = arith == "tf32";
    o.bf16_autocast = arith == "bf16";
    auto model = tb::load_torchscript(model_path, device, o);
    const auto dev = model.device();
    auto sync = [&] {
      if (dev.is_cuda())
        torch::cuda::synchronize();
    };
    const auto x = x_all.to(dev);
    // Warm-up on the first batch (cuDNN heuristics, TorchScript's profiling runs).
    for (int w = 0; w < 3; ++w) {
      const auto xb = x.narrow(0, 0, std::min<std::int64_t>(batch, n));
      (void)misd::rr_fast(model, xb, fast_o);
      (void)misd::rr_bs(model, xb, ro);
    }
    sync();
    std::vector<double> msr(n), fast(n), fast_wide(n), bs(n);
    std::vector<std::uint8_t> correct(n);
    std::vector<int> pred(n);
    double t_msr = 0, t_fast = 0, t_fast_wide = 0, t_bs = 0;
    auto ro_wide = fast_o;
    ro_wide.fd_step = 0.05;
    auto clock = [&] {
      sync();
      return std::chrono::steady_clock::now();
    };
    for (std::int64_t first = 0; first < n; first += batch) {
      const auto len = std::min(batch, n - first);
      const auto xb = x.narrow(0, first, len);
      auto t0 = clock();
      misd::host_matrix z;
      {
        torch::NoGradGuard ng;
        misd::batch_ops<torch::Tensor>::to_host(model.logits(xb), z);
      }
      const auto c = misd::score::confidence(misd::score::logit_score::msr, z);
      auto t1 = clock();
      const auto rf = misd::rr_fast(model, xb, fast_o);
      auto t2 = clock();
      const auto rb = misd::rr_bs(model, xb, ro);
      auto t3 = clock();
      const auto rw = misd::rr_fast(model, xb, ro_wide);
      auto t4 = clock();
      t_fast_wide += std::chrono::duration<double>(t4 - t3).count();
      t_msr += std::chrono::duration<double>(t1 - t0).count();
      t_fast += std::chrono::duration<double>(t2 - t1).count();
      t_bs += std::chrono::duration<double>(t3 - t2).count();
      for (std::int64_t j = 0; j < len; ++j) {
        const auto i = first + j;
        msr[i] = c[j];
        fast[i] = rf.radius[j];
        bs[i] = rb.radius[j];
        fast_wide[i] = rw.radius[j];
        pred[i] = rb.prediction[j];
        correct[i] = rb.prediction[j] == ys[i] ? 1 : 0;
      }
    }
    if (reference_prediction.empty())
      for (std::int64_t i = 0; i < n; ++i)
        reference_prediction.push_back(static_cast<std::uint8_t>(pred[i]));
    std::int64_t same = 0;
    for (std::int64_t i = 0; i < n; ++i)
      same += reference_prediction[i] == pred[i];
    auto line = [&](const char* method, const std::vector<double>& score, double seconds) {
      const auto s = misd::metric::evaluate(score, correct);
      std::cout.precision(6);
      std::cout << "{\"arith\": \"" << arith << "\", \"method\": \"" << method
                << "\", \"device\": \"" << dev.str() << "\", \"n\": " << n
                << ", \"accuracy\": " << s.accuracy
                << ", \"same_prediction_as_fp32\": " << double(same) / double(n)
                << ", \"images_per_s\": " << double(n) / seconds
                << ", \"auroc\": " << (s.auroc.defined() ? *s.auroc : -1.0)
                << ", \"aurc_x1000\": " << s.aurc * 1000 << "}" << std::endl;
    };
    line("msr", msr, t_msr);
    line("rr-fast", fast, t_fast);
    line("rr-fast h=0.05", fast_wide, t_fast_wide);
    line("rr-bs", bs, t_bs);
  }
  return 0;
} catch (const std::exception& e) {
  std::cerr << "quality_torch: " << e.what() << "\n";
  return 1;
}
