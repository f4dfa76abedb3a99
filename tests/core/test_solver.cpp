#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <limits>
#include <sstream>

#include "saddle/saddle.hpp"
#include "saddle/solvers.hpp"
#include "saddle/thread_parallel.hpp"
#include "toy_problems.hpp"

using namespace saddle;
using saddle::test::NoisyMean;
using saddle::test::Parabola;
using saddle::test::Tripwire;

namespace {
SolverOptions deterministic_options() {
  SolverOptions o;
  o.primal.lr = 0.1;
  o.dual.lr = 0.1;
  o.max_iterations = 20000;
  o.tolerance = 1e-13;
  return o;
}
}  // namespace

class EveryScheme : public ::testing::TestWithParam<std::string> {};

TEST_P(EveryScheme, ActiveInequalityKktPointAndMultiplier) {
  Parabola p(1.0);
  Solver<double> solver(make_scheme<double>(GetParam()), deterministic_options());
  const auto s = solver.solve(p);
  EXPECT_EQ(s.termination, Termination::converged) << s.report();
  EXPECT_NEAR(s.x(0), 1.0, 1e-8);
  EXPECT_NEAR(s.multipliers(0), 2.0, 1e-8);
  EXPECT_NEAR(s.loss, 1.0, 1e-8);
  EXPECT_LE(s.max_violation, 1e-8);
}

TEST_P(EveryScheme, InactiveInequalityWithRestartsHasZeroMultiplier) {
  Parabola p(3.0);
  auto o = deterministic_options();
  o.dual_restarts = true;
  o.initial_multipliers = {5.0};
  Solver<double> solver(make_scheme<double>(GetParam()), o);
  const auto s = solver.solve(p);
  EXPECT_EQ(s.termination, Termination::converged) << s.report();
  EXPECT_NEAR(s.x(0), 2.0, 1e-8);
  EXPECT_EQ(s.multipliers(0), 0.0);
}

TEST_P(EveryScheme, FloatProblemsRunToo) {
  // A float problem through the same driver (the flagship's precision).
  class ParabolaF : public ProblemF {
   public:
    std::size_t num_parameters() const override { return 1; }
    std::vector<ConstraintSpec> constraints() const override { return {{"c", ConstraintKind::inequality}}; }
    void initial_point(Vector<float>& x, std::uint64_t) const override { x(0) = 0.0f; }
    void forward(const Vector<float>& x, const Batch&, Evaluation& e) override {
      x_ = x(0);
      e.loss = (x_ - 2.0) * (x_ - 2.0);
      e.constraints(0) = x_ - 1.0;
    }
    void backward(const Vector<double>& w, Vector<float>& g) override {
      g(0) = static_cast<float>(2.0 * (x_ - 2.0) + w(0));
    }
    double x_ = 0;
  } p;
  auto o = deterministic_options();
  o.max_iterations = 3000;
  o.tolerance = 0.0;
  Solver<float> solver(make_scheme<float>(GetParam()), o);
  const auto s = solver.solve(p);
  EXPECT_NEAR(s.x(0), 1.0, 1e-5);
  EXPECT_NEAR(s.multipliers(0), 2.0, 1e-4);
}

INSTANTIATE_TEST_SUITE_P(Core, EveryScheme,
                         ::testing::ValuesIn(scheme_names()),
                         [](const auto& info) {
                           std::string n = info.param;
                           for (auto& ch : n)
                             if (ch == '-') ch = '_';
                           return n;
                         });

