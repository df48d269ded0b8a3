// misd::torch_backend::process_group (misd/torch/distributed.hpp) with real ranks: child
// processes forked here meet over Gloo on 127.0.0.1 on a port found free by binding port 0.
// The cases that fork come first in the file (doctest runs them in file order), before this
// process starts any thread of its own.
#include "misd/torch.hpp"
#include "misd/train.hpp"

#include <doctest/doctest.h>

#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <string>
#include <thread>
#include <vector>

namespace tb = misd::torch_backend;

namespace {

/// A listening socket on 127.0.0.1 on a free port (kept open: a port in use), or closed
/// right away (a free port to hand to the ranks).
struct socket_on_free_port {
  int fd = -1, port = 0;
  explicit socket_on_free_port(bool listen_on) {
    fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = 0;
    REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
    socklen_t len = sizeof a;
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
    port = ntohs(a.sin_port);
    if (listen_on)
      ::listen(fd, 4);
    else
      close();
  }
  void close() {
    if (fd >= 0)
      ::close(fd);
    fd = -1;
  }
  ~socket_on_free_port() { close(); }
};

tb::distributed_options rank_options(int rank, int world, int port) {
  tb::distributed_options o;
  o.rank = rank;
  o.world_size = world;
  o.master_port = port;
  o.timeout = std::chrono::seconds(10);
  return o;
}

/// body(rank) in `world` forked processes; each one's exit status (128 + signal when killed,
/// 124 when it outlived `limit` and was killed). A child reports failures on stderr and
/// through its status; an exception is status 99.
std::vector<int> run_ranks(int world, const std::function<int(int)>& body,
                           std::chrono::seconds limit = std::chrono::seconds(60)) {
  std::vector<pid_t> pids;
  for (int r = 0; r < world; ++r) {
    const pid_t pid = ::fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
      int rc = 99;
      try {
        rc = body(r);
      } catch (const std::exception& e) {
        std::fprintf(stderr, "rank %d: %s\n", r, e.what());
      }
      std::fflush(stderr);
      std::_Exit(rc);
    }
    pids.push_back(pid);
  }
  std::vector<int> status(pids.size(), -1);
  const auto end = std::chrono::steady_clock::now() + limit;
  for (std::size_t left = pids.size(); left > 0;) {
    for (std::size_t r = 0; r < pids.size(); ++r) {
      if (status[r] != -1)
        continue;
      int s = 0;
      if (::waitpid(pids[r], &s, WNOHANG) == pids[r]) {
        status[r] = WIFEXITED(s) ? WEXITSTATUS(s) : 128 + WTERMSIG(s);
        --left;
      } else if (std::chrono::steady_clock::now() > end) {
        ::kill(pids[r], SIGKILL);
        ::waitpid(pids[r], &s, 0);
        status[r] = 124;
        --left;
      }
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return status;
}

#define RANK_CHECK(cond)                                                                           \
  do {                                                                                             \
    if (!(cond)) {                                                                                 \
      std::fprintf(stderr, "rank %d: %s:%d: %s\n", rank, __FILE__, __LINE__, #cond);               \
      return 1;                                                                                    \
    }                                                                                              \
  } while (0)

std::vector<float> flat_parameters(tb::module_model<torch::nn::Sequential>& m) {
  std::vector<float> all;
  for (auto s : m.parameters())
    all.insert(all.end(), s.begin(), s.end());
  return all;
}

} // namespace

TEST_CASE("3 ranks: all-reduce sums, gather of uneven parts in rank order, flags") {
  const int port = socket_on_free_port(false).port;
  const auto status = run_ranks(3, [port](int rank) {
    tb::process_group g(rank_options(rank, 3, port));
    RANK_CHECK(g.rank() == rank && g.world_size() == 3 && g.is_root() == (rank == 0));
    std::vector<double> v{rank + 1.0, 0.5 * rank};
    g.all_reduce_sum(v);
    RANK_CHECK(v[0] == 6.0 && v[1] == 1.5);
    std::vector<std::int64_t> c{std::int64_t(1) << (40 + rank)};
    g.all_reduce_sum(std::span<std::int64_t>(c));
    RANK_CHECK(c[0] == (std::int64_t(7) << 40)); // exact in int64, not in double
    // Rank r sends 2r values 100r + i: rank 0 sends none.
    std::vector<double> mine;
    for (int i = 0; i < 2 * rank; ++i)
      mine.push_back(100.0 * rank + i);
    const auto all = g.gather_to_root(std::span<const double>(mine));
    if (rank == 0)
      RANK_CHECK((all == std::vector<double>{100, 101, 200, 201, 202, 203}));
    else
      RANK_CHECK(all.empty());
    const std::vector<std::uint8_t> codes(std::size_t(rank) + 1, std::uint8_t(rank + 7));
    const auto got = g.gather_to_root(std::span<const std::uint8_t>(codes));
    if (rank == 0)
      RANK_CHECK((got == std::vector<std::uint8_t>{7, 8, 8, 9, 9, 9}));
    const auto flags = g.all_gather_flags(rank == 2 ? 5 : 0);
    RANK_CHECK((flags == std::vector<std::int64_t>{0, 0, 5}));
    g.barrier();
    return 0;
  });
  CHECK(status == std::vector<int>{0, 0, 0});
}

TEST_CASE("D4: a rank killed mid-run: the others' next collective fails within the timeout") {
  const int port = socket_on_free_port(false).port;
  const auto t0 = std::chrono::steady_clock::now();
  const auto status = run_ranks(2, [port](int rank) {
    auto o = rank_options(rank, 2, port);
    o.timeout = std::chrono::seconds(3);
    tb::process_group g(o);
    std::vector<double> v{1.0};
    g.all_reduce_sum(v);
    if (rank == 1)
      std::raise(SIGKILL); // dies between two collectives
    try {
      g.all_reduce_sum(v, "second all-reduce");
    } catch (const tb::distributed_error& e) {
      const std::string w = e.what();
      std::fprintf(stderr, "rank 0 reports: %s\n", w.c_str());
      RANK_CHECK(w.find("rank 0 of 2") != std::string::npos);
      RANK_CHECK(w.find("second all-reduce failed after") != std::string::npos);
      RANK_CHECK(w.find(std::to_string(port)) != std::string::npos);
      return 0;
    }
    return 1; // rank 0 must not succeed alone
  });
  const double took = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  CHECK(status[0] == 0);
  CHECK(status[1] == 128 + SIGKILL);
  CHECK(took < 30);
}

TEST_CASE("Data-parallel fit of a LibTorch module on 2 ranks gives the one-process weights") {
  // RAT with Mixup, 60 examples in batches of 16 (shares of 8 and 8; the last batch 6 and 6).
  const int port = socket_on_free_port(false).port;
  const auto status = run_ranks(2, [port](int rank) {
    torch::set_num_threads(1);
    auto make = [] {
      torch::manual_seed(3);
      return tb::module_model<torch::nn::Sequential>(torch::nn::Sequential(
          torch::nn::Linear(6, 8), torch::nn::ReLU(), torch::nn::Linear(8, 3)));
    };
    torch::manual_seed(11);
    const auto x = torch::rand({60, 6});
    misd::label_vector y(60);
    for (std::size_t i = 0; i < y.size(); ++i)
      y[i] = int((i * 7) % 3);
    misd::train::train_options o;
    o.epochs = 2;
    o.batch_size = 16;
    o.mixup_alpha = 0.5;
    o.objective.kind = misd::train::objective::rat;
    o.objective.epsilon = 0.05;
    o.seed = 5;

    tb::process_group g(rank_options(rank, 2, port));
    auto parallel = make();
    const auto before = flat_parameters(parallel);
    misd::train::train_options p = o;
    p.parallel = tb::data_parallel(g);
    misd::train::fit(parallel, {x, y}, p);
    const auto got = flat_parameters(parallel);

    auto single = make();
    misd::train::fit(single, {x, y}, o);
    const auto want = flat_parameters(single);
    RANK_CHECK(got.size() == want.size());
    double worst = 0, scale = 0, moved = 0;
    for (std::size_t k = 0; k < got.size(); ++k) {
      worst = std::max(worst, std::abs(double(got[k]) - double(want[k])));
      scale = std::max(scale, std::abs(double(want[k])));
      moved = std::max(moved, std::abs(double(want[k]) - double(before[k])));
    }
    std::fprintf(stderr, "rank %d: largest difference %.3g, largest weight %.3g, moved %.3g\n",
                 rank, worst, scale, moved);
    RANK_CHECK(worst <= 1e-5 * scale); // float32: only the order of the gradient sums differs
    RANK_CHECK(moved > 1e-2 * scale);  // ... and training moved the weights far more
    return 0;
  });
  CHECK(status == std::vector<int>{0, 0});
}

TEST_CASE("D1, D2: one process needs no rendezvous; bad options and environment are refused") {
  tb::process_group one;
  CHECK(one.world_size() == 1);
  CHECK(one.is_root());
  std::vector<double> v{1.5, 2.5};
  one.all_reduce_sum(v);
  CHECK(v == std::vector<double>{1.5, 2.5});
  CHECK(one.gather_to_root(std::span<const double>(v)) == v);
  CHECK(one.all_gather_flags(3) == std::vector<std::int64_t>{3});

  ::unsetenv("WORLD_SIZE");
  ::unsetenv("RANK");
  CHECK(tb::process_group::from_environment().world_size() == 1);
  ::setenv("WORLD_SIZE", "two", 1);
  CHECK_THROWS_WITH_AS(tb::distributed_options_from_environment(),
                       doctest::Contains("WORLD_SIZE='two'"), misd::invalid_argument);
  ::unsetenv("WORLD_SIZE");
  CHECK_THROWS_WITH_AS(tb::process_group(rank_options(2, 2, 29500)),
                       doctest::Contains("rank 2 of 2"), misd::invalid_argument);
  auto mpi = rank_options(0, 2, 29500);
  mpi.backend = "mpi";
  CHECK_THROWS_WITH_AS(tb::process_group{mpi}, doctest::Contains("backend 'mpi'"),
                       misd::invalid_argument);
#ifndef USE_C10D_NCCL
  auto nccl = rank_options(0, 2, 29500);
  nccl.backend = "nccl";
  CHECK_THROWS_WITH_AS(tb::process_group{nccl}, doctest::Contains("no NCCL"),
                       misd::invalid_argument);
#endif
}

TEST_CASE("D3: a rendezvous that cannot happen names the rank, the address and the wait") {
  {
    // Nobody serves the store: rank 1 waits out its timeout.
    const int port = socket_on_free_port(false).port;
    auto o = rank_options(1, 2, port);
    o.timeout = std::chrono::seconds(1);
    o.exit_on_stuck_rendezvous = false;
    const auto t0 = std::chrono::steady_clock::now();
    const std::string want =
        "rank 1 of 2: rendezvous at 127.0.0.1:" + std::to_string(port) + " failed after";
    CHECK_THROWS_WITH_AS(tb::process_group{o}, doctest::Contains(want.c_str()),
                         tb::distributed_error);
    CHECK(std::chrono::steady_clock::now() - t0 < std::chrono::seconds(10));
  }
  {
    // Rank 0 cannot listen: the port is in use.
    socket_on_free_port taken(true);
    auto o = rank_options(0, 2, taken.port);
    o.timeout = std::chrono::seconds(1);
    o.exit_on_stuck_rendezvous = false;
    CHECK_THROWS_WITH_AS(tb::process_group{o}, doctest::Contains("in use"), tb::distributed_error);
  }
}
