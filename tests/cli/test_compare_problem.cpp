// `saddle compare --problem`: solver variants on a built-in problem and on plugin problems
// (tests/plugins/good_plugin.cpp), each run a child `saddle solve` with tiny iteration counts.
// The CSV table matches the known answers and the schemes' costs, the run folders and plot
// data exist, a failing variant is reported without losing the others, and bad input gives
// one error line and exit code 2 before any run.
#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "cli_test_util.hpp"
#include "mini_json.hpp"

using namespace cli_test;

namespace {

std::string plugin_path(const std::string& target) {
#ifdef SADDLE_TEST_PLUGIN_DIR
  return (fs::path(SADDLE_TEST_PLUGIN_DIR) / ("lib" + target + ".so")).string();
#else
  return target;
#endif
}

// RFC 4180 cells of one line (quoted cells may hold commas and doubled quotes).
std::vector<std::string> csv_cells(const std::string& line) {
  std::vector<std::string> cells(1);
  bool quoted = false;
  for (std::size_t i = 0; i < line.size(); ++i) {
    const char c = line[i];
    if (quoted) {
      if (c == '"' && i + 1 < line.size() && line[i + 1] == '"') {
        cells.back() += '"';
        ++i;
      } else if (c == '"') {
        quoted = false;
      } else {
        cells.back() += c;
      }
    } else if (c == '"') {
      quoted = true;
    } else if (c == ',') {
      cells.emplace_back();
    } else {
      cells.back() += c;
    }
  }
  return cells;
}

// compare.csv as variant -> (column -> cell).
std::map<std::string, std::map<std::string, std::string>> read_table(const fs::path& path) {
  std::istringstream in(read_file(path));
  std::string line;
  std::getline(in, line);
  const auto header = csv_cells(line);
  std::map<std::string, std::map<std::string, std::string>> rows;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    const auto cells = csv_cells(line);
    EXPECT_EQ(cells.size(), header.size()) << line;
    std::map<std::string, std::string> row;
    for (std::size_t c = 0; c < header.size() && c < cells.size(); ++c) row[header[c]] = cells[c];
    rows[row["variant"]] = row;
  }
  return rows;
}

double number(const std::map<std::string, std::string>& row, const std::string& column) {
  const auto it = row.find(column);
  if (it == row.end() || it->second.empty()) return std::nan("");
  return std::strtod(it->second.c_str(), nullptr);
}

RunResult compare(const std::vector<std::string>& extra, const fs::path& out) {
  std::vector<std::string> args = {"compare", "--out", out.string(), "--quiet"};
  args.insert(args.end(), extra.begin(), extra.end());
  return run(args);
}

