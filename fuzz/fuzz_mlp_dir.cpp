// fuzz/fuzz_mlp_dir.cpp -- libFuzzer target: MLP model directories (misd/eigen/mlp_io.hpp).
// The input packs up to six files separated by misd_fuzz::part_separator, in the order
// weights_0.npy, biases_0.npy, weights_1.npy, biases_1.npy, mean.npy, std.npy; an empty
// part leaves that file out. A model that loads is then scored with RR-Fast on one input,
// which must give a result or throw misd::data_error (e.g. non-finite logits).
#include "fuzz_support.hpp"

#include "misd/eigen/mlp_io.hpp"
#include "misd/radius/rr_fast.hpp"

#include <cstdint>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const char* const names[] = {"weights_0.npy", "biases_0.npy", "weights_1.npy",
                                      "biases_1.npy",  "mean.npy",     "std.npy"};
  const auto parts = misd_fuzz::split_parts(data, size);
  const auto dir = misd_fuzz::fresh_dir("mlp");
  for (std::size_t k = 0; k < parts.size() && k < 6; ++k)
    if (!parts[k].empty())
      misd_fuzz::write_bytes(dir / names[k], parts[k]);
  try {
    auto model = misd::eigen::load_mlp<float>(dir);
    const auto d = model.dense_layers().front().weight.cols();
    if (d > 4096)
      return 0;
    const misd::eigen::batch<float> x = misd::eigen::batch<float>::Constant(1, d, 0.5f);
    const auto r = misd::rr_fast(model, x);
    if (r.size() != 1)
      std::abort();
  } catch (const misd::data_error&) {
  }
  return 0;
}
