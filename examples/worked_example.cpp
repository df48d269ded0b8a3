// docs/worked_example.md: scoring, metrics and the paper's protocol on a 3-class linear model.
#include "misd/data/npy.hpp"
#include "misd/eigen/linear.hpp"
#include "misd/eval.hpp"
#include "misd/eval/report_io.hpp"
#include "misd/metric/summary.hpp"
#include "misd/score.hpp"

#include <cstdint>
#include <cstdio>
#include <iostream>
#include <random>
#include <string>
#include <vector>

int main() {
  using model_t = misd::eigen::linear<float>;
  // Three Gaussian classes in 2-D with unit variance; the model is their linear discriminant.
  const float mu[3][2] = {{0, 0}, {2, 0}, {1, 1.7f}};
  misd::eigen::batch<float> w(3, 2);
  misd::eigen::vector<float> b(3);
  for (int k = 0; k < 3; ++k) {
    w.row(k) << mu[k][0], mu[k][1];
    b[k] = -0.5f * (mu[k][0] * mu[k][0] + mu[k][1] * mu[k][1]);
  }
  model_t model(w, b);

  const int n = 5000;
  std::mt19937_64 rng(7);
  std::normal_distribution<float> noise(0.0f, 1.0f);
  misd::eigen::batch<float> x(n, 2);
  misd::label_vector y(n);
  for (int i = 0; i < n; ++i) {
    y[i] = i % 3;
    x.row(i) << mu[y[i]][0] + noise(rng), mu[y[i]][1] + noise(rng);
  }

  // 1. One method, one set of hyper-parameters: confidences, then every metric.
  const auto correct = misd::eval::correctness(model, x, y);
  for (const char* name : {"msr", "margin", "rr-fast"}) {
    const auto m = misd::score::make_method<model_t>(name);
    const auto conf = m.confidence(model, x, {1.0, 0.0});
    const auto s = misd::metric::evaluate(conf, correct);
    std::printf("%-8s accuracy %.4f  AUROC %.4f  FPR95 %.4f  AURC %.5f\n", name, s.accuracy,
                *s.auroc, *s.fpr95, s.aurc);
    if (std::string(name) == "rr-fast") { // for the CLI below
      const std::size_t shape[1] = {conf.size()};
      misd::data::write_npy<double>("rr_fast.npy", conf, shape);
      misd::data::write_npy<std::uint8_t>("correct.npy", correct, shape);
    }
  }

  // 2. The paper's protocol: 3 seeded 20/80 splits, grid search by validation AURC.
  std::vector<misd::score::method<model_t>> methods;
  for (const char* name : {"msr", "odin", "doctor", "energy", "margin", "relu", "rr-fast"})
    methods.push_back(misd::score::make_method<model_t>(name));
  const auto report = misd::eval::evaluate_protocol(model, x, y, methods);
  std::cout << "\n" << misd::eval::markdown_table(report);
  misd::eval::write_csv("protocol.csv", report);
  misd::eval::write_json("protocol.json", report);
}
