// tests/test_reliability.cpp -- reliability checks beyond the policy table
// (docs/error_policy.md): numerical robustness at extreme logits, temperatures and float32
// radii; an end-to-end kill test of a model directory write; and the fuzzers' crash
// regressions (tests/data/regressions/<target>/, each asserted with its expected message).
#include <doctest/doctest.h>

#include "misd/eigen/mlp_io.hpp"
#include "misd/eigen/sequential_io.hpp"
#include "misd/io.hpp"
#include "misd/misd.hpp"
#include "radius_settings.hpp"
#include "temp_dir.hpp"

#include <chrono>
#include <cmath>
#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <limits>
#include <string>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>
#include <vector>

namespace fs = std::filesystem;
using misd::host_matrix;

namespace {
/// log softmax(z/T) in long double, the textbook way: an independent reference.
std::vector<long double> reference_log_softmax(const host_matrix& z, Eigen::Index i, double t) {
  long double m = z(i, 0);
  for (Eigen::Index k = 1; k < z.cols(); ++k)
    m = std::max<long double>(m, z(i, k));
  long double s = 0;
  for (Eigen::Index k = 0; k < z.cols(); ++k)
    s += std::exp((static_cast<long double>(z(i, k)) - m) / t);
  std::vector<long double> out;
  for (Eigen::Index k = 0; k < z.cols(); ++k)
    out.push_back((static_cast<long double>(z(i, k)) - m) / t - std::log(s));
  return out;
}

host_matrix extreme_logits() {
  host_matrix z(5, 4);
  z << 1e4, -1e4, 0, 9999,           //
      -1e4, -1e4, -1e4, -1e4 + 1e-3, //
      1e4, 1e4, 1e4, 1e4,            //
      -1e4, 1e4, -1e4, -1e4,         //
      3.0, -2.0, 0.5, 1e4 - 1;
  return z;
}

fs::path regressions() {
  const char* env = std::getenv("MISD_TEST_DATA");
  REQUIRE(env != nullptr);
  return fs::path(env) / "regressions";
}
} // namespace

// ---- Numerical robustness --------------------------------------------------------------

TEST_CASE("ce_gradient at logits of magnitude 1e4 and temperatures 0.2 .. 1000: finite, exact") {
  const host_matrix z = extreme_logits();
  const misd::label_vector y{1, 3, 2, 0, 0};
  for (double t : {0.2, 1.0, 1000.0}) {
    host_matrix g;
    misd::detail::ce_gradient(z, y, t, 1.0, g);
    REQUIRE(g.allFinite());
    for (Eigen::Index i = 0; i < z.rows(); ++i) {
      const auto lp = reference_log_softmax(z, i, t);
      for (Eigen::Index k = 0; k < z.cols(); ++k) {
        const double expected =
            static_cast<double>((std::exp(lp[k]) - (k == y[i] ? 1.0L : 0.0L)) / t);
        CHECK(g(i, k) == doctest::Approx(expected).epsilon(1e-12).scale(1.0 / t));
      }
      CHECK(std::abs(g.row(i).sum()) <= 1e-12 / t); // softmax sums to 1
    }
  }
}

