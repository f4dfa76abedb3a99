#pragma once
// Internal helpers of the analytic problems (not installed, not public API).

#include <cstddef>
#include <string>
#include <vector>

#include "saddle/options.hpp"
#include "saddle/solvers.hpp"
#include "saddle/types.hpp"

namespace saddle::problems::detail {

/// Step sizes and limits of one (problem, scheme, formulation) combination.
struct Tuning {
  double primal_lr = 0.1;
  double dual_lr = 0.1;
  std::size_t max_iterations = 10000;
  double tolerance = 1e-12;
  /// Augmented Lagrangian: initial penalty rho (no growth: rho is constant).
  double al_penalty = 1.0;
  /// Quadratic penalty: rho and the primal step size that keeps SGD stable for it.
  double qp_penalty = 100.0;
  double qp_primal_lr = 1e-3;
  /// Extrapolation from the past is stable for a smaller step than the other schemes
  /// (on a quadratic of curvature a, primal Popov steps need eta a < 2/3, extragradient
  /// eta a < 1, GDA eta a < 2): both step sizes are multiplied by this factor for it.
  double past_factor = 0.5;
};

/// Options for `scheme` and `formulation` from `tuning`; `optimal_multipliers` become the initial (and
/// never updated) multipliers of fixed_penalty. The quadratic penalty only reaches the answer
/// up to about lambda*/rho, so its feasibility tolerance is relaxed to
/// max(1e-6, 4 max|lambda*| / rho) (the step tolerance then decides convergence).
SolverOptions make_options(const Tuning& tuning, const std::string& scheme,
                           FormulationKind formulation,
                           const std::vector<double>& optimal_multipliers);

/// Throws InputError "<problem>: x has size k, expected n" when sizes differ.
void check_size(const char* problem, const char* what, std::size_t size, std::size_t expected);

}  // namespace saddle::problems::detail
