// misd/torch/model.hpp -- LibTorch models as misd models (Differentiable and Trainable).
//
//   torch::nn::Sequential net(...);                      // or any module holder, or a
//   misd::torch_backend::module_model model(net);        // std::shared_ptr<YourModule>
//   auto r = misd::rr_bs(model, x);                      // x: torch::Tensor, N x C x H x W
//
//   auto script = misd::torch_backend::load_torchscript("model.pt", torch::kCUDA);
//   auto r = misd::rr_fast(script, x.to(torch::kCUDA));  // (misd/torch/script.hpp)
//
// Scoring (logits, input_gradient, logits_and_input_gradient) runs the module in eval mode
// with its parameters frozen and restores the caller's mode and requires_grad flags
// afterwards; input gradients come from torch::autograd::grad with respect to the input
// only, so parameter gradients are never touched. logits_and_input_gradient gives the
// estimators the clean logits and the FGSM gradient from one forward pass. It works when the caller
// is in torch::NoGradGuard or c10::InferenceMode (inference tensors are cloned into ordinary ones
// for the backward pass).
//
// Training (Trainable: forward_backward, accumulate_gradients, zero_gradients, parameters,
// gradients) runs in the module's own mode (call train() as in PyTorch) and accumulates
// into the parameters' .grad(). parameters() / gradients() are spans over host memory,
// for misd's SGD: CPU parameters of type Scalar in the default layout. On CUDA, use
// misd::train::accumulate_objective with a torch::optim optimiser instead.
#pragma once

#include "misd/error.hpp"
#include "misd/torch/ops.hpp"

#include <ATen/autocast_mode.h>
#include <torch/torch.h>
#include <torch/version.h>

#include <functional>
#include <optional>
#include <span>
#include <sstream>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace misd::torch_backend {

/// How an adapter runs its module.
struct options {
  /// Move the module there; by default it stays where its parameters are (CPU without any).
  std::optional<torch::Device> device;
  /// 4-d inputs (and 4-d parameters) in channels-last layout for the forward pass (faster
  /// convolutions on recent GPUs). Training through parameters() needs the default layout.
  bool channels_last = false;
  /// Forward pass under bfloat16 autocast (CPU or CUDA); logits come back in the input's dtype.
  bool bf16_autocast = false;
  /// TF32 tensor-core arithmetic for float32 convolutions and matrix products on CUDA during
  /// the forward passes: true allows it for both, false forbids it for both (strict fp32),
  /// unset leaves the process's settings (LibTorch's defaults: convolutions TF32, matrix
  /// products fp32). The settings are process-wide in LibTorch: they are set for each pass
  /// and restored after it, so two threads running adapters with different choices at once
  /// race.
  std::optional<bool> tf32 = std::nullopt;
};

/// "cpu", "cuda" or "cuda:N" as a device, checked to exist: misd::invalid_argument when the
/// name is unknown or CUDA is requested where LibTorch has no CUDA device.
inline torch::Device require_device(const torch::Device& d) {
  if (d.is_cuda()) {
    if (!torch::cuda::is_available())
      throw invalid_argument(misd::detail::message(
          "device '", d.str(), "' requested, but no CUDA device is available (this LibTorch ",
          "build has no CUDA support or the machine has no GPU); use device 'cpu'"));
    const auto count = static_cast<int>(torch::cuda::device_count());
    if (d.has_index() && d.index() >= count)
      throw invalid_argument(misd::detail::message("device '", d.str(), "' requested, but only ",
                                                   count, " CUDA device(s) exist"));
  } else if (!d.is_cpu()) {
    throw invalid_argument(
        misd::detail::message("device '", d.str(), "' is not supported (expected cpu or cuda)"));
  }
  return d;
}
inline torch::Device parse_device(std::string_view name) {
  const std::string s(name);
  if (s != "cpu" && s != "cuda" && s.rfind("cuda:", 0) != 0)
    throw invalid_argument(
        misd::detail::message("unknown device '", s, "' (expected cpu, cuda or cuda:N)"));
  try {
    return require_device(torch::Device(s));
  } catch (const c10::Error&) {
    throw invalid_argument(
        misd::detail::message("unknown device '", s, "' (expected cpu, cuda or cuda:N)"));
  }
}

