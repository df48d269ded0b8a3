// Tests of the LibTorch adapter (misd/torch.hpp): batch arithmetic, closed forms on a torch
// linear model, agreement with the Eigen MLP holding the same weights (estimators, scores,
// RAT gradients), TorchScript files, callers in no-grad / inference mode, training-mode
// modules, devices and bad input. MISD_TEST_DEVICE=cuda runs the device-dependent cases on
// CUDA (bench/gpu/run.sh); the default is cpu.
// Only Eigen-backed core headers (no xtensor, JSON or zlib), so that bench/gpu/ can build this
// test on a machine that has LibTorch and Eigen alone.
#include "misd/attack/pgd.hpp"
#include "misd/eigen/mlp.hpp"
#include "misd/radius/deepfool.hpp"
#include "misd/radius/fab.hpp"
#include "misd/radius/rr_iter.hpp"
#include "misd/radius/rr_bs.hpp"
#include "misd/radius/rr_fast.hpp"
#include "misd/score/method.hpp"
#include "misd/torch.hpp"
#include "misd/train/rat.hpp"
#include "misd/train/sgd.hpp"
#include "misd/train/trainer.hpp"
#include "radius_settings.hpp"
#include "saturation_cases.hpp"

#include <doctest/doctest.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <limits>
#include <string>

using misd::host_matrix;
using misd::host_vector;
namespace tb = misd::torch_backend;
using ops = misd::batch_ops<torch::Tensor>;

namespace {

torch::Device test_device() {
  static const torch::Device dev = [] {
    const char* d = std::getenv("MISD_TEST_DEVICE");
    // Comparisons with the Eigen backend need fp32 convolutions, not TF32 (cuDNN's default).
    at::globalContext().setAllowTF32CuDNN(false);
    at::globalContext().setAllowTF32CuBLAS(false);
    return tb::parse_device(d && *d ? d : "cpu");
  }();
  return dev;
}

host_matrix host(const torch::Tensor& t) {
  host_matrix h;
  ops::to_host(t, h);
  return h;
}
torch::Tensor tensor(const host_matrix& h, torch::Dtype dtype = torch::kDouble) {
  return torch::from_blob(const_cast<double*>(h.data()), {h.rows(), h.cols()}, torch::kDouble)
      .to(dtype, false, true);
}

// Exact first crossing of a linear model's prediction along x + t d (as in test_support.hpp).
double linear_crossing(const host_matrix& w, const Eigen::VectorXd& z, const Eigen::VectorXd& d,
                       int y) {
  const Eigen::VectorXd s = w * d;
  double t = std::numeric_limits<double>::infinity();
  for (Eigen::Index i = 0; i < z.size(); ++i)
    if (i != y && s[i] > s[y])
      t = std::min(t, (z[y] - z[i]) / (s[i] - s[y]));
  return t;
}

// The linear model of test_radius.cpp.
host_matrix weights() {
  host_matrix m(4, 6);
  m << 0.9, -0.3, 0.5, 0.1, -0.7, 0.2, //
      -0.4, 0.8, 0.3, -0.6, 0.5, -0.1, //
      0.2, 0.1, -0.9, 0.7, 0.3, 0.6,   //
      -0.5, -0.2, 0.4, 0.3, 0.1, -0.8;
  return m;
}
host_matrix inputs() {
  host_matrix x(5, 6);
  x << 0.2, 0.7, 0.1, 0.9, 0.4, 0.3, //
      0.8, 0.1, 0.5, 0.2, 0.6, 0.9,  //
      0.5, 0.5, 0.5, 0.5, 0.5, 0.5,  //
      0.1, 0.9, 0.8, 0.3, 0.2, 0.4,  //
      0.6, 0.3, 0.2, 0.7, 0.9, 0.1;
  return x;
}

torch::nn::Linear torch_linear(const host_matrix& w, const Eigen::VectorXd& b) {
  torch::nn::Linear lin(w.cols(), w.rows());
  lin->to(torch::kDouble);
  torch::NoGradGuard no_grad;
  lin->weight.copy_(tensor(w));
  lin->bias.copy_(torch::from_blob(const_cast<double*>(b.data()), {b.size()}, torch::kDouble));
  return lin;
}

// An Eigen MLP and a torch MLP with the same float weights.
misd::eigen::mlp<float> eigen_mlp() {
  return misd::eigen::mlp<float>::random({20, 16, 12, 5}, 7);
}
torch::nn::Sequential torch_mlp(const misd::eigen::mlp<float>& m) {
  torch::nn::Sequential seq;
  const auto layers = m.dense_layers();
  for (std::size_t l = 0; l < layers.size(); ++l) {
    const auto& w = layers[l].weight;
    torch::nn::Linear lin(w.cols(), w.rows());
    {
      torch::NoGradGuard no_grad;
      lin->weight.copy_(
          torch::from_blob(const_cast<float*>(w.data()), {w.rows(), w.cols()}, torch::kFloat));
      lin->bias.copy_(torch::from_blob(const_cast<float*>(layers[l].bias.data()),
                                       {layers[l].bias.size()}, torch::kFloat));
    }
    seq->push_back(lin);
    if (l + 1 < layers.size())
      seq->push_back(torch::nn::ReLU());
  }
  return seq;
}
misd::eigen::batch<float> mlp_inputs(Eigen::Index n) {
  misd::eigen::batch<float> x(n, 20);
  std::uint64_t s = 12345;
  for (Eigen::Index i = 0; i < x.size(); ++i) {
    s = s * 6364136223846793005ull + 1442695040888963407ull;
    x.data()[i] = float(double(s >> 11) * 0x1.0p-53);
  }
  return x;
}
torch::Tensor to_torch(const misd::eigen::batch<float>& x) {
  return torch::from_blob(const_cast<float*>(x.data()), {x.rows(), x.cols()}, torch::kFloat)
      .clone();
}

void check_close(const host_vector& a, const host_vector& b, double rel) {
  REQUIRE(a.size() == b.size());
  for (Eigen::Index i = 0; i < a.size(); ++i) {
    CAPTURE(i);
    if (std::isinf(a[i]) || std::isinf(b[i]) || rel == 0)
      CHECK(a[i] == b[i]);
    else
      CHECK(a[i] == doctest::Approx(b[i]).epsilon(rel));
  }
}

/// The TorchScript files export_torch_test_models.py wrote (CTest's torch_test_models
/// fixture) into MISD_TEST_TORCH_MODELS, or into the build's folder when that is unset. The
/// test never starts Python itself: a process that does (std::system) and then runs
/// LibTorch on CUDA crashes at exit (bench/README.md, "LibTorch adapter on a GPU").
std::filesystem::path exported_models() {
  const char* given = std::getenv("MISD_TEST_TORCH_MODELS");
  const std::filesystem::path dir = given && *given ? given : MISD_TORCH_TEST_MODELS;
  REQUIRE_MESSAGE(std::filesystem::is_regular_file(dir / "conv.pt"),
                  "no TorchScript test models in ", dir.string(), ": run 'ctest -R ",
                  "torch_test_models' or '", MISD_TORCH_PYTHON, " ", MISD_TORCH_EXPORT_SCRIPT, " ",
                  dir.string(), "' first");
  return dir;
}

struct bad_shape_net : torch::nn::Module {
  bad_shape_net() { fc = register_module("fc", torch::nn::Linear(6, 3)); }
  torch::Tensor forward(const torch::Tensor& x) { return fc->forward(x).unsqueeze(-1); }
  torch::nn::Linear fc{nullptr};
};

/// A user model whose backward pass yields NaN: d/dx [0 · sqrt(|x|)] is 0 · inf at x = 0.
struct nan_gradient_net : torch::nn::Module {
  nan_gradient_net(const host_matrix& w, const Eigen::VectorXd& b) {
    fc = register_module("fc", torch_linear(w, b));
  }
  torch::Tensor forward(const torch::Tensor& x) {
    return fc->forward(x) + 0.0 * torch::sqrt(x.abs()).sum(1, true);
  }
  torch::nn::Linear fc{nullptr};
};

} // namespace

