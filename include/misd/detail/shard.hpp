// misd/detail/shard.hpp -- which contiguous part of N rows one of W processes takes
// (data-parallel scoring and training; misd/torch/distributed.hpp).
#pragma once

#include "misd/error.hpp"

#include <cstddef>

namespace misd::detail {

/// Rows [first, first + count) of a range.
struct row_range {
  std::size_t first = 0, count = 0;
  std::size_t end() const { return first + count; }
};

/// Rank r's contiguous share of n rows split over `world` ranks: the first n % world ranks
/// take one row more than the others, so the shares differ by at most one row (a rank may
/// get none when n < world).
inline row_range contiguous_shard(std::size_t n, std::size_t rank, std::size_t world) {
  if (world == 0 || rank >= world)
    throw invalid_argument(misd::detail::message("shard: rank ", rank, " of ", world, " ranks"));
  const std::size_t base = n / world, extra = n % world;
  const std::size_t first = rank * base + (rank < extra ? rank : extra);
  return {first, base + (rank < extra ? 1 : 0)};
}

/// Rank r's share of n rows cut into slices of `slice` rows (the last one shorter): whole
/// slices, contiguous, the slices split as contiguous_shard splits rows. A slice then holds
/// the same rows on every world size, so an estimator that sees a slice at a time (FAB seeds
/// its random starts by the row within the slice) gives the single-process result.
inline row_range slice_aligned_shard(std::size_t n, std::size_t slice, std::size_t rank,
                                     std::size_t world) {
  if (slice == 0)
    throw invalid_argument(misd::detail::message("shard: slices of 0 rows"));
  const std::size_t slices = (n + slice - 1) / slice;
  const row_range s = contiguous_shard(slices, rank, world);
  const std::size_t first = s.first * slice < n ? s.first * slice : n;
  const std::size_t end = s.end() * slice < n ? s.end() * slice : n;
  return {first, end - first};
}

} // namespace misd::detail
