#pragma once
/// \file rate_problem.hpp
/// Rate-constrained classification with proxy constraints (Cotter et al. 2019):
///
///   min_theta  CE(theta)   s.t.   r - recall_k(theta) <= 0,   k = 0..K-1
///
/// over an MLP built with saddle::nn::Network (input -> hidden... -> K logits, ReLU between).
/// The recall of class k (the fraction of class-k samples predicted as k) is piecewise
/// constant in theta, so each constraint is split in two (docs/problem-api.md, "proxy
/// constraints"), both computed on the minibatch:
///   - proxy    eval.constraints(k) = r - s_k,  s_k = mean over class-k samples of the softmax
///              probability of class k (differentiable): it drives the primal step;
///   - strict   eval.strict(k) = r - recall_k (arg-max predictions): it drives the dual step.
/// A class absent from the minibatch gets 0 for both (no information: the multiplier
/// does not move). With `constrained = false` the problem has no constraints (plain
/// cross-entropy training), for the baseline.
///
/// Held-out strict values (`validation = V > 0`, the two-dataset scheme of Cotter et al.
/// 2019 for constraints that generalize): the last V samples of the training split are not
/// trained on; each step's strict values are the recalls on a minibatch of them (rows
/// [j*B, j*B + B) of their shuffled order, cyclically, for the step's batch index j),
/// computed with a second network instance at the same parameters. The proxies still come
/// from the training minibatch. num_samples() is then N - V.

#include <cstddef>
#include <cstdint>
#include <vector>

#include <xtensor/xtensor.hpp>

#include <saddle/nn/dataset.hpp>
#include <saddle/nn/network.hpp>
#include <saddle/problem.hpp>

namespace rate_constraints {

struct RateProblemOptions {
  std::vector<std::size_t> hidden = {300, 100};  ///< hidden layer widths (may be empty)
  double recall = 0.8;                           ///< r, in (0, 1]
  bool constrained = true;                       ///< false: no constraints (unconstrained baseline)
  std::size_t batch = 128;                       ///< largest training minibatch
  std::size_t eval_batch = 1000;                 ///< rows per forward in evaluate()
  std::size_t validation = 0;  ///< held-out samples for the strict values (0: none)
  /// Throws saddle::InvalidOption (one line) for r outside (0, 1], a zero width or batch.
  void validate() const;
};

/// Test (or train) metrics of a parameter vector.
struct ClassMetrics {
  std::vector<double> recall;      ///< [K], fraction of class-k samples predicted k
  std::vector<std::size_t> count;  ///< [K], samples of class k
  double error = 0.0;              ///< fraction misclassified
  double loss = 0.0;               ///< mean cross-entropy
};

class RateConstrainedClassifier final : public saddle::ProblemF {
 public:
  /// The problem over data.train (kept by reference; must outlive the problem). Throws
  /// InvalidOption for bad options, InputError for an empty training split.
  RateConstrainedClassifier(const saddle::nn::Dataset& data, RateProblemOptions options);

  std::size_t num_parameters() const override;
  std::vector<saddle::ConstraintSpec> constraints() const override;
  void initial_point(saddle::Vector<float>& x, std::uint64_t seed) const override;
  /// loss = mean CE of the minibatch; constraints = proxies, strict = minibatch recalls.
  void forward(const saddle::Vector<float>& x, const saddle::Batch& batch,
               saddle::Evaluation& eval) override;
  /// grad = d/dx [CE + sum_k w_k (r - s_k)], one backpropagation.
  void backward(const saddle::Vector<double>& weights, saddle::Vector<float>& grad) override;
  std::size_t num_samples() const override;
  void shuffle(std::uint64_t seed) override;

  const RateProblemOptions& options() const { return options_; }
  std::size_t num_classes() const { return classes_; }
  const saddle::nn::Network<float>& network() const { return net_; }
  /// Per-class metrics of x on a split, in batches of eval_batch (allocates its result).
  ClassMetrics evaluate(const saddle::Vector<float>& x, const saddle::nn::DataSplit& split);
  /// The same on rows [begin, end) of the split. Throws InputError for an empty or
  /// out-of-range row range.
  ClassMetrics evaluate(const saddle::Vector<float>& x, const saddle::nn::DataSplit& split,
                        std::size_t begin, std::size_t end);
  /// Training samples N - V; the held-out rows are [num_fit(), N).
  std::size_t num_fit() const { return num_fit_; }
  /// Of the last forward, per class: s_k (proxy recall), recall_k (on the held-out
  /// minibatch when validation > 0), and the training-minibatch sample counts.
  const std::vector<double>& last_proxy_recall() const { return proxy_; }
  const std::vector<double>& last_recall() const { return recall_; }
  const std::vector<std::size_t>& last_counts() const { return counts_; }

 private:
  void strict_on_validation(const saddle::Vector<float>& x, std::size_t batch_index);

  const saddle::nn::Dataset& data_;
  RateProblemOptions options_;
  std::size_t classes_;
  std::size_t num_fit_;
  saddle::nn::Network<float> net_;
  saddle::nn::Network<float> val_net_;  // same layers, own buffers (validation > 0)
  std::vector<std::size_t> order_;
  std::vector<std::size_t> val_order_;    // held-out rows num_fit_..N-1, shuffled
  xt::xtensor<float, 2> x_val_;           // [batch, features]
  xt::xtensor<float, 2> x_batch_;         // [max_batch, features]
  xt::xtensor<std::int32_t, 1> y_batch_;  // [max_batch]
  xt::xtensor<float, 2> probs_;           // [max_batch, K]: softmax of the last forward
  xt::xtensor<float, 2> dlogits_;         // [max_batch, K]
  std::vector<double> proxy_, recall_;
  std::vector<std::size_t> counts_, val_counts_, correct_;
  std::size_t batch_rows_ = 0;
  const saddle::Vector<float>* last_x_ = nullptr;
};

}  // namespace rate_constraints