namespace detail {

inline std::string shape_string(const torch::Tensor& t) {
  std::ostringstream s;
  s << t.sizes();
  return s.str();
}

inline bool same_device(const torch::Device& a, const torch::Device& b) {
  if (a.type() != b.type())
    return false;
  if (!a.is_cuda())
    return true;
  const auto ia = a.has_index() ? a.index() : 0, ib = b.has_index() ? b.index() : 0;
  return ia == ib;
}

/// The first line of a LibTorch error, without its C++ backtrace.
inline std::string torch_reason(const c10::Error& e) {
  std::string s = e.what_without_backtrace();
  if (auto nl = s.find('\n'); nl != std::string::npos && nl > 0)
    s = s.substr(0, nl);
  return s;
}

/// The last non-empty line of a message (the TorchScript interpreter puts the reason there,
/// after its traceback).
inline std::string last_line(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' '))
    s.pop_back();
  if (auto nl = s.rfind('\n'); nl != std::string::npos)
    s = s.substr(nl + 1);
  return s;
}

/// Gradients on, inference mode off, whatever the caller had (restored on exit).
struct grad_scope {
  c10::InferenceMode no_inference{false};
  torch::AutoGradMode grad{true};
};

/// options::tf32 for one pass (the process-wide settings restored on exit).
class tf32_scope {
public:
  explicit tf32_scope(std::optional<bool> on) : on_(on) {
    if (!on_)
      return;
    auto& c = at::globalContext();
    was_cudnn_ = c.allowTF32CuDNN();
    was_cublas_ = c.allowTF32CuBLAS();
    c.setAllowTF32CuDNN(*on_);
    c.setAllowTF32CuBLAS(*on_);
  }
  ~tf32_scope() {
    if (!on_)
      return;
    auto& c = at::globalContext();
    c.setAllowTF32CuDNN(was_cudnn_);
    c.setAllowTF32CuBLAS(was_cublas_);
  }
  tf32_scope(const tf32_scope&) = delete;
  tf32_scope& operator=(const tf32_scope&) = delete;

private:
  std::optional<bool> on_;
  bool was_cudnn_ = false, was_cublas_ = false;
};

/// bfloat16 autocast on the device's type for the forward pass (restored on exit).
class autocast_scope {
public:
  autocast_scope(bool on, const torch::Device& d) : on_(on), cuda_(d.is_cuda()) {
    if (!on_)
      return;
#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 4)
    const auto type = cuda_ ? at::kCUDA : at::kCPU;
    was_enabled_ = at::autocast::is_autocast_enabled(type);
    was_dtype_ = at::autocast::get_autocast_dtype(type);
    at::autocast::set_autocast_dtype(type, at::kBFloat16);
    at::autocast::set_autocast_enabled(type, true);
#else
    if (cuda_) {
      was_enabled_ = at::autocast::is_enabled();
      was_dtype_ = at::autocast::get_autocast_gpu_dtype();
      at::autocast::set_autocast_gpu_dtype(at::kBFloat16);
      at::autocast::set_enabled(true);
    } else {
      was_enabled_ = at::autocast::is_cpu_enabled();
      was_dtype_ = at::autocast::get_autocast_cpu_dtype();
      at::autocast::set_autocast_cpu_dtype(at::kBFloat16);
      at::autocast::set_cpu_enabled(true);
    }
#endif
    at::autocast::increment_nesting();
  }
  ~autocast_scope() {
    if (!on_)
      return;
    if (at::autocast::decrement_nesting() == 0)
      at::autocast::clear_cache();
#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 4)
    const auto type = cuda_ ? at::kCUDA : at::kCPU;
    at::autocast::set_autocast_enabled(type, was_enabled_);
    at::autocast::set_autocast_dtype(type, was_dtype_);
#else
    if (cuda_) {
      at::autocast::set_enabled(was_enabled_);
      at::autocast::set_autocast_gpu_dtype(was_dtype_);
    } else {
      at::autocast::set_cpu_enabled(was_enabled_);
      at::autocast::set_autocast_cpu_dtype(was_dtype_);
    }
#endif
  }
  autocast_scope(const autocast_scope&) = delete;
  autocast_scope& operator=(const autocast_scope&) = delete;

private:
  bool on_, cuda_;
  bool was_enabled_ = false;
  at::ScalarType was_dtype_ = at::kBFloat16;
};

