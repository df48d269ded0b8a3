// misd/torch/distributed.hpp -- a c10d process group (PyTorch's distributed engine) for
// sharded scoring and data-parallel training, launched as PyTorch jobs are:
//
//   python3 -m torch.distributed.run --nproc_per_node 2 --no_python ./my_program
//   ...
//   auto group = misd::torch_backend::process_group::from_environment();
//   const auto s = misd::detail::contiguous_shard(n, group.rank(), group.world_size());
//   // score rows [s.first, s.end()) here, then:
//   const auto all = group.gather_to_root(std::span<const double>(mine), "gather scores");
//
//   misd::train::train_options o;   // data-parallel training of any Trainable model
//   o.parallel = misd::torch_backend::data_parallel(group);
//
// The rendezvous is c10d's TCPStore at MASTER_ADDR:MASTER_PORT (rank 0 listens there).
// Collectives go through Gloo (CPU tensors); NCCL (CUDA tensors) where LibTorch was built with
// it (USE_C10D_NCCL defined: Debian's LibTorch has no CUDA, so that path is never compiled
// there, and untested). Gloo's headers come with Debian's libgloo-dev. Every wait is bounded
// by the group's timeout: a rank that died or never came makes the others throw a
// distributed_error naming the rank that reports it, the operation, the address and the wait.
// WORLD_SIZE unset or 1 is one process: no rendezvous, and every collective is the identity.
#pragma once

#if !__has_include(<gloo/algorithm.h>)
#error                                                                                             \
    "misd/torch/distributed.hpp needs Gloo's headers (Debian: libgloo-dev), which c10d's ProcessGroupGloo.hpp includes"
#endif
#ifndef USE_C10D_GLOO
#define USE_C10D_GLOO // LibTorch's libtorch_cpu has Gloo; its header is guarded by this macro
#endif

#include "misd/detail/shard.hpp"
#include "misd/error.hpp"
#include "misd/train/trainer.hpp"

#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>
#ifdef USE_C10D_NCCL
#include <torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp>
#endif
#include <torch/torch.h>

#include <netdb.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <span>
#include <string>
#include <thread>
#include <vector>