TEST_CASE("ce_upstream_row at any gap, hard and soft targets: a positive multiple of p - t") {
  // Logit gaps from 0.3 to 2e4 against temperatures 0.2 .. 1000; targets hard (on the top
  // class or not) and mixed. Checked against what holds whatever the factor σ is:
  //  * the row sums to (1 − Σ t) / σ = 0;
  //  * off-target entries keep the ratios of the probabilities, p_k / p_j = exp((z_k − z_j)/T);
  //  * at saturated rows (gap / T >= 15) some entry has magnitude >= 1/2 (nothing vanished);
  //  * where long double resolves p − t (gap / T below 15), g σ equals it.
  host_matrix z = extreme_logits();
  host_matrix more(3, 4);
  more << 2.0, 1.7, -0.5, 0.3, //
      40.0, 0.0, -3.0, 2.0,    //
      700.0, 0.0, 699.0, -50.0;
  host_matrix all(z.rows() + more.rows(), 4);
  all << z, more;
  struct target {
    int a, b;
    double w;
  };
  for (double t : {0.2, 1.0, 7.0, 1000.0}) {
    for (Eigen::Index i = 0; i < all.rows(); ++i) {
      Eigen::Index top = 0;
      all.row(i).maxCoeff(&top);
      const int c = static_cast<int>(top), o = c == 0 ? 1 : 0;
      for (const target tg : {target{c, c, 1.0}, target{o, o, 1.0}, target{c, o, 0.7},
                              target{o, c, 0.9}, target{c, o, 1.0}, target{o, c, 0.5}}) {
        CAPTURE(t);
        CAPTURE(i);
        CAPTURE(tg.a);
        CAPTURE(tg.b);
        CAPTURE(tg.w);
        host_matrix g(all.rows(), all.cols());
        const double log_sigma = misd::detail::ce_upstream_row(all, i, tg.a, tg.b, tg.w, t, g);
        REQUIRE(g.row(i).allFinite());
        const double big = g.row(i).cwiseAbs().maxCoeff();
        CHECK(std::abs(g.row(i).sum()) <= 1e-12 * big * all.cols());
        auto tk = [&](Eigen::Index k) {
          return (k == tg.a ? tg.w : 0.0) + (k == tg.b ? 1.0 - tg.w : 0.0);
        };
        for (Eigen::Index k = 0; k < all.cols(); ++k)
          for (Eigen::Index j = 0; j < all.cols(); ++j)
            if (tk(k) == 0 && tk(j) == 0 && g(i, j) > 1e-200 && g(i, k) > 1e-200)
              CHECK(g(i, k) / g(i, j) ==
                    doctest::Approx(std::exp((all(i, k) - all(i, j)) / t)).epsilon(1e-12));
        const auto lp = reference_log_softmax(all, i, t);
        double gap = std::numeric_limits<double>::infinity();
        for (Eigen::Index k = 0; k < all.cols(); ++k)
          if (k != top)
            gap = std::min(gap, (all(i, top) - all(i, k)) / t);
        if (gap >= 15) // saturated: p ≈ onehot(top), and the row is O(1), not 0
          CHECK(big >= 0.5);
        if (gap < 15)
          for (Eigen::Index k = 0; k < all.cols(); ++k)
            CHECK(g(i, k) * std::exp(log_sigma) ==
                  doctest::Approx(static_cast<double>(std::exp(lp[static_cast<std::size_t>(k)]) -
                                                      static_cast<long double>(tk(k))))
                      .epsilon(1e-12)
                      .scale(1e-12));
      }
    }
  }
}

TEST_CASE("confidence_direction_upstream: a positive multiple of the confidence gradient") {
  using misd::score::logit_score;
  host_matrix z(4, 3);
  z << 0.3, -1.2, 0.8, //
      2.0, 1.9, -0.5,  //
      80.0, 0.0, -5.0, // p_top rounds to 1 in double: the plain difference would be 0
      900.0, 0.0, 1.0;
  for (auto s : {logit_score::msr, logit_score::doctor, logit_score::negative_entropy,
                 logit_score::energy, logit_score::max_logit, logit_score::margin}) {
    CAPTURE(misd::score::name(s));
    for (double t : {0.5, 1.0, 3.0}) {
      CAPTURE(t);
      const auto g = misd::score::confidence_gradient(s, z, t);
      const auto d = misd::score::confidence_direction_upstream(s, z, t);
      REQUIRE(d.allFinite());
      for (Eigen::Index i = 0; i < z.rows(); ++i) {
        CAPTURE(i);
        if (i >= 2) // the saturated rows do not vanish
          CHECK(d.row(i).cwiseAbs().maxCoeff() >= 0.5);
        // Where the gradient's entries are representable, d is a positive multiple of it.
        const Eigen::Index top = [&] {
          Eigen::Index k = 0;
          z.row(i).maxCoeff(&k);
          return k;
        }();
        if (std::abs(g(i, top)) > 1e-300) {
          const double ratio = d(i, top) / g(i, top);
          CHECK(ratio > 0);
          for (Eigen::Index k = 0; k < z.cols(); ++k)
            if (std::abs(g(i, k)) > 1e-290)
              CHECK(d(i, k) == doctest::Approx(ratio * g(i, k)).epsilon(1e-9));
        }
      }
    }
  }
  // MSR at a saturated row: ∇ log p_top ∝ (Σ_{k≠top} q_k) e_top − q, q_k = p_k / p_runner-up.
  const auto d = misd::score::confidence_direction_upstream(logit_score::msr, z, 1.0);
  CHECK(d(2, 1) == doctest::Approx(-1.0));
  CHECK(d(2, 2) == doctest::Approx(-std::exp(-5.0)));
  CHECK(d(2, 0) == doctest::Approx(1.0 + std::exp(-5.0)));
}

