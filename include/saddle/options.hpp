#pragma once
/// \file options.hpp
/// Options structs. Every struct validates itself: `validate()` throws
/// saddle::InvalidOption with a one-line message naming the field, the value and the rule.

#include <cstddef>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "saddle/types.hpp"

namespace saddle {

class RangeRunner;  // range_runner.hpp

/// Update rule for the primal point x.
enum class PrimalRuleKind { sgd, momentum, nesterov, adam };
/// Update rule for the multipliers (always followed by projection lambda >= 0 on inequalities).
enum class DualRuleKind { gradient_ascent, nupi };
/// How constraint values become primal weights and whether multipliers move.
enum class FormulationKind { lagrangian, augmented_lagrangian, quadratic_penalty, fixed_penalty };
/// Growth rule of the penalty coefficient (augmented Lagrangian, quadratic penalty).
enum class PenaltyGrowth { none, multiplicative, additive };

const char* to_string(PrimalRuleKind kind);
const char* to_string(DualRuleKind kind);
const char* to_string(FormulationKind kind);
const char* to_string(PenaltyGrowth kind);
/// Parse a name ("sgd", "momentum", "nesterov", "adam"); throws InvalidOption listing the choices.
PrimalRuleKind parse_primal_rule(const std::string& name);
/// Parse "gradient-ascent" or "nupi".
DualRuleKind parse_dual_rule(const std::string& name);
/// Parse "lagrangian", "augmented-lagrangian", "quadratic-penalty", "fixed-penalty".
FormulationKind parse_formulation(const std::string& name);
/// Parse "none", "multiplicative", "additive".
PenaltyGrowth parse_penalty_growth(const std::string& name);

/// Options of the primal update rule.
/// | field    | meaning                                            | default |
/// | kind     | sgd, momentum (heavy ball), nesterov, adam          | sgd     |
/// | lr       | step size, > 0                                      | 1e-2    |
/// | momentum | momentum coefficient in [0, 1) (momentum, nesterov) | 0.9     |
/// | beta1    | Adam first-moment decay in [0, 1)                   | 0.9     |
/// | beta2    | Adam second-moment decay in [0, 1)                  | 0.999   |
/// | epsilon  | Adam denominator guard, > 0                         | 1e-8    |
struct PrimalRuleOptions {
  PrimalRuleKind kind = PrimalRuleKind::sgd;
  double lr = 1e-2;
  double momentum = 0.9;
  double beta1 = 0.9;
  double beta2 = 0.999;
  double epsilon = 1e-8;
  void validate() const;
};

/// Options of the dual update rule. Projected gradient ascent:
///   lambda <- [lambda + lr * v]_+ .
/// nuPI (Sohrabi et al. 2024), recursive form with xi_{-1} = 0:
///   xi_t = nu * xi_{t-1} + (1 - nu) * v_t
///   lambda <- [lambda + lr * v_t + kp * (xi_t - xi_{t-1})]_+ .
/// kp = 0 reduces nuPI to gradient ascent.
struct DualRuleOptions {
  DualRuleKind kind = DualRuleKind::gradient_ascent;
  double lr = 1e-2;  ///< integral gain / ascent step size, > 0
  double kp = 0.0;   ///< proportional gain (nupi), >= 0
  double nu = 0.0;   ///< EMA coefficient of the error signal (nupi), in [0, 1)
  /// nuPI: the error that drives the proportional term is clipped to [-kp_clip, kp_clip]
  /// (the integral term sees the raw error), > 0; infinity = no clipping.
  double kp_clip = std::numeric_limits<double>::infinity();
  void validate() const;
};

/// Options of the formulation.
/// - lagrangian:            w = lambda;
/// - augmented_lagrangian:  w = max(0, lambda + rho * g) (ineq.), lambda + rho * h (eq.);
/// - quadratic_penalty:     w = rho * max(0, g) (ineq.), rho * h (eq.); multipliers unused;
/// - fixed_penalty:         w = fixed multipliers (never updated) — penalized methods.
/// rho (per constraint) starts at `penalty` and grows where the strict violation exceeds
/// `growth_tolerance`: rho *= growth_factor (multiplicative) or rho += growth_increment
/// (additive), capped at max_penalty. With dual restarts, rho returns to `penalty` for
/// satisfied inequalities.
struct FormulationOptions {
  FormulationKind kind = FormulationKind::lagrangian;
  double penalty = 1.0;            ///< initial rho, > 0
  PenaltyGrowth growth = PenaltyGrowth::none;
  double growth_factor = 2.0;      ///< > 1 (multiplicative)
  double growth_increment = 1.0;   ///< > 0 (additive)
  double growth_tolerance = 1e-4;  ///< grow where violation > this, >= 0
  double max_penalty = 1e8;        ///< cap on rho, >= penalty
  bool dual_lr_is_penalty = false; ///< augmented Lagrangian: dual step size = rho_i (textbook)
  void validate() const;
};

/// Options of a solve.
struct SolverOptions {
  PrimalRuleOptions primal;
  DualRuleOptions dual;
  FormulationOptions formulation;
  /// lambda_i <- 0 (and its dual-rule state reset) whenever inequality i is strictly satisfied.
  bool dual_restarts = false;
  /// Initial multipliers [m]; empty = zeros. Required for fixed_penalty.
  std::vector<double> initial_multipliers;
  /// Step limit (0 = none, then max_epochs must be set).
  std::size_t max_iterations = 1000;
  /// Epoch limit for stochastic problems (0 = none).
  std::size_t max_epochs = 0;
  /// Minibatch size for stochastic problems; 0 = the whole data set per step.
  std::size_t batch_size = 0;
  /// Convergence (deterministic problems): ||dx||_inf <= tolerance * (1 + ||x||_inf),
  /// ||dlambda||_inf <= tolerance * (1 + ||lambda||_inf) and max violation <=
  /// feasibility_tolerance. 0 disables the test.
  double tolerance = 0.0;
  double feasibility_tolerance = 1e-6;
  /// Seed of the initial point, the shuffles and the per-evaluation noise.
  std::uint64_t seed = 0;
  /// Stop with Termination::numerical_failure on a NaN or Inf (loss, constraints, gradient).
  bool check_finite = true;
  /// Non-owning; null = the whole step on the calling thread. Otherwise the primal rule's
  /// update (PrimalRule::step_range) runs on the runner's workers, split by the fixed ranges
  /// of chunk_range (range_runner.hpp): the same bits as the serial path for any number of
  /// workers. (The gradient's NaN/Inf test and the copy of x stay serial: split, their extra
  /// fork-joins cost more than they saved; docs/performance.md, "Two cores".) A
  /// ThreadTeam can serve both this and a ThreadParallelProblem (they never run at once).
  RangeRunner* range_runner = nullptr;
  void validate() const;
};

}  // namespace saddle
