#pragma once
/// \file problem.hpp
/// The problem interface: what a user implements to describe a constrained problem
///   min_x f(x)  s.t.  g_i(x) <= 0 (inequalities),  h_j(x) = 0 (equalities).

#include <cstddef>
#include <cstdint>
#include <vector>

#include "saddle/types.hpp"

namespace saddle {

/// A constrained problem over a parameter vector of scalar type T (float or double).
///
/// Contract (see docs/problem-api.md):
/// - `forward(x, batch, eval)` evaluates the loss and all m constraint values at x on the
///   batch and remembers whatever `backward` needs;
/// - `backward(w, grad)` writes grad = d/dx [ f(x) + sum_i w_i c_i(x) ] at the point of the
///   last forward, in one pass (one vector-Jacobian product, never one pass per constraint);
/// - neither call may allocate once the first call has sized the problem's buffers.
template <class T>
class BasicProblem {
 public:
  using Scalar = T;
  virtual ~BasicProblem() = default;

  /// Number n of scalar parameters.
  virtual std::size_t num_parameters() const = 0;
  /// The m constraints, in the order of `Evaluation::constraints`.
  virtual std::vector<ConstraintSpec> constraints() const = 0;
  /// Writes the initial point into x: [n] (already sized). `seed` drives any random init.
  virtual void initial_point(Vector<T>& x, std::uint64_t seed) const = 0;
  /// Evaluates loss and constraints at x: [n] on `batch`; fills eval.loss,
  /// eval.constraints: [m] and, for proxy constraints, eval.strict: [m] with has_strict = true.
  virtual void forward(const Vector<T>& x, const Batch& batch, Evaluation& eval) = 0;
  /// Gradient of f + sum_i weights_i * c_i at the point of the last `forward`.
  /// weights: [m], grad: [n] (overwritten).
  virtual void backward(const Vector<double>& weights, Vector<T>& grad) = 0;
  /// Constraint values only (used by alternating primal->dual after the primal step).
  /// Default: a full forward. Override when constraints are much cheaper than the loss.
  virtual void evaluate_constraints(const Vector<T>& x, const Batch& batch, Evaluation& eval) {
    forward(x, batch, eval);
  }
  /// Number of samples for stochastic problems; 0 means deterministic (full batch).
  virtual std::size_t num_samples() const { return 0; }
  /// Reorders the samples for a new epoch (stochastic problems only).
  virtual void shuffle(std::uint64_t seed) { (void)seed; }
  /// Called after every primal step: map x back into its domain (e.g. clamp gate
  /// parameters). Default: nothing.
  virtual void project(Vector<T>& x) const { (void)x; }
};

/// The double-precision problem, for analytic problems solved to 1e-8.
using Problem = BasicProblem<double>;
/// The single-precision problem, for neural networks trained with sgemm.
using ProblemF = BasicProblem<float>;

}  // namespace saddle
