// fuzz/fuzz_sequential_dir.cpp -- libFuzzer target: sequential model directories
// (misd/eigen/sequential_io.hpp). The input packs model.json and then the arrays
// layer_0.weight.npy, layer_0.bias.npy, layer_1.weight.npy, layer_1.bias.npy, ...
// (j-th layer's pair at parts 2j+1, 2j+2, j < 8), separated by misd_fuzz::part_separator; an
// empty part leaves that file out. Loading only: a valid model may still be too large to
// evaluate here (e.g. padding 65536).
#include "fuzz_support.hpp"

#include "misd/eigen/sequential_io.hpp"

#include <cstdint>
#include <string>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const auto parts = misd_fuzz::split_parts(data, size);
  const auto dir = misd_fuzz::fresh_dir("sequential");
  misd_fuzz::write_bytes(dir / "model.json", parts[0]);
  for (std::size_t k = 1; k < parts.size() && k <= 16; ++k) {
    const std::size_t layer = (k - 1) / 2;
    const std::string name =
        "layer_" + std::to_string(layer) + ((k % 2) ? ".weight.npy" : ".bias.npy");
    if (!parts[k].empty())
      misd_fuzz::write_bytes(dir / name, parts[k]);
  }
  try {
    const auto model = misd::eigen::load_model_directory<float>(dir);
    if (model.input_size() == 0)
      std::abort();
  } catch (const misd::data_error&) {
  }
  return 0;
}
