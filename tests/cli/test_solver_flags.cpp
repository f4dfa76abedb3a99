// One definition of the solver flags (apps/solver_flags.hpp): every subcommand that takes
// solver flags lists the same set in its --help, reads them the same way, and refuses a bad
// value with the flag's name. The only differences (docs/cli.md, "Solver flags") are the
// dual-restart switches, which the variants of compare and sweep choose themselves.

#include <algorithm>
#include <regex>
#include <set>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "cli_test_util.hpp"

namespace {

using cli_test::run;

// The long options of a --help text ("  --name ARG ..." lines).
std::set<std::string> help_flags(const std::string& help) {
  std::set<std::string> flags;
  static const std::regex option(R"((^|\n)\s+(-\w, )?--([a-z0-9-]+))");
  for (auto it = std::sregex_iterator(help.begin(), help.end(), option);
       it != std::sregex_iterator(); ++it)
    flags.insert((*it)[3].str());
  return flags;
}

const std::vector<std::string> kValued = {"primal-rule",
                                          "primal-lr",
                                          "momentum",
                                          "beta1",
                                          "beta2",
                                          "dual-rule",
                                          "dual-lr",
                                          "kp",
                                          "nu",
                                          "penalty",
                                          "penalty-growth",
                                          "growth-factor",
                                          "growth-increment",
                                          "growth-tolerance",
                                          "max-penalty"};

TEST(SolverFlags, EverySubcommandListsTheSameSet) {
  REQUIRE_EXE();
  struct Case {
    std::vector<std::string> args;
    bool restarts;  // takes --dual-restarts and --no-dual-restarts
  };
  const std::vector<Case> cases = {{{"solve", "--help"}, true},
                                   {{"train", "--help"}, true},
                                   {{"compare", "--help"}, false},
                                   {{"compare", "--problem", "hs21", "--help"}, false},
                                   {{"sweep", "--help"}, false}};
  for (const auto& c : cases) {
    const auto r = run(c.args);
    ASSERT_EQ(r.code, 0) << cli_test::describe(c.args, r);
    const auto flags = help_flags(r.out);
    for (const auto& f : kValued)
      EXPECT_EQ(flags.count(f), 1u) << c.args[0] << " " << c.args[1] << " lacks --" << f;
    for (const char* f : {"dual-restarts", "no-dual-restarts"})
      EXPECT_EQ(flags.count(f), c.restarts ? 1u : 0u)
          << c.args[0] << " " << c.args[1] << ": --" << f;
  }
}

TEST(SolverFlags, TrainReadsTheFlagsSolveReads) {
  REQUIRE_EXE();
  // Range errors come from SolverOptions::validate with the flag's name, before any data is
  // read: the flags reach the solver options in both subcommands.
  const std::vector<std::pair<std::vector<std::string>, std::string>> cases = {
      {{"--beta1", "1.5"}, "--beta1"},
      {{"--beta2", "-1"}, "--beta2"},
      {{"--penalty-growth", "multiplicative", "--growth-factor", "0.5"}, "--growth-factor"},
      {{"--growth-increment", "-1", "--penalty-growth", "additive"}, "--growth-increment"},
      {{"--growth-tolerance", "-1"}, "--growth-tolerance"},
      {{"--penalty", "5", "--max-penalty", "1"}, "--max-penalty"},
      {{"--primal-rule", "rmsprop"}, "--primal-rule: unknown"},
      {{"--dual-restarts", "--no-dual-restarts"},
       "give only one of --dual-restarts, --no-dual-restarts"},
  };
  for (const auto& [flags, expected] : cases) {
    for (const std::vector<std::string>& base :
         {std::vector<std::string>{"solve", "--problem", "hs21", "--solver", "gda"},
          std::vector<std::string>{"train", "--data-dir", "/nonexistent"}}) {
      auto args = base;
      args.insert(args.end(), flags.begin(), flags.end());
      const auto r = run(args);
      EXPECT_EQ(r.code, 2) << cli_test::describe(args, r);
      EXPECT_EQ(r.err.rfind("saddle: error: ", 0), 0u) << r.err;
      EXPECT_NE(r.err.find(expected), std::string::npos) << cli_test::describe(args, r);
      EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
    }
  }
}

}  // namespace
