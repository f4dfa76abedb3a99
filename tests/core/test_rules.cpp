#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <sstream>

#include "saddle/rules.hpp"

using namespace saddle;

namespace {
Vector<double> vec(std::initializer_list<double> v) {
  Vector<double> r = Vector<double>::from_shape({v.size()});
  std::size_t i = 0;
  for (double x : v) r(i++) = x;
  return r;
}
}  // namespace

TEST(PrimalRule, SgdStep) {
  PrimalRuleOptions o;
  o.lr = 0.1;
  auto rule = make_primal_rule<double>(o);
  rule->resize(2);
  auto x = vec({1.0, -1.0});
  rule->step(x, vec({2.0, 4.0}));
  EXPECT_DOUBLE_EQ(x(0), 0.8);
  EXPECT_DOUBLE_EQ(x(1), -1.4);
}

TEST(PrimalRule, HeavyBallAndNesterovMatchHandComputation) {
  PrimalRuleOptions o;
  o.lr = 0.1;
  o.momentum = 0.5;
  o.kind = PrimalRuleKind::momentum;
  auto hb = make_primal_rule<double>(o);
  o.kind = PrimalRuleKind::nesterov;
  auto nv = make_primal_rule<double>(o);
  hb->resize(1);
  nv->resize(1);
  auto x1 = vec({0.0}), x2 = vec({0.0});
  // g = 1 twice. Heavy ball: v=1, x=-0.1; v=1.5, x=-0.25.
  // Nesterov: v=1, x=-(0.1)(1+0.5)=-0.15; v=1.5, x=-0.15-0.1(1+0.75)=-0.325.
  hb->step(x1, vec({1.0}));
  nv->step(x2, vec({1.0}));
  hb->step(x1, vec({1.0}));
  nv->step(x2, vec({1.0}));
  EXPECT_NEAR(x1(0), -0.25, 1e-15);
  EXPECT_NEAR(x2(0), -0.325, 1e-15);
}

TEST(PrimalRule, AdamFirstStepsMatchReference) {
  // Reference: m_hat/(sqrt(v_hat)+eps) with PyTorch defaults. For a constant gradient g,
  // m_hat = g and v_hat = g^2 at every step, so each step moves by lr * g/(|g| + eps).
  PrimalRuleOptions o;
  o.kind = PrimalRuleKind::adam;
  o.lr = 0.01;
  auto rule = make_primal_rule<double>(o);
  rule->resize(2);
  auto x = vec({0.0, 0.0});
  for (int t = 0; t < 3; ++t) rule->step(x, vec({3.0, -0.5}));
  EXPECT_NEAR(x(0), -0.03 * 3.0 / (3.0 + 1e-8), 1e-14);
  EXPECT_NEAR(x(1), 0.03 * 0.5 / (0.5 + 1e-8), 1e-14);
  // A changing gradient: step 1 g=1, step 2 g=-1 (hand-computed with bias correction).
  rule->reset();
  auto y = vec({0.0, 0.0});
  rule->step(y, vec({1.0, 1.0}));
  rule->step(y, vec({-1.0, -1.0}));
  const double m = (0.9 * 0.1 * 1.0 + 0.1 * -1.0) / (1 - 0.81);
  const double v = (0.999 * 0.001 + 0.001) / (1 - 0.999 * 0.999);
  EXPECT_NEAR(y(0), -0.01 / (1.0 + 1e-8) - 0.01 * m / (std::sqrt(v) + 1e-8), 1e-12);
}

TEST(PrimalRule, FloatAdamMatchesDouble) {
  PrimalRuleOptions o;
  o.kind = PrimalRuleKind::adam;
  o.lr = 1e-3;
  auto rf = make_primal_rule<float>(o);
  auto rd = make_primal_rule<double>(o);
  rf->resize(3);
  rd->resize(3);
  Vector<float> xf = {0.5f, -0.25f, 2.0f};
  Vector<double> xd = {0.5, -0.25, 2.0};
  for (int t = 0; t < 50; ++t) {
    Vector<float> gf = {std::sin(float(t)), std::cos(float(t)), 0.1f};
    Vector<double> gd = {std::sin(double(t)), std::cos(double(t)), 0.1};
    rf->step(xf, gf);
    rd->step(xd, gd);
  }
  for (int i = 0; i < 3; ++i) EXPECT_NEAR(xf(i), xd(i), 1e-5);
}

