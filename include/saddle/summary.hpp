#pragma once
/// \file summary.hpp
/// The result of a solve: why it stopped, where, and at what cost.

#include <cstddef>
#include <string>
#include <vector>

#include "saddle/types.hpp"

namespace saddle {

/// Why a solve stopped.
enum class Termination {
  converged,          ///< step and feasibility tolerances met (deterministic problems)
  iteration_limit,    ///< max_iterations or max_epochs reached
  user_stop,          ///< a callback returned false
  numerical_failure,  ///< NaN or Inf in loss, constraints, gradient or multipliers
};
const char* to_string(Termination t);

template <class T>
struct Summary {
  Termination termination = Termination::iteration_limit;
  std::string message;             ///< one line: details of the termination
  std::size_t iterations = 0;      ///< committed steps
  std::size_t epochs = 0;          ///< completed epochs (stochastic problems)
  std::size_t forwards = 0;        ///< problem forward calls (constraint-only calls included)
  std::size_t backwards = 0;       ///< problem backward calls
  double loss = 0.0;               ///< loss at x (deterministic) or on the last batch
  double objective = 0.0;          ///< formulation objective at (x, multipliers)
  double max_violation = 0.0;      ///< of the strict values at x (or on the last batch)
  double seconds = 0.0;            ///< wall time of the solve
  Vector<T> x;                     ///< final point [n] (the last finite one on failure)
  Vector<double> multipliers;      ///< final multipliers [m]
  Vector<double> constraint_values;///< strict constraint values at x [m]
  Vector<double> penalties;        ///< final penalty coefficients [m]
  std::vector<ConstraintSpec> constraints;
  /// Multi-line human-readable report.
  std::string report() const;
};

}  // namespace saddle
