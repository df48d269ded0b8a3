// tests/test_concurrency.cpp -- one misd::eigen::mlp<float> scored from two threads at once
// (separate calls, separate results) gives exactly the serial results, for RR-BS and
// RR-Fast, and so does the estimators' own threads option; the worker pool they run on.
// Also run under ThreadSanitizer (CMakePresets.json "tsan", cmake/run-tests.sh), which
// reports any data race.
#include <doctest/doctest.h>

#include "misd/misd.hpp"
#include "radius_settings.hpp"

#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <stdexcept>
#include <thread>
#include <vector>

#include <sys/wait.h>
#include <unistd.h>

namespace {
using fbatch = misd::eigen::batch<float>;

void check_same(const misd::radius_result& a, const misd::radius_result& b) {
  REQUIRE(a.size() == b.size());
  CHECK(a.prediction == b.prediction);
  CHECK(a.status == b.status);
  for (Eigen::Index i = 0; i < a.radius.size(); ++i) {
    CHECK(a.radius[i] == b.radius[i]); // bit-identical: same arithmetic, same order
    CHECK(a.lower[i] == b.lower[i]);
    CHECK(a.upper[i] == b.upper[i]);
  }
}
} // namespace

TEST_CASE("two threads scoring one mlp<float> agree with serial scoring (rr_bs, rr_fast)") {
  const auto model = misd::eigen::mlp<float>::random({20, 32, 16, 5}, 7);
  const fbatch xa = (fbatch::Random(24, 20).array() + 1.0f) / 2.0f;
  const fbatch xb = (fbatch::Random(17, 20).array() + 1.0f) / 2.0f;
  misd_test::radius_settings o;
  o.box = misd::input_box{0, 1};

  const auto bs_a = misd::rr_bs(model, xa, o), bs_b = misd::rr_bs(model, xb, o);
  const auto fast_a = misd::rr_fast(model, xa, o), fast_b = misd::rr_fast(model, xb, o);

  for (int round = 0; round < 3; ++round) {
    misd::radius_result t_bs_a, t_bs_b, t_fast_a, t_fast_b;
    std::thread t1([&] {
      t_bs_a = misd::rr_bs(model, xa, o);
      t_fast_b = misd::rr_fast(model, xb, o);
    });
    std::thread t2([&] {
      t_fast_a = misd::rr_fast(model, xa, o);
      t_bs_b = misd::rr_bs(model, xb, o);
    });
    t1.join();
    t2.join();
    check_same(bs_a, t_bs_a);
    check_same(bs_b, t_bs_b);
    check_same(fast_a, t_fast_a);
    check_same(fast_b, t_fast_b);
  }
}

TEST_CASE("the estimators' threads option agrees with one thread") {
  // Row blocks are separate, smaller GEMMs whose float32 logits may differ from the whole
  // batch's in the last bits, so radii agree to a relative 1e-3 (RR-Fast divides logit
  // differences by fd_step = 1e-3); predictions and flags must agree exactly.
  const auto model = misd::eigen::mlp<float>::random({12, 16, 4}, 3);
  const fbatch x = (fbatch::Random(30, 12).array() + 1.0f) / 2.0f;
  misd_test::radius_settings one, three;
  one.box = three.box = misd::input_box{0, 1};
  three.threads = 3;
  for (bool fast : {false, true}) {
    const auto a = fast ? misd::rr_fast(model, x, one) : misd::rr_bs(model, x, one);
    const auto b = fast ? misd::rr_fast(model, x, three) : misd::rr_bs(model, x, three);
    INFO("estimator: ", (fast ? "rr_fast" : "rr_bs"));
    CHECK(a.prediction == b.prediction);
    CHECK(a.status == b.status);
    for (Eigen::Index i = 0; i < a.radius.size(); ++i)
      CHECK(a.radius[i] == doctest::Approx(b.radius[i]).epsilon(1e-3));
  }
}

