// misd/radius/threads.hpp -- an estimator over row blocks of its batch on several threads.
// Not for direct inclusion.
#pragma once

#include "misd/detail/batch_rows.hpp"
#include "misd/detail/worker_pool.hpp"
#include "misd/radius/options.hpp"
#include "misd/radius/result.hpp"
#include "misd/radius/workspace.hpp"

#include <algorithm>
#include <cstddef>
#include <type_traits>

namespace misd::detail {

/// `one(x_block, ws, res)`, or `one(x_block, ws, res, first_row)` for an estimator that needs
/// the block's place in the batch (FAB seeds each example's random starts by its row).
template <class X, class W, class One>
void call_block(One& one, const X& x, W& ws, radius_result& res, std::size_t first_row) {
  if constexpr (std::is_invocable_v<One&, const X&, W&, radius_result&, std::size_t>)
    one(x, ws, res, first_row);
  else
    one(x, ws, res);
}

/// Runs `one(x_block, ws_block, res_block)` on row blocks of x, on o.threads threads, and
/// merges the results; one thread (or a backend without row operations) runs it directly.
template <class M, class One>
void over_row_blocks(const batch_t<M>& x, const radius_options& o, radius_workspace<M>& ws,
                     radius_result& res, One&& one) {
  using B = batch_t<M>;
  using ops = batch_ops<B>;
  const std::size_t n = ops::rows(x);
  const std::size_t T = std::min<std::size_t>(static_cast<std::size_t>(o.threads), n);
  if constexpr (has_row_ops<B>) {
    if (T > 1) {
      ws.parts.resize(T);
      ws.part_results.resize(T);
      ws.part_inputs.resize(T);
      auto run = [&](std::size_t p) {
        const std::size_t first = n * p / T, last = n * (p + 1) / T;
        if (!ws.part_inputs[p])
          ws.part_inputs[p].emplace(x);
        ops::copy_rows(x, first, last - first, *ws.part_inputs[p]);
        call_block(one, *ws.part_inputs[p], ws.parts[p], ws.part_results[p], first);
      };
      worker_pool::shared().run(T, run);
      init_result(res, n);
      res.prediction.resize(n);
      for (std::size_t p = 0; p < T; ++p) {
        const std::size_t first = n * p / T, len = n * (p + 1) / T - first;
        const auto& r = ws.part_results[p];
        const auto f = static_cast<Eigen::Index>(first), l = static_cast<Eigen::Index>(len);
        res.radius.segment(f, l) = r.radius;
        res.lower.segment(f, l) = r.lower;
        res.upper.segment(f, l) = r.upper;
        std::copy(r.status.begin(), r.status.end(), res.status.begin() + f);
        std::copy(r.prediction.begin(), r.prediction.end(), res.prediction.begin() + f);
        // Blocks run side by side: batch passes are those of the longest block.
        res.forwards = std::max(res.forwards, r.forwards);
        res.backwards = std::max(res.backwards, r.backwards);
        res.example_forwards += r.example_forwards;
      }
      return;
    }
  }
  call_block(one, x, ws, res, 0);
}

} // namespace misd::detail
