#include "common.hpp"

#include <algorithm>
#include <cmath>

namespace saddle::problems::detail {

SolverOptions make_options(const Tuning& tuning, const std::string& scheme,
                           FormulationKind formulation,
                           const std::vector<double>& optimal_multipliers) {
  SolverOptions options;
  options.primal.kind = PrimalRuleKind::sgd;
  options.primal.lr = tuning.primal_lr;
  options.dual.kind = DualRuleKind::gradient_ascent;
  options.dual.lr = tuning.dual_lr;
  options.max_iterations = tuning.max_iterations;
  options.tolerance = tuning.tolerance;
  options.formulation.kind = formulation;
  options.formulation.growth = PenaltyGrowth::none;
  switch (formulation) {
    case FormulationKind::lagrangian:
      break;
    case FormulationKind::augmented_lagrangian:
      options.formulation.penalty = tuning.al_penalty;
      options.formulation.max_penalty = tuning.al_penalty;
      break;
    case FormulationKind::quadratic_penalty:
      options.formulation.penalty = tuning.qp_penalty;
      options.formulation.max_penalty = tuning.qp_penalty;
      options.primal.lr = tuning.qp_primal_lr;
      {
        // The penalty minimiser violates the constraints by about |lambda*| / rho: accept
        // 4 times that, so that the step tolerance decides convergence.
        double lam = 0.0;
        for (double v : optimal_multipliers) lam = std::max(lam, std::abs(v));
        options.feasibility_tolerance = std::max(1e-6, 4.0 * lam / tuning.qp_penalty);
      }
      break;
    case FormulationKind::fixed_penalty:
      options.initial_multipliers = optimal_multipliers;
      break;
  }
  if (scheme == "extrapolation-from-the-past") {
    options.primal.lr *= tuning.past_factor;
    options.dual.lr *= tuning.past_factor;
  }
  return options;
}

void check_size(const char* problem, const char* what, std::size_t size, std::size_t expected) {
  if (size != expected)
    throw InputError(std::string(problem) + ": " + what + " has size " + std::to_string(size) +
                     ", expected " + std::to_string(expected));
}

}  // namespace saddle::problems::detail
