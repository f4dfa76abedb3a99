// NumericDiffProblem: the seven analytic problems written once as functors (values only)
// give the hand-written values, a gradient within the stated tolerance of the hand-written
// backward, and reach the registry's known answers under the registry's defaults. Also the
// shared central difference, bad input and allocation.
//
// Tolerances: values 1e-12 (1 + |v|) (same formulas, other rounding); gradients
// |numeric - hand| <= 1e-7 (1 + |hand|) (central differences with the default step
// cbrt(eps): truncation h^2 phi''' / 6 plus rounding eps |phi| / h, both ~1e-10 here);
// solves: x 1e-6, multipliers 1e-5, loss 1e-8 (1 + |f*|) for the deterministic problems (the
// fixed point of the iteration moves by the gradient error over the curvature; the
// termination may be the iteration limit instead of the 1e-12 step test), and the
// hand-written problem's stochastic tolerances for the regression (x 1e-3, lambda 1e-2
// relative).

#include <gtest/gtest.h>

#include <cmath>
#include <string>

#include "common/analytic_functors.hpp"
#include "problems/analytic_test_util.hpp"
#include "saddle/numeric_diff.hpp"
#define SADDLE_TEST_ALLOC_DEFINE  // this file interposes the allocator for saddle_core_tests
#include "common/allocation_counter.hpp"

