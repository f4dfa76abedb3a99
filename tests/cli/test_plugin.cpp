// `saddle solve --plugin`: the test plugins of tests/plugins/ (built by tests/CMakeLists.txt)
// loaded by the saddle binary. A good plugin's double, float and stochastic float problems
// reach their known answers; every kind of bad plugin or failing problem gives one error
// line and exit 2 (3 for a NaN), never a crash.
#include <cmath>
#include <map>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "cli_test_util.hpp"
#include "mini_json.hpp"
#include "saddle/plugin.hpp"
#include "saddle/solver.hpp"
#include "saddle/solvers.hpp"
#include "saddle/version.hpp"

namespace {

namespace fs = std::filesystem;
using namespace cli_test;

std::string plugin_path(const std::string& target) {
#ifdef SADDLE_TEST_PLUGIN_DIR
  return (fs::path(SADDLE_TEST_PLUGIN_DIR) / ("lib" + target + ".so")).string();
#else
  return target;
#endif
}

const std::string& good() {
  static const std::string p = plugin_path("good_plugin");
  return p;
}

mini_json::Value parse_json(const std::vector<std::string>& args, const RunResult& r) {
  mini_json::Value v;
  try {
    v = mini_json::parse(r.out);
  } catch (const std::exception& e) {
    ADD_FAILURE() << e.what() << "\n" << describe(args, r);
  }
  return v;
}

/// Runs `saddle <args>` and expects exit 2, empty stdout and exactly one error line that
/// contains every piece of `expected`.
void expect_one_line_error(const std::vector<std::string>& args,
                           const std::vector<std::string>& expected) {
  const RunResult r = run(args);
  EXPECT_EQ(r.code, 2) << describe(args, r);
  EXPECT_TRUE(r.out.empty()) << describe(args, r);
  EXPECT_EQ(r.err.rfind("saddle: error: ", 0), 0u) << describe(args, r);
  ASSERT_FALSE(r.err.empty());
  EXPECT_EQ(r.err.find('\n'), r.err.size() - 1) << "more than one line\n" << describe(args, r);
  for (const auto& piece : expected)
    EXPECT_NE(r.err.find(piece), std::string::npos) << piece << "\n" << describe(args, r);
}

TEST(Plugin, VersionHeaderMatchesTheProject) {
#ifdef SADDLE_PROJECT_VERSION
  EXPECT_STREQ(saddle::kVersion, SADDLE_PROJECT_VERSION);
#endif
  REQUIRE_EXE();
  const RunResult r = run({"--version"});
  EXPECT_EQ(r.out, std::string("saddle ") + saddle::kVersion + "\n");
}

TEST(Plugin, AbiStampComparison) {
  const saddle_plugin_abi host = saddle::host_plugin_abi();
  EXPECT_EQ(saddle::plugin_abi_mismatch(host), "");
  EXPECT_EQ(host.abi, static_cast<std::uint32_t>(SADDLE_PLUGIN_ABI_VERSION));
  EXPECT_STREQ(host.saddle_version, saddle::kVersion);
  auto mismatch = [&](auto change) {
    saddle_plugin_abi other = host;
    change(other);
    return saddle::plugin_abi_mismatch(other);
  };
  EXPECT_NE(mismatch([](saddle_plugin_abi& a) { a.abi = 2; }).find("plugin ABI 2"),
            std::string::npos);
  EXPECT_NE(mismatch([](saddle_plugin_abi& a) { a.saddle_version = "9.9.9"; }).find("saddle 9.9.9"),
            std::string::npos);
  EXPECT_NE(mismatch([](saddle_plugin_abi& a) { a.gxx_abi += 1; }).find("C++ ABI"),
            std::string::npos);
  EXPECT_NE(mismatch([](saddle_plugin_abi& a) {
              a.cxx11_string_abi ^= 1u;
            }).find("_GLIBCXX_USE_CXX11_ABI"),
            std::string::npos);
  EXPECT_NE(mismatch([](saddle_plugin_abi& a) { a.xsimd ^= 1u; }).find("XTENSOR_USE_XSIMD"),
            std::string::npos);
  EXPECT_NE(
      mismatch([](saddle_plugin_abi& a) { a.vector_double_type = "other"; }).find("Vector<T>"),
      std::string::npos);
  EXPECT_NE(mismatch([](saddle_plugin_abi& a) { a.layout ^= 1u; }).find("layouts"),
            std::string::npos);
  EXPECT_EQ(host.layout, saddle::plugin_layout_fingerprint());
  EXPECT_NE(mismatch([](saddle_plugin_abi& a) { a.string_type = "Ss"; }).find("std::string"),
            std::string::npos);
}

TEST(Plugin, DocsShowTheExamplePluginVerbatim) {
#ifdef SADDLE_SOURCE_DIR
  const std::string doc = read_file(fs::path(SADDLE_SOURCE_DIR) / "docs" / "plugins.md");
  const std::string code =
      read_file(fs::path(SADDLE_SOURCE_DIR) / "examples" / "plugin" / "disk_plugin.cpp");
  ASSERT_FALSE(code.empty());
  EXPECT_NE(doc.find("```cpp\n" + code + "```\n"), std::string::npos)
      << "docs/plugins.md must show examples/plugin/disk_plugin.cpp verbatim";
#else
  GTEST_SKIP() << "SADDLE_SOURCE_DIR not defined";
#endif
}

TEST(Plugin, LoadPluginFromCpp) {
  // The library API behind --plugin: load, then solve a float problem in this process.
  const saddle::LoadedPlugin plugin = saddle::load_plugin(good());
  ASSERT_EQ(plugin.problems.size(), 3u);
  EXPECT_EQ(plugin.problems[0].name, "plugin-qp");
  EXPECT_FALSE(plugin.problems[0].is_float());
  const saddle::PluginProblem& qp = plugin.problems[1];
  ASSERT_EQ(qp.name, "plugin-float-qp");
  ASSERT_TRUE(qp.is_float());
  auto problem = qp.make_float(saddle::ProblemArgs{});
  ASSERT_NE(problem, nullptr);
  saddle::Solver<float> solver(saddle::make_scheme<float>("extragradient"),
                               qp.defaults("extragradient", saddle::FormulationKind::lagrangian));
  const saddle::Summary<float> s = solver.solve(*problem);
  EXPECT_EQ(s.termination, saddle::Termination::converged) << s.message;
  EXPECT_NEAR(s.x(0), 1.0f, 1e-4f);
  EXPECT_NEAR(s.x(1), 4.0f, 1e-4f);
  EXPECT_NEAR(s.multipliers(0), -28.0, 1e-2);
  // Every failure is an InputError naming the file.
  try {
    saddle::load_plugin(plugin_path("bad_abi_plugin"));
    ADD_FAILURE() << "no exception";
  } catch (const saddle::InputError& e) {
    EXPECT_NE(std::string(e.what()).find("plugin ABI 999"), std::string::npos) << e.what();
  }
}

TEST(Plugin, DoubleProblemReachesItsAnswer) {
  REQUIRE_EXE();
  const std::vector<std::string> args = {"solve",     "--plugin", good(), "--problem",
                                         "plugin-qp", "--solver", "gda",  "--json"};
  const RunResult r = run(args);
  ASSERT_EQ(r.code, 0) << describe(args, r);
  const auto v = parse_json(args, r);
  EXPECT_EQ(v["problem"].as_string(), "plugin-qp");
  EXPECT_EQ(v["plugin"].as_string(), good());
  EXPECT_EQ(v["precision"].as_string(), "double");
  EXPECT_EQ(v["termination"].as_string(), "converged");
  EXPECT_LT(v["known_answer"]["x_error"].as_number(), 1e-8);
  EXPECT_LT(v["known_answer"]["multiplier_error"].as_number(), 1e-7);
  EXPECT_LT(v["known_answer"]["loss_error"].as_number(), 1e-7);
  EXPECT_TRUE(v["known_answer"]["expected_to_converge"].as_bool());
  // The plugin's defaults were applied (primal lr 0.05, dual lr 0.5).
  EXPECT_EQ(v["options"]["primal"]["lr"].as_number(), 0.05);
  EXPECT_EQ(v["options"]["dual"]["lr"].as_number(), 0.5);
}

TEST(Plugin, ExamplePluginConvergesWithItsListedSchemes) {
  REQUIRE_EXE();
  for (const char* solver : {"gda", "extragradient", "extrapolation-from-the-past"}) {
    SCOPED_TRACE(solver);
    const std::vector<std::string> args = {
        "solve", "--plugin", plugin_path("disk_plugin"), "--problem", "disk-projection", "--solver",
        solver,  "--json"};
    const RunResult r = run(args);
    ASSERT_EQ(r.code, 0) << describe(args, r);
    const auto v = parse_json(args, r);
    EXPECT_EQ(v["termination"].as_string(), "converged");
    EXPECT_TRUE(v["known_answer"]["expected_to_converge"].as_bool());
    // float, tolerance 1e-6: x* = (6, 4)/sqrt(13), lambda* = sqrt(13)/2 - 1 to ~1e-5.
    EXPECT_LT(v["known_answer"]["x_error"].as_number(), 1e-4);
    EXPECT_LT(v["known_answer"]["multiplier_error"].as_number(), 1e-4);
  }
}

TEST(Plugin, FloatProblemReachesItsAnswer) {
  REQUIRE_EXE();
  for (const char* solver : {"gda", "extragradient"}) {
    SCOPED_TRACE(solver);
    const std::vector<std::string> args = {"solve",           "--plugin", good(), "--problem",
                                           "plugin-float-qp", "--solver", solver, "--json"};
    const RunResult r = run(args);
    ASSERT_EQ(r.code, 0) << describe(args, r);
    const auto v = parse_json(args, r);
    EXPECT_EQ(v["precision"].as_string(), "float");
    EXPECT_EQ(v["termination"].as_string(), "converged");
    // float: x to a few ulps of 4 (2^-21 ~ 5e-7), lambda = -(12 x0 + 4 x1) to ~1e-4.
    EXPECT_LT(v["known_answer"]["x_error"].as_number(), 1e-4);
    EXPECT_LT(v["known_answer"]["multiplier_error"].as_number(), 1e-2);
  }
}

TEST(Plugin, StochasticFloatProblemWithEpochsAndBatches) {
  REQUIRE_EXE();
  const std::vector<std::string> args = {
      "solve",    "--plugin", good(),     "--problem", "plugin-float-centroid",
      "--solver", "gda",      "--epochs", "60",        "--batch",
      "8",        "--json"};
  const RunResult r = run(args);
  ASSERT_EQ(r.code, 0) << describe(args, r);
  const auto v = parse_json(args, r);
  EXPECT_TRUE(v["stochastic"].as_bool());
  EXPECT_EQ(v["precision"].as_string(), "float");
  EXPECT_EQ(v["epochs"].as_number(), 60.0);
  EXPECT_EQ(v["iterations"].as_number(), 60.0 * 64 / 8);
  EXPECT_EQ(v["options"]["batch_size"].as_number(), 8.0);
  // Minibatch noise: the answer x* = (0, 1), lambda* = 4 to a loose tolerance.
  EXPECT_LT(v["known_answer"]["x_error"].as_number(), 0.05);
  EXPECT_LT(v["known_answer"]["multiplier_error"].as_number(), 0.5);
  // The loss on all samples (batched forwards, weighted) against f* = 8.1953125.
  EXPECT_LT(v["known_answer"]["loss_error"].as_number(), 0.3);
}

TEST(Plugin, ListShowsPluginProblems) {
  REQUIRE_EXE();
  const std::vector<std::string> args = {"solve", "--list", "--plugin", good(), "--json"};
  const RunResult r = run(args);
  ASSERT_EQ(r.code, 0) << describe(args, r);
  const auto v = parse_json(args, r);
  bool found_float = false, found_builtin = false;
  for (const auto& p : v["problems"].array) {
    if (p["name"].as_string() == "plugin-float-centroid") {
      found_float = true;
      EXPECT_EQ(p["precision"].as_string(), "float");
      EXPECT_TRUE(p["stochastic"].as_bool());
      EXPECT_EQ(p["plugin"].as_string(), good());
    }
    if (p["name"].as_string() == "hs21") {
      found_builtin = true;
      EXPECT_TRUE(p["plugin"].is_null());
    }
  }
  EXPECT_TRUE(found_float);
  EXPECT_TRUE(found_builtin);
}

TEST(Plugin, OutWritesSummaryAndTrajectory) {
  REQUIRE_EXE();
  const fs::path dir = scratch_dir() / "plugin-run";
  const std::vector<std::string> args = {
      "solve",    "--plugin",      good(),         "--problem", "plugin-qp",
      "--solver", "extragradient", "--iterations", "25",        "--tolerance",
      "0",        "--out",         dir.string(),   "--json"};
  const RunResult r = run(args);
  ASSERT_EQ(r.code, 0) << describe(args, r);
  const auto from_stdout = parse_json(args, r);
  const auto from_file = mini_json::parse(read_file(dir / "summary.json"));
  EXPECT_EQ(from_file["iterations"].as_number(), 25.0);
  EXPECT_EQ(from_file["loss"].as_number(), from_stdout["loss"].as_number());
  std::ifstream csv(dir / "trajectory.csv");
  std::string header;
  std::getline(csv, header);
  EXPECT_EQ(header, "iteration,epoch,loss,objective,max_violation,c_x0+x1=5,lambda_x0+x1=5");
  std::size_t rows = 0;
  for (std::string line; std::getline(csv, line);) rows += line.empty() ? 0 : 1;
  EXPECT_EQ(rows, 25u);
}

TEST(Plugin, ProblemArgsReachTheFactory) {
  REQUIRE_EXE();
  // x0 after one GDA step with the plugin's primal lr 0.05 from x = (s, 0), lambda = 0:
  // grad = (12 s, 4 s), so x0 = s - 0.05 * 12 s = 0.4 s.
  auto first_step_x0 = [](const std::vector<std::string>& extra) {
    std::vector<std::string> args = {"solve",     "--plugin",    good(), "--problem",
                                     "plugin-qp", "--solver",    "gda",  "--iterations",
                                     "1",         "--tolerance", "0",    "--json"};
    args.insert(args.end(), extra.begin(), extra.end());
    const RunResult r = run(args);
    EXPECT_EQ(r.code, 0) << describe(args, r);
    return parse_json(args, r)["x"][0].as_number();
  };
  EXPECT_EQ(first_step_x0({}), 0.0);  // seed 0: x0 = 0 mod 3
  EXPECT_NEAR(first_step_x0({"--problem-args", "x0=1"}), 0.4, 1e-15);
  EXPECT_NEAR(first_step_x0({"--problem-args", "x0=-2.5"}), -1.0, 1e-15);
  // Keys the factory does not know, malformed lists, and built-in problems (no arguments).
  expect_one_line_error(
      {"solve", "--plugin", good(), "--problem", "plugin-qp", "--solver", "gda", "--problem-args",
       "y=1"},
      {"problem 'plugin-qp' of plugin", "unknown --problem-args key 'y' (choices: x0)"});
  expect_one_line_error({"solve", "--plugin", good(), "--problem", "plugin-qp", "--solver", "gda",
                         "--problem-args", "x0"},
                        {"--problem-args = 'x0': expected key=value pairs"});
  expect_one_line_error({"solve", "--plugin", good(), "--problem", "plugin-qp", "--solver", "gda",
                         "--problem-args", "x0=1,x0=2"},
                        {"key 'x0' given twice"});
  expect_one_line_error({"solve", "--problem", "hs21", "--solver", "gda", "--problem-args", "a=1"},
                        {"problem 'hs21'", "takes no --problem-args (got 'a')"});
  expect_one_line_error({"solve", "--plugin", good(), "--problem", "plugin-float-centroid",
                         "--solver", "gda", "--problem-args", "a=1"},
                        {"problem 'plugin-float-centroid'", "takes no --problem-args"});
}

// --- bad plugins: one line, exit 2 ---

TEST(Plugin, MissingFile) {
  REQUIRE_EXE();
  const std::string missing = (scratch_dir() / "no-such-plugin.so").string();
  expect_one_line_error({"solve", "--plugin", missing, "--problem", "x", "--solver", "gda"},
                        {"plugin " + missing, "no such file"});
}

TEST(Plugin, NotASharedLibrary) {
  REQUIRE_EXE();
  const fs::path text = scratch_dir() / "not-a-library.so";
  std::ofstream(text) << "just text\n";
  expect_one_line_error({"solve", "--plugin", text.string(), "--problem", "x", "--solver", "gda"},
                        {"not a shared library"});
  const fs::path truncated = scratch_dir() / "truncated.so";
  std::ofstream(truncated, std::ios::binary) << "\x7f"
                                                "ELF"
                                                "garbage";
  expect_one_line_error(
      {"solve", "--plugin", truncated.string(), "--problem", "x", "--solver", "gda"},
      {"cannot be loaded"});
  expect_one_line_error(
      {"solve", "--plugin", scratch_dir().string(), "--problem", "x", "--solver", "gda"},
      {"is a folder"});
}

TEST(Plugin, NoRegistrationSymbol) {
  REQUIRE_EXE();
  expect_one_line_error({"solve", "--plugin", plugin_path("bad_no_symbol_plugin"), "--problem", "x",
                         "--solver", "gda"},
                        {"not a saddle plugin", "saddle_plugin_abi_v1", "SADDLE_PLUGIN"});
}

TEST(Plugin, OtherAbiVersionOrBuild) {
  REQUIRE_EXE();
  expect_one_line_error(
      {"solve", "--plugin", plugin_path("bad_abi_plugin"), "--problem", "x", "--solver", "gda"},
      {"incompatible", "plugin ABI 999, this saddle has 1"});
  expect_one_line_error(
      {"solve", "--plugin", plugin_path("bad_version_plugin"), "--problem", "x", "--solver", "gda"},
      {"incompatible", "built for saddle 0.0.1",
       std::string("this is saddle ") + saddle::kVersion});
  expect_one_line_error(
      {"solve", "--plugin", plugin_path("bad_xsimd_plugin"), "--problem", "x", "--solver", "gda"},
      {"incompatible", "XTENSOR_USE_XSIMD"});
}

TEST(Plugin, BadRegistrations) {
  REQUIRE_EXE();
  expect_one_line_error({"solve", "--plugin", plugin_path("bad_duplicate_plugin"), "--problem",
                         "twice", "--solver", "gda"},
                        {"registration failed", "problem 'twice' is registered twice"});
  expect_one_line_error({"solve", "--plugin", plugin_path("bad_builtin_name_plugin"), "--problem",
                         "hs21", "--solver", "gda"},
                        {"problem 'hs21' is already a built-in problem"});
  expect_one_line_error({"solve", "--plugin", plugin_path("bad_register_throws_plugin"),
                         "--problem", "x", "--solver", "gda"},
                        {"registration failed: cannot find my data file"});
  expect_one_line_error(
      {"solve", "--plugin", plugin_path("bad_empty_plugin"), "--problem", "x", "--solver", "gda"},
      {"registers no problem"});
}

TEST(Plugin, UnknownProblemListsTheChoices) {
  REQUIRE_EXE();
  expect_one_line_error({"solve", "--plugin", good(), "--problem", "nope", "--solver", "gda"},
                        {"unknown problem 'nope'", "plugin-float-centroid", "plugin-qp", "hs21"});
}

TEST(Plugin, FailingFactory) {
  REQUIRE_EXE();
  const std::string p = plugin_path("bad_problems_plugin");
  expect_one_line_error({"solve", "--plugin", p, "--problem", "factory-throws", "--solver", "gda"},
                        {"problem 'factory-throws' of plugin " + p,
                         "its factory threw: simulated failure in the factory"});
  expect_one_line_error({"solve", "--plugin", p, "--problem", "factory-null", "--solver", "gda"},
                        {"problem 'factory-null'", "returned null"});
  // --list still lists them, with the reason instead of their sizes (a plugin problem may
  // need --problem-args to be built).
  const std::vector<std::string> args = {"solve", "--plugin", p, "--list", "--json"};
  const RunResult r = run(args);
  ASSERT_EQ(r.code, 0) << describe(args, r);
  const auto v = parse_json(args, r);
  std::map<std::string, const mini_json::Value*> by_name;
  for (const auto& problem : v["problems"].array) by_name[problem["name"].as_string()] = &problem;
  ASSERT_EQ(by_name.count("factory-throws"), 1u);
  EXPECT_TRUE((*by_name["factory-throws"])["parameters"].is_null());
  EXPECT_NE((*by_name["factory-throws"])["error"].as_string().find("its factory threw: simulated failure"),
            std::string::npos);
  EXPECT_NE((*by_name["factory-null"])["error"].as_string().find("returned null"), std::string::npos);
  EXPECT_EQ((*by_name["forward-nan"])["parameters"].as_number(), 1.0);
  EXPECT_TRUE((*by_name["forward-nan"])["error"].is_null());
  const RunResult text = run({"solve", "--plugin", p, "--list"});
  EXPECT_EQ(text.code, 0);
  EXPECT_NE(text.out.find("cannot be built without --problem-args: problem 'factory-throws'"), std::string::npos)
      << text.out;
}

TEST(Plugin, ThrowingForward) {
  REQUIRE_EXE();
  const std::string p = plugin_path("bad_problems_plugin");
  expect_one_line_error(
      {"solve", "--plugin", p, "--problem", "forward-throws", "--solver", "gda", "--json"},
      {"problem 'forward-throws' of plugin " + p, "threw: simulated failure in forward"});
}

TEST(Plugin, NanForwardIsANumericalFailure) {
  REQUIRE_EXE();
  const std::vector<std::string> args = {
      "solve",     "--plugin",    plugin_path("bad_problems_plugin"),
      "--problem", "forward-nan", "--solver",
      "gda",       "--json"};
  const RunResult r = run(args);
  EXPECT_EQ(r.code, 3) << describe(args, r);
  const auto v = parse_json(args, r);
  EXPECT_EQ(v["termination"].as_string(), "numerical_failure");
  EXPECT_EQ(v["iterations"].as_number(), 4.0);  // the 5th forward is NaN: 4 steps completed
  EXPECT_NE(r.err.find("numerical failure"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("forward-nan"), std::string::npos) << r.err;
}

}  // namespace

// The rate-constrained classifier of examples/rate_constraints as a plugin of the saddle
// program: solved from the command line on a small generated data set, ten recall
// constraints with proxy (primal) and strict (dual) values; bad --problem-args refused.
TEST(Plugin, RateConstraintExampleRunsFromTheSaddleProgram) {
  REQUIRE_EXE();
#ifndef SADDLE_RATE_PLUGIN
  GTEST_SKIP() << "examples/rate_constraints not built in-tree";
#else
  const fs::path data = write_tiny_mnist("tiny_rates_plugin", 400, 100, 11);
  const std::vector<std::string> base = {"solve", "--plugin", SADDLE_RATE_PLUGIN, "--problem", "fashion-recall",
                                         "--solver", "gda", "--epochs", "2", "--batch", "50"};
  auto args = base;
  args.insert(args.end(), {"--problem-args", "data=" + data.string() + ",dataset=mnist,recall=0.7,hidden=20", "--json"});
  auto r = run(args);
  ASSERT_EQ(r.code, 0) << describe(args, r);
  const auto v = mini_json::parse(r.out);
  EXPECT_EQ(v["precision"].as_string(), "float");
  EXPECT_EQ(v["multipliers"].as_numbers().size(), 10u);
  for (double m : v["multipliers"].as_numbers()) EXPECT_GE(m, 0.0);  // inequalities: lambda >= 0
  EXPECT_EQ(v["epochs"].as_number(), 2);

  args = base;
  args.insert(args.end(), {"--problem-args", "data=" + data.string() + ",dataset=mnist,colour=red"});
  r = run(args);
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("unknown --problem-args key 'colour'"), std::string::npos) << r.err;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  args = base;
  args.insert(args.end(), {"--problem-args", "data=" + data.string() + ",dataset=mnist,recall=high"});
  r = run(args);
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("recall = 'high'"), std::string::npos) << r.err;
#endif
}
