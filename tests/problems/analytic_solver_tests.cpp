// Every update scheme reaches the known answer of every analytic problem with the
// registry's default options (no flags), for the Lagrangian, the augmented Lagrangian and
// the fixed penalty at the optimal multipliers, with and without dual restarts; the quadratic
// penalty approaches the answer as the penalty grows; linear-equality shows the textbook
// behaviours of the schemes on a bilinear saddle.
//
// Tolerances (deterministic problems, defaults stop on the step tolerance ~1e-12..1e-13):
//   x: 1e-8 (max abs), multipliers: 1e-7 (max abs), loss: 1e-8 (1 + |f*|), violation: 1e-8.
// Stochastic regression (constant step, 3000 epochs of batch 128): x 1e-3 relative (measured
// ~2e-4), lambda 1e-2 relative (measured <= 4e-4), loss 1e-3 relative, violation 2e-3 r^2.

#include <gtest/gtest.h>

#include <cmath>
#include <sstream>
#include <string>
#include <vector>

#include "analytic_test_util.hpp"
#include "saddle/solvers.hpp"

namespace saddle::problems {
namespace {

using testing::builtin_registry;
using testing::max_abs_diff;

struct Case {
  std::string problem;
  std::string scheme;
  FormulationKind formulation;
  bool restarts;
};

std::string case_name(const Case& c) {
  std::string s = c.problem + "__" + c.scheme + "__" + to_string(c.formulation) + (c.restarts ? "__restarts" : "");
  for (char& ch : s)
    if (ch == '-') ch = '_';
  return s;
}

bool has_inequality(const std::string& problem) {
  auto p = builtin_registry().get(problem).make();
  for (const auto& s : p->constraints())
    if (s.kind == ConstraintKind::inequality) return true;
  return false;
}

std::vector<Case> deterministic_cases() {
  std::vector<Case> cases;
  for (const std::string name :
       {"active-inequality", "inactive-inequality", "equality-qp", "hs21", "max-entropy", "linear-equality"}) {
    const ProblemEntry& e = builtin_registry().get(name);
    const bool ineq = has_inequality(name);
    for (const auto& scheme : e.converging_schemes) {
      for (auto f : {FormulationKind::lagrangian, FormulationKind::augmented_lagrangian,
                     FormulationKind::fixed_penalty}) {
        // linear-equality: with lambda fixed at -1 the objective is constant in x.
        if (name == std::string("linear-equality") && f == FormulationKind::fixed_penalty) continue;
        cases.push_back({name, scheme, f, false});
        // Restarts act on inequality multipliers; fixed penalties never move.
        if (ineq && f != FormulationKind::fixed_penalty) cases.push_back({name, scheme, f, true});
      }
    }
  }
  return cases;
}

class Deterministic : public ::testing::TestWithParam<Case> {};

TEST_P(Deterministic, ReachesTheKnownAnswerWithDefaults) {
  const Case& c = GetParam();
  const ProblemEntry& e = builtin_registry().get(c.problem);
  const KnownAnswer a = e.answer();
  auto problem = e.make();
  SolverOptions opt = e.defaults(c.scheme, c.formulation);
  opt.dual_restarts = c.restarts;
  const Summary<double> s = testing::solve(*problem, c.scheme, opt);

  EXPECT_EQ(s.termination, Termination::converged) << s.message << " after " << s.iterations;
  EXPECT_LE(max_abs_diff(s.x, a.x), 1e-8);
  if (c.formulation == FormulationKind::fixed_penalty) {
    EXPECT_EQ(max_abs_diff(s.multipliers, a.multipliers), 0.0);  // never updated
  } else {
    EXPECT_LE(max_abs_diff(s.multipliers, a.multipliers), 1e-7);
  }
  EXPECT_NEAR(s.loss, *a.loss, 1e-8 * (1.0 + std::abs(*a.loss)));
  EXPECT_LE(s.max_violation, 1e-8);
  // Multipliers of inequalities that are inactive at the answer are exactly 0 with restarts
  // (inactive-inequality's lambda, max-entropy's p_i >= 0, hs21's four inactive bounds).
  if (c.restarts) {
    for (std::size_t i = 0; i < a.multipliers.size(); ++i) {
      if (s.constraints[i].kind == ConstraintKind::inequality && a.multipliers[i] == 0.0) {
        EXPECT_EQ(s.multipliers(i), 0.0) << s.constraints[i].name;
      }
    }
  }
}

INSTANTIATE_TEST_SUITE_P(AnalyticProblems, Deterministic, ::testing::ValuesIn(deterministic_cases()),
                         [](const ::testing::TestParamInfo<Case>& info) { return case_name(info.param); });

TEST(Restarts, InactiveInequalityMultiplierIsExactlyZero) {
  const ProblemEntry& e = builtin_registry().get("inactive-inequality");
  for (const auto& scheme : scheme_names()) {
    auto p = e.make();
    SolverOptions opt = e.defaults(scheme, FormulationKind::lagrangian);
    opt.dual_restarts = true;
    opt.initial_multipliers = {5.0};  // a wrong start: the first restart must clear it
    const Summary<double> s = testing::solve(*p, scheme, opt);
    EXPECT_EQ(s.termination, Termination::converged) << scheme;
    EXPECT_EQ(s.multipliers(0), 0.0) << scheme;
    EXPECT_NEAR(s.x(0), 2.0, 1e-8) << scheme;
  }
}

// ---- stochastic: norm-constrained regression ---------------------------------------------

std::vector<Case> stochastic_cases() {
  std::vector<Case> cases;
  const ProblemEntry& e = builtin_registry().get("norm-constrained-regression");
  for (const auto& scheme : e.converging_schemes)
    for (auto f : {FormulationKind::lagrangian, FormulationKind::augmented_lagrangian,
                   FormulationKind::fixed_penalty})
      cases.push_back({e.name, scheme, f, false});
  return cases;
}

class Stochastic : public ::testing::TestWithParam<Case> {};

TEST_P(Stochastic, ReachesTheRidgeAnswerWithinTheStatedTolerance) {
  const Case& c = GetParam();
  NormConstrainedRegression problem;
  const KnownAnswer a = problem.known_answer();
  const SolverOptions opt = NormConstrainedRegression::defaults(c.scheme, c.formulation);
  const Summary<double> s = testing::solve(problem, c.scheme, opt);

  EXPECT_EQ(s.termination, Termination::iteration_limit) << s.message;
  EXPECT_EQ(s.epochs, opt.max_epochs);
  const double rel_x = testing::dist2(s.x, a.x) / testing::norm2(a.x);
  EXPECT_LE(rel_x, 1e-3);
  EXPECT_LE(std::abs(s.multipliers(0) - a.multipliers[0]), 1e-2 * a.multipliers[0]);
  EXPECT_LE(std::abs(problem.full_loss(s.x) - *a.loss), 1e-3 * *a.loss);
  double norm2 = 0.0;
  for (double v : s.x) norm2 += v * v;
  EXPECT_LE(norm2 - problem.radius() * problem.radius(), 2e-3 * problem.radius() * problem.radius());
}

INSTANTIATE_TEST_SUITE_P(Regression, Stochastic, ::testing::ValuesIn(stochastic_cases()),
                         [](const ::testing::TestParamInfo<Case>& info) { return case_name(info.param); });

// ---- quadratic penalty ------------------------------------------------------------------
// The quadratic penalty f + rho/2 ||c_+||^2 is minimised at a point off the answer by about
// lambda*/rho. With the defaults' rho0 and with rho0/10 (primal step x10, still stable), the
// error must shrink by about 10 (test: by more than 5) and the violation must be at most
// 2 max|lambda*| / rho0.

class QuadraticPenalty : public ::testing::TestWithParam<std::string> {};

TEST_P(QuadraticPenalty, ErrorShrinksAsThePenaltyGrows) {
  const ProblemEntry& e = builtin_registry().get(GetParam());
  const KnownAnswer a = e.answer();
  const SolverOptions hi = e.defaults("gda", FormulationKind::quadratic_penalty);
  SolverOptions lo = hi;
  lo.formulation.penalty = hi.formulation.penalty / 10.0;
  lo.formulation.max_penalty = lo.formulation.penalty;
  lo.primal.lr = hi.primal.lr * 10.0;
  lo.feasibility_tolerance = hi.feasibility_tolerance * 10.0;
  auto p_hi = e.make();
  auto p_lo = e.make();
  const Summary<double> s_hi = testing::solve(*p_hi, "gda", hi);
  const Summary<double> s_lo = testing::solve(*p_lo, "gda", lo);
  EXPECT_EQ(s_hi.termination, Termination::converged) << s_hi.message;
  EXPECT_EQ(s_lo.termination, Termination::converged) << s_lo.message;
  const double err_hi = max_abs_diff(s_hi.x, a.x);
  const double err_lo = max_abs_diff(s_lo.x, a.x);
  EXPECT_GT(err_hi, 0.0);
  EXPECT_LT(err_hi, 0.2 * err_lo) << "rho " << hi.formulation.penalty;
  double lam = 0.0;
  for (double v : a.multipliers) lam = std::max(lam, std::abs(v));
  EXPECT_LE(s_hi.max_violation, 2.0 * lam / hi.formulation.penalty);
  EXPECT_GT(s_hi.max_violation, 0.0);  // an exterior method: never exactly feasible
}

INSTANTIATE_TEST_SUITE_P(ActiveConstraints, QuadraticPenalty,
                         ::testing::Values("active-inequality", "equality-qp", "hs21", "max-entropy",
                                           "linear-equality"),
                         [](const ::testing::TestParamInfo<std::string>& info) {
                           std::string s = info.param;
                           for (char& ch : s)
                             if (ch == '-') ch = '_';
                           return s;
                         });

TEST(QuadraticPenalty, ActiveInequalityMatchesTheClosedForm) {
  // argmin (x - 2)^2 + rho/2 (x - 1)_+^2 = 1 + 2 / (2 + rho).
  const ProblemEntry& e = builtin_registry().get("active-inequality");
  const SolverOptions opt = e.defaults("gda", FormulationKind::quadratic_penalty);
  auto p = e.make();
  const Summary<double> s = testing::solve(*p, "gda", opt);
  const double rho = opt.formulation.penalty;
  EXPECT_NEAR(s.x(0), 1.0 + 2.0 / (2.0 + rho), 1e-8);
}

// ---- linear-equality: min x s.t. x = 0, saddle (x, lambda) = (0, -1) ---------------------

/// Records the distance of (x, lambda) to (0, -1) after every step.
class DistanceRecorder : public Callback<double> {
 public:
  bool on_step(const StepInfo<double>& info) override {
    const double x = (*info.x)(0);
    const double l = (*info.multipliers)(0);
    distances.push_back(std::hypot(x, l + 1.0));
    return true;
  }
  std::vector<double> distances;
};

constexpr double kStartDistance = 1.4142135623730951;  // (x0, lambda0) = (1, 0)

Summary<double> run_linear(const std::string& scheme, std::size_t steps, DistanceRecorder& rec) {
  LinearEquality p;
  SolverOptions opt = LinearEquality::defaults(scheme, FormulationKind::lagrangian);
  opt.max_iterations = steps;
  opt.tolerance = 0.0;
  Solver<double> solver(make_scheme<double>(scheme), opt);
  solver.add_callback(&rec);
  return solver.solve(p);
}

TEST(LinearEquality, SimultaneousGdaSpiralsAway) {
  DistanceRecorder rec;
  const std::size_t steps = 100;
  const Summary<double> s = run_linear("gda", steps, rec);
  ASSERT_EQ(rec.distances.size(), steps);
  // One GDA step multiplies the distance by exactly sqrt(1 + eta^2) (eta = 0.3 on both sides).
  const double eta = LinearEquality::defaults("gda", FormulationKind::lagrangian).primal.lr;
  for (std::size_t t = 1; t < steps; ++t) EXPECT_GT(rec.distances[t], rec.distances[t - 1]);
  const double expected = kStartDistance * std::pow(1.0 + eta * eta, 0.5 * static_cast<double>(steps));
  EXPECT_NEAR(rec.distances.back() / expected, 1.0, 1e-9);
  EXPECT_GT(rec.distances.back(), 10.0 * kStartDistance);
  EXPECT_EQ(s.termination, Termination::iteration_limit);
}

TEST(LinearEquality, AlternatingGdaCirclesWithoutConvergingOrDiverging) {
  for (const std::string scheme : {"alternating-primal-dual", "alternating-dual-primal"}) {
    DistanceRecorder rec;
    const std::size_t steps = 2000;
    run_linear(scheme, steps, rec);
    ASSERT_EQ(rec.distances.size(), steps) << scheme;
    double lo = rec.distances[0], hi = rec.distances[0];
    for (double d : rec.distances) {
      lo = std::min(lo, d);
      hi = std::max(hi, d);
    }
    EXPECT_GE(lo, 0.5 * kStartDistance) << scheme;
    EXPECT_LE(hi, 2.0 * kStartDistance) << scheme;
    // ... and it keeps circling: the last 100 steps still span a wide range of x.
    EXPECT_GT(rec.distances.back(), 0.5 * kStartDistance) << scheme;
  }
}

TEST(LinearEquality, ExtrapolationSchemesConverge) {
  for (const std::string scheme : {"extragradient", "extrapolation-from-the-past"}) {
    DistanceRecorder rec;
    LinearEquality p;
    const SolverOptions opt = LinearEquality::defaults(scheme, FormulationKind::lagrangian);
    Solver<double> solver(make_scheme<double>(scheme), opt);
    solver.add_callback(&rec);
    const Summary<double> s = solver.solve(p);
    EXPECT_EQ(s.termination, Termination::converged) << scheme << ": " << s.message;
    EXPECT_NEAR(s.x(0), 0.0, 1e-6) << scheme;
    EXPECT_NEAR(s.multipliers(0), -1.0, 1e-6) << scheme;
    ASSERT_FALSE(rec.distances.empty());
    EXPECT_LT(rec.distances.back(), 1e-6 * kStartDistance) << scheme;
  }
}

TEST(LinearEquality, AugmentedLagrangianMakesEverySchemeConverge) {
  // The augmented term rho/2 x^2 makes the primal strongly convex: even simultaneous GDA
  // reaches the saddle point.
  for (const auto& scheme : scheme_names()) {
    LinearEquality p;
    const SolverOptions opt = LinearEquality::defaults(scheme, FormulationKind::augmented_lagrangian);
    const Summary<double> s = testing::solve(p, scheme, opt);
    EXPECT_EQ(s.termination, Termination::converged) << scheme;
    EXPECT_NEAR(s.x(0), 0.0, 1e-8) << scheme;
    EXPECT_NEAR(s.multipliers(0), -1.0, 1e-8) << scheme;
  }
}

}  // namespace
}  // namespace saddle::problems
