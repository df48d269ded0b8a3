// misd/score/relu.hpp -- RelU (Gomes et al. 2023): a K x K matrix learned from a labelled
// split, confidence −pᵀ W p (docs/algorithms.md, "Confidence scores"):
//   W = relu(sym(λ · E_wrong[p pᵀ] − (1 − λ) · E_correct[p pᵀ])), zero diagonal,
//   normalised to unit Frobenius norm; all-ones off the diagonal (then normalised) when
//   that matrix is all zero. An empty group (no wrong or no correct example) contributes
//   a zero expectation.
#pragma once

#include "misd/score/logit_scores.hpp"

#include <cstdint>
#include <span>

namespace misd::score {

/// The fitted RelU matrix.
struct relu_model {
  Eigen::MatrixXd weight;   ///< K x K, symmetric, zero diagonal, unit Frobenius norm
  double temperature = 1.0; ///< T of the probabilities it was fitted on
};

/// Fits W from N x K probabilities and their 0/1 correctness.
inline Eigen::MatrixXd relu_fit_matrix(const host_matrix& p, std::span<const std::uint8_t> correct,
                                       double lambda = 0.5) {
  if (static_cast<std::size_t>(p.rows()) != correct.size())
    throw invalid_argument(misd::detail::message("relu: ", p.rows(), " probability rows but ",
                                                 correct.size(), " correctness values"));
  if (p.rows() == 0 || p.cols() < 2)
    throw invalid_argument(
        misd::detail::message("relu: cannot fit on ", p.rows(), " x ", p.cols(),
                              " probabilities (need >= 1 example, >= 2 classes)"));
  if (!(lambda >= 0 && lambda <= 1))
    throw invalid_argument(misd::detail::message("relu: lambda ", lambda, " must be in [0, 1]"));
  const Eigen::Index k = p.cols();
  Eigen::MatrixXd wrong = Eigen::MatrixXd::Zero(k, k), right = Eigen::MatrixXd::Zero(k, k);
  std::size_t n_wrong = 0, n_right = 0;
  for (Eigen::Index i = 0; i < p.rows(); ++i) {
    const std::uint8_t c = correct[static_cast<std::size_t>(i)];
    if (c > 1)
      throw data_error(
          misd::detail::message("relu: correct[", i, "] = ", unsigned(c), ", expected 0 or 1"));
    const Eigen::VectorXd pi = p.row(i).transpose();
    (c ? right : wrong) += pi * pi.transpose();
    ++(c ? n_right : n_wrong);
  }
  if (n_wrong)
    wrong /= static_cast<double>(n_wrong);
  if (n_right)
    right /= static_cast<double>(n_right);
  Eigen::MatrixXd a = lambda * wrong - (1.0 - lambda) * right;
  Eigen::MatrixXd w = (0.5 * (a + a.transpose())).cwiseMax(0.0);
  w.diagonal().setZero();
  if (w.squaredNorm() == 0.0) {
    w.setOnes();
    w.diagonal().setZero();
  }
  return w / w.norm();
}

/// Fits RelU on logits z (N x K) at temperature T with 0/1 correctness.
inline relu_model relu_fit(const host_matrix& z, std::span<const std::uint8_t> correct,
                           double temperature = 1.0, double lambda = 0.5) {
  detail::check_logits(z, "relu");
  return {relu_fit_matrix(softmax(z, temperature), correct, lambda), temperature};
}

/// −pᵀ W p for each row of the probabilities p.
inline host_vector relu_confidence_from_probabilities(const Eigen::MatrixXd& w,
                                                      const host_matrix& p) {
  if (w.rows() != p.cols() || w.cols() != p.cols())
    throw invalid_argument(misd::detail::message("relu: matrix is ", w.rows(), " x ", w.cols(),
                                                 " but the probabilities have ", p.cols(),
                                                 " classes"));
  host_vector c(p.rows());
  for (Eigen::Index i = 0; i < p.rows(); ++i) {
    const Eigen::VectorXd pi = p.row(i).transpose();
    c[i] = -pi.dot(w * pi);
  }
  return c;
}

/// −pᵀ W p with p = softmax(z / T_fit).
inline host_vector confidence(const relu_model& m, const host_matrix& z) {
  detail::check_logits(z, "relu");
  return relu_confidence_from_probabilities(m.weight, softmax(z, m.temperature));
}

} // namespace misd::score
