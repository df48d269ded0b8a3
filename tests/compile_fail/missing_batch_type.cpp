// Must NOT compile: a model must name its batch type. The algorithms' signatures use
// batch_t<M>, so the compiler itself reports "no type named 'batch_type'" here.
#include <misd/misd.hpp>
struct no_batch_type {
  misd::eigen::batch<float> logits(const misd::eigen::batch<float>& x) const { return x; }
};
int main() {
  no_batch_type m;
  misd::attack_direction(m, misd::eigen::batch<float>::Zero(1, 2), {0});
}
