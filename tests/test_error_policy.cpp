// tests/test_error_policy.cpp -- docs/error_policy.md, row by row: one TEST_CASE per row
// of the policy table (the row's id opens the test name), asserting the exception type and
// a message substring, or the flag the row promises. The CLI rows are in
// tests/test_cli_policy.cpp (they need the misd tool).
#include <doctest/doctest.h>

#include "misd/eigen/mlp_io.hpp"
#include "misd/eigen/sequential_io.hpp"
#include "misd/io.hpp"
#include "misd/misd.hpp"
#include "radius_settings.hpp"
#include "temp_dir.hpp"

#include <cmath>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <functional>
#include <limits>
#include <string>
#include <vector>

namespace fs = std::filesystem;
using batch = misd::eigen::batch<double>;
using reals = std::vector<double>;
using bytes = std::vector<std::uint8_t>;

namespace {
constexpr double nan_v = std::numeric_limits<double>::quiet_NaN();
constexpr double inf = std::numeric_limits<double>::infinity();

/// A model whose logits and input gradient are whatever the test says.
struct stub_model {
  using batch_type = batch;
  std::function<batch(const batch&)> f;
  std::function<batch(const batch&, const batch&)> g = [](const batch& x, const batch&) {
    return batch(batch::Ones(x.rows(), x.cols()));
  };
  batch logits(const batch& x) const { return f(x); }
  batch input_gradient(const batch& x, const batch& up) const { return g(x, up); }
};

/// A well-behaved 3-class linear model on 4 features.
misd::eigen::linear<double> good_model() {
  batch w(3, 4);
  w << 1, -1, 0.5, 0, -0.5, 1, 0, 1, 0, 0.25, -1, 0.5;
  return misd::eigen::linear<double>(w, Eigen::Vector3d(0.1, -0.2, 0.0));
}
batch inputs() {
  return batch::Constant(3, 4, 0.5);
}

struct scratch_dir {
  misd_test::temp_dir dir{"misd-test-error-policy-"};
  fs::path file(const std::string& name, const std::string& content) const {
    const auto p = dir.path() / name;
    std::ofstream(p, std::ios::binary) << content;
    return p;
  }
};

std::string npy_bytes(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}
} // namespace

// ---- Radius estimators and attacks -----------------------------------------------------

TEST_CASE("R1 empty batch: invalid_argument naming the estimator") {
  auto m = good_model();
  const batch x(0, 4);
  CHECK_THROWS_WITH_AS(misd::rr_bs(m, x), doctest::Contains("rr_bs: empty batch (0 examples)"),
                       misd::invalid_argument);
  CHECK_THROWS_WITH_AS(misd::rr_fast(m, x), doctest::Contains("rr_fast: empty batch"),
                       misd::invalid_argument);
  CHECK_THROWS_WITH_AS(misd::rr_bs_pgd(m, x), doctest::Contains("rr_bs_pgd: empty batch"),
                       misd::invalid_argument);
  CHECK_THROWS_WITH_AS(misd::attack_direction(m, x, {}), doctest::Contains("empty batch"),
                       misd::invalid_argument);
}

TEST_CASE("R2 examples with 0 features: invalid_argument naming the count") {
  stub_model m{[](const batch& x) { return batch(batch::Zero(x.rows(), 2)); }};
  const batch x(3, 0);
  CHECK_THROWS_WITH_AS(misd::rr_bs(m, x),
                       doctest::Contains("batch of 3 examples with 0 numbers each"),
                       misd::invalid_argument);
}