TEST(CompareProblem, BuiltinProblemTableMatchesTheAnswerAndTheCosts) {
  REQUIRE_EXE();
  const fs::path out = scratch_dir() / "cmp-equality-qp";
  const std::vector<std::string> args = {
      "--problem", "equality-qp", "--variants", "gda,extragradient,gda+restarts",
      "--seeds",   "1,2",         "--jobs",     "2"};
  const RunResult r = compare(args, out);
  ASSERT_EQ(r.code, 0) << describe(args, r);
  // equality-qp ignores the seed: the output says so.
  EXPECT_NE(r.out.find("initial point does not depend on the seed"), std::string::npos) << r.out;
  const auto rows = read_table(out / "compare.csv");
  ASSERT_EQ(rows.size(), 3u);
  for (const char* v : {"gda", "extragradient", "gda+restarts"}) {
    SCOPED_TRACE(v);
    const auto& row = rows.at(v);
    EXPECT_EQ(row.at("runs"), "2");
    EXPECT_EQ(row.at("ok_runs"), "2");
    EXPECT_EQ(row.at("status"), "ok");
    EXPECT_EQ(row.at("terminations"), "converged 2");
    EXPECT_LT(number(row, "x_error_mean"), 1e-8);
    EXPECT_LT(number(row, "multiplier_error_mean"), 1e-8);
    EXPECT_NEAR(number(row, "loss_mean"), 70.0, 1e-8);
    EXPECT_LT(number(row, "max_violation_mean"), 1e-9);
    // The same run twice: a zero-width interval on the iterations.
    EXPECT_EQ(number(row, "iterations_ci95"), 0.0);
  }
  EXPECT_EQ(number(rows.at("gda"), "forwards_per_step_mean"), 1.0);
  EXPECT_EQ(number(rows.at("extragradient"), "forwards_per_step_mean"), 2.0);
  EXPECT_EQ(number(rows.at("extragradient"), "backwards_per_step_mean"), 2.0);
  EXPECT_EQ(rows.at("gda+restarts").at("solve_flags"),
            "--solver gda --formulation lagrangian --dual-restarts");
  // GDA on equality-qp converges in 184 steps (docs/getting-started.md).
  EXPECT_EQ(number(rows.at("gda"), "iterations_mean"), 184.0);

  // Run folders and the trajectory of each run; the plot data has one block per seed.
  const auto summary = mini_json::parse(read_file(out / "gda" / "seed-2" / "summary.json"));
  EXPECT_EQ(summary["options"]["seed"].as_number(), 2.0);
  EXPECT_TRUE(fs::exists(out / "gda" / "seed-1" / "trajectory.csv"));
  const std::string dat = read_file(out / "plot" / "gda.dat");
  std::size_t blocks = 0;
  for (std::size_t p = dat.find("\n\n\n"); p != std::string::npos; p = dat.find("\n\n\n", p + 3))
    ++blocks;
  EXPECT_EQ(blocks, 2u) << dat.substr(0, 200);
  EXPECT_TRUE(fs::exists(out / "compare.md"));
  EXPECT_TRUE(fs::exists(out / "compare.gp"));
  if (std::system("command -v gnuplot >/dev/null 2>&1") == 0) {
    EXPECT_TRUE(fs::exists(out / "compare.png"));
  }
  // The terminal table has a row per variant.
  EXPECT_NE(r.out.find("extragradient"), std::string::npos);
}

TEST(CompareProblem, PlotDataOfSeveralConstraintsIsTheLargestAbsoluteMultiplier) {
  REQUIRE_EXE();
  // hs21 has 5 inequality constraints: the plotted multiplier is max_i |lambda_i| of each
  // trajectory row; 40 steps give 40 rows.
  const fs::path out = scratch_dir() / "cmp-hs21";
  const std::vector<std::string> args = {"--problem",   "hs21", "--variants",   "gda",
                                         "--seeds",     "1",    "--iterations", "40",
                                         "--tolerance", "0"};
  const RunResult r = compare(args, out);
  ASSERT_EQ(r.code, 0) << describe(args, r);
  std::istringstream csv(read_file(out / "gda" / "seed-1" / "trajectory.csv"));
  std::string line, last;
  std::getline(csv, line);
  std::size_t rows = 0;
  while (std::getline(csv, line))
    if (!line.empty()) {
      last = line;
      ++rows;
    }
  ASSERT_EQ(rows, 40u);
  std::vector<double> cells;
  std::istringstream l(last);
  for (std::string cell; std::getline(l, cell, ',');)
    cells.push_back(std::strtod(cell.c_str(), nullptr));
  ASSERT_EQ(cells.size(), 5u + 2 * 5);
  double largest = 0.0;
  for (std::size_t c = cells.size() - 5; c < cells.size(); ++c)
    largest = std::max(largest, std::abs(cells[c]));
  EXPECT_GT(largest, 0.0);
  std::istringstream dat(read_file(out / "plot" / "gda.dat"));
  std::vector<std::string> data_rows;
  while (std::getline(dat, line))
    if (!line.empty() && line[0] != '#') data_rows.push_back(line);
  ASSERT_EQ(data_rows.size(), 40u);
  std::istringstream final_row(data_rows.back());
  double iteration = 0, violation = 0, multiplier = 0;
  final_row >> iteration >> violation >> multiplier;
  EXPECT_EQ(iteration, 40.0);
  EXPECT_DOUBLE_EQ(multiplier, largest);
  EXPECT_DOUBLE_EQ(violation, std::max(cells[4], 1e-16));
}

