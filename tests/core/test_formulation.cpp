#include <gtest/gtest.h>

#include "saddle/formulation.hpp"

using namespace saddle;

namespace {
const std::vector<ConstraintSpec> kSpecs = {{"g", ConstraintKind::inequality}, {"h", ConstraintKind::equality}};

std::unique_ptr<Formulation> make(FormulationKind kind, double rho = 2.0) {
  FormulationOptions o;
  o.kind = kind;
  o.penalty = rho;
  auto f = make_formulation(o);
  f->reset(kSpecs);
  return f;
}
}  // namespace

TEST(Formulation, LagrangianWeightsAreMultipliers) {
  auto f = make(FormulationKind::lagrangian);
  Vector<double> c = {0.5, -1.0}, lambda = {3.0, -2.0}, w = {0.0, 0.0};
  f->primal_weights(c, lambda, w);
  EXPECT_EQ(w(0), 3.0);
  EXPECT_EQ(w(1), -2.0);
  EXPECT_DOUBLE_EQ(f->objective(1.0, c, lambda), 1.0 + 1.5 + 2.0);
  EXPECT_TRUE(f->updates_multipliers());
}

TEST(Formulation, AugmentedLagrangianWeightsAndObjective) {
  auto f = make(FormulationKind::augmented_lagrangian, 2.0);
  Vector<double> c = {-1.0, 0.5}, lambda = {1.5, 1.0}, w = {0.0, 0.0};
  f->primal_weights(c, lambda, w);
  EXPECT_DOUBLE_EQ(w(0), 0.0);  // max(0, 1.5 - 2)
  EXPECT_DOUBLE_EQ(w(1), 2.0);  // 1 + 2 * 0.5
  // ineq: (0 - 1.5^2)/(2*2) = -0.5625; eq: 1*0.5 + 0.5*2*0.25 = 0.75
  EXPECT_DOUBLE_EQ(f->objective(0.0, c, lambda), -0.5625 + 0.75);
  // The weight is the derivative of the objective with respect to c (check numerically).
  for (std::size_t i = 0; i < 2; ++i) {
    Vector<double> cp = c, cm = c;
    cp(i) += 1e-6;
    cm(i) -= 1e-6;
    const double d = (f->objective(0.0, cp, lambda) - f->objective(0.0, cm, lambda)) / 2e-6;
    EXPECT_NEAR(d, w(i), 1e-6);
  }
}

TEST(Formulation, QuadraticPenaltyIgnoresMultipliers) {
  auto f = make(FormulationKind::quadratic_penalty, 4.0);
  Vector<double> c = {0.5, -0.5}, lambda = {100.0, 100.0}, w = {0.0, 0.0};
  f->primal_weights(c, lambda, w);
  EXPECT_DOUBLE_EQ(w(0), 2.0);
  EXPECT_DOUBLE_EQ(w(1), -2.0);
  EXPECT_FALSE(f->updates_multipliers());
  EXPECT_DOUBLE_EQ(f->objective(1.0, c, lambda), 1.0 + 0.5 * 4 * 0.25 * 2);
}

TEST(Formulation, FixedPenaltyHoldsMultipliers) {
  auto f = make(FormulationKind::fixed_penalty);
  EXPECT_FALSE(f->updates_multipliers());
  Vector<double> c = {0.5, 0.5}, lambda = {0.1, 0.2}, w = {0.0, 0.0};
  f->primal_weights(c, lambda, w);
  EXPECT_EQ(w(0), 0.1);
}

TEST(Formulation, PenaltyGrowthWhereViolatedAndRestart) {
  FormulationOptions o;
  o.kind = FormulationKind::augmented_lagrangian;
  o.penalty = 1.0;
  o.growth = PenaltyGrowth::multiplicative;
  o.growth_factor = 10.0;
  o.growth_tolerance = 1e-3;
  o.max_penalty = 50.0;
  auto f = make_formulation(o);
  f->reset(kSpecs);
  f->update_penalties(Vector<double>{0.5, 1e-4});  // g violated, h within tolerance
  EXPECT_EQ(f->penalties()(0), 10.0);
  EXPECT_EQ(f->penalties()(1), 1.0);
  f->update_penalties(Vector<double>{-0.5, -0.1});  // g satisfied, h violated
  EXPECT_EQ(f->penalties()(0), 10.0);
  EXPECT_EQ(f->penalties()(1), 10.0);
  f->update_penalties(Vector<double>{0.5, 0.0});
  EXPECT_EQ(f->penalties()(0), 50.0);  // capped
  f->restart(0);
  EXPECT_EQ(f->penalties()(0), 1.0);
  Vector<double> lr = {0.0, 0.0};
  f->dual_step_sizes(0.25, lr);
  EXPECT_EQ(lr(0), 0.25);

  o.growth = PenaltyGrowth::additive;
  o.growth_increment = 3.0;
  o.dual_lr_is_penalty = true;
  auto a = make_formulation(o);
  a->reset(kSpecs);
  a->update_penalties(Vector<double>{1.0, 1.0});
  EXPECT_EQ(a->penalties()(0), 4.0);
  a->dual_step_sizes(0.25, lr);
  EXPECT_EQ(lr(0), 4.0);
}

TEST(Formulation, RejectsZeroPenalty) {
  FormulationOptions o;
  o.kind = FormulationKind::augmented_lagrangian;
  o.penalty = 0.0;
  EXPECT_THROW(make_formulation(o), InvalidOption);
}