TEST_CASE("batch_ops<torch::Tensor>: shapes, arithmetic and host copies") {
  const auto x = torch::arange(24, torch::kFloat).view({2, 3, 2, 2}) / 24.0;
  CHECK(ops::rows(x) == 2);
  CHECK(ops::cols(x) == 12);
  CHECK(ops::rows(torch::Tensor{}) == 0);
  const auto s = ops::sign(x - 0.5);
  CHECK(s.flatten()[12].item<float>() == 0.0f); // sign(0) = 0
  const host_vector t = (host_vector(2) << 0.5, -2.0).finished();
  const auto y = ops::add_scaled_rows(x, t, torch::ones_like(x));
  CHECK(y.sizes() == x.sizes());
  CHECK(y[0][1][1][0].item<float>() == doctest::Approx(x[0][1][1][0].item<float>() + 0.5));
  CHECK(y[1][0][0][1].item<float>() == doctest::Approx(x[1][0][0][1].item<float>() - 2.0));
  auto c = y;
  ops::clamp(c, 0.0, 1.0);
  CHECK(c.min().item<float>() >= 0.0f);
  CHECK(y.min().item<float>() < 0.0f); // value semantics: y is not written through c
  auto p = y;
  ops::project_linf(p, x, (host_vector(2) << 0.1, 0.3).finished());
  CHECK((p - x)[0].abs().max().item<float>() == doctest::Approx(0.1));
  CHECK((p - x)[1].abs().max().item<float>() == doctest::Approx(0.3));
  // from_host: input-shaped when the sizes match, N x K otherwise; dtype and device of `like`.
  host_matrix h = host(x);
  CHECK(h.rows() == 2);
  CHECK(h.cols() == 12);
  CHECK(h(1, 5) == doctest::Approx(17.0 / 24));
  const auto back = ops::from_host(h, x);
  CHECK(back.sizes() == x.sizes());
  CHECK((back.scalar_type() == torch::kFloat));
  CHECK(torch::equal(back, x));
  const auto g = ops::from_host(host_matrix::Ones(2, 5), x);
  CHECK(g.sizes() == torch::IntArrayRef({2, 5}));
  h.setZero(); // from_host copied: no aliasing of the host matrix
  CHECK(torch::equal(back, x));
  // The random start is the Eigen backend's splitmix64 stream.
  const misd::eigen::batch<float> like(2, 12);
  const auto en = misd::batch_ops<misd::eigen::batch<float>>::uniform_noise(like, 42);
  const host_matrix tn = host(ops::uniform_noise(x, 42));
  CHECK((tn - en.cast<double>()).cwiseAbs().maxCoeff() == 0.0);
}

TEST_CASE("torch linear model: RR-Fast is the exact crossing, RR-BS brackets it") {
  const auto dev = test_device();
  tb::module_model<torch::nn::Linear, double> model(
      torch_linear(weights(), (Eigen::VectorXd(4) << 0.1, -0.2, 0.05, 0.0).finished()),
      tb::options{dev});
  const auto x = tensor(inputs()).to(dev);
  const misd_test::radius_settings opts;
  const auto fast = misd::rr_fast(model, x, opts);
  const auto bs = misd::rr_bs(model, x, opts);
  const host_matrix z = host(model.logits(x));
  misd::label_vector yhat;
  misd::detail::argmax_rows(z, yhat);
  const host_matrix d = host(misd::attack_direction(model, x, yhat));
  for (Eigen::Index i = 0; i < 5; ++i) {
    CAPTURE(i);
    const double t = linear_crossing(weights(), z.row(i).transpose(), d.row(i).transpose(),
                                     yhat[std::size_t(i)]);
    REQUIRE(std::isfinite(t));
    CHECK(fast.status[std::size_t(i)] == misd::radius_status::linear_estimate);
    CHECK(fast.radius[i] == doctest::Approx(t).epsilon(1e-5));
    REQUIRE(bs.bracketed(std::size_t(i)));
    CHECK(bs.lower[i] <= t);
    CHECK(bs.upper[i] >= t);
    int m = 1;
    while (opts.r0 * std::ldexp(1.0, m) <= t)
      ++m;
    const double expected_width =
        opts.r0 * std::ldexp(1.0, m - 1) / std::ldexp(1.0, opts.budget - 1 - m);
    CHECK(bs.width()[i] == doctest::Approx(expected_width).epsilon(1e-9));
  }
  CHECK(bs.forwards == 25);
  CHECK(bs.backwards == 1);
  CHECK(fast.forwards == 2);
  CHECK(fast.backwards == 1);
}