TEST_CASE("worker_pool: every index once, errors after all tasks, nested and concurrent calls") {
  auto& pool = misd::detail::worker_pool::shared();
  SUBCASE("every index runs exactly once, for many calls in a row") {
    for (std::size_t n = 1; n <= 6; ++n)
      for (int rep = 0; rep < 200; ++rep) {
        std::vector<std::atomic<int>> hits(n);
        auto task = [&](std::size_t i) { hits[i].fetch_add(1); };
        pool.run(n, task);
        for (std::size_t i = 0; i < n; ++i)
          REQUIRE(hits[i].load() == 1);
      }
  }
  SUBCASE("indices run side by side on a worker") {
    // Index 0 (the caller) waits until index 1 has started, which only a worker can do
    // while index 0 is still running; a time limit keeps a broken pool from hanging.
    std::atomic<bool> second_started{false};
    bool overlapped = false;
    auto task = [&](std::size_t i) {
      if (i == 1) {
        second_started = true;
        return;
      }
      const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(20);
      while (!second_started && std::chrono::steady_clock::now() < until)
        std::this_thread::yield();
      overlapped = second_started;
    };
    pool.run(2, task);
    CHECK(overlapped);
  }
  SUBCASE("a task's exception comes back once every task has finished") {
    std::vector<std::atomic<int>> hits(4);
    auto task = [&](std::size_t i) {
      if (i == 2)
        throw std::runtime_error("task 2 failed");
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
      hits[i].fetch_add(1);
    };
    CHECK_THROWS_WITH_AS(pool.run(4, task), "task 2 failed", std::runtime_error);
    CHECK(hits[0] == 1);
    CHECK(hits[1] == 1);
    CHECK(hits[3] == 1);
    std::atomic<int> after{0}; // the pool still works
    auto count = [&](std::size_t) { after.fetch_add(1); };
    pool.run(3, count);
    CHECK(after == 3);
  }
  SUBCASE("a task that runs a parallel call of its own, and four callers at once") {
    std::atomic<int> inner{0};
    auto nested = [&](std::size_t) {
      auto leaf = [&](std::size_t) { inner.fetch_add(1); };
      pool.run(3, leaf);
    };
    pool.run(2, nested);
    CHECK(inner == 6);
    std::atomic<int> total{0};
    std::vector<std::thread> callers;
    for (int c = 0; c < 4; ++c)
      callers.emplace_back([&] {
        for (int rep = 0; rep < 50; ++rep) {
          auto task = [&](std::size_t) { total.fetch_add(1); };
          pool.run(2, task);
        }
      });
    for (auto& t : callers)
      t.join();
    CHECK(total == 4 * 50 * 2);
  }
}

TEST_CASE("worker_pool: a forked child runs parallel calls and exits") {
  // The child inherits the pool's thread handles but not its threads: its calls must
  // finish on the calling thread, and exit() must not wait for the missing workers.
  auto& pool = misd::detail::worker_pool::shared();
  std::atomic<int> hits{0};
  auto task = [&](std::size_t) { hits.fetch_add(1); };
  pool.run(2, task);    // the parent's worker exists
  std::fflush(nullptr); // or the child's exit would write the parent's buffered output again
  const pid_t child = fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    hits = 0;
    pool.run(2, task);
    std::exit(hits == 2 ? 0 : 3);
  }
  int status = 0;
  pid_t done = 0;
  for (int waited = 0; waited < 400 && done == 0; ++waited) { // up to 20 s
    done = waitpid(child, &status, WNOHANG);
    if (done == 0)
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  if (done == 0) {
    kill(child, SIGKILL);
    waitpid(child, &status, 0);
  }
  CHECK(done == child); // it ended on its own
  CHECK(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 0);
}

TEST_CASE("estimators with threads = 2 called from two threads at once, and nested in a "
          "two-thread sequential model, agree with serial calls") {
  auto model = misd::eigen::default_cnn<float>(1);
  model.set_threads(2);
  const fbatch x = (fbatch::Random(16, 784).array() + 1.0f) / 2.0f; // 2 blocks of 8 rows,
  // each split again over the model's 2 threads
  misd_test::radius_settings o;
  o.box = misd::input_box{0, 1};
  o.threads = 2;
  o.budget = 8;
  const auto serial_bs = misd::rr_bs(model, x, o);
  const auto serial_fast = misd::rr_fast(model, x, o);
  misd::radius_result bs, fast;
  std::thread a([&] { bs = misd::rr_bs(model, x, o); });
  std::thread b([&] { fast = misd::rr_fast(model, x, o); });
  a.join();
  b.join();
  check_same(bs, serial_bs);
  check_same(fast, serial_fast);
}
