#pragma once
/// \file analytic.hpp
/// The seven analytic problems with known answers. Each one is a saddle::Problem (double
/// precision) and carries, as static members, what the registry publishes about it:
///   - `kName`                   command-line name;
///   - `description()`           one line with the formula and the answer;
///   - `answer()`                the known solution (x, multipliers, loss), computed exactly
///                               or by a short bisection;
///   - `defaults(scheme, kind)`  solver options under which every scheme of
///                               `converging_schemes()` reaches the answer without flags;
///   - `converging_schemes()`    schemes expected to converge under the Lagrangian.
///
/// Sign conventions (include/saddle/types.hpp): inequality g(x) <= 0, equality h(x) = 0,
/// Lagrangian L = f + sum_i lambda_i c_i, lambda_i >= 0 for inequalities.
///
/// All problems are deterministic (they ignore `Batch`) except NormConstrainedRegression,
/// which is stochastic over its samples. `forward`, `backward` and `evaluate_constraints`
/// never allocate; the constructors allocate the problem's buffers. The initial points are
/// fixed (the seed of `initial_point` is unused), so every solve is reproducible.

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include <xtensor/xtensor.hpp>

#include "saddle/options.hpp"
#include "saddle/problem.hpp"
#include "saddle/problems/registry.hpp"
#include "saddle/types.hpp"

namespace saddle::problems {

/// min (x - 2)^2  s.t.  x <= bound, written g(x) = x - bound <= 0 (one inequality "x<=bound").
/// The unconstrained minimiser is x = 2: for bound < 2 the constraint is active with
/// x* = bound, lambda* = 2 (2 - bound); otherwise x* = 2, lambda* = 0.
/// Initial point x0 = 0 (feasible). Base class of ActiveInequality and InactiveInequality.
class ScalarBoundProblem : public Problem {
 public:
  /// `name` appears in error messages; `bound` is the right-hand side of x <= bound.
  ScalarBoundProblem(const char* name, double bound) : name_(name), bound_(bound) {}
  std::size_t num_parameters() const override { return 1; }
  /// One inequality named "x<=bound".
  std::vector<ConstraintSpec> constraints() const override;
  /// x: [1] <- 0.
  void initial_point(Vector<double>& x, std::uint64_t seed) const override;
  /// loss = (x - 2)^2, constraints(0) = x - bound. Throws InputError for x not of size 1.
  void forward(const Vector<double>& x, const Batch& batch, Evaluation& eval) override;
  /// grad(0) = 2 (x - 2) + w_0.
  void backward(const Vector<double>& weights, Vector<double>& grad) override;
  double bound() const { return bound_; }
  /// Known answer for this bound (closed form).
  KnownAnswer known_answer() const;

 protected:
  /// Shared defaults of both scalar problems (see analytic.cpp for the tuning).
  static SolverOptions scalar_defaults(const std::string& scheme, FormulationKind formulation,
                                       double optimal_multiplier);

 private:
  const char* name_;
  double bound_;
  double x_ = 0.0;  // point of the last forward
};

/// active-inequality: min (x - 2)^2 s.t. x <= 1  ->  x* = 1, lambda* = 2, f* = 1.
class ActiveInequality final : public ScalarBoundProblem {
 public:
  static constexpr const char* kName = "active-inequality";
  ActiveInequality() : ScalarBoundProblem(kName, 1.0) {}
  static std::string description();
  static KnownAnswer answer();
  static SolverOptions defaults(const std::string& scheme, FormulationKind formulation);
  /// All five schemes.
  static std::vector<std::string> converging_schemes();
};

/// inactive-inequality: min (x - 2)^2 s.t. x <= 3  ->  x* = 2, lambda* = 0, f* = 0.
class InactiveInequality final : public ScalarBoundProblem {
 public:
  static constexpr const char* kName = "inactive-inequality";
  InactiveInequality() : ScalarBoundProblem(kName, 3.0) {}
  static std::string description();
  static KnownAnswer answer();
  static SolverOptions defaults(const std::string& scheme, FormulationKind formulation);
  /// All five schemes.
  static std::vector<std::string> converging_schemes();
};

/// equality-qp: min 6 x0^2 + 4 x0 x1 + 3 x1^2  s.t.  h(x) = x0 + x1 - 5 = 0 ("x0+x1=5").
/// KKT: 12 x0 + 4 x1 + lambda = 0, 4 x0 + 6 x1 + lambda = 0, x0 + x1 = 5
///   ->  x* = (1, 4), f* = 70, lambda* = -28. Initial point (0, 0).
class EqualityQp final : public Problem {
 public:
  static constexpr const char* kName = "equality-qp";
  static std::string description();
  static KnownAnswer answer();
  static SolverOptions defaults(const std::string& scheme, FormulationKind formulation);
  /// All five schemes.
  static std::vector<std::string> converging_schemes();