TEST_CASE_TEMPLATE("saturated torch linear model: exact direction and radius at gaps 1 .. 1000", S,
                   float, double) {
  constexpr bool is_float = std::is_same_v<S, float>;
  const auto dtype = is_float ? torch::kFloat : torch::kDouble;
  const host_matrix w = saturation::weights().cast<S>().template cast<double>();
  const Eigen::VectorXd b = saturation::biases();
  const host_matrix x = saturation::inputs().cast<S>().template cast<double>();
  auto lin = torch_linear(w, b);
  lin->to(dtype);
  tb::module_model<torch::nn::Linear, S> model(lin, tb::options{test_device()});
  auto to_batch = [&](const host_matrix& h) { return tensor(h, dtype).to(model.device()); };
  saturation::check_linear_model(model, w, b, x, to_batch, is_float ? 1e-5 : 1e-9,
                                 is_float ? 0.5 : 1e-3);
  host_matrix w2(2, 2);
  w2 << 1000, 0, -1000, 0;
  auto lin2 = torch_linear(w2, Eigen::VectorXd::Zero(2));
  lin2->to(dtype);
  tb::module_model<torch::nn::Linear, S> two(lin2, tb::options{test_device()});
  saturation::check_two_class_model(two, to_batch, is_float ? 1e-5 : 1e-9);
}

TEST_CASE("a NaN input gradient from a torch model throws, naming the example") {
  host_matrix x = saturation::inputs().topRows(3);
  x(1, 0) = 0.0; // where the model's backward pass gives 0 · inf
  tb::module_model<std::shared_ptr<nan_gradient_net>, double> model(
      std::make_shared<nan_gradient_net>(saturation::weights(), saturation::biases()),
      tb::options{test_device()});
  saturation::check_non_finite_gradient_throws(model, tensor(x).to(model.device()));
}

TEST_CASE("two-class torch linear model: both estimators give |z0 - z1| / ||w0 - w1||_1") {
  host_matrix w(2, 3);
  w << 1.0, -2.0, 0.5, -0.5, 1.0, 1.5;
  host_matrix xh(3, 3);
  xh << 0.3, 0.1, 0.2, 0.9, 0.4, 0.1, 0.2, 0.2, 0.8;
  tb::module_model<torch::nn::Linear, double> model(torch_linear(w, Eigen::VectorXd::Zero(2)),
                                                    tb::options{test_device()});
  const auto x = tensor(xh).to(model.device());
  misd_test::radius_settings opts;
  opts.budget = 60;
  const auto bs = misd::rr_bs(model, x, opts);
  const auto fast = misd::rr_fast(model, x, opts);
  const double l1 = (w.row(0) - w.row(1)).cwiseAbs().sum();
  for (Eigen::Index i = 0; i < 3; ++i) {
    const double zgap = std::abs((w.row(0) - w.row(1)).dot(xh.row(i)));
    CAPTURE(i);
    CHECK(fast.radius[i] == doctest::Approx(zgap / l1).epsilon(1e-5));
    CHECK(bs.radius[i] == doctest::Approx(zgap / l1).epsilon(1e-5));
  }
}

TEST_CASE("Eigen MLP and torch MLP with the same weights: same estimators and scores") {
  const auto emlp = eigen_mlp();
  tb::module_model model(torch_mlp(emlp), tb::options{test_device()});
  const auto xe = mlp_inputs(64);
  const auto xt = to_torch(xe).to(model.device());
  const host_matrix ze = host_matrix(emlp.logits(xe).cast<double>());
  CHECK((host(model.logits(xt)) - ze).cwiseAbs().maxCoeff() < 1e-5);

  misd_test::radius_settings o;
  o.box = misd::input_box{};
  auto em = emlp; // non-const copy for the estimators
  SUBCASE("rr_fast") {
    // The finite difference (z(α) − z(0)) / α divides the logits' float rounding (one ulp,
    // ~6e-8 relative, which differs between Eigen's and torch's GEMMs) by α: at the default
    // α = 1e-3 that is ~1e-4 relative in float. Float models are compared at α = 0.05; the
    // default α is compared in double below.
    o.fd_step = 0.05;
    check_close(misd::rr_fast(model, xt, o).radius, misd::rr_fast(em, xe, o).radius, 1e-5);
  }
  SUBCASE("rr_bs") {
    const auto a = misd::rr_bs(model, xt, o), b = misd::rr_bs(em, xe, o);
    check_close(a.radius, b.radius, 1e-5);
    CHECK(a.prediction == b.prediction);
  }
  SUBCASE("rr_bs, temperature 2, max radius") {
    o.temperature = 2;
    o.max_radius = 0.05;
    check_close(misd::rr_bs(model, xt, o).radius, misd::rr_bs(em, xe, o).radius, 1e-5);
  }
  SUBCASE("PGD attack with random start") {
    misd::pgd_options po;
    po.steps = 3;
    po.random_start = true;
    po.seed = 9;
    po.box = misd::input_box{};
    misd::label_vector y(64);
    for (std::size_t i = 0; i < y.size(); ++i)
      y[i] = int(i % 5);
    const host_matrix a = host(misd::pgd(model, xt, y, 0.05, po));
    const host_matrix b = misd::pgd(em, xe, y, 0.05, po).cast<double>();
    CHECK((a - b).cwiseAbs().maxCoeff() < 1e-5);
  }
  SUBCASE("registry: msr, odin, doctor, energy") {
    for (const std::string name : {"msr", "odin", "doctor", "energy", "rr-bs"}) {
      CAPTURE(name);
      auto mt = misd::score::make_method<decltype(model)>(name);
      auto me = misd::score::make_method<misd::eigen::mlp<float>>(name);
      const misd::score::hyper_parameters p{1.5, name == "odin" ? 1e-3 : 0.0};
      const auto ct = mt.confidence(model, xt, p), ce = me.confidence(em, xe, p);
      check_close(Eigen::Map<const host_vector>(ct.data(), Eigen::Index(ct.size())),
                  Eigen::Map<const host_vector>(ce.data(), Eigen::Index(ce.size())), 1e-5);
    }
  }
}

