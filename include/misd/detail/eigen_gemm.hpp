// misd/detail/eigen_gemm.hpp -- row-major matrix products into caller buffers with packing
// buffers allocated once. Eigen's `C.noalias() = A * B` allocates its packing buffers on
// every call for large products (above EIGEN_STACK_ALLOCATION_LIMIT); the models' in-place
// paths keep a gemm_buffers per product so that steady-state calls allocate nothing.
// Not for direct inclusion.
#pragma once

#include <Eigen/Core>

#include <algorithm>
#include <memory>

// Eigen 3.4's internal product kernel; other versions fall back to the public product.
#if EIGEN_VERSION_AT_LEAST(3, 4, 0) && !EIGEN_VERSION_AT_LEAST(3, 4, 90)
#define MISD_EIGEN_RAW_GEMM 1
#else
#define MISD_EIGEN_RAW_GEMM 0
#endif

namespace misd::detail {

/// Packing buffers for products of at most `rows x cols` with inner size `depth`.
template <class Scalar>
class gemm_buffers {
public:
  void reserve(Eigen::Index rows, Eigen::Index cols, Eigen::Index depth) {
#if MISD_EIGEN_RAW_GEMM
    if (blocking_ && rows <= rows_ && cols <= cols_ && depth <= depth_)
      return; // grow only: buffers for a larger product serve a smaller one
    rows = std::max(rows, rows_);
    cols = std::max(cols, cols_);
    depth = std::max(depth, depth_);
    blocking_ = std::make_unique<blocking_type>(rows, cols, depth, 1, true);
    blocking_->allocateAll();
#endif
    rows_ = rows;
    cols_ = cols;
    depth_ = depth;
  }

  /// C[0:m, 0:n] += A[0:m, 0:k] * op(W) for row-major A (stride lda) and C (stride ldc);
  /// op(W) = Wᵀ when `transposed` (W is n x k, row-major, stride ldw), else W (k x n).
  template <bool transposed>
  void multiply_add(Eigen::Index m, Eigen::Index n, Eigen::Index k, const Scalar* a,
                    Eigen::Index lda, const Scalar* w, Eigen::Index ldw, Scalar* c,
                    Eigen::Index ldc) {
    if (m == 0)
      return;
#if MISD_EIGEN_RAW_GEMM
    reserve(m, n, k);
    constexpr int rhs_order = transposed ? Eigen::ColMajor : Eigen::RowMajor;
    Eigen::internal::general_matrix_matrix_product<Eigen::Index, Scalar, Eigen::RowMajor, false,
                                                   Scalar, rhs_order, false, Eigen::RowMajor,
                                                   1>::run(m, n, k, a, lda, w, ldw, c, 1, ldc,
                                                           Scalar(1), *blocking_, nullptr);
#else
    using strided = Eigen::OuterStride<>;
    using row_major = Eigen::Matrix<Scalar, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
    Eigen::Map<const row_major, 0, strided> A(a, m, k, strided(lda));
    Eigen::Map<row_major, 0, strided> C(c, m, n, strided(ldc));
    if constexpr (transposed)
      C.noalias() += A * Eigen::Map<const row_major, 0, strided>(w, n, k, strided(ldw)).transpose();
    else
      C.noalias() += A * Eigen::Map<const row_major, 0, strided>(w, k, n, strided(ldw));
#endif
  }

private:
#if MISD_EIGEN_RAW_GEMM
  using blocking_type =
      Eigen::internal::gemm_blocking_space<Eigen::RowMajor, Scalar, Scalar, Eigen::Dynamic,
                                           Eigen::Dynamic, Eigen::Dynamic>;
  std::unique_ptr<blocking_type> blocking_;
#endif
  Eigen::Index rows_ = 0, cols_ = 0, depth_ = 0;
};

} // namespace misd::detail
