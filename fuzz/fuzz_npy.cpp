// fuzz/fuzz_npy.cpp -- libFuzzer target: the NPY reader (misd/data/npy.hpp) on arbitrary bytes.
// Every reading entry point must either succeed or throw misd::data_error.
#include "fuzz_support.hpp"

#include "misd/data/npy.hpp"

#include <cstdint>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const auto path = misd_fuzz::scratch() / "input.npy";
  misd_fuzz::write_bytes(path, {reinterpret_cast<const char*>(data), size});
  namespace d = misd::data;
  try {
    (void)d::read_npy_header(path);
  } catch (const misd::data_error&) {
    return 0; // every reader below validates the same header
  }
  try {
    (void)d::read_npy<float>(path);
  } catch (const misd::data_error&) {
  }
  try {
    (void)d::read_npy<std::int64_t>(path);
  } catch (const misd::data_error&) {
  }
  try {
    (void)d::read_npy_matrix<float>(path);
  } catch (const misd::data_error&) {
  }
  try {
    (void)d::read_npy_vector<double>(path);
  } catch (const misd::data_error&) {
  }
  try {
    (void)d::read_npy_labels(path);
  } catch (const misd::data_error&) {
  }
  try {
    (void)d::read_npy_correctness(path);
  } catch (const misd::data_error&) {
  }
  return 0;
}