namespace {
// A module that counts how often its forward runs, around the torch MLP.
struct counting_netImpl : torch::nn::Module {
  explicit counting_netImpl(torch::nn::Sequential s) : body(register_module("body", s)) {}
  torch::Tensor forward(const torch::Tensor& x) {
    ++calls;
    return body->forward(x);
  }
  torch::nn::Sequential body;
  int calls = 0;
};
TORCH_MODULE(counting_net);

// The adapter seen through logits and input_gradient alone (no logits_and_input_gradient).
template <class M>
struct without_fused_path {
  using batch_type = torch::Tensor;
  M& inner;
  torch::Tensor logits(const torch::Tensor& x) { return inner.logits(x); }
  torch::Tensor input_gradient(const torch::Tensor& x, const torch::Tensor& g) {
    return inner.input_gradient(x, g);
  }
};
} // namespace

TEST_CASE("options::tf32 is set for each pass and the process's settings come back") {
  const auto emlp = eigen_mlp();
  const auto xt = to_torch(mlp_inputs(8)).to(test_device());
  auto& ctx = at::globalContext();
  const bool cudnn = ctx.allowTF32CuDNN(), cublas = ctx.allowTF32CuBLAS();
  tb::module_model plain(torch_mlp(emlp), tb::options{test_device()});
  const host_matrix z = host(plain.logits(xt));
  for (bool on : {true, false}) {
    CAPTURE(on);
    tb::options o{test_device()};
    o.tf32 = on;
    tb::module_model model(torch_mlp(emlp), o);
    const host_matrix zt = host(model.logits(xt));
    // TF32 keeps 10 mantissa bits: logits of this small MLP agree to ~1e-3 relative.
    CHECK((zt - z).cwiseAbs().maxCoeff() <= 1e-2 * (z.cwiseAbs().maxCoeff() + 1));
    if (!on || !test_device().is_cuda())
      CHECK((zt - z).cwiseAbs().maxCoeff() < 1e-6); // fp32 (and no TF32 on the CPU)
    misd::rr_fast(model, xt);
    CHECK(ctx.allowTF32CuDNN() == cudnn);
    CHECK(ctx.allowTF32CuBLAS() == cublas);
  }
}

TEST_CASE("torch MLP: RR-BS with several steps per pass gathers every probe into one pass") {
  const auto emlp = eigen_mlp();
  tb::module_model model(torch_mlp(emlp), tb::options{test_device()});
  const auto xt = to_torch(mlp_inputs(64)).to(model.device());
  misd_test::radius_settings o;
  o.box = misd::input_box{};
  SUBCASE("defaults: every example searches to the end") {}
  SUBCASE("tolerance 1e-3: probes of a subset of the rows, gathered on the device") {
    o.tolerance = 1e-3;
  }
  const auto one = misd::rr_bs(model, xt, o);
  o.steps_per_pass = 3;
  const auto three = misd::rr_bs(model, xt, o);
  CHECK((three.prediction == one.prediction));
  CHECK((three.status == one.status));
  // A row's logits may differ in the last bit between batches of other sizes (the BLAS
  // picks its kernel by shape), so the brackets are compared to that precision.
  check_close(three.lower, one.lower, 1e-6);
  check_close(three.upper, one.upper, 1e-6);
  CHECK(three.forwards <= 1 + 8);
  if (o.tolerance == 0)
    CHECK(three.forwards == 1 + 8);
  CHECK(three.example_forwards > one.example_forwards);
}

TEST_CASE("the adapter's clean logits and FGSM gradient share one forward pass") {
  const auto emlp = eigen_mlp();
  counting_net net(torch_mlp(emlp));
  tb::module_model model(net, tb::options{test_device()});
  without_fused_path<decltype(model)> plain{model};
  static_assert(misd::FusedModel<decltype(model)>);
  const auto x = to_torch(mlp_inputs(32)).to(model.device());
  misd_test::radius_settings o;
  o.fd_step = 0.05;

  net->calls = 0;
  const auto fast = misd::rr_fast(model, x, o);
  CHECK(net->calls == 2); // logits + gradient at x, then the finite-difference point
  net->calls = 0;
  const auto fast_plain = misd::rr_fast(plain, x, o);
  CHECK(net->calls == 3);
  check_close(fast.radius, fast_plain.radius, 1e-6);
  CHECK(fast.prediction == fast_plain.prediction);

  net->calls = 0;
  const auto bs = misd::rr_bs(model, x, o);
  CHECK(net->calls == 25);
  check_close(bs.radius, misd::rr_bs(plain, x, o).radius, 1e-6);

  misd::score::preprocess_options po;
  po.epsilon = 1e-3;
  net->calls = 0;
  const auto c = misd::score::preprocessed_confidence(model, x, misd::score::logit_score::msr, po);
  CHECK(net->calls == 2);
  check_close(c, misd::score::preprocessed_confidence(plain, x, misd::score::logit_score::msr, po),
              1e-6);
}

