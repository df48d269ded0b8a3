// misd/torch/script.hpp -- TorchScript modules (torch.jit.script / torch.jit.trace, saved
// with .save("model.pt")) as misd models.
//
//   auto model = misd::torch_backend::load_torchscript("model.pt", "cuda");
//   auto r = misd::rr_bs(model, x.to(model.device()));
//
// The module's forward must take one N x ... tensor and return N x K logits.
#pragma once

#include "misd/torch/model.hpp"

#include <torch/csrc/jit/runtime/graph_executor.h>
#include <torch/script.h>

#include <filesystem>
#include <optional>
#include <string>

namespace misd::torch_backend {

/// A loaded TorchScript module (shared with copies of it, as torch::jit::Module is).
/// Bad output shapes and failing forward passes are misd::data_error: the file is at fault.
template <class Scalar = float>
class basic_script_model : public detail::model_base<basic_script_model<Scalar>, Scalar> {
  using base = detail::model_base<basic_script_model<Scalar>, Scalar>;
  friend base;

public:
  explicit basic_script_model(torch::jit::Module m, const torch_backend::options& o = {},
                              std::string origin = "TorchScript module")
      : module_(std::move(m)), origin_(std::move(origin)) {
    this->setup(o, true);
  }
  torch::jit::Module& module() { return module_; }
  /// Where the module came from (its file), for messages.
  const std::string& origin() const { return origin_; }

private:
  torch::Tensor run_forward(const torch::Tensor& x, bool for_gradient) {
    // A pass that a backward pass follows runs the graph unoptimised (thread-local switch):
    // eager autograd operator by operator beat the profiling executor's differentiable
    // graphs (WRN-28-10 on an H100: forward + backward 71.8 vs 82.6 ms), while forward-only
    // passes keep the optimised graph (28.3 vs 33.4 ms); bench/README.md, "LibTorch on a GPU".
    std::optional<torch::jit::GraphOptimizerEnabledGuard> plain;
    if (for_gradient)
      plain.emplace(false);
    const auto out = module_.forward({x});
    if (!out.isTensor())
      this->output_error(misd::detail::message("TorchScript model '", origin_,
                                               "': forward returned ", out.tagKind(),
                                               " (expected a Tensor of N x K logits)"));
    return out.toTensor();
  }
  std::vector<torch::Tensor> parameter_tensors() {
    std::vector<torch::Tensor> ps;
    for (const auto& p : module_.parameters())
      ps.push_back(p);
    return ps;
  }
  bool is_training() const { return module_.is_training(); }
  void set_training(bool on) { module_.train(on); }
  void move_to(const torch::Device& d) { module_.to(d); }

  torch::jit::Module module_;
  std::string origin_;
};

using script_model = basic_script_model<float>;

/// Loads a TorchScript file onto a device ("cpu", "cuda", "cuda:N"). A missing file or one
/// that is not TorchScript is misd::data_error naming the file; an unknown or unavailable
/// device is misd::invalid_argument.
inline script_model load_torchscript(const std::filesystem::path& path, const torch::Device& device,
                                     const options& o = {}) {
  require_device(device);
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec))
    throw data_error(
        misd::detail::message("TorchScript model '", path.string(), "': no such file"));
  torch::jit::Module m;
  try {
    m = torch::jit::load(path.string(), device);
  } catch (const c10::Error& e) {
    throw data_error(misd::detail::message(
        "'", path.string(), "' is not a TorchScript model file (expected the output of ",
        "torch.jit.script(model).save(...) or torch.jit.trace): ", detail::torch_reason(e)));
  } catch (const std::exception& e) {
    throw data_error(
        misd::detail::message("'", path.string(), "' is not a TorchScript model file: ", e.what()));
  }
  auto opts = o;
  opts.device = device;
  return script_model(std::move(m), opts, path.string());
}
inline script_model load_torchscript(const std::filesystem::path& path,
                                     const std::string& device = "cpu", const options& o = {}) {
  return load_torchscript(path, parse_device(device), o);
}

} // namespace misd::torch_backend
