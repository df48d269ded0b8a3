// misd/eigen/mlp_io.hpp -- MLP model directories:
//   weights_<i>.npy  float32, out x in (PyTorch's nn.Linear.weight layout), i = 0 .. L-1
//   biases_<i>.npy   float32, out
//   mean.npy, std.npy  optional, length D, applied to the input inside the model
// save_mlp replaces the directory atomically; load_mlp checks every array's presence, rank
// and shape and throws misd::data_error naming the file and what was expected.
#pragma once

#include "misd/data/npy.hpp"
#include "misd/detail/atomic_write.hpp"
#include "misd/eigen/mlp.hpp"
#include "misd/error.hpp"

#include <filesystem>
#include <optional>
#include <span>
#include <string>
#include <vector>

namespace misd::detail {
inline std::string npy_shape_text(const std::vector<std::size_t>& s) {
  std::string t = "(";
  for (std::size_t k = 0; k < s.size(); ++k)
    t += (k ? ", " : "") + std::to_string(s[k]);
  return t + (s.size() == 1 ? ",)" : ")");
}

/// Reads `file` of the model directory `dir` as a float array of exactly `expected` (a 0 entry
/// accepts any size there).
template <class Scalar>
std::vector<Scalar> read_model_array(const std::filesystem::path& dir, const std::string& file,
                                     std::vector<std::size_t> expected,
                                     std::vector<std::size_t>& shape, const std::string& what) {
  const auto path = dir / file;
  if (!std::filesystem::exists(path))
    throw data_error(detail::message("model directory '", dir.string(), "': missing '", file,
                                     "' (expected ", what, ")"));
  const data::npy_header h = data::read_npy_header(path);
  if (h.dtype != data::npy_dtype::float32 && h.dtype != data::npy_dtype::float64)
    throw data_error(detail::message("model file '", path.string(), "': dtype '", h.descr,
                                     "', expected float32 ('<f4') or float64"));
  bool ok = h.shape.size() == expected.size();
  for (std::size_t k = 0; ok && k < expected.size(); ++k)
    ok = expected[k] == 0 || expected[k] == h.shape[k];
  if (!ok) {
    std::string want = "(";
    for (std::size_t k = 0; k < expected.size(); ++k)
      want += (k ? ", " : "") + (expected[k] ? std::to_string(expected[k]) : std::string("*"));
    want += expected.size() == 1 ? ",)" : ")";
    throw data_error(detail::message("model file '", path.string(), "': shape ",
                                     npy_shape_text(h.shape), ", expected ", want, " (", what,
                                     ")"));
  }
  for (std::size_t d : h.shape)
    if (d == 0)
      throw data_error(detail::message("model file '", path.string(), "': shape ",
                                       npy_shape_text(h.shape), " is empty (", what, ")"));
  shape = h.shape;
  const auto a = data::read_npy<Scalar>(path);
  return std::vector<Scalar>(a.begin(), a.end());
}
} // namespace misd::detail

