// Bring your own model: any type with batch_type, logits() and input_gradient() works.
#include <misd/misd.hpp>
#include <iostream>

struct two_class_linear {                       // z = x W^T, W = [[1, -1], [-1, 1]]
  using batch_type = misd::eigen::batch<double>; // N x D rows; logits N x K
  batch_type w{{1.0, -1.0}, {-1.0, 1.0}};
  batch_type logits(const batch_type& x) const { return x * w.transpose(); }
  batch_type input_gradient(const batch_type&, const batch_type& g) const { return g * w; }
};

int main() {
  two_class_linear model;
  misd::eigen::batch<double> x{{0.6, 0.4}, {0.2, 0.9}};
  misd::rr_bs_options opts;                    // budget 25, r0 1e-6, T = 1, no box
  auto bs = misd::rr_bs(model, x, opts);       // 1 backward + 25 forwards
  auto fast = misd::rr_fast(model, x);         // 1 backward + 2 forwards (α = 1e-3)
  for (std::size_t i = 0; i < bs.size(); ++i)  // exact L∞ radius here: |z0 - z1| / 4
    std::cout << "example " << i << ": RR-BS " << bs.radius[i] << ", RR-Fast " << fast.radius[i]
              << '\n';
  std::cout << misd::check_input_gradient(model, x).message() << '\n';
}