namespace saddle {
namespace {

using problems::testing::builtin_registry;
using problems::testing::max_abs_diff;
namespace tf = testing_functors;

std::unique_ptr<Problem> numeric_version(const std::string& name) {
  return tf::function_version(
      name, [](FunctionProblemSpec spec, auto functor) -> std::unique_ptr<Problem> {
        return std::make_unique<NumericDiffProblem<decltype(functor)>>(std::move(spec), functor);
      });
}

class NumericDiffAnalytic : public ::testing::TestWithParam<std::string> {};

TEST_P(NumericDiffAnalytic, ValuesAndGradientsMatchTheHandWrittenProblem) {
  const std::string name = GetParam();
  auto hand = builtin_registry().get(name).make();
  auto numeric = numeric_version(name);
  const std::size_t n = hand->num_parameters();
  const std::size_t m = hand->constraints().size();
  ASSERT_EQ(numeric->num_parameters(), n);
  ASSERT_EQ(numeric->num_samples(), hand->num_samples());
  Vector<double> x0 = Vector<double>::from_shape({n});
  hand->initial_point(x0, 0);
  Vector<double> x0n = Vector<double>::from_shape({n});
  numeric->initial_point(x0n, 0);
  EXPECT_EQ(max_abs_diff(x0n, std::vector<double>(x0.begin(), x0.end())), 0.0);

  // Stochastic: the same shuffle and a middle batch; deterministic problems ignore both.
  hand->shuffle(7);
  numeric->shuffle(7);
  const Batch batch = hand->num_samples() > 0 ? Batch{128, 128, 0} : Batch{};
  Evaluation eh, en;
  eh.resize(m);
  en.resize(m);
  Vector<double> gh = Vector<double>::from_shape({n});
  Vector<double> gn = Vector<double>::from_shape({n});
  for (int k = 0; k < 3; ++k) {
    const Vector<double> x = tf::test_point(name, x0, k);
    hand->forward(x, batch, eh);
    numeric->forward(x, batch, en);
    EXPECT_NEAR(en.loss, eh.loss, 1e-12 * (1.0 + std::abs(eh.loss))) << name << " point " << k;
    for (std::size_t i = 0; i < m; ++i)
      EXPECT_NEAR(en.constraints(i), eh.constraints(i), 1e-12 * (1.0 + std::abs(eh.constraints(i))))
          << name << " constraint " << i;
    for (int l = 0; l < 3; ++l) {
      const Vector<double> w = tf::test_weights(m, l);
      hand->backward(w, gh);
      numeric->backward(w, gn);
      for (std::size_t j = 0; j < n; ++j)
        EXPECT_NEAR(gn(j), gh(j), 1e-7 * (1.0 + std::abs(gh(j))))
            << name << " point " << k << " weights " << l << " coordinate " << j;
    }
  }
}

TEST_P(NumericDiffAnalytic, ReachesTheKnownAnswerWithTheRegistryDefaults) {
  const std::string name = GetParam();
  const problems::ProblemEntry& entry = builtin_registry().get(name);
  const problems::KnownAnswer a = entry.answer();
  const bool stochastic = name == "norm-constrained-regression";
  for (const std::string& scheme : entry.converging_schemes) {
    auto problem = numeric_version(name);
    const SolverOptions options = entry.defaults(scheme, FormulationKind::lagrangian);
    const Summary<double> s = problems::testing::solve(*problem, scheme, options);
    if (stochastic) {
      EXPECT_LE(problems::testing::dist2(s.x, a.x), 1e-3 * problems::testing::norm2(a.x)) << scheme;
      EXPECT_NEAR(s.multipliers(0), a.multipliers[0], 1e-2 * std::abs(a.multipliers[0])) << scheme;
    } else {
      // The defaults' step test (1e-12) is not always met: the differences' rounding noise
      // (eps |phi| / h, ~1e-9 in the gradient) keeps the iterates moving by about lr times
      // that, so the solve may end on its iteration limit; the answer is what is checked.
      EXPECT_TRUE(s.termination == Termination::converged ||
                  s.termination == Termination::iteration_limit)
          << scheme << ": " << s.message;
      EXPECT_LE(max_abs_diff(s.x, a.x), 1e-6) << scheme;
      EXPECT_LE(max_abs_diff(s.multipliers, a.multipliers), 1e-5) << scheme;
      EXPECT_NEAR(s.loss, *a.loss, 1e-8 * (1.0 + std::abs(*a.loss))) << scheme;
    }
  }
}

TEST_P(NumericDiffAnalytic, ForwardAndBackwardDoNotAllocate) {
  if (!saddle_test_alloc::kCountAllocations)
    GTEST_SKIP() << "allocation counting is off under sanitizers";
  const std::string name = GetParam();
  auto problem = numeric_version(name);
  const std::size_t n = problem->num_parameters();
  const std::size_t m = problem->constraints().size();
  Vector<double> x = Vector<double>::from_shape({n});
  problem->initial_point(x, 0);
  x += 0.01;
  const Vector<double> w = tf::test_weights(m, 1);
  Vector<double> grad = Vector<double>::from_shape({n});
  Evaluation eval;
  eval.resize(m);
  const Batch batch = problem->num_samples() > 0 ? Batch{128, 128, 0} : Batch{};
  saddle_test_alloc::AllocationCounter counter;
  for (int rep = 0; rep < 3; ++rep) {
    problem->shuffle(static_cast<std::uint64_t>(rep));
    problem->forward(x, batch, eval);
    problem->backward(w, grad);
    problem->forward(x, Batch{}, eval);
    problem->backward(w, grad);
  }
  EXPECT_EQ(counter.count(), 0u);
}

INSTANTIATE_TEST_SUITE_P(AllProblems, NumericDiffAnalytic,
                         ::testing::ValuesIn(tf::analytic_names()),
                         [](const ::testing::TestParamInfo<std::string>& info) {
                           std::string s = info.param;
                           for (char& c : s)
                             if (c == '-') c = '_';
                           return s;
                         });

// ---- the shared central difference -------------------------------------------------------

struct Cubic final : ScalarFunction<double> {
  int calls = 0;
  double operator()(const Vector<double>& x) override {
    ++calls;
    return x(0) * x(0) * x(0) + 2.0 * x(1);
  }
};

TEST(CentralDifference, IsExactUpToTheStepSquaredTermAndRestoresTheProbe) {
  Cubic phi;
  Vector<double> probe = {1.5, -2.0};
  // d/dx0 x0^3 by central differences = 3 x0^2 + h^2 (exactly, up to rounding).
  const double h = 1e-3 * 1.5;
  const double d0 = central_difference(phi, probe, 0, 1e-3);
  EXPECT_NEAR(d0, 3.0 * 1.5 * 1.5 + h * h, 1e-9);
  const double d1 = central_difference(phi, probe, 1, 1e-3);
  EXPECT_NEAR(d1, 2.0, 1e-9);
  EXPECT_EQ(phi.calls, 4);
  EXPECT_EQ(probe(0), 1.5);
  EXPECT_EQ(probe(1), -2.0);
}

// ---- a stochastic functor, a generic lambda ----------------------------------------------

TEST(NumericDiff, AcceptsAGenericLambda) {
  FunctionProblemSpec spec;
  spec.num_parameters = 2;
  spec.constraints = {{"x0+x1=5", ConstraintKind::equality}};
  auto problem = make_numeric_diff_problem(spec, [](const auto* x, auto& loss, auto* c) {
    loss = 6.0 * x[0] * x[0] + 4.0 * x[0] * x[1] + 3.0 * x[1] * x[1];
    c[0] = x[0] + x[1] - 5.0;
  });
  Vector<double> x = {0.5, -1.0};
  Vector<double> w = {2.0};
  const GradientCheckResult r = check_gradient(problem, x, w);
  EXPECT_TRUE(r.ok) << r.report();
  Evaluation e;
  e.resize(1);
  problem.forward(x, Batch{}, e);
  Vector<double> g = Vector<double>::from_shape({2});
  problem.backward(w, g);
  EXPECT_NEAR(g(0), 12.0 * 0.5 + 4.0 * -1.0 + 2.0, 1e-8);
  EXPECT_NEAR(g(1), 4.0 * 0.5 + 6.0 * -1.0 + 2.0, 1e-8);
}

// ---- bad input ---------------------------------------------------------------------------

FunctionProblemSpec qp_spec() {
  FunctionProblemSpec spec;
  spec.name = "qp";
  spec.num_parameters = 2;
  spec.constraints = {{"x0+x1=5", ConstraintKind::equality}};
  return spec;
}

template <class F>
std::string invalid_option_message(F&& f) {
  try {
    f();
  } catch (const InvalidOption& e) {
    return e.what();
  }
  return "(no InvalidOption)";
}

TEST(NumericDiffBadInput, SpecErrorsAreOneLineInvalidOptions) {
  const tf::EqualityQp qp;
  auto make = [&](FunctionProblemSpec spec) { NumericDiffProblem<tf::EqualityQp> p(spec, qp); };
  FunctionProblemSpec s = qp_spec();
  s.num_parameters = 0;
  EXPECT_EQ(invalid_option_message([&] { make(s); }), "qp: num_parameters = 0: must be > 0");
  s = qp_spec();
  s.initial_point = {1.0, 2.0, 3.0};
  EXPECT_EQ(invalid_option_message([&] { make(s); }),
            "qp: initial_point has 3 values, expected num_parameters = 2");
  s = qp_spec();
  s.initial_point = {1.0, NAN};
  EXPECT_EQ(invalid_option_message([&] { make(s); }), "qp: initial_point[1] is not finite");
  s = qp_spec();
  s.constraints.push_back({"x0+x1=5", ConstraintKind::inequality});
  EXPECT_EQ(invalid_option_message([&] { make(s); }), "qp: duplicate constraint name 'x0+x1=5'");
  s = qp_spec();
  s.constraints[0].name = "";
  EXPECT_EQ(invalid_option_message([&] { make(s); }), "qp: constraint 0 has an empty name");
  s = qp_spec();
  s.samples.values = {1.0, 2.0, 3.0};
  EXPECT_EQ(invalid_option_message([&] { make(s); }),
            "qp: samples.width = 0 with 3 values: must be > 0");
  s.samples.width = 2;
  EXPECT_EQ(invalid_option_message([&] { make(s); }),
            "qp: samples has 3 values, not a multiple of samples.width = 2");
  s.samples.values = {1.0, 2.0};
  EXPECT_EQ(invalid_option_message([&] { make(s); }),
            "qp: spec.samples has 1 samples but the functor takes no SampleBatch argument");
  NumericDiffOptions o;
  o.step = 0.0;
  EXPECT_EQ(invalid_option_message([&] { NumericDiffProblem<tf::EqualityQp> p(qp_spec(), qp, o); }),
            "numeric_diff.step = 0.000000: must be in (0, 1)");
  o.step = NAN;
  EXPECT_THROW((NumericDiffProblem<tf::EqualityQp>(qp_spec(), qp, o)), InvalidOption);
}

TEST(NumericDiffBadInput, StochasticFunctorWithoutSamples) {
  FunctionProblemSpec spec = qp_spec();
  spec.constraints = {{"norm", ConstraintKind::inequality}};
  EXPECT_EQ(invalid_option_message([&] {
              NumericDiffProblem<tf::Regression> p(spec, tf::Regression{1, 1.0});
            }),
            "qp: the functor takes a SampleBatch but spec.samples is empty (give the samples, or "
            "drop the batch argument for a deterministic problem)");
}

TEST(NumericDiffBadInput, WrongPointBatchOrCallOrderThrowInputError) {
  NumericDiffProblem<tf::EqualityQp> p(qp_spec(), tf::EqualityQp{});
  Vector<double> w = {1.0};
  Vector<double> g = Vector<double>::from_shape({2});
  EXPECT_THROW(p.backward(w, g), InputError);  // no forward yet
  Evaluation e;
  e.resize(1);
  Vector<double> bad = {1.0, 2.0, 3.0};
  try {
    p.forward(bad, Batch{}, e);
    ADD_FAILURE() << "no InputError";
  } catch (const InputError& err) {
    EXPECT_STREQ(err.what(), "qp: x has 3 values, expected 2");
  }
  // A batch past the samples of a stochastic problem.
  problems::NormConstrainedRegression hand;
  FunctionProblemSpec spec = tf::spec_of(hand, "regression");
  spec.samples = tf::regression_samples(hand);
  NumericDiffProblem<tf::Regression> r(spec, tf::Regression{hand.config().features, hand.radius()});
  Vector<double> x = Vector<double>::from_shape({hand.config().features});
  x.fill(0.1);
  try {
    r.forward(x, Batch{500, 128, 0}, e);
    ADD_FAILURE() << "no InputError";
  } catch (const InputError& err) {
    EXPECT_STREQ(err.what(), "regression: batch [500, 628) exceeds the 512 samples");
  }
}

TEST(ShuffledSamples, OrderDependsOnlyOnTheSeedAndMatchesTheBuiltInRegression) {
  // The built-in regression shuffles with the same splitmix64 Fisher-Yates: after the same
  // seed, the full-data losses at the same point agree and a batch's loss agrees too.
  problems::NormConstrainedRegression hand;
  FunctionProblemSpec spec = tf::spec_of(hand, "regression");
  spec.samples = tf::regression_samples(hand);
  NumericDiffProblem<tf::Regression> r(spec, tf::Regression{hand.config().features, hand.radius()});
  Vector<double> x = {0.3, -0.2, 0.1, 0.5, -0.4};
  Evaluation eh, er;
  eh.resize(1);
  er.resize(1);
  hand.shuffle(3);
  r.shuffle(99);
  r.shuffle(3);  // a previous shuffle must not matter
  hand.forward(x, Batch{0, 64, 0}, eh);
  r.forward(x, Batch{0, 64, 0}, er);
  EXPECT_NEAR(er.loss, eh.loss, 1e-12 * eh.loss);
  r.shuffle(4);
  r.forward(x, Batch{0, 64, 0}, er);
  EXPECT_GT(std::abs(er.loss - eh.loss), 1e-6 * eh.loss);  // another seed, another batch
}

}  // namespace
}  // namespace saddle
