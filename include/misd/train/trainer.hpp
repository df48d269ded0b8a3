// misd/train/trainer.hpp -- the training loop: seeded shuffling, Mixup, an objective step,
// SGD with a cosine schedule, and a report per epoch (loss, accuracy, images/s, time left).
//
//   misd::train::train_options o;             // defaults: 10 epochs, batch 128, RAT (FGSM)
//   o.objective.kind = misd::train::objective::standard;
//   auto history = misd::train::fit(model, {images, labels}, o, [](const progress& p) {
//     if (p.end_of_epoch())
//       std::cerr << "epoch " << p.epoch << " loss " << p.loss << "\n";
//   });
//
// The callback receives a report per batch and one per epoch; how to show them is the
// caller's (the misd tool draws a bar on a terminal: examples/misd/progress.hpp).
//
// The images are any batch type D whose batch_ops have the training members (gather_rows,
// mix_rows; misd/concepts.hpp): the model's batch type, or a host Eigen batch that
// batch_ops<batch_type>::from_host_batch takes. Minibatches are gathered and mixed in D;
// a D other than the model's batch type is converted once per minibatch. So a LibTorch
// model given its training set as a tensor on its device trains without any copy of images
// between host and device (only the minibatch's row indices travel), and given a host
// float batch it gets one float copy per minibatch.
//
// Same seed, same machine, same build: the same weights bit for bit (every random number
// comes from misd::train::random_source; the model's arithmetic must be deterministic).
#pragma once

#include "misd/detail/model_calls.hpp"
#include "misd/detail/shard.hpp"
#include "misd/train/mixup.hpp"
#include "misd/train/random.hpp"
#include "misd/train/rat.hpp"
#include "misd/train/schedule.hpp"
#include "misd/train/sgd.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <functional>
#include <numeric>
#include <optional>
#include <type_traits>
#include <vector>

namespace misd::train {

/// Images (one per row; a batch of type D) and their labels. `{images, labels}` in a call
/// of fit or accuracy means the model's batch type; `labelled_data{images, labels}` deduces D.
template <class D>
struct labelled_data {
  const D& images;
  const label_vector& labels;
};
template <class D>
labelled_data(const D&, const label_vector&) -> labelled_data<D>;

/// Data-parallel training over `world_size` processes (misd/torch/distributed.hpp builds one
/// from a process group). Every process runs fit with the same data, options and seed; each
/// computes the gradient on its contiguous share of every global batch (Mixup mixes the
/// whole global batch first, with the same random numbers everywhere), and `all_reduce_sum`
/// sums the shares' gradients, weighted by share size, before the optimiser step. The
/// parameters then stay the same on every process and equal those of one process training
/// on the global batches, up to the order of the sums.
struct data_parallel_options {
  std::size_t rank = 0, world_size = 1;
  /// Element-wise sum of a buffer over the processes, in place, the same result on each.
  std::function<void(std::vector<double>&)> all_reduce_sum;
};

struct train_options {
  std::size_t epochs = 10;
  std::size_t batch_size = 128;
  double learning_rate = 0.05; ///< peak of the cosine schedule
  double min_learning_rate = 0.0;
  std::size_t warmup_epochs = 1;
  sgd_options sgd{};
  double mixup_alpha = 0.0;              ///< Beta(α, α); 0 = no Mixup
  std::size_t mixup_off_last_epochs = 0; ///< the last epochs train without Mixup
  objective_options objective{};
  std::uint64_t seed = 0;           ///< shuffling and Mixup
  data_parallel_options parallel{}; ///< one process by default
};

/// One report per batch (`batch_done` < `batches`) and per epoch (`batch_done == batches`).
struct progress {
  std::size_t epoch = 0, epochs = 0;       ///< epoch is 1-based
  std::size_t batch_done = 0, batches = 0; ///< within this epoch
  double loss = 0;                         ///< mean objective loss so far this epoch
  double accuracy = 0;                     ///< clean training accuracy so far this epoch
  double images_per_second = 0;            ///< this epoch so far
  double seconds = 0;                      ///< this epoch so far
  double seconds_left = 0;                 ///< estimate for the whole run
  double learning_rate = 0;
  bool end_of_epoch() const { return batch_done == batches; }
};

using progress_callback = std::function<void(const progress&)>;

} // namespace misd::train