TEST_CASE("R3 non-finite input: data_error naming example and feature") {
  auto m = good_model();
  batch x = inputs();
  x(1, 2) = nan_v;
  CHECK_THROWS_WITH_AS(misd::rr_fast(m, x),
                       doctest::Contains("rr_fast: input of example 1 is not finite (feature 2"),
                       misd::data_error);
  x(1, 2) = inf;
  CHECK_THROWS_WITH_AS(misd::rr_bs(m, x), doctest::Contains("input of example 1 is not finite"),
                       misd::data_error);
  CHECK_THROWS_WITH_AS(misd::rr_bs_pgd(m, x), doctest::Contains("input of example 1"),
                       misd::data_error);
  CHECK_THROWS_WITH_AS(misd::attack_direction(m, x, {0, 0, 0}),
                       doctest::Contains("input of example 1"), misd::data_error);
}

TEST_CASE("R4 non-finite clean logits: data_error naming example and class") {
  stub_model m{[](const batch& x) {
    batch z = batch::Zero(x.rows(), 3);
    z(2, 1) = nan_v;
    return z;
  }};
  CHECK_THROWS_WITH_AS(misd::rr_bs(m, inputs()),
                       doctest::Contains("logits of example 2 is not finite (column 1"),
                       misd::data_error);
  CHECK_THROWS_WITH_AS(misd::rr_fast(m, inputs()), doctest::Contains("logits of example 2"),
                       misd::data_error);
}

TEST_CASE("R5 non-finite logits at a probe: data_error naming the probe and example") {
  // Finite at the clean input (x = 0.5), infinite once a probe moves it.
  stub_model m{[](const batch& x) {
    batch z(x.rows(), 2);
    for (Eigen::Index i = 0; i < x.rows(); ++i) {
      z(i, 0) = x(i, 0) == 0.5 ? 1.0 : inf;
      z(i, 1) = 0.0;
    }
    return z;
  }};
  CHECK_THROWS_WITH_AS(misd::rr_bs(m, inputs()),
                       doctest::Contains("logits at a ray point of example 0 is not finite"),
                       misd::data_error);
  CHECK_THROWS_WITH_AS(misd::rr_fast(m, inputs()), doctest::Contains("logits at a ray point"),
                       misd::data_error);
}

TEST_CASE("R6 logits of the wrong shape: invalid_argument naming both shapes") {
  stub_model one_class{[](const batch& x) { return batch(batch::Zero(x.rows(), 1)); }};
  CHECK_THROWS_WITH_AS(misd::rr_fast(one_class, inputs()),
                       doctest::Contains("model returned logits of 3 x 1 for a batch of 3"),
                       misd::invalid_argument);
  stub_model short_rows{[](const batch&) { return batch(batch::Zero(2, 3)); }};
  CHECK_THROWS_WITH_AS(misd::rr_bs(short_rows, inputs()),
                       doctest::Contains("model returned logits of 2 x 3 for a batch of 3"),
                       misd::invalid_argument);
}

TEST_CASE("R7 input gradient of the wrong shape: invalid_argument naming both shapes") {
  stub_model m{[](const batch& x) { return batch(batch::Zero(x.rows(), 3)); },
               [](const batch& x, const batch&) { return batch(batch::Ones(x.rows(), 5)); }};
  CHECK_THROWS_WITH_AS(
      misd::rr_bs(m, inputs()),
      doctest::Contains("input_gradient returned 3 x 5 for an input batch of 3 x 4"),
      misd::invalid_argument);
}

TEST_CASE("R8 zero attack direction (flat model): flag zero_direction, radius 0") {
  misd::eigen::linear<double> flat(batch::Zero(3, 4), Eigen::Vector3d(0.0, 1.0, 0.5));
  misd_test::radius_settings o;
  o.budget = 4;
  misd_test::radius_settings random_start = o;
  random_start.pgd_random_start = true;
  for (const auto& r :
       {misd::rr_bs(flat, inputs()), misd::rr_fast(flat, inputs()),
        misd::rr_bs_pgd(flat, inputs(), o), misd::rr_bs_pgd(flat, inputs(), random_start)}) {
    for (std::size_t i = 0; i < r.size(); ++i) {
      CHECK(r.status[i] == misd::radius_status::zero_direction);
      CHECK(r.radius[Eigen::Index(i)] == 0.0);
      CHECK(r.lower[Eigen::Index(i)] == 0.0);
      CHECK(r.upper[Eigen::Index(i)] == inf);
      CHECK(r.prediction[i] == 1);
    }
  }
}

