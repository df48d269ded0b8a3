// examples/misd/distributed.hpp -- the ranks of a 'misd score' / 'misd train' run under a
// launcher (python3 -m torch.distributed.run --no_python misd ..., or torchrun): a c10d process
// group when the tool links LibTorch (distributed.cpp), one process otherwise. No torch headers
// here, so the subcommands' sources stay free of LibTorch.
#pragma once

#include <cstddef>
#include <cstdint>
#include <exception>
#include <functional>
#include <memory>
#include <vector>

namespace misd_cli {

/// This process's place in the run. Joining reads RANK, WORLD_SIZE, MASTER_ADDR,
/// MASTER_PORT (and MISD_DIST_TIMEOUT, seconds): WORLD_SIZE unset or 1 is one process, with
/// no rendezvous; WORLD_SIZE > 1 in a tool built without LibTorch is a usage error.
class cluster {
public:
  cluster();
  ~cluster();
  cluster(const cluster&) = delete;
  cluster& operator=(const cluster&) = delete;

  int rank() const { return rank_; }
  int size() const { return size_; }
  bool root() const { return rank_ == 0; }

  /// On rank 0 every rank's values in rank order; empty on the others.
  std::vector<double> gather(const std::vector<double>& mine);
  std::vector<std::uint8_t> gather(const std::vector<std::uint8_t>& mine);
  /// Element-wise sums over the ranks, on every rank.
  void all_reduce_sum(std::vector<double>& values);

  /// After each rank's own work (mine: its exception, or null): when any rank failed, every
  /// rank throws -- the failing one its own error, the others a misd::data_error naming it --
  /// so that no rank writes outputs after another failed.
  void check_all(const std::exception_ptr& mine, const char* stage);

private:
  struct impl;
  std::unique_ptr<impl> impl_;
  int rank_ = 0, size_ = 1;
};

} // namespace misd_cli
