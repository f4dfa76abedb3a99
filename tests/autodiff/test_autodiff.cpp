// AutoDiffProblem (ADOL-C): the seven analytic problems written once as functors templated
// on the scalar give the hand-written values and gradients, reach the registry's known
// answers under the registry's defaults (Lagrangian and augmented Lagrangian, every
// converging scheme) with the hand-written problems' tolerances, follow
// the hand-written regression's stochastic trajectory, retape on a branch switch, keep one
// tape per batch size, allocate only what ADOL-C's own drivers allocate, and report bad
// input with one line.
//
// Tolerances: values and gradients 1e-10 (1 + |hand|) (the same formulas, evaluated by
// ADOL-C's tape instead of hand-written code: differences are rounding only); solves: x 1e-8,
// multipliers 1e-7, loss 1e-8 (1 + |f*|), violation 1e-8 (deterministic, as
// tests/problems/analytic_solver_tests.cpp), regression: x 1e-3 and lambda 1e-2 relative.

#include <gtest/gtest.h>

#include <adolc/adolc.h>

#include <cmath>
#include <string>
#include <thread>

#include "common/analytic_functors.hpp"
#include "problems/analytic_test_util.hpp"
#include "saddle/autodiff.hpp"
#define SADDLE_TEST_ALLOC_DEFINE  // this file interposes the allocator for saddle_autodiff_tests
#include "common/allocation_counter.hpp"

