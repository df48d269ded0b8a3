// misd/torch/ops.hpp -- batch arithmetic on torch::Tensor (the LibTorch adapter's batches).
//
// A batch is a torch::Tensor on any device: inputs N x C x H x W or N x D, logits N x K.
// rows = size(0), cols = numel / N. Per-example quantities (radii, scales) live on the host
// as misd::host_vector and are copied to the batch's device as an N-element tensor per call;
// logits come to the host (to_host) as a double N x K matrix, one small copy per forward.
//
// Value semantics: torch tensors share storage when copied, so every operation here returns
// a new tensor or rebinds its argument (`x = ...`) rather than writing into shared storage.
#pragma once

#include "misd/concepts.hpp"
#include "misd/detail/random.hpp"
#include "misd/error.hpp"

#include <torch/torch.h>

#include <cstdint>
#include <vector>

namespace misd {

namespace torch_backend::detail {
/// N per-example numbers as a tensor shaped to broadcast over the rows of `like`
/// (N x 1 x ... x 1), on like's device in like's dtype.
inline torch::Tensor per_row(const host_vector& t, const torch::Tensor& like) {
  const auto n = like.size(0);
  if (t.size() != n)
    throw invalid_argument(misd::detail::message(
        "torch batch: ", t.size(), " per-example values for a batch of ", n, " examples"));
  std::vector<std::int64_t> shape(static_cast<std::size_t>(like.dim()), 1);
  shape[0] = n;
  auto host = torch::from_blob(const_cast<double*>(t.data()), {n}, torch::kDouble);
  // Round to the batch's dtype on the host first (as the Eigen backend does: t.cast<S>()).
  return host.to(like.scalar_type()).to(like.device()).view(shape);
}
/// n row indices as an int64 tensor on `device`.
inline torch::Tensor row_index(const std::size_t* idx, std::size_t n, const torch::Device& device) {
  std::vector<std::int64_t> host(idx, idx + n);
  return torch::from_blob(host.data(), {static_cast<std::int64_t>(n)}, torch::kLong)
      .to(device, /*non_blocking=*/false, /*copy=*/true);
}
} // namespace torch_backend::detail

template <>
struct batch_ops<torch::Tensor> {
  using B = torch::Tensor;
  static std::size_t rows(const B& x) {
    return x.defined() && x.dim() > 0 ? static_cast<std::size_t>(x.size(0)) : 0;
  }
  static std::size_t cols(const B& x) {
    const auto n = rows(x);
    return n == 0 ? 0 : static_cast<std::size_t>(x.numel()) / n;
  }
  static B sign(const B& g) { return torch::sign(g); } // sign(0) = 0
  static B add_scaled_rows(const B& x, const host_vector& t, const B& d) {
    // x + (t d): the product first, in the batch's dtype, as the Eigen backend rounds it.
    return x + torch_backend::detail::per_row(t, x) * d;
  }
  static void clamp(B& x, double lo, double hi) { x = torch::clamp(x, lo, hi); }
  static void project_linf(B& x, const B& x0, const host_vector& eps) {
    const auto e = torch_backend::detail::per_row(eps, x0);
    x = torch::min(torch::max(x, x0 - e), x0 + e);
  }
  static B uniform_noise(const B& like, std::uint64_t seed) {
    // The splitmix64 stream of the Eigen backend, generated on the host, so that a random
    // start is the same on every backend and device.
    const auto n = like.numel();
    auto host = torch::empty({n}, torch::kDouble);
    auto* p = host.data_ptr<double>();
    misd::detail::splitmix64 rng{seed};
    for (std::int64_t i = 0; i < n; ++i)
      p[i] = rng.symmetric();
    return host.to(like.scalar_type()).view(like.sizes()).to(like.device());
  }
  static void to_host(const B& z, host_matrix& out) {
    const auto n = static_cast<Eigen::Index>(rows(z));
    const auto k = static_cast<Eigen::Index>(cols(z));
    out.resize(n, k);
    if (n == 0)
      return;
    // One device->host copy of the batch in double (logits: N x K, small).
    const auto h = z.detach().to(torch::kCPU, torch::kDouble).contiguous();
    std::copy_n(h.data_ptr<double>(), static_cast<std::size_t>(n * k), out.data());
  }
  /// The host matrix on like's device and in like's dtype; shaped like `like` when it has
  /// as many numbers (an input-shaped batch), else N x K (an upstream gradient of logits).
  static B from_host(const host_matrix& g, const B& like) {
    auto host =
        torch::from_blob(const_cast<double*>(g.data()), {g.rows(), g.cols()}, torch::kDouble);
    const auto options = like.defined() ? like.options() : torch::TensorOptions(torch::kFloat);
    // copy = true: the result must not alias g, which the caller may reuse or free.
    auto out = host.to(torch::TensorOptions().dtype(options.dtype()).device(options.device()),
                       /*non_blocking=*/false, /*copy=*/true);
    if (like.defined() && out.numel() == like.numel() && like.dim() > 0 && like.size(0) == g.rows())
      out = out.view(like.sizes());
    return out;
  }