namespace misd::torch_backend {

/// A rendezvous or collective that failed or timed out (misd tool: exit status 1).
class distributed_error : public misd::error {
public:
  using misd::error::error;
};

/// Where this process stands in a launched job.
struct distributed_options {
  int rank = 0, world_size = 1, local_rank = 0;
  std::string master_addr = "127.0.0.1";
  int master_port = 29500;
  /// The longest wait of the rendezvous and of every collective.
  std::chrono::milliseconds timeout{std::chrono::seconds(60)};
  /// "gloo" (CPU tensors) or "nccl" (CUDA tensors; only where LibTorch has NCCL).
  std::string backend = "gloo";
  /// The store at master_addr:master_port is already served (torchrun's agent serves it and
  /// sets TORCHELASTIC_USE_AGENT_STORE=True): rank 0 connects to it instead of listening.
  bool external_store = false;
  /// c10d's store client can block with no timeout once connected to a port that something
  /// other than a store holds. When set, a watchdog thread ends the process (message on
  /// stderr, exit status 1) if the rendezvous has not finished after 2 x timeout + 5 s.
  bool exit_on_stuck_rendezvous = true;
};

namespace detail {
inline int env_int(const char* name, int fallback, int min) {
  const char* v = std::getenv(name);
  if (!v || !*v)
    return fallback;
  char* end = nullptr;
  const long x = std::strtol(v, &end, 10);
  if (*end != '\0' || x < min || x > 1 << 30)
    throw invalid_argument(misd::detail::message("environment variable ", name, "='", v,
                                                 "' is not an integer >= ", min));
  return static_cast<int>(x);
}
inline std::string what_of(const std::exception& e) {
  if (const auto* c = dynamic_cast<const c10::Error*>(&e))
    return c->what_without_backtrace();
  return e.what();
}
/// Waits until host:port accepts a TCP connection (or `limit` passes): c10d's store client
/// retries a refused connection only after about a second, so a rank that starts before rank
/// 0 listens would lose that second; polling every 10 ms here avoids it.
inline void wait_until_listening(const std::string& host, int port,
                                 std::chrono::milliseconds limit) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  if (getaddrinfo(host.c_str(), std::to_string(port).c_str(), &hints, &found) != 0 || !found)
    return; // the store reports the bad address itself
  const auto end = std::chrono::steady_clock::now() + limit;
  for (bool up = false; !up && std::chrono::steady_clock::now() < end;) {
    for (addrinfo* a = found; a && !up; a = a->ai_next) {
      const int fd = ::socket(a->ai_family, a->ai_socktype, a->ai_protocol);
      if (fd < 0)
        continue;
      up = ::connect(fd, a->ai_addr, a->ai_addrlen) == 0;
      ::close(fd);
    }
    if (!up)
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  freeaddrinfo(found);
}

/// Ends the process with `message` unless destroyed within `limit` (see
/// distributed_options::exit_on_stuck_rendezvous).
class rendezvous_watchdog {
public:
  rendezvous_watchdog(bool on, std::chrono::milliseconds limit, std::string message) {
    if (!on)
      return;
    thread_ = std::thread([this, limit, message = std::move(message)] {
      std::unique_lock<std::mutex> lock(mutex_);
      if (!done_cv_.wait_for(lock, limit, [this] { return done_; })) {
        std::fprintf(stderr, "%s\n", message.c_str());
        std::fflush(stderr);
        std::_Exit(1);
      }
    });
  }
  ~rendezvous_watchdog() {
    if (!thread_.joinable())
      return;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      done_ = true;
    }
    done_cv_.notify_all();
    thread_.join();
  }
  rendezvous_watchdog(const rendezvous_watchdog&) = delete;
  rendezvous_watchdog& operator=(const rendezvous_watchdog&) = delete;

private:
  std::mutex mutex_;
  std::condition_variable done_cv_;
  bool done_ = false;
  std::thread thread_;
};

template <class T>
constexpr torch::Dtype dtype_of() {
  if constexpr (std::is_same_v<T, double>)
    return torch::kDouble;
  else if constexpr (std::is_same_v<T, float>)
    return torch::kFloat;
  else if constexpr (std::is_same_v<T, std::uint8_t>)
    return torch::kByte;
  else {
    static_assert(std::is_same_v<T, std::int64_t>, "misd: double, float, uint8 or int64");
    return torch::kLong;
  }
}
} // namespace detail

/// The options from the variables a launcher sets (torchrun, python3 -m torch.distributed.run):
/// RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR, MASTER_PORT; MISD_DIST_TIMEOUT (seconds) and
/// MISD_DIST_BACKEND (gloo | nccl) if set. Unset WORLD_SIZE is one process.
inline distributed_options distributed_options_from_environment() {
  distributed_options o;
  o.world_size = detail::env_int("WORLD_SIZE", 1, 1);
  o.rank = detail::env_int("RANK", 0, 0);
  o.local_rank = detail::env_int("LOCAL_RANK", o.rank, 0);
  if (const char* a = std::getenv("MASTER_ADDR"); a && *a)
    o.master_addr = a;
  o.master_port = detail::env_int("MASTER_PORT", o.master_port, 1);
  o.timeout = std::chrono::seconds(detail::env_int("MISD_DIST_TIMEOUT", 60, 1));
  if (const char* b = std::getenv("MISD_DIST_BACKEND"); b && *b)
    o.backend = b;
  if (const char* a = std::getenv("TORCHELASTIC_USE_AGENT_STORE"))
    o.external_store = std::string(a) == "True";
  return o;
}

/// A c10d process group, or one process alone. Move-only.
class process_group {
public:
  /// One process: no rendezvous.
  process_group() = default;

