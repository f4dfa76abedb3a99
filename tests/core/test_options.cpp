#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "saddle/options.hpp"

using namespace saddle;

namespace {
std::string message_of(const SolverOptions& o) {
  try {
    o.validate();
  } catch (const InvalidOption& e) {
    return e.what();
  }
  return "";
}
}  // namespace

TEST(Options, DefaultsValidate) { EXPECT_EQ(message_of(SolverOptions{}), ""); }

TEST(Options, MessagesNameFieldValueAndRule) {
  SolverOptions o;
  o.primal.lr = -1;
  EXPECT_EQ(message_of(o), "primal.lr = -1: must be > 0 and finite");
  o = {};
  o.dual.lr = 0;
  EXPECT_EQ(message_of(o), "dual.lr = 0: must be > 0 and finite");
  o = {};
  o.primal.beta2 = 1.0;
  EXPECT_EQ(message_of(o), "primal.beta2 = 1: must be in [0, 1)");
  o = {};
  o.formulation.kind = FormulationKind::augmented_lagrangian;
  o.formulation.penalty = 0.0;
  EXPECT_EQ(message_of(o), "formulation.penalty = 0: must be > 0 and finite");
  o = {};
  o.formulation.growth = PenaltyGrowth::multiplicative;
  o.formulation.growth_factor = 1.0;
  EXPECT_NE(message_of(o).find("formulation.growth_factor = 1"), std::string::npos);
  o = {};
  o.dual.kp_clip = 0.0;
  EXPECT_EQ(message_of(o), "dual.kp_clip = 0: must be > 0 (infinity: no clipping)");
  o.dual.kp_clip = std::nan("");
  EXPECT_NE(message_of(o).find("dual.kp_clip"), std::string::npos);
  o.dual.kp_clip = std::numeric_limits<double>::infinity();
  EXPECT_EQ(message_of(o), "");
  o = {};
  o.max_iterations = 0;
  EXPECT_NE(message_of(o).find("max_iterations = 0"), std::string::npos);
  o = {};
  o.formulation.kind = FormulationKind::fixed_penalty;
  EXPECT_NE(message_of(o).find("fixed-penalty"), std::string::npos);
  o.initial_multipliers = {0.5};
  EXPECT_EQ(message_of(o), "");
}

TEST(Options, ParseNamesAndListChoices) {
  EXPECT_EQ(parse_primal_rule("adam"), PrimalRuleKind::adam);
  EXPECT_EQ(parse_formulation("augmented-lagrangian"), FormulationKind::augmented_lagrangian);
  EXPECT_EQ(parse_dual_rule("nupi"), DualRuleKind::nupi);
  try {
    parse_formulation("lagrange");
    FAIL() << "expected InvalidOption";
  } catch (const InvalidOption& e) {
    EXPECT_EQ(std::string(e.what()),
              "unknown formulation 'lagrange' (choices: lagrangian, augmented-lagrangian, quadratic-penalty, fixed-penalty)");
  }
  for (auto k : {PrimalRuleKind::sgd, PrimalRuleKind::momentum, PrimalRuleKind::nesterov, PrimalRuleKind::adam})
    EXPECT_EQ(parse_primal_rule(to_string(k)), k);
}