TEST_CASE("double-precision Eigen and torch MLPs: RR-Fast at the default finite-difference step") {
  const auto ef = eigen_mlp();
  std::vector<misd::eigen::dense_layer<double>> layers;
  for (const auto& l : ef.dense_layers())
    layers.push_back({l.weight.cast<double>(), l.bias.cast<double>()});
  misd::eigen::mlp<double> em(std::move(layers));
  auto net = torch_mlp(ef);
  net->to(torch::kDouble);
  tb::module_model<torch::nn::Sequential, double> model(net, tb::options{test_device()});
  const misd::eigen::batch<double> xe = mlp_inputs(64).cast<double>();
  const auto xt = tensor(host_matrix(xe)).to(model.device());
  const misd_test::radius_settings o; // α = 1e-3, no box
  check_close(misd::rr_fast(model, xt, o).radius, misd::rr_fast(em, xe, o).radius, 1e-5);
  check_close(misd::rr_bs(model, xt, o).radius, misd::rr_bs(em, xe, o).radius, 1e-5);
}

TEST_CASE("double-precision Eigen and torch MLPs: FAB-L-inf, targeted and untargeted") {
  const auto ef = eigen_mlp();
  std::vector<misd::eigen::dense_layer<double>> layers;
  for (const auto& l : ef.dense_layers())
    layers.push_back({l.weight.cast<double>(), l.bias.cast<double>()});
  misd::eigen::mlp<double> em(std::move(layers));
  auto net = torch_mlp(ef);
  net->to(torch::kDouble);
  tb::module_model<torch::nn::Sequential, double> model(net, tb::options{test_device()});
  const misd::eigen::batch<double> xe = mlp_inputs(32).cast<double>();
  const auto xt = tensor(host_matrix(xe)).to(model.device());
  misd::fab_options o;
  o.box = misd::input_box{0.0, 1.0};
  o.iterations = 20;
  o.target_classes = 3;
  o.restarts = 2;
  const auto a = misd::fab(model, xt, o), b = misd::fab(em, xe, o);
  check_close(a.radius, b.radius, 1e-6);
  CHECK((a.status == b.status)); // (glog's operator<< for vectors cannot print the statuses)
  CHECK(a.forwards == b.forwards);
  o.targeted = false;
  check_close(misd::fab(model, xt, o).radius, misd::fab(em, xe, o).radius, 1e-6);
}

TEST_CASE("double-precision Eigen and torch MLPs: DeepFool-L-inf and rr-iter") {
  const auto ef = eigen_mlp();
  std::vector<misd::eigen::dense_layer<double>> layers;
  for (const auto& l : ef.dense_layers())
    layers.push_back({l.weight.cast<double>(), l.bias.cast<double>()});
  misd::eigen::mlp<double> em(std::move(layers));
  auto net = torch_mlp(ef);
  net->to(torch::kDouble);
  tb::module_model<torch::nn::Sequential, double> model(net, tb::options{test_device()});
  const misd::eigen::batch<double> xe = mlp_inputs(32).cast<double>();
  const auto xt = tensor(host_matrix(xe)).to(model.device());
  misd::deepfool_options d;
  d.box = misd::input_box{0.0, 1.0};
  const auto a = misd::deepfool(model, xt, d), b = misd::deepfool(em, xe, d);
  check_close(a.radius, b.radius, 1e-6);
  CHECK((a.status == b.status));
  CHECK(a.example_forwards == b.example_forwards);
  misd::rr_iter_options r;
  r.box = misd::input_box{0.0, 1.0};
  for (const auto select : {misd::rr_iter_select::per_step, misd::rr_iter_select::linear}) {
    r.select = select;
    const auto c = misd::rr_iter(model, xt, r), e = misd::rr_iter(em, xe, r);
    check_close(c.radius, e.radius, 1e-6);
    CHECK((c.status == e.status));
    CHECK(c.example_forwards == e.example_forwards);
  }
}

TEST_CASE("torch MLP is Trainable: RAT gradients and an SGD step match the Eigen MLP") {
  static_assert(misd::Trainable<tb::module_model<torch::nn::Sequential>>);
  static_assert(misd::Trainable<tb::script_model>);
  auto em = eigen_mlp();
  auto net = torch_mlp(em);
  tb::module_model model(net);
  const auto xe = mlp_inputs(32);
  const auto xt = to_torch(xe);
  misd::label_vector y(32);
  for (std::size_t i = 0; i < y.size(); ++i)
    y[i] = int((i * 7) % 5);
  for (auto kind : {misd::train::objective::standard, misd::train::objective::rat}) {
    CAPTURE(misd::train::name(kind));
    misd::train::objective_options o;
    o.kind = kind;
    o.epsilon = 0.01;
    em.zero_gradients();
    model.zero_gradients();
    const auto re = misd::train::accumulate_objective(em, xe, y, o);
    const auto rt = misd::train::accumulate_objective(model, xt, y, o);
    CHECK(rt.loss == doctest::Approx(re.loss).epsilon(1e-5));
    CHECK(rt.correct == re.correct);
    const auto ge = em.gradients();
    const auto gt = model.gradients();
    REQUIRE(ge.size() == gt.size());
    for (std::size_t k = 0; k < ge.size(); ++k) {
      REQUIRE(ge[k].size() == gt[k].size());
      double worst = 0, scale = 1e-12;
      for (std::size_t j = 0; j < ge[k].size(); ++j) {
        worst = std::max(worst, std::abs(double(ge[k][j]) - double(gt[k][j])));
        scale = std::max(scale, std::abs(double(ge[k][j])));
      }
      CAPTURE(k);
      CHECK(worst <= 1e-5 * scale + 1e-7);
    }
  }
  // One SGD step through the spans moves the torch parameters as it moves the Eigen ones.
  misd::train::sgd<float> opt;
  misd::train::sgd<float> opt_e;
  opt.step(model.parameters(), model.gradients(), 0.1);
  opt_e.step(em.parameters(), em.gradients(), 0.1);
  CHECK((host(model.logits(xt)) - em.logits(xe).cast<double>()).cwiseAbs().maxCoeff() < 1e-5);
}

