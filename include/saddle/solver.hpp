#pragma once
/// \file solver.hpp
/// The solve driver and the update-scheme interface.
///
/// A Solver owns the iteration: minibatches, epochs, dual restarts, penalty growth,
/// convergence, NaN/Inf checks, callbacks and the Summary. An UpdateScheme decides the
/// order of evaluations and updates inside one step (simultaneous GDA, alternating GDA,
/// extragradient, extrapolation from the past) through a StepContext.

#include <algorithm>
#include <chrono>
#include <iosfwd>
#include <memory>
#include <string>
#include <vector>

#include "saddle/callbacks.hpp"
#include "saddle/formulation.hpp"
#include "saddle/options.hpp"
#include "saddle/problem.hpp"
#include "saddle/rules.hpp"
#include "saddle/summary.hpp"
#include "saddle/types.hpp"

namespace saddle {

/// Thrown inside a step when a value is NaN or Inf; the Solver turns it into
/// Termination::numerical_failure (it never escapes `Solver::solve`).
class NumericalFailure : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// What an update scheme may do inside one step. Every call works on the current batch.
template <class T>
class StepContext {
 public:
  virtual ~StepContext() = default;
  /// Forward pass at x: [n] into eval (sized [m]). Counts a forward; checks finiteness.
  virtual void forward(const Vector<T>& x, Evaluation& eval) = 0;
  /// Constraint values only at x (alternating primal->dual). Counts a forward.
  virtual void evaluate_constraints(const Vector<T>& x, Evaluation& eval) = 0;
  /// grad: [n] = gradient of the formulation at the last forward, with the weights the
  /// formulation derives from eval.constraints and lambda. Counts a backward.
  virtual void backward(const Evaluation& eval, const Vector<double>& lambda, Vector<T>& grad) = 0;
  /// Primal rule step on x, then Problem::project.
  virtual void primal_step(Vector<T>& x, const Vector<T>& grad) = 0;
  /// out: [n] = the primal rule's step applied to from: [n], then Problem::project(out);
  /// `from` is left as it is (extrapolation points). The solver's driver runs the rule out of
  /// place (PrimalRule::step_range_to): no copy of `from` into `out` first.
  virtual void primal_step_from(Vector<T>& out, const Vector<T>& from, const Vector<T>& grad) {
    std::copy(from.begin(), from.end(), out.begin());
    primal_step(out, grad);
  }
  /// Dual rule step on lambda from eval.dual_values(), then projection. A no-op for
  /// formulations whose multipliers do not move. `commit` = true for the step's final
  /// dual update (dual restarts and penalty growth apply there only); false for
  /// extrapolation half-steps.
  virtual void dual_step(Vector<double>& lambda, const Evaluation& eval, bool commit) = 0;
};

/// Result of one step: the evaluation to report and the point it was made at
/// (nullptr = the point at the start of the step, which the driver keeps).
template <class T>
struct StepResult {
  const Evaluation* evaluation = nullptr;
  const Vector<T>* evaluated_x = nullptr;
};

/// One update scheme (solvers/). Buffers are allocated in `initialize`, never in `step`.
template <class T>
class UpdateScheme {
 public:
  virtual ~UpdateScheme() = default;
  /// Name as used on the command line, e.g. "extragradient".
  virtual std::string name() const = 0;
  /// Problem forwards and backwards per step (for reports and docs).
  virtual double forwards_per_step() const = 0;
  virtual double backwards_per_step() const = 0;
  /// Allocates buffers for n parameters and m constraints; clears any carried state.
  virtual void initialize(std::size_t n, std::size_t m) = 0;
  /// One step: updates x: [n] and lambda: [m] in place.
  virtual StepResult<T> step(StepContext<T>& ctx, Vector<T>& x, Vector<double>& lambda) = 0;
  /// True when step() changes x only through StepContext::primal_step(x, ...) on the x it
  /// was given. The driver keeps the start of every step (StepInfo::evaluated_x, the iterate
  /// returned after a numerical failure); for such a scheme the first primal_step(x, ...) of
  /// a step writes the new iterate into a second buffer and swaps the two (x's contents move
  /// to other storage; the Vector object stays), instead of copying x before the step. The
  /// default, false, is always correct.
  virtual bool updates_x_by_primal_step() const { return false; }
  /// Scheme state (e.g. the previous gradient of extrapolation from the past).
  virtual void save(std::ostream& out) const { (void)out; }
  virtual void load(std::istream& in) { (void)in; }
};

/// The solve driver.
///
///     saddle::SolverOptions opt;  opt.primal.lr = 0.05;
///     saddle::Solver<double> solver(saddle::make_scheme<double>("extragradient"), opt);
///     auto summary = solver.solve(problem);
///
/// The built-in schemes, `make_scheme` and the one-call `saddle::solve` are declared in
/// <saddle/solvers.hpp> (library saddle_solvers).
template <class T>
class Solver {
 public:
  /// Validates `options` (throws InvalidOption) and takes the scheme.
  Solver(std::unique_ptr<UpdateScheme<T>> scheme, SolverOptions options);
  ~Solver();
  Solver(const Solver&) = delete;
  Solver& operator=(const Solver&) = delete;

  /// Adds a non-owning callback; it must outlive the solve.
  void add_callback(Callback<T>* callback);
  const SolverOptions& options() const;
  const UpdateScheme<T>& scheme() const;

  /// Solves from the problem's initial point (seeded by options.seed) and the initial
  /// multipliers of the options. Never throws for numerical trouble: see Summary.
  Summary<T> solve(BasicProblem<T>& problem);
  /// Solves from a given point x0: [n].
  Summary<T> solve(BasicProblem<T>& problem, const Vector<T>& x0);

  /// Checkpoint support: writes the full state of the solve in progress (x, multipliers,
  /// rule, formulation and scheme states, counters, elapsed time). Call it from a callback
  /// (typically on_epoch_end); it allocates nothing and throws nothing but stream errors.
  void save_state(std::ostream& out) const;
  /// Continues a solve from a state written by save_state for the same problem and
  /// options; the run then behaves exactly as the uninterrupted one would have. Throws
  /// InputError naming the mismatch for a truncated or foreign state.
  Summary<T> resume(BasicProblem<T>& problem, std::istream& state);
  /// Reads only the parameter vector x: [n] from a state written by save_state, leaving
  /// the stream after it (for tools that load a trained point without its problem).
  /// Throws InputError for a foreign, other-version, other-precision or truncated state.
  static Vector<T> read_parameters(std::istream& state);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace saddle
