#pragma once
// The seven analytic problems of problems/saddle/problems/analytic.hpp written ONCE as
// functors templated on the scalar (double for values and numeric differences, adouble for
// ADOL-C), with specs that copy the hand-written problems' size, constraints (names, kinds,
// order), initial point and, for the regression, samples. Shared by the numeric-difference
// tests (tests/core), the ADOL-C tests (tests/autodiff) and benchmarks/bench_autodiff.cpp.

#include <cmath>
#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include "saddle/function_problem.hpp"
#include "saddle/problems/analytic.hpp"

namespace saddle::testing_functors {

/// min (x - 2)^2 s.t. x - bound <= 0 (active-inequality: bound 1, inactive-inequality: 3).
struct ScalarBound {
  double bound = 1.0;
  template <class S>
  void operator()(const S* x, S& loss, S* c) const {
    loss = (x[0] - 2.0) * (x[0] - 2.0);
    c[0] = x[0] - bound;
  }
};

/// min 6 x0^2 + 4 x0 x1 + 3 x1^2 s.t. x0 + x1 - 5 = 0.
struct EqualityQp {
  template <class S>
  void operator()(const S* x, S& loss, S* c) const {
    loss = 6.0 * x[0] * x[0] + 4.0 * x[0] * x[1] + 3.0 * x[1] * x[1];
    c[0] = x[0] + x[1] - 5.0;
  }
};

/// Hock-Schittkowski 21 with its five inequalities (order of Hs21::constraints()).
struct Hs21 {
  template <class S>
  void operator()(const S* x, S& loss, S* c) const {
    loss = 0.01 * x[0] * x[0] + x[1] * x[1] - 100.0;
    c[0] = 10.0 - 10.0 * x[0] + x[1];
    c[1] = 2.0 - x[0];
    c[2] = x[0] - 50.0;
    c[3] = -50.0 - x[1];
    c[4] = x[1] - 50.0;
  }
};

/// min x s.t. x = 0.
struct LinearEquality {
  template <class S>
  void operator()(const S* x, S& loss, S* c) const {
    loss = x[0];
    c[0] = x[0];
  }
};

/// Jaynes' dice: sum phi(p_i) with phi(p) = p log p for p >= delta and its quadratic
/// extension below (a branch on the value of p: ADOL-C records the comparison and retapes
/// when a p_i crosses delta).
struct MaxEntropy {
  template <class S>
  static S phi(const S& p) {
    using std::log;
    constexpr double d = problems::MaxEntropy::kDelta;
    if (p >= d) return p * log(p);
    const S e = p - d;
    return d * std::log(d) + (std::log(d) + 1.0) * e + 0.5 * e * e / d;
  }
  template <class S>
  void operator()(const S* x, S& loss, S* c) const {
    constexpr std::size_t faces = problems::MaxEntropy::kFaces;
    loss = 0.0;
    S sum = 0.0;
    S mean = 0.0;
    for (std::size_t k = 0; k < faces; ++k) {
      loss += phi(x[k]);
      sum += x[k];
      mean += static_cast<double>(k + 1) * x[k];
      c[2 + k] = -x[k];
    }
    c[0] = sum - 1.0;
    c[1] = mean - problems::MaxEntropy::kMean;
  }
};

/// Norm-constrained least squares over a batch of samples [features..., label]:
///   loss = (1/2B) sum_r (a_r . w - y_r)^2,  c = ||w||^2 - r^2.
struct Regression {
  std::size_t features = 5;
  double radius = 1.0;
  template <class S>
  void operator()(const S* w, const SampleBatch<S>& batch, S& loss, S* c) const {
    S ss = 0.0;
    for (std::size_t r = 0; r < batch.rows; ++r) {
      const S* row = batch.row(r);
      S res = -row[features];
      for (std::size_t j = 0; j < features; ++j) res += row[j] * w[j];
      ss += res * res;
    }
    loss = ss / (2.0 * static_cast<double>(batch.rows));
    S norm2 = 0.0;
    for (std::size_t j = 0; j < features; ++j) norm2 += w[j] * w[j];
    c[0] = norm2 - radius * radius;
  }
};

/// A spec with the hand-written problem's name, size, constraints and initial point.
inline FunctionProblemSpec spec_of(Problem& hand, const std::string& name) {
  FunctionProblemSpec spec;
  spec.name = name;
  spec.num_parameters = hand.num_parameters();
  spec.constraints = hand.constraints();
  Vector<double> x0 = Vector<double>::from_shape({spec.num_parameters});
  hand.initial_point(x0, 0);
  spec.initial_point.assign(x0.begin(), x0.end());
  return spec;
}

/// The regression's samples: rows [x_r (d values), y_r] in the original order.
inline SampleData regression_samples(const problems::NormConstrainedRegression& hand) {
  const auto& x = hand.features();
  const auto& y = hand.targets();
  const std::size_t n = x.shape()[0];
  const std::size_t d = x.shape()[1];
  SampleData data;
  data.width = d + 1;
  data.values.reserve(n * (d + 1));
  for (std::size_t r = 0; r < n; ++r) {
    for (std::size_t j = 0; j < d; ++j) data.values.push_back(x(r, j));
    data.values.push_back(y(r));
  }
  return data;
}

/// The function version of the built-in problem `name`, made by make(spec, functor) (a
/// generic lambda returning std::unique_ptr<Problem>): the same spec and functor for the
/// numeric-difference and the ADOL-C adapters.
template <class Make>
std::unique_ptr<Problem> function_version(const std::string& name, Make make) {
  using namespace saddle::problems;
  if (name == "active-inequality") {
    ActiveInequality hand;
    return make(spec_of(hand, name), ScalarBound{hand.bound()});
  }
  if (name == "inactive-inequality") {
    InactiveInequality hand;
    return make(spec_of(hand, name), ScalarBound{hand.bound()});
  }
  if (name == "equality-qp") {
    problems::EqualityQp hand;
    return make(spec_of(hand, name), EqualityQp{});
  }
  if (name == "hs21") {
    problems::Hs21 hand;
    return make(spec_of(hand, name), Hs21{});
  }
  if (name == "linear-equality") {
    problems::LinearEquality hand;
    return make(spec_of(hand, name), LinearEquality{});
  }
  if (name == "max-entropy") {
    problems::MaxEntropy hand;
    return make(spec_of(hand, name), MaxEntropy{});
  }
  if (name == "norm-constrained-regression") {
    NormConstrainedRegression hand;
    FunctionProblemSpec spec = spec_of(hand, name);
    spec.samples = regression_samples(hand);
    return make(std::move(spec), Regression{hand.config().features, hand.radius()});
  }
  throw InvalidOption("no function version of '" + name + "'");
}

/// The seven problems, in the registry's order.
inline std::vector<std::string> analytic_names() {
  return {
      "active-inequality", "inactive-inequality",        "equality-qp", "hs21", "linear-equality",
      "max-entropy",       "norm-constrained-regression"};
}

/// Three points for gradient comparisons around the initial point (k = 0, 1, 2): p_j =
/// x0_j + 0.37 sin(1.3 j + 2.1 k + 0.4); max-entropy stays in (0.05, 0.3) (p log p branch).
inline Vector<double> test_point(const std::string& name, const Vector<double>& x0, int k) {
  Vector<double> p = x0;
  for (std::size_t j = 0; j < p.size(); ++j) {
    const double s = std::sin(1.3 * static_cast<double>(j) + 2.1 * k + 0.4);
    p(j) = name == "max-entropy" ? 0.175 + 0.12 * s : x0(j) + 0.37 * s + 0.1 * k;
  }
  return p;
}

/// Weight vectors [m]: k = 0 all zeros (the loss alone); k = 1, 2 distinct, non-zero, both
/// signs.
inline Vector<double> test_weights(std::size_t m, int k) {
  Vector<double> w = Vector<double>::from_shape({m});
  for (std::size_t i = 0; i < m; ++i)
    w(i) = k == 0 ? 0.0
                  : (k == 1 ? 0.7 - 0.45 * static_cast<double>(i)
                            : 3.0 * std::cos(0.9 * static_cast<double>(i) + 0.3));
  return w;
}

}  // namespace saddle::testing_functors