namespace {
/// A torch batch whose batch_ops count the trainer's row gathers and host conversions
/// (the only way images reach a model's device in misd::train::fit).
struct counted_batch {
  torch::Tensor t;
};
std::size_t host_conversions = 0, row_gathers = 0;
} // namespace

template <>
struct misd::batch_ops<counted_batch> {
  using B = counted_batch;
  using T = misd::batch_ops<torch::Tensor>;
  static std::size_t rows(const B& x) { return T::rows(x.t); }
  static std::size_t cols(const B& x) { return T::cols(x.t); }
  static B sign(const B& g) { return {T::sign(g.t)}; }
  static B add_scaled_rows(const B& x, const host_vector& t, const B& d) {
    return {T::add_scaled_rows(x.t, t, d.t)};
  }
  static void clamp(B& x, double lo, double hi) { T::clamp(x.t, lo, hi); }
  static void project_linf(B& x, const B& x0, const host_vector& e) {
    T::project_linf(x.t, x0.t, e);
  }
  static B uniform_noise(const B& like, std::uint64_t s) { return {T::uniform_noise(like.t, s)}; }
  static void to_host(const B& z, host_matrix& out) { T::to_host(z.t, out); }
  static B from_host(const host_matrix& g, const B& like) { return {T::from_host(g, like.t)}; }
  static B gather_rows(const B& x, const std::size_t* idx, std::size_t n) {
    ++row_gathers;
    return {T::gather_rows(x.t, idx, n)};
  }
  static B mix_rows(const B& x, const std::size_t* perm, double lambda) {
    return {T::mix_rows(x.t, perm, lambda)};
  }
  static B from_host_batch(const misd::eigen::batch<float>& h) {
    ++host_conversions;
    return {T::from_host_batch(h)};
  }
};

namespace {
/// The torch MLP adapter seen through counted batches.
struct counted_model {
  using batch_type = counted_batch;
  tb::module_model<torch::nn::Sequential>& m;
  batch_type logits(const batch_type& x) { return {m.logits(x.t)}; }
  batch_type input_gradient(const batch_type& x, const batch_type& g) {
    return {m.input_gradient(x.t, g.t)};
  }
  batch_type accumulate_gradients(const batch_type& x, const batch_type& g) {
    return {m.accumulate_gradients(x.t, g.t)};
  }
  void zero_gradients() { m.zero_gradients(); }
  auto parameters() { return m.parameters(); }
  auto gradients() { return m.gradients(); }
};
static_assert(misd::Trainable<counted_model>);

std::vector<float> flat(const std::vector<std::span<float>>& spans) {
  std::vector<float> all;
  for (auto s : spans)
    all.insert(all.end(), s.begin(), s.end());
  return all;
}

misd::train::train_options rat_mixup_options() {
  misd::train::train_options o;
  o.epochs = 2;
  o.batch_size = 32;
  o.mixup_alpha = 1.0;
  o.mixup_off_last_epochs = 1;
  o.objective.kind = misd::train::objective::rat;
  o.objective.epsilon = 0.01;
  o.seed = 3;
  return o;
}
} // namespace

TEST_CASE("torch batches: gather_rows equals the Eigen backend's; Mixup's mix_rows to a rounding") {
  const auto xe = mlp_inputs(40);
  const auto xt = to_torch(xe).to(test_device());
  const std::vector<std::size_t> idx{3, 39, 0, 3, 7}, run{4, 5, 6};
  CHECK((host(ops::gather_rows(xt, idx.data(), idx.size())) -
         misd::batch_ops<misd::eigen::batch<float>>::gather_rows(xe, idx.data(), idx.size())
             .cast<double>())
            .cwiseAbs()
            .maxCoeff() == 0.0);
  CHECK(ops::gather_rows(xt, run.data(), run.size()).size(0) == 3);
  misd::train::random_source re(4), rt(4);
  misd::label_vector y(40);
  for (std::size_t i = 0; i < y.size(); ++i)
    y[i] = int(i % 5);
  auto me = xe;
  auto mt = xt;
  const auto te = misd::train::mixup(me, y, 0.7, re);
  const auto tt = misd::train::mixup(mt, y, 0.7, rt);
  CHECK(tt.weight == te.weight);
  CHECK(tt.b == te.b);
  CHECK(mt.device() == xt.device());
  // l·x_i + m·x_j in float: LibTorch's kernels round the two products, the Eigen backend's
  // expression may be contracted into a fused multiply-add (-march=native); the values lie
  // in [0, 1], so they differ by at most a rounding of about 6e-8.
  CHECK((host(mt) - me.cast<double>()).cwiseAbs().maxCoeff() <= 1.2e-7);
  CHECK((host(xt) - xe.cast<double>()).cwiseAbs().maxCoeff() == 0.0); // xt not written into
}

