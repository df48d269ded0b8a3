// misd/eigen/sequential_io.hpp -- sequential model directories:
//   model.json             {"input_shape": [C, H, W] or [D], "layers": [{"type": ...}, ...]}
//   layer_<j>.weight.npy   PyTorch's layout: conv2d out x in x kh x kw, linear out x in
//   layer_<j>.bias.npy     out
// where j counts every layer (as the keys "<j>.weight" of an nn.Sequential state_dict do).
// Layer objects (sizes are integers >= 1; kernel, stride and padding are an integer or a pair
// [h, w]; padding may be 0):
//   {"type": "conv2d", "in": C, "out": F, "kernel": k, "stride": 1, "padding": 0}
//   {"type": "maxpool2d", "kernel": k, "stride": k, "padding": 0}
//   {"type": "global_avgpool2d"}   (nn.AdaptiveAvgPool2d(1))
//   {"type": "relu"}, {"type": "flatten"}, {"type": "linear", "in": D, "out": K}
//   {"type": "normalize", "mean": [...], "std": [...]}   one entry per channel (or feature)
// load_sequential checks everything before it builds the model (unknown types or keys, sizes,
// shapes that do not chain, array files missing or disagreeing with model.json, files for
// layers without parameters) and throws misd::data_error naming the file and the layer.
// save_sequential replaces the directory atomically and writes the arrays in the model's own
// precision (float32 for float, float64 for double), so a saved model loads bit for bit.
// load_model_directory reads either format (a directory without model.json is an MLP
// directory, misd/eigen/mlp_io.hpp) as a sequential model.
#pragma once

#include "misd/data/npy.hpp"
#include "misd/detail/atomic_write.hpp"
#include "misd/eigen/mlp_io.hpp"
#include "misd/eigen/sequential.hpp"
#include "misd/error.hpp"

#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>
#include <set>
#include <span>
#include <string>
#include <utility>
#include <vector>

namespace misd::detail {

inline std::string sequential_weight_file(std::size_t j) {
  return "layer_" + std::to_string(j) + ".weight.npy";
}
inline std::string sequential_bias_file(std::size_t j) {
  return "layer_" + std::to_string(j) + ".bias.npy";
}

/// Reads one layer object of model.nlohmann::json; every complaint names the layer.
template <class S>
class sequential_layer_reader {
public:
  sequential_layer_reader(const std::filesystem::path& dir, std::size_t index,
                          const nlohmann::json& j)
      : dir_(dir), index_(index), j_(j) {
    if (!j.is_object())
      fail("is not a JSON object");
    if (!j.contains("type") || !j["type"].is_string())
      fail("has no \"type\" string");
    type_ = j["type"].template get<std::string>();
  }

  const std::string& type() const { return type_; }

  [[noreturn]] void fail(const std::string& what) const {
    throw data_error(detail::message("model file '", (dir_ / "model.nlohmann::json").string(),
                                     "': layer ", index_, type_.empty() ? "" : " (" + type_ + ")",
                                     " ", what));
  }

  void allow_keys(std::set<std::string> keys) const {
    keys.insert("type");
    for (const auto& [k, v] : j_.items())
      if (!keys.count(k))
        fail("has an unknown key \"" + k + "\"");
  }

  /// An integer >= minimum (fallback when absent and fallback >= 0).
  Eigen::Index integer(const std::string& key, Eigen::Index minimum,
                       Eigen::Index fallback = -1) const {
    if (!j_.contains(key)) {
      if (fallback >= 0)
        return fallback;
      fail("lacks \"" + key + "\"");
    }
    const nlohmann::json& v = j_[key];
    if (!v.is_number_integer())
      fail("\"" + key + "\" is " + v.dump() + ", expected an integer");
    const auto x = v.template get<long long>();
    if (x > max_size) // larger sizes overflow the shape arithmetic (found by fuzzing)
      fail("\"" + key + "\" is " + std::to_string(x) + ", more than " + std::to_string(max_size));
    if (x < minimum)
      fail("\"" + key + "\" is " + std::to_string(x) +
           ", expected an integer >= " + std::to_string(minimum));
    return static_cast<Eigen::Index>(x);
  }