TEST_CASE("R9 no flip within the budget or the cap: flag not_bracketed, radius = lower bound") {
  auto m = good_model();
  misd_test::radius_settings o;
  o.budget = 3; // probes at r0 and 2 r0: far below any crossing
  const auto r = misd::rr_bs(m, inputs(), o);
  for (std::size_t i = 0; i < r.size(); ++i) {
    CHECK(r.status[i] == misd::radius_status::not_bracketed);
    CHECK(r.radius[Eigen::Index(i)] == doctest::Approx(2 * o.r0));
    CHECK(r.upper[Eigen::Index(i)] == inf);
  }
  o.budget = 25;
  o.max_radius = 1e-5;
  const auto capped = misd::rr_bs(m, inputs(), o);
  CHECK(capped.status[0] == misd::radius_status::not_bracketed);
  CHECK(capped.radius[0] == 1e-5);
}

TEST_CASE("R10 RR-Fast with no closing margin: flag not_bracketed, radius = max_radius") {
  // Moving along the direction (+1 everywhere: the stub's gradient) only widens the
  // predicted class's lead, so no linearised gap closes.
  stub_model widening{[](const batch& x) {
    batch z(x.rows(), 2);
    z.col(0) = (x.rowwise().sum().array() + 1.0).matrix();
    z.col(1).setZero();
    return z;
  }};
  const auto r = misd::rr_fast(widening, inputs());
  for (std::size_t i = 0; i < r.size(); ++i) {
    CHECK(r.status[i] == misd::radius_status::not_bracketed);
    CHECK(r.radius[Eigen::Index(i)] == inf);
  }
  misd_test::radius_settings o;
  o.max_radius = 3.0;
  CHECK(misd::rr_fast(widening, inputs(), o).radius[0] == 3.0);
}

TEST_CASE("R11 options out of range: invalid_argument naming the option and value") {
  auto m = good_model();
  misd_test::radius_settings o;
  o.budget = 0;
  CHECK_THROWS_WITH_AS(misd::rr_bs(m, inputs(), o), doctest::Contains("budget = 0 must be >= 1"),
                       misd::invalid_argument);
  o = {};
  o.temperature = 0;
  CHECK_THROWS_WITH_AS(misd::rr_fast(m, inputs(), o), doctest::Contains("temperature = 0"),
                       misd::invalid_argument);
  o = {};
  o.temperature = inf;
  CHECK_THROWS_AS(misd::rr_fast(m, inputs(), o), misd::invalid_argument);
  o = {};
  o.box = misd::input_box{1, 0};
  CHECK_THROWS_WITH_AS(misd::rr_bs(m, inputs(), o), doctest::Contains("input box [1, 0]"),
                       misd::invalid_argument);
}

TEST_CASE("R12 label count differs from the batch: invalid_argument naming both sizes") {
  auto m = good_model();
  CHECK_THROWS_WITH_AS(misd::attack_direction(m, inputs(), {0, 1}),
                       doctest::Contains("attack_direction: 2 labels for a batch of 3 examples"),
                       misd::invalid_argument);
  CHECK_THROWS_WITH_AS(misd::fgsm(m, inputs(), {0, 1, 2, 0}, 0.1),
                       doctest::Contains("4 labels for a batch of 3"), misd::invalid_argument);
}

TEST_CASE("R13 label outside [0, K): invalid_argument naming example and label") {
  auto m = good_model();
  CHECK_THROWS_WITH_AS(misd::attack_direction(m, inputs(), {0, 3, 1}),
                       doctest::Contains("label 3 of example 1 is outside [0, 3)"),
                       misd::invalid_argument);
  CHECK_THROWS_WITH_AS(misd::pgd(m, inputs(), {-1, 0, 0}, 0.1),
                       doctest::Contains("label -1 of example 0"), misd::invalid_argument);
}