  std::size_t num_parameters() const override { return 2; }
  std::vector<ConstraintSpec> constraints() const override;
  /// x: [2] <- (0, 0).
  void initial_point(Vector<double>& x, std::uint64_t seed) const override;
  void forward(const Vector<double>& x, const Batch& batch, Evaluation& eval) override;
  /// grad = (12 x0 + 4 x1 + w0, 4 x0 + 6 x1 + w0).
  void backward(const Vector<double>& weights, Vector<double>& grad) override;

 private:
  std::array<double, 2> x_{};  // point of the last forward
};

/// hs21 (Hock & Schittkowski 1981, problem 21):
///   min 0.01 x1^2 + x2^2 - 100
///   s.t. 10 x1 - x2 >= 10,  2 <= x1 <= 50,  -50 <= x2 <= 50,
/// written as five inequalities g <= 0, in this order:
///   "linear"   10 - 10 x1 + x2,  "x1_lower" 2 - x1,  "x1_upper" x1 - 50,
///   "x2_lower" -50 - x2,         "x2_upper" x2 - 50.
/// Answer x* = (2, 0), f* = -99.96. KKT at x*: grad f = (0.04, 0); only "x1_lower" is active
/// (grad = (-1, 0)), so lambda* = (0, 0.04, 0, 0, 0). Parameters are [x1, x2]. Initial
/// point: the standard start (-1, -1), which violates "linear" and "x1_lower".
class Hs21 final : public Problem {
 public:
  static constexpr const char* kName = "hs21";
  static std::string description();
  static KnownAnswer answer();
  static SolverOptions defaults(const std::string& scheme, FormulationKind formulation);
  /// All five schemes.
  static std::vector<std::string> converging_schemes();

  std::size_t num_parameters() const override { return 2; }
  std::vector<ConstraintSpec> constraints() const override;
  /// x: [2] <- (-1, -1).
  void initial_point(Vector<double>& x, std::uint64_t seed) const override;
  void forward(const Vector<double>& x, const Batch& batch, Evaluation& eval) override;
  void backward(const Vector<double>& weights, Vector<double>& grad) override;

 private:
  std::array<double, 2> x_{};
};

/// linear-equality: min x  s.t.  h(x) = x = 0 ("x=0"). The Lagrangian x + lambda x is
/// bilinear around its unique saddle point (x*, lambda*) = (0, -1): simultaneous GDA spirals
/// away from it, alternating GDA circles around it, extragradient and extrapolation from the
/// past converge to it. Initial point x0 = 1 (so the rotation is visible even from
/// lambda0 = 0). f* = 0.
class LinearEquality final : public Problem {
 public:
  static constexpr const char* kName = "linear-equality";
  static std::string description();
  static KnownAnswer answer();
  /// Same step sizes for every scheme, so the behaviours are comparable; fixed-penalty gets
  /// lambda* = -1 (then every x is a minimiser and x stays at x0).
  static SolverOptions defaults(const std::string& scheme, FormulationKind formulation);
  /// {extragradient, extrapolation-from-the-past}.
  static std::vector<std::string> converging_schemes();

  std::size_t num_parameters() const override { return 1; }
  std::vector<ConstraintSpec> constraints() const override;
  /// x: [1] <- 1.
  void initial_point(Vector<double>& x, std::uint64_t seed) const override;
  void forward(const Vector<double>& x, const Batch& batch, Evaluation& eval) override;
  /// grad(0) = 1 + w0.
  void backward(const Vector<double>& weights, Vector<double>& grad) override;
};

/// max-entropy: the distribution p over the faces 1..6 of a die with the largest entropy and
/// mean 4.5 (Jaynes' dice problem):
///   min sum_i phi(p_i)  s.t.  "sum=1": sum_i p_i - 1 = 0,  "mean": sum_i i p_i - 4.5 = 0,
///                             "p<i> >= 0": -p_i <= 0 (six inequalities),
/// constraint order [sum=1, mean, p1>=0, ..., p6>=0]; parameters p: [6] for faces 1..6.
/// phi(p) = p log p for p >= kDelta and, below kDelta, its second-order Taylor polynomial at
/// kDelta (value, slope and curvature match: phi is C2 and defined for every real p).
/// Answer: p_i = exp(beta i) / Z with beta solving mean(beta) = 4.5 (bisection), the
/// equality multipliers from stationarity log p_i + 1 + mu1 + mu2 i = 0, i.e.
/// mu2 = -beta, mu1 = log Z - 1; the inequality multipliers are 0. Initial point: uniform.
class MaxEntropy final : public Problem {
 public:
  static constexpr const char* kName = "max-entropy";
  /// Below this value phi is the quadratic extension of p log p.
  static constexpr double kDelta = 1e-6;
  static constexpr std::size_t kFaces = 6;
  static constexpr double kMean = 4.5;
  static std::string description();
  static KnownAnswer answer();
  static SolverOptions defaults(const std::string& scheme, FormulationKind formulation);
  /// All five schemes.
  static std::vector<std::string> converging_schemes();

  std::size_t num_parameters() const override { return kFaces; }
  std::vector<ConstraintSpec> constraints() const override;
  /// p: [6] <- 1/6 each.
  void initial_point(Vector<double>& x, std::uint64_t seed) const override;
  void forward(const Vector<double>& x, const Batch& batch, Evaluation& eval) override;
  /// grad_i = phi'(p_i) + w0 + w1 i - w_{1+i}.
  void backward(const Vector<double>& weights, Vector<double>& grad) override;