TEST_P(EveryScheme, ProxyConstraintStrictValueDrivesTheDualStep) {
  // min (x-2)^2 with surrogate c = x - 1 (primal weights) and strict value v = x - 0.5
  // (dual step). Fixed point: v = 0 -> x = 0.5; 2(x - 2) + lambda = 0 -> lambda = 3.
  // Without the proxy split the answer would be x = 1, lambda = 2.
  class Proxy : public Problem {
   public:
    std::size_t num_parameters() const override { return 1; }
    std::vector<ConstraintSpec> constraints() const override { return {{"proxy", ConstraintKind::inequality}}; }
    void initial_point(Vector<double>& x, std::uint64_t) const override { x(0) = 0.0; }
    void forward(const Vector<double>& x, const Batch&, Evaluation& e) override {
      x_ = x(0);
      e.loss = (x_ - 2.0) * (x_ - 2.0);
      e.constraints(0) = x_ - 1.0;
      e.strict(0) = x_ - 0.5;
      e.has_strict = true;
    }
    void backward(const Vector<double>& w, Vector<double>& g) override { g(0) = 2.0 * (x_ - 2.0) + w(0); }
    double x_ = 0.0;
  } p;
  Solver<double> solver(make_scheme<double>(GetParam()), deterministic_options());
  const auto s = solver.solve(p);
  EXPECT_EQ(s.termination, Termination::converged) << s.report();
  EXPECT_NEAR(s.x(0), 0.5, 1e-8);
  EXPECT_NEAR(s.multipliers(0), 3.0, 1e-8);
  EXPECT_NEAR(s.constraint_values(0), 0.0, 1e-8);  // the summary reports the strict value
}

TEST(Solver, CostPerStepIsCounted) {
  struct Case {
    const char* name;
    std::size_t forwards, backwards;
  };
  // 10 steps each; extrapolation from the past pays one extra pair on its first step.
  for (const Case c : {Case{"gda", 10, 10}, Case{"alternating-primal-dual", 20, 10},
                       Case{"alternating-dual-primal", 10, 10}, Case{"extragradient", 20, 20},
                       Case{"extrapolation-from-the-past", 11, 11}}) {
    Parabola p;
    auto o = deterministic_options();
    o.max_iterations = 10;
    o.tolerance = 0;
    Solver<double> solver(make_scheme<double>(c.name), o);
    const auto s = solver.solve(p);
    EXPECT_EQ(s.iterations, 10u) << c.name;
    EXPECT_EQ(s.forwards, c.forwards) << c.name;
    EXPECT_EQ(s.backwards, c.backwards) << c.name;
    EXPECT_EQ(s.termination, Termination::iteration_limit);
  }
}

TEST(Solver, GdaStepMatchesHandComputation) {
  // One simultaneous step from x=0, lambda=0.5: grad = 2(0-2) + 0.5 = -3.5 -> x = 0.35;
  // dual: lambda = 0.5 + 0.1 * (0 - 1) = 0.4.
  Parabola p;
  auto o = deterministic_options();
  o.max_iterations = 1;
  o.initial_multipliers = {0.5};
  Solver<double> gda(make_scheme<double>("gda"), o);
  auto s = gda.solve(p);
  EXPECT_DOUBLE_EQ(s.x(0), 0.35);
  EXPECT_DOUBLE_EQ(s.multipliers(0), 0.4);
  // dual->primal: lambda first (0.4), then grad = -4 + 0.4 -> x = 0.36.
  Solver<double> dp(make_scheme<double>("alternating-dual-primal"), o);
  s = dp.solve(p);
  EXPECT_DOUBLE_EQ(s.x(0), 0.36);
  EXPECT_DOUBLE_EQ(s.multipliers(0), 0.4);
  // primal->dual: x = 0.35 first, then lambda = 0.5 + 0.1 * (0.35 - 1) = 0.435.
  Solver<double> pd(make_scheme<double>("alternating-primal-dual"), o);
  s = pd.solve(p);
  EXPECT_DOUBLE_EQ(s.x(0), 0.35);
  EXPECT_DOUBLE_EQ(s.multipliers(0), 0.435);
  // extragradient: half step x' = 0.35, lambda' = 0.4; gradient there 2(0.35-2)+0.4 = -2.9
  // -> x = 0.29; lambda = 0.5 + 0.1 (0.35 - 1) = 0.435.
  Solver<double> eg(make_scheme<double>("extragradient"), o);
  s = eg.solve(p);
  EXPECT_DOUBLE_EQ(s.x(0), 0.29);
  EXPECT_DOUBLE_EQ(s.multipliers(0), 0.435);
}