TEST_CASE("R14 attack radius negative, non-finite or of the wrong count: invalid_argument") {
  auto m = good_model();
  CHECK_THROWS_WITH_AS(misd::fgsm(m, inputs(), {0, 0, 0}, Eigen::Vector3d(0.1, -0.1, 0.1)),
                       doctest::Contains("radius -0.1 of example 1"), misd::invalid_argument);
  CHECK_THROWS_WITH_AS(misd::fgsm(m, inputs(), {0, 0, 0}, nan_v),
                       doctest::Contains("of example 0 is not finite"), misd::invalid_argument);
  CHECK_THROWS_WITH_AS(misd::fgsm(m, inputs(), {0, 0, 0}, Eigen::Vector2d(0.1, 0.1)),
                       doctest::Contains("2 radii for a batch of 3"), misd::invalid_argument);
}

TEST_CASE("R15 input width differs from the model's: invalid_argument naming both widths") {
  const auto m = misd::eigen::mlp<double>::random({4, 5, 3}, 1);
  CHECK_THROWS_WITH_AS(misd::rr_bs(m, batch(batch::Zero(2, 7))),
                       doctest::Contains("mlp: batch has 7"), misd::invalid_argument);
}

TEST_CASE("R16 non-finite input gradient: data_error naming example and feature, never a radius") {
  // The model says its gradient is NaN (or ±inf) at example 2, feature 3; a sign taken
  // before the check would read NaN as a 0 step and report a radius.
  for (double bad : {nan_v, inf, -inf}) {
    CAPTURE(bad);
    const auto lin = good_model();
    stub_model m{[&](const batch& x) { return lin.logits(x); },
                 [&](const batch& x, const batch& up) {
                   batch g = lin.input_gradient(x, up);
                   g(2, 3) = bad;
                   return g;
                 }};
    batch x = inputs();
    x(2, 0) = 0.9; // three different examples
    x(1, 1) = 0.1;
    const misd::label_vector y{0, 0, 0};
    const auto needle = doctest::Contains("input gradient of example 2 is not finite (feature 3");
    misd_test::radius_settings o;
    o.budget = 3;
    CHECK_THROWS_WITH_AS(misd::rr_bs(m, x, o), needle, misd::data_error);
    CHECK_THROWS_WITH_AS(misd::rr_fast(m, x, o), needle, misd::data_error);
    CHECK_THROWS_WITH_AS(misd::rr_refine(m, x, o), needle, misd::data_error);
    CHECK_THROWS_WITH_AS(misd::rr_bs_pgd(m, x, o), needle, misd::data_error);
    CHECK_THROWS_WITH_AS(misd::fgsm(m, x, y, 0.1), needle, misd::data_error);
    CHECK_THROWS_WITH_AS(misd::pgd(m, x, y, 0.1), needle, misd::data_error);
  }
}

// ---- Scores ----------------------------------------------------------------------------

TEST_CASE("S1 scores of an empty batch: invalid_argument") {
  using misd::score::logit_score;
  CHECK_THROWS_WITH_AS(misd::score::confidence(logit_score::msr, misd::host_matrix(0, 3)),
                       doctest::Contains("msr: empty batch (0 examples)"), misd::invalid_argument);
}

TEST_CASE("S2 scores of fewer than 2 classes: invalid_argument") {
  using misd::score::logit_score;
  CHECK_THROWS_WITH_AS(misd::score::confidence(logit_score::energy, misd::host_matrix::Ones(2, 1)),
                       doctest::Contains("logits have 1 columns, at least 2 classes"),
                       misd::invalid_argument);
}

