// Control: the same invocation with a complete model compiles, so the failures above
// are caused by the missing members and not by the test set-up.
#include <misd/misd.hpp>
struct complete {
  using batch_type = misd::eigen::batch<float>;
  batch_type logits(const batch_type& x) const { return x; }
  batch_type input_gradient(const batch_type& x, const batch_type&) const { return x; }
};
int main() {
  complete m;
  misd::rr_bs(m, misd::eigen::batch<float>::Zero(1, 2));
}
