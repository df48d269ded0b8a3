// The four forms a model can take (docs/model_types.md): the same linear classifier
// z = x Wᵀ written as a minimal, a fused, an in-place and a trainable model. Every form
// gives the same radii; the richer forms are faster or unlock training.
#include <misd/misd.hpp>

#include <iostream>
#include <span>
#include <vector>

using batch = misd::eigen::batch<double>;

// Minimal: what every algorithm needs (misd::Differentiable).
struct minimal_linear {
  using batch_type = batch;
  batch w; // K x D
  batch_type logits(const batch_type& x) const { return x * w.transpose(); }
  batch_type input_gradient(const batch_type&, const batch_type& g) const { return g * w; }
};

// Fused: the logits and their input gradient from one forward pass (misd::FusedModel).
struct fused_linear : minimal_linear {
  batch_type
  logits_and_input_gradient(const batch_type& x,
                            const std::function<batch_type(const batch_type&)>& upstream) const {
    return upstream(logits(x)) * w;
  }
};

// In place: writes into batches kept between calls (misd::InPlaceModel); with the Eigen
// backend's row operations an estimator called again allocates nothing.
struct in_place_linear : minimal_linear {
  struct scratch_type {};
  void logits_into(const batch_type& x, Eigen::Index rows, batch_type& z, scratch_type&) const {
    if (z.rows() != x.rows() || z.cols() != w.rows())
      z.resize(x.rows(), w.rows());
    z.topRows(rows).noalias() = x.topRows(rows) * w.transpose();
  }
  void input_gradient_into(const batch_type&, const batch_type& g, batch_type& dx,
                           scratch_type&) const {
    if (dx.rows() != g.rows() || dx.cols() != w.cols())
      dx.resize(g.rows(), w.cols());
    dx.noalias() = g * w;
  }
};

// Trainable: parameter gradients and access to the parameters (misd::Trainable), which
// the training loop (misd::train) needs.
struct trainable_linear : minimal_linear {
  batch dw = batch::Zero(0, 0);
  batch_type accumulate_gradients(const batch_type& x, const batch_type& g) {
    if (dw.size() == 0)
      dw = batch::Zero(w.rows(), w.cols());
    dw += g.transpose() * x;
    return g * w;
  }
  void zero_gradients() { dw.setZero(w.rows(), w.cols()); }
  std::vector<std::span<double>> parameters() { return {{w.data(), std::size_t(w.size())}}; }
  std::vector<std::span<double>> gradients() { return {{dw.data(), std::size_t(dw.size())}}; }
};

static_assert(misd::model_form_of<minimal_linear> == misd::model_form::plain);
static_assert(misd::model_form_of<fused_linear> == misd::model_form::fused);
static_assert(misd::model_form_of<in_place_linear> == misd::model_form::in_place);
static_assert(misd::Trainable<trainable_linear>);

int main() {
  const batch w{{1.0, -1.0, 0.5}, {-1.0, 1.0, 0.0}, {0.0, 0.5, -1.0}};
  const batch x{{0.6, 0.4, 0.1}, {0.2, 0.9, 0.3}, {0.5, 0.1, 0.8}};
  minimal_linear minimal{w};
  fused_linear fused{{w}};
  in_place_linear in_place{{w}};
  trainable_linear trainable{{w}};
  const auto reference = misd::rr_bs(minimal, x);
  auto same = [&](const misd::radius_result& r) {
    return (r.radius.array() == reference.radius.array()).all();
  };
  const bool all_same = same(misd::rr_bs(fused, x)) && same(misd::rr_bs(in_place, x)) &&
                        same(misd::rr_bs(trainable, x));
  for (std::size_t i = 0; i < reference.size(); ++i)
    std::cout << "example " << i << ": RR-BS radius " << reference.radius[i] << '\n';
  std::cout << (all_same ? "all four forms give the same radii\n" : "the forms differ\n");
  return all_same ? 0 : 1;
}