  /// An integer or a pair [h, w] of integers >= minimum.
  std::pair<Eigen::Index, Eigen::Index> pair(const std::string& key, Eigen::Index minimum,
                                             Eigen::Index fallback = -1) const {
    if (!j_.contains(key) || !j_[key].is_array()) {
      const auto v = integer(key, minimum, fallback);
      if (v > max_window)
        fail("\"" + key + "\" is " + std::to_string(v) + ", more than " +
             std::to_string(max_window));
      return {v, v};
    }
    const nlohmann::json& a = j_[key];
    if (a.size() != 2 || !a[0].is_number_integer() || !a[1].is_number_integer())
      fail("\"" + key + "\" is " + a.dump() + ", expected an integer or a pair [h, w]");
    const auto h = a[0].template get<long long>(), w = a[1].template get<long long>();
    if (h > max_window || w > max_window)
      fail("\"" + key + "\" is " + a.dump() + ", more than " + std::to_string(max_window));
    if (h < minimum || w < minimum)
      fail("\"" + key + "\" is " + a.dump() + ", expected integers >= " + std::to_string(minimum));
    return {static_cast<Eigen::Index>(h), static_cast<Eigen::Index>(w)};
  }

  /// Caps on the sizes in model.nlohmann::json, so that shape arithmetic cannot overflow (found by
  /// fuzzing): channels, widths and the input's size; kernel, stride and padding.
  static constexpr long long max_size = (1LL << 31) - 1;
  static constexpr long long max_window = 1LL << 16;

  /// Checks the weight file's header against `shape` before a layer of that shape is
  /// allocated, so that sizes in model.nlohmann::json cannot request more memory than the file
  /// holds.
  void check_weight_header(const std::vector<std::size_t>& shape, const std::string& what) const {
    const auto path = dir_ / sequential_weight_file(index_);
    if (!std::filesystem::exists(path))
      throw data_error(detail::message("model directory '", dir_.string(), "': missing '",
                                       sequential_weight_file(index_), "' (expected layer ", index_,
                                       " (", type_, ") of model.nlohmann::json: ", what, ")"));
    const auto h = data::read_npy_header(path);
    if (h.shape != shape)
      fail("weight '" + sequential_weight_file(index_) + "' has shape " + npy_shape_text(h.shape) +
           ", expected " + npy_shape_text(shape) + " (" + what + ")");
  }

  eigen::vector<S> numbers(const std::string& key) const {
    if (!j_.contains(key))
      fail("lacks \"" + key + "\"");
    const nlohmann::json& a = j_[key];
    if (!a.is_array() || a.empty())
      fail("\"" + key + "\" is not a non-empty array of numbers");
    eigen::vector<S> v(static_cast<Eigen::Index>(a.size()));
    for (std::size_t k = 0; k < a.size(); ++k) {
      if (!a[k].is_number())
        fail("\"" + key + "\"[" + std::to_string(k) + "] is " + a[k].dump() + ", not a number");
      v[static_cast<Eigen::Index>(k)] = static_cast<S>(a[k].template get<double>());
    }
    return v;
  }

