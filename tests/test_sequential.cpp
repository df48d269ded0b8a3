// Sequential models (misd/eigen/sequential.hpp, sequential_io.hpp): the roles they satisfy,
// equivalence with misd::eigen::mlp, whole-model gradients, chunking, estimators and
// training on them, save/load, and bad model directories.
#include "misd/eigen/mlp_io.hpp"
#include "misd/eigen/sequential_io.hpp"
#include "misd/gradient_check.hpp"
#include "misd/radius/rr_bs.hpp"
#include "misd/radius/rr_fast.hpp"
#include "misd/train.hpp"
#include "radius_settings.hpp"

#include "temp_dir.hpp"

#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <string>

using namespace misd::eigen;
namespace fs = std::filesystem;

static_assert(misd::Classifier<sequential<float>>);
static_assert(misd::Differentiable<sequential<float>>);
static_assert(misd::Trainable<sequential<float>>);
static_assert(misd::Trainable<sequential<double>>);
static_assert(misd::detail::has_forward_backward<sequential<float>>);

namespace {
using misd_test::temp_dir;

template <class S>
batch<S> noise(Eigen::Index n, Eigen::Index d, std::uint64_t seed) {
  return misd::batch_ops<batch<S>>::uniform_noise(batch<S>(n, d), seed);
}

/// A small CNN with an odd kernel, stride and padding, and a normalisation.
template <class S>
sequential<S> small_cnn(std::uint64_t seed) {
  using namespace nn;
  vector<S> mean(2), sd(2);
  mean << S(0.25), S(-0.5);
  sd << S(0.5), S(2);
  conv2d<S> first(2, 4, 3, 2, 1, 1, 1, 0); // 3x2 kernel, padding (1, 0): 9x7 -> 9x6
  first.weight = noise<S>(4, 12, seed);
  first.bias = noise<S>(4, 1, seed + 1).col(0);
  return sequential<S>(tensor_shape::image(2, 9, 7),
                       {normalize<S>(mean, sd), first, relu<S>{}, maxpool2d<S>(2, 2),
                        conv2d<S>::random(4, 3, 1, 1, 0, seed + 2), relu<S>{}, flatten<S>{},
                        linear<S>::random(3 * 4 * 3, 5, seed + 4)});
}

void write_text(const fs::path& p, const std::string& text) {
  std::ofstream(p) << text;
}
std::string read_text(const fs::path& p) {
  std::ifstream in(p);
  return {std::istreambuf_iterator<char>(in), {}};
}
void replace_in(const fs::path& p, const std::string& from, const std::string& to) {
  std::string t = read_text(p);
  const auto at = t.find(from);
  REQUIRE(at != std::string::npos);
  t.replace(at, from.size(), to);
  write_text(p, t);
}
} // namespace

TEST_CASE("sequential: an mlp's equivalent gives the mlp's logits and gradients") {
  auto m = mlp<double>::random({12, 9, 7, 4}, 3);
  normalization<double> nz{noise<double>(12, 1, 8).col(0),
                           (noise<double>(12, 1, 9).array().abs() + 0.5).matrix().col(0)};
  mlp<double> mn(m.dense_layers(), nz);
  for (mlp<double>* ref : {&m, &mn}) {
    sequential<double> s = to_sequential(*ref);
    CHECK(s.layers().size() == (ref->input_normalization() ? 6u : 5u));
    const batch<double> x = noise<double>(10, 12, 1), g = noise<double>(10, 4, 2);
    CHECK((s.logits(x) - ref->logits(x)).cwiseAbs().maxCoeff() < 1e-14);
    CHECK(s.logits(x).cwiseAbs().maxCoeff() > 1e-2);
    CHECK((s.input_gradient(x, g) - ref->input_gradient(x, g)).cwiseAbs().maxCoeff() < 1e-14);
    // Parameter gradients in mlp's order.
    ref->zero_gradients();
    s.zero_gradients();
    ref->accumulate_gradients(x, g);
    s.accumulate_gradients(x, g);
    auto ga = ref->gradients(), gb = s.gradients();
    auto pa = ref->parameters(), pb = s.parameters();
    REQUIRE(ga.size() == gb.size());
    for (std::size_t k = 0; k < ga.size(); ++k) {
      REQUIRE(ga[k].size() == gb[k].size());
      for (std::size_t i = 0; i < ga[k].size(); ++i) {
        CHECK(pa[k][i] == pb[k][i]);
        CHECK(std::abs(ga[k][i] - gb[k][i]) < 1e-13);
      }
    }
  }
  // float: the same logits as mlp<float>.
  auto mf = mlp<float>::random({784, 32, 10}, 5);
  const auto sf = to_sequential(mf);
  const batch<float> xf = noise<float>(7, 784, 3);
  CHECK((sf.logits(xf) - mf.logits(xf)).cwiseAbs().maxCoeff() <= 1e-6f);
}

