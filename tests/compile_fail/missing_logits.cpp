// Must NOT compile: every algorithm needs logits(). The message must name the member.
#include <misd/misd.hpp>
struct only_gradient {
  using batch_type = misd::eigen::batch<float>;
  batch_type input_gradient(const batch_type& x, const batch_type&) const { return x; }
};
int main() {
  only_gradient m;
  misd::rr_fast(m, misd::eigen::batch<float>::Zero(1, 2));
}
