// Must NOT compile: a model that declares scratch_type and logits_into with a signature of
// its own (rows as int) would otherwise run silently through the plain form. The message
// must name the in-place form's signatures.
#include <misd/misd.hpp>
struct near_miss {
  using batch_type = misd::eigen::batch<float>;
  struct scratch_type {};
  batch_type logits(const batch_type& x) const { return x; }
  batch_type input_gradient(const batch_type& x, const batch_type&) const { return x; }
  void logits_into(const batch_type& x, int, batch_type& z) const { z = x; }
};
int main() {
  near_miss m;
  misd::rr_fast(m, misd::eigen::batch<float>::Zero(1, 2));
}
