// Built against the installed misd with find_package(misd COMPONENTS torch): RR-Fast on a
// torch::nn::Linear, on the CPU.
#include <misd/misd.hpp>
#include <misd/torch.hpp>

#include <cstdio>

int main() {
  torch::nn::Linear lin(2, 2);
  lin->to(torch::kDouble);
  {
    torch::NoGradGuard no_grad;
    lin->weight.copy_(torch::tensor({{1.0, -1.0}, {-1.0, 1.0}}, torch::kDouble));
    lin->bias.zero_();
  }
  misd::torch_backend::module_model<torch::nn::Linear, double> model(lin);
  const auto x = torch::tensor({{0.6, 0.4}}, torch::kDouble);
  const auto r = misd::rr_fast(model, x); // exact here: |0.2 - (-0.2)| / 4 = 0.1
  std::printf("consumer torch: radius %g\n", r.radius[0]);
  return r.radius[0] > 0.0999 && r.radius[0] < 0.1001 ? 0 : 1;
}