// ConstraintSpec::scale: the dual rule sees c / scale. One hand-computed step, the same
// KKT point and multiplier (the scale changes the path, not the answer), and bad scales refused.
namespace {
class ScaledParabola : public Parabola {
 public:
  explicit ScaledParabola(double scale) : Parabola(1.0), scale_(scale) {}
  std::vector<ConstraintSpec> constraints() const override {
    return {{"x_le_bound", ConstraintKind::inequality, scale_}};
  }

 private:
  double scale_;
};
}  // namespace

TEST(Solver, ConstraintScaleDividesTheDualSignal) {
  // From x = 0, lambda = 0.5: c = -1, seen as -1/4: lambda = 0.5 + 0.1 * (-0.25) = 0.475
  // (gradient ascent); the primal step is the unscaled one, x = 0.35.
  auto o = deterministic_options();
  o.max_iterations = 1;
  o.initial_multipliers = {0.5};
  ScaledParabola quarter(4.0);
  auto s = Solver<double>(make_scheme<double>("gda"), o).solve(quarter);
  EXPECT_DOUBLE_EQ(s.x(0), 0.35);
  EXPECT_DOUBLE_EQ(s.multipliers(0), 0.475);
  // nuPI: lambda += lr v + kp (xi_new - xi_old) with v = -0.25: 0.5 - 0.025 + 0.2 * (-0.25).
  o.dual.kind = DualRuleKind::nupi;
  o.dual.kp = 0.2;
  s = Solver<double>(make_scheme<double>("gda"), o).solve(quarter);
  EXPECT_DOUBLE_EQ(s.multipliers(0), 0.425);

  // Every scheme still converges to x* = 1, lambda* = 2.
  for (const auto& scheme : scheme_names()) {
    ScaledParabola p(0.5);
    const auto r = Solver<double>(make_scheme<double>(scheme), deterministic_options()).solve(p);
    EXPECT_EQ(r.termination, Termination::converged) << scheme << ": " << r.report();
    EXPECT_NEAR(r.x(0), 1.0, 1e-8) << scheme;
    EXPECT_NEAR(r.multipliers(0), 2.0, 1e-8) << scheme;
  }

  for (const double bad : {0.0, -1.0, std::nan(""), std::numeric_limits<double>::infinity()}) {
    ScaledParabola p(bad);
    try {
      Solver<double>(make_scheme<double>("gda"), deterministic_options()).solve(p);
      ADD_FAILURE() << "scale " << bad << " accepted";
    } catch (const InvalidOption& e) {
      EXPECT_NE(std::string(e.what()).find("constraint 'x_le_bound': scale = "), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find("must be > 0 and finite"), std::string::npos) << e.what();
    }
  }
}

TEST(Solver, NanStopsWithNumericalFailureAndLastFinitePoint) {
  Tripwire p;
  SolverOptions o;
  o.primal.lr = 0.2;
  o.max_iterations = 100;
  Solver<double> solver(make_scheme<double>("gda"), o);
  const auto s = solver.solve(p);
  EXPECT_EQ(s.termination, Termination::numerical_failure);
  EXPECT_NE(s.message.find("NaN"), std::string::npos) << s.message;
  EXPECT_TRUE(std::isfinite(s.x(0)));
  // x = 0.2, 0.4, 0.6 after three steps; the 4th forward (at 0.6) sees NaN, so the
  // returned point is 0.4, the start of the last step that completed.
  EXPECT_NEAR(s.x(0), 0.4, 1e-12);
  EXPECT_EQ(s.iterations, 3u);
}

