#pragma once
/// \file rules.hpp
/// Update rules: how a gradient moves the primal point, how constraint values move the
/// multipliers. Rules are small stateful policy objects; `resize` allocates their state
/// once, `step` never allocates.

#include <algorithm>
#include <iosfwd>
#include <memory>
#include <vector>

#include "saddle/options.hpp"
#include "saddle/types.hpp"

namespace saddle {

/// Primal update rule: x <- x - update(grad). Implementations: SGD, momentum (heavy
/// ball), Nesterov momentum, Adam (bias-corrected).
template <class T>
class PrimalRule {
 public:
  virtual ~PrimalRule() = default;
  /// Allocates state for n parameters and zeroes it (allocates).
  virtual void resize(std::size_t n) = 0;
  /// Zeroes the state (no allocation).
  virtual void reset() = 0;
  /// x: [n] updated in place from grad: [n]. Advances the rule's state (Adam moments,
  /// momentum buffer, step count). No allocation.
  virtual void step(Vector<T>& x, const Vector<T>& grad) = 0;
  /// The same step split by index ranges (SolverOptions::range_runner): begin_step() once,
  /// on one thread (advances the step count, computes the step's scalars); then
  /// step_range(x, grad, b, e) for ranges [b, e) covering [0, n) once each, concurrently
  /// for disjoint ranges. Every element gets exactly the arithmetic of step(): the result
  /// is bitwise the same when range boundaries are multiples of kRangeBlock (range_runner.hpp;
  /// the split then vectorises exactly as the whole loop). No allocation.
  virtual void begin_step() = 0;
  virtual void step_range(Vector<T>& x, const Vector<T>& grad, std::size_t begin,
                          std::size_t end) = 0;
  /// The out-of-place form of step_range (after begin_step): out[begin, end) = the step
  /// applied to x[begin, end), x left unchanged, the rule's state advanced exactly as by
  /// step_range, the same bits. The solver uses it to keep the start of a step without
  /// copying x. The default copies the range into out, then runs step_range on out.
  virtual void step_range_to(const Vector<T>& x, const Vector<T>& grad, Vector<T>& out,
                             std::size_t begin, std::size_t end) {
    std::copy(x.data() + begin, x.data() + end, out.data() + begin);
    step_range(out, grad, begin, end);
  }
  /// Binary state for checkpoints.
  virtual void save(std::ostream& out) const = 0;
  virtual void load(std::istream& in) = 0;
};

/// Makes the rule named by `options.kind` (validates the options first).
template <class T>
std::unique_ptr<PrimalRule<T>> make_primal_rule(const PrimalRuleOptions& options);

/// Dual update rule on the multipliers, followed by the projection lambda_i >= 0 of every
/// inequality multiplier.
class DualRule {
 public:
  virtual ~DualRule() = default;
  /// Allocates state for m multipliers (allocates).
  virtual void resize(std::size_t m) = 0;
  /// lambda: [m] updated from the dual values v: [m] with per-constraint step sizes
  /// lr: [m]; then projected. No allocation.
  virtual void step(Vector<double>& lambda, const Vector<double>& v, const Vector<double>& lr,
                    const std::vector<ConstraintSpec>& specs) = 0;
  /// Forgets the state of multiplier i (dual restarts).
  virtual void reset(std::size_t i) = 0;
  virtual void save(std::ostream& out) const = 0;
  virtual void load(std::istream& in) = 0;
};

/// Makes the rule named by `options.kind` (validates the options first).
std::unique_ptr<DualRule> make_dual_rule(const DualRuleOptions& options);

/// Projects lambda: [m] onto the feasible multiplier set (lambda_i >= 0 for inequalities).
void project_multipliers(Vector<double>& lambda, const std::vector<ConstraintSpec>& specs);

}  // namespace saddle