TEST_CASE(
    "torch MLP trained by fit: the Eigen MLP's weights; one host copy per minibatch or none") {
  // RAT (FGSM) with Mixup, 100 images in batches of 32 (an uneven last batch), 2 epochs.
  const auto xe = mlp_inputs(100);
  misd::label_vector y(100);
  for (std::size_t i = 0; i < y.size(); ++i)
    y[i] = int((i * 7) % 5);
  const auto o = rat_mixup_options();
  const std::size_t minibatches = 2 * 4;

  auto em = eigen_mlp();
  const auto he = misd::train::fit(em, {xe, y}, o);
  const auto we = flat(em.parameters());

  // The training set as a tensor (the model's batch type): gathered where it lies.
  tb::module_model direct(torch_mlp(eigen_mlp()));
  const auto xt = to_torch(xe);
  const auto ht = misd::train::fit(direct, {xt, y}, o);
  const auto wt = flat(direct.parameters());
  REQUIRE(wt.size() == we.size());
  double worst = 0, scale = 0;
  for (std::size_t j = 0; j < we.size(); ++j) {
    worst = std::max(worst, std::abs(double(wt[j]) - double(we[j])));
    scale = std::max(scale, std::abs(double(we[j])));
  }
  MESSAGE("torch vs Eigen MLP after fit: largest weight difference ", worst, " (largest weight ",
          scale, ")");
  CHECK(worst <= 1e-5 * scale);
  REQUIRE(ht.size() == he.size());
  for (std::size_t e = 0; e < he.size(); ++e)
    CHECK(ht[e].loss == doctest::Approx(he[e].loss).epsilon(1e-5));
  CHECK(misd::train::accuracy(direct, {xt, y}) == misd::train::accuracy(em, {xe, y}));

  // Counted: host float images are converted once per minibatch; a tensor training set never.
  tb::module_model on_host_net(torch_mlp(eigen_mlp())), on_device_net(torch_mlp(eigen_mlp()));
  counted_model on_host{on_host_net}, on_device{on_device_net};
  host_conversions = row_gathers = 0;
  misd::train::fit(on_host, misd::train::labelled_data{xe, y}, o);
  CHECK(host_conversions == minibatches);
  CHECK(row_gathers == 0); // gathered on the host, in the Eigen batch
  host_conversions = row_gathers = 0;
  const counted_batch xc{xt};
  misd::train::fit(on_device, {xc, y}, o);
  CHECK(host_conversions == 0);
  CHECK(row_gathers == minibatches);
  // The same weights either way, to Mixup's rounding (mixed by Eigen or by LibTorch).
  const auto wh = flat(on_host_net.parameters()), wd = flat(on_device_net.parameters());
  REQUIRE(wh.size() == wd.size());
  double apart = 0;
  for (std::size_t j = 0; j < wh.size(); ++j)
    apart = std::max(apart, std::abs(double(wh[j]) - double(wd[j])));
  CHECK(apart <= 1e-5 * scale);
}

TEST_CASE("callers in no-grad or inference mode get the same results") {
  const auto emlp = eigen_mlp();
  tb::module_model model(torch_mlp(emlp), tb::options{test_device()});
  const auto xt = to_torch(mlp_inputs(16)).to(model.device());
  const auto ref = misd::rr_bs(model, xt);
  {
    torch::NoGradGuard no_grad;
    check_close(misd::rr_bs(model, xt).radius, ref.radius, 0);
    check_close(misd::rr_fast(model, xt).radius, misd::rr_fast(model, xt).radius, 0);
  }
  {
    c10::InferenceMode inference;
    const auto xi = xt.clone(); // an inference tensor
    REQUIRE(xi.is_inference());
    check_close(misd::rr_bs(model, xi).radius, ref.radius, 0);
    const auto d = misd::attack_direction(model, xi, ref.prediction);
    CHECK(d.sizes() == xi.sizes());
  }
  CHECK(!c10::InferenceMode::is_enabled());
  CHECK(torch::GradMode::is_enabled());
}

TEST_CASE("a module in training mode is scored in eval mode; its state comes back") {
  torch::manual_seed(1);
  torch::nn::Sequential net(torch::nn::Linear(10, 8), torch::nn::BatchNorm1d(8), torch::nn::ReLU(),
                            torch::nn::Dropout(0.5), torch::nn::Linear(8, 3));
  net->to(test_device());
  const auto x = torch::rand({12, 10}).to(test_device());
  {
    torch::NoGradGuard no_grad; // give BatchNorm running statistics that differ from the batch's
    for (int k = 0; k < 3; ++k)
      net->forward(torch::rand({12, 10}).to(test_device()) * 3);
  }
  tb::module_model model(net);
  net->eval();
  const auto eval_fast = misd::rr_fast(model, x);
  const auto eval_logits = host(model.logits(x));
  net->train();
  const auto bn = std::dynamic_pointer_cast<torch::nn::BatchNorm1dImpl>(net->ptr(1));
  const auto running = bn->running_mean.clone();
  const auto train_fast = misd::rr_fast(model, x);
  CHECK(net->is_training());
  CHECK(torch::equal(bn->running_mean, running)); // no training-mode forward pass happened
  check_close(train_fast.radius, eval_fast.radius, 0);
  CHECK((host(model.logits(x)) - eval_logits).cwiseAbs().maxCoeff() == 0.0);
  for (const auto& p : net->parameters()) {
    CHECK(p.requires_grad());   // frozen only while scoring
    CHECK(!p.grad().defined()); // scoring never touches parameter gradients
  }
}