namespace {
// n parameters, one inequality constraint; from the second backward on, the gradient has
// `bad` at index `at` (every other entry a finite value, among them the extremes of T) and
// the constraint value is `bad` when `in_constraint` is set.
template <class T>
class PoisonedGradient : public saddle::BasicProblem<T> {
 public:
  PoisonedGradient(std::size_t n, std::size_t at, T bad, bool in_constraint)
      : n_(n), at_(at), bad_(bad), in_constraint_(in_constraint) {}
  std::size_t num_parameters() const override { return n_; }
  std::vector<ConstraintSpec> constraints() const override { return {{"c", ConstraintKind::inequality}}; }
  void initial_point(Vector<T>& x, std::uint64_t) const override { x.fill(T(0)); }
  void forward(const Vector<T>&, const Batch&, Evaluation& e) override {
    ++forwards_;
    e.loss = 1.0;
    e.constraints(0) = in_constraint_ && forwards_ >= 2 ? static_cast<double>(bad_) : -1.0;
  }
  void backward(const Vector<double>&, Vector<T>& g) override {
    ++backwards_;
    const T finite[] = {std::numeric_limits<T>::max(), -std::numeric_limits<T>::max(), std::numeric_limits<T>::denorm_min(),
                        T(-0.0), T(1)};
    for (std::size_t i = 0; i < n_; ++i) g(i) = finite[i % 5];
    if (!in_constraint_ && backwards_ >= 2) g(at_) = bad_;
  }

 private:
  std::size_t n_, at_;
  T bad_;
  bool in_constraint_;
  int forwards_ = 0, backwards_ = 0;
};

template <class T>
void expect_every_non_finite_value_is_caught() {
  const T values[] = {std::numeric_limits<T>::quiet_NaN(), -std::numeric_limits<T>::quiet_NaN(),
                      std::numeric_limits<T>::infinity(), -std::numeric_limits<T>::infinity()};
  SolverOptions o;
  o.primal.kind = saddle::PrimalRuleKind::sgd;
  o.primal.lr = 1e-30;  // keep x finite whatever the gradient's extremes
  o.max_iterations = 5;
  // 67 entries: a vectorised loop's full blocks (16, 32 and 64 bytes) and its scalar tail.
  for (std::size_t at : {0u, 7u, 15u, 16u, 31u, 63u, 64u, 66u})
    for (const T bad : values) {
      PoisonedGradient<T> p(67, at, bad, false);
      Solver<T> solver(make_scheme<T>("gda"), o);
      const auto s = solver.solve(p);
      EXPECT_EQ(s.termination, Termination::numerical_failure) << "index " << at << " value " << bad;
      EXPECT_NE(s.message.find("backward"), std::string::npos) << s.message;
      EXPECT_EQ(s.iterations, 1u);
    }
  for (const T bad : values) {
    PoisonedGradient<T> p(67, 0, bad, true);
    Solver<T> solver(make_scheme<T>("gda"), o);
    const auto s = solver.solve(p);
    EXPECT_EQ(s.termination, Termination::numerical_failure) << bad;
    EXPECT_NE(s.message.find("constraint"), std::string::npos) << s.message;
  }
  // Only finite values (the extremes, denormals, -0): no failure.
  PoisonedGradient<T> fine(67, 0, T(0), false);
  Solver<T> solver(make_scheme<T>("gda"), o);
  EXPECT_EQ(solver.solve(fine).termination, Termination::iteration_limit);
}
}  // namespace

namespace {
// n parameters, gradient -(i + 1) for x_i, loss NaN at the 4th forward: SGD makes three steps
// and the solver must return the start of the third, x_i = 2 lr (i + 1), entry for entry.
template <class T>
class NanAtFourthForward : public saddle::BasicProblem<T> {
 public:
  explicit NanAtFourthForward(std::size_t n) : n_(n) {}
  std::size_t num_parameters() const override { return n_; }
  std::vector<ConstraintSpec> constraints() const override { return {}; }
  void initial_point(Vector<T>& x, std::uint64_t) const override { x.fill(T(0)); }
  void forward(const Vector<T>&, const Batch&, Evaluation& e) override {
    e.loss = ++forwards_ == 4 ? std::numeric_limits<double>::quiet_NaN() : 0.0;
  }
  void backward(const Vector<double>&, Vector<T>& g) override {
    for (std::size_t i = 0; i < n_; ++i) g(i) = -static_cast<T>(i + 1);
  }