TEST_CASE("S3 scores of non-finite logits: data_error naming example and class") {
  using misd::score::logit_score;
  misd::host_matrix z = misd::host_matrix::Zero(3, 4);
  z(1, 3) = -inf;
  for (auto s : {logit_score::msr, logit_score::doctor, logit_score::max_logit, logit_score::energy,
                 logit_score::negative_entropy, logit_score::margin})
    CHECK_THROWS_WITH_AS(misd::score::confidence(s, z),
                         doctest::Contains("logit of example 1 is not finite (column 3"),
                         misd::data_error);
}

TEST_CASE("S4 score temperature not finite and > 0: invalid_argument") {
  using misd::score::logit_score;
  const misd::host_matrix z = misd::host_matrix::Identity(2, 2);
  for (double t : {0.0, -1.0, nan_v, inf})
    CHECK_THROWS_WITH_AS(misd::score::confidence(logit_score::msr, z, t),
                         doctest::Contains("must be finite and > 0"), misd::invalid_argument);
}

// ---- Metrics ---------------------------------------------------------------------------

TEST_CASE("M1 metric inputs of different lengths: invalid_argument naming both sizes") {
  CHECK_THROWS_WITH_AS(misd::metric::auroc(reals{1, 2, 3}, bytes{1, 0}),
                       doctest::Contains("confidence has 3 elements but correct has 2"),
                       misd::invalid_argument);
}

TEST_CASE("M2 empty metric input: invalid_argument") {
  CHECK_THROWS_WITH_AS(misd::metric::aurc(reals{}, bytes{}), doctest::Contains("empty input"),
                       misd::invalid_argument);
}

TEST_CASE("M3 NaN confidence: data_error naming the index") {
  CHECK_THROWS_WITH_AS(misd::metric::auroc(reals{1, nan_v, 3}, bytes{1, 0, 1}),
                       doctest::Contains("confidence[1] is NaN"), misd::data_error);
}

TEST_CASE("M4 infinite confidences are valid and rank at the ends") {
  const auto v = misd::metric::auroc(reals{inf, -inf, 1.0, 0.0}, bytes{1, 0, 1, 0});
  REQUIRE(v.defined());
  CHECK(*v == 1.0);
}

TEST_CASE("M5 correctness not 0/1: data_error naming the index and value") {
  CHECK_THROWS_WITH_AS(misd::metric::aurc(reals{1, 2}, bytes{1, 2}),
                       doctest::Contains("correct[1] = 2, expected 0 or 1"), misd::data_error);
}

TEST_CASE("M6 no misclassified examples: AUROC, AUPR, FPR95 undefined with the reason") {
  const reals c{0.1, 0.5, 0.9};
  const bytes all_correct{1, 1, 1};
  for (const auto& v :
       {misd::metric::auroc(c, all_correct), misd::metric::fpr_at_tpr(c, all_correct),
        misd::metric::aupr_error(c, all_correct)}) {
    CHECK_FALSE(v.defined());
    CHECK(v.reason.find("no misclassified examples (all 3 correct)") != std::string::npos);
    CHECK_THROWS_WITH_AS((void)*v, doctest::Contains("undefined metric"), misd::undefined_metric);
  }
}

TEST_CASE("M7 no correct examples: AUROC, FPR95 undefined with the reason") {
  const reals c{0.1, 0.5};
  const bytes none{0, 0};
  for (const auto& v : {misd::metric::auroc(c, none), misd::metric::fpr_at_tpr(c, none)}) {
    CHECK_FALSE(v.defined());
    CHECK(v.reason.find("no correct examples (all 2 misclassified)") != std::string::npos);
  }
}

TEST_CASE("M8 ROC curve of a single class: undefined_metric") {
  CHECK_THROWS_WITH_AS(misd::metric::roc_curve(reals{1, 2}, bytes{1, 1}),
                       doctest::Contains("the ROC curve is undefined"), misd::undefined_metric);
}