TEST_CASE("sequential: whole-model gradients, forward_backward, chunking") {
  auto s = small_cnn<double>(7);
  const batch<double> x = noise<double>(300, 2 * 9 * 7, 4); // > chunk_rows: two chunks
  misd::gradient_check_options o;
  o.step = 1e-6;
  o.tolerance = 1e-5;
  o.samples = 200;
  const auto r = misd::check_input_gradient(s, batch<double>(x.topRows(6)), o);
  CHECK_MESSAGE(r.passed, r.message());
  // Chunked batch == row by row.
  const batch<double> z = s.logits(x);
  for (Eigen::Index i : {0, 255, 256, 299})
    CHECK((s.logits(batch<double>(x.row(i))) - z.row(i)).cwiseAbs().maxCoeff() < 1e-14);
  // forward_backward == logits + accumulate_gradients.
  const batch<double> g = noise<double>(300, 5, 9);
  s.zero_gradients();
  const batch<double> dx1 = s.accumulate_gradients(x, g);
  std::vector<std::vector<double>> first;
  for (auto sp : s.gradients())
    first.emplace_back(sp.begin(), sp.end());
  s.zero_gradients();
  batch<double> seen;
  const batch<double> dx2 = s.forward_backward(x, [&](const batch<double>& zz) {
    seen = zz;
    return g;
  });
  CHECK((seen - z).cwiseAbs().maxCoeff() < 1e-14);
  CHECK((dx1 - dx2).cwiseAbs().maxCoeff() < 1e-13);
  auto second = s.gradients();
  for (std::size_t k = 0; k < first.size(); ++k)
    for (std::size_t i = 0; i < first[k].size(); ++i)
      CHECK(std::abs(first[k][i] - second[k][i]) < 1e-10);
  // Without the input gradient: empty dx, the same parameter gradients.
  s.zero_gradients();
  const auto none = s.forward_backward(
      x, [&](const batch<double>&) { return g; }, false);
  CHECK(none.size() == 0);
  auto third = s.gradients();
  for (std::size_t k = 0; k < first.size(); ++k)
    for (std::size_t i = 0; i < first[k].size(); ++i)
      CHECK(std::abs(first[k][i] - third[k][i]) < 1e-10);
}

TEST_CASE("sequential: estimators and training run unchanged") {
  auto s = small_cnn<float>(3);
  const batch<float> x = (noise<float>(8, 126, 5).array() * 0.5f + 0.5f).matrix();
  misd_test::radius_settings o;
  o.box = misd::input_box{0.0, 1.0};
  const auto bs = misd::rr_bs(s, x, o);
  const auto fast = misd::rr_fast(s, x, o);
  for (Eigen::Index i = 0; i < 8; ++i) {
    CHECK(bs.radius[i] >= 0);
    CHECK(std::isfinite(fast.radius[i]));
  }
  // An MLP and its sequential twin give the same radii.
  auto m = mlp<double>::random({6, 5, 3}, 1);
  auto sq = to_sequential(m);
  const batch<double> xm = noise<double>(5, 6, 2);
  const auto rm = misd::rr_bs(m, xm), rs = misd::rr_bs(sq, xm);
  CHECK((rm.radius - rs.radius).cwiseAbs().maxCoeff() < 1e-9);

  // A few epochs of SGD on a separable toy problem: the CNN learns it.
  const Eigen::Index n = 64;
  batch<float> images = (noise<float>(n, 126, 11).array() * 0.5f + 0.5f).matrix();
  misd::label_vector labels(n);
  for (Eigen::Index i = 0; i < n; ++i) {
    labels[static_cast<std::size_t>(i)] = int(i % 5);
    images.row(i).segment((i % 5) * 12, 12).array() += 1.5f; // class-specific bright stripe
  }
  misd::train::train_options t;
  t.epochs = 15;
  t.batch_size = 16;
  t.learning_rate = 0.1;
  t.warmup_epochs = 0;
  const auto before = misd::train::accuracy(s, {images, labels});
  const auto hist = misd::train::fit(s, {images, labels}, t);
  const auto after = misd::train::accuracy(s, {images, labels});
  CHECK(hist.back().loss < hist.front().loss);
  CHECK(after >= 0.9);
  CHECK(after > before);
}