 private:
  std::size_t n_;
  int forwards_ = 0;
};

template <class T>
void expect_last_completed_step_start_returned() {
  // Up to 70,001 entries: past the solver's threshold for streaming stores (256 KB), with a tail.
  for (std::size_t n : {1u, 3u, 4u, 5u, 67u, 1001u, 70001u}) {
    NanAtFourthForward<T> p(n);
    SolverOptions o;
    o.primal.kind = saddle::PrimalRuleKind::sgd;
    o.primal.lr = 0.1;
    o.max_iterations = 10;
    Solver<T> solver(make_scheme<T>("gda"), o);
    const auto s = solver.solve(p);
    ASSERT_EQ(s.termination, Termination::numerical_failure);
    EXPECT_EQ(s.iterations, 3u);
    for (std::size_t i = 0; i < n; ++i) {
      const T lr = static_cast<T>(0.1), g = -static_cast<T>(i + 1);
      T expected = T(0);
      expected = expected - lr * g;
      expected = expected - lr * g;
      EXPECT_EQ(s.x(i), expected) << "n " << n << " entry " << i;
    }
  }
}
}  // namespace

TEST(Solver, NumericalFailureReturnsEveryEntryOfTheLastCompletedStepStart) {
  expect_last_completed_step_start_returned<float>();
  expect_last_completed_step_start_returned<double>();
}

TEST(Solver, EveryNanOrInfInGradientOrConstraintIsCaughtFloatAndDouble) {
  expect_every_non_finite_value_is_caught<float>();
  expect_every_non_finite_value_is_caught<double>();
}

TEST(Solver, CallbackStopsTheSolve) {
  struct StopAt : Callback<double> {
    bool on_step(const StepInfo<double>& info) override { return info.iteration < 7; }
  } stop;
  Parabola p;
  Solver<double> solver(make_scheme<double>("gda"), deterministic_options());
  solver.add_callback(&stop);
  const auto s = solver.solve(p);
  EXPECT_EQ(s.termination, Termination::user_stop);
  EXPECT_EQ(s.iterations, 7u);
}

TEST(Solver, FixedPenaltyKeepsMultipliers) {
  Parabola p;
  auto o = deterministic_options();
  o.formulation.kind = FormulationKind::fixed_penalty;
  o.initial_multipliers = {1.0};
  Solver<double> solver(make_scheme<double>("gda"), o);
  const auto s = solver.solve(p);
  // min (x-2)^2 + 1 * (x - 1): x = 1.5, infeasible, multiplier untouched.
  EXPECT_NEAR(s.x(0), 1.5, 1e-8);
  EXPECT_EQ(s.multipliers(0), 1.0);
  EXPECT_NEAR(s.max_violation, 0.5, 1e-8);
}

TEST(Solver, AugmentedLagrangianWithTextbookDualStep) {
  Parabola p;
  auto o = deterministic_options();
  o.formulation.kind = FormulationKind::augmented_lagrangian;
  o.formulation.penalty = 0.5;
  o.formulation.dual_lr_is_penalty = true;
  for (const char* name : {"gda", "alternating-dual-primal", "extragradient"}) {
    Solver<double> solver(make_scheme<double>(name), o);
    const auto s = solver.solve(p);
    EXPECT_EQ(s.termination, Termination::converged) << name << "\n" << s.report();
    EXPECT_NEAR(s.x(0), 1.0, 1e-8) << name;
    EXPECT_NEAR(s.multipliers(0), 2.0, 1e-8) << name;
  }
}

TEST(Solver, QuadraticPenaltyApproachesTheAnswerAsPenaltyGrows) {
  // min (x-2)^2 + rho/2 max(0, x-1)^2: x = 1 + 2/(2 + rho), error 2/(2+rho).
  double previous = 1.0;
  for (double rho : {1.0, 10.0, 100.0}) {
    Parabola p;
    auto o = deterministic_options();
    o.primal.lr = 1.0 / (2.0 + rho);
    o.formulation.kind = FormulationKind::quadratic_penalty;
    o.formulation.penalty = rho;
    o.formulation.max_penalty = rho;
    Solver<double> solver(make_scheme<double>("gda"), o);
    const auto s = solver.solve(p);
    EXPECT_NEAR(s.x(0), 1.0 + 2.0 / (2.0 + rho), 1e-8);
    EXPECT_LT(s.x(0) - 1.0, previous);
    previous = s.x(0) - 1.0;
  }
}