namespace misd::eigen {

/// Loads the MLP stored in `dir` (float32 or float64 arrays, converted to Scalar).
template <class Scalar = float>
mlp<Scalar> load_mlp(const std::filesystem::path& dir) {
  namespace fs = std::filesystem;
  if (!fs::is_directory(dir))
    throw data_error(
        detail::message("model directory '", dir.string(),
                        "': not a directory (expected weights_0.npy, biases_0.npy, ...)"));
  std::size_t count = 0;
  while (fs::exists(dir / ("weights_" + std::to_string(count) + ".npy")))
    ++count;
  if (count == 0)
    throw data_error(detail::message("model directory '", dir.string(),
                                     "': missing 'weights_0.npy' (an MLP directory holds "
                                     "weights_<i>.npy and biases_<i>.npy for i = 0 .. L-1)"));
  if (fs::exists(dir / ("biases_" + std::to_string(count) + ".npy")))
    throw data_error(detail::message("model directory '", dir.string(), "': 'biases_", count,
                                     ".npy' exists but 'weights_", count, ".npy' is missing"));

  std::vector<dense_layer<Scalar>> layers;
  std::size_t in = 0;
  std::vector<std::size_t> shape;
  for (std::size_t l = 0; l < count; ++l) {
    const std::string wn = "weights_" + std::to_string(l) + ".npy";
    const std::string bn = "biases_" + std::to_string(l) + ".npy";
    auto w = detail::read_model_array<Scalar>(
        dir, wn, {0, in}, shape,
        l == 0 ? "a 2-D out x in matrix"
               : "a 2-D out x " + std::to_string(in) + " matrix: layer " + std::to_string(l - 1) +
                     " gives " + std::to_string(in) + " outputs");
    const std::size_t out = shape[0];
    in = shape[1];
    dense_layer<Scalar> L{
        batch<Scalar>(static_cast<Eigen::Index>(out), static_cast<Eigen::Index>(in)),
        vector<Scalar>(static_cast<Eigen::Index>(out))};
    std::copy(w.begin(), w.end(), L.weight.data());
    auto b = detail::read_model_array<Scalar>(dir, bn, {out}, shape,
                                              "a 1-D vector of " + std::to_string(out) +
                                                  " entries, the rows of " + wn);
    std::copy(b.begin(), b.end(), L.bias.data());
    in = out;
    layers.push_back(std::move(L));
  }
  const std::size_t d = static_cast<std::size_t>(layers.front().weight.cols());
  const bool has_mean = fs::exists(dir / "mean.npy"), has_std = fs::exists(dir / "std.npy");
  std::optional<normalization<Scalar>> norm;
  if (has_mean || has_std) {
    const std::string what = "a 1-D vector of " + std::to_string(d) +
                             " entries, the input width of weights_0.npy; mean.npy and "
                             "std.npy come together";
    auto m = detail::read_model_array<Scalar>(dir, "mean.npy", {d}, shape, what);
    auto s = detail::read_model_array<Scalar>(dir, "std.npy", {d}, shape, what);
    normalization<Scalar> nz{vector<Scalar>(static_cast<Eigen::Index>(d)),
                             vector<Scalar>(static_cast<Eigen::Index>(d))};
    std::copy(m.begin(), m.end(), nz.mean.data());
    std::copy(s.begin(), s.end(), nz.std.data());
    norm = std::move(nz);
  }
  try {
    return mlp<Scalar>(std::move(layers), std::move(norm));
  } catch (const invalid_argument& e) { // e.g. a zero or non-finite std entry
    throw data_error(detail::message("model directory '", dir.string(), "': ", e.what()));
  }
}

/// Writes `model` to `dir` as float32 arrays, replacing the directory atomically (a crash
/// mid-write leaves the previous content intact).
template <class Scalar>
void save_mlp(const std::filesystem::path& dir, const mlp<Scalar>& model) {
  auto write = [](const std::filesystem::path& path, const Scalar* p, std::size_t n,
                  std::vector<std::size_t> shape) {
    std::vector<float> v(p, p + n);
    data::write_npy<float>(path, std::span<const float>(v), std::span<const std::size_t>(shape));
  };
  detail::replace_directory_atomically(dir, [&](const std::filesystem::path& tmp) {
    const auto layers = model.dense_layers();
    for (std::size_t l = 0; l < layers.size(); ++l) {
      const auto& L = layers[l];
      const auto out = static_cast<std::size_t>(L.weight.rows()),
                 in = static_cast<std::size_t>(L.weight.cols());
      write(tmp / ("weights_" + std::to_string(l) + ".npy"), L.weight.data(), out * in, {out, in});
      write(tmp / ("biases_" + std::to_string(l) + ".npy"), L.bias.data(), out, {out});
    }
    if (const auto& nz = model.input_normalization()) {
      const auto d = static_cast<std::size_t>(nz->mean.size());
      write(tmp / "mean.npy", nz->mean.data(), d, {d});
      write(tmp / "std.npy", nz->std.data(), d, {d});
    }
  });
}

} // namespace misd::eigen
