#include "saddle/options.hpp"

#include <cmath>
#include <sstream>

namespace saddle {
namespace {

std::string format(double v) {
  std::ostringstream s;
  s << v;
  return s.str();
}

[[noreturn]] void fail(const std::string& field, double value, const std::string& rule) {
  throw InvalidOption(field + " = " + format(value) + ": " + rule);
}

void require_positive(const std::string& field, double v) {
  if (!(v > 0.0) || !std::isfinite(v)) fail(field, v, "must be > 0 and finite");
}
void require_nonnegative(const std::string& field, double v) {
  if (!(v >= 0.0) || !std::isfinite(v)) fail(field, v, "must be >= 0 and finite");
}
void require_unit_interval(const std::string& field, double v) {
  if (!(v >= 0.0 && v < 1.0)) fail(field, v, "must be in [0, 1)");
}

template <class E, std::size_t N>
E parse_enum(const std::string& what, const std::string& name, const char* const (&names)[N],
             const E (&values)[N]) {
  for (std::size_t i = 0; i < N; ++i)
    if (name == names[i]) return values[i];
  std::string choices;
  for (std::size_t i = 0; i < N; ++i) choices += (i ? ", " : "") + std::string(names[i]);
  throw InvalidOption("unknown " + what + " '" + name + "' (choices: " + choices + ")");
}

const char* const kPrimalNames[] = {"sgd", "momentum", "nesterov", "adam"};
const PrimalRuleKind kPrimalValues[] = {PrimalRuleKind::sgd, PrimalRuleKind::momentum,
                                        PrimalRuleKind::nesterov, PrimalRuleKind::adam};
const char* const kDualNames[] = {"gradient-ascent", "nupi"};
const DualRuleKind kDualValues[] = {DualRuleKind::gradient_ascent, DualRuleKind::nupi};
const char* const kFormulationNames[] = {"lagrangian", "augmented-lagrangian", "quadratic-penalty",
                                         "fixed-penalty"};
const FormulationKind kFormulationValues[] = {
    FormulationKind::lagrangian, FormulationKind::augmented_lagrangian,
    FormulationKind::quadratic_penalty, FormulationKind::fixed_penalty};
const char* const kGrowthNames[] = {"none", "multiplicative", "additive"};
const PenaltyGrowth kGrowthValues[] = {PenaltyGrowth::none, PenaltyGrowth::multiplicative,
                                       PenaltyGrowth::additive};

}  // namespace

const char* to_string(PrimalRuleKind kind) { return kPrimalNames[static_cast<int>(kind)]; }
const char* to_string(DualRuleKind kind) { return kDualNames[static_cast<int>(kind)]; }
const char* to_string(FormulationKind kind) { return kFormulationNames[static_cast<int>(kind)]; }
const char* to_string(PenaltyGrowth kind) { return kGrowthNames[static_cast<int>(kind)]; }

PrimalRuleKind parse_primal_rule(const std::string& name) {
  return parse_enum("primal rule", name, kPrimalNames, kPrimalValues);
}
DualRuleKind parse_dual_rule(const std::string& name) {
  return parse_enum("dual rule", name, kDualNames, kDualValues);
}
FormulationKind parse_formulation(const std::string& name) {
  return parse_enum("formulation", name, kFormulationNames, kFormulationValues);
}
PenaltyGrowth parse_penalty_growth(const std::string& name) {
  return parse_enum("penalty growth", name, kGrowthNames, kGrowthValues);
}

void PrimalRuleOptions::validate() const {
  require_positive("primal.lr", lr);
  require_unit_interval("primal.momentum", momentum);
  require_unit_interval("primal.beta1", beta1);
  require_unit_interval("primal.beta2", beta2);
  require_positive("primal.epsilon", epsilon);
}

void DualRuleOptions::validate() const {
  require_positive("dual.lr", lr);
  require_nonnegative("dual.kp", kp);
  require_unit_interval("dual.nu", nu);
  if (!(kp_clip > 0.0)) fail("dual.kp_clip", kp_clip, "must be > 0 (infinity: no clipping)");
}

void FormulationOptions::validate() const {
  // Cooper's augmented Lagrangian divides by the penalty and returns NaN at c = 0: reject it.
  require_positive("formulation.penalty", penalty);
  if (growth == PenaltyGrowth::multiplicative && !(growth_factor > 1.0 && std::isfinite(growth_factor)))
    fail("formulation.growth_factor", growth_factor, "must be > 1 for multiplicative growth");
  if (growth == PenaltyGrowth::additive) require_positive("formulation.growth_increment", growth_increment);
  require_nonnegative("formulation.growth_tolerance", growth_tolerance);
  if (!(max_penalty >= penalty)) fail("formulation.max_penalty", max_penalty, "must be >= formulation.penalty");
}

void SolverOptions::validate() const {
  primal.validate();
  dual.validate();
  formulation.validate();
  if (max_iterations == 0 && max_epochs == 0)
    throw InvalidOption("max_iterations = 0 and max_epochs = 0: at least one limit must be > 0");
  require_nonnegative("tolerance", tolerance);
  require_nonnegative("feasibility_tolerance", feasibility_tolerance);
  for (std::size_t i = 0; i < initial_multipliers.size(); ++i)
    if (!std::isfinite(initial_multipliers[i]))
      fail("initial_multipliers[" + std::to_string(i) + "]", initial_multipliers[i], "must be finite");
  if (formulation.kind == FormulationKind::fixed_penalty && initial_multipliers.empty())
    throw InvalidOption("initial_multipliers = []: the fixed-penalty formulation needs one fixed multiplier per constraint");
}

}  // namespace saddle