TEST_CASE("logit scores at logits of magnitude 1e4 and temperatures 0.2 .. 1000: finite, exact") {
  using misd::score::logit_score;
  const host_matrix z = extreme_logits();
  for (double t : {0.2, 1.0, 1000.0}) {
    const auto msr = misd::score::confidence(logit_score::msr, z, t);
    const auto doctor = misd::score::confidence(logit_score::doctor, z, t);
    const auto energy = misd::score::confidence(logit_score::energy, z, t);
    const auto entropy = misd::score::confidence(logit_score::negative_entropy, z, t);
    for (Eigen::Index i = 0; i < z.rows(); ++i) {
      const auto lp = reference_log_softmax(z, i, t);
      long double top = lp[0], sq = 0, h = 0, m = z(i, 0);
      for (Eigen::Index k = 0; k < z.cols(); ++k) {
        top = std::max(top, lp[k]);
        sq += std::exp(2 * lp[k]);
        h += std::exp(lp[k]) * lp[k];
        m = std::max<long double>(m, z(i, k));
      }
      // logsumexp(z/T) = z_top/T - log p_top
      const long double lse = m / t - top;
      INFO("row ", i, " T = ", t);
      CHECK(msr[i] == doctest::Approx(static_cast<double>(top)).epsilon(1e-9).scale(1e-12));
      CHECK(doctor[i] ==
            doctest::Approx(static_cast<double>(std::log(sq))).epsilon(1e-9).scale(1e-12));
      CHECK(energy[i] == doctest::Approx(static_cast<double>(t * lse)).epsilon(1e-12));
      CHECK(entropy[i] == doctest::Approx(static_cast<double>(h)).epsilon(1e-9).scale(1e-12));
    }
    const auto p = misd::score::softmax(z, t);
    REQUIRE(p.allFinite());
    for (Eigen::Index i = 0; i < z.rows(); ++i)
      CHECK(p.row(i).sum() == doctest::Approx(1.0).epsilon(1e-14));
  }
}

TEST_CASE("RR-BS and RR-Fast at temperatures 0.2 and 1000: finite, verified brackets") {
  // Logits scaled up to ~1e4 so that softmax saturates at T = 0.2.
  auto model = misd::eigen::mlp<double>::random({6, 16, 4}, 5);
  for (auto& p : model.parameters())
    for (auto& v : p)
      v *= 60.0;
  const misd::eigen::batch<double> x = (misd::eigen::batch<double>::Random(16, 6).array() + 1) / 2;
  REQUIRE(model.logits(x).cwiseAbs().maxCoeff() > 1e3);
  for (double t : {0.2, 1000.0}) {
    misd_test::radius_settings o;
    o.temperature = t;
    o.box = misd::input_box{0, 1};
    const auto bs = misd::rr_bs(model, x, o);
    const auto fast = misd::rr_fast(model, x, o);
    const auto d = misd::attack_direction(model, x, bs.prediction, {t, {}, false, false});
    misd::label_vector at_lo, at_hi;
    auto predict_at = [&](const misd::host_vector& r, misd::label_vector& out) {
      misd::eigen::batch<double> p = x + (r.asDiagonal() * d);
      p = p.cwiseMax(0.0).cwiseMin(1.0);
      misd::detail::argmax_rows(model.logits(p), out);
    };
    predict_at(bs.lower, at_lo);
    predict_at(bs.upper.unaryExpr([](double v) { return std::isfinite(v) ? v : 0.0; }), at_hi);
    for (std::size_t i = 0; i < bs.size(); ++i) {
      INFO("example ", i, " T = ", t);
      CHECK(std::isfinite(bs.radius[Eigen::Index(i)]));
      CHECK(fast.radius[Eigen::Index(i)] >= 0); // +inf allowed: not_bracketed
      CHECK(at_lo[i] == bs.prediction[i]);
      if (bs.bracketed(i))
        CHECK(at_hi[i] != bs.prediction[i]);
    }
  }
}