TEST_CASE("sequential: threads split the rows; training is reproducible for a fixed count") {
  auto one = small_cnn<double>(11);
  auto two = one;
  two.set_threads(2);
  CHECK(two.threads() == 2);
  CHECK_THROWS_AS(two.set_threads(0), misd::invalid_argument);
  const batch<double> x = noise<double>(301, 2 * 9 * 7, 12), g = noise<double>(301, 5, 13);
  CHECK((two.logits(x) - one.logits(x)).cwiseAbs().maxCoeff() < 1e-14);
  CHECK((two.input_gradient(x, g) - one.input_gradient(x, g)).cwiseAbs().maxCoeff() < 1e-14);
  auto train = [&](sequential<double>& m) {
    m.zero_gradients();
    const batch<double> dx = m.forward_backward(x, [&](const batch<double>&) { return g; });
    std::vector<double> flat(dx.data(), dx.data() + dx.size());
    for (auto sp : m.gradients())
      flat.insert(flat.end(), sp.begin(), sp.end());
    return flat;
  };
  const auto a = train(one), b = train(two), c = train(two);
  REQUIRE(a.size() == b.size());
  CHECK(b == c); // bit-identical for the same thread count
  double worst = 0;
  for (std::size_t i = 0; i < a.size(); ++i)
    worst = std::max(worst, std::abs(a[i] - b[i]));
  CHECK(worst < 1e-12);
  // accumulate_gradients across threads == forward_backward across threads
  two.zero_gradients();
  const batch<double> dx = two.accumulate_gradients(x, g);
  std::vector<double> flat(dx.data(), dx.data() + dx.size());
  for (auto sp : two.gradients())
    flat.insert(flat.end(), sp.begin(), sp.end());
  double worst2 = 0;
  for (std::size_t i = 0; i < a.size(); ++i)
    worst2 = std::max(worst2, std::abs(a[i] - flat[i]));
  CHECK(worst2 < 1e-12);
}

namespace {
/// Logits, input gradient and parameter gradients for the upstream g, computed by calling
/// each layer's own forward and backward in turn (no fused blocks): the reference for
/// sequential's fused conv2d-relu-maxpool2d path.
template <class S>
std::vector<S> layer_by_layer(const sequential<S>& m, const batch<S>& x, const batch<S>& g) {
  auto layers = m.layers();
  for (auto& l : layers)
    std::visit([](auto& v) { v.zero_gradients(); }, l);
  std::vector<batch<S>> acts(layers.size() + 1);
  acts[0] = x;
  for (std::size_t j = 0; j < layers.size(); ++j)
    std::visit([&](const auto& l) { l.forward(acts[j], acts[j + 1], m.shapes()[j]); }, layers[j]);
  batch<S> d = g, prev;
  for (std::size_t j = layers.size(); j-- > 0;) {
    std::visit([&](auto& l) { l.backward(acts[j], acts[j + 1], d, &prev, m.shapes()[j], true); },
               layers[j]);
    std::swap(d, prev);
  }
  const batch<S>& z = acts.back();
  std::vector<S> out(z.data(), z.data() + z.size());
  out.insert(out.end(), d.data(), d.data() + d.size());
  for (auto& l : layers) {
    std::vector<std::span<S>> gs;
    std::visit([&](auto& v) { v.append_gradients(gs); }, l);
    for (auto sp : gs)
      out.insert(out.end(), sp.begin(), sp.end());
  }
  return out;
}
template <class S>
std::vector<S> whole_model(sequential<S>& m, const batch<S>& x, const batch<S>& g) {
  m.zero_gradients();
  batch<S> z;
  const batch<S> dx = m.forward_backward(x, [&](const batch<S>& zz) {
    z = zz;
    return g;
  });
  std::vector<S> out(z.data(), z.data() + z.size());
  out.insert(out.end(), dx.data(), dx.data() + dx.size());
  for (auto sp : m.gradients())
    out.insert(out.end(), sp.begin(), sp.end());
  return out;
}
} // namespace

