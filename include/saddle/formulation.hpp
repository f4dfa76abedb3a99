#pragma once
/// \file formulation.hpp
/// A formulation turns constraint values and multipliers into the weights of the primal
/// gradient, and owns the penalty coefficients of penalty-based methods.

#include <iosfwd>
#include <memory>
#include <string>
#include <vector>

#include "saddle/options.hpp"
#include "saddle/types.hpp"

namespace saddle {

class Formulation {
 public:
  virtual ~Formulation() = default;
  virtual FormulationKind kind() const = 0;
  /// Sizes the penalty vector for the constraints (allocates once).
  virtual void reset(const std::vector<ConstraintSpec>& specs) = 0;
  /// Primal weights w: [m] from the differentiable values c: [m] and multipliers lambda: [m],
  /// so that the primal gradient is grad f + sum_i w_i grad c_i. No allocation.
  virtual void primal_weights(const Vector<double>& c, const Vector<double>& lambda,
                              Vector<double>& w) const = 0;
  /// Value of the formulation's objective (Lagrangian, augmented Lagrangian, penalty
  /// function) for reporting.
  virtual double objective(double loss, const Vector<double>& c,
                           const Vector<double>& lambda) const = 0;
  /// False when the multipliers never move (quadratic and fixed penalty).
  virtual bool updates_multipliers() const = 0;
  /// Per-constraint dual step sizes lr: [m] for the base rate `dual_lr`.
  virtual void dual_step_sizes(double dual_lr, Vector<double>& lr) const = 0;
  /// Called once per committed step with the strict values v: [m]; grows penalties.
  virtual void update_penalties(const Vector<double>& v) = 0;
  /// Dual restart of constraint i: the penalty returns to its initial value.
  virtual void restart(std::size_t i) = 0;
  /// Current penalty coefficients rho: [m] (all equal to 0 for lagrangian / fixed penalty).
  virtual const Vector<double>& penalties() const = 0;
  virtual void save(std::ostream& out) const = 0;
  virtual void load(std::istream& in) = 0;
};

/// Makes the formulation named by `options.kind` (validates the options first).
std::unique_ptr<Formulation> make_formulation(const FormulationOptions& options);

}  // namespace saddle