TEST(Solver, StochasticEpochsVisitEverySampleOnce) {
  NoisyMean p(20);
  SolverOptions o;
  o.primal.lr = 0.05;
  o.batch_size = 6;  // 4 batches: 6, 6, 6, 2
  o.max_iterations = 0;
  o.max_epochs = 3;
  Solver<double> solver(make_scheme<double>("gda"), o);
  const auto s = solver.solve(p);
  EXPECT_EQ(s.iterations, 12u);
  EXPECT_EQ(s.epochs, 3u);
  EXPECT_EQ(p.seen, 60u);
  EXPECT_EQ(p.shuffles, 3u);
  EXPECT_EQ(s.termination, Termination::iteration_limit);
}

TEST(Solver, ResumeFromCheckpointReproducesTheUninterruptedRun) {
  for (const char* name : {"gda", "extrapolation-from-the-past", "extragradient"}) {
    SolverOptions o;
    o.primal.kind = PrimalRuleKind::adam;
    o.primal.lr = 0.05;
    o.dual.lr = 0.5;
    o.batch_size = 6;
    o.max_iterations = 0;
    o.max_epochs = 6;
    o.dual_restarts = true;
    o.seed = 42;

    NoisyMean full_problem(20);
    Solver<double> full(make_scheme<double>(name), o);
    const auto reference = full.solve(full_problem);

    // Interrupted run: stop after epoch 2, keeping the state written at that epoch.
    struct Checkpoint : Callback<double> {
      Solver<double>* solver = nullptr;
      std::string state;
      bool on_epoch_end(const StepInfo<double>& info) override {
        std::ostringstream out;
        solver->save_state(out);
        state = out.str();
        return info.epoch + 1 < 2;  // info.epoch is the epoch just finished
      }
    } checkpoint;
    NoisyMean p1(20);
    Solver<double> first(make_scheme<double>(name), o);
    checkpoint.solver = &first;
    first.add_callback(&checkpoint);
    const auto partial = first.solve(p1);
    ASSERT_EQ(partial.termination, Termination::user_stop);
    ASSERT_EQ(partial.epochs, 2u);

    NoisyMean p2(20);
    Solver<double> second(make_scheme<double>(name), o);
    std::istringstream in(checkpoint.state);
    const auto resumed = second.resume(p2, in);
    EXPECT_EQ(resumed.iterations, reference.iterations) << name;
    EXPECT_EQ(resumed.x(0), reference.x(0)) << name;
    EXPECT_EQ(resumed.multipliers(0), reference.multipliers(0)) << name;
    EXPECT_EQ(resumed.forwards, reference.forwards) << name;

    // A truncated or foreign state is rejected with a message.
    NoisyMean p3(20);
    Solver<double> third(make_scheme<double>(name), o);
    std::istringstream cut(checkpoint.state.substr(0, checkpoint.state.size() / 2));
    EXPECT_THROW(third.resume(p3, cut), InputError);
    NoisyMean p4(7);
    std::istringstream garbage("not a state at all, definitely not");
    EXPECT_THROW(third.resume(p4, garbage), InputError);
  }
}

