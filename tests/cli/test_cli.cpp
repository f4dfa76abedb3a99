// End-to-end tests of the `saddle` command line: runs the built binary (SADDLE_EXE) through
// the shell, capturing stdout, stderr and the exit code, and checks help, the known answers
// reached through `saddle solve --json`, and that every kind of bad input gives exit code 2
// with exactly one error line naming the offending option or value.

#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <system_error>
#include <vector>

#include <gtest/gtest.h>

#include "cli_test_util.hpp"
#include "mini_json.hpp"

namespace {

namespace fs = std::filesystem;

using namespace cli_test;

/// Runs a solve with --json and parses stdout (which must be exactly one JSON object).
mini_json::Value solve_json(std::vector<std::string> args, int expected_code = 0) {
  args.insert(args.begin(), "solve");
  args.push_back("--json");
  const RunResult r = run(args);
  EXPECT_EQ(r.code, expected_code) << describe(args, r);
  mini_json::Value v;
  try {
    v = mini_json::parse(r.out);
  } catch (const std::exception& e) {
    ADD_FAILURE() << e.what() << "\n" << describe(args, r);
  }
  EXPECT_EQ(v.type, mini_json::Value::Type::object) << describe(args, r);
  return v;
}

const std::vector<std::string> kSolvers = {"gda", "alternating-primal-dual", "alternating-dual-primal",
                                           "extragradient", "extrapolation-from-the-past"};
const std::vector<std::string> kProblems = {"active-inequality", "inactive-inequality", "equality-qp", "hs21",
                                            "linear-equality", "max-entropy", "norm-constrained-regression"};

// ---------------------------------------------------------------------------------------
// help and listing

TEST(Cli, TopLevelHelpListsSubcommands) {
  REQUIRE_EXE();
  for (const std::vector<std::string>& args : {std::vector<std::string>{"--help"}, {"-h"}, {"help"}}) {
    const RunResult r = run(args);
    EXPECT_EQ(r.code, 0) << describe(args, r);
    EXPECT_NE(r.out.find("usage: saddle <subcommand>"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("solve"), std::string::npos) << r.out;
    EXPECT_TRUE(r.err.empty()) << r.err;
  }
}

TEST(Cli, SolveHelpListsEveryOption) {
  REQUIRE_EXE();
  for (const std::vector<std::string>& args : {std::vector<std::string>{"solve", "--help"}, {"help", "solve"}}) {
    const RunResult r = run(args);
    EXPECT_EQ(r.code, 0) << describe(args, r);
    for (const char* flag :
         {"--problem", "--solver", "--formulation", "--dual-restarts", "--primal-lr", "--dual-lr", "--iterations",
          "--seed", "--json", "--primal-rule", "--dual-rule", "--kp", "--nu", "--penalty", "--penalty-growth",
          "--growth-factor", "--tolerance", "--batch", "--epochs", "--multipliers", "--log", "--progress", "--list",
          "(=lagrangian)", "exit codes"})
      EXPECT_NE(r.out.find(flag), std::string::npos) << "help lacks " << flag;
  }
}

TEST(Cli, SolveHelpWithProblemShowsItsDefaults) {
  REQUIRE_EXE();
  const std::vector<std::string> args = {"solve", "--problem", "equality-qp", "--solver", "gda", "--help"};
  const RunResult r = run(args);
  EXPECT_EQ(r.code, 0) << describe(args, r);
  EXPECT_NE(r.out.find("defaults for --problem equality-qp --solver gda"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("  --primal-lr = "), std::string::npos) << r.out;
}

TEST(Cli, ListNamesEveryProblemAndSolver) {
  REQUIRE_EXE();
  const RunResult text = run({"solve", "--list"});
  EXPECT_EQ(text.code, 0) << text.err;
  for (const auto& p : kProblems) EXPECT_NE(text.out.find(p), std::string::npos) << p;
  for (const auto& s : kSolvers) EXPECT_NE(text.out.find(s), std::string::npos) << s;

  const mini_json::Value v = solve_json({"--list"});
  ASSERT_TRUE(v.has("problems"));
  std::vector<std::string> problems, solvers;
  for (const auto& p : v["problems"].array) {
    problems.push_back(p["name"].as_string());
    EXPECT_FALSE(p["description"].as_string().empty());
  }
  for (const auto& s : v["solvers"].array) solvers.push_back(s["name"].as_string());
  for (const auto& p : kProblems) EXPECT_NE(std::find(problems.begin(), problems.end(), p), problems.end()) << p;
  EXPECT_EQ(solvers, kSolvers);
}

// ---------------------------------------------------------------------------------------
// known answers through the command line

TEST(Cli, ActiveInequalityJsonHasTheKnownAnswer) {
  REQUIRE_EXE();
  const mini_json::Value v = solve_json({"--problem", "active-inequality", "--solver", "gda"});
  for (const char* key : {"problem", "solver", "formulation", "dual_restarts", "termination", "message",
                          "iterations", "epochs", "forwards", "backwards", "seconds", "loss", "objective", "x",
                          "multipliers", "constraint_values", "max_violation", "known_answer", "options"})
    EXPECT_TRUE(v.has(key)) << "missing key " << key;
  EXPECT_EQ(v["problem"].as_string(), "active-inequality");
  EXPECT_EQ(v["solver"].as_string(), "gda");
  EXPECT_EQ(v["formulation"].as_string(), "lagrangian");
  EXPECT_FALSE(v["dual_restarts"].as_bool());
  EXPECT_EQ(v["termination"].as_string(), "converged");
  const auto x = v["x"].as_numbers();
  const auto lambda = v["multipliers"].as_numbers();
  ASSERT_EQ(x.size(), 1u);
  ASSERT_EQ(lambda.size(), 1u);
  // min (x-2)^2 s.t. x <= 1: x* = 1, lambda* = 2 (KKT: 2 (x - 2) + lambda = 0).
  EXPECT_NEAR(x[0], 1.0, 1e-6);
  EXPECT_NEAR(lambda[0], 2.0, 1e-6);
  EXPECT_NEAR(v["loss"].as_number(), 1.0, 1e-6);
  const auto& known = v["known_answer"];
  EXPECT_EQ(known["x"].as_numbers(), std::vector<double>{1.0});
  EXPECT_EQ(known["multipliers"].as_numbers(), std::vector<double>{2.0});
  EXPECT_EQ(known["loss"].as_number(), 1.0);
  EXPECT_LT(known["x_error"].as_number(), 1e-6);
  EXPECT_LT(known["multiplier_error"].as_number(), 1e-6);
  EXPECT_TRUE(known["expected_to_converge"].as_bool());
  EXPECT_GT(v["forwards"].as_number(), 0.0);
}

TEST(Cli, EverySolverReachesTheEqualityQpAnswerWithDefaultFlags) {
  REQUIRE_EXE();
  for (const auto& solver : kSolvers) {
    SCOPED_TRACE(solver);
    const mini_json::Value v = solve_json({"--problem", "equality-qp", "--solver", solver});
    const auto x = v["x"].as_numbers();
    ASSERT_EQ(x.size(), 2u);
    // min 6 x0^2 + 4 x0 x1 + 3 x1^2 s.t. x0 + x1 = 5: x* = (1, 4), lambda* = -28.
    EXPECT_NEAR(x[0], 1.0, 1e-6);
    EXPECT_NEAR(x[1], 4.0, 1e-6);
    EXPECT_NEAR(v["multipliers"][0].as_number(), -28.0, 1e-5);
    EXPECT_NE(v["termination"].as_string(), "numerical_failure");
  }
}

TEST(Cli, HumanReportShowsKnownAnswerAndErrors) {
  REQUIRE_EXE();
  const std::vector<std::string> args = {"solve", "--problem", "hs21", "--solver", "extragradient"};
  const RunResult r = run(args);
  EXPECT_EQ(r.code, 0) << describe(args, r);
  for (const char* text : {"problem: hs21", "termination:", "known answer: x* = (2, 0)", "|x - x*|_inf",
                           "|lambda - lambda*|_inf", "x1_lower"})
    EXPECT_NE(r.out.find(text), std::string::npos) << "report lacks '" << text << "'\n" << r.out;
}

TEST(Cli, FlagsOverrideTheProblemDefaults) {
  REQUIRE_EXE();
  const mini_json::Value v = solve_json({"--problem", "equality-qp", "--solver", "gda", "--iterations", "3",
                                         "--tolerance", "0", "--primal-lr", "0.01", "--dual-lr=0.02",
                                         "--dual-restarts", "--seed", "7", "--primal-rule", "momentum", "--momentum",
                                         "0.5"});
  EXPECT_EQ(v["iterations"].as_number(), 3.0);
  EXPECT_EQ(v["termination"].as_string(), "iteration_limit");
  EXPECT_TRUE(v["dual_restarts"].as_bool());
  const auto& o = v["options"];
  EXPECT_EQ(o["primal"]["lr"].as_number(), 0.01);
  EXPECT_EQ(o["primal"]["rule"].as_string(), "momentum");
  EXPECT_EQ(o["primal"]["momentum"].as_number(), 0.5);
  EXPECT_EQ(o["dual"]["lr"].as_number(), 0.02);
  EXPECT_EQ(o["max_iterations"].as_number(), 3.0);
  EXPECT_EQ(o["tolerance"].as_number(), 0.0);
  EXPECT_EQ(o["seed"].as_number(), 7.0);
}

TEST(Cli, FixedPenaltyWithNegativeMultiplierFromTheCommandLine) {
  REQUIRE_EXE();
  // With the optimal multiplier fixed at -28, minimising f - 28 h gives x* = (1, 4).
  const mini_json::Value v = solve_json(
      {"--problem", "equality-qp", "--solver", "gda", "--formulation", "fixed-penalty", "--multipliers", "-28"});
  EXPECT_EQ(v["formulation"].as_string(), "fixed-penalty");
  EXPECT_EQ(v["multipliers"].as_numbers(), std::vector<double>{-28.0});
  const auto x = v["x"].as_numbers();
  ASSERT_EQ(x.size(), 2u);
  EXPECT_NEAR(x[0], 1.0, 1e-6);
  EXPECT_NEAR(x[1], 4.0, 1e-6);
}

TEST(Cli, AugmentedLagrangianOnHs21) {
  REQUIRE_EXE();
  const mini_json::Value v = solve_json(
      {"--problem", "hs21", "--solver", "extragradient", "--formulation", "augmented-lagrangian"});
  EXPECT_EQ(v["formulation"].as_string(), "augmented-lagrangian");
  EXPECT_LT(v["known_answer"]["x_error"].as_number(), 1e-5);
}

TEST(Cli, StochasticProblemReportsFullDataLoss) {
  REQUIRE_EXE();
  const mini_json::Value v = solve_json({"--problem", "norm-constrained-regression", "--solver", "gda"});
  EXPECT_TRUE(v["stochastic"].as_bool());
  EXPECT_GT(v["epochs"].as_number(), 0.0);
  // Minibatch SGD: the answer to a loose, stochastic tolerance.
  EXPECT_LT(v["known_answer"]["x_error"].as_number(), 0.05);
  EXPECT_LT(v["known_answer"]["loss_error"].as_number(), 0.05);
}

TEST(Cli, NumericalFailureExitsWithThree) {
  REQUIRE_EXE();
  // SGD with step 10 on a quadratic of curvature ~14 diverges to Inf within ~100 steps.
  const mini_json::Value v =
      solve_json({"--problem", "equality-qp", "--solver", "gda", "--primal-lr", "10"}, /*expected_code=*/3);
  EXPECT_EQ(v["termination"].as_string(), "numerical_failure");
  EXPECT_EQ(v["exit_code"].as_number(), 3.0);
}

TEST(Cli, LogAndProgressKeepStdoutClean) {
  REQUIRE_EXE();
  const fs::path log = scratch_dir() / "log.csv";
  const std::vector<std::string> args = {"solve", "--problem", "active-inequality", "--solver", "gda", "--json",
                                         "--iterations", "40", "--tolerance", "0", "--log", log.string(),
                                         "--log-every", "10", "--progress", "20"};
  const RunResult r = run(args);
  EXPECT_EQ(r.code, 0) << describe(args, r);
  EXPECT_NO_THROW(mini_json::parse(r.out)) << r.out;
  EXPECT_FALSE(r.err.empty());  // progress lines go to stderr
  std::istringstream csv(read_file(log));
  std::vector<std::string> lines;
  for (std::string line; std::getline(csv, line);) lines.push_back(line);
  ASSERT_EQ(lines.size(), 5u) << read_file(log);  // header + steps 10, 20, 30, 40
  EXPECT_EQ(lines[0].rfind("iteration,", 0), 0u) << lines[0];
  EXPECT_EQ(lines[4].rfind("40,", 0), 0u) << lines[4];
  fs::remove(log);
}

// ---------------------------------------------------------------------------------------
// bad input: exit code 2, nothing on stdout, one line on stderr naming the culprit

struct BadCase {
  std::vector<std::string> args;
  std::vector<std::string> mentions;  // each must occur in the error line
};

TEST(Cli, BadInputGivesOneLineAndExitCodeTwo) {
  REQUIRE_EXE();
  const std::vector<std::string> base = {"solve", "--problem", "equality-qp", "--solver", "gda"};
  auto with = [&](std::vector<std::string> extra) {
    std::vector<std::string> a = base;
    a.insert(a.end(), extra.begin(), extra.end());
    return a;
  };
  const std::vector<BadCase> cases = {
      {{}, {"missing subcommand", "solve"}},
      {{"frobnicate"}, {"frobnicate", "solve"}},
      {{"--frobnicate"}, {"--frobnicate"}},
      {{"solve", "--solver", "gda"}, {"--problem", "equality-qp"}},
      {{"solve", "--problem", "equality-qp"}, {"--solver", "extragradient"}},
      {{"solve", "--problem", "nope", "--solver", "gda"}, {"nope", "active-inequality", "hs21", "max-entropy"}},
      {{"solve", "--problem", "hs21", "--solver", "sgd"}, {"sgd", "extragradient", "alternating-dual-primal"}},
      {with({"--bogus"}), {"--bogus"}},
      {with({"--bogus=3"}), {"--bogus"}},
      {with({"--prim", "0.1"}), {"--prim"}},  // no prefix guessing
      {with({"--primal-lr", "-1"}), {"--primal-lr", "-1", "> 0"}},
      {with({"--primal-lr=-1"}), {"--primal-lr", "-1"}},
      {with({"--dual-lr", "0"}), {"--dual-lr", "0"}},
      {with({"--primal-lr", "abc"}), {"--primal-lr", "abc"}},
      {with({"--primal-lr", "nan"}), {"--primal-lr", "nan"}},
      {with({"--primal-lr"}), {"--primal-lr", "missing"}},
      {with({"--iterations", "abc"}), {"--iterations", "abc"}},
      {with({"--iterations", "-5"}), {"--iterations", "-5"}},
      {with({"--iterations", "2.5"}), {"--iterations", "2.5"}},
      {with({"--iterations", "99999999999999999999999"}), {"--iterations", "range"}},
      {with({"--iterations", "0"}), {"--iterations", "--epochs"}},
      {with({"--nu", "1"}), {"--nu", "1"}},
      {with({"--kp", "-0.5"}), {"--kp", "-0.5"}},
      {with({"--formulation", "augmented-lagrangian", "--penalty", "0"}), {"--penalty", "0"}},
      {with({"--formulation", "magic"}), {"--formulation", "magic", "augmented-lagrangian"}},
      {with({"--primal-rule", "rmsprop"}), {"rmsprop", "adam"}},
      {with({"--dual-rule", "pid"}), {"pid", "nupi"}},
      {with({"--penalty-growth", "exponential"}), {"exponential", "multiplicative"}},
      {with({"--penalty-growth", "multiplicative", "--growth-factor", "0.5"}), {"--growth-factor", "0.5"}},
      {with({"--multipliers", "1,2"}), {"--multipliers", "2", "1 constraint"}},
      {with({"--multipliers", "1,,2"}), {"--multipliers", "1,,2"}},
      {with({"--multipliers", "x"}), {"--multipliers", "x"}},
      {with({"--progress", "-1"}), {"--progress", "-1"}},
      {with({"--log-every", "0"}), {"--log-every", "0"}},
      {with({"--problem", "hs21"}), {"--problem", "more than once"}},
      {with({"stray"}), {"stray"}},
  };
  for (const auto& c : cases) {
    const RunResult r = run(c.args);
    const std::string what = describe(c.args, r);
    EXPECT_EQ(r.code, 2) << what;
    EXPECT_TRUE(r.out.empty()) << what;
    EXPECT_EQ(r.err.rfind("saddle: error: ", 0), 0u) << what;
    ASSERT_FALSE(r.err.empty()) << what;
    EXPECT_EQ(r.err.find('\n'), r.err.size() - 1) << "not exactly one line: " << what;
    for (const auto& m : c.mentions) EXPECT_NE(r.err.find(m), std::string::npos) << "lacks '" << m << "': " << what;
  }
}

}  // namespace

// Boost.Program_options 1.74 loops forever formatting an error for a token that holds one of
// its %placeholders%: refused first, with one line (found by fuzzing the --config reader).
TEST(Cli, OptionTokenWithAPercentPlaceholderIsRefused) {
  REQUIRE_EXE();
  for (const std::string sub : {"train", "solve", "compare"}) {
    const std::vector<std::string> args = {sub, "--%original_token%"};
    const auto r = run(args);
    EXPECT_EQ(r.code, 2) << describe(args, r);
    EXPECT_NE(r.err.find("unknown option '--%original_token%'"), std::string::npos) << r.err;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  }
  // A value with '%' as its own word is an ordinary value.
  const auto r = run({"solve", "--problem", "%value%", "--solver", "gda"});
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("unknown problem '%value%'"), std::string::npos) << r.err;
}
