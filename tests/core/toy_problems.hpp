#pragma once
// Small problems defined inside the core tests, so that the core is tested without the
// problems library.
#include <cmath>
#include <limits>

#include "saddle/problem.hpp"

namespace saddle::test {

/// min (x - 2)^2 s.t. x - bound <= 0.  bound = 1: x* = 1, lambda* = 2; bound = 3: x* = 2, lambda* = 0.
class Parabola : public Problem {
 public:
  explicit Parabola(double bound = 1.0, double start = 0.0) : bound_(bound), start_(start) {}
  std::size_t num_parameters() const override { return 1; }
  std::vector<ConstraintSpec> constraints() const override { return {{"x_le_bound", ConstraintKind::inequality}}; }
  void initial_point(Vector<double>& x, std::uint64_t) const override { x(0) = start_; }
  void forward(const Vector<double>& x, const Batch&, Evaluation& e) override {
    x_ = x(0);
    e.loss = (x_ - 2.0) * (x_ - 2.0);
    e.constraints(0) = x_ - bound_;
  }
  void backward(const Vector<double>& w, Vector<double>& g) override { g(0) = 2.0 * (x_ - 2.0) + w(0); }

 private:
  double bound_, start_, x_ = 0.0;
};

/// Returns NaN loss once x passes `trip` (to test numerical-failure handling).
class Tripwire : public Problem {
 public:
  std::size_t num_parameters() const override { return 1; }
  std::vector<ConstraintSpec> constraints() const override { return {}; }
  void initial_point(Vector<double>& x, std::uint64_t) const override { x(0) = 0.0; }
  void forward(const Vector<double>& x, const Batch&, Evaluation& e) override {
    e.loss = x(0) > 0.5 ? std::numeric_limits<double>::quiet_NaN() : -x(0);
  }
  void backward(const Vector<double>&, Vector<double>& g) override { g(0) = -1.0; }
};

/// Stochastic: min (1/N) sum_k (x - a_k)^2 / 2 s.t. x <= 0.5 with a_k = k / N + noise from the
/// batch's noise seed (tests shuffling, batching and deterministic noise).
class NoisyMean : public Problem {
 public:
  explicit NoisyMean(std::size_t n = 20) : a_(Vector<double>::from_shape({n})), order_(n) {
    for (std::size_t k = 0; k < n; ++k) a_(k) = static_cast<double>(k) / static_cast<double>(n);
    for (std::size_t k = 0; k < n; ++k) order_[k] = k;
  }
  std::size_t num_parameters() const override { return 1; }
  std::vector<ConstraintSpec> constraints() const override { return {{"x_le_half", ConstraintKind::inequality}}; }
  void initial_point(Vector<double>& x, std::uint64_t) const override { x(0) = 0.0; }
  std::size_t num_samples() const override { return a_.size(); }
  void shuffle(std::uint64_t seed) override {
    for (std::size_t k = 0; k < order_.size(); ++k) order_[k] = k;
    std::uint64_t s = seed;
    for (std::size_t k = order_.size(); k > 1; --k) {
      s = s * 6364136223846793005ull + 1442695040888963407ull;
      std::swap(order_[k - 1], order_[(s >> 33) % k]);
    }
    ++shuffles;
  }
  void forward(const Vector<double>& x, const Batch& b, Evaluation& e) override {
    const double noise = static_cast<double>(b.noise_seed % 1000) / 1000.0 - 0.5;
    double loss = 0.0, mean = 0.0;
    for (std::size_t k = b.begin; k < b.begin + b.size; ++k) {
      const double d = x(0) - a_(order_[k]) - 0.01 * noise;
      loss += 0.5 * d * d;
      mean += d;
      ++seen;
    }
    loss_grad_ = mean / static_cast<double>(b.size);
    e.loss = loss / static_cast<double>(b.size);
    e.constraints(0) = x(0) - 0.5;
  }
  void backward(const Vector<double>& w, Vector<double>& g) override { g(0) = loss_grad_ + w(0); }
  std::size_t seen = 0, shuffles = 0;

 private:
  Vector<double> a_;
  std::vector<std::size_t> order_;
  double loss_grad_ = 0.0;
};

}  // namespace saddle::test