TEST(Solver, MidEpochCheckpointResumesExactly) {
  // A state saved from on_step in the middle of an epoch resumes at the next batch, with
  // that epoch's sample order.
  SolverOptions o;
  o.primal.kind = PrimalRuleKind::adam;
  o.primal.lr = 0.05;
  o.dual.lr = 0.5;
  o.batch_size = 6;  // 4 batches per epoch
  o.max_iterations = 0;
  o.max_epochs = 4;
  o.seed = 7;
  NoisyMean reference_problem(20);
  Solver<double> full(make_scheme<double>("extrapolation-from-the-past"), o);
  const auto reference = full.solve(reference_problem);

  struct SaveAt : Callback<double> {
    Solver<double>* solver = nullptr;
    std::string state;
    bool on_step(const StepInfo<double>& info) override {
      if (info.iteration != 6) return true;  // epoch 1, batch 1 of 0..3
      std::ostringstream out;
      solver->save_state(out);
      state = out.str();
      return false;
    }
  } save;
  NoisyMean p1(20);
  Solver<double> first(make_scheme<double>("extrapolation-from-the-past"), o);
  save.solver = &first;
  first.add_callback(&save);
  ASSERT_EQ(first.solve(p1).iterations, 6u);
  NoisyMean p2(20);
  Solver<double> second(make_scheme<double>("extrapolation-from-the-past"), o);
  std::istringstream in(save.state);
  const auto resumed = second.resume(p2, in);
  EXPECT_EQ(resumed.iterations, reference.iterations);
  EXPECT_EQ(resumed.x(0), reference.x(0));
  EXPECT_EQ(resumed.multipliers(0), reference.multipliers(0));
  // Every sample was seen as often as in the uninterrupted run.
  EXPECT_EQ(p1.seen + p2.seen, reference_problem.seen);
}

TEST(Solver, RejectsWrongMultiplierCountAndUnknownScheme) {
  Parabola p;
  auto o = deterministic_options();
  o.initial_multipliers = {1.0, 2.0};
  Solver<double> solver(make_scheme<double>("gda"), o);
  EXPECT_THROW(solver.solve(p), InvalidOption);
  try {
    make_scheme<double>("sgda");
    FAIL();
  } catch (const InvalidOption& e) {
    EXPECT_NE(std::string(e.what()).find("extrapolation-from-the-past"), std::string::npos);
  }
}

TEST(Callbacks, CsvLoggerKeepBestAndEarlyStop) {
  const std::string path = ::testing::TempDir() + "saddle_core_log.csv";
  Parabola p(1.0, 1.5);  // starts infeasible
  auto o = deterministic_options();
  o.max_iterations = 300;
  o.tolerance = 0;
  Solver<double> solver(make_scheme<double>("gda"), o);
  CsvLogger<double> log(path, 10);
  KeepBestFeasible<double> best(1e-3);
  solver.add_callback(&log);
  solver.add_callback(&best);
  solver.solve(p);
  std::ifstream in(path);
  std::string header, line;
  std::getline(in, header);
  EXPECT_EQ(header, "iteration,epoch,loss,objective,max_violation,c_x_le_bound,lambda_x_le_bound");
  int rows = 0;
  while (std::getline(in, line)) ++rows;
  EXPECT_EQ(rows, 30);
  ASSERT_TRUE(best.found());
  EXPECT_LE(best.best_x()(0), 1.0 + 1e-3);  // the kept point is feasible
  EXPECT_NEAR(best.best_loss(), (best.best_x()(0) - 2) * (best.best_x()(0) - 2), 1e-12);
  std::remove(path.c_str());

  EXPECT_THROW(CsvLogger<double>("/nonexistent-dir/x.csv"), InputError);

  EarlyStop<double> early(5, 0.0, 1e-6);
  Parabola q(3.0);
  auto o2 = deterministic_options();
  o2.max_iterations = 100000;
  o2.tolerance = 0;
  Solver<double> s2(make_scheme<double>("gda"), o2);
  s2.add_callback(&early);
  const auto r = s2.solve(q);
  EXPECT_EQ(r.termination, Termination::user_stop);
  EXPECT_TRUE(early.stopped());
  EXPECT_LT(r.iterations, 100000u);
}

namespace {
// n parameters, loss sum_i (x_i - t_i)^2 / 2 with t_i = sin(i) (gradient x_i - t_i), one
// inactive inequality constraint; from forward number `nan_at` on (1-based; 0 = never) the
// loss and the constraint are NaN. Deterministic, so every scheme's step is reproducible.
class WideBowl : public BasicProblem<float> {
 public:
  WideBowl(std::size_t n, int nan_at) : n_(n), nan_at_(nan_at) {}
  std::size_t num_parameters() const override { return n_; }
  std::vector<ConstraintSpec> constraints() const override { return {{"c", ConstraintKind::inequality}}; }
  void initial_point(Vector<float>& x, std::uint64_t) const override { x.fill(0.0f); }
  void forward(const Vector<float>& x, const Batch&, Evaluation& e) override {
    at_ = &x;
    ++forwards_;
    const bool bad = nan_at_ > 0 && forwards_ >= nan_at_;
    e.loss = bad ? std::nan("") : 1.0;
    e.constraints(0) = bad ? std::nan("") : -1.0;
  }
  void backward(const Vector<double>&, Vector<float>& g) override {
    for (std::size_t i = 0; i < n_; ++i) g(i) = (*at_)(i) - static_cast<float>(std::sin(static_cast<double>(i)));
  }

