// Must NOT compile: RR-BS needs input_gradient. The message must name the member.
#include <misd/misd.hpp>
struct only_logits {
  using batch_type = misd::eigen::batch<float>;
  batch_type logits(const batch_type& x) const { return x; }
};
int main() {
  only_logits m;
  misd::rr_bs(m, misd::eigen::batch<float>::Zero(1, 2));
}
