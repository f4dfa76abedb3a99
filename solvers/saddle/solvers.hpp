#pragma once
/// \file solvers.hpp
/// The built-in update schemes (library saddle_solvers, CMake target saddle::solvers): their
/// typed classes, the one table every list of schemes reads (command-line help, choice lists,
/// test loops, `saddle solve --list`), the factory by name, and `saddle::solve`, the one-call
/// solve for the common case.
///
///     #include <saddle/saddle.hpp>
///     #include <saddle/solvers.hpp>
///     saddle::SolverOptions options;  options.primal.lr = 0.05;
///     saddle::Summary<double> s = saddle::solve(problem, options, "extragradient");
///
/// Adding a scheme: one class below (and its file in solvers/), one row in the table of
/// solvers/registry.cpp. Nothing else lists scheme names. A scheme that moves x only through
/// ctx.primal_step(x, ...) returns true from updates_x_by_primal_step() (the driver then keeps
/// the start of the step without copying x) and makes extrapolation points with
/// ctx.primal_step_from(x_half, x, grad).
///
/// Every scheme allocates its buffers in `initialize(n, m)` and nothing in `step`; the equations
/// and costs are on one page per scheme in docs/solvers/.

#include <cstddef>
#include <iosfwd>
#include <memory>
#include <string>
#include <vector>

#include "saddle/callbacks.hpp"
#include "saddle/options.hpp"
#include "saddle/problem.hpp"
#include "saddle/solver.hpp"
#include "saddle/summary.hpp"
#include "saddle/types.hpp"

namespace saddle {

/// Simultaneous gradient descent-ascent (`gda`): both players use the evaluation at the start
/// of the step; 1 forward, 1 backward per step.
template <class T>
class SimultaneousGda final : public UpdateScheme<T> {
 public:
  static constexpr const char* kName = "gda";
  std::string name() const override { return kName; }
  double forwards_per_step() const override { return 1; }
  bool updates_x_by_primal_step() const override { return true; }
  double backwards_per_step() const override { return 1; }
  void initialize(std::size_t n, std::size_t m) override;
  StepResult<T> step(StepContext<T>& ctx, Vector<T>& x, Vector<double>& lambda) override;

 private:
  Vector<T> grad_;  // [n]
  Evaluation eval_; // [m]
};

/// Alternating GDA, primal first (`alternating-primal-dual`): primal step, then the dual step
/// from a constraints-only evaluation at the new point; 2 forwards (one constraints only),
/// 1 backward per step.
template <class T>
class AlternatingPrimalDual final : public UpdateScheme<T> {
 public:
  static constexpr const char* kName = "alternating-primal-dual";
  std::string name() const override { return kName; }
  double forwards_per_step() const override { return 2; }
  bool updates_x_by_primal_step() const override { return true; }
  double backwards_per_step() const override { return 1; }
  void initialize(std::size_t n, std::size_t m) override;
  StepResult<T> step(StepContext<T>& ctx, Vector<T>& x, Vector<double>& lambda) override;

 private:
  Vector<T> grad_;          // [n]
  Evaluation eval_, after_; // [m] at the start / after the primal step
};

/// Alternating GDA, dual first (`alternating-dual-primal`): dual step, then the primal step
/// with the new multipliers, from one forward; 1 forward, 1 backward per step.
template <class T>
class AlternatingDualPrimal final : public UpdateScheme<T> {
 public:
  static constexpr const char* kName = "alternating-dual-primal";
  std::string name() const override { return kName; }
  double forwards_per_step() const override { return 1; }
  bool updates_x_by_primal_step() const override { return true; }
  double backwards_per_step() const override { return 1; }
  void initialize(std::size_t n, std::size_t m) override;
  StepResult<T> step(StepContext<T>& ctx, Vector<T>& x, Vector<double>& lambda) override;

