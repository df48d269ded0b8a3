// tests/test_mlp_io.cpp -- MLP model directories: round trip, bad directories, PyTorch export.
#include "misd/data/npy.hpp"
#include "misd/eigen/mlp_io.hpp"
#include "misd/eigen/sequential_io.hpp"

#include "skip.hpp"
#include "temp_dir.hpp"

#include <doctest/doctest.h>

#include <cstdlib>
#include <filesystem>
#include <string>
#include <system_error>

namespace fs = std::filesystem;
using misd::eigen::batch;
using misd::eigen::mlp;

namespace {
using misd_test::temp_dir;

mlp<float> model_with_norm() {
  auto base = mlp<float>::random({12, 8, 5, 3}, 2);
  misd::eigen::normalization<float> nz{Eigen::VectorXf::LinSpaced(12, 0.1f, 0.4f),
                                       Eigen::VectorXf::LinSpaced(12, 0.5f, 1.5f)};
  return mlp<float>(base.dense_layers(), nz);
}

batch<float> inputs() {
  return misd::batch_ops<batch<float>>::uniform_noise(batch<float>(7, 12), 3);
}

void write_f32(const fs::path& p, std::vector<float> v, std::vector<std::size_t> shape) {
  misd::data::write_npy<float>(p, std::span<const float>(v), std::span<const std::size_t>(shape));
}

std::string load_error(const fs::path& dir) {
  try {
    misd::eigen::load_mlp<float>(dir);
  } catch (const misd::data_error& e) {
    return e.what();
  }
  return "(no error)";
}
} // namespace

TEST_CASE("A saved and loaded MLP gives bit-identical logits; saving replaces the directory") {
  temp_dir t{"misd-test-mlp-io-"};
  const auto dir = t.path() / "model";
  const auto m = model_with_norm();
  misd::eigen::save_mlp(dir, m);
  for (auto f :
       {"weights_0.npy", "biases_0.npy", "weights_2.npy", "biases_2.npy", "mean.npy", "std.npy"})
    CHECK(fs::exists(dir / f));
  CHECK(misd::data::read_npy_header(dir / "weights_1.npy").shape == std::vector<std::size_t>{5, 8});
  CHECK(misd::data::read_npy_header(dir / "weights_1.npy").descr == "<f4");
  const auto back = misd::eigen::load_mlp<float>(dir);
  const auto x = inputs();
  CHECK((back.logits(x).array() == m.logits(x).array()).all());

  // Replacing a model with a smaller one leaves none of the old files behind.
  misd::eigen::save_mlp(dir, mlp<float>::random({12, 3}, 4));
  CHECK(!fs::exists(dir / "weights_1.npy"));
  CHECK(!fs::exists(dir / "mean.npy"));
  CHECK(misd::eigen::load_mlp<float>(dir).layers().size() == 1);
  std::size_t entries = 0;
  for ([[maybe_unused]] auto& e : fs::directory_iterator(t.path()))
    ++entries;
  CHECK(entries == 1); // no temporaries left next to it
}

TEST_CASE("Bad model directories: the file and what was expected") {
  temp_dir t{"misd-test-mlp-io-"};
  const auto dir = t.path() / "model";
  misd::eigen::save_mlp(dir, model_with_norm());

  SUBCASE("missing biases") {
    fs::remove(dir / "biases_1.npy");
    const auto e = load_error(dir);
    CHECK(e.find("biases_1.npy") != std::string::npos);
    CHECK(e.find("1-D vector of 5 entries") != std::string::npos);
  }
  SUBCASE("weights that do not chain") {
    write_f32(dir / "weights_1.npy", std::vector<float>(5 * 9), {5, 9});
    const auto e = load_error(dir);
    CHECK(e.find("weights_1.npy") != std::string::npos);
    CHECK(e.find("(5, 9)") != std::string::npos);
    CHECK(e.find("expected (*, 8)") != std::string::npos);
  }
  SUBCASE("a 1-D weight") {
    write_f32(dir / "weights_0.npy", std::vector<float>(8), {8});
    CHECK(load_error(dir).find("weights_0.npy': shape (8,), expected (*, *)") != std::string::npos);
  }
  SUBCASE("mean without std") {
    fs::remove(dir / "std.npy");
    CHECK(load_error(dir).find("std.npy") != std::string::npos);
  }
  SUBCASE("mean of the wrong length") {
    write_f32(dir / "mean.npy", std::vector<float>(11), {11});
    const auto e = load_error(dir);
    CHECK(e.find("mean.npy") != std::string::npos);
    CHECK(e.find("expected (12,)") != std::string::npos);
  }
  SUBCASE("a zero std entry") {
    write_f32(dir / "std.npy", std::vector<float>(12, 0.0f), {12});
    CHECK(load_error(dir).find("std") != std::string::npos);
  }
  SUBCASE("integer weights") {
    std::vector<std::int32_t> v(8 * 12);
    std::vector<std::size_t> s{8, 12};
    misd::data::write_npy<std::int32_t>(dir / "weights_0.npy", std::span<const std::int32_t>(v),
                                        std::span<const std::size_t>(s));
    CHECK(load_error(dir).find("dtype '<i4'") != std::string::npos);
  }
  SUBCASE("a truncated array") {
    fs::resize_file(dir / "weights_2.npy", fs::file_size(dir / "weights_2.npy") - 4);
    CHECK(load_error(dir).find("weights_2.npy") != std::string::npos);
  }
  SUBCASE("biases without weights") {
    write_f32(dir / "biases_3.npy", std::vector<float>(2), {2});
    CHECK(load_error(dir).find("weights_3.npy' is missing") != std::string::npos);
  }
  SUBCASE("no model at all") {
    CHECK(load_error(t.path() / "nothing").find("not a directory") != std::string::npos);
    fs::create_directories(t.path() / "empty");
    CHECK(load_error(t.path() / "empty").find("weights_0.npy") != std::string::npos);
  }
}