TEST_CASE("RR-BS radii at the float32 limits of a [0, 1] box") {
  // Inputs on the box's corners and near float32 epsilon of them; radii from 1e-9 (below
  // float32 resolution at 0.5) to ~5e5 (far past the box, probes saturate at a corner).
  const auto model = misd::eigen::mlp<float>::random({8, 16, 3}, 9);
  misd::eigen::batch<float> x(4, 8);
  const float eps = std::numeric_limits<float>::epsilon();
  x.row(0).setZero();
  x.row(1).setOnes();
  x.row(2) << 0, 1, 0, 1, 0, 1, 0, 1;
  x.row(3).setConstant(1.0f - eps);
  for (double r0 : {1e-9, 1e-6}) {
    misd_test::radius_settings o;
    o.box = misd::input_box{0, 1};
    o.r0 = r0;
    o.budget = 50;
    const auto r = misd::rr_bs(model, x, o);
    const auto d = misd::attack_direction(model, x, r.prediction);
    for (std::size_t i = 0; i < r.size(); ++i) {
      INFO("example ", i, " r0 = ", r0);
      const auto e = Eigen::Index(i);
      CHECK(std::isfinite(r.radius[e]));
      CHECK(r.lower[e] >= r0);
      CHECK(r.lower[e] <= r.radius[e]);
      // The promise: no flip at `lower`, a flip at `upper`, as float32 evaluates them.
      auto flips_at = [&](double t) {
        misd::eigen::batch<float> p = x.row(e) + static_cast<float>(t) * d.row(e);
        p = p.cwiseMax(0.0f).cwiseMin(1.0f);
        misd::label_vector y;
        misd::detail::argmax_rows(model.logits(p).cast<double>(), y);
        return y[0] != r.prediction[i];
      };
      CHECK_FALSE(flips_at(r.lower[e]));
      if (r.bracketed(i)) {
        CHECK(r.upper[e] > r.lower[e]);
        CHECK(flips_at(r.upper[e]));
      } else {
        CHECK(r.upper[e] == std::numeric_limits<double>::infinity());
        CHECK(r.radius[e] == r.lower[e]);
      }
    }
    const auto fast = misd::rr_fast(model, x, o);
    for (std::size_t i = 0; i < fast.size(); ++i)
      CHECK(!std::isnan(fast.radius[Eigen::Index(i)]));
  }
}

// ---- Files are never half-written ------------------------------------------------------

TEST_CASE("a process killed while saving a model directory leaves the previous model loadable") {
  const misd_test::temp_dir root("misd-test-reliability-");
  const fs::path dir = root.path() / "model";
  const auto old_model = misd::eigen::mlp<float>::random({784, 128, 10}, 1);
  const auto new_model = misd::eigen::mlp<float>::random({784, 128, 10}, 2);
  // Kill moments spread over several saves, whatever this disk's fsync costs.
  const auto t0 = std::chrono::steady_clock::now();
  misd::eigen::save_mlp(dir, old_model);
  const auto t_save = std::chrono::steady_clock::now() - t0;
  auto same = [](misd::eigen::mlp<float> a,
                 misd::eigen::mlp<float> b) { // parameters() is non-const
    const auto pa = a.parameters(), pb = b.parameters();
    if (pa.size() != pb.size())
      return false;
    for (std::size_t k = 0; k < pa.size(); ++k)
      if (!std::equal(pa[k].begin(), pa[k].end(), pb[k].begin(), pb[k].end()))
        return false;
    return true;
  };
  int saw_old = 0, saw_new = 0;
  for (int round = 0; round < 8; ++round) {
    int fds[2];
    REQUIRE(::pipe(fds) == 0);
    const pid_t child = ::fork();
    REQUIRE(child >= 0);
    if (child == 0) {
      ::close(fds[0]);
      char c = 'x';
      (void)!::write(fds[1], &c, 1);
      try {
        for (int g = 0;; ++g)
          misd::eigen::save_mlp(dir, g % 2 ? old_model : new_model);
      } catch (...) {
      }
      ::_exit(3);
    }
    ::close(fds[1]);
    char c = 0;
    REQUIRE(::read(fds[0], &c, 1) == 1);
    ::close(fds[0]);
    std::this_thread::sleep_for(t_save * (2 * round + 1) / 4); // 0.25 .. 3.75 saves
    REQUIRE(::kill(child, SIGKILL) == 0);
    int status = 0;
    REQUIRE(::waitpid(child, &status, 0) == child);
    REQUIRE(WIFSIGNALED(status)); // killed mid-way, not finished or crashed by itself
    CHECK(WTERMSIG(status) == SIGKILL);

    // The directory holds one complete model, old or new, and loads.
    const auto loaded = misd::eigen::load_mlp<float>(dir);
    const bool is_old = same(loaded, old_model), is_new = same(loaded, new_model);
    CHECK((is_old || is_new));
    saw_old += is_old;
    saw_new += is_new;
    CHECK(misd::detail::remove_stale_temporaries(dir) <= 2);
    std::size_t entries = 0;
    for ([[maybe_unused]] const auto& e : fs::directory_iterator(root.path()))
      ++entries;
    CHECK(entries == 1); // only "model": no temporary left once cleaned
  }
  MESSAGE("after kills: old model " << saw_old << " times, new model " << saw_new << " times");
  CHECK(saw_new >= 1); // the children did complete saves before some of the kills
}