namespace saddle {
namespace {

using autodiff::AutoDiffProblem;
using problems::testing::builtin_registry;
using problems::testing::max_abs_diff;
namespace tf = testing_functors;

std::unique_ptr<Problem> ad_version(const std::string& name) {
  return tf::function_version(
      name, [](FunctionProblemSpec spec, auto functor) -> std::unique_ptr<Problem> {
        return std::make_unique<AutoDiffProblem<decltype(functor)>>(std::move(spec), functor);
      });
}

class AutoDiffAnalytic : public ::testing::TestWithParam<std::string> {};

TEST_P(AutoDiffAnalytic, ValuesAndGradientsMatchTheHandWrittenBackward) {
  const std::string name = GetParam();
  auto hand = builtin_registry().get(name).make();
  auto ad = ad_version(name);
  const std::size_t n = hand->num_parameters();
  const std::size_t m = hand->constraints().size();
  ASSERT_EQ(ad->num_parameters(), n);
  ASSERT_EQ(ad->num_samples(), hand->num_samples());
  Vector<double> x0 = Vector<double>::from_shape({n});
  hand->initial_point(x0, 0);
  hand->shuffle(11);
  ad->shuffle(11);
  // Stochastic: two batch sizes (two tapes) and the full data; deterministic: one batch.
  std::vector<Batch> batches = {Batch{}};
  if (hand->num_samples() > 0) batches = {Batch{128, 128, 0}, Batch{256, 64, 0}, Batch{}};
  Evaluation eh, ea;
  eh.resize(m);
  ea.resize(m);
  Vector<double> gh = Vector<double>::from_shape({n});
  Vector<double> ga = Vector<double>::from_shape({n});
  for (const Batch& batch : batches) {
    for (int k = 0; k < 3; ++k) {
      const Vector<double> x = tf::test_point(name, x0, k);
      hand->forward(x, batch, eh);
      ad->forward(x, batch, ea);
      EXPECT_NEAR(ea.loss, eh.loss, 1e-10 * (1.0 + std::abs(eh.loss))) << name << " point " << k;
      for (std::size_t i = 0; i < m; ++i)
        EXPECT_NEAR(ea.constraints(i), eh.constraints(i),
                    1e-10 * (1.0 + std::abs(eh.constraints(i))))
            << name << " constraint " << i;
      for (int l = 0; l < 3; ++l) {
        const Vector<double> w = tf::test_weights(m, l);
        hand->backward(w, gh);
        ad->backward(w, ga);
        for (std::size_t j = 0; j < n; ++j)
          EXPECT_NEAR(ga(j), gh(j), 1e-10 * (1.0 + std::abs(gh(j))))
              << name << " batch size " << batch.size << " point " << k << " weights " << l
              << " coordinate " << j;
      }
    }
  }
}

TEST_P(AutoDiffAnalytic, ReachesTheKnownAnswerWithTheRegistryDefaults) {
  const std::string name = GetParam();
  const problems::ProblemEntry& entry = builtin_registry().get(name);
  const problems::KnownAnswer a = entry.answer();
  const bool stochastic = name == "norm-constrained-regression";
  // Under AddressSanitizer every ADOL-C sweep maps and unmaps its buffers (minutes for all
  // the solves): there, only the first converging scheme under the Lagrangian is solved.
  std::vector<FormulationKind> formulations = {FormulationKind::lagrangian,
                                               FormulationKind::augmented_lagrangian};
  std::vector<std::string> schemes = entry.converging_schemes;
  if (!saddle_test_alloc::kCountAllocations) {
    formulations.resize(1);
    schemes.resize(1);
  }
  for (const FormulationKind formulation : formulations) {
    for (const std::string& scheme : schemes) {
      const std::string what = scheme + " / " + to_string(formulation);
      auto problem = ad_version(name);
      const SolverOptions options = entry.defaults(scheme, formulation);
      const Summary<double> s = problems::testing::solve(*problem, scheme, options);
      if (stochastic) {
        EXPECT_LE(problems::testing::dist2(s.x, a.x), 1e-3 * problems::testing::norm2(a.x)) << what;
        EXPECT_NEAR(s.multipliers(0), a.multipliers[0], 1e-2 * std::abs(a.multipliers[0])) << what;
      } else {
        EXPECT_EQ(s.termination, Termination::converged) << what << ": " << s.message;
        EXPECT_LE(max_abs_diff(s.x, a.x), 1e-8) << what;
        EXPECT_LE(max_abs_diff(s.multipliers, a.multipliers), 1e-7) << what;
        EXPECT_NEAR(s.loss, *a.loss, 1e-8 * (1.0 + std::abs(*a.loss))) << what;
        EXPECT_LE(s.max_violation, 1e-8) << what;
      }
    }
  }
}

TEST_P(AutoDiffAnalytic, AllocatesOnlyWhatAdolcDriversAllocate) {
  if (!saddle_test_alloc::kCountAllocations)
    GTEST_SKIP() << "allocation counting is off under sanitizers";
  const std::string name = GetParam();
  auto problem = ad_version(name);
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
  problem->forward(x, batch, eval);  // records the tape (allocates)
  problem->backward(w, grad);

  // ADOL-C's own cost: zos_forward + fos_reverse on a tape of the same kind, called directly.
  std::size_t adolc_only = 0;
  {
    const short tag = 1234;
    double xs = 0.5, y = 0.0, u = 1.0, z = 0.0;
    trace_on(tag);
    {
      adouble a;
      a <<= xs;
      adouble b = a * a;
      b >>= y;
    }
    trace_off();
    zos_forward(tag, 1, 1, 1, &xs, &y);
    fos_reverse(tag, 1, 1, &u, &z);
    saddle_test_alloc::AllocationCounter counter;
    zos_forward(tag, 1, 1, 1, &xs, &y);
    fos_reverse(tag, 1, 1, &u, &z);
    adolc_only = counter.count();
    removeTape(tag, ADOLC_REMOVE_COMPLETELY);
  }
  std::size_t ours = 0;
  {
    saddle_test_alloc::AllocationCounter counter;
    for (int rep = 0; rep < 5; ++rep) {
      problem->shuffle(static_cast<std::uint64_t>(rep));
      problem->forward(x, batch, eval);
      problem->backward(w, grad);
    }
    ours = counter.count();
  }
  RecordProperty("adolc_allocations_per_forward_backward", static_cast<int>(adolc_only));
  EXPECT_EQ(ours, 5 * adolc_only) << "ADOL-C allocates " << adolc_only
                                  << " times per zos_forward + fos_reverse";
  EXPECT_LE(adolc_only, 4u);
}

INSTANTIATE_TEST_SUITE_P(AllProblems, AutoDiffAnalytic, ::testing::ValuesIn(tf::analytic_names()),
                         [](const ::testing::TestParamInfo<std::string>& info) {
                           std::string s = info.param;
                           for (char& c : s)
                             if (c == '-') c = '_';
                           return s;
                         });

// ---- stochastic: the same trajectory as the hand-written regression ------------------------

TEST(AutoDiffRegression, FollowsTheHandWrittenTrajectoryAndKeepsOneTapePerBatchSize) {
  // Same data, same splitmix64 shuffles, same batches: the solves differ by rounding only.
  const problems::ProblemEntry& entry = builtin_registry().get("norm-constrained-regression");
  SolverOptions options = entry.defaults("gda", FormulationKind::lagrangian);
  options.max_epochs = 50;
  options.batch_size = 100;  // 512 = 5 * 100 + 12: batch sizes 100 and 12
  auto hand = entry.make();
  const Summary<double> sh = problems::testing::solve(*hand, "gda", options);
  problems::NormConstrainedRegression data;
  FunctionProblemSpec spec = tf::spec_of(data, "regression");
  spec.samples = tf::regression_samples(data);
  AutoDiffProblem<tf::Regression> ad(spec, tf::Regression{data.config().features, data.radius()});
  const Summary<double> sa = problems::testing::solve(ad, "gda", options);
  EXPECT_EQ(sa.iterations, sh.iterations);
  EXPECT_LE(max_abs_diff(sa.x, std::vector<double>(sh.x.begin(), sh.x.end())), 1e-10);
  EXPECT_NEAR(sa.multipliers(0), sh.multipliers(0), 1e-10);
  const autodiff::TapeStats st = ad.tape_stats();
  EXPECT_EQ(st.tapes, 2u);       // batch sizes 100 and 12
  EXPECT_EQ(st.recordings, 2u);  // recorded once each, then only the parameters change
  EXPECT_EQ(st.branch_retapes, 0u);
}

// ---- branch switches ----------------------------------------------------------------------

TEST(AutoDiffBranches, RetapesWhenAComparisonSwitchesAndStaysCorrect) {
  auto hand = builtin_registry().get("max-entropy").make();
  FunctionProblemSpec spec = tf::spec_of(*hand, "max-entropy");
  AutoDiffProblem<tf::MaxEntropy> ad(spec, tf::MaxEntropy{});
  Evaluation eh, ea;
  eh.resize(8);
  ea.resize(8);
  Vector<double> gh = Vector<double>::from_shape({6});
  Vector<double> ga = Vector<double>::from_shape({6});
  const Vector<double> w = tf::test_weights(8, 2);
  // Above delta everywhere (taped branch), then p1 below delta (the quadratic branch), back.
  const Vector<double> points[] = {{0.1, 0.1, 0.2, 0.2, 0.2, 0.2},
                                   {-0.01, 0.1, 0.2, 0.2, 0.2, 0.3},
                                   {-0.02, 0.11, 0.2, 0.2, 0.2, 0.3},
                                   {0.1, 0.1, 0.2, 0.2, 0.2, 0.2}};
  const std::size_t expected_retapes[] = {0, 1, 1, 2};
  for (int k = 0; k < 4; ++k) {
    hand->forward(points[k], Batch{}, eh);
    ad.forward(points[k], Batch{}, ea);
    EXPECT_NEAR(ea.loss, eh.loss, 1e-12 * (1 + std::abs(eh.loss))) << k;
    hand->backward(w, gh);
    ad.backward(w, ga);
    for (std::size_t j = 0; j < 6; ++j)
      EXPECT_NEAR(ga(j), gh(j), 1e-10 * (1 + std::abs(gh(j)))) << k << " " << j;
    EXPECT_EQ(ad.tape_stats().branch_retapes, expected_retapes[k]) << k;
  }
  EXPECT_EQ(ad.tape_stats().tapes, 1u);
}

// ---- threads ------------------------------------------------------------------------------

TEST(AutoDiffThreads, TwoProblemsSolvedConcurrentlyReachTheirAnswers) {
  // ADOL-C state is process-wide: saddle serialises its ADOL-C calls with one mutex.
  Summary<double> s1, s2;
  auto run = [](const std::string& name, Summary<double>& out) {
    const problems::ProblemEntry& e = builtin_registry().get(name);
    auto p = ad_version(name);
    out = problems::testing::solve(*p, "extragradient",
                                   e.defaults("extragradient", FormulationKind::lagrangian));
  };
  std::thread t1(run, "equality-qp", std::ref(s1));
  std::thread t2(run, "hs21", std::ref(s2));
  t1.join();
  t2.join();
  EXPECT_LE(max_abs_diff(s1.x, builtin_registry().get("equality-qp").answer().x), 1e-8);
  EXPECT_LE(max_abs_diff(s2.x, builtin_registry().get("hs21").answer().x), 1e-8);
}

// ---- a tape larger than ADOL-C's default buffers ------------------------------------------

struct LongChain {
  std::size_t terms = 0;
  template <class S>
  void operator()(const S* x, S& loss, S* c) const {
    loss = 0.0;
    for (std::size_t k = 0; k < terms; ++k)
      loss += x[k % 2] * x[(k + 1) % 2] * (1.0 + 1e-6 * static_cast<double>(k));
    c[0] = x[0] - 1.0;
  }
};

TEST(AutoDiffLargeTape, TapesBeyondTheDefaultBuffersStayCorrect) {
  FunctionProblemSpec spec;
  spec.name = "chain";
  spec.num_parameters = 2;
  spec.constraints = {{"x0<=1", ConstraintKind::inequality}};
  const std::size_t terms = 200000;  // ~4 operations each: above ADOL-C's 524288-entry buffers
  AutoDiffProblem<LongChain> ad(spec, LongChain{terms});
  Evaluation e;
  e.resize(1);
  const Vector<double> x = {0.5, -1.5};
  ad.forward(x, Batch{}, e);
  ad.forward(x, Batch{}, e);  // evaluated from the tape
  double sum = 0.0;
  for (std::size_t k = 0; k < terms; ++k) sum += 1.0 + 1e-6 * static_cast<double>(k);
  EXPECT_NEAR(e.loss, 0.5 * -1.5 * sum, 1e-9 * std::abs(0.5 * 1.5 * sum));
  Vector<double> g = Vector<double>::from_shape({2});
  ad.backward(Vector<double>{2.0}, g);
  EXPECT_NEAR(g(0), -1.5 * sum + 2.0, 1e-9 * 1.5 * sum);
  EXPECT_NEAR(g(1), 0.5 * sum, 1e-9 * sum);
  EXPECT_GT(ad.tape_stats().operations, 524288u);
  EXPECT_EQ(ad.tape_stats().recordings, 2u);  // spilled to files once, recorded again in memory
}

// ---- bad input ----------------------------------------------------------------------------

TEST(AutoDiffBadInput, SpecAndCallErrorsAreOneLine) {
  FunctionProblemSpec spec;
  spec.name = "qp";
  spec.num_parameters = 0;
  try {
    AutoDiffProblem<tf::EqualityQp> p(spec, tf::EqualityQp{});
    ADD_FAILURE() << "no InvalidOption";
  } catch (const InvalidOption& e) {
    EXPECT_STREQ(e.what(), "qp: num_parameters = 0: must be > 0");
  }
  spec.num_parameters = 2;
  spec.constraints = {{"h", ConstraintKind::equality}, {"h", ConstraintKind::inequality}};
  EXPECT_THROW((AutoDiffProblem<tf::EqualityQp>(spec, tf::EqualityQp{})), InvalidOption);
  spec.constraints = {{"norm", ConstraintKind::inequality}};
  EXPECT_THROW((AutoDiffProblem<tf::Regression>(spec, tf::Regression{2, 1.0})),
               InvalidOption);  // no samples

  spec.constraints = {{"h", ConstraintKind::equality}};
  AutoDiffProblem<tf::EqualityQp> p(spec, tf::EqualityQp{});
  Vector<double> g = Vector<double>::from_shape({2});
  try {
    p.backward(Vector<double>{1.0}, g);
    ADD_FAILURE() << "no InputError";
  } catch (const InputError& e) {
    EXPECT_STREQ(e.what(), "qp: backward called before forward");
  }
  Evaluation e;
  e.resize(1);
  try {
    p.forward(Vector<double>{1.0}, Batch{}, e);
    ADD_FAILURE() << "no InputError";
  } catch (const InputError& err) {
    EXPECT_STREQ(err.what(), "qp: x has 1 values, expected 2");
  }
}

struct Throwing {
  template <class S>
  void operator()(const S* x, S& loss, S* c) const {
    if (x[0] > 1.0) throw InputError("throwing: x0 > 1 is outside the domain");
    loss = x[0] * x[0];
    c[0] = x[0];
  }
};

TEST(AutoDiffBadInput, AFunctorThatThrowsWhileRecordingLeavesAdolcUsable) {
  FunctionProblemSpec spec;
  spec.name = "throwing";
  spec.num_parameters = 1;
  spec.constraints = {{"x<=0", ConstraintKind::inequality}};
  AutoDiffProblem<Throwing> p(spec, Throwing{});
  Evaluation e;
  e.resize(1);
  EXPECT_THROW(p.forward(Vector<double>{2.0}, Batch{}, e), InputError);
  // Taping was switched off: a new recording (another problem) still works.
  AutoDiffProblem<tf::EqualityQp> qp(
      tf::spec_of(*builtin_registry().get("equality-qp").make(), "qp"), tf::EqualityQp{});
  qp.forward(Vector<double>{1.0, 4.0}, Batch{}, e);
  EXPECT_DOUBLE_EQ(e.loss, 70.0);
  p.forward(Vector<double>{0.5}, Batch{}, e);
  EXPECT_DOUBLE_EQ(e.loss, 0.25);
}

}  // namespace
}  // namespace saddle