TEST_CASE("sequential: fused conv-relu-maxpool blocks give what the layers give one by one") {
  using namespace nn;
  // Pooling geometries: the vectorised 2x2 path with an odd size (floor drops a row and a
  // column), overlapping windows with padding, and a 2x1 kernel with stride 1.
  const maxpool2d<double> pools[] = {maxpool2d<double>(2, 2), maxpool2d<double>(3, 3, 2, 2, 1, 1),
                                     maxpool2d<double>(2, 1, 1, 1)};
  for (const auto& pool : pools)
    for (const Eigen::Index width : {7, 8}) // odd: the generic path; even: the 2x2 fast path
      for (const bool ties : {false, true}) {
        CAPTURE(pool.kernel_h);
        CAPTURE(width);
        CAPTURE(ties);
        auto conv = conv2d<double>::random(2, 3, 3, 1, 1, 5);
        batch<double> x = noise<double>(5, 2 * 9 * width, 6);
        if (ties) { // small integers: equal values in a window and all-zero (ReLU) windows
          conv.weight = conv.weight.unaryExpr([](double v) { return std::round(4 * v); });
          conv.bias.setConstant(-1);
          x = x.unaryExpr([](double v) { return std::round(2 * v); });
        }
        const tensor_shape in = tensor_shape::image(2, 9, width);
        const auto features = pool.output_shape(conv.output_shape(in)).size();
        sequential<double> m(in, {conv, relu<double>{}, pool, flatten<double>{},
                                  linear<double>::random(features, 4, 8)});
        const batch<double> g = noise<double>(5, 4, 9);
        const auto expected = layer_by_layer(m, x, g);
        const auto got = whole_model(m, x, g);
        REQUIRE(got.size() == expected.size());
        // The same operations, but sums may run in another order (gradients of overlapping
        // windows; Eigen's vectorised bias sums depend on the buffer's alignment), so equal to
        // rounding: 1e-13 relative to the largest entry.
        double scale = 0, worst = 0;
        std::size_t worst_at = 0;
        for (std::size_t k = 0; k < got.size(); ++k) {
          scale = std::max(scale, std::abs(expected[k]));
          if (std::abs(got[k] - expected[k]) > worst) {
            worst = std::abs(got[k] - expected[k]);
            worst_at = k;
          }
        }
        CAPTURE(worst_at);
        CHECK(worst <= 1e-13 * scale);
      }
}

TEST_CASE("sequential: default_cnn") {
  const auto m = default_cnn<float>(0);
  CHECK(m.input_size() == 784);
  CHECK(m.classes() == 10);
  CHECK(m.shapes()[5] == nn::tensor_shape::image(32, 14, 14));
  CHECK(m.shapes()[9] == nn::tensor_shape::vector(3136));
  std::size_t count = 0;
  for (auto sp : const_cast<sequential<float>&>(m).parameters())
    count += sp.size();
  CHECK(count == 160 + 4640 + 18496 + 401536 + 1290);
  // Different seeds, different weights; same seed, same weights.
  const batch<float> x = noise<float>(2, 784, 1);
  CHECK((default_cnn<float>(0).logits(x) - m.logits(x)).cwiseAbs().maxCoeff() == 0.0f);
  CHECK((default_cnn<float>(1).logits(x) - m.logits(x)).cwiseAbs().maxCoeff() > 0.0f);
}