// ---- Fuzzer crash regressions (tests/data/regressions/<target>/) -----------------------
// Each file is a fuzz input in its target's format (fuzz/fuzz_<target>.cpp); before the
// fix each one crashed (Eigen assertion, UBSan overflow or uncaught std::bad_alloc).

namespace {
std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}
struct regression_dir {
  misd_test::temp_dir dir{"misd-test-regressions-"};
  /// A model directory holding only model.json = the regression file.
  fs::path model(const std::string& name) const {
    const auto d = dir.path() / name;
    fs::create_directories(d);
    std::ofstream(d / "model.json", std::ios::binary)
        << slurp(regressions() / "fuzz_sequential_dir" / name);
    return d;
  }
};
} // namespace

TEST_CASE("regression fuzz_idx: 0 images of 2^32-1 x 2^32-1 pixels is rejected, not asserted") {
  regression_dir r;
  const std::string in = slurp(regressions() / "fuzz_idx" / "images_zero_count_huge_width");
  REQUIRE(in.size() == 17);
  const auto p = r.dir.path() / "images";
  std::ofstream(p, std::ios::binary) << in.substr(1); // byte 0 is the harness's mode (raw images)
  CHECK_THROWS_WITH_AS(misd::data::read_idx_images(p),
                       doctest::Contains("dimensions 0 x 4294967295 x 4294967295 overflow"),
                       misd::data_error);
}

TEST_CASE("regression fuzz_npy: a 0 dimension beside huge ones is rejected, not overflowed") {
  const auto p = regressions() / "fuzz_npy" / "zero_dim_huge_others.npy";
  for (int k = 0; k < 3; ++k)
    CHECK_THROWS_WITH_AS(k == 0   ? (void)misd::data::read_npy_header(p)
                         : k == 1 ? (void)misd::data::read_npy<float>(p)
                                  : (void)misd::data::read_npy_matrix<float>(p),
                         doctest::Contains("product of its non-zero dimensions does not fit"),
                         misd::data_error);
}

TEST_CASE(
    "regression fuzz_sequential_dir: huge sizes in model.json are rejected before allocating") {
  regression_dir r;
  CHECK_THROWS_WITH_AS(
      misd::eigen::load_model_directory<float>(r.model("linear_huge_no_weights")),
      doctest::Contains("layer 0 (linear) \"in\" is 1099511627776, more than 2147483647"),
      misd::data_error);
  CHECK_THROWS_WITH_AS(misd::eigen::load_model_directory<float>(r.model("linear_2e30_no_weights")),
                       doctest::Contains("missing 'layer_0.weight.npy'"), misd::data_error);
  CHECK_THROWS_WITH_AS(misd::eigen::load_model_directory<float>(r.model("input_shape_huge")),
                       doctest::Contains("more than 2147483647 numbers"), misd::data_error);
  CHECK_THROWS_WITH_AS(misd::eigen::load_model_directory<float>(r.model("conv_huge_kernel")),
                       doctest::Contains("more than"), misd::data_error);
}