 private:
  std::size_t n_;
  int nan_at_;
  int forwards_ = 0;
  const Vector<float>* at_ = nullptr;
};

// Records x after every step; checks that StepInfo::evaluated_x, when the scheme reports the
// start of the step (every scheme but extrapolation from the past), is bitwise the x the
// previous step ended at.
class StartOfStepCheck final : public Callback<float> {
 public:
  explicit StartOfStepCheck(std::size_t n, bool check) : check_(check) {
    Vector<float> x0 = Vector<float>::from_shape({n});
    x0.fill(0.0f);
    after.push_back(x0);
  }
  bool on_step(const StepInfo<float>& info) override {
    if (check_) {
      const Vector<float>& e = *info.evaluated_x;
      const Vector<float>& prev = after.back();
      mismatches += std::memcmp(e.data(), prev.data(), prev.size() * sizeof(float)) != 0;
    }
    after.push_back(*info.x);
    return true;
  }
  std::vector<Vector<float>> after;  // [0]: the initial point; [k]: x after step k
  int mismatches = 0;

 private:
  bool check_;
};
}  // namespace

// The driver saves the start of each step inside the scheme's primal update, block by block
// (UpdateScheme::updates_x_by_primal_step): callbacks must still see that start, and a
// numerical failure must still return the start of the last completed step, for every scheme,
// with and without the update split over a thread team. 100,003 floats: the streamed copy
// (>= 256 KB), many fused blocks and a partial last one.
TEST(Solver, StartOfStepKeptForCallbacksAndRollbackOnWideProblems) {
  constexpr std::size_t n = 100003;
  ThreadTeam team(2, ThreadBackend::std_thread);
  for (const std::string& scheme : scheme_names())
    for (RangeRunner* runner : {static_cast<RangeRunner*>(nullptr), static_cast<RangeRunner*>(&team)}) {
      const std::string what = scheme + (runner ? ", split" : ", serial");
      SolverOptions o;
      o.primal.kind = PrimalRuleKind::adam;
      o.primal.lr = 0.01;
      o.max_iterations = 6;
      o.tolerance = 0.0;
      o.range_runner = runner;
      {
        WideBowl p(n, 0);
        Solver<float> solver(make_scheme<float>(scheme), o);
        StartOfStepCheck check(n, scheme != "extrapolation-from-the-past");
        solver.add_callback(&check);
        const auto s = solver.solve(p);
        ASSERT_EQ(s.termination, Termination::iteration_limit) << what << ": " << s.message;
        ASSERT_EQ(check.after.size(), 7u) << what;
        EXPECT_EQ(check.mismatches, 0) << what;
        EXPECT_NE(check.after[6](5), check.after[5](5)) << what;  // x moved every step
      }
      // NaN from the 7th forward on: the step that makes it fails (step 7 of gda, earlier for
      // the two-forward schemes); the returned x is the start of the last completed step.
      o.max_iterations = 20;
      WideBowl p(n, 7);
      Solver<float> solver(make_scheme<float>(scheme), o);
      StartOfStepCheck record(n, false);
      solver.add_callback(&record);
      const auto s = solver.solve(p);
      ASSERT_EQ(s.termination, Termination::numerical_failure) << what << ": " << s.message;
      ASSERT_GE(s.iterations, 1u) << what;
      const Vector<float>& expected = record.after[s.iterations - 1];
      EXPECT_EQ(std::memcmp(s.x.data(), expected.data(), n * sizeof(float)), 0)
          << what << ": after " << s.iterations << " completed steps";
    }
}
