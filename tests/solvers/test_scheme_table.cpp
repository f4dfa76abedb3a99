// The scheme table is the one list of schemes: every row must agree with its class, every
// name must make a scheme of both precisions, and `saddle::solve` must equal the explicit
// Solver it stands for.
#include <gtest/gtest.h>

#include <set>
#include <string>

#include "saddle/saddle.hpp"
#include "saddle/solvers.hpp"
#include "core/toy_problems.hpp"

using namespace saddle;
using saddle::test::Parabola;

TEST(SchemeTable, RowsAgreeWithTheirClasses) {
  const auto& table = scheme_table();
  ASSERT_EQ(table.size(), 5u);
  std::set<std::string> names;
  for (const auto& row : table) {
    SCOPED_TRACE(row.name);
    EXPECT_TRUE(names.insert(row.name).second) << "duplicate name";
    EXPECT_FALSE(std::string(row.summary).empty());
    const auto d = make_scheme<double>(row.name);
    const auto f = make_scheme<float>(row.name);
    EXPECT_EQ(d->name(), row.name);
    EXPECT_EQ(f->name(), row.name);
    EXPECT_EQ(d->forwards_per_step(), row.forwards_per_step);
    EXPECT_EQ(d->backwards_per_step(), row.backwards_per_step);
    EXPECT_EQ(f->forwards_per_step(), row.forwards_per_step);
    EXPECT_EQ(&find_scheme(row.name), &row);
  }
  EXPECT_EQ(scheme_names().size(), table.size());
  EXPECT_EQ(scheme_names().front(), "gda");
  EXPECT_EQ(scheme_choices(), "gda | alternating-primal-dual | alternating-dual-primal | extragradient | "
                              "extrapolation-from-the-past");
}

TEST(SchemeTable, TypedClassesAreTheRegisteredOnes) {
  EXPECT_NE(dynamic_cast<SimultaneousGda<double>*>(make_scheme<double>("gda").get()), nullptr);
  EXPECT_NE(dynamic_cast<AlternatingPrimalDual<float>*>(make_scheme<float>("alternating-primal-dual").get()), nullptr);
  EXPECT_NE(dynamic_cast<AlternatingDualPrimal<double>*>(make_scheme<double>("alternating-dual-primal").get()),
            nullptr);
  EXPECT_NE(dynamic_cast<Extragradient<double>*>(make_scheme<double>("extragradient").get()), nullptr);
  EXPECT_NE(dynamic_cast<ExtrapolationFromThePast<float>*>(make_scheme<float>("extrapolation-from-the-past").get()),
            nullptr);
}

TEST(SchemeTable, UnknownNameListsEveryChoice) {
  try {
    find_scheme("sgda");
    FAIL() << "no exception";
  } catch (const InvalidOption& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("unknown solver 'sgda'"), std::string::npos) << what;
    for (const auto& name : scheme_names()) EXPECT_NE(what.find(name), std::string::npos) << what;
  }
  EXPECT_THROW(make_scheme<float>(""), InvalidOption);
}

// Measured cost per step over 10 steps equals the table's (extrapolation from the past pays
// one extra pair on its first step).
TEST(SchemeTable, MeasuredCostMatchesTheTable) {
  for (const auto& row : scheme_table()) {
    Parabola p;
    SolverOptions o;
    o.max_iterations = 10;
    const auto s = solve(p, o, row.name);
    const std::size_t extra = std::string(row.name) == "extrapolation-from-the-past" ? 1 : 0;
    EXPECT_EQ(s.forwards, static_cast<std::size_t>(10 * row.forwards_per_step) + extra) << row.name;
    EXPECT_EQ(s.backwards, static_cast<std::size_t>(10 * row.backwards_per_step) + extra) << row.name;
  }
}

// A callback that counts steps and stops after `limit`.
class StopAfter final : public Callback<double> {
 public:
  explicit StopAfter(std::size_t limit) : limit_(limit) {}
  bool on_step(const StepInfo<double>& info) override {
    (void)info;
    return ++steps_ < limit_;
  }
  std::size_t steps_ = 0;

 private:
  std::size_t limit_;
};

TEST(Solve, EqualsTheExplicitSolverAndRunsCallbacks) {
  SolverOptions o;
  o.primal.lr = 0.1;
  o.dual.lr = 0.1;
  o.max_iterations = 5000;
  o.tolerance = 1e-12;
  for (const auto& name : scheme_names()) {
    Parabola a, b;
    const Summary<double> one_call = solve(a, o, name);
    Solver<double> solver(make_scheme<double>(name), o);
    const Summary<double> explicit_solver = solver.solve(b);
    EXPECT_EQ(one_call.iterations, explicit_solver.iterations) << name;
    EXPECT_EQ(one_call.x(0), explicit_solver.x(0)) << name;
    EXPECT_EQ(one_call.multipliers(0), explicit_solver.multipliers(0)) << name;
  }
  Parabola p;
  StopAfter stop(7);
  const auto s = solve<double>(p, o, "extragradient", {&stop});
  EXPECT_EQ(s.termination, Termination::user_stop);
  EXPECT_EQ(stop.steps_, 7u);
  EXPECT_EQ(s.iterations, 7u);
  Parabola q;
  SolverOptions bad = o;
  bad.primal.lr = -1;
  EXPECT_THROW(solve(q, bad), InvalidOption);
  EXPECT_THROW(solve(q, o, "nope"), InvalidOption);
}
