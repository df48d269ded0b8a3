// misd/radius/attack_point.hpp -- what DeepFool-L∞ and rr-iter share: the iterate of each
// example kept on the host in double, and the forward / input-gradient passes over the
// examples still searching, gathered into one batch. Not for direct inclusion.
#pragma once

#include "misd/box.hpp"
#include "misd/detail/batch_rows.hpp"
#include "misd/detail/model_calls.hpp"
#include "misd/model_adapter.hpp"
#include "misd/radius/boundary_refine.hpp"
#include "misd/radius/result.hpp"

#include <algorithm>
#include <cstddef>
#include <numeric>
#include <optional>
#include <string_view>
#include <vector>

namespace misd::detail {

/// The examples still searching for a flip, their iterates gathered into one batch.
template <class M>
struct attack_iterates {
  using B = batch_t<M>;
  host_matrix x0, x; ///< clean inputs and the iterates, n x D (host, double)
  std::vector<unsigned char> active, flipped;
  std::vector<std::size_t> rows; ///< the active examples, in order
  host_matrix gathered, z, g, w; ///< their iterates, logits, upstream, input gradient
  std::optional<B> batch;        ///< `gathered` as a batch

  /// Starts at x: every example active, nothing flipped.
  void start(const B& xb) {
    batch_ops<B>::to_host(xb, x0);
    x = x0;
    const auto n = static_cast<std::size_t>(x0.rows());
    active.assign(n, 1);
    flipped.assign(n, 0);
  }
  void collect_rows() {
    rows.clear();
    for (std::size_t i = 0; i < active.size(); ++i)
      if (active[i])
        rows.push_back(i);
  }
  /// Gathers the active iterates into `batch` (like xb: the same backend, device, scalar).
  void gather(const B& xb) {
    gathered.resize(static_cast<Eigen::Index>(rows.size()), x.cols());
    for (std::size_t j = 0; j < rows.size(); ++j)
      gathered.row(static_cast<Eigen::Index>(j)) = x.row(static_cast<Eigen::Index>(rows[j]));
    host_to(gathered, xb, batch);
  }
  /// One forward pass at the active iterates: those whose argmax left ŷ are flipped and
  /// stop; `rows`, `batch` and `z` then hold the others.
  void forward_and_check(M& model, model_buffers<M>& buffers, const B& xb, radius_result& res,
                         std::string_view what) {
    collect_rows();
    if (rows.empty())
      return;
    gather(xb);
    model_adapter<M> m(model, buffers);
    m.logits(*batch, rows.size(), z, what);
    res.forwards += 1;
    res.example_forwards += rows.size();
    std::size_t kept = 0;
    for (std::size_t j = 0; j < rows.size(); ++j) {
      const std::size_t i = rows[j];
      if (argmax_row(z, static_cast<Eigen::Index>(j)) != res.prediction[i]) {
        flipped[i] = 1;
        active[i] = 0;
      } else {
        z.row(static_cast<Eigen::Index>(kept++)) = z.row(static_cast<Eigen::Index>(j));
      }
    }
    if (kept < rows.size()) {
      z.conservativeResize(static_cast<Eigen::Index>(kept), z.cols());
      collect_rows();
      if (!rows.empty())
        gather(xb);
    }
  }
  /// One forward and one backward pass at the active iterates (`batch`, or xb itself when
  /// `clean`): z = their logits, w = the input gradient of the upstream that
  /// `fill(z, g)` writes into g (rows x K, zero on entry). Through the adapter's fused call,
  /// which misd's Eigen models evaluate row by row (the same bits whatever the batch).
  template <class Fill>
  void fused_pass(M& model, model_buffers<M>& buffers, const B& xb, bool clean, radius_result& res,
                  std::string_view what, Fill&& fill) {
    model_adapter<M> m(model, buffers);
    const B& at = clean ? xb : *batch;
    const auto& dx =
        m.logits_and_input_gradient(at, z, what, [&](const host_matrix& zz) -> const host_matrix& {
          g.setZero(zz.rows(), zz.cols());
          fill(zz, g);
          return g;
        });
    batch_ops<B>::to_host(dx, w);
    res.forwards += 1;
    res.backwards += 1;
    res.example_forwards += batch_ops<B>::rows(at);
  }
  /// Drops the examples that stopped (active = 0) from rows, z and the batch.
  void compact(const B& xb) {
    std::size_t kept = 0;
    for (std::size_t j = 0; j < rows.size(); ++j)
      if (active[rows[j]])
        z.row(static_cast<Eigen::Index>(kept++)) = z.row(static_cast<Eigen::Index>(j));
    if (kept == rows.size())
      return;
    z.conservativeResize(static_cast<Eigen::Index>(kept), z.cols());
    collect_rows();
    if (!rows.empty())
      gather(xb);
  }
};

/// The `count` classes with the largest logits of row j of z, largest first (ties: the
/// lower index first, so the first is argmax_row's).
inline void top_classes(const host_matrix& z, Eigen::Index j, std::size_t count,
                        std::vector<int>& out) {
  out.resize(static_cast<std::size_t>(z.cols()));
  std::iota(out.begin(), out.end(), 0);
  std::stable_sort(out.begin(), out.end(), [&](int a, int b) { return z(j, a) > z(j, b); });
  out.resize(count);
}

/// x_i = clamp(x_i) into the box, if there is one.
inline void clamp_row(host_matrix& x, Eigen::Index i, const std::optional<input_box>& box) {
  if (box)
    x.row(i) = x.row(i).cwiseMax(box->lo).cwiseMin(box->hi);
}

/// sign(v) with sign(0) = 0.
inline double sign_of(double v) {
  return v > 0 ? 1.0 : v < 0 ? -1.0 : 0.0;
}

/// The end of DeepFool's and rr-iter's search: iterates still unchecked after the last step
/// (`ran_out`) get one more forward pass, then refine_along bisects [x, x_a] for the flipped.
template <class M, class Options>
void finish_attack(M& model, const batch_t<M>& x, attack_iterates<M>& it, bool ran_out,
                   const Options& o, radius_workspace<M>& ws, radius_result& res,
                   std::string_view what) {
  if (ran_out)
    it.forward_and_check(model, ws.model, x, res, what);
  std::optional<batch_t<M>> xa;
  host_to(it.x, x, xa);
  refine_along(model, x, *xa, it.flipped, o, ws, res);
}

} // namespace misd::detail
