// Must NOT compile: a logits_and_input_gradient that takes its upstream gradient as a batch
// instead of a function would otherwise run silently through the plain form. The message
// must name the fused form's signature.
#include <misd/misd.hpp>
struct near_miss {
  using batch_type = misd::eigen::batch<float>;
  batch_type logits(const batch_type& x) const { return x; }
  batch_type input_gradient(const batch_type& x, const batch_type&) const { return x; }
  batch_type logits_and_input_gradient(const batch_type& x, const batch_type&) const { return x; }
};
int main() {
  near_miss m;
  misd::rr_fast(m, misd::eigen::batch<float>::Zero(1, 2));
}
