// Must NOT compile: a batch type without a misd::batch_ops specialisation.
#include <misd/misd.hpp>
#include <vector>
struct vector_model {
  using batch_type = std::vector<float>;
  batch_type logits(const batch_type& x) const { return x; }
  batch_type input_gradient(const batch_type& x, const batch_type&) const { return x; }
};
int main() {
  vector_model m;
  misd::rr_bs(m, std::vector<float>{1.0f});
}