  /// The weight array (shape `shape`) and the bias (length shape[0]) of this layer.
  void parameters(const std::vector<std::size_t>& shape, const std::string& what, S* weight,
                  S* bias) const {
    std::vector<std::size_t> got;
    const std::string layer =
        "layer " + std::to_string(index_) + " (" + type_ + ") of model.nlohmann::json: ";
    auto w = read_model_array<S>(dir_, sequential_weight_file(index_), shape, got, layer + what);
    std::copy(w.begin(), w.end(), weight);
    auto b = read_model_array<S>(dir_, sequential_bias_file(index_), {shape[0]}, got,
                                 layer + "bias of " + std::to_string(shape[0]));
    std::copy(b.begin(), b.end(), bias);
  }

private:
  std::filesystem::path dir_;
  std::size_t index_;
  const nlohmann::json& j_;
  std::string type_;
};

template <class S>
eigen::nn::layer<S> read_sequential_layer(const std::filesystem::path& dir, std::size_t index,
                                          const nlohmann::json& j) {
  const sequential_layer_reader<S> r(dir, index, j);
  const std::string& t = r.type();
  const bool parameterless = t != "conv2d" && t != "linear";
  if (parameterless)
    for (const auto& f : {sequential_weight_file(index), sequential_bias_file(index)})
      if (std::filesystem::exists(dir / f))
        r.fail("has no parameters, but '" + f +
               "' exists (are the layers numbered as in the "
               "nn.Sequential, parameterless layers included?)");
  try {
    if (t == "conv2d") {
      r.allow_keys({"in", "out", "kernel", "stride", "padding"});
      const auto in = r.integer("in", 1), out = r.integer("out", 1);
      const auto [kh, kw] = r.pair("kernel", 1);
      const auto [sh, sw] = r.pair("stride", 1, 1);
      const auto [ph, pw] = r.pair("padding", 0, 0);
      r.check_weight_header({std::size_t(out), std::size_t(in), std::size_t(kh), std::size_t(kw)},
                            "conv2d weight out x in x kh x kw");
      eigen::nn::conv2d<S> c(in, out, kh, kw, sh, sw, ph, pw);
      r.parameters({std::size_t(out), std::size_t(in), std::size_t(kh), std::size_t(kw)},
                   "conv2d weight out x in x kh x kw = " + std::to_string(out) + " x " +
                       std::to_string(in) + " x " + std::to_string(kh) + " x " + std::to_string(kw),
                   c.weight.data(), c.bias.data());
      return c;
    }
    if (t == "linear") {
      r.allow_keys({"in", "out"});
      const auto in = r.integer("in", 1), out = r.integer("out", 1);
      r.check_weight_header({std::size_t(out), std::size_t(in)}, "linear weight out x in");
      eigen::nn::linear<S> l(in, out);
      r.parameters({std::size_t(out), std::size_t(in)},
                   "linear weight out x in = " + std::to_string(out) + " x " + std::to_string(in),
                   l.weight.data(), l.bias.data());
      return l;
    }
    if (t == "maxpool2d") {
      r.allow_keys({"kernel", "stride", "padding"});
      const auto [kh, kw] = r.pair("kernel", 1);
      const auto [sh, sw] = r.pair("stride", 1, 0);
      const auto [ph, pw] = r.pair("padding", 0, 0);
      return eigen::nn::maxpool2d<S>(kh, kw, sh, sw, ph, pw);
    }
    if (t == "global_avgpool2d") {
      r.allow_keys({});
      return eigen::nn::global_avgpool2d<S>{};
    }
    if (t == "relu") {
      r.allow_keys({});
      return eigen::nn::relu<S>{};
    }
    if (t == "flatten") {
      r.allow_keys({});
      return eigen::nn::flatten<S>{};
    }
    if (t == "normalize") {
      r.allow_keys({"mean", "std"});
      return eigen::nn::normalize<S>(r.numbers("mean"), r.numbers("std"));
    }
  } catch (const invalid_argument& e) { // a layer constructor's complaint
    const std::string m = e.what();
    r.fail(m.rfind("misd: ", 0) == 0 ? m.substr(6) : m);
  }
  r.fail("has an unknown type (known: conv2d, maxpool2d, global_avgpool2d, relu, flatten, "
         "linear, normalize)");
}

template <class T>
void write_npy_array(const std::filesystem::path& path, const T* p,
                     std::vector<std::size_t> shape) {
  std::size_t n = 1;
  for (auto d : shape)
    n *= d;
  data::write_npy<T>(path, std::span<const T>(p, n), std::span<const std::size_t>(shape));
}

template <class S>
nlohmann::json window_json(Eigen::Index h, Eigen::Index w) {
  return h == w ? nlohmann::json(h) : nlohmann::json::array({h, w});
}
} // namespace misd::detail