  /// Joins the job: rank 0 opens the TCPStore at master_addr:master_port, every rank connects
  /// and builds the Gloo (or NCCL) group. Throws distributed_error when the port cannot be
  /// opened or the others do not come within the timeout.
  explicit process_group(const distributed_options& o) : o_(o) {
    if (o.world_size < 1 || o.rank < 0 || o.rank >= o.world_size)
      throw invalid_argument(
          misd::detail::message("process group: rank ", o.rank, " of ", o.world_size, " ranks"));
    if (o.master_port < 1 || o.master_port > 65535)
      throw invalid_argument(
          misd::detail::message("process group: master port ", o.master_port, " out of range"));
    if (o.backend != "gloo" && o.backend != "nccl")
      throw invalid_argument(misd::detail::message("process group: backend '", o.backend,
                                                   "' (expected gloo or nccl)"));
#ifndef USE_C10D_NCCL
    if (o.backend == "nccl")
      throw invalid_argument(misd::detail::message(
          "process group: backend 'nccl' requested, but this LibTorch has no NCCL (use gloo)"));
#endif
    if (o.world_size == 1)
      return;
    const auto t0 = std::chrono::steady_clock::now();
    const std::string where = o.master_addr + ":" + std::to_string(o.master_port);
    detail::rendezvous_watchdog watchdog(
        o.exit_on_stuck_rendezvous, 2 * o.timeout + std::chrono::seconds(5),
        misd::detail::message("rank ", o.rank, " of ", o.world_size, ": rendezvous at ", where,
                              " did not finish within ", double((2 * o.timeout).count()) / 1000 + 5,
                              " s (is something other than rank 0's store on that port?)"));
    try {
      if (o.rank != 0 || o.external_store)
        detail::wait_until_listening(o.master_addr, o.master_port, o.timeout);
      c10d::TCPStoreOptions so;
      so.port = static_cast<std::uint16_t>(o.master_port);
      so.isServer = o.rank == 0 && !o.external_store;
      so.numWorkers = static_cast<std::size_t>(o.world_size);
      so.waitWorkers = true;
      so.timeout = o.timeout;
      auto store = c10::make_intrusive<c10d::TCPStore>(o.master_addr, so);
#ifdef USE_C10D_NCCL
      if (o.backend == "nccl") {
        auto no = c10d::ProcessGroupNCCL::Options::create();
        no->timeout = o.timeout;
        pg_ = c10::make_intrusive<c10d::ProcessGroupNCCL>(store, o.rank, o.world_size, no);
        device_ = torch::Device(torch::kCUDA, static_cast<c10::DeviceIndex>(o.local_rank));
        return;
      }
#endif
      auto go = c10d::ProcessGroupGloo::Options::create(o.timeout);
      // Loopback jobs stay on 127.0.0.1; otherwise Gloo's choice (GLOO_SOCKET_IFNAME or the
      // address this host's name resolves to), as PyTorch does.
      if (const char* ifname = std::getenv("GLOO_SOCKET_IFNAME"); ifname && *ifname)
        go->devices.push_back(c10d::ProcessGroupGloo::createDeviceForInterface(ifname));
      else if (o.master_addr == "127.0.0.1" || o.master_addr == "localhost")
        go->devices.push_back(c10d::ProcessGroupGloo::createDeviceForHostname("127.0.0.1"));
      else
        go->devices.push_back(c10d::ProcessGroupGloo::createDefaultDevice());
      pg_ = c10::make_intrusive<c10d::ProcessGroupGloo>(store, o.rank, o.world_size, go);
    } catch (const std::exception& e) {
      const double waited =
          std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      throw distributed_error(misd::detail::message(
          "rank ", o.rank, " of ", o.world_size, ": rendezvous at ", where, " failed after ",
          waited, " s (timeout ", double(o.timeout.count()) / 1000, " s): ", detail::what_of(e),
          hint(o, detail::what_of(e))));
    }
  }

  /// From the launcher's environment (distributed_options_from_environment).
  static process_group from_environment() {
    return process_group(distributed_options_from_environment());
  }

  int rank() const {
    return o_.rank;
  }
  int world_size() const {
    return o_.world_size;
  }
  bool is_root() const {
    return o_.rank == 0;
  }
  const distributed_options& options() const {
    return o_;
  }

  /// In place, on every rank: the element-wise sum over the ranks (the same on each).
  template <class T>
  void all_reduce_sum(std::span<T> values, const char* what = "all-reduce") {
    if (o_.world_size == 1 || values.empty())
      return;
    auto t = torch::from_blob(values.data(), {std::int64_t(values.size())},
                              detail::dtype_of<std::remove_const_t<T>>());
    std::vector<torch::Tensor> ts{t.to(device_, /*non_blocking=*/false, /*copy=*/true)};
    run(what, [&] { return pg_->allreduce(ts); });
    t.copy_(ts[0].cpu());
  }
  void all_reduce_sum(std::vector<double>& v, const char* what = "all-reduce") {
    all_reduce_sum(std::span<double>(v), what);
  }