/// What the adapters share. Derived supplies
///   torch::Tensor run_forward(const torch::Tensor&, bool for_gradient)
///                                                     the module's forward (for_gradient: a
///                                                     backward pass follows)
///   std::vector<torch::Tensor> parameter_tensors()     its parameters, in a fixed order
///   bool is_training(); void set_training(bool)        its mode
template <class Derived, class Scalar>
class model_base {
public:
  using batch_type = torch::Tensor;
  using scalar_type = Scalar;

  /// The device the model runs on; batches must be there.
  const torch::Device& device() const { return device_; }
  const torch_backend::options& adapter_options() const { return opts_; }

  /// N x K logits (no gradients), in eval mode; in the input's dtype.
  torch::Tensor logits(const torch::Tensor& x) {
    check_batch(x, "logits");
    scoring_scope scope(self());
    torch::NoGradGuard no_grad;
    return to_input_dtype(forward_checked(x), x);
  }

  /// dL/dX for the upstream gradient G = dL/dZ (N x K), in eval mode, parameters frozen:
  /// torch::autograd::grad with respect to the input only.
  torch::Tensor input_gradient(const torch::Tensor& x, const torch::Tensor& g) {
    return logits_and_input_gradient(x, [&](const torch::Tensor&) { return g; });
  }

  /// The logits z of x, passed to `upstream`, and the input gradient of upstream(z): one
  /// forward and one backward pass, where logits() then input_gradient() would run the
  /// forward twice. Scoring semantics, as input_gradient; the estimators and attacks use it.
  torch::Tensor
  logits_and_input_gradient(const torch::Tensor& x,
                            const std::function<torch::Tensor(const torch::Tensor&)>& upstream) {
    check_batch(x, "input_gradient");
    scoring_scope scope(self());
    grad_scope on;
    auto xr = leaf(x);
    const auto z = forward_checked(xr, true);
    const auto g = upstream(to_input_dtype(z.detach(), x));
    auto dx = torch::autograd::grad({z}, {xr}, {upstream_like(g, z)}, /*retain_graph=*/false,
                                    /*create_graph=*/false, /*allow_unused=*/true)[0];
    return dx.defined() ? dx.detach() : torch::zeros_like(x);
  }

  /// z = f(x) once in the module's own mode, G = upstream(z); adds dL/dθ to the parameters'
  /// gradients and returns dL/dX (an undefined tensor when input_gradient is false).
  torch::Tensor forward_backward(const torch::Tensor& x,
                                 const std::function<torch::Tensor(const torch::Tensor&)>& upstream,
                                 bool input_gradient) {
    check_batch(x, "forward_backward");
    grad_scope on;
    auto xr = input_gradient ? leaf(x) : plain(x);
    const auto z = forward_checked(xr, true);
    const auto g = upstream(to_input_dtype(z.detach(), x));
    std::vector<torch::Tensor> inputs;
    if (input_gradient)
      inputs.push_back(xr);
    for (auto& p : self().parameter_tensors())
      if (p.requires_grad())
        inputs.push_back(p);
    if (inputs.empty())
      return {};
    torch::autograd::backward({z}, {upstream_like(g, z)}, /*retain_graph=*/false,
                              /*create_graph=*/false, inputs);
    if (!input_gradient)
      return {};
    const auto dx = xr.grad();
    return dx.defined() ? dx.detach() : torch::zeros_like(x);
  }

  /// Adds dL/dθ for the upstream gradient g to the parameters' gradients; returns dL/dX.
  torch::Tensor accumulate_gradients(const torch::Tensor& x, const torch::Tensor& g) {
    return forward_backward(
        x, [&](const torch::Tensor&) { return g; }, true);
  }

  /// Every trainable parameter's gradient := 0 (allocated when it has none yet).
  void zero_gradients() {
    for (auto& p : self().parameter_tensors()) {
      if (!p.requires_grad())
        continue;
      if (p.grad().defined())
        p.mutable_grad().detach_().zero_();
      else
        p.mutable_grad() = torch::zeros_like(p, torch::MemoryFormat::Contiguous);
    }
  }