TEST_CASE("M9 AURC and E-AURC of a single class are defined") {
  CHECK(misd::metric::aurc(reals{1, 2}, bytes{1, 1}) == 0.0);
  CHECK(misd::metric::eaurc(reals{1, 2}, bytes{1, 1}) == 0.0);
  CHECK(misd::metric::aurc(reals{1, 2}, bytes{0, 0}) == 1.0);
  CHECK(misd::metric::eaurc(reals{1, 2}, bytes{0, 0}) == 0.0);
}

TEST_CASE("M10 metric rate or fraction out of range: invalid_argument") {
  CHECK_THROWS_WITH_AS(misd::metric::fpr_at_tpr(reals{1, 2}, bytes{1, 0}, 0.0),
                       doctest::Contains("tpr = 0 must lie in (0, 1]"), misd::invalid_argument);
  CHECK_THROWS_WITH_AS(misd::metric::coverage_at_risk(reals{1, 2}, bytes{1, 0}, 1.5),
                       doctest::Contains("risk = 1.5 must lie in [0, 1]"), misd::invalid_argument);
}

TEST_CASE("M11 selective risk never reached: coverage_at_risk undefined with the reason") {
  const auto v = misd::metric::coverage_at_risk(reals{2, 1}, bytes{0, 1}, 0.1);
  CHECK_FALSE(v.defined());
  CHECK(v.reason.find("no confidence threshold reaches it") != std::string::npos);
}

// ---- Files -----------------------------------------------------------------------------

TEST_CASE("F1 NPY with a bad magic: data_error naming the file and offset") {
  scratch_dir s;
  const auto p = s.file("bad.npy", "NOTNPY-and-some-more-bytes");
  CHECK_THROWS_WITH_AS(misd::data::read_npy<float>(p),
                       doctest::Contains("bad magic at byte offset 0"), misd::data_error);
  CHECK_THROWS_WITH_AS(misd::data::read_npy<float>(p), doctest::Contains(p.string().c_str()),
                       misd::data_error);
}

TEST_CASE("F2 NPY truncated: data_error with the expected and found sizes") {
  scratch_dir s;
  const auto good = s.dir.path() / "good.npy";
  const std::size_t shape[2] = {2, 3};
  const std::vector<float> v(6, 1.0f);
  misd::data::write_npy<float>(good, v, shape);
  const auto b = npy_bytes(good);
  const auto p = s.file("short.npy", b.substr(0, b.size() - 4));
  CHECK_THROWS_WITH_AS(misd::data::read_npy<float>(p),
                       doctest::Contains("truncated data: expected 24 bytes"), misd::data_error);
}

TEST_CASE("F3 NPY labels negative or non-integer: data_error naming the index") {
  scratch_dir s;
  const auto p = s.dir.path() / "labels.npy";
  const std::size_t shape[1] = {3};
  misd::data::write_npy<std::int64_t>(p, std::vector<std::int64_t>{0, 4, -2}, shape);
  CHECK_THROWS_WITH_AS(misd::data::read_npy_labels(p), doctest::Contains("index 2"),
                       misd::data_error);
  const auto f = s.dir.path() / "float_labels.npy";
  misd::data::write_npy<float>(f, std::vector<float>{0, 1, 2}, shape);
  CHECK_THROWS_AS(misd::data::read_npy_labels(f), misd::data_error);
}

TEST_CASE("F4 IDX truncated, with a bad magic or trailing bytes: data_error") {
  scratch_dir s;
  const std::string header("\x00\x00\x08\x01\x00\x00\x00\x03", 8);
  CHECK_THROWS_WITH_AS(misd::data::read_idx_labels(s.file("short", header + "\x01")),
                       doctest::Contains("truncated payload: expected 3 bytes"), misd::data_error);
  CHECK_THROWS_WITH_AS(misd::data::read_idx_labels(s.file("long", header + "\x01\x02\x03\x04")),
                       doctest::Contains("trailing bytes"), misd::data_error);
  CHECK_THROWS_WITH_AS(misd::data::read_idx_images(s.file("magic", header + "\x01\x02\x03")),
                       doctest::Contains("bad magic at byte offset 0"), misd::data_error);
}