 private:
  Vector<T> grad_;  // [n]
  Evaluation eval_; // [m]
};

/// Extragradient (Korpelevich 1976, `extragradient`): an extrapolation half step for both
/// players, then the update from the gradients at the extrapolated point; 2 forwards,
/// 2 backwards per step.
template <class T>
class Extragradient final : public UpdateScheme<T> {
 public:
  static constexpr const char* kName = "extragradient";
  std::string name() const override { return kName; }
  double forwards_per_step() const override { return 2; }
  bool updates_x_by_primal_step() const override { return true; }
  double backwards_per_step() const override { return 2; }
  void initialize(std::size_t n, std::size_t m) override;
  StepResult<T> step(StepContext<T>& ctx, Vector<T>& x, Vector<double>& lambda) override;

 private:
  Vector<T> grad_, x_half_;        // [n]
  Vector<double> lambda_half_;     // [m]
  Evaluation eval_, eval_half_;    // [m]
};

/// Extrapolation from the past (Popov 1980; Gidel et al. 2019,
/// `extrapolation-from-the-past`), for both players: the extrapolation reuses the previous
/// step's gradient; 1 forward, 1 backward per step (one extra pair on the first step).
template <class T>
class ExtrapolationFromThePast final : public UpdateScheme<T> {
 public:
  static constexpr const char* kName = "extrapolation-from-the-past";
  std::string name() const override { return kName; }
  double forwards_per_step() const override { return 1; }
  bool updates_x_by_primal_step() const override { return true; }
  double backwards_per_step() const override { return 1; }
  void initialize(std::size_t n, std::size_t m) override;
  StepResult<T> step(StepContext<T>& ctx, Vector<T>& x, Vector<double>& lambda) override;
  /// The previous gradient and dual values (checkpoints).
  void save(std::ostream& out) const override;
  void load(std::istream& in) override;

 private:
  Vector<T> grad_, grad_prev_, x_half_;  // [n]
  Vector<double> lambda_half_;           // [m]
  Evaluation eval_, prev_;               // [m]
  bool have_prev_ = false;
};

/// One row of the scheme table.
struct SchemeInfo {
  const char* name;            ///< command-line name, e.g. "extragradient"
  const char* summary;         ///< one line for help texts
  double forwards_per_step;    ///< problem forwards per step (constraint-only ones included)
  double backwards_per_step;   ///< problem backwards per step
  std::unique_ptr<UpdateScheme<float>> (*make_float)();
  std::unique_ptr<UpdateScheme<double>> (*make_double)();
};

/// The built-in schemes, in the order every list shows them: gda, alternating-primal-dual,
/// alternating-dual-primal, extragradient, extrapolation-from-the-past.
const std::vector<SchemeInfo>& scheme_table();
/// Their names, in table order.
std::vector<std::string> scheme_names();
/// The names joined by `separator`, e.g. "gda | extragradient | ..." for help texts.
std::string scheme_choices(const std::string& separator = " | ");
/// The row named `name`; throws InvalidOption "unknown solver 'x' (choices: a, b, ...)".
const SchemeInfo& find_scheme(const std::string& name);
/// Makes a built-in scheme by name (T = float or double); throws InvalidOption as find_scheme.
template <class T>
std::unique_ptr<UpdateScheme<T>> make_scheme(const std::string& name);

/// Solves `problem` from its initial point with the scheme named `scheme` and `options`
/// (validated: throws InvalidOption for a bad option or an unknown scheme name). The
/// callbacks (non-owning, may be empty) see every step. Numerical trouble does not throw:
/// see Summary::termination. Equivalent to
/// `Solver<T>(make_scheme<T>(scheme), options)` + `add_callback` + `solve(problem)`.
template <class T>
Summary<T> solve(BasicProblem<T>& problem, const SolverOptions& options, const std::string& scheme = "gda",
                 const std::vector<Callback<T>*>& callbacks = {});

extern template class SimultaneousGda<float>;
extern template class SimultaneousGda<double>;
extern template class AlternatingPrimalDual<float>;
extern template class AlternatingPrimalDual<double>;
extern template class AlternatingDualPrimal<float>;
extern template class AlternatingDualPrimal<double>;
extern template class Extragradient<float>;
extern template class Extragradient<double>;
extern template class ExtrapolationFromThePast<float>;
extern template class ExtrapolationFromThePast<double>;

}  // namespace saddle
