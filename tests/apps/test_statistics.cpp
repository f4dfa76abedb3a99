// Statistics of saddle compare / sweep (apps/statistics.hpp, apps/train_runs.hpp): Student-t
// quantiles, mean and 95 % confidence half-width, and the aggregation of the runs of a group
// (failed runs excluded).
//
// The reference quantiles t(0.975, dof) were computed independently of saddle's table with
// mpmath 1.3.0 at 30 digits (root of 1 - I_{v/(v+t^2)}(v/2, 1/2) / 2 = 0.975, regularized
// incomplete beta), and agree with the printed tables (NIST/SEMATECH e-Handbook 1.3.6.7.2):
//   dof 1: 12.7062047362   2: 4.30265272975   3: 3.18244630528   4: 2.7764451052
//   9: 2.2621571628   29: 2.04522964213   30: 2.0422724563   40: 2.02107539031
//   50: 2.0085591121   60: 2.00029782201   120: 1.97993040508   1000: 1.96233908083
//   normal (infinite dof): 1.95996398454

#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "statistics.hpp"
#include "train_runs.hpp"

namespace {

namespace ex = saddle::cli::experiments;
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

TEST(StudentT, TabulatedDegreesOfFreedomMatchReferenceQuantiles) {
  EXPECT_TRUE(std::isnan(ex::student_t975(0)));
  // Tabulated to 8 significant digits: 1e-7 is the table's rounding.
  EXPECT_NEAR(ex::student_t975(1), 12.7062047362, 1e-7);
  EXPECT_NEAR(ex::student_t975(2), 4.30265272975, 1e-7);
  EXPECT_NEAR(ex::student_t975(3), 3.18244630528, 1e-7);
  EXPECT_NEAR(ex::student_t975(4), 2.7764451052, 1e-7);
  EXPECT_NEAR(ex::student_t975(9), 2.2621571628, 1e-7);
  EXPECT_NEAR(ex::student_t975(29), 2.04522964213, 1e-7);
  EXPECT_NEAR(ex::student_t975(30), 2.0422724563, 1e-7);
  EXPECT_NEAR(ex::student_t975(40), 2.02107539031, 1e-7);
  EXPECT_NEAR(ex::student_t975(60), 2.00029782201, 1e-7);
  EXPECT_NEAR(ex::student_t975(120), 1.97993040508, 1e-7);
}

TEST(StudentT, InterpolatedBeyondThirtyWithinOneHundredThousandth) {
  // Linear in 1/dof between tabulated points: the error is below 1e-4 everywhere.
  EXPECT_NEAR(ex::student_t975(50), 2.0085591121, 1e-4);
  EXPECT_NEAR(ex::student_t975(1000), 1.96233908083, 1e-4);
  EXPECT_NEAR(ex::student_t975(100000000), 1.95996398454, 1e-6);
  // Decreasing in dof.
  for (std::size_t dof = 1; dof < 500; ++dof)
    EXPECT_GT(ex::student_t975(dof), ex::student_t975(dof + 1)) << dof;
}

TEST(MeanCi, KnownValues) {
  // {1, 2, 3}: mean 2, s = 1, half-width t(0.975, 2) / sqrt(3) = 2.48413771175033 (mpmath).
  const ex::MeanCi a = ex::mean_ci({1.0, 2.0, 3.0});
  EXPECT_EQ(a.n, 3u);
  EXPECT_DOUBLE_EQ(a.mean, 2.0);
  EXPECT_NEAR(a.ci95, 2.48413771175033, 1e-7);
  // {0.021, 0.025, 0.019, 0.030}: mean 0.02375, half-width 0.00772740516703098 (mpmath).
  const ex::MeanCi b = ex::mean_ci({0.021, 0.025, 0.019, 0.030});
  EXPECT_EQ(b.n, 4u);
  EXPECT_NEAR(b.mean, 0.02375, 1e-15);
  EXPECT_NEAR(b.ci95, 0.00772740516703098, 1e-9);
}

TEST(MeanCi, NonFiniteValuesAreLeftOutAndSmallSamplesHaveNoInterval) {
  const ex::MeanCi a = ex::mean_ci({1.0, kNaN, 3.0, std::numeric_limits<double>::infinity(), 2.0});
  EXPECT_EQ(a.n, 3u);
  EXPECT_DOUBLE_EQ(a.mean, 2.0);
  EXPECT_NEAR(a.ci95, 2.48413771175033, 1e-7);
  const ex::MeanCi one = ex::mean_ci({5.0});
  EXPECT_EQ(one.n, 1u);
  EXPECT_EQ(one.mean, 5.0);
  EXPECT_TRUE(std::isnan(one.ci95));
  const ex::MeanCi none = ex::mean_ci({kNaN});
  EXPECT_EQ(none.n, 0u);
  EXPECT_TRUE(std::isnan(none.mean));
  EXPECT_TRUE(std::isnan(none.ci95));
  const ex::MeanCi same = ex::mean_ci({0.5, 0.5});
  EXPECT_EQ(same.mean, 0.5);
  EXPECT_EQ(same.ci95, 0.0);
}

TEST(AggregateRuns, FailedRunsAreExcludedAndNamed) {
  const std::vector<ex::RunValues> runs = {
      {true, "ok", {0.02, 10.0}},
      {false, "exit 2: --primal-lr = -1: must be > 0", {0.9, 99.0}},
      {true, "ok", {0.04, kNaN}},
      {false, "numerical failure", {0.5, 1.0}},
  };
  const ex::RunStats s = ex::aggregate_runs(runs, 2);
  EXPECT_EQ(s.runs, 4u);
  EXPECT_EQ(s.ok, 2u);
  ASSERT_EQ(s.metrics.size(), 2u);
  EXPECT_EQ(s.metrics[0].n, 2u);
  EXPECT_DOUBLE_EQ(s.metrics[0].mean, 0.03);
  // s = 0.01 * sqrt(2), half-width t(0.975, 1) * s / sqrt(2) = 12.7062047362 * 0.01.
  EXPECT_NEAR(s.metrics[0].ci95, 0.127062047362, 1e-8);
  EXPECT_EQ(s.metrics[1].n, 1u);  // the NaN of the second finished run is not a value
  EXPECT_EQ(s.metrics[1].mean, 10.0);
  EXPECT_EQ(s.status, "2 failed: exit 2: --primal-lr = -1: must be > 0");
  EXPECT_EQ(ex::aggregate_runs({{true, "ok", {1.0}}}, 1).status, "ok");
  const ex::RunStats all_failed = ex::aggregate_runs({{false, "killed by signal 9", {1.0}}}, 1);
  EXPECT_EQ(all_failed.ok, 0u);
  EXPECT_EQ(all_failed.metrics[0].n, 0u);
  EXPECT_EQ(all_failed.status, "1 failed: killed by signal 9");
}

ex::RunOutcome outcome(bool ok, double test_error, std::vector<double> curve_errors,
                       std::string status = "ok") {
  ex::RunOutcome o;
  o.ok = ok;
  o.status = std::move(status);
  o.test_error = test_error;
  o.expected_density = 0.3;
  o.worst_violation = 0.0;
  o.forwards_per_step = 1.0;
  o.backwards_per_step = 1.0;
  o.seconds = 2.0;
  for (std::size_t e = 0; e < curve_errors.size(); ++e)
    o.curve.push_back(
        {static_cast<double>(e + 1), 0.5, 0.1 * static_cast<double>(e), curve_errors[e]});
  return o;
}

TEST(AggregateTrainRuns, MeansOverTheFinishedRunsOfAGroup) {
  const std::vector<ex::RunOutcome> outcomes = {
      outcome(true, 0.02, {0.5, 0.1, 0.02}), outcome(false, 0.9, {0.9}, "exit 1: out of memory"),
      outcome(true, 0.04, {0.7, 0.3}),  // shorter: the mean curve stops at its end
  };
  const ex::GroupStats g = ex::aggregate(outcomes);
  EXPECT_EQ(g.runs, 3u);
  EXPECT_EQ(g.ok, 2u);
  EXPECT_DOUBLE_EQ(g.test_error.mean, 0.03);
  EXPECT_NEAR(g.test_error.ci95, 0.127062047362, 1e-8);
  EXPECT_DOUBLE_EQ(g.expected_density.mean, 0.3);
  EXPECT_EQ(g.expected_density.ci95, 0.0);
  EXPECT_EQ(g.seconds.n, 2u);
  EXPECT_EQ(g.status, "1 failed: exit 1: out of memory");
  ASSERT_EQ(g.curve.size(), 2u);
  EXPECT_EQ(g.curve[0].epoch, 1.0);
  EXPECT_DOUBLE_EQ(g.curve[0].test_error, 0.6);
  EXPECT_DOUBLE_EQ(g.curve[1].test_error, 0.2);
  EXPECT_DOUBLE_EQ(g.curve[1].max_multiplier, 0.1);
}

TEST(AggregateTrainRuns, TestErrorNotEvaluatedInAnEpochIsLeftOutOfItsMean) {
  const ex::GroupStats g =
      ex::aggregate({outcome(true, 0.1, {kNaN, 0.2}), outcome(true, 0.3, {0.4, 0.6})});
  ASSERT_EQ(g.curve.size(), 2u);
  EXPECT_DOUBLE_EQ(g.curve[0].test_error, 0.4);
  EXPECT_DOUBLE_EQ(g.curve[1].test_error, 0.4);
  EXPECT_EQ(ex::aggregate({}).runs, 0u);
  EXPECT_TRUE(ex::aggregate({}).curve.empty());
}

}  // namespace