TEST_CASE("F5 IDX gzip stream corrupt: data_error naming the decompressed position") {
  scratch_dir s;
  // A gzip header followed by garbage deflate data.
  const std::string gz("\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03\xff\xff\xff\xff\xff\xff", 16);
  CHECK_THROWS_WITH_AS(misd::data::read_idx_labels(s.file("bad.gz", gz)),
                       doctest::Contains("gzip error after 0 decompressed bytes"),
                       misd::data_error);
}

TEST_CASE("F6 model directory missing a file: data_error naming the directory and file") {
  scratch_dir s;
  const auto dir = s.dir.path() / "model";
  misd::eigen::save_mlp(dir, misd::eigen::mlp<float>::random({4, 3}, 2));
  fs::remove(dir / "biases_0.npy");
  CHECK_THROWS_WITH_AS(misd::eigen::load_mlp<float>(dir),
                       doctest::Contains("missing 'biases_0.npy'"), misd::data_error);
  CHECK_THROWS_WITH_AS(misd::eigen::load_mlp<float>(s.dir.path() / "nowhere"),
                       doctest::Contains("not a directory"), misd::data_error);
}

TEST_CASE("F7 model arrays that do not chain: data_error with the shape found and expected") {
  scratch_dir s;
  const auto dir = s.dir.path() / "model";
  misd::eigen::save_mlp(dir, misd::eigen::mlp<float>::random({4, 5, 3}, 2));
  fs::copy_file(dir / "weights_0.npy", dir / "weights_1.npy", fs::copy_options::overwrite_existing);
  CHECK_THROWS_WITH_AS(misd::eigen::load_mlp<float>(dir),
                       doctest::Contains("shape (5, 4), expected (*, 5)"), misd::data_error);
}

TEST_CASE("F8 model with non-finite weights: loads, scoring throws data_error") {
  auto m = misd::eigen::mlp<float>::random({4, 3}, 2);
  m.parameters()[0][1] = std::numeric_limits<float>::quiet_NaN();
  scratch_dir s;
  misd::eigen::save_mlp(s.dir.path() / "model", m);
  auto loaded = misd::eigen::load_mlp<float>(s.dir.path() / "model");
  const misd::eigen::batch<float> x = misd::eigen::batch<float>::Constant(2, 4, 0.5f);
  CHECK_THROWS_WITH_AS(misd::rr_fast(loaded, x),
                       doctest::Contains("logits of example 0 is not finite"), misd::data_error);
}

TEST_CASE("F9 model normalisation std of 0: data_error naming the entry") {
  scratch_dir s;
  const auto dir = s.dir.path() / "model";
  misd::eigen::save_mlp(dir, misd::eigen::mlp<float>::random({2, 2}, 2));
  const std::size_t shape[1] = {2};
  misd::data::write_npy<float>(dir / "mean.npy", std::vector<float>{0, 0}, shape);
  misd::data::write_npy<float>(dir / "std.npy", std::vector<float>{1, 0}, shape);
  CHECK_THROWS_WITH_AS(misd::eigen::load_mlp<float>(dir),
                       doctest::Contains("normalisation entry 1"), misd::data_error);
}

TEST_CASE("F10 model.json malformed: data_error naming the file") {
  scratch_dir s;
  const auto dir = s.dir.path() / "seq";
  fs::create_directories(dir);
  std::ofstream(dir / "model.json") << "{\"input_shape\": [4], \"layers\": [";
  CHECK_THROWS_WITH_AS(misd::eigen::load_model_directory<float>(dir),
                       doctest::Contains("is not valid JSON"), misd::data_error);
  std::ofstream(dir / "model.json") << R"({"input_shape": [4], "layers": [{"type": "softmax"}]})";
  CHECK_THROWS_WITH_AS(misd::eigen::load_model_directory<float>(dir),
                       doctest::Contains("layer 0 (softmax) has an unknown type"),
                       misd::data_error);
}