  /// The trainable parameters as host spans (CPU, Scalar, default layout), for misd's SGD.
  std::vector<std::span<Scalar>> parameters() {
    std::vector<std::span<Scalar>> out;
    for (auto& p : self().parameter_tensors())
      if (p.requires_grad())
        out.push_back(host_span(p, "parameter"));
    return out;
  }
  /// Their gradients, in the same order and sizes (allocated as zeros when missing).
  std::vector<std::span<Scalar>> gradients() {
    std::vector<std::span<Scalar>> out;
    for (auto& p : self().parameter_tensors()) {
      if (!p.requires_grad())
        continue;
      if (!p.grad().defined())
        p.mutable_grad() = torch::zeros_like(p, torch::MemoryFormat::Contiguous);
      else if (!p.grad().is_contiguous())
        p.mutable_grad() = p.grad().contiguous();
      out.push_back(host_span(p.mutable_grad(), "gradient"));
    }
    return out;
  }

protected:
  model_base() = default;

  /// Called by Derived once its module is in place: moves it, sets the layout.
  void setup(const torch_backend::options& o, bool bad_output_is_data_error) {
    opts_ = o;
    data_errors_ = bad_output_is_data_error;
    if (o.device)
      device_ = require_device(*o.device);
    if (o.device)
      self().move_to(device_);
    auto ps = self().parameter_tensors();
    if (!o.device)
      device_ = ps.empty() ? torch::Device(torch::kCPU) : ps.front().device();
    else if (!ps.empty())
      device_ = ps.front().device(); // "cuda" resolved to "cuda:0"
    if (o.channels_last) {
      torch::NoGradGuard no_grad;
      for (auto& p : ps)
        if (p.dim() == 4)
          p.set_data(p.data().contiguous(torch::MemoryFormat::ChannelsLast));
    }
  }

  [[noreturn]] void output_error(const std::string& what) const {
    if (data_errors_)
      throw data_error(what);
    throw invalid_argument(what);
  }

private:
  Derived& self() { return static_cast<Derived&>(*this); }

  /// Eval mode and frozen parameters for scoring; the caller's state comes back on exit.
  class scoring_scope {
  public:
    explicit scoring_scope(Derived& m) : m_(m), was_training_(m.is_training()) {
      if (was_training_)
        m_.set_training(false);
      for (auto& p : m_.parameter_tensors())
        if (p.requires_grad()) {
          p.set_requires_grad(false);
          frozen_.push_back(p);
        }
    }
    ~scoring_scope() {
      for (auto& p : frozen_)
        p.set_requires_grad(true);
      if (was_training_)
        m_.set_training(true);
    }
    scoring_scope(const scoring_scope&) = delete;
    scoring_scope& operator=(const scoring_scope&) = delete;

  private:
    Derived& m_;
    bool was_training_;
    std::vector<torch::Tensor> frozen_;
  };

  void check_batch(const torch::Tensor& x, std::string_view what) const {
    if (!x.defined())
      throw invalid_argument(misd::detail::message(what, ": undefined tensor (expected a batch)"));
    if (x.dim() < 2)
      throw invalid_argument(
          misd::detail::message(what, ": batch of shape ", shape_string(x),
                                " (expected N x D or N x C x H x W, one example per row)"));
    if (!x.is_floating_point())
      throw invalid_argument(misd::detail::message(what, ": batch of dtype ", x.scalar_type(),
                                                   " (expected a floating-point tensor)"));
    if (!same_device(x.device(), device_))
      throw invalid_argument(misd::detail::message(what, ": batch on device '", x.device().str(),
                                                   "' but the model is on '", device_.str(),
                                                   "' (move the batch with x.to(model.device()))"));
  }

  /// A detached leaf that takes gradients; inference tensors are cloned into ordinary ones.
  static torch::Tensor leaf(const torch::Tensor& x) { return plain(x).requires_grad_(true); }
  static torch::Tensor plain(const torch::Tensor& x) {
    return x.is_inference() ? x.clone() : x.detach();
  }

