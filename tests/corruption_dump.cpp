// tests/corruption_dump.cpp -- every corruption of misd::data at every preset and severity,
// for tests/python/check_corruption.py: reads `rows` images of h x w float32 from a raw file
// and writes, per preset, kind and severity, the corrupted images (<preset>_<kind>_<s>.f32,
// through corrupt_images with 3 threads) and the random draws each image used
// (<preset>_<kind>_<s>.draws, float64, image after image; detail::corrupt_image's hook).
//   corruption_dump IN.f32 ROWS HEIGHT WIDTH SEED OUT_DIR
#include "misd/data/corruption.hpp"

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <string>
#include <vector>

namespace {
template <class T>
void write_raw(const std::string& path, const std::vector<T>& v) {
  std::ofstream f(path, std::ios::binary);
  f.write(reinterpret_cast<const char*>(v.data()), std::streamsize(v.size() * sizeof(T)));
  if (!f)
    throw std::runtime_error("cannot write " + path);
}
} // namespace

int main(int argc, char** argv) {
  namespace md = misd::data;
  if (argc != 7) {
    std::cerr << "usage: corruption_dump IN.f32 ROWS HEIGHT WIDTH SEED OUT_DIR\n";
    return 2;
  }
  const std::size_t rows = std::stoul(argv[2]), h = std::stoul(argv[3]), w = std::stoul(argv[4]);
  const std::uint64_t seed = std::stoull(argv[5]);
  const std::string dir = argv[6];
  std::vector<float> pixels(rows * h * w);
  std::ifstream in(argv[1], std::ios::binary);
  in.read(reinterpret_cast<char*>(pixels.data()), std::streamsize(pixels.size() * sizeof(float)));
  if (!in) {
    std::cerr << "cannot read " << rows * h * w << " floats from " << argv[1] << "\n";
    return 1;
  }
  for (const auto preset : {md::corruption_preset::cifar, md::corruption_preset::mnistc})
    for (const md::corruption_kind kind : md::all_corruption_kinds())
      for (int s = 1; s <= 5; ++s) {
        md::corruption_options o;
        o.kind = kind;
        o.severity = s;
        o.seed = seed;
        o.preset = preset;
        o.threads = 3;
        const std::string stem =
            dir + "/" + (preset == md::corruption_preset::cifar ? "cifar" : "mnistc") + "_" +
            std::string(md::corruption_name(kind)) + "_" + std::to_string(s);
        write_raw(stem + ".f32", md::corrupt_images(pixels, rows, h, w, o));
        std::vector<double> draws;
        std::vector<float> scratch(h * w);
        for (std::size_t i = 0; i < rows; ++i) {
          misd::detail::corruption::corruption_draws d;
          misd::detail::corruption::corrupt_image(pixels.data() + i * h * w, scratch.data(), h, w,
                                                  o, i, &d);
          draws.insert(draws.end(), d.values.begin(), d.values.end());
        }
        write_raw(stem + ".draws", draws);
      }
  return 0;
}