TEST(CompareProblem, StochasticFloatPluginProblem) {
  REQUIRE_EXE();
  const fs::path out = scratch_dir() / "cmp-centroid";
  const std::vector<std::string> args = {"--plugin",   plugin_path("good_plugin"),
                                         "--problem",  "plugin-float-centroid",
                                         "--variants", "gda,augmented-lagrangian",
                                         "--seeds",    "1,2,3",
                                         "--epochs",   "40",
                                         "--batch",    "16",
                                         "--jobs",     "2"};
  const RunResult r = compare(args, out);
  ASSERT_EQ(r.code, 0) << describe(args, r);
  EXPECT_NE(r.out.find("precision: float"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("stochastic problem"), std::string::npos) << r.out;
  const auto rows = read_table(out / "compare.csv");
  ASSERT_EQ(rows.size(), 2u);
  for (const char* v : {"gda", "augmented-lagrangian"}) {
    SCOPED_TRACE(v);
    const auto& row = rows.at(v);
    EXPECT_EQ(row.at("ok_runs"), "3");
    EXPECT_EQ(number(row, "iterations_mean"), 40.0 * 64 / 16);
    EXPECT_EQ(row.at("terminations"), "iteration_limit 3");
    // x* = (0, 1) to the minibatch noise; the seeds shuffle differently, so the interval is > 0.
    EXPECT_LT(number(row, "x_error_mean"), 0.05);
    EXPECT_GT(number(row, "x_error_ci95"), 0.0);
  }
  EXPECT_EQ(rows.at("augmented-lagrangian").at("solve_flags"),
            "--solver gda --formulation augmented-lagrangian");
}

TEST(CompareProblem, SeedMovesTheInitialPointOfADeterministicPluginProblem) {
  REQUIRE_EXE();
  const fs::path out = scratch_dir() / "cmp-plugin-qp";
  const std::vector<std::string> args = {
      "--plugin",   plugin_path("good_plugin"),    "--problem", "plugin-qp",
      "--variants", "extrapolation-from-the-past", "--seeds",   "1,2"};
  const RunResult r = compare(args, out);
  ASSERT_EQ(r.code, 0) << describe(args, r);
  EXPECT_NE(r.out.find("the seed changes the initial point only"), std::string::npos) << r.out;
  const auto rows = read_table(out / "compare.csv");
  EXPECT_LT(number(rows.at("extrapolation-from-the-past"), "x_error_mean"), 1e-8);

  // --problem-args reach the parent's check and every child: a fixed start ignores the seed.
  const fs::path fixed = scratch_dir() / "cmp-plugin-qp-fixed";
  std::vector<std::string> with_args = args;
  with_args.insert(with_args.end(), {"--problem-args", "x0=1"});
  const RunResult f = compare(with_args, fixed);
  ASSERT_EQ(f.code, 0) << describe(with_args, f);
  EXPECT_NE(f.out.find("initial point does not depend on the seed"), std::string::npos) << f.out;
  const auto summary = mini_json::parse(
      read_file(fixed / "extrapolation-from-the-past" / "seed-1" / "summary.json"));
  EXPECT_EQ(number(read_table(fixed / "compare.csv").at("extrapolation-from-the-past"),
                   "iterations_ci95"),
            0.0);
  EXPECT_LT(summary["known_answer"]["x_error"].as_number(), 1e-8);
}

TEST(CompareProblem, FailedVariantIsReportedAndTheOthersFinish) {
  REQUIRE_EXE();
  // fixed-penalty needs --multipliers, which plugin-qp's defaults do not give: solve refuses
  // those runs (exit 2) while gda finishes.
  const fs::path out = scratch_dir() / "cmp-partial";
  const std::vector<std::string> args = {
      "--plugin",   plugin_path("good_plugin"), "--problem", "plugin-qp",
      "--variants", "gda,fixed-penalty",        "--seeds",   "1,2"};
  const RunResult r = compare(args, out);
  EXPECT_EQ(r.code, 2) << describe(args, r);
  const auto rows = read_table(out / "compare.csv");
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows.at("gda").at("status"), "ok");
  EXPECT_LT(number(rows.at("gda"), "x_error_mean"), 1e-8);
  EXPECT_EQ(rows.at("fixed-penalty").at("ok_runs"), "0");
  EXPECT_NE(rows.at("fixed-penalty").at("status").find("2 failed: exit 2: "), std::string::npos)
      << rows.at("fixed-penalty").at("status");
  EXPECT_NE(rows.at("fixed-penalty").at("status").find("--multipliers"), std::string::npos)
      << rows.at("fixed-penalty").at("status");
}

