// examples/misd/distributed.cpp -- misd_cli::cluster: a misd::torch_backend::process_group
// (Gloo) when the tool links LibTorch, one process otherwise.
#include "distributed.hpp"

#include "options.hpp"

#include "misd/error.hpp"

// The process group needs LibTorch and Gloo's headers (Debian: libgloo-dev).
#if defined(MISD_WITH_TORCH) && __has_include(<gloo/algorithm.h>)
#define MISD_CLI_PROCESS_GROUP 1
#include "misd/torch/distributed.hpp"
#endif

#include <cstdlib>
#include <span>
#include <string>

namespace misd_cli {

#ifdef MISD_CLI_PROCESS_GROUP
struct cluster::impl {
  misd::torch_backend::process_group group;
};

cluster::cluster()
    : impl_(std::make_unique<impl>(impl{misd::torch_backend::process_group::from_environment()})),
      rank_(impl_->group.rank()), size_(impl_->group.world_size()) {}

std::vector<double> cluster::gather(const std::vector<double>& mine) {
  return impl_->group.gather_to_root(std::span<const double>(mine), "gather of the scores");
}
std::vector<std::uint8_t> cluster::gather(const std::vector<std::uint8_t>& mine) {
  return impl_->group.gather_to_root(std::span<const std::uint8_t>(mine), "gather of the flags");
}
void cluster::all_reduce_sum(std::vector<double>& values) {
  impl_->group.all_reduce_sum(values, "all-reduce");
}
void cluster::check_all(const std::exception_ptr& mine, const char* stage) {
  if (size_ == 1) {
    if (mine)
      std::rethrow_exception(mine);
    return;
  }
  const auto failed = impl_->group.all_gather_flags(mine ? 1 : 0, stage);
  if (mine)
    std::rethrow_exception(mine);
  for (std::size_t r = 0; r < failed.size(); ++r)
    if (failed[r])
      throw misd::data_error(misd::detail::message("rank ", rank_, " of ", size_, ": rank ", r,
                                                   " failed during ", stage,
                                                   " (its message is above); nothing is written"));
}
#else
struct cluster::impl {};

cluster::cluster() {
  if (const char* w = std::getenv("WORLD_SIZE"); w && std::string(w) != "1" && *w)
    throw usage_error(std::string("WORLD_SIZE=") + w +
                      ": this misd was built without LibTorch or without Gloo's headers "
                      "(libgloo-dev), so it runs as one process only");
}
std::vector<double> cluster::gather(const std::vector<double>& mine) {
  return mine;
}
std::vector<std::uint8_t> cluster::gather(const std::vector<std::uint8_t>& mine) {
  return mine;
}
void cluster::all_reduce_sum(std::vector<double>&) {}
void cluster::check_all(const std::exception_ptr& mine, const char*) {
  if (mine)
    std::rethrow_exception(mine);
}
#endif

cluster::~cluster() = default;

} // namespace misd_cli