TEST(PrimalRule, StateRoundTrip) {
  PrimalRuleOptions o;
  o.kind = PrimalRuleKind::adam;
  auto a = make_primal_rule<double>(o), b = make_primal_rule<double>(o);
  a->resize(2);
  b->resize(2);
  auto x = vec({1.0, 2.0});
  a->step(x, vec({0.3, -0.2}));
  std::stringstream s;
  a->save(s);
  b->load(s);
  auto x1 = x, x2 = x;
  a->step(x1, vec({1.0, 1.0}));
  b->step(x2, vec({1.0, 1.0}));
  EXPECT_EQ(x1(0), x2(0));
  EXPECT_EQ(x1(1), x2(1));
  std::stringstream truncated(s.str().substr(0, 5));
  EXPECT_THROW(b->load(truncated), InputError);
}

TEST(DualRule, ProjectedAscentProjectsOnlyInequalities) {
  std::vector<ConstraintSpec> specs = {{"g", ConstraintKind::inequality}, {"h", ConstraintKind::equality}};
  auto rule = make_dual_rule({});
  rule->resize(2);
  auto lambda = vec({0.1, 0.1});
  rule->step(lambda, vec({-1.0, -1.0}), vec({0.5, 0.5}), specs);
  EXPECT_EQ(lambda(0), 0.0);
  EXPECT_DOUBLE_EQ(lambda(1), -0.4);
}

TEST(DualRule, NuPiProportionalTermAndReset) {
  std::vector<ConstraintSpec> specs = {{"g", ConstraintKind::inequality}};
  DualRuleOptions o;
  o.kind = DualRuleKind::nupi;
  o.lr = 0.1;
  o.kp = 1.0;
  o.nu = 0.0;
  auto rule = make_dual_rule(o);
  rule->resize(1);
  auto lambda = vec({0.0});
  // PI with nu = 0: lambda_1 = 0.1*2 + 1*(2 - 0) = 2.2; lambda_2 = 2.2 + 0.1*1 + 1*(1 - 2) = 1.3.
  rule->step(lambda, vec({2.0}), vec({0.1}), specs);
  EXPECT_NEAR(lambda(0), 2.2, 1e-15);
  rule->step(lambda, vec({1.0}), vec({0.1}), specs);
  EXPECT_NEAR(lambda(0), 1.3, 1e-15);
  rule->reset(0);  // xi back to 0: next error 1 acts as a fresh start
  rule->step(lambda, vec({1.0}), vec({0.1}), specs);
  EXPECT_NEAR(lambda(0), 1.3 + 0.1 + 1.0, 1e-15);
  // kp = 0 is plain gradient ascent.
  o.kp = 0.0;
  auto plain = make_dual_rule(o);
  plain->resize(1);
  auto l2 = vec({0.0});
  plain->step(l2, vec({2.0}), vec({0.1}), specs);
  EXPECT_NEAR(l2(0), 0.2, 1e-15);
}

// kp_clip saturates the proportional term only: the integral term sees the raw error.
TEST(DualRule, NuPiClippedProportionalTerm) {
  std::vector<ConstraintSpec> specs = {{"g", ConstraintKind::inequality}};
  DualRuleOptions o;
  o.kind = DualRuleKind::nupi;
  o.kp = 10.0;
  o.kp_clip = 0.05;
  auto rule = make_dual_rule(o);
  rule->resize(1);
  auto lambda = vec({0.0});
  // error 0.6 (clipped to 0.05): lambda = 0.1*0.6 + 10*(0.05 - 0) = 0.56.
  rule->step(lambda, vec({0.6}), vec({0.1}), specs);
  EXPECT_NEAR(lambda(0), 0.56, 1e-15);
  // error 0.3 (still clipped: the proportional part does not change): + 0.1*0.3 = 0.59.
  rule->step(lambda, vec({0.3}), vec({0.1}), specs);
  EXPECT_NEAR(lambda(0), 0.59, 1e-15);
  // error 0.01 (inside the band): + 0.1*0.01 + 10*(0.01 - 0.05) = 0.591 - 0.4 = 0.191.
  rule->step(lambda, vec({0.01}), vec({0.1}), specs);
  EXPECT_NEAR(lambda(0), 0.191, 1e-14);
  // error -0.5 (clipped to -0.05): + 0.1*(-0.5) + 10*(-0.05 - 0.01) = 0.191 - 0.05 - 0.6 < 0 -> 0.
  rule->step(lambda, vec({-0.5}), vec({0.1}), specs);
  EXPECT_EQ(lambda(0), 0.0);
  // Without clipping the first step alone would give 0.06 + 6 = 6.06.
  o.kp_clip = std::numeric_limits<double>::infinity();
  auto unclipped = make_dual_rule(o);
  unclipped->resize(1);
  auto l2 = vec({0.0});
  unclipped->step(l2, vec({0.6}), vec({0.1}), specs);
  EXPECT_NEAR(l2(0), 6.06, 1e-14);
}