TEST(CompareProblem, NumericalFailuresExitThree) {
  REQUIRE_EXE();
  const fs::path out = scratch_dir() / "cmp-nan";
  const std::vector<std::string> args = {"--plugin",   plugin_path("bad_problems_plugin"),
                                         "--problem",  "forward-nan",
                                         "--variants", "gda,extragradient",
                                         "--seeds",    "1"};
  const RunResult r = compare(args, out);
  EXPECT_EQ(r.code, 3) << describe(args, r);
  const auto rows = read_table(out / "compare.csv");
  for (const char* v : {"gda", "extragradient"})
    EXPECT_EQ(rows.at(v).at("status").rfind("1 failed: numerical failure: ", 0), 0u)
        << rows.at(v).at("status");
}

TEST(CompareProblem, ThrowingForwardIsReportedWithItsMessage) {
  REQUIRE_EXE();
  // Every run is refused: compare reports solve's message as its own error line.
  const fs::path out = scratch_dir() / "cmp-throw";
  const std::vector<std::string> args = {"--plugin",   plugin_path("bad_problems_plugin"),
                                         "--problem",  "forward-throws",
                                         "--variants", "gda",
                                         "--seeds",    "1"};
  const RunResult r = compare(args, out);
  EXPECT_EQ(r.code, 2) << describe(args, r);
  EXPECT_NE(r.err.find("saddle: error: problem 'forward-throws'"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("simulated failure in forward"), std::string::npos) << r.err;
}

TEST(CompareProblem, BadInputBeforeAnyRun) {
  REQUIRE_EXE();
  struct Case {
    std::vector<std::string> args;
    std::string message;
  };
  const std::vector<Case> cases = {
      {{"--problem", "equality-qp", "--variants", "gda+nope"}, "unknown or repeated part 'nope'"},
      {{"--problem", "equality-qp", "--variants", "gda,gda+lagrangian"}, "twice"},
      {{"--problem", "equality-qp", "--variants", "restarts+gda"},
       "unknown or repeated part 'gda'"},
      {{"--problem", "hs22"}, "unknown problem 'hs22' (choices: "},
      {{"--problem", "x", "--plugin", plugin_path("bad_abi_plugin")}, "plugin ABI 999"},
      {{"--problem", "equality-qp", "--model", "mlp"}, "--model"},
      {{"--plugin", plugin_path("good_plugin")}, "--problem NAME is required with --plugin"},
      {{"--problem", "factory-null", "--plugin", plugin_path("bad_problems_plugin")},
       "its factory returned null"},
      {{"--problem", "factory-throws", "--plugin", plugin_path("bad_problems_plugin")},
       "simulated failure in the factory"},
      {{"--problem", "plugin-qp", "--plugin", plugin_path("good_plugin"), "--problem-args", "y=1"},
       "unknown --problem-args key 'y'"},
      {{"--problem", "equality-qp", "--jobs", "0"}, "--jobs = 0"},
  };
  for (const auto& c : cases) {
    const fs::path out = scratch_dir() / "cmp-bad";
    const RunResult r = compare(c.args, out);
    EXPECT_EQ(r.code, 2) << describe(c.args, r);
    EXPECT_EQ(r.err.rfind("saddle: error: ", 0), 0u) << describe(c.args, r);
    EXPECT_EQ(r.err.find('\n'), r.err.size() - 1) << describe(c.args, r);
    EXPECT_NE(r.err.find(c.message), std::string::npos) << describe(c.args, r);
    EXPECT_FALSE(fs::exists(out)) << "a run started: " << describe(c.args, r);
  }
}

}  // namespace