TEST_CASE("sequential_io: save and load give bit-identical logits; MLP directories load too") {
  temp_dir t{"misd-test-sequential-"};
  const auto m = small_cnn<float>(9);
  save_sequential(t.path() / "m", m);
  CHECK(fs::exists(t.path() / "m" / "layer_1.weight.npy"));
  CHECK(fs::exists(t.path() / "m" / "layer_7.bias.npy"));
  const auto back = load_model_directory<float>(t.path() / "m");
  const batch<float> x = noise<float>(6, 126, 3);
  CHECK((back.logits(x).array() == m.logits(x).array()).all());
  // Saving again replaces the directory atomically and leaves nothing beside it.
  save_sequential(t.path() / "m", default_cnn<float>(2));
  CHECK(load_model_directory<float>(t.path() / "m").classes() == 10);
  std::size_t entries = 0;
  for ([[maybe_unused]] const auto& e : fs::directory_iterator(t.path()))
    ++entries;
  CHECK(entries == 1);
  // double models round-trip in float64.
  const auto md = small_cnn<double>(4);
  save_sequential(t.path() / "d", md);
  const batch<double> xd = noise<double>(3, 126, 5);
  CHECK(
      (load_sequential<double>(t.path() / "d").logits(xd).array() == md.logits(xd).array()).all());
  // An MLP directory loads as its sequential equivalent.
  const auto mm = mlp<float>::random({20, 7, 3}, 2);
  save_mlp(t.path() / "mlp", mm);
  const auto sm = load_model_directory<float>(t.path() / "mlp");
  const batch<float> xm = noise<float>(4, 20, 1);
  CHECK((sm.logits(xm) - mm.logits(xm)).cwiseAbs().maxCoeff() <= 1e-6f);
}

TEST_CASE("sequential_io: bad model directories are clear errors naming the layer") {
  temp_dir t{"misd-test-sequential-"};
  const auto m = small_cnn<float>(1);
  const fs::path d = t.path() / "m";
  auto fresh = [&] { save_sequential(d, m); };
  auto fails_with = [&](const std::string& needle) {
    CHECK_THROWS_WITH_AS(load_model_directory<float>(d), doctest::Contains(needle.c_str()),
                         misd::data_error);
  };

  fresh(); // model.json says 5 output channels, the arrays hold 4
  replace_in(d / "model.json", "\"out\": 4", "\"out\": 5");
  fails_with("layer 1 (conv2d)");
  fresh();
  replace_in(d / "model.json", "\"out\": 4", "\"out\": 5");
  fails_with("layer_1.weight.npy");

  fresh(); // unknown layer type
  replace_in(d / "model.json", "\"flatten\"", "\"flattn\"");
  fails_with("layer 6 (flattn) has an unknown type");

  fresh(); // shapes that do not chain: the linear layer takes 36, gets 35
  replace_in(d / "model.json", "\"in\": 36", "\"in\": 35");
  fails_with("layer 7 (linear)");

  fresh(); // missing parameter file
  fs::remove(d / "layer_4.bias.npy");
  fails_with("missing 'layer_4.bias.npy'");

  fresh(); // zero and negative sizes
  replace_in(d / "model.json", "\"kernel\": [\n        3,\n        2\n      ]", "\"kernel\": 0");
  fails_with("layer 1 (conv2d) \"kernel\" is 0");
  fresh();
  replace_in(d / "model.json", "\"in\": 36", "\"in\": -36");
  fails_with("layer 7 (linear) \"in\" is -36");

  fresh(); // unknown key, and a parameter file for a layer without parameters
  replace_in(d / "model.json", "\"type\": \"relu\"", "\"type\": \"relu\", \"inplace\": true");
  fails_with("unknown key \"inplace\"");
  fresh();
  fs::copy_file(d / "layer_1.bias.npy", d / "layer_2.bias.npy");
  fails_with("layer 2 (relu) has no parameters");

  fresh(); // no flat output
  replace_in(d / "model.json", "{\n      \"type\": \"flatten\"\n    },", "");
  fails_with("layer 6 (linear)");

  fresh();
  write_text(d / "model.json", "{\"input_shape\": [2, 9, 7], \"layers\": [");
  fails_with("not valid JSON");
  write_text(d / "model.json", "{\"input_shape\": [2, 0, 7], \"layers\": []}");
  fails_with("input_shape");

  CHECK_THROWS_AS(load_model_directory<float>(t.path() / "nothing"), misd::data_error);
  // The constructor rejects shapes that do not chain, naming both layers' positions.
  using namespace nn;
  CHECK_THROWS_WITH_AS(sequential<float>(tensor_shape::image(1, 8, 8),
                                         {conv2d<float>(1, 2, 3, 3), conv2d<float>(3, 2, 3, 3)}),
                       doctest::Contains("layer 1 (conv2d) after an output [2, 6, 6]"),
                       misd::invalid_argument);
  CHECK_THROWS_AS(sequential<float>(tensor_shape::image(1, 8, 8), {}), misd::invalid_argument);
}