  /// phi and its derivative (exposed for tests).
  static double phi(double p);
  static double phi_prime(double p);

 private:
  std::array<double, kFaces> p_{};
};

/// norm-constrained-regression: least squares on generated data with a norm ball,
///   min_w (1/2B) ||X_b w - y_b||^2  s.t.  "norm": ||w||^2 - r^2 <= 0,
/// stochastic over the N samples (rows of X). The data: X [N, d] standard normal, y = X w_true
/// + noise * N(0, 1), from a fixed data seed (portable splitmix64 + Box-Muller, identical on
/// every platform). The radius is r = radius_fraction * ||w_ls|| (w_ls: the least-squares
/// solution on all data), so the constraint is active for radius_fraction < 1.
/// Answer (full data): the ridge solution w(lambda) = (X^T X / N + 2 lambda I)^{-1} X^T y / N
/// with lambda* found by bisection so that ||w(lambda*)|| = r; multipliers = {lambda*}.
/// Initial point: w = 0 (feasible).
class NormConstrainedRegression final : public Problem {
 public:
  static constexpr const char* kName = "norm-constrained-regression";

  struct Config {
    std::size_t samples = 512;         ///< N
    std::size_t features = 5;          ///< d; w_true = first d of (1, -2, 0.5, 3, -1, 1.5, ...)
    double noise = 0.1;                ///< std of the label noise
    double radius_fraction = 0.5;      ///< r = radius_fraction * ||w_ls||, in (0, inf)
    std::uint64_t data_seed = 20240601;///< seed of X and the noise
  };

  /// Generates the data (allocates X, y, their shuffled copies and the residual buffer).
  /// Throws InvalidOption for samples or features = 0 or radius_fraction <= 0.
  explicit NormConstrainedRegression(Config config);
  NormConstrainedRegression() : NormConstrainedRegression(Config{}) {}

  static std::string description();
  /// Answer of the default configuration.
  static KnownAnswer answer();
  /// Minibatch SGD defaults (see regression.cpp for the chosen lr, batch and epochs).
  static SolverOptions defaults(const std::string& scheme, FormulationKind formulation);
  /// All five schemes (to the stated stochastic tolerance).
  static std::vector<std::string> converging_schemes();

  std::size_t num_parameters() const override { return config_.features; }
  std::vector<ConstraintSpec> constraints() const override;
  /// w: [d] <- 0.
  void initial_point(Vector<double>& x, std::uint64_t seed) const override;
  /// Loss on rows [begin, begin + size) of the current order (size 0: all N rows) and the
  /// deterministic constraint ||w||^2 - r^2. Throws InputError for a batch past N.
  void forward(const Vector<double>& x, const Batch& batch, Evaluation& eval) override;
  /// grad = X_b^T (X_b w - y_b) / B + 2 w0 w (one gemv).
  void backward(const Vector<double>& weights, Vector<double>& grad) override;
  /// The constraint only (no pass over the data).
  void evaluate_constraints(const Vector<double>& x, const Batch& batch, Evaluation& eval) override;
  std::size_t num_samples() const override { return config_.samples; }
  /// Resets the order to the original one, then applies a Fisher-Yates permutation drawn
  /// from `seed`: the order depends only on the seed. Copies the rows into the shuffled
  /// buffers (no allocation).
  void shuffle(std::uint64_t seed) override;

  /// Known answer for this instance (ridge + bisection on lambda; allocates).
  KnownAnswer known_answer() const;
  /// w(lambda) = (X^T X / N + 2 lambda I)^{-1} X^T y / N on all data, lambda >= 0: [d].
  Vector<double> ridge_solution(double lambda) const;
  /// Full-data loss (1/2N) ||X w - y||^2 at w: [d], independent of the current order.
  double full_loss(const Vector<double>& w) const;
  double radius() const { return radius_; }
  const Config& config() const { return config_; }
  const xt::xtensor<double, 2>& features() const { return x_; }  ///< [N, d], original order
  const Vector<double>& targets() const { return y_; }            ///< [N], original order

 private:
  Config config_;
  xt::xtensor<double, 2> x_;         // [N, d] original order
  Vector<double> y_;                 // [N]
  xt::xtensor<double, 2> x_shuf_;    // [N, d] current order
  Vector<double> y_shuf_;            // [N]
  std::vector<std::size_t> order_;   // [N] permutation of the current order
  Vector<double> residual_;          // [N] X_b w - y_b of the last forward (first B used)
  Vector<double> w_;                 // [d] point of the last forward
  std::size_t batch_begin_ = 0;      // rows of the last forward
  std::size_t batch_rows_ = 0;
  double radius_ = 0.0;
  xt::xtensor<double, 2> gram_;      // [d, d] X^T X / N (for the answer)
  Vector<double> xty_;               // [d] X^T y / N
};

}  // namespace saddle::problems
