// misd/detail/batch_rows.hpp -- the optional row operations of batch_ops, each with its
// fallback through the required ones, so that an algorithm calls one function whatever the
// backend offers. Not for direct inclusion.
//
// A backend whose batch_ops has them answers on its own device and, where it writes into
// an existing batch, without allocating once the batch has its shape (the Eigen backend
// has all of them; the LibTorch adapter has ray_points, copy_rows, zero_rows, all_finite).
#pragma once

#include "misd/concepts.hpp"

#include <cstddef>
#include <optional>
#include <vector>

namespace misd::detail {

/// Gathers probe points of any rows, each row any number of times, into one batch:
///   ray_points(x, d, rows, t, count, capacity, box_lo, box_hi, out)
///       out_j = clamp(x_{rows[j]} + t_j d_{rows[j]}), j < count (no clamp when box_lo is null)
///   copy_rows(x, first, count, out)   out = rows [first, first + count) of x
template <class B>
concept has_ray_points = requires(const B& x, B& out, const std::size_t* rows, const double* t,
                                  std::size_t n) {
  batch_ops<B>::ray_points(x, x, rows, t, n, n, t, t, out);
  batch_ops<B>::copy_rows(x, n, n, out);
};

/// has_ray_points and the writes into existing batches that make a call allocation-free:
///   sign_into(g, out), from_host_into(h, out), to_host_rows(z, count, h), zero_rows(d, flags)
template <class B>
concept has_row_ops = has_ray_points<B> &&
    requires(const B& x, B& out, std::size_t n, const host_matrix& h, host_matrix& ho,
             unsigned char* flags) {
  batch_ops<B>::sign_into(x, out);
  batch_ops<B>::from_host_into(h, out);
  batch_ops<B>::to_host_rows(x, n, ho);
  batch_ops<B>::zero_rows(x, flags);
};

/// out = sign(g), into out's storage where the backend can.
template <class B>
void sign_to(const B& g, std::optional<B>& out) {
  if constexpr (requires(B & o) { batch_ops<B>::sign_into(g, o); }) {
    if (!out)
      out.emplace(g);
    batch_ops<B>::sign_into(g, *out);
  } else {
    out.emplace(batch_ops<B>::sign(g));
  }
}

/// flags[i] = 1 where row i of d is entirely zero (a flat model at that example), else 0.
template <class B>
void zero_rows_of(const B& d, std::vector<unsigned char>& flags) {
  const std::size_t n = batch_ops<B>::rows(d);
  if (flags.size() != n)
    flags.resize(n);
  if constexpr (requires(unsigned char* f) { batch_ops<B>::zero_rows(d, f); }) {
    batch_ops<B>::zero_rows(d, flags.data()); // on the backend's device: no copy of d
  } else {
    host_matrix h;
    batch_ops<B>::to_host(d, h);
    for (Eigen::Index i = 0; i < h.rows(); ++i)
      flags[static_cast<std::size_t>(i)] = (h.row(i).array() == 0.0).all() ? 1 : 0;
  }
}

/// The first `count` rows of z on the host (rows beyond them are unspecified).
template <class B>
void rows_to_host(const B& z, std::size_t count, host_matrix& out) {
  if constexpr (requires { batch_ops<B>::to_host_rows(z, count, out); })
    batch_ops<B>::to_host_rows(z, count, out);
  else
    batch_ops<B>::to_host(z, out);
}

/// h as a batch like `like`, into out's storage where the backend can.
template <class B>
void host_to(const host_matrix& h, const B& like, std::optional<B>& out) {
  if constexpr (requires(B & o) { batch_ops<B>::from_host_into(h, o); }) {
    if (!out)
      out.emplace(like);
    batch_ops<B>::from_host_into(h, *out);
  } else {
    out.emplace(batch_ops<B>::from_host(h, like));
  }
}

} // namespace misd::detail