TEST_CASE("An MLP directory loads as a sequential model with the dedicated MLP's results") {
  // tests/data/mlp_format: the logits and input gradients that the MLP class computed before
  // MLPs became sequential models, with exact float arithmetic (see its README.md).
  const char* env = std::getenv("MISD_TEST_DATA");
  REQUIRE(env != nullptr);
  const fs::path data = fs::path(env) / "mlp_format";
  auto read = [&](const char* file) {
    const auto a = misd::data::read_npy_matrix<float>(data / file);
    batch<float> b(a.values.shape(0), a.values.shape(1));
    std::copy(a.values.begin(), a.values.end(), b.data());
    return b;
  };
  const auto x = read("inputs.npy"), g = read("upstream.npy");
  const auto want_z = read("logits.npy"), want_dx = read("input_gradient.npy");
  const auto m = misd::eigen::load_mlp<float>(data / "model");
  const misd::eigen::sequential<float> s = misd::eigen::load_model_directory<float>(data / "model");
  CHECK(s.layers().size() == 6); // normalize, linear, relu, linear, relu, linear
  CHECK((m.logits(x).array() == want_z.array()).all());
  CHECK((s.logits(x).array() == want_z.array()).all());
  CHECK((m.input_gradient(x, g).array() == want_dx.array()).all());
  CHECK((s.input_gradient(x, g).array() == want_dx.array()).all());
  mlp<float>::scratch_type scratch;
  batch<float> z, dx;
  m.logits_into(x, x.rows(), z, scratch);
  m.input_gradient_into(x, g, dx, scratch);
  CHECK((z.array() == want_z.array()).all());
  CHECK((dx.array() == want_dx.array()).all());
}

// CTest test test_mlp_io_torch: skipped (exit 77), never passed, without python3-torch.
TEST_CASE("A PyTorch state_dict exported with NumPy gives torch's logits" *
          doctest::test_suite("torch")) {
  if (!std::filesystem::exists(MISD_TORCH_PYTHON))
    misd_test::skip_test(std::string(MISD_TORCH_PYTHON) + " not found (install python3-torch)");
  temp_dir t{"misd-test-mlp-io-"};
  const std::string cmd = std::string(MISD_TORCH_PYTHON) + " " + MISD_EXPORT_SCRIPT + " '" +
                          t.path().string() + "' 2>&1";
  const int rc = std::system(cmd.c_str());
  if (WIFEXITED(rc) && WEXITSTATUS(rc) == misd_test::skip_exit_code) {
    std::error_code ec;
    std::filesystem::remove_all(t.path(), ec); // skip_test does not return
    misd_test::skip_test(std::string(MISD_TORCH_PYTHON) + " lacks torch or numpy");
  }
  REQUIRE(rc == 0);
  const auto m = misd::eigen::load_mlp<float>(t.path() / "model");
  const auto x = misd::data::read_npy_matrix<float>(t.path() / "x.npy");
  const auto want = misd::data::read_npy_matrix<float>(t.path() / "logits.npy");
  batch<float> xb(x.values.shape(0), x.values.shape(1));
  std::copy(x.values.begin(), x.values.end(), xb.data());
  const batch<float> z = m.logits(xb);
  REQUIRE(z.rows() == 16);
  REQUIRE(z.cols() == 10);
  // Relative to each row's largest logit: float32 sums of 784 products rounded in another
  // order (FMA, vector width) differ by ~1e-7 of their scale, which is a large fraction of
  // a logit that happens to be near zero.
  double worst = 0;
  for (Eigen::Index i = 0; i < z.rows(); ++i) {
    double scale = 0;
    for (Eigen::Index k = 0; k < z.cols(); ++k)
      scale = std::max<double>(scale, std::abs(want.values(std::size_t(i), std::size_t(k))));
    for (Eigen::Index k = 0; k < z.cols(); ++k) {
      const double w = want.values(static_cast<std::size_t>(i), static_cast<std::size_t>(k));
      worst = std::max(worst, std::abs(z(i, k) - w) / scale);
    }
  }
  MESSAGE("largest relative difference to torch: ", worst);
  CHECK(worst < 1e-5);
}