  // Training operations (misd::train::fit and misd::train::mixup): they run on x's device;
  // only the row indices (n integers) travel there.

  /// Rows idx[0], ..., idx[n - 1] of x, in that order (a view when they are consecutive).
  static B gather_rows(const B& x, const std::size_t* idx, std::size_t n) {
    bool consecutive = true;
    for (std::size_t i = 1; consecutive && i < n; ++i)
      consecutive = idx[i] == idx[0] + i;
    if (consecutive && n > 0)
      return x.narrow(0, static_cast<std::int64_t>(idx[0]), static_cast<std::int64_t>(n));
    return x.index_select(0, torch_backend::detail::row_index(idx, n, x.device()));
  }
  /// Row i is l·x_i + m·x_perm[i] with l = λ and m = 1 − λ rounded to x's dtype (Mixup; the
  /// Eigen backend's arithmetic).
  static B mix_rows(const B& x, const std::size_t* perm, double lambda) {
    const auto partner =
        x.index_select(0, torch_backend::detail::row_index(perm, rows(x), x.device()));
    const auto l = torch::scalar_tensor(lambda, torch::kDouble).to(x.scalar_type());
    const auto m = torch::scalar_tensor(1.0 - lambda, torch::kDouble).to(x.scalar_type());
    return l.to(x.device()) * x + m.to(x.device()) * partner;
  }
  /// A row-major host Eigen batch (float or double) as an N x D CPU tensor of its scalar
  /// type: one copy, each number kept as it is. To train on another device, give the
  /// trainer the data as a tensor there instead.
  template <class S>
  static B
  from_host_batch(const Eigen::Matrix<S, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>& h) {
    return torch::from_blob(const_cast<S*>(h.data()), {h.rows(), h.cols()},
                            torch::CppTypeToScalarType<S>::value)
        .clone();
  }

  /// out = clamp(x_i + t_j d_i) for i = rows[j], j < count: every probe point of a pass in
  /// one batch, in add_scaled_rows + clamp's arithmetic (so the points agree bit for bit).
  /// out has exactly `count` rows (`capacity` matters to in-place backends only).
  static void ray_points(const B& x, const B& d, const std::size_t* rows, const double* t,
                         std::size_t count, std::size_t /*capacity*/, const double* box_lo,
                         const double* box_hi, B& out) {
    const auto m = static_cast<std::int64_t>(count);
    bool in_order = count == static_cast<std::size_t>(x.size(0));
    for (std::size_t j = 0; in_order && j < count; ++j)
      in_order = rows[j] == j;
    torch::Tensor xs = x, ds = d;
    if (!in_order) {
      std::vector<std::int64_t> idx(rows, rows + count);
      const auto index = torch::from_blob(idx.data(), {m}, torch::kLong)
                             .to(x.device(), /*non_blocking=*/false,
                                 /*copy=*/true);
      xs = x.index_select(0, index);
      ds = d.index_select(0, index);
    }
    const host_vector tv = Eigen::Map<const host_vector>(t, m);
    out = xs + torch_backend::detail::per_row(tv, xs) * ds;
    if (box_lo)
      out = torch::clamp(out, *box_lo, *box_hi);
  }
  /// out = rows [first, first + count) of x (a view: nothing here writes into a batch).
  static void copy_rows(const B& x, std::size_t first, std::size_t count, B& out) {
    out = x.narrow(0, static_cast<std::int64_t>(first), static_cast<std::int64_t>(count));
  }
  static bool all_finite(const B& x) { return torch::isfinite(x).all().item<bool>(); }
  /// out[i] = 1 where row i of d is entirely zero: computed on d's device, N bytes copied.
  static void zero_rows(const B& d, unsigned char* out) {
    const auto n = static_cast<std::int64_t>(rows(d));
    if (n == 0)
      return;
    const auto flags = (d.reshape({n, -1}) == 0).all(1).to(torch::kCPU, torch::kUInt8);
    std::copy_n(flags.contiguous().data_ptr<std::uint8_t>(), n, out);
  }
};

} // namespace misd