namespace misd::detail {
inline void validate(const train::train_options& o, std::size_t n) {
  if (o.epochs < 1 || o.batch_size < 1)
    throw invalid_argument(misd::detail::message("train: epochs (", o.epochs, ") and batch size (",
                                                 o.batch_size, ") must be >= 1"));
  if (n == 0)
    throw invalid_argument(misd::detail::message("train: no training examples"));
  if (o.warmup_epochs > o.epochs)
    throw invalid_argument(misd::detail::message("train: ", o.warmup_epochs, " warm-up epochs for ",
                                                 o.epochs, " epochs"));
  if (!(o.mixup_alpha >= 0) || !std::isfinite(o.mixup_alpha))
    throw invalid_argument(
        misd::detail::message("train: mixup alpha ", o.mixup_alpha, " must be finite and >= 0"));
  const auto& dp = o.parallel;
  if (dp.world_size < 1 || dp.rank >= dp.world_size || (dp.world_size > 1 && !dp.all_reduce_sum))
    throw invalid_argument(misd::detail::message(
        "train: rank ", dp.rank, " of ", dp.world_size, " processes",
        dp.world_size > 1 && !dp.all_reduce_sum ? " without an all_reduce_sum" : ""));
}

/// Data-parallel step: this rank's gradient (the mean over its `share` of `m` rows) weighted
/// by share / m, summed over the ranks with the loss and the count of correct predictions;
/// the model's gradients become the global batch's, and r its loss and count.
template <class M>
void reduce_gradients(M& model, train::step_result& r, std::size_t share, std::size_t m,
                      const train::data_parallel_options& dp, std::vector<double>& buffer) {
  const double w = double(share) / double(m);
  buffer.clear();
  for (const auto& g : model.gradients())
    for (const auto v : g)
      buffer.push_back(share ? w * double(v) : 0.0);
  buffer.push_back(share ? r.loss * double(share) : 0.0);
  buffer.push_back(double(share ? r.correct : 0));
  dp.all_reduce_sum(buffer);
  std::size_t k = 0;
  for (auto g : model.gradients())
    for (auto& v : g)
      v = static_cast<std::remove_reference_t<decltype(v)>>(buffer[k++]);
  r.loss = buffer[k] / double(m);
  r.correct = static_cast<std::size_t>(std::llround(buffer[k + 1]));
}

template <class D>
concept has_gather_rows = requires(const D& x, const std::size_t* idx) {
  { batch_ops<D>::gather_rows(x, idx, std::size_t{}) } -> std::convertible_to<D>;
};
/// The model's batch type B can take a batch of type D: D is B, or B's batch_ops convert it.
template <class B, class D>
concept takes_batch = std::same_as<B, D> || requires(const D& h) {
  { batch_ops<B>::from_host_batch(h) } -> std::convertible_to<B>;
};

template <class B, class D>
constexpr bool check_data() {
  static_assert(misd::detail::has_batch_ops<D>,
                "misd: no misd::batch_ops specialisation for the training data's batch type");
  static_assert(has_gather_rows<D>, "misd: training needs batch_ops<D>::gather_rows for the "
                                    "training data's batch type D (see misd/concepts.hpp)");
  static_assert(takes_batch<B, D>,
                "misd: the training data is neither the model's batch_type nor a batch that "
                "batch_ops<batch_type>::from_host_batch takes");
  return true;
}

/// A minibatch of type D as the model's batch type B (one conversion when they differ).
template <class B, class D>
B to_model_batch(D&& h) {
  if constexpr (std::is_same_v<B, std::remove_cvref_t<D>>)
    return std::forward<D>(h);
  else
    return batch_ops<B>::from_host_batch(h);
}

template <class S>
using mutable_span_scalar = std::remove_cvref_t<
    typename std::ranges::range_value_t<decltype(std::declval<S&>().parameters())>::element_type>;
} // namespace misd::detail

