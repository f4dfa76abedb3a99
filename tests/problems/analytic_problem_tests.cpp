// Problem-level tests of the analytic problems: exact gradients (finite differences), the
// known answers satisfy the KKT conditions, and the problem-specific contracts.

#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <string>

#include "analytic_test_util.hpp"

namespace saddle::problems {
namespace {

using testing::builtin_registry;
using testing::to_vector;

// Random point near the problem's scale: max-entropy points are probabilities, one of them
// negative to cover the quadratic extension of p log p; the others are N(0, 2^2) plus the
// answer, so that constraints are on both sides.
Vector<double> random_point(const std::string& name, const KnownAnswer& answer, std::mt19937_64& rng,
                            int which) {
  const std::size_t n = answer.x.size();
  Vector<double> x = xt::zeros<double>({n});
  if (name == MaxEntropy::kName) {
    std::uniform_real_distribution<double> u(0.02, 0.6);
    for (std::size_t i = 0; i < n; ++i) x(i) = u(rng);
    if (which == 1) x(2) = -1e-5;           // quadratic region below kDelta
    if (which == 2) x(4) = MaxEntropy::kDelta;  // the joint (checked with a smaller step)
    return x;
  }
  std::normal_distribution<double> g(0.0, 2.0);
  for (std::size_t i = 0; i < n; ++i) x(i) = answer.x[i] + g(rng);
  return x;
}

class GradientCheck : public ::testing::TestWithParam<std::string> {};

TEST_P(GradientCheck, BackwardMatchesCentralDifferences) {
  const ProblemEntry& entry = builtin_registry().get(GetParam());
  auto problem = entry.make();
  const KnownAnswer answer = entry.answer();
  const std::size_t m = problem->constraints().size();
  std::mt19937_64 rng(1234);
  std::uniform_real_distribution<double> uw(-2.0, 2.0);
  for (int which = 0; which < 3; ++which) {
    const Vector<double> x = random_point(GetParam(), answer, rng, which);
    Vector<double> w = xt::zeros<double>({m});
    for (std::size_t i = 0; i < m; ++i) w(i) = uw(rng);
    GradientCheckOptions opt;
    if (problem->num_samples() > 0) opt.batch = Batch{64, 32, 0};  // a fixed minibatch
    // Near p = kDelta = 1e-6 the default step (1e-6) is as large as p itself and the third
    // derivative -1/p^2 of p log p dominates the central difference: use a 1e-9 step there.
    if (GetParam() == MaxEntropy::kName && which == 2) opt.step = 1e-9;
    const GradientCheckResult r = check_gradient(*problem, x, w, opt);
    EXPECT_TRUE(r.ok) << GetParam() << " point " << which << ": " << r.report();
    EXPECT_EQ(r.checked, problem->num_parameters());
  }
}

INSTANTIATE_TEST_SUITE_P(AllProblems, GradientCheck,
                         ::testing::Values("active-inequality", "inactive-inequality", "equality-qp", "hs21",
                                           "linear-equality", "max-entropy", "norm-constrained-regression"),
                         [](const ::testing::TestParamInfo<std::string>& info) {
                           std::string s = info.param;
                           for (char& c : s)
                             if (c == '-') c = '_';
                           return s;
                         });

// The known answers must satisfy KKT exactly (up to rounding): primal feasibility, dual
// feasibility (lambda >= 0 on inequalities), complementarity, and stationarity
// grad f + sum lambda_i grad c_i = 0 computed by the problem's own backward; and the stated
// loss must be the loss at x.
class KnownAnswerKkt : public ::testing::TestWithParam<std::string> {};

TEST_P(KnownAnswerKkt, AnswerSatisfiesKkt) {
  const ProblemEntry& entry = builtin_registry().get(GetParam());
  auto problem = entry.make();
  const KnownAnswer a = entry.answer();
  const auto specs = problem->constraints();
  ASSERT_EQ(a.x.size(), problem->num_parameters());
  ASSERT_EQ(a.multipliers.size(), specs.size());
  ASSERT_TRUE(a.loss.has_value());
  EXPECT_FALSE(a.note.empty());

  Evaluation eval;
  eval.resize(specs.size());
  const Vector<double> x = to_vector(a.x);
  problem->forward(x, Batch{}, eval);
  EXPECT_NEAR(eval.loss, *a.loss, 1e-12 * (1.0 + std::abs(*a.loss)));
  EXPECT_LE(max_violation(specs, eval.constraints), 1e-12);
  for (std::size_t i = 0; i < specs.size(); ++i) {
    if (specs[i].kind == ConstraintKind::inequality) {
      EXPECT_GE(a.multipliers[i], 0.0) << specs[i].name;
      EXPECT_LE(std::abs(a.multipliers[i] * eval.constraints(i)), 1e-12) << specs[i].name;
    }
  }
  Vector<double> grad = xt::zeros<double>({problem->num_parameters()});
  problem->backward(to_vector(a.multipliers), grad);
  for (std::size_t j = 0; j < grad.size(); ++j) EXPECT_NEAR(grad(j), 0.0, 1e-9) << "component " << j;
}

INSTANTIATE_TEST_SUITE_P(AllProblems, KnownAnswerKkt,
                         ::testing::Values("active-inequality", "inactive-inequality", "equality-qp", "hs21",
                                           "linear-equality", "max-entropy", "norm-constrained-regression"),
                         [](const ::testing::TestParamInfo<std::string>& info) {
                           std::string s = info.param;
                           for (char& c : s)
                             if (c == '-') c = '_';
                           return s;
                         });

TEST(KnownAnswer, StatedValues) {
  EXPECT_EQ(ActiveInequality::answer().x, std::vector<double>{1.0});
  EXPECT_EQ(ActiveInequality::answer().multipliers, std::vector<double>{2.0});
  EXPECT_EQ(InactiveInequality::answer().x, std::vector<double>{2.0});
  EXPECT_EQ(InactiveInequality::answer().multipliers, std::vector<double>{0.0});
  EXPECT_EQ(EqualityQp::answer().x, (std::vector<double>{1.0, 4.0}));
  EXPECT_DOUBLE_EQ(*EqualityQp::answer().loss, 70.0);
  EXPECT_EQ(EqualityQp::answer().multipliers, std::vector<double>{-28.0});
  EXPECT_EQ(Hs21::answer().x, (std::vector<double>{2.0, 0.0}));
  EXPECT_DOUBLE_EQ(*Hs21::answer().loss, -99.96);
  EXPECT_EQ(Hs21::answer().multipliers, (std::vector<double>{0.0, 0.04, 0.0, 0.0, 0.0}));
  EXPECT_EQ(LinearEquality::answer().multipliers, std::vector<double>{-1.0});
}

TEST(MaxEntropy, AnswerIsTheGibbsDistributionWithMean45) {
  const KnownAnswer a = MaxEntropy::answer();
  double sum = 0.0, mean = 0.0;
  for (std::size_t i = 0; i < 6; ++i) {
    sum += a.x[i];
    mean += static_cast<double>(i + 1) * a.x[i];
  }
  EXPECT_NEAR(sum, 1.0, 1e-14);
  EXPECT_NEAR(mean, 4.5, 1e-13);
  // Gibbs form: successive ratios p_{i+1} / p_i = exp(beta) are all equal, beta = -mu2.
  const double beta = -a.multipliers[1];
  for (std::size_t i = 0; i + 1 < 6; ++i) EXPECT_NEAR(a.x[i + 1] / a.x[i], std::exp(beta), 1e-12);
  // Jaynes' value: beta = 0.37105... (p1 = 0.05435, p6 = 0.34749).
  EXPECT_NEAR(beta, 0.371049, 1e-5);
  EXPECT_NEAR(a.x[0], 0.05435, 1e-5);
  EXPECT_NEAR(a.x[5], 0.34749, 1e-5);
}

TEST(MaxEntropy, ExtensionIsTwiceContinuouslyDifferentiableAtDelta) {
  const double d = MaxEntropy::kDelta;
  const double below = std::nextafter(d, 0.0);
  EXPECT_NEAR(MaxEntropy::phi(below), MaxEntropy::phi(d), 1e-18);
  EXPECT_NEAR(MaxEntropy::phi_prime(below), MaxEntropy::phi_prime(d), 1e-9);
  // Curvature: difference quotients of phi' on both sides tend to 1 / delta.
  const double h = 1e-12;
  EXPECT_NEAR((MaxEntropy::phi_prime(d) - MaxEntropy::phi_prime(d - h)) / h, 1.0 / d, 1e-3 / d);
  EXPECT_NEAR((MaxEntropy::phi_prime(d + h) - MaxEntropy::phi_prime(d)) / h, 1.0 / d, 1e-3 / d);
  // Defined and finite at and below 0.
  EXPECT_TRUE(std::isfinite(MaxEntropy::phi(0.0)));
  EXPECT_TRUE(std::isfinite(MaxEntropy::phi(-1.0)));
  EXPECT_DOUBLE_EQ(MaxEntropy::phi(0.5), 0.5 * std::log(0.5));
}

TEST(MaxEntropy, StartsFromTheUniformDistribution) {
  MaxEntropy p;
  Vector<double> x = xt::zeros<double>({6});
  p.initial_point(x, 99);
  for (std::size_t i = 0; i < 6; ++i) EXPECT_DOUBLE_EQ(x(i), 1.0 / 6.0);
  const auto specs = p.constraints();
  ASSERT_EQ(specs.size(), 8u);
  EXPECT_EQ(specs[0].kind, ConstraintKind::equality);
  EXPECT_EQ(specs[1].kind, ConstraintKind::equality);
  for (std::size_t i = 2; i < 8; ++i) EXPECT_EQ(specs[i].kind, ConstraintKind::inequality);
}

TEST(Hs21, ConstraintsAreFiveNamedInequalities) {
  Hs21 p;
  const auto specs = p.constraints();
  ASSERT_EQ(specs.size(), 5u);
  for (const auto& s : specs) EXPECT_EQ(s.kind, ConstraintKind::inequality);
  EXPECT_EQ(specs[1].name, "x1_lower");
  // The standard start (-1, -1) violates 10 x1 - x2 >= 10 and x1 >= 2.
  Vector<double> x = xt::zeros<double>({2});
  p.initial_point(x, 0);
  Evaluation e;
  e.resize(5);
  p.forward(x, Batch{}, e);
  EXPECT_DOUBLE_EQ(e.constraints(0), 19.0);
  EXPECT_DOUBLE_EQ(e.constraints(1), 3.0);
  EXPECT_DOUBLE_EQ(e.loss, 0.01 + 1.0 - 100.0);
}

TEST(AnalyticProblems, WrongSizeThrowsInputErrorNamingTheProblem) {
  EqualityQp p;
  Evaluation e;
  e.resize(1);
  Vector<double> x = xt::zeros<double>({3});
  try {
    p.forward(x, Batch{}, e);
    FAIL() << "expected InputError";
  } catch (const InputError& err) {
    EXPECT_NE(std::string(err.what()).find("equality-qp"), std::string::npos) << err.what();
  }
}

// ---- norm-constrained-regression ------------------------------------------------------

TEST(NormConstrainedRegression, ConstraintIsActiveAndAnswerIsTheRidgeSolution) {
  NormConstrainedRegression p;
  const KnownAnswer a = p.known_answer();
  const double r = p.radius();
  const Vector<double> w_ls = p.ridge_solution(0.0);
  double n_ls = 0.0;
  for (double v : w_ls) n_ls += v * v;
  EXPECT_NEAR(std::sqrt(n_ls), 2.0 * r, 1e-12);  // r = ||w_ls|| / 2
  EXPECT_GT(a.multipliers[0], 0.0);
  EXPECT_NEAR(testing::norm2(a.x), r, 1e-12 * r);
  // The least-squares fit recovers w_true = (1, -2, 0.5, 3, -1) up to the small noise.
  const std::vector<double> w_true{1.0, -2.0, 0.5, 3.0, -1.0};
  EXPECT_LT(testing::max_abs_diff(w_ls, w_true), 0.05);
  // The constrained answer has a higher full-data loss than the unconstrained fit.
  EXPECT_GT(*a.loss, p.full_loss(w_ls));
  // Same data on every construction (fixed seed).
  NormConstrainedRegression q;
  EXPECT_EQ(p.targets(), q.targets());
}

TEST(NormConstrainedRegression, ShuffleOrderDependsOnlyOnTheSeed) {
  NormConstrainedRegression p;
  Evaluation e;
  e.resize(1);
  Vector<double> w = xt::zeros<double>({5});
  for (std::size_t j = 0; j < 5; ++j) w(j) = 0.3 * static_cast<double>(j) - 0.5;
  const Batch batch{100, 40, 0};

  p.forward(w, Batch{}, e);
  const double full = e.loss;
  p.forward(w, batch, e);
  const double original = e.loss;

  p.shuffle(7);
  p.forward(w, batch, e);
  const double seven = e.loss;
  EXPECT_NE(seven, original);
  p.shuffle(8);
  p.forward(w, batch, e);
  EXPECT_NE(e.loss, seven);
  p.shuffle(8);  // shuffling again with the same seed is not a composition
  p.shuffle(7);
  p.forward(w, batch, e);
  EXPECT_EQ(e.loss, seven);
  // The whole data set does not depend on the order (up to summation rounding).
  p.forward(w, Batch{}, e);
  EXPECT_NEAR(e.loss, full, 1e-12 * full);
  EXPECT_NEAR(e.loss, p.full_loss(w), 1e-12 * full);
}

TEST(NormConstrainedRegression, BatchesCoverTheDataAndBadBatchesThrow) {
  NormConstrainedRegression p;
  p.shuffle(3);
  Evaluation e;
  e.resize(1);
  Vector<double> w = xt::ones<double>({5});
  // Mean of the batch losses over a partition (sizes 200, 200, 112) = full loss.
  double total = 0.0;
  for (auto [b, s] : {std::pair<std::size_t, std::size_t>{0, 200}, {200, 200}, {400, 112}}) {
    p.forward(w, Batch{b, s, 0}, e);
    total += e.loss * static_cast<double>(s);
  }
  EXPECT_NEAR(total / 512.0, p.full_loss(w), 1e-12 * p.full_loss(w));
  EXPECT_THROW(p.forward(w, Batch{500, 13, 0}, e), InputError);
  EXPECT_THROW(p.forward(w, Batch{513, 1, 0}, e), InputError);
  EXPECT_NO_THROW(p.forward(w, Batch{500, 12, 0}, e));
  // The constraint is deterministic: same value for every batch and from the cheap path.
  const double c = e.constraints(0);
  p.evaluate_constraints(w, Batch{0, 7, 0}, e);
  EXPECT_EQ(e.constraints(0), c);
  EXPECT_NEAR(c, 5.0 - p.radius() * p.radius(), 1e-12);
}

TEST(NormConstrainedRegression, RejectsBadConfig) {
  NormConstrainedRegression::Config c;
  c.samples = 0;
  EXPECT_THROW(NormConstrainedRegression{c}, InvalidOption);
  c = {};
  c.radius_fraction = 0.0;
  EXPECT_THROW(NormConstrainedRegression{c}, InvalidOption);
  c = {};
  c.radius_fraction = 2.0;  // inactive: the answer is the least-squares fit, lambda = 0
  NormConstrainedRegression loose(c);
  const KnownAnswer a = loose.known_answer();
  EXPECT_EQ(a.multipliers[0], 0.0);
  EXPECT_LT(testing::max_abs_diff(loose.ridge_solution(0.0), a.x), 1e-15);
}

}  // namespace
}  // namespace saddle::problems