TEST_CASE("TorchScript: loaded model agrees with itself as a module; channels-last and bf16") {
  const auto dir = exported_models();
  auto model = tb::load_torchscript(dir / "conv.pt", test_device());
  torch::manual_seed(5);
  const auto x = torch::rand({10, 1, 8, 8}).to(model.device());
  const auto z = model.logits(x);
  CHECK(z.sizes() == torch::IntArrayRef({10, 5}));
  const auto fast = misd::rr_fast(model, x);
  const auto bs = misd::rr_bs(model, x);
  for (Eigen::Index i = 0; i < 10; ++i) {
    CHECK(fast.radius[i] > 0);
    CHECK(bs.radius[i] > 0);
  }
  // The input gradient against central differences of the same file's module in double
  // precision: a step of 1e-6 crosses none of the ReLU and max-pooling kinks that a float
  // step large enough to beat rounding would (such a check failed on CUDA with h = 1e-2).
  // g and v come from the CPU generator, so every device checks the same directional
  // derivative.
  const auto g = torch::randn({10, 5}).to(model.device());
  const auto dx = model.input_gradient(x, g);
  CHECK(torch::jit::getGraphExecutorOptimize()); // gradient passes switch it off only inside
  const auto v = torch::randn({10, 1, 8, 8}).to(model.device());
  {
    auto md = torch::jit::load((dir / "conv.pt").string(), model.device());
    md.to(torch::kDouble);
    md.eval();
    torch::NoGradGuard no_grad;
    const auto xd = x.to(torch::kDouble), vd = v.to(torch::kDouble), gd = g.to(torch::kDouble);
    const double h = 1e-6;
    auto at = [&](double t) { return md.forward({xd + t * vd}).toTensor(); };
    const double fd = ((at(h) - at(-h)) * gd).sum().item<double>() / (2 * h);
    CHECK((dx.to(torch::kDouble) * vd).sum().item<double>() == doctest::Approx(fd).epsilon(1e-4));
  }

  tb::options cl;
  cl.channels_last = true;
  auto model_cl = tb::load_torchscript(dir / "conv.pt", test_device(), cl);
  CHECK((host(model_cl.logits(x)) - host(z)).cwiseAbs().maxCoeff() < 1e-5);
  check_close(misd::rr_fast(model_cl, x).radius, fast.radius, 1e-3);

  tb::options bf;
  bf.bf16_autocast = true;
  auto model_bf = tb::load_torchscript(dir / "conv.pt", test_device(), bf);
  const auto zb = model_bf.logits(x);
  CHECK((zb.scalar_type() == torch::kFloat));
  CHECK((host(zb) - host(z)).cwiseAbs().maxCoeff() < 0.05 * (host(z).cwiseAbs().maxCoeff() + 1));
  CHECK(model_bf.input_gradient(x, g).sizes() == x.sizes());
  const auto autocast_on =
      model.device().is_cuda() ? at::autocast::is_enabled() : at::autocast::is_cpu_enabled();
  CHECK(!autocast_on); // restored
}

TEST_CASE("bad input: clear errors naming what was expected") {
  const auto dir = exported_models();
  SUBCASE("a file that is not TorchScript") {
    CHECK_THROWS_WITH_AS(tb::load_torchscript(dir / "not_a_model.pt"),
                         doctest::Contains("is not a TorchScript model file"), misd::data_error);
    CHECK_THROWS_WITH_AS(tb::load_torchscript(dir / "missing.pt"),
                         doctest::Contains("no such file"), misd::data_error);
  }
  SUBCASE("outputs that are not N x K") {
    auto bad = tb::load_torchscript(dir / "bad_output.pt");
    const auto x = torch::rand({4, 6});
    CHECK_THROWS_WITH_AS(misd::rr_fast(bad, x), doctest::Contains("expected N x K logits"),
                         misd::data_error);
    auto tuple = tb::load_torchscript(dir / "tuple_output.pt");
    CHECK_THROWS_WITH_AS(tuple.logits(x), doctest::Contains("expected a Tensor of N x K logits"),
                         misd::data_error);
    tb::module_model m(std::make_shared<bad_shape_net>());
    CHECK_THROWS_WITH_AS(m.logits(x), doctest::Contains("[4, 3, 1]"), misd::invalid_argument);
  }
  SUBCASE("a batch the model cannot take") {
    auto conv = tb::load_torchscript(dir / "conv.pt");
    CHECK_THROWS_WITH_AS(conv.logits(torch::rand({2, 3, 8, 8})),
                         doctest::Contains("forward pass failed for a batch of shape [2, 3, 8, 8]"),
                         misd::data_error);
    CHECK_THROWS_WITH_AS(conv.logits(torch::ones({2, 64}, torch::kLong)),
                         doctest::Contains("floating-point"), misd::invalid_argument);
  }
  SUBCASE("a batch on another device than the model") {
    tb::module_model m(torch::nn::Linear(6, 3));
    const auto x = torch::empty({4, 6}, torch::TensorOptions().device(torch::kMeta));
    CHECK_THROWS_WITH_AS(m.logits(x),
                         doctest::Contains("batch on device 'meta' but the model is on 'cpu'"),
                         misd::invalid_argument);
    if (torch::cuda::is_available()) {
      tb::module_model mc(torch::nn::Linear(6, 3), tb::options{torch::Device(torch::kCUDA)});
      CHECK_THROWS_WITH_AS(misd::rr_fast(mc, torch::rand({4, 6})),
                           doctest::Contains("but the model is on 'cuda:0'"),
                           misd::invalid_argument);
    }
  }
  SUBCASE("devices that do not exist") {
    CHECK_THROWS_WITH_AS(tb::parse_device("tpu"), doctest::Contains("expected cpu, cuda or cuda:N"),
                         misd::invalid_argument);
    if (!torch::cuda::is_available()) {
      CHECK_THROWS_WITH_AS(tb::load_torchscript(dir / "conv.pt", "cuda"),
                           doctest::Contains("no CUDA device is available"),
                           misd::invalid_argument);
      CHECK_THROWS_WITH_AS(
          tb::module_model(torch::nn::Linear(6, 3), tb::options{torch::Device(torch::kCUDA)}),
          doctest::Contains("no CUDA device is available"), misd::invalid_argument);
    } else {
      CHECK_THROWS_WITH_AS(tb::parse_device("cuda:" + std::to_string(torch::cuda::device_count())),
                           doctest::Contains("CUDA device(s) exist"), misd::invalid_argument);
    }
  }
  SUBCASE("parameters() of a CUDA model") {
    if (torch::cuda::is_available()) {
      tb::module_model mc(torch::nn::Linear(6, 3), tb::options{torch::Device(torch::kCUDA)});
      CHECK_THROWS_WITH_AS(mc.parameters(), doctest::Contains("torch::optim"),
                           misd::invalid_argument);
    }
  }
}