namespace misd::train {

/// Fraction of examples whose prediction is their label, in batches of `batch_size`.
template <class M, class D = batch_t<M>>
double accuracy(M& model, labelled_data<D> data, std::size_t batch_size = 1000) {
  static_assert(misd::detail::check_classifier<M>());
  static_assert(detail::check_data<batch_t<M>, D>());
  const auto n = batch_ops<D>::rows(data.images);
  if (n != data.labels.size())
    throw invalid_argument(
        misd::detail::message("accuracy: ", data.labels.size(), " labels for ", n, " images"));
  if (n == 0)
    throw invalid_argument(misd::detail::message("accuracy: no examples"));
  std::size_t right = 0;
  host_matrix z;
  label_vector pred;
  std::vector<std::size_t> idx;
  for (std::size_t b = 0; b < n; b += batch_size) {
    const auto m = std::min(batch_size, n - b);
    idx.resize(m);
    std::iota(idx.begin(), idx.end(), b);
    misd::detail::checked_logits(
        model,
        detail::to_model_batch<batch_t<M>>(batch_ops<D>::gather_rows(data.images, idx.data(), m)),
        z, "logits");
    misd::detail::argmax_rows(z, pred);
    for (std::size_t i = 0; i < m; ++i)
      right += pred[i] == data.labels[b + i];
  }
  return double(right) / double(n);
}

/// Trains `model` in place; returns the end-of-epoch reports. The last batch of an epoch may
/// be smaller than batch_size.
template <class M, class D = batch_t<M>>
std::vector<progress> fit(M& model, labelled_data<D> data, const train_options& o,
                          const progress_callback& report = {}) {
  static_assert(misd::detail::check_trainable<M>());
  static_assert(detail::check_data<batch_t<M>, D>());
  using clock = std::chrono::steady_clock;
  const auto n = batch_ops<D>::rows(data.images);
  if (n != data.labels.size())
    throw invalid_argument(
        misd::detail::message("train: ", data.labels.size(), " labels for ", n, " images"));
  detail::validate(o, n);
  detail::validate_objective(o.objective);

  const std::size_t batches = (n + o.batch_size - 1) / o.batch_size;
  const cosine_schedule lr{o.learning_rate, o.warmup_epochs * batches, o.epochs * batches,
                           o.min_learning_rate};
  lr.validate();
  sgd<detail::mutable_span_scalar<M>> opt(o.sgd);
  random_source rng(o.seed);
  std::vector<progress> history;
  const auto run_start = clock::now();
  std::size_t step = 0;
  const bool parallel = o.parallel.world_size > 1;
  std::vector<std::size_t> share_rows;
  std::vector<double> reduce_buffer;

  for (std::size_t epoch = 1; epoch <= o.epochs; ++epoch) {
    const auto order = rng.permutation(n);
    const bool use_mixup = o.mixup_alpha > 0 && epoch + o.mixup_off_last_epochs <= o.epochs;
    const auto epoch_start = clock::now();
    double loss_sum = 0;
    std::size_t seen = 0, right = 0;
    for (std::size_t b = 0; b < batches; ++b, ++step) {
      const std::size_t first = b * o.batch_size, m = std::min(o.batch_size, n - first);
      // Data-parallel: this rank's rows [s.first, s.end()) of the batch. Mixup draws its λ
      // and permutation for the whole batch (on every rank alike), then keeps the share.
      const auto s = parallel
                         ? misd::detail::contiguous_shard(m, o.parallel.rank, o.parallel.world_size)
                         : misd::detail::row_range{0, m};
      const bool whole = use_mixup || !parallel;
      D h = batch_ops<D>::gather_rows(data.images, order.data() + first + (whole ? 0 : s.first),
                                      whole ? m : s.count);
      label_vector y(whole ? m : s.count);
      for (std::size_t i = 0; i < y.size(); ++i)
        y[i] = data.labels[order[first + (whole ? 0 : s.first) + i]];
      soft_targets t =
          use_mixup ? mixup(h, y, o.mixup_alpha, rng) : soft_targets::hard(std::move(y));
      if (parallel && whole && s.count > 0) {
        share_rows.resize(s.count);
        std::iota(share_rows.begin(), share_rows.end(), s.first);
        h = batch_ops<D>::gather_rows(h, share_rows.data(), s.count);
        t.a = label_vector(t.a.begin() + std::ptrdiff_t(s.first),
                           t.a.begin() + std::ptrdiff_t(s.end()));
        t.b = label_vector(t.b.begin() + std::ptrdiff_t(s.first),
                           t.b.begin() + std::ptrdiff_t(s.end()));
      }

      model.zero_gradients();
      step_result r;
      if (s.count > 0) {
        const auto x = detail::to_model_batch<batch_t<M>>(std::move(h));
        r = accumulate_objective(model, x, t, o.objective);
      }
      if (parallel)
        detail::reduce_gradients(model, r, s.count, m, o.parallel, reduce_buffer);
      if (!std::isfinite(r.loss))
        throw data_error(misd::detail::message("train: the loss became ", r.loss, " in epoch ",
                                               epoch, ", batch ", b,
                                               " (lower the learning rate?)"));
      const double rate = lr(step);
      opt.step(model.parameters(), model.gradients(), rate);

      loss_sum += r.loss * double(m);
      right += r.correct;
      seen += m;
      if (report || b + 1 == batches) {
        progress p;
        p.epoch = epoch;
        p.epochs = o.epochs;
        p.batch_done = b + 1;
        p.batches = batches;
        p.loss = loss_sum / double(seen);
        p.accuracy = double(right) / double(seen);
        p.seconds = std::chrono::duration<double>(clock::now() - epoch_start).count();
        p.images_per_second = p.seconds > 0 ? double(seen) / p.seconds : 0.0;
        const double elapsed = std::chrono::duration<double>(clock::now() - run_start).count();
        const std::size_t done = step + 1, total = o.epochs * batches;
        p.seconds_left = elapsed / double(done) * double(total - done);
        p.learning_rate = rate;
        if (report)
          report(p);
        if (p.end_of_epoch())
          history.push_back(p);
      }
    }
  }
  return history;
}

} // namespace misd::train