  torch::Tensor forward_checked(const torch::Tensor& x, bool for_gradient = false) {
    auto in = x;
    if (opts_.channels_last && in.dim() == 4)
      in = in.contiguous(torch::MemoryFormat::ChannelsLast);
    torch::Tensor z;
    try {
      tf32_scope tf32(opts_.tf32);
      autocast_scope autocast(opts_.bf16_autocast, device_);
      z = self().run_forward(in, for_gradient);
    } catch (const misd::error&) {
      throw;
    } catch (const c10::Error& e) {
      output_error(misd::detail::message("torch model: forward pass failed for a batch of shape ",
                                         shape_string(x), ": ", torch_reason(e)));
    } catch (const std::exception& e) { // the TorchScript interpreter's errors
      output_error(misd::detail::message("torch model: forward pass failed for a batch of shape ",
                                         shape_string(x), ": ", last_line(e.what())));
    }
    if (!z.defined() || z.dim() != 2 || z.size(0) != x.size(0))
      output_error(misd::detail::message(
          "torch model: forward returned ", z.defined() ? shape_string(z) : "an undefined tensor",
          " for a batch of ", x.size(0), " examples (expected N x K logits, N = ", x.size(0), ")"));
    return z;
  }

  static torch::Tensor to_input_dtype(const torch::Tensor& z, const torch::Tensor& x) {
    return z.scalar_type() == x.scalar_type() ? z : z.to(x.scalar_type());
  }

  torch::Tensor upstream_like(const torch::Tensor& g, const torch::Tensor& z) const {
    if (!g.defined() || g.numel() != z.numel())
      throw invalid_argument(misd::detail::message(
          "torch model: upstream gradient of shape ", g.defined() ? shape_string(g) : "[]",
          " for logits of shape ", shape_string(z), " (expected the logits' shape)"));
    if (!same_device(g.device(), z.device()))
      throw invalid_argument(misd::detail::message("torch model: upstream gradient on '",
                                                   g.device().str(), "' but the logits on '",
                                                   z.device().str(), "'"));
    return g.reshape(z.sizes()).to(z.scalar_type());
  }

  static std::span<Scalar> host_span(torch::Tensor& t, std::string_view what) {
    if (!t.device().is_cpu() || t.scalar_type() != c10::CppTypeToScalarType<Scalar>::value ||
        !t.is_contiguous())
      throw invalid_argument(misd::detail::message(
          "torch model: ", what, " of shape ", shape_string(t), " on '", t.device().str(),
          "' with dtype ", t.scalar_type(),
          ": parameters()/gradients() need contiguous CPU tensors of the adapter's scalar type "
          "(on CUDA, train with accumulate_objective and a torch::optim optimiser)"));
    return {t.data_ptr<Scalar>(), static_cast<std::size_t>(t.numel())};
  }

  torch::Device device_{torch::kCPU};
  torch_backend::options opts_;
  bool data_errors_ = false;
};

} // namespace detail

/// Any torch::nn module holder (torch::nn::Sequential, torch::nn::Linear, a TORCH_MODULE
/// holder) or std::shared_ptr<M> to a module with `torch::Tensor forward(torch::Tensor)`.
/// Shares the module with the caller (as holders do).
template <class Net, class Scalar = float>
class module_model : public detail::model_base<module_model<Net, Scalar>, Scalar> {
  using base = detail::model_base<module_model<Net, Scalar>, Scalar>;
  friend base;

public:
  explicit module_model(Net net, const torch_backend::options& o = {}) : net_(std::move(net)) {
    if (!net_)
      throw invalid_argument("misd: module_model: empty module holder");
    this->setup(o, false);
  }
  Net& module() { return net_; }

private:
  torch::Tensor run_forward(const torch::Tensor& x, bool /*for_gradient*/) {
    return net_->forward(x);
  }
  std::vector<torch::Tensor> parameter_tensors() { return net_->parameters(); }
  bool is_training() const { return net_->is_training(); }
  void set_training(bool on) { net_->train(on); }
  void move_to(const torch::Device& d) { net_->to(d); }

  Net net_;
};

} // namespace misd::torch_backend