  /// On rank 0: every rank's values concatenated in rank order (the ranks may hold different
  /// counts); on the other ranks an empty vector.
  template <class T>
  std::vector<T> gather_to_root(std::span<const T> mine, const char* what = "gather") {
    std::vector<T> all;
    if (o_.world_size == 1) {
      all.assign(mine.begin(), mine.end());
      return all;
    }
    const auto w = static_cast<std::size_t>(o_.world_size);
    // Counts first (all-gathered as one sum of one-hot vectors), then equal-length pieces.
    std::vector<std::int64_t> counts(w, 0);
    counts[static_cast<std::size_t>(o_.rank)] = std::int64_t(mine.size());
    all_reduce_sum(std::span<std::int64_t>(counts), what);
    std::int64_t longest = 1;
    for (auto c : counts)
      longest = std::max(longest, c);
    const auto dtype = detail::dtype_of<T>();
    auto piece = torch::zeros({longest}, torch::TensorOptions().dtype(dtype));
    if (!mine.empty())
      piece.narrow(0, 0, std::int64_t(mine.size()))
          .copy_(torch::from_blob(const_cast<T*>(mine.data()), {std::int64_t(mine.size())}, dtype));
    std::vector<torch::Tensor> input{piece.to(device_)};
    std::vector<std::vector<torch::Tensor>> output;
    if (is_root()) {
      output.emplace_back();
      for (std::size_t r = 0; r < w; ++r)
        output[0].push_back(torch::empty({longest}, input[0].options()));
    }
    c10d::GatherOptions go;
    go.rootRank = 0;
    go.timeout = o_.timeout;
    run(what, [&] { return pg_->gather(output, input, go); });
    if (is_root())
      for (std::size_t r = 0; r < w; ++r) {
        const auto p = output[0][r].cpu().contiguous();
        const T* d = p.template data_ptr<T>();
        all.insert(all.end(), d, d + counts[r]);
      }
    return all;
  }

  /// Every rank's flag, on every rank (e.g. whether its part of the work failed).
  std::vector<std::int64_t> all_gather_flags(std::int64_t mine, const char* what = "flags") {
    std::vector<std::int64_t> f(static_cast<std::size_t>(o_.world_size), 0);
    f[static_cast<std::size_t>(o_.rank)] = mine;
    all_reduce_sum(std::span<std::int64_t>(f), what);
    return f;
  }

  void barrier(const char* what = "barrier") {
    if (o_.world_size > 1)
      all_gather_flags(0, what);
  }

private:
  static const char* hint(const distributed_options& o, const std::string& what) {
    if (o.rank != 0 || o.external_store)
      return " (did rank 0 start, on that address and port?)";
    return what.find("in use") != std::string::npos
               ? " (rank 0 serves the store on that port, which is in use: pick another "
                 "MASTER_PORT)"
               : " (rank 0 serves the store on that port: did every rank start?)";
  }
  template <class F>
  void run(const char* what, F&& start) {
    const auto t0 = std::chrono::steady_clock::now();
    try {
      auto work = start();
      work->wait(o_.timeout);
    } catch (const std::exception& e) {
      const double waited =
          std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      throw distributed_error(misd::detail::message(
          "rank ", o_.rank, " of ", o_.world_size, ": ", what, " failed after ", waited,
          " s (timeout ", double(o_.timeout.count()) / 1000, " s; job at ", o_.master_addr, ":",
          o_.master_port, "): ", detail::what_of(e),
          " -- another rank has probably failed or been killed"));
    }
  }

  distributed_options o_{};
  c10::intrusive_ptr<c10d::ProcessGroup> pg_;
  torch::Device device_{torch::kCPU};
};

/// misd::train::fit's data-parallel options over this group (the group must outlive fit).
inline train::data_parallel_options data_parallel(process_group& g) {
  train::data_parallel_options p;
  p.rank = static_cast<std::size_t>(g.rank());
  p.world_size = static_cast<std::size_t>(g.world_size());
  if (p.world_size > 1)
    p.all_reduce_sum = [&g](std::vector<double>& v) { g.all_reduce_sum(v, "gradient all-reduce"); };
  return p;
}

} // namespace misd::torch_backend
