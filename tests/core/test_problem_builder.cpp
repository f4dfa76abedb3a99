// ProblemBuilder: equality-qp, hs21 and max-entropy written as lambdas give the hand-written
// values and gradients (same formulas: 1e-12) and reach the registry's known answers under
// the registry's defaults with the tolerances of the hand-written problems (x 1e-8,
// multipliers 1e-7, loss 1e-8 (1 + |f*|)); a float build; bad input; no allocation.

#include <gtest/gtest.h>

#include <cmath>
#include <string>

#include "common/allocation_counter.hpp"
#include "common/analytic_functors.hpp"
#include "problems/analytic_test_util.hpp"
#include "saddle/problem_builder.hpp"
#include "saddle/solvers.hpp"

namespace saddle {
namespace {

using problems::testing::builtin_registry;
using problems::testing::max_abs_diff;
namespace tf = testing_functors;
using V = Vector<double>;

std::unique_ptr<Problem> lambda_version(const std::string& name) {
  if (name == "equality-qp") {
    return ProblemBuilder<double>(2)
        .name(name)
        .objective([](const V& x) { return 6 * x(0) * x(0) + 4 * x(0) * x(1) + 3 * x(1) * x(1); },
                   [](const V& x, V& g) {
                     g(0) = 12 * x(0) + 4 * x(1);
                     g(1) = 4 * x(0) + 6 * x(1);
                   })
        .equality(
            "x0+x1=5", [](const V& x) { return x(0) + x(1) - 5; },
            [](const V&, V& g) { g(0) = g(1) = 1; })
        .initial_point({0.0, 0.0})
        .build();
  }
  if (name == "hs21") {
    auto affine = [](double c0, double a0, double a1) {
      return std::make_pair([=](const V& x) { return c0 + a0 * x(0) + a1 * x(1); },
                            [=](const V&, V& g) {
                              g(0) = a0;
                              g(1) = a1;
                            });
    };
    ProblemBuilder<double> b(2);
    b.name(name)
        .objective([](const V& x) { return 0.01 * x(0) * x(0) + x(1) * x(1) - 100; },
                   [](const V& x, V& g) {
                     g(0) = 0.02 * x(0);
                     g(1) = 2 * x(1);
                   })
        .initial_point({-1.0, -1.0});
    const char* names[] = {"linear", "x1_lower", "x1_upper", "x2_lower", "x2_upper"};
    const double coef[5][3] = {{10, -10, 1}, {2, -1, 0}, {-50, 1, 0}, {-50, 0, -1}, {-50, 0, 1}};
    for (int i = 0; i < 5; ++i) {
      auto [value, gradient] = affine(coef[i][0], coef[i][1], coef[i][2]);
      b.inequality(names[i], value, gradient);
    }
    return b.build();
  }
  if (name == "max-entropy") {
    using problems::MaxEntropy;
    ProblemBuilder<double> b(MaxEntropy::kFaces);
    b.name(name)
        .objective(
            [](const V& p) {
              double s = 0;
              for (double e : p) s += MaxEntropy::phi(e);
              return s;
            },
            [](const V& p, V& g) {
              for (std::size_t k = 0; k < p.size(); ++k) g(k) = MaxEntropy::phi_prime(p(k));
            })
        .equality(
            "sum=1", [](const V& p) { return p(0) + p(1) + p(2) + p(3) + p(4) + p(5) - 1; },
            [](const V&, V& g) { g.fill(1.0); })
        .equality(
            "mean",
            [](const V& p) {
              double s = 0;
              for (std::size_t k = 0; k < p.size(); ++k) s += static_cast<double>(k + 1) * p(k);
              return s - MaxEntropy::kMean;
            },
            [](const V&, V& g) {
              for (std::size_t k = 0; k < g.size(); ++k) g(k) = static_cast<double>(k + 1);
            })
        .initial_point(std::vector<double>(MaxEntropy::kFaces, 1.0 / 6.0));
    for (std::size_t k = 0; k < MaxEntropy::kFaces; ++k)
      b.inequality(
          "p" + std::to_string(k + 1) + ">=0", [k](const V& p) { return -p(k); },
          [k](const V&, V& g) {
            g.fill(0.0);
            g(k) = -1.0;
          });
    return b.build();
  }
  throw InvalidOption("no lambda version of " + name);
}

class LambdaAnalytic : public ::testing::TestWithParam<std::string> {};

TEST_P(LambdaAnalytic, ValuesAndGradientsMatchTheHandWrittenProblem) {
  const std::string name = GetParam();
  auto hand = builtin_registry().get(name).make();
  auto built = lambda_version(name);
  const std::size_t n = hand->num_parameters();
  const std::size_t m = hand->constraints().size();
  ASSERT_EQ(built->num_parameters(), n);
  const auto hs = hand->constraints();
  const auto bs = built->constraints();
  ASSERT_EQ(bs.size(), m);
  for (std::size_t i = 0; i < m; ++i) {
    EXPECT_EQ(bs[i].name, hs[i].name);
    EXPECT_EQ(bs[i].kind, hs[i].kind);
  }
  V x0 = V::from_shape({n});
  hand->initial_point(x0, 0);
  V x0b = V::from_shape({n});
  built->initial_point(x0b, 0);
  EXPECT_EQ(max_abs_diff(x0b, std::vector<double>(x0.begin(), x0.end())), 0.0);
  Evaluation eh, eb;
  eh.resize(m);
  eb.resize(m);
  V gh = V::from_shape({n});
  V gb = V::from_shape({n});
  for (int k = 0; k < 3; ++k) {
    const V x = tf::test_point(name, x0, k);
    hand->forward(x, Batch{}, eh);
    built->forward(x, Batch{}, eb);
    EXPECT_NEAR(eb.loss, eh.loss, 1e-12 * (1 + std::abs(eh.loss)));
    for (std::size_t i = 0; i < m; ++i)
      EXPECT_NEAR(eb.constraints(i), eh.constraints(i), 1e-12 * (1 + std::abs(eh.constraints(i))));
    for (int l = 0; l < 3; ++l) {
      const V w = tf::test_weights(m, l);
      hand->backward(w, gh);
      built->backward(w, gb);
      for (std::size_t j = 0; j < n; ++j)
        EXPECT_NEAR(gb(j), gh(j), 1e-12 * (1 + std::abs(gh(j)))) << name << " " << k << " " << l;
    }
  }
}

TEST_P(LambdaAnalytic, ReachesTheKnownAnswerWithTheRegistryDefaults) {
  const std::string name = GetParam();
  const problems::ProblemEntry& entry = builtin_registry().get(name);
  const problems::KnownAnswer a = entry.answer();
  for (const std::string& scheme : entry.converging_schemes) {
    auto problem = lambda_version(name);
    const Summary<double> s = problems::testing::solve(
        *problem, scheme, entry.defaults(scheme, FormulationKind::lagrangian));
    EXPECT_EQ(s.termination, Termination::converged) << scheme << ": " << s.message;
    EXPECT_LE(max_abs_diff(s.x, a.x), 1e-8) << scheme;
    EXPECT_LE(max_abs_diff(s.multipliers, a.multipliers), 1e-7) << scheme;
    EXPECT_NEAR(s.loss, *a.loss, 1e-8 * (1.0 + std::abs(*a.loss))) << scheme;
  }
}

TEST_P(LambdaAnalytic, ForwardAndBackwardDoNotAllocate) {
  if (!saddle_test_alloc::kCountAllocations)
    GTEST_SKIP() << "allocation counting is off under sanitizers";
  auto problem = lambda_version(GetParam());
  const std::size_t n = problem->num_parameters();
  const std::size_t m = problem->constraints().size();
  V x = V::from_shape({n});
  problem->initial_point(x, 0);
  x += 0.01;
  const V w = tf::test_weights(m, 1);
  V grad = V::from_shape({n});
  Evaluation eval;
  eval.resize(m);
  saddle_test_alloc::AllocationCounter counter;
  for (int rep = 0; rep < 3; ++rep) {
    problem->forward(x, Batch{}, eval);
    problem->backward(w, grad);
  }
  EXPECT_EQ(counter.count(), 0u);
}

INSTANTIATE_TEST_SUITE_P(ThreeProblems, LambdaAnalytic,
                         ::testing::Values("equality-qp", "hs21", "max-entropy"),
                         [](const ::testing::TestParamInfo<std::string>& info) {
                           std::string s = info.param;
                           for (char& c : s)
                             if (c == '-') c = '_';
                           return s;
                         });

TEST(ProblemBuilder, FloatProblemSolvesTheGettingStartedQp) {
  using VF = Vector<float>;
  auto problem =
      ProblemBuilder<float>(2)
          .objective(
              [](const VF& x) { return 6.0 * x(0) * x(0) + 4.0 * x(0) * x(1) + 3.0 * x(1) * x(1); },
              [](const VF& x, VF& g) {
                g(0) = 12 * x(0) + 4 * x(1);
                g(1) = 4 * x(0) + 6 * x(1);
              })
          .equality(
              "x0+x1=5", [](const VF& x) { return x(0) + x(1) - 5.0; },
              [](const VF&, VF& g) { g(0) = g(1) = 1; })
          .build();
  SolverOptions o;
  o.primal.lr = 0.05;
  o.dual.lr = 0.5;
  o.max_iterations = 3000;
  Solver<float> solver(make_scheme<float>("extragradient"), o);
  const Summary<float> s = solver.solve(*problem);
  EXPECT_NEAR(s.x(0), 1.0f, 1e-4f);
  EXPECT_NEAR(s.x(1), 4.0f, 1e-4f);
  EXPECT_NEAR(s.multipliers(0), -28.0, 1e-3);
}

TEST(ProblemBuilder, ZeroWeightsSkipTheConstraintGradient) {
  int calls = 0;
  auto p = ProblemBuilder<double>(1)
               .objective([](const V& x) { return x(0) * x(0); },
                          [](const V& x, V& g) { g(0) = 2 * x(0); })
               .inequality(
                   "x<=1", [](const V& x) { return x(0) - 1; },
                   [&calls](const V&, V& g) {
                     ++calls;
                     g(0) = 1;
                   })
               .build();
  Evaluation e;
  e.resize(1);
  V x = {3.0};
  V g = V::from_shape({1});
  p->forward(x, Batch{}, e);
  p->backward(V{0.0}, g);
  EXPECT_EQ(g(0), 6.0);
  EXPECT_EQ(calls, 0);
  p->backward(V{2.5}, g);
  EXPECT_EQ(g(0), 8.5);
  EXPECT_EQ(calls, 1);
}

// ---- bad input ---------------------------------------------------------------------------

template <class F>
std::string invalid_option_message(F&& f) {
  try {
    f();
  } catch (const InvalidOption& e) {
    return e.what();
  }
  return "(no InvalidOption)";
}

ProblemBuilder<double> valid_builder() {
  ProblemBuilder<double> b(2);
  b.name("toy")
      .objective([](const V& x) { return x(0) * x(0) + x(1) * x(1); },
                 [](const V& x, V& g) {
                   g(0) = 2 * x(0);
                   g(1) = 2 * x(1);
                 })
      .inequality(
          "a", [](const V& x) { return x(0); }, [](const V&, V& g) { g(0) = 1, g(1) = 0; });
  return b;
}

TEST(ProblemBuilderBadInput, EachErrorIsAOneLineInvalidOption) {
  EXPECT_NO_THROW(valid_builder().build());
  EXPECT_EQ(invalid_option_message([] { ProblemBuilder<double>(0).build(); }),
            "lambda problem: num_parameters = 0: must be > 0");
  EXPECT_EQ(invalid_option_message([] {
              ProblemBuilder<double>(2)
                  .equality(
                      "h", [](const V&) { return 0.0; }, [](const V&, V&) {})
                  .build();
            }),
            "lambda problem: no objective: call objective(f, gradient)");
  EXPECT_EQ(invalid_option_message([] {
              auto b = valid_builder();
              b.objective([](const V&) { return 0.0; }, [](const V&, V&) {}).build();
            }),
            "toy: objective given 2 times: give it once");
  EXPECT_EQ(invalid_option_message([] {
              valid_builder()
                  .inequality(
                      "a", [](const V&) { return 0.0; }, [](const V&, V&) {})
                  .build();
            }),
            "toy: duplicate constraint name 'a'");
  EXPECT_EQ(invalid_option_message([] {
              valid_builder()
                  .equality(
                      "", [](const V&) { return 0.0; }, [](const V&, V&) {})
                  .build();
            }),
            "toy: constraint 1 has an empty name");
  EXPECT_EQ(invalid_option_message(
                [] { valid_builder().equality("h", nullptr, [](const V&, V&) {}).build(); }),
            "toy: constraint 'h' has no value function");
  EXPECT_EQ(invalid_option_message([] {
              valid_builder()
                  .equality(
                      "h", [](const V&) { return 0.0; }, nullptr)
                  .build();
            }),
            "toy: constraint 'h' has no gradient function");
  EXPECT_EQ(invalid_option_message([] {
              ProblemBuilder<double>(1).objective([](const V&) { return 0.0; }, nullptr).build();
            }),
            "lambda problem: the objective has no gradient function");
  EXPECT_EQ(invalid_option_message([] { valid_builder().initial_point({1.0}).build(); }),
            "toy: initial_point has 1 values, expected num_parameters = 2");
  EXPECT_EQ(invalid_option_message([] {
              valid_builder().initial_point({1.0, INFINITY}).build();
            }),
            "toy: initial_point[1] is not finite");
}

TEST(ProblemBuilderBadInput, RuntimeSizeErrorsAreInputErrors) {
  auto p = valid_builder().build();
  Evaluation e;
  e.resize(1);
  V g = V::from_shape({2});
  EXPECT_THROW(p->backward(V{1.0}, g), InputError);  // before any forward
  try {
    p->forward(V{1.0, 2.0, 3.0}, Batch{}, e);
    ADD_FAILURE() << "no InputError";
  } catch (const InputError& err) {
    EXPECT_STREQ(err.what(), "toy: x has 3 values, expected 2");
  }
  auto resizing = valid_builder()
                      .equality(
                          "h", [](const V&) { return 0.0; }, [](const V&, V& g2) { g2 = V{1.0}; })
                      .build();
  resizing->forward(V{1.0, 2.0}, Batch{}, e);
  try {
    resizing->backward(V{0.0, 1.0}, g);
    ADD_FAILURE() << "no InputError";
  } catch (const InputError& err) {
    EXPECT_STREQ(
        err.what(),
        "toy: the gradient lambda of constraint 'h' resized its output to 1 values, expected 2");
  }
}

}  // namespace
}  // namespace saddle