namespace misd::eigen {

/// Loads the sequential model stored in `dir` (float32 or float64 arrays, converted to Scalar).
template <class Scalar = float>
sequential<Scalar> load_sequential(const std::filesystem::path& dir) {
  namespace fs = std::filesystem;
  using json = nlohmann::json;
  const fs::path file = dir / "model.json";
  auto bad = [&](const std::string& what) {
    return data_error(detail::message("model file '", file.string(), "': ", what));
  };
  if (!fs::is_regular_file(file))
    throw data_error(detail::message("model directory '", dir.string(), "': missing 'model.json'"));
  json j;
  {
    std::ifstream in(file);
    if (!in)
      throw bad("cannot be opened");
    try {
      j = json::parse(in);
    } catch (const json::exception& e) {
      throw bad(std::string("is not valid JSON: ") + e.what());
    }
  }
  if (!j.is_object() || !j.contains("input_shape") || !j.contains("layers"))
    throw bad("expected an object with \"input_shape\" and \"layers\"");
  for (const auto& [k, v] : j.items())
    if (k != "input_shape" && k != "layers" && k != "format" && k != "comment")
      throw bad("unknown key \"" + k + "\"");
  const json& is = j["input_shape"];
  if (!is.is_array() || (is.size() != 1 && is.size() != 3))
    throw bad("\"input_shape\" is " + is.dump() + ", expected [C, H, W] or [D]");
  std::vector<Eigen::Index> dims;
  for (const auto& d : is) {
    if (!d.is_number_integer() || d.get<long long>() < 1)
      throw bad("\"input_shape\" is " + is.dump() + ", expected integers >= 1");
    dims.push_back(static_cast<Eigen::Index>(d.get<long long>()));
  }
  // The input's size must fit the shape arithmetic (overflowed for huge shapes, found by fuzzing).
  long double input_size = 1;
  for (const auto d : dims)
    input_size *= static_cast<long double>(d);
  if (input_size > static_cast<long double>(detail::sequential_layer_reader<Scalar>::max_size))
    throw bad("\"input_shape\" is " + is.dump() + ": more than " +
              std::to_string(detail::sequential_layer_reader<Scalar>::max_size) + " numbers");
  const nn::tensor_shape input = dims.size() == 1
                                     ? nn::tensor_shape::vector(dims[0])
                                     : nn::tensor_shape::image(dims[0], dims[1], dims[2]);
  const json& ls = j["layers"];
  if (!ls.is_array() || ls.empty())
    throw bad("\"layers\" is not a non-empty array");
  std::vector<nn::layer<Scalar>> layers;
  for (std::size_t k = 0; k < ls.size(); ++k)
    layers.push_back(detail::read_sequential_layer<Scalar>(dir, k, ls[k]));
  try {
    return sequential<Scalar>(input, std::move(layers));
  } catch (const invalid_argument& e) { // shapes that do not chain, named by layer
    throw bad(e.what());
  }
}

/// model.json's content for `model`.
template <class Scalar>
nlohmann::json sequential_json(const sequential<Scalar>& model) {
  using json = nlohmann::json;
  using detail::window_json;
  const auto& in = model.input_shape();
  json j;
  j["input_shape"] = in.flat ? json::array({in.c}) : json::array({in.c, in.h, in.w});
  json ls = json::array();
  for (const auto& l : model.layers()) {
    json o;
    o["type"] = std::string(nn::type_of(l));
    if (const auto* c = std::get_if<nn::conv2d<Scalar>>(&l)) {
      o["in"] = c->in_channels;
      o["out"] = c->out_channels;
      o["kernel"] = window_json<Scalar>(c->kernel_h, c->kernel_w);
      o["stride"] = window_json<Scalar>(c->stride_h, c->stride_w);
      o["padding"] = window_json<Scalar>(c->padding_h, c->padding_w);
    } else if (const auto* p = std::get_if<nn::maxpool2d<Scalar>>(&l)) {
      o["kernel"] = window_json<Scalar>(p->kernel_h, p->kernel_w);
      o["stride"] = window_json<Scalar>(p->stride_h, p->stride_w);
      o["padding"] = window_json<Scalar>(p->padding_h, p->padding_w);
    } else if (const auto* f = std::get_if<nn::linear<Scalar>>(&l)) {
      o["in"] = f->in_features();
      o["out"] = f->out_features();
    } else if (const auto* n = std::get_if<nn::normalize<Scalar>>(&l)) {
      o["mean"] = std::vector<double>(n->mean.data(), n->mean.data() + n->mean.size());
      o["std"] = std::vector<double>(n->std.data(), n->std.data() + n->std.size());
    }
    ls.push_back(std::move(o));
  }
  j["layers"] = std::move(ls);
  return j;
}

/// Writes `model` to `dir` (model.json + layer_<j>.weight/bias.npy in Scalar's precision),
/// replacing the directory atomically: a crash mid-write leaves the previous content intact.
template <class Scalar>
void save_sequential(const std::filesystem::path& dir, const sequential<Scalar>& model) {
  using detail::write_npy_array;
  const std::string text = sequential_json(model).dump(2) + "\n";
  detail::replace_directory_atomically(dir, [&](const std::filesystem::path& tmp) {
    {
      std::ofstream os(tmp / "model.json", std::ios::binary);
      os << text;
      os.flush();
      if (!os)
        throw data_error(detail::message("cannot write '", (tmp / "model.json").string(), "'"));
    }
    const auto& layers = model.layers();
    for (std::size_t j = 0; j < layers.size(); ++j) {
      const auto out_dir = tmp;
      if (const auto* c = std::get_if<nn::conv2d<Scalar>>(&layers[j])) {
        write_npy_array(out_dir / detail::sequential_weight_file(j), c->weight.data(),
                        {std::size_t(c->out_channels), std::size_t(c->in_channels),
                         std::size_t(c->kernel_h), std::size_t(c->kernel_w)});
        write_npy_array(out_dir / detail::sequential_bias_file(j), c->bias.data(),
                        {std::size_t(c->out_channels)});
      } else if (const auto* f = std::get_if<nn::linear<Scalar>>(&layers[j])) {
        write_npy_array(out_dir / detail::sequential_weight_file(j), f->weight.data(),
                        {std::size_t(f->out_features()), std::size_t(f->in_features())});
        write_npy_array(out_dir / detail::sequential_bias_file(j), f->bias.data(),
                        {std::size_t(f->out_features())});
      }
    }
  });
}

/// Either directory format as a sequential model: model.json present -> load_sequential,
/// otherwise an MLP directory (load_mlp), whose mlp is a sequential model.
template <class Scalar = float>
sequential<Scalar> load_model_directory(const std::filesystem::path& dir) {
  if (std::filesystem::exists(dir / "model.json"))
    return load_sequential<Scalar>(dir);
  return load_mlp<Scalar>(dir);
}

} // namespace misd::eigen
